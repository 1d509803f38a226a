// Identity check: details → a code by text → a session cookie, then on to eligibility.
'use strict';
(function () {
  const y = window.yeyak;
  const start = document.getElementById('start');
  const verify = document.getElementById('verify');
  // Set by the server when it rendered the code step (the form was posted without a script).
  let verificationId = verify.verification_id.value || null;

  start.addEventListener('submit', async (event) => {
    event.preventDefault();
    y.clearError();
    const button = start.querySelector('button');
    button.disabled = true;
    const result = await y.api('POST', '/api/v1/identity/start', {
      name: document.getElementById('name').value.trim(),
      rrn: start.rrn.value.trim(),
      phone: start.phone.value.trim(),
    });
    button.disabled = false;
    if (y.redirectFor(result)) return;
    if (result.status !== 202) { y.showError(result.body); return; }
    verificationId = result.body.verification_id;
    verify.verification_id.value = verificationId;
    // The resident registration number is not kept in the page once it has been sent.
    start.rrn.value = '';
    start.hidden = true;
    verify.hidden = false;
    if (result.body.demo_code) {
      // Only a --demo server reveals the code (there is no real text message there).
      const demo = document.getElementById('demo-code');
      demo.textContent = y.text('identity.demo_code') + ' ' + result.body.demo_code;
      demo.hidden = false;
    }
    verify.code.focus();
  });

  verify.addEventListener('submit', async (event) => {
    event.preventDefault();
    y.clearError();
    const button = verify.querySelector('button');
    button.disabled = true;
    const result = await y.api('POST', '/api/v1/identity/verify', {
      verification_id: verificationId,
      code: verify.code.value.trim(),
    });
    button.disabled = false;
    if (y.redirectFor(result)) return;
    if (result.status !== 200) {
      y.showError(result.body);
      if (result.status === 410) { verify.hidden = true; start.hidden = false; }
      return;
    }
    location.href = '/eligibility';
  });
})();
