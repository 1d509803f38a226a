// An operator in a real browser: signs in with the operator token, cuts a delivery and sees
// (then applies) the rescheduling plan, and watches the dashboard's charts move with live data.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

let server;
let browser;

before(async () => {
  server = await h.startServer();
  browser = await h.launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

// A person through the API as an app would (header credentials): queue, pass, identity.
async function person(rrn) {
  const call = async (method, path, headers, body) => {
    const r = await fetch(server.base + path, {
      method,
      headers: Object.assign({ 'content-type': 'application/json' }, headers),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json().catch(() => null) };
  };
  const arrived = await call('POST', '/api/v1/queue/arrive', {});
  const who = { 'x-yeyak-waiting-session': arrived.body.session, 'x-yeyak-ticket': arrived.body.ticket };
  const exchanged = await call('POST', '/api/v1/queue/exchange', who);
  assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
  who['x-yeyak-pass'] = exchanged.body.pass;
  const started = await call('POST', '/api/v1/identity/start', who, { name: '김모더', rrn, phone: '010-3000-' + rrn.slice(-4) });
  const verified = await call('POST', '/api/v1/identity/verify', who, { verification_id: started.body.verification_id, code: started.body.demo_code });
  assert.equal(verified.status, 200, JSON.stringify(verified.body));
  who.authorization = 'Bearer ' + verified.body.session_token;
  return { who, call: (method, path, body, extra) => call(method, path, Object.assign({}, who, extra || {}), body) };
}

async function signIn(page) {
  await page.goto(server.base + '/operator');
  assert.match(page.url(), /\/operator\/login$/, 'signed-out operators are sent to sign in');
  await page.fill('#token', server.token);
  await Promise.all([page.waitForURL(/\/operator$/), page.click('form button[type=submit]')]);
}

test('the operator signs in with the token; a wrong token is refused', async (t) => {
  const context = await browser.newContext({ locale: 'ko-KR', viewport: h.DESKTOP });
  const page = await context.newPage();
  await page.goto(server.base + '/operator/login');
  await h.checkPage(t, assert, page, 'operator-login');
  await page.fill('#token', 'not-the-operator-token');
  await page.click('form button[type=submit]');
  assert.match(await page.textContent('#error'), /운영자 토큰이 맞지 않습니다/);
  await signIn(page);
  const cookies = await context.cookies();
  const signedIn = cookies.find((c) => c.name === 'yeyak_operator');
  assert.ok(signedIn && signedIn.httpOnly, 'an HttpOnly sign-in cookie');
  assert.equal(signedIn.sameSite, 'Strict');
  assert.ok(!signedIn.value.includes(server.token));
  assert.match(await page.textContent('#queue'), /없음 \(바로 입장\)/, 'a fresh server has no opening');
  await h.checkPage(t, assert, page, 'operator-home');
  await context.close();
});

test('an operator cuts a delivery, sees who moves by how many days, and applies the plan', async (t) => {
  // Six people booked Pfizer at one Jongno clinic on the same day.
  const first = await person('670315-1000201');
  const found = await first.call('GET', '/api/v1/clinics?municipality=11010&product=pfizer&days=7');
  const clinic = found.body.clinics.find((c) => c.availability.some((d) => d.remaining.pfizer >= 6));
  assert.ok(clinic, 'a clinic with room for six');
  const day = clinic.availability.find((d) => d.remaining.pfizer >= 6).date;
  const bands = (await first.call('GET', `/api/v1/clinics/${clinic.id}?date=${day}`)).body.bands
    .filter((b) => b.remaining.pfizer > 0);
  const people = [first];
  for (let i = 1; i < 6; i++) people.push(await person(`670315-10003${String(i).padStart(2, '0')}`));
  for (const [i, p] of people.entries()) {
    const band = bands[i % bands.length];
    const booked = await p.call('POST', '/api/v1/bookings', { clinic_id: clinic.id, date: day, hour: band.hour, product: 'pfizer' }, { 'idempotency-key': `cut-${i}` });
    assert.equal(booked.status, 201, JSON.stringify(booked.body));
  }

  const context = await browser.newContext({ locale: 'ko-KR', viewport: h.DESKTOP });
  const page = await context.newPage();
  const problems = h.watchConsole(page);
  await signIn(page);
  await page.click('header nav >> text=공급·일정 변경');
  await page.waitForURL(/\/operator\/supply$/);
  await page.fill('#clinic', String(clinic.id));
  await page.fill('#day', day);
  await page.selectOption('#product', 'pfizer');
  await page.fill('#doses', '1');
  await page.click('#cut button[type=submit]');
  await page.waitForSelector('#plan:not([hidden])');
  assert.equal(Number(await page.textContent('#people-moved')), 5, 'one dose left: five of six move');
  const bars = page.locator('#shift-chart svg rect');
  assert.ok((await bars.count()) >= 1, 'a bar per shift in days');
  let counted = 0;
  for (let i = 0; i < (await bars.count()); i++) counted += Number(await bars.nth(i).getAttribute('data-count'));
  // Each person's dose 2 moves with their dose 1.
  assert.equal(Number(await page.textContent('#doses-moved')), 10);
  assert.equal(counted, 10, 'the bars add up to the doses moved');
  assert.equal(await page.locator('#moves tbody tr').count(), 10);
  await h.checkPage(t, assert, page, 'operator-supply-plan');

  await page.click('#apply');
  await page.waitForSelector('text=적용했습니다');
  assert.match(await page.textContent('#applied'), /5명 이동/);
  // The clinic's supply now: the day of the cut plans one Pfizer dose, promised to the one who stayed.
  await page.click('#show-supply');
  await page.waitForSelector('#supply:not([hidden])');
  const cut = page.locator('#supply-rows tr', { hasText: day }).filter({ hasText: 'pfizer' });
  const cells = await cut.first().locator('td').allTextContents();
  assert.deepEqual(cells.slice(2), ['1', '1', '0'], 'planned 1, promised 1, left 0');
  // The people moved now see it in their booking.
  const seen = await people[5].call('GET', '/api/v1/bookings');
  const moved = seen.body.bookings[0].moved;
  assert.deepEqual(moved.map((m) => [m.dose, m.reason]), [[1, 'delivery_changed'], [2, 'delivery_changed']]);
  assert.deepEqual(problems, []);
  await context.close();
});

// A scripted load, bounded in count and time: `waves` waves half a second apart, each with
// `arrivals` people taking a ticket and one person booking (identified beforehand), so every
// chart has something to draw.
async function scriptedLoad(people, clinic, day, bands, waves, arrivals) {
  for (let w = 0; w < waves; w++) {
    const booker = people[w];
    const booking = booker
      ? booker.call('POST', '/api/v1/bookings', { clinic_id: clinic, date: day, hour: bands[w % bands.length], product: 'pfizer' }, { 'idempotency-key': `load-${w}` })
      : Promise.resolve({ status: 201 });
    const tickets = Array.from({ length: arrivals }, () => fetch(server.base + '/api/v1/queue/arrive', { method: 'POST' }));
    const [booked] = await Promise.all([booking, ...tickets]);
    assert.equal(booked.status, 201, JSON.stringify(booked.body));
    await new Promise((r) => setTimeout(r, 500));
  }
}

test('the dashboard draws live data with axes, values and a table, and updates without reloading', { timeout: 300000 }, async (t) => {
  // Twelve people ready to book Pfizer in Jongno-gu during the load.
  const people = [];
  for (let i = 0; i < 12; i++) people.push(await person(`670316-10004${String(i).padStart(2, '0')}`));
  const found = await people[0].call('GET', '/api/v1/clinics?municipality=11010&product=pfizer&days=7');
  const clinic = found.body.clinics.find((c) => c.availability.some((d) => d.remaining.pfizer >= 12));
  const day = clinic.availability.find((d) => d.remaining.pfizer >= 12).date;
  const bands = (await people[0].call('GET', `/api/v1/clinics/${clinic.id}?date=${day}`)).body.bands
    .filter((b) => b.remaining.pfizer > 0).map((b) => b.hour);

  const context = await browser.newContext({ locale: 'ko-KR', viewport: h.DESKTOP });
  const page = await context.newPage();
  const problems = h.watchConsole(page);
  await signIn(page);
  await page.goto(server.base + '/operator/dashboard');
  const line = page.locator('#chart-arrivals_per_s svg polyline');
  await line.waitFor({ state: 'attached' }); // a flat line at 0 has no height: not "visible"
  await page.waitForFunction(() => Number(document.querySelector('#chart-arrivals_per_s polyline').dataset.count) >= 2);
  const before = { points: await line.getAttribute('points'), count: Number(await line.getAttribute('data-count')) };

  // The load runs while the operator watches (and while the screenshots are taken); the charts
  // move without a reload.
  const load = scriptedLoad(people, clinic.id, day, bands, 40, 8);
  await page.waitForFunction((old) => {
    const line = document.querySelector('#chart-arrivals_per_s polyline');
    return line && line.getAttribute('points') !== old;
  }, before.points, { timeout: 15000 });
  await page.waitForFunction(() => Number(document.querySelector('#chart-bookings_per_min polyline').dataset.top) > 1, null, { timeout: 15000 });
  const after = { points: await line.getAttribute('points'), count: Number(await line.getAttribute('data-count')) };
  assert.notEqual(after.points, before.points, 'the line moved');
  assert.ok(after.count >= before.count);
  const highest = Math.min(...after.points.split(' ').map((xy) => Number(xy.split(',')[1])));
  assert.ok(highest < 116, 'a point above the time axis: arrivals were drawn');

  for (const id of ['arrivals_per_s', 'queued', 'admission_rate_per_s', 'active', 'bookings_per_min']) {
    const chart = page.locator(`#chart-${id}`);
    assert.equal(await chart.locator('svg polyline').count(), 1, id);
    // A time axis (first, middle and last sample, in Korea time), a value axis from 0 to a round
    // top, the current value at the end of the line and in the caption, and the peak.
    const times = await chart.locator('svg text.time').allTextContents();
    assert.equal(times.length, 3, id);
    times.forEach((x) => assert.match(x, /^\d\d:\d\d:\d\d$/, id));
    // Read in one go: the page redraws every two seconds.
    const drawn = await chart.evaluate((f) => ({
      ticks: Array.from(f.querySelectorAll('svg text.tick:not(.time)'), (x) => x.textContent),
      top: Number(f.querySelector('polyline').dataset.top),
      last: Number(f.querySelector('polyline').dataset.last),
      label: f.querySelector('svg text.label').textContent,
      value: f.querySelector('.value').textContent,
    }));
    assert.equal(drawn.ticks[0], '0', id);
    assert.equal(Number(drawn.ticks[2].replace(/,/g, '')), drawn.top, id);
    const shownLast = Number(drawn.label.replace(/[^\d.]/g, ''));
    // Shown to one decimal below 100, whole from 100 up.
    assert.ok(Math.abs(shownLast - drawn.last) <= (drawn.last >= 100 ? 0.5 : 0.05) + 1e-9, `${id}: ${drawn.label} for ${drawn.last}`);
    assert.equal(drawn.value, drawn.label, id);
    assert.match(await chart.locator('.max').textContent(), /^최고 /, id);
    assert.match(await chart.locator('svg').getAttribute('aria-label'), /현재 .*최고 .*한국시간/, id);
  }
  const booked = Number(await page.locator('#chart-bookings_per_min polyline').getAttribute('data-top'));
  assert.ok(booked >= 2, 'the bookings of the load were drawn');

  // The text alternative: one row per sample shown, newest first, a column per chart.
  await page.click('#series-details summary');
  const rows = page.locator('#series-table tbody tr');
  await page.waitForFunction(() => document.querySelectorAll('#series-table tbody tr').length >= 2);
  const shown = Number(await line.getAttribute('data-count'));
  assert.ok(Math.abs((await rows.count()) - shown) <= 1, 'a row per sample');
  assert.equal(await rows.first().locator('td').count(), 5);
  const provinces = page.locator('#chart-provinces svg rect');
  await page.waitForFunction(() => document.querySelectorAll('#chart-provinces svg rect').length === 17);
  assert.ok(Number(await provinces.first().getAttribute('data-remaining')) > 0);
  assert.equal(await page.locator('#provinces-table tbody tr').count(), 17);
  assert.equal(page.url(), server.base + '/operator/dashboard', 'no reload');
  await h.checkPage(t, assert, page, 'operator-dashboard');
  await load;

  // The last hour, every ten seconds: fewer points than second by second, times to the minute.
  await page.selectOption('#span', 'coarse');
  await page.waitForFunction((n) => Number(document.querySelector('#chart-queued polyline').dataset.count) < n, after.count);
  assert.match(await page.locator('#chart-queued svg text.time').last().textContent(), /^\d\d:\d\d$/);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a dashboard chart with no data says so', async () => {
  const context = await browser.newContext({ locale: 'en-GB', viewport: h.PHONE });
  const page = await context.newPage();
  await signIn(page);
  // An answer with no samples yet (as in a server's first second) and no provinces.
  await page.route('**/api/v1/admin/dashboard', (route) => route.fulfill({
    status: 200,
    contentType: 'application/json',
    body: JSON.stringify({ now: new Date().toISOString(), capacity_days: 7, fine: [], coarse: [], provinces: [] }),
  }));
  await page.goto(server.base + '/operator/dashboard?lang=en');
  await page.waitForSelector('#chart-queued.nodata');
  assert.equal(await page.locator('#chart-queued svg polyline').count(), 0);
  assert.equal(await page.textContent('#chart-queued svg text.empty'), 'No data yet');
  assert.equal(await page.locator('#chart-queued svg').getAttribute('aria-label'), 'Queue length: No data yet');
  assert.equal(await page.textContent('#chart-queued .value'), '–');
  assert.equal(await page.textContent('#chart-provinces svg text.empty'), 'No data yet');
  assert.equal(await page.locator('#series-table tbody td').first().textContent(), 'No data yet');
  assert.deepEqual(await h.seriousViolations(page), []);
  await context.close();
});

test('an operator schedules an opening from the queue page', async () => {
  const context = await browser.newContext({ locale: 'ko-KR', viewport: h.PHONE });
  const page = await context.newPage();
  const problems = h.watchConsole(page);
  await signIn(page);
  // Korea-time wall clock strings for the form, an hour and two hours from now.
  const kst = (ms) => new Date(ms + 9 * 3600e3).toISOString().slice(0, 16);
  await page.fill('#prequeue', kst(Date.now() + 3600e3));
  await page.fill('#opens', kst(Date.now() + 7200e3));
  await page.fill('#max-active', '300');
  await page.click('#opening button[type=submit]');
  await page.waitForSelector('#result:has-text("대기열 번호")');
  const queue = Number((await page.textContent('#result')).match(/(\d+)\s*$/)[1]);
  await page.reload();
  assert.match(await page.textContent('#queue'), new RegExp('대기열 번호\\s*' + queue));
  assert.match(await page.textContent('#queue'), /300/);
  assert.deepEqual(problems, []);
  await context.close();
});
