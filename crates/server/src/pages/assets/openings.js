// Scheduling an opening. The form's times are Korea time; the server gets them with +09:00,
// so the browser's own time zone and clock play no part.
'use strict';
(function () {
  const y = window.yeyak;
  const form = document.getElementById('opening');
  const result = document.getElementById('result');
  const seoul = (local) => (local.length === 16 ? local + ':00' : local) + '+09:00';

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    y.clearError();
    const answer = await y.api('POST', '/api/v1/admin/openings', {
      prequeue_starts_at: seoul(form.prequeue.value),
      opens_at: seoul(form.opens.value),
      max_active: Number(form.max_active.value),
    });
    if (answer.status !== 201) { y.showError(answer.body); return; }
    result.textContent = y.text('openings.scheduled', { queue: answer.body.queue });
  });
})();
