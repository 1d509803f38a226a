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

  // A family member's consent: a code to their own phone, which they tell the booker. The
  // first press sends the code; the second, with the code typed in, confirms it.
  let verificationId = null;
  let consentToken = null;
  async function familyConsent() {
    if (consentToken) return consentToken;
    const codeBox = document.getElementById('family-code');
    const rrnField = document.getElementById('family-rrn');
    if (!verificationId) {
      const name = document.getElementById('family-name').value.trim();
      const rrn = rrnField.value.trim();
      const phone = document.getElementById('family-phone').value.trim();
      if (!name || !rrn || !phone) { y.showError({ message: y.text('book.family_missing') }); return null; }
      const started = await y.api('POST', '/api/v1/family/start', { name, rrn, phone });
      if (y.redirectFor(started)) return null;
      if (started.status !== 202) { y.showError(started.body); return null; }
      verificationId = started.body.verification_id;
      rrnField.value = '';
      codeBox.hidden = false;
      if (started.body.demo_code) {
        const demo = document.getElementById('family-demo-code');
        demo.textContent = y.text('book.demo_code') + ' ' + started.body.demo_code;
        demo.hidden = false;
      }
      document.getElementById('family-code-input').focus();
      return null;
    }
    const code = document.getElementById('family-code-input').value.trim();
    const verified = await y.api('POST', '/api/v1/family/verify', { verification_id: verificationId, code });
    if (y.redirectFor(verified)) return null;
    if (verified.status !== 200) {
      y.showError(verified.body);
      if (verified.status === 410) { verificationId = null; codeBox.hidden = true; }
      return null;
    }
    consentToken = verified.body.consent;
    return consentToken;
  }

  // Retries "busy" on its own after the server's Retry-After, with the same request (and key).
  async function sendRetrying(path, body) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const result = await send('POST', path, body);
      if (result.status !== 503) return result;
      const box = document.getElementById('error');
      box.textContent = y.text('book.busy');
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
      const consent = await familyConsent();
      if (!consent) return;
      body.family = { consent };
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
    if (!hour) { y.showError({ message: y.text('book.hour_missing') }); return; }
    book({ clinic: form.dataset.clinic, date: form.dataset.date, hour: hour.value });
  });
})();
