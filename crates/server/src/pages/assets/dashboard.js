// The live dashboard: polls GET /api/v1/admin/dashboard every few seconds and draws each series
// as an SVG polyline, and capacity by province as bars. Our own code; no chart library.
'use strict';
(function () {
  const y = window.yeyak;
  const SVG = 'http://www.w3.org/2000/svg';
  const POLL_MS = 2000;
  const updated = document.getElementById('updated');
  const period = document.getElementById('span');
  let timer = null;

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function number(v) {
    if (v >= 100 || Number.isInteger(v)) return Math.round(v).toLocaleString(y.lang === 'en' ? 'en' : 'ko');
    return v.toFixed(1);
  }

  // One line chart: x is time over the samples shown, y from 0 to the largest value.
  function drawLine(figure, samples) {
    const key = figure.dataset.series;
    const svg = figure.querySelector('svg');
    const values = samples.map((s) => Number(s[key]) || 0);
    const max = Math.max(1, ...values);
    const t0 = samples.length ? samples[0].at_ms : 0;
    const span = samples.length > 1 ? samples[samples.length - 1].at_ms - t0 : 1;
    const points = samples.map((s, i) => {
      const x = span > 0 ? ((s.at_ms - t0) / span) * 300 : 300;
      const yv = 96 - (values[i] / max) * 90;
      return x.toFixed(1) + ',' + yv.toFixed(1);
    }).join(' ');
    svg.textContent = '';
    svg.appendChild(el('line', { class: 'axis', x1: 0, y1: 96, x2: 300, y2: 96 }));
    svg.appendChild(el('polyline', { points, 'data-count': samples.length, 'data-last': values.length ? values[values.length - 1] : 0 }));
    const last = values.length ? values[values.length - 1] : 0;
    figure.querySelector('.value').textContent = number(last) + (figure.dataset.unit || '');
    figure.querySelector('.max').textContent = (y.lang === 'en' ? 'peak ' : '최고 ') + number(Math.max(0, ...values));
    svg.setAttribute('aria-label', figure.querySelector('.title').textContent + ': ' + number(last));
  }

  function drawProvinces(provinces) {
    const svg = document.querySelector('#chart-provinces svg');
    const max = Math.max(1, ...provinces.map((p) => p.remaining));
    const row = 20;
    svg.setAttribute('viewBox', '0 0 640 ' + (provinces.length * row + 4));
    svg.textContent = '';
    provinces.forEach((p, i) => {
      const y0 = 2 + i * row;
      const name = y.lang === 'en' ? p.name_en : p.name_ko;
      const w = (p.remaining / max) * 380;
      svg.appendChild(el('text', { x: 0, y: y0 + 13 }, name));
      svg.appendChild(el('rect', { x: 170, y: y0 + 2, height: 14, width: Math.max(1, w), 'data-code': p.code, 'data-remaining': p.remaining }));
      svg.appendChild(el('text', { x: 176 + w, y: y0 + 13 }, number(p.remaining)));
    });
  }

  async function poll() {
    const answer = await y.api('GET', '/api/v1/admin/dashboard');
    if (answer.status === 401) { location.href = '/operator/login'; return; }
    if (answer.status !== 200) {
      updated.textContent = updated.dataset.stale;
    } else {
      const data = answer.body;
      // The last two minutes second by second, or the last hour every ten seconds.
      const samples = period.value === 'coarse' ? data.coarse : data.fine.slice(-120);
      document.querySelectorAll('figure[data-series]').forEach((f) => drawLine(f, samples));
      drawProvinces(data.provinces);
      // The server's time, shown in Korea time (formatting only: the browser's clock is not read).
      const at = new Date(data.now).toLocaleString(y.lang === 'en' ? 'en-GB' : 'ko-KR', { timeZone: 'Asia/Seoul' });
      updated.textContent = updated.dataset.label + ': ' + at + (y.lang === 'en' ? ' (Korea time)' : ' (한국시간)');
    }
    timer = setTimeout(poll, POLL_MS);
  }
  period.addEventListener('change', () => { clearTimeout(timer); poll(); });
  poll();
})();
