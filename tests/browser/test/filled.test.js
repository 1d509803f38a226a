// A full night in a real browser: two people on the booking page of a band with one place
// left. The first books it; the second, whose page still shows the place, gets "just taken",
// taps one of the nearest free bands offered and books it: no reload and no 422. The places
// left on the page follow the server while the person chooses.
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

async function api(method, path, body) {
  const r = await fetch(server.base + path, {
    method,
    headers: { authorization: 'Bearer ' + server.token, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

// The operator's delivery for one clinic, day and vaccine: what can be booked that day.
async function deliver(clinic, day, product, doses) {
  const r = await api('PUT', '/api/v1/admin/deliveries', { deliveries: [{ clinic, day, product, doses }] });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

// From the front page through the waiting room and the identity check, as a person would.
async function arrive(page, name, rrn, phone) {
  await page.goto(server.base + '/wait');
  await Promise.all([page.waitForURL('**/identity'), page.click('text=본인인증 하기')]);
  await page.fill('#name', name);
  await page.fill('#rrn', rrn);
  await page.fill('#phone', phone);
  await page.click('#start button[type=submit]');
  await page.waitForSelector('#demo-code:not([hidden])');
  const code = (await page.textContent('#demo-code')).match(/\d{6}/)[0];
  await page.fill('#code', code);
  await Promise.all([page.waitForURL('**/eligibility'), page.click('#verify button[type=submit]')]);
}

const left = (page, hour) => page.locator(`#book input[name=hour][value="${hour}"]`).locator('xpath=..').locator('small').textContent();

test('a band that fills under a person is one tap from another, with no reload and no 422', { timeout: 300000 }, async (t) => {
  // A clinic in Jongno-gu and a day two days out on which it vaccinates at 10:00.
  const found = (await api('GET', '/api/v1/clinics?municipality=11010&days=14')).body.clinics;
  let clinic;
  let day;
  for (const c of found) {
    for (const d of c.availability.slice(1)) {
      const bands = (await api('GET', `/api/v1/clinics/${c.id}?date=${d.date}`)).body.bands;
      if (bands.some((b) => b.hour === 10)) { clinic = c; day = d.date; break; }
    }
    if (clinic) break;
  }
  assert.ok(clinic, 'a clinic open at 10:00');
  const product = clinic.products[0];
  // One dose left that day: every band shows one place.
  await deliver(clinic.id, day, product, 1);

  const pages = [];
  const posts = [];
  // Two of the demo's people, each with their own phone (the stand-in's carriers know them).
  for (const [name, rrn, phone] of [['박철수', '671120-1000011', '010-2000-0006'], ['최수진', '681010-2000012', '010-2000-0007']]) {
    const context = await browser.newContext({ locale: 'ko-KR', viewport: h.PHONE });
    const page = await context.newPage();
    const problems = h.watchConsole(page);
    const mine = [];
    page.on('response', (r) => { if (r.request().method() === 'POST' && r.url().includes('/api/v1/bookings')) mine.push(r.status()); });
    // The page's timers run when the test says, so the refresh is seen, not raced.
    await page.clock.install();
    await arrive(page, name, rrn, phone);
    await page.goto(`${server.base}/book?clinic=${clinic.id}&product=${product}&date=${day}`);
    assert.match(await left(page, 10), /남은 자리 1/);
    pages.push({ context, page, problems });
    posts.push(mine);
  }
  const [first, second] = pages;

  // The places left follow the server while the person chooses: a delivery of 3, then 1 again.
  await deliver(clinic.id, day, product, 3);
  await second.page.clock.runFor(10000);
  await second.page.waitForFunction(() => /3/.test(document.querySelector('#book input[value="10"]').parentElement.textContent));
  await deliver(clinic.id, day, product, 1);
  await second.page.clock.runFor(10000);
  await second.page.waitForFunction(() => /남은 자리 1/.test(document.querySelector('#book input[value="10"]').parentElement.textContent));

  // Both choose 10:00; the first books it.
  for (const p of pages) await p.page.check('#book input[name=hour][value="10"]');
  await Promise.all([first.page.waitForURL('**/bookings?booked=*'), first.page.click('#book button[type=submit]')]);

  // The second's page still shows the place; booking it brings "just taken" and the offers.
  await second.page.evaluate(() => { window.stillThisPage = true; });
  await second.page.click('#book button[type=submit]');
  await second.page.waitForSelector('#filled:not([hidden])');
  assert.match(await second.page.textContent('#filled-h'), /방금 다른 분이/);
  assert.equal(await second.page.evaluate(() => document.activeElement.id), 'filled-h', 'focus moves to the news');
  const offers = second.page.locator('#offers button');
  assert.ok(await offers.count() >= 1, 'at least one free band is offered');
  // The same clinic first; with the day's only dose gone, its offers are on the next days.
  const firstOffer = { clinic: await offers.first().getAttribute('data-clinic'), date: await offers.first().getAttribute('data-date'), hour: await offers.first().getAttribute('data-hour') };
  assert.equal(firstOffer.clinic, String(clinic.id));
  assert.ok(firstOffer.date > day, `${firstOffer.date} after ${day}`);
  // The page now shows the day as the server has it: every band full.
  await second.page.waitForFunction(() => document.querySelector('#book input[value="10"]').disabled);
  assert.match(await left(second.page, 10), /마감/);
  await h.checkPage(t, assert, second.page, 'book-just-filled');

  // One tap on the first offer books it: no reload in between, and no 422.
  assert.equal(await second.page.evaluate(() => window.stillThisPage), true, 'no reload');
  await Promise.all([second.page.waitForURL('**/bookings?booked=*'), offers.first().click()]);
  assert.deepEqual(posts[1], [409, 201], 'the refusal, then the booking; never 422');
  assert.deepEqual(posts[0], [201]);
  const booked = second.page.locator('#bookings li.card.highlight dd.dose1');
  const [y, m, d] = firstOffer.date.split('-').map(Number);
  assert.match(await booked.textContent(), new RegExp(`${y}년 ${m}월 ${d}일`));
  assert.match(await booked.textContent(), new RegExp(`${String(firstOffer.hour).padStart(2, '0')}:00`));

  for (const p of pages) {
    // The 409 is the browser's own console line for a refused request, nothing else.
    assert.deepEqual(p.problems.filter((x) => !/status of 409/.test(x)), []);
    await p.context.close();
  }
});
