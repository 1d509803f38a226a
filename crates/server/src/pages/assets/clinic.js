// The clinic desk: "given" for each appointment, and offering today's leftover doses.
'use strict';
(function () {
  const y = window.yeyak;

  document.querySelectorAll('button[data-given]').forEach((button) => {
    button.addEventListener('click', async () => {
      y.clearError();
      button.disabled = true;
      const result = await y.api('POST', '/api/v1/clinic/bookings/' + button.dataset.given + '/given', { dose: Number(button.dataset.dose) });
      if (result.status === 401) { location.href = '/clinic/login'; return; }
      if (result.status !== 200) { button.disabled = false; y.showError(result.body); return; }
      location.reload();
    });
  });

  const form = document.getElementById('leftover');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    y.clearError();
    // Today in Korea, as the server said; the time as typed, in Korea time.
    const until = form.dataset.today + 'T' + form.until.value + ':00+09:00';
    const result = await y.api('POST', '/api/v1/clinic/leftovers', {
      product: form.product.value,
      doses: Number(form.doses.value),
      until,
    });
    if (result.status === 401) { location.href = '/clinic/login'; return; }
    if (result.status !== 201) { y.showError(result.body); return; }
    document.getElementById('posted').textContent = y.text('clinic.told', { n: result.body.told });
    const item = document.createElement('li');
    item.textContent = result.body.product + ' · ' + result.body.left + ' / ' + result.body.doses;
    document.getElementById('offers').appendChild(item);
  });
})();
