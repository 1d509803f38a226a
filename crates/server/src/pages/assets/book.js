// Booking (or changing) an appointment. Requests go through the pages' one keyed sender: a retry
// after "busy" or a lost answer is the same request (it can never book twice), anything after a
// definite answer is a new one. When the band fills before the person books (most attempts on
// an opening night), the API's refusal names the nearest free bands and the page offers them:
// one tap books one, with no reload. The places left in each band refresh while the person
// chooses.
'use strict';
(function () {
  const y = window.yeyak;
  const form = document.getElementById('book');
  const product = document.getElementById('product');
  const familyFields = document.getElementById('family-fields');
  const send = y.keyedSender();
  const REFRESH_MS = 10000;

  product.addEventListener('change', () => document.getElementById('product-form').submit());

  function who() {
    const checked = form.querySelector('input[name="who"]:checked');
    return checked ? checked.value : 'self';
  }
  function showFamily() { if (familyFields) familyFields.hidden = who() !== 'family'; }
  form.querySelectorAll('input[name="who"]').forEach((r) => r.addEventListener('change', showFamily));
  showFamily();

  y.keepBandsFresh(form, REFRESH_MS);

  // Retries "busy" on its own after the server's Retry-After, with the same request (and key).
  async function sendRetrying(path, body) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const result = await send('POST', path, body);
      if (result.status !== 503) return result;
      const box = document.getElementById('error');
      box.textContent = form.dataset.busy;
      box.hidden = false;
      await new Promise((r) => setTimeout(r, Math.max(1, result.retryAfter || 1) * 1000));
    }
    return { status: 503, body: null };
  }

  // Books (or changes to) one band for whoever the form says.
  async function book(choice) {
    y.clearError();
    const body = { clinic_id: Number(choice.clinic), date: choice.date, hour: Number(choice.hour), product: form.dataset.product };
    const change = form.dataset.change;
    if (!change && who() === 'family') {
      const name = document.getElementById('family-name').value.trim();
      const rrn = document.getElementById('family-rrn').value.trim();
      const phone = document.getElementById('family-phone').value.trim();
      if (!name || !rrn) { y.showError({ message_ko: form.dataset.familyMissing, message_en: form.dataset.familyMissing }); return; }
      body.family = { name, rrn };
      if (phone) body.family.phone = phone;
    }
    const buttons = document.querySelectorAll('#book button[type="submit"], #offers button');
    buttons.forEach((b) => { b.disabled = true; });
    const path = change ? '/api/v1/bookings/' + change + '/change' : '/api/v1/bookings';
    const result = await sendRetrying(path, body);
    buttons.forEach((b) => { b.disabled = false; });
    if (y.redirectFor(result)) return;
    if (change && result.status === 200) { location.href = '/bookings?changed=' + change; return; }
    if (!change && result.status === 201) { location.href = '/bookings?booked=' + result.body.id; return; }
    const code = result.body && result.body.error;
    if (code === 'slot_full' && result.body.detail) {
      y.clearError();
      y.offerBands(form, result.body.detail.alternatives || [], (a) => book({ clinic: a.clinic_id, date: a.date, hour: a.hour }));
      y.refreshBands(form);
      return;
    }
    y.showError(result.body);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    y.clearError();
    const hour = form.querySelector('input[name="hour"]:checked');
    if (!hour) { y.showError({ message_ko: form.dataset.hourMissing, message_en: form.dataset.hourMissing }); return; }
    book({ clinic: form.dataset.clinic, date: form.dataset.date, hour: hour.value });
  });
})();
