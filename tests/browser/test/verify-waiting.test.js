// Verifying while waiting, without scripts: the waiting page offers the identity check before the
// opening; a verified person is shown their one place (the same in every tab) and may ask to be
// texted instead of waiting; someone whose cohort does not open tonight is told at once, with
// their own window, and takes no place. In Korean and in English, with axe and screenshots.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

let server;
let browser;

before(async () => {
  server = await h.startServer();
  browser = await h.launchBrowser();
  // An opening ten minutes from now: the pre-queue is on.
  const now = Date.now();
  const r = await fetch(server.base + '/api/v1/admin/openings', {
    method: 'POST',
    headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      prequeue_starts_at: new Date(now - 1000).toISOString(),
      opens_at: new Date(now + 10 * 60 * 1000).toISOString(),
      max_active: 100,
    }),
  });
  assert.equal(r.status, 201);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

// A browser context whose waiting page holds its self-refresh (the `Refresh` header, about a
// second in a quiet pre-queue) while the test reads it.
async function newContext(locale) {
  const context = await browser.newContext({ locale, viewport: h.PHONE });
  await context.route(/\/wait(\?.*)?$/, async (route) => {
    const response = await route.fetch();
    const headers = response.headers();
    delete headers.refresh;
    await route.fulfill({ response, headers });
  });
  return context;
}

// Fills and sends the identity form on /wait/verify, then the code it shows (--demo).
async function verify(page, lang, person) {
  await page.goto(server.base + `/wait?lang=${lang}`);
  await Promise.all([page.waitForNavigation(), page.click('#verify-link')]);
  assert.match(page.url(), /\/wait\/verify/);
  await page.fill('#name', person.name);
  await page.fill('#rrn', person.rrn);
  await page.fill('#phone', person.phone);
  await Promise.all([page.waitForNavigation(), page.click('#start button[type=submit]')]);
  const demo = await page.textContent('#demo-code');
  const code = demo.trim().split(' ').pop();
  assert.match(code, /^\d{6}$/, demo);
  await page.fill('#code', code);
  await Promise.all([page.waitForNavigation(), page.click('#verify button[type=submit]')]);
}

for (const [lang, locale, person, texts] of [
  ['ko', 'ko-KR', { name: '김민수', rrn: '670315-1000001', phone: '010-2000-0001' },
    { offer: /기다리는 동안 본인인증/, done: /본인인증을 마쳤습니다/, wait: /아직 예약 시작 전입니다/,
      asked: /문자로 알려 드립니다/, willText: /화면을 닫으셔도 됩니다/ }],
  ['en', 'en-US', { name: '이영희', rrn: '670412-2000003', phone: '010-2000-0002' },
    { offer: /Verify while you wait/, done: /You are verified/, wait: /Booking has not opened yet/,
      asked: /We will text you/, willText: /You may close this page/ }],
]) {
  test(`a waiting person verifies and holds one place (${lang})`, async (t) => {
    const context = await newContext(locale);
    const page = await context.newPage();
    const problems = h.watchConsole(page);
    await page.goto(server.base + `/wait?lang=${lang}`);
    assert.match(await page.textContent('main'), texts.offer);
    await h.checkPage(t, assert, page, `wait-verify-offer-${lang}`);
    await Promise.all([page.waitForNavigation(), page.click('#verify-link')]);
    await h.checkPage(t, assert, page, `wait-verify-form-${lang}`);

    await verify(page, lang, person);
    assert.match(page.url(), /\/wait$/);
    assert.match(await page.textContent('h1'), texts.wait);
    assert.match(await page.textContent('#verified'), texts.done);
    assert.equal(await page.$('#verify-link'), null, 'no second offer');
    await h.checkPage(t, assert, page, `wait-verified-${lang}`);

    // A second tab of the same browser shows the same: one ticket, one place.
    const tab = await context.newPage();
    await tab.goto(server.base + '/wait');
    assert.match(await tab.textContent('#verified'), texts.done);

    // "Text me instead": the page may be closed; the waiting page then says so.
    await Promise.all([page.waitForNavigation(), page.click('#text-me button[type=submit]')]);
    assert.match(await page.textContent('h1'), texts.asked);
    await h.checkPage(t, assert, page, `wait-text-me-${lang}`);
    await page.goto(server.base + '/wait');
    assert.match(await page.textContent('#will-text'), texts.willText);
    assert.equal(await page.$('#text-me'), null, 'asked once');
    assert.deepStrictEqual(problems, []);
    await context.close();
  });
}

test('someone whose cohort does not open tonight is told at once, with their window', async (t) => {
  const context = await newContext('ko-KR');
  const page = await context.newPage();
  await verify(page, 'ko', { name: '김자녀', rrn: '700505-2000001', phone: '010-2000-0003' });
  assert.match(await page.textContent('h1'), /이번 예약 대상이 아닙니다/);
  assert.match(await page.textContent('main'), /대기 자리는 돌려드렸습니다/);
  await h.checkPage(t, assert, page, 'wait-verify-ineligible-ko');
  await context.close();
});
