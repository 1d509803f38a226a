// Leftover doses and the clinic desk in a real browser: a citizen asks to hear of leftover doses
// near them; a nurse signs in with a staff token, offers doses; the citizen claims one for today;
// the nurse sees them on today's list and marks the dose given.
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

async function identify(page, name, rrn) {
  await page.goto(server.base + '/wait');
  await page.click('text=본인인증 하기');
  await page.fill('#name', name);
  await page.fill('#rrn', rrn);
  await page.fill('#phone', '010-2000-0005');
  await page.click('#start button[type=submit]');
  await page.waitForSelector('#demo-code:not([hidden])');
  const code = (await page.textContent('#demo-code')).match(/\d{6}/)[0];
  await page.fill('#code', code);
  await Promise.all([page.waitForURL('**/eligibility'), page.click('#verify button[type=submit]')]);
}

// Leftover doses are for the rest of today in Korea: a run in the last minutes before midnight
// there waits for the new day rather than offer doses that expire before they can be claimed.
async function notJustBeforeMidnightInKorea() {
  const kst = new Date(Date.now() + 9 * 3600e3);
  const minutesLeft = 24 * 60 - (kst.getUTCHours() * 60 + kst.getUTCMinutes());
  if (minutesLeft <= 5) await new Promise((r) => setTimeout(r, (minutesLeft * 60 + 30) * 1000));
}

test('a leftover dose goes from the clinic desk to a citizen who asked, and is marked given', { timeout: 600000 }, async (t) => {
  await notJustBeforeMidnightInKorea();
  // The operator issues a token for a Jongno-gu clinic's desk.
  const clinics = await (await fetch(server.base + '/api/v1/clinics?municipality=11010')).json();
  const clinic = clinics.clinics[0];
  const issued = await fetch(server.base + '/api/v1/admin/staff', {
    method: 'POST',
    headers: { authorization: 'Bearer ' + server.token, 'content-type': 'application/json' },
    body: JSON.stringify({ role: 'clinic', clinic: clinic.id, name: '간호사 김' }),
  });
  assert.equal(issued.status, 201);
  const staffToken = (await issued.json()).token;

  // A citizen asks to hear of leftover doses in Jongno-gu.
  const citizen = await browser.newContext({ locale: 'ko-KR', viewport: h.PHONE });
  const page = await citizen.newPage();
  const problems = h.watchConsole(page);
  await identify(page, '이잔여', '700707-1000007');
  await Promise.all([page.waitForURL('**/leftovers'), page.click('a[href="/leftovers"]')]);
  await Promise.all([page.waitForURL(/province=11/), page.selectOption('#province', '11')]);
  await Promise.all([page.waitForURL(/municipality=11010/), page.selectOption('#municipality', '11010')]);
  await page.selectOption('#radius', '10');
  await Promise.all([page.waitForURL(/\/leftovers$/), page.click('#subscribe button[type=submit]')]);
  assert.match(await page.textContent('#subscribed'), /반경 10km/);
  await h.checkPage(t, assert, page, 'leftovers');

  // The nurse signs in and offers two doses until late tonight (Korea time).
  const desk = await browser.newContext({ locale: 'ko-KR', viewport: h.DESKTOP });
  const nurse = await desk.newPage();
  await nurse.goto(server.base + '/clinic');
  assert.match(nurse.url(), /\/clinic\/login$/);
  await nurse.fill('#token', 'wrong-token');
  await nurse.click('form button[type=submit]');
  assert.match(await nurse.textContent('#error'), /직원 토큰이 맞지 않거나/);
  await nurse.fill('#token', staffToken);
  await Promise.all([nurse.waitForURL(/\/clinic$/), nurse.click('form button[type=submit]')]);
  const deskProblems = h.watchConsole(nurse); // after the refused sign-in's 401
  const staffCookie = (await desk.cookies()).find((c) => c.name === 'yeyak_staff');
  assert.ok(staffCookie.httpOnly && staffCookie.sameSite === 'Strict');
  await nurse.selectOption('#leftover-product', clinic.products[0].replace('astra_zeneca', 'astrazeneca'));
  await nurse.fill('#leftover-doses', '2');
  await nurse.fill('#leftover-until', '23:59');
  await nurse.click('#leftover button[type=submit]');
  await nurse.waitForSelector('#posted:has-text("안내한 사람")');
  assert.match(await nurse.textContent('#posted'), /안내한 사람: 1/, 'the one subscriber nearby is told');

  // The citizen sees the offer and claims a dose for today.
  await page.reload();
  const offer = page.locator('#offers button[data-claim]');
  assert.equal(await offer.count(), 1);
  page.once('dialog', (d) => d.accept());
  await Promise.all([page.waitForURL(/\/bookings\?booked=\d+/), offer.click()]);
  assert.match(await page.textContent('.success'), /예약이 완료되었습니다/);

  // The nurse sees them on today's list and marks the dose given.
  await nurse.reload();
  const row = nurse.locator('#day tbody tr', { hasText: '이*여' });
  assert.equal(await row.count(), 1, await nurse.textContent('#day'));
  assert.match(await row.textContent(), /1970-07-07/);
  await h.checkPage(t, assert, nurse, 'clinic-day');
  await Promise.all([nurse.waitForLoadState('load'), row.locator('button[data-given]').click()]);
  await nurse.waitForFunction(() => document.getElementById('given').textContent === '1');
  assert.equal(await nurse.locator('#day button[data-given]').count(), 0);

  // And the citizen's booking shows dose 1 given.
  await page.reload();
  assert.match(await page.textContent('#bookings li.card dd.dose1'), /접종 완료/);
  assert.deepEqual(problems, []);
  assert.deepEqual(deskProblems, []);
  await citizen.close();
  await desk.close();
});
