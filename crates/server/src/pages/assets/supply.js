// A delivery cut: preview the plan (who moves, by how many days), then apply exactly that plan.
'use strict';
(function () {
  const y = window.yeyak;
  const form = document.getElementById('cut');
  const plan = document.getElementById('plan');
  const applyButton = document.getElementById('apply');
  const applied = document.getElementById('applied');
  const SVG = 'http://www.w3.org/2000/svg';
  let change = null;
  let planId = null;

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function cell(row, text) { const td = document.createElement('td'); td.textContent = text; row.appendChild(td); }
  function where(a) { return a.date + ' ' + String(a.hour).padStart(2, '0') + ':00 · ' + (a.clinic.name || a.clinic.id); }

  // Horizontal bars, one per shift in days, drawn as SVG from our own code.
  function drawShift(byShift) {
    const holder = document.getElementById('shift-chart');
    holder.textContent = '';
    const entries = Object.entries(byShift).sort((a, b) => Number(a[0]) - Number(b[0]));
    const max = Math.max(1, ...entries.map((e) => e[1]));
    const svg = el('svg', { viewBox: '0 0 640 ' + (entries.length * 28 + 8), role: 'img', 'aria-labelledby': 'shift-caption' });
    entries.forEach(([days, n], i) => {
      const y0 = 4 + i * 28;
      svg.appendChild(el('text', { x: 0, y: y0 + 16 }, y.text('supply.shift_days', { n: (Number(days) > 0 ? '+' : '') + days })));
      svg.appendChild(el('rect', { x: 60, y: y0, height: 20, width: Math.max(2, (n / max) * 480), 'data-days': days, 'data-count': n }));
      svg.appendChild(el('text', { x: 66 + (n / max) * 480, y: y0 + 16 }, String(n)));
    });
    holder.appendChild(svg);
    const body = document.querySelector('#shift-table tbody');
    body.textContent = '';
    entries.forEach(([days, n]) => { const row = body.insertRow(); cell(row, days); cell(row, String(n)); });
  }

  function show(p) {
    document.getElementById('people-moved').textContent = p.people_moved;
    document.getElementById('doses-moved').textContent = p.moves;
    document.getElementById('other-clinics').textContent = p.moved_to_other_clinics;
    document.getElementById('unplaced').textContent = p.unplaced;
    drawShift(p.by_shift_days || {});
    const body = document.querySelector('#moves tbody');
    body.textContent = '';
    (p.moves_sample || []).forEach((m) => {
      const row = body.insertRow();
      cell(row, String(m.booking)); cell(row, String(m.dose)); cell(row, where(m.from)); cell(row, where(m.to));
    });
    plan.hidden = false;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    y.clearError();
    applied.textContent = '';
    change = {
      kind: 'deliveries',
      deliveries: [{ clinic: Number(form.clinic.value), day: form.day.value, product: form.product.value, doses: Number(form.doses.value) }],
    };
    const answer = await y.api('POST', '/api/v1/admin/supply-changes/plan', change);
    if (answer.status !== 200) { y.showError(answer.body); return; }
    planId = answer.body.plan_id;
    applyButton.disabled = false;
    show(answer.body);
    document.getElementById('plan-h').focus && document.getElementById('plan-h').setAttribute('tabindex', '-1');
    document.getElementById('plan-h').focus();
  });

  applyButton.addEventListener('click', async () => {
    y.clearError();
    applyButton.disabled = true;
    const answer = await y.api('POST', '/api/v1/admin/supply-changes/apply', Object.assign({ plan_id: planId }, change));
    if (answer.status === 409 && answer.body && answer.body.detail) {
      // Bookings changed since the preview: show the new plan, to be applied in its turn.
      planId = answer.body.detail.plan_id;
      show(answer.body.detail);
      applyButton.disabled = false;
      y.showError(answer.body);
      return;
    }
    if (answer.status !== 200) { applyButton.disabled = false; y.showError(answer.body); return; }
    applied.textContent = y.text('supply.applied', {
      change: answer.body.change_id, people: answer.body.people_moved, messages: answer.body.notified,
    });
  });

  document.getElementById('show-supply').addEventListener('click', async () => {
    y.clearError();
    const clinic = form.clinic.value;
    if (clinic === '') return;
    const from = form.day.value ? '&from=' + form.day.value : '';
    const answer = await y.api('GET', '/api/v1/admin/supply?clinic=' + encodeURIComponent(clinic) + from + '&days=7');
    if (answer.status !== 200) { y.showError(answer.body); return; }
    const rows = document.getElementById('supply-rows');
    rows.textContent = '';
    answer.body.days.forEach((d) => d.products.forEach((p) => {
      const row = rows.insertRow();
      cell(row, d.date); cell(row, p.product); cell(row, String(p.planned)); cell(row, String(p.promised)); cell(row, String(p.left));
    }));
    document.getElementById('supply').hidden = false;
  });
})();
