// The live dashboard: polls GET /api/v1/admin/dashboard every few seconds and draws each series
// as an SVG line with a time axis (Korea time), a value axis from 0 to a round maximum, the
// current value marked at the end of the line and its peak; capacity by province as labelled
// bars. Every value drawn is also in a table (for screen readers and copy-paste), and a chart
// with no samples says so. Our own code; no chart library.
'use strict';
(function () {
  const y = window.yeyak;
  const SVG = 'http://www.w3.org/2000/svg';
  const POLL_MS = 2000;
  // The line charts' drawing area inside their 300×152 viewBox: room for the axes' labels.
  const W = 300;
  const LEFT = 40;
  const RIGHT = 292;
  const TOP = 12;
  const BOTTOM = 116;
  const updated = document.getElementById('updated');
  const period = document.getElementById('span');
  const text = y.text;
  let timer = null;

  function el(name, attrs, content) {
    const node = document.createElementNS(SVG, name);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    if (content !== undefined) node.textContent = content;
    return node;
  }

  function number(v) {
    if (v >= 100 || Number.isInteger(v)) return Math.round(v).toLocaleString(y.lang === 'en' ? 'en' : 'ko');
    return v.toFixed(1);
  }

  // The server's instants in Korea time (formatting only: the browser's clock is not read).
  function clock(ms, seconds) {
    return new Date(ms).toLocaleTimeString(y.lang === 'en' ? 'en-GB' : 'ko-KR', {
      timeZone: 'Asia/Seoul', hour: '2-digit', minute: '2-digit', second: seconds ? '2-digit' : undefined, hour12: false,
    });
  }

  // The smallest 1, 2 or 5 × 10^k at or above `v`: the value axis ends on a round number.
  function roundUp(v) {
    if (v <= 1) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function noData(svg, figure) {
    svg.appendChild(el('text', { class: 'empty', x: W / 2, y: 70, 'text-anchor': 'middle' }, text('dashboard.no_data')));
    figure.querySelector('.value').textContent = '–';
    figure.querySelector('.max').textContent = '';
    svg.setAttribute('aria-label', figure.querySelector('.title').textContent + ': ' + text('dashboard.no_data'));
    figure.classList.add('nodata');
  }

  // One line chart: x is time over the samples shown, y from 0 to a round maximum.
  function drawLine(figure, samples, seconds) {
    const key = figure.dataset.series;
    const svg = figure.querySelector('svg');
    const unit = figure.dataset.unit || '';
    svg.textContent = '';
    figure.classList.remove('nodata');
    if (samples.length === 0) { noData(svg, figure); return; }
    const values = samples.map((s) => Number(s[key]) || 0);
    const peak = Math.max(...values);
    const top = roundUp(peak);
    const t0 = samples[0].at_ms;
    const t1 = samples[samples.length - 1].at_ms;
    const x = (t) => (t1 > t0 ? LEFT + ((t - t0) / (t1 - t0)) * (RIGHT - LEFT) : RIGHT);
    const yOf = (v) => BOTTOM - (v / top) * (BOTTOM - TOP);
    // Value axis: 0, half and the top, with grid lines.
    for (const v of [0, top / 2, top]) {
      svg.appendChild(el('line', { class: v === 0 ? 'axis' : 'grid', x1: LEFT, y1: yOf(v), x2: RIGHT, y2: yOf(v) }));
      svg.appendChild(el('text', { class: 'tick', x: LEFT - 5, y: yOf(v) + 4, 'text-anchor': 'end' }, number(v)));
    }
    // Time axis: the first, middle and last sample's time.
    svg.appendChild(el('line', { class: 'axis', x1: LEFT, y1: TOP, x2: LEFT, y2: BOTTOM }));
    const marks = [[t0, 'start'], [(t0 + t1) / 2, 'middle'], [t1, 'end']];
    for (const [t, anchor] of (t1 > t0 ? marks : [[t1, 'end']])) {
      svg.appendChild(el('line', { class: 'axis', x1: x(t), y1: BOTTOM, x2: x(t), y2: BOTTOM + 4 }));
      svg.appendChild(el('text', { class: 'tick time', x: x(t), y: BOTTOM + 16, 'text-anchor': anchor }, clock(t, seconds)));
    }
    svg.appendChild(el('text', { class: 'tick', x: RIGHT, y: 148, 'text-anchor': 'end' }, '(' + text('dashboard.korea_time') + ')'));
    const points = samples.map((s, i) => x(s.at_ms).toFixed(1) + ',' + yOf(values[i]).toFixed(1)).join(' ');
    const last = values[values.length - 1];
    svg.appendChild(el('polyline', { points, 'data-count': samples.length, 'data-last': last, 'data-top': top }));
    // The current value: a dot at the end of the line and its number beside it.
    const lx = x(t1);
    const ly = yOf(last);
    svg.appendChild(el('circle', { class: 'now', cx: lx, cy: ly, r: 3.5 }));
    svg.appendChild(el('text', { class: 'label', x: lx - 6, y: ly < TOP + 14 ? ly + 16 : ly - 7, 'text-anchor': 'end' }, number(last) + unit));
    figure.querySelector('.value').textContent = number(last) + unit;
    figure.querySelector('.max').textContent = text('dashboard.peak') + ' ' + number(peak) + unit;
    svg.setAttribute('aria-label', figure.querySelector('.title').textContent + ': ' + text('dashboard.now') + ' ' + number(last) + unit +
      ', ' + text('dashboard.peak') + ' ' + number(peak) + unit + ', ' + clock(t0, seconds) + '–' + clock(t1, seconds) + ' (' + text('dashboard.korea_time') + ')');
  }

  function drawProvinces(provinces) {
    const figure = document.getElementById('chart-provinces');
    const svg = figure.querySelector('svg');
    svg.textContent = '';
    if (provinces.length === 0) {
      svg.setAttribute('viewBox', '0 0 400 60');
      svg.appendChild(el('text', { class: 'empty', x: 200, y: 34, 'text-anchor': 'middle' }, text('dashboard.no_data')));
      return;
    }
    // Narrow enough that a phone shows the names at a readable size: names, bars, values.
    const max = Math.max(1, ...provinces.map((p) => p.remaining));
    const row = 20;
    svg.setAttribute('viewBox', '0 0 400 ' + (provinces.length * row + 4));
    provinces.forEach((p, i) => {
      const y0 = 2 + i * row;
      const name = y.lang === 'en' ? p.name_en : p.name_ko;
      const w = (p.remaining / max) * 185;
      svg.appendChild(el('text', { x: 0, y: y0 + 14 }, name));
      svg.appendChild(el('rect', { x: 150, y: y0 + 3, height: 14, width: Math.max(1, w), 'data-code': p.code, 'data-remaining': p.remaining }));
      svg.appendChild(el('text', { x: 155 + w, y: y0 + 14 }, number(p.remaining)));
    });
  }

  // A table body rewritten with new rows, unless the operator is selecting text in it (to copy).
  function fillTable(id, rows) {
    const table = document.getElementById(id);
    const selection = window.getSelection();
    if (selection && selection.rangeCount && !selection.isCollapsed && table.contains(selection.anchorNode)) return;
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const cells of rows) {
      const tr = document.createElement('tr');
      cells.forEach((c, i) => {
        const cell = document.createElement(i === 0 ? 'th' : 'td');
        if (i === 0) cell.scope = 'row';
        cell.textContent = c;
        tr.appendChild(cell);
      });
      body.appendChild(tr);
    }
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = table.tHead.rows[0].cells.length;
      td.textContent = text('dashboard.no_data');
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  function draw(data) {
    const coarse = period.value === 'coarse';
    // The last two minutes second by second, or the last hour every ten seconds.
    const samples = coarse ? data.coarse : data.fine.slice(-120);
    const figures = Array.from(document.querySelectorAll('figure[data-series]'));
    figures.forEach((f) => drawLine(f, samples, !coarse));
    fillTable('series-table', samples.slice().reverse().map((s) =>
      [clock(s.at_ms, true)].concat(figures.map((f) => number(Number(s[f.dataset.series]) || 0)))));
    drawProvinces(data.provinces);
    fillTable('provinces-table', data.provinces.map((p) => [y.lang === 'en' ? p.name_en : p.name_ko, number(p.remaining)]));
    const at = new Date(data.now).toLocaleString(y.lang === 'en' ? 'en-GB' : 'ko-KR', { timeZone: 'Asia/Seoul' });
    updated.textContent = text('dashboard.updated') + ': ' + at + ' (' + text('dashboard.korea_time') + ')';
  }

  async function poll() {
    const answer = await y.api('GET', '/api/v1/admin/dashboard');
    if (answer.status === 401) { location.href = '/operator/login'; return; }
    if (answer.status !== 200) updated.textContent = text('dashboard.stale');
    else draw(answer.body);
    timer = setTimeout(poll, POLL_MS);
  }
  period.addEventListener('change', () => { clearTimeout(timer); poll(); });
  poll();
})();
