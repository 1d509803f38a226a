// Booking (or changing) an appointment: the JSON API with an idempotency key made once per
// page, so a retry after "busy" or a lost answer can never book twice.
'use strict';
(function () {
  const y = window.yeyak;
  const form = document.getElementById('book');
  const product = document.getElementById('product');
  const familyFields = document.getElementById('family-fields');
  const key = y.idempotencyKey();

  product.addEventListener('change', () => document.getElementById('product-form').submit());

  function who() {
    const checked = form.querySelector('input[name="who"]:checked');
    return checked ? checked.value : 'self';
  }
  function showFamily() { if (familyFields) familyFields.hidden = who() !== 'family'; }
  form.querySelectorAll('input[name="who"]').forEach((r) => r.addEventListener('change', showFamily));
  showFamily();

  async function send(path, body) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const result = await y.api('POST', path, body, { 'Idempotency-Key': key });
      if (result.status !== 503) return result;
      const box = document.getElementById('error');
      box.textContent = form.dataset.busy;
      box.hidden = false;
      await new Promise((r) => setTimeout(r, Math.max(1, result.retryAfter || 1) * 1000));
    }
    return { status: 503, body: null };
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    y.clearError();
    const hour = form.querySelector('input[name="hour"]:checked');
    if (!hour) { y.showError({ message_ko: form.dataset.hourMissing, message_en: form.dataset.hourMissing }); return; }
    const body = {
      clinic_id: Number(form.dataset.clinic),
      date: form.dataset.date,
      hour: Number(hour.value),
      product: form.dataset.product,
    };
    const change = form.dataset.change;
    if (!change && who() === 'family') {
      const name = document.getElementById('family-name').value.trim();
      const rrn = document.getElementById('family-rrn').value.trim();
      const phone = document.getElementById('family-phone').value.trim();
      if (!name || !rrn) { y.showError({ message_ko: form.dataset.familyMissing, message_en: form.dataset.familyMissing }); return; }
      body.family = { name, rrn };
      if (phone) body.family.phone = phone;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const path = change ? '/api/v1/bookings/' + change + '/change' : '/api/v1/bookings';
    const result = await send(path, body);
    button.disabled = false;
    if (y.redirectFor(result)) return;
    if (change && result.status === 200) { location.href = '/bookings?changed=' + change; return; }
    if (!change && result.status === 201) { location.href = '/bookings?booked=' + result.body.id; return; }
    y.showError(result.body);
  });
})();
