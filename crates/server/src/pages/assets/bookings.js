// My bookings: cancel (after a confirmation) and "I have seen the move".
'use strict';
(function () {
  const y = window.yeyak;

  document.querySelectorAll('button[data-cancel]').forEach((button) => {
    const send = y.keyedSender();
    button.addEventListener('click', async () => {
      if (!window.confirm(y.text('bookings.cancel_confirm'))) return;
      y.clearError();
      button.disabled = true;
      const id = button.dataset.cancel;
      const result = await send('POST', '/api/v1/bookings/' + id + '/cancel');
      button.disabled = false;
      if (y.redirectFor(result)) return;
      if (result.status === 200) { location.href = '/bookings?cancelled=' + id; return; }
      y.showError(result.body);
    });
  });

  document.querySelectorAll('button[data-accept]').forEach((button) => {
    button.addEventListener('click', async () => {
      y.clearError();
      const result = await y.api('POST', '/api/v1/bookings/' + button.dataset.accept + '/accept-move');
      if (y.redirectFor(result)) return;
      if (result.status === 204) { location.reload(); return; }
      y.showError(result.body);
    });
  });
})();
