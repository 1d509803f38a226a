// Leftover doses: ask to be told of them near a place, and claim one of today's offers.
'use strict';
(function () {
  const y = window.yeyak;
  const area = document.getElementById('area');
  const form = document.getElementById('subscribe');
  const status = document.getElementById('locate-status');

  document.getElementById('province').addEventListener('change', () => {
    document.getElementById('municipality').value = '';
    area.submit();
  });
  document.getElementById('municipality').addEventListener('change', () => area.submit());

  const locate = document.getElementById('locate');
  if ('geolocation' in navigator) {
    locate.hidden = false;
    locate.addEventListener('click', () => {
      status.textContent = y.text('leftovers.finding');
      navigator.geolocation.getCurrentPosition((p) => {
        form.dataset.lat = p.coords.latitude.toFixed(5);
        form.dataset.lon = p.coords.longitude.toFixed(5);
        status.textContent = y.text('leftovers.found');
      }, () => { status.textContent = y.text('leftovers.denied'); }, { timeout: 10000, maximumAge: 600000 });
    });
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    y.clearError();
    if (!form.dataset.lat || !form.dataset.lon) {
      y.showError({ message: y.text('leftovers.place_missing') });
      return;
    }
    const products = Array.from(form.querySelectorAll('input[name=product]:checked'), (c) => c.value);
    const result = await y.api('PUT', '/api/v1/leftovers/subscription', {
      lat: Number(form.dataset.lat), lon: Number(form.dataset.lon), radius_km: Number(form.radius.value), products,
    });
    if (y.redirectFor(result)) return;
    if (result.status !== 200) { y.showError(result.body); return; }
    location.href = '/leftovers';
  });

  const stop = document.getElementById('unsubscribe');
  if (stop) {
    stop.addEventListener('click', async () => {
      const result = await y.api('DELETE', '/api/v1/leftovers/subscription');
      if (y.redirectFor(result)) return;
      if (result.status >= 300) { y.showError(result.body); return; }
      location.href = '/leftovers';
    });
  }

  // A claim is decided by the writer once a day per person, so a retried claim cannot take a
  // second dose; it goes through the pages' one sender all the same.
  document.querySelectorAll('button[data-claim]').forEach((button) => {
    const send = y.keyedSender();
    button.addEventListener('click', async () => {
      if (!window.confirm(y.text('leftovers.claim_confirm'))) return;
      y.clearError();
      button.disabled = true;
      const result = await send('POST', '/api/v1/leftovers/' + button.dataset.claim + '/claim');
      button.disabled = false;
      if (y.redirectFor(result)) return;
      if (result.status === 201) { location.href = '/bookings?booked=' + result.body.id; return; }
      y.showError(result.body);
    });
  });
})();
