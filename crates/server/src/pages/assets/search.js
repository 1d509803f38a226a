// Clinic search: a new province reloads its districts; "near me" searches by distance.
'use strict';
(function () {
  const y = window.yeyak;
  const form = document.getElementById('search');
  const province = document.getElementById('province');
  const municipality = document.getElementById('municipality');
  const locate = document.getElementById('locate');
  const status = document.getElementById('locate-status');

  province.addEventListener('change', () => {
    municipality.value = '';
    form.submit();
  });

  if ('geolocation' in navigator) {
    locate.hidden = false;
    locate.addEventListener('click', () => {
      status.textContent = y.text('search.finding');
      navigator.geolocation.getCurrentPosition((position) => {
        document.getElementById('lat').value = position.coords.latitude.toFixed(5);
        document.getElementById('lon').value = position.coords.longitude.toFixed(5);
        province.value = '';
        municipality.value = '';
        form.submit();
      }, () => {
        status.textContent = y.text('search.denied');
      }, { timeout: 10000, maximumAge: 600000 });
    });
  }
})();
