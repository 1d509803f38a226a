// A citizen in a real browser: from the waiting page to a confirmed booking (dose 1 and 2) and
// back to "my bookings", changing and cancelling; booking for a family member; the waiting page
// across reloads; the English switch.
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

// Through the identity check with the demo code the --demo server shows.
async function identify(page, name, rrn, phone) {
  await page.fill('#name', name);
  await page.fill('#rrn', rrn);
  await page.fill('#phone', phone);
  await page.click('#start button[type=submit]');
  await page.waitForSelector('#demo-code:not([hidden])');
  const demo = await page.textContent('#demo-code');
  const code = demo.match(/\d{6}/)[0];
  assert.equal(await page.inputValue('#rrn'), '', 'the registration number is cleared once sent');
  await page.fill('#code', code);
  await Promise.all([page.waitForURL('**/eligibility'), page.click('#verify button[type=submit]')]);
}

// From the search page: Seoul, Jongno-gu, the first clinic with places.
async function chooseClinic(page) {
  await Promise.all([page.waitForURL(/province=11/), page.selectOption('#province', '11')]);
  await page.selectOption('#municipality', '11010');
  await Promise.all([page.waitForURL(/municipality=11010/), page.click('#search button[type=submit]')]);
  await page.waitForSelector('#results a[href^="/book?clinic="]');
}

test('a citizen goes from the waiting page to a confirmed booking and back to my bookings', async (t) => {
  const context = await browser.newContext({ locale: 'ko-KR', viewport: h.PHONE });
  const page = await context.newPage();
  const problems = h.watchConsole(page);

  await page.goto(server.base + '/');
  assert.equal(await page.getAttribute('html', 'lang'), 'ko');
  assert.match(await page.textContent('h1'), /예방접종/);
  // The keyboard's first stop skips the header to the page's content.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  await page.keyboard.press('Enter');
  assert.match(page.url(), /#main$/);
  await h.checkPage(t, assert, page, 'home');

  await Promise.all([page.waitForURL('**/wait'), page.click('text=예약 시작하기')]);
  await page.waitForSelector('text=입장 차례입니다');
  await h.checkPage(t, assert, page, 'wait-admitted');

  await Promise.all([page.waitForURL('**/identity'), page.click('text=본인인증 하기')]);
  await h.checkPage(t, assert, page, 'identity');
  await identify(page, '김민수', '670315-1000001', '010-2000-0001');

  assert.match(await page.textContent('h1'), /지금 예약할 수 있습니다/);
  assert.match(await page.textContent('main'), /예약 마감/);
  await h.checkPage(t, assert, page, 'eligibility');

  await Promise.all([page.waitForURL('**/search'), page.click('text=의료기관 찾기')]);
  await chooseClinic(page);
  await h.checkPage(t, assert, page, 'search');
  // A short page of ten, and the next ten on request.
  assert.equal(await page.locator('#results li.card').count(), 10);
  await Promise.all([page.waitForURL(/offset=10/), page.click('#next')]);
  assert.match(await page.textContent('#results-h + .note'), /11–20번째/);
  await page.goBack();

  await Promise.all([page.waitForURL('**/book?**'), page.click('#results a[href^="/book?clinic="] >> nth=0')]);
  const clinicName = await page.textContent('.clinic strong');
  await page.check('input[name=hour]:not([disabled]) >> nth=0');
  await h.checkPage(t, assert, page, 'book');
  await Promise.all([page.waitForURL(/\/bookings\?booked=\d+/), page.click('#book button[type=submit]')]);

  assert.match(await page.textContent('.success'), /예약이 완료되었습니다/);
  const card = page.locator('#bookings li.card').first();
  assert.match(await card.textContent(), /1차 접종/);
  assert.match(await card.textContent(), /2차 접종/, 'dose 2 is booked with dose 1');
  assert.ok((await card.textContent()).includes(clinicName.trim()));
  await h.checkPage(t, assert, page, 'bookings-confirmed');

  // Back to "my bookings" later from the start page: the booking is there.
  await page.goto(server.base + '/');
  await Promise.all([page.waitForURL('**/bookings'), page.click('text=예약 조회·변경·취소')]);
  assert.equal(await page.locator('#bookings li.card').count(), 1);
  const before = await page.textContent('#bookings li.card dd.dose1');

  // Change it: another band at the same clinic.
  await Promise.all([page.waitForURL(/\/search\?change=\d+/), page.click('text=날짜·의료기관 변경')]);
  await chooseClinic(page);
  await Promise.all([page.waitForURL('**/book?**'), page.click('#results a[href^="/book?clinic="] >> nth=0')]);
  const hours = page.locator('input[name=hour]:not([disabled])');
  await hours.nth((await hours.count()) - 1).check();
  await Promise.all([page.waitForURL(/\/bookings\?changed=\d+/), page.click('#book button[type=submit]')]);
  assert.match(await page.textContent('.success'), /예약이 변경되었습니다/);
  const afterChange = await page.textContent('#bookings li.card dd.dose1');
  assert.notEqual(afterChange, before, 'the appointment moved');

  // Cancel it, after saying yes to the question.
  page.once('dialog', (d) => d.accept());
  await Promise.all([page.waitForURL(/\/bookings\?cancelled=\d+/), page.click('button[data-cancel]')]);
  assert.match(await page.textContent('#bookings li.card'), /취소됨/);

  assert.deepEqual(problems, [], 'no script error and nothing refused by the CSP');
  await context.close();
});

test('a family member is booked by someone who verified their own identity, near where they are', async (t) => {
  // The browser shares a location in Jongno-gu, Seoul.
  const context = await browser.newContext({
    locale: 'ko-KR', viewport: h.PHONE, geolocation: { latitude: 37.5735, longitude: 126.979 }, permissions: ['geolocation'],
  });
  const page = await context.newPage();
  await page.goto(server.base + '/wait');
  await page.click('text=본인인증 하기');
  // Born 1970: the booker's own window is not open, but their mother's (born 1968) is.
  await identify(page, '김자녀', '700505-2000001', '010-2000-0003');
  assert.match(await page.textContent('h1'), /아직 예약 기간이 아닙니다/);
  assert.match(await page.textContent('#opens'), /한국시간/, 'says when their window opens');
  await Promise.all([page.waitForURL(/search\?family=1/), page.click('text=가족 예약하기')]);
  await Promise.all([page.waitForURL(/lat=37\.57/), page.click('#locate')]);
  await page.waitForSelector('#results a[href^="/book?clinic="]');
  assert.match(await page.textContent('#results li.card'), /\d+\.\d km/, 'nearest first, with the distance');
  await Promise.all([page.waitForURL(/family=1/), page.click('#results a[href^="/book?clinic="] >> nth=0')]);
  assert.equal(await page.isChecked('input[name=who][value=family]'), true);
  await page.check('input[name=hour]:not([disabled]) >> nth=0');
  await page.fill('#family-name', '김부모');
  await page.fill('#family-rrn', '680301-2000002');
  await page.fill('#family-phone', '010-2000-0004');
  await h.checkPage(t, assert, page, 'book-family');
  // The mother's consent: a code to her phone (shown on the page by the demo server), which
  // she tells her child, who types it in.
  await page.click('#book button[type=submit]');
  await page.waitForSelector('#family-code:not([hidden])');
  assert.equal(await page.inputValue('#family-rrn'), '', 'the number is not kept in the page once sent');
  const demo = await page.textContent('#family-demo-code');
  await page.fill('#family-code-input', demo.match(/\d{6}/)[0]);
  await h.checkPage(t, assert, page, 'book-family-consent');
  await Promise.all([page.waitForURL(/\/bookings\?booked=\d+/), page.click('#book button[type=submit]')]);
  assert.match(await page.textContent('#bookings li.card'), /가족/);
  assert.ok(!(await page.content()).includes('680301-2000002'), 'the number typed is not shown back');
  await context.close();
});

test('the English switch changes every page and is remembered', async (t) => {
  const context = await browser.newContext({ locale: 'ko-KR', viewport: h.DESKTOP });
  const page = await context.newPage();
  await page.goto(server.base + '/');
  assert.equal(await page.getAttribute('html', 'lang'), 'ko');
  await Promise.all([page.waitForURL(/lang=en/), page.click('header nav a[hreflang=en]')]);
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.match(await page.textContent('h1'), /Book your COVID-19 vaccination/);
  await h.checkPage(t, assert, page, 'home-en');
  await page.click('text=Start booking');
  await page.waitForSelector('text=It is your turn');
  assert.equal(await page.getAttribute('html', 'lang'), 'en', 'remembered without ?lang');
  await page.click('text=Continue to booking');
  assert.match(await page.textContent('label[for=rrn]'), /Resident registration number/);
  await Promise.all([page.waitForURL(/lang=ko/), page.click('header nav a[hreflang=ko]')]);
  assert.equal(await page.getAttribute('html', 'lang'), 'ko');
  assert.match(await page.textContent('label[for=rrn]'), /주민등록번호/);
  await context.close();
});
