// The identity path in a real browser: the check without any script (a plain form post), the
// page showing where notices go, and a family member's consent (their code typed in by the
// booker) in English, a wrong code first. Korean and English, with axe and screenshots.
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

// Into the booking side: the waiting page lets people straight through when there is room.
async function admitted(page, lang) {
  await page.goto(server.base + '/wait' + (lang === 'en' ? '?lang=en' : ''));
  await page.waitForSelector(lang === 'en' ? 'text=It is your turn' : 'text=입장 차례입니다');
}

// An identity check on the page, with the code the demo server shows.
async function signIn(page, lang, name, rrn, phone) {
  await page.goto(server.base + '/identity' + (lang === 'en' ? '?lang=en' : ''));
  await page.fill('#name', name);
  await page.fill('#rrn', rrn);
  await page.fill('#phone', phone);
  await page.click('#start button[type=submit]');
  await page.waitForSelector('#demo-code:not([hidden])');
  await page.fill('#code', (await page.textContent('#demo-code')).match(/\d{6}/)[0]);
  await Promise.all([page.waitForURL('**/eligibility'), page.click('#verify button[type=submit]')]);
}

// From the search page of Jongno-gu to the first clinic's booking page, for a family member.
async function familyBookingPage(page) {
  await page.goto(server.base + '/search?family=1&province=11&municipality=11010');
  await page.waitForSelector('#results a[href^="/book?clinic="]');
  await Promise.all([page.waitForURL(/family=1/), page.click('#results a[href^="/book?clinic="] >> nth=0')]);
  await page.check('input[name=hour]:not([disabled]) >> nth=0');
}

test('without scripts, the identity check posts its forms and never puts the number in a URL', async (t) => {
  const context = await browser.newContext({ locale: 'ko-KR', viewport: h.PHONE, javaScriptEnabled: false });
  const page = await context.newPage();
  const urls = [];
  page.on('request', (r) => urls.push(r.url()));
  // The waiting page refreshes itself without a script; once admitted it links on.
  await page.goto(server.base + '/wait');
  await page.waitForSelector('text=입장 차례입니다', { timeout: 30_000 });
  await Promise.all([page.waitForURL('**/identity'), page.click('text=본인인증 하기')]);
  assert.equal(await page.getAttribute('#start', 'method'), 'post');
  // A name with a direction-changing character is refused on the page, nothing sent on.
  await page.fill('#name', '이\u202E영희');
  await page.fill('#rrn', '670412-2000003');
  await page.fill('#phone', '010-2000-0002');
  await page.click('#start button[type=submit]');
  assert.match(await page.textContent('#error'), /글자 방향/);
  await page.fill('#name', '이영희');
  await page.fill('#rrn', '670412-2000003');
  await page.fill('#phone', '010-2000-0002');
  await page.click('#start button[type=submit]');
  await page.waitForSelector('#demo-code:not([hidden])');
  // (axe needs scripts in the page: this page is checked with them on, in the other tests.)
  await h.screenshots(page, 'identity-noscript-code');
  const code = (await page.textContent('#demo-code')).match(/\d{6}/)[0];
  await page.fill('#code', code);
  await Promise.all([page.waitForURL('**/eligibility'), page.click('#verify button[type=submit]')]);
  for (const url of urls) {
    assert.ok(!/670412|rrn=|phone=|name=/.test(url), `personal data in a URL: ${url}`);
  }
  // A link that carries a registration number is refused outright.
  const refused = await page.goto(server.base + '/identity?rrn=670412-2000003');
  assert.equal(refused.status(), 400);
  await context.close();
});

test('a person sees where their notices go, in Korean and in English', async (t) => {
  const context = await browser.newContext({ locale: 'ko-KR', viewport: h.PHONE });
  const page = await context.newPage();
  await admitted(page, 'ko');
  await signIn(page, 'ko', '박철수', '671120-1000011', '010-2000-0006');
  await page.goto(server.base + '/bookings');
  await Promise.all([page.waitForURL('**/contact'), page.click('a[href="/contact"]')]);
  assert.match(await page.textContent('h1'), /안내 문자 받는 곳/);
  assert.equal((await page.textContent('#contact-phone')).trim(), '010-****-0006');
  assert.equal((await page.textContent('#contact-name')).trim(), '박*수');
  assert.ok(!(await page.content()).includes('2000-0006'), 'the full number is not shown');
  await h.checkPage(t, assert, page, 'contact');
  await page.goto(server.base + '/contact?lang=en');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.match(await page.textContent('h1'), /Where your notices go/);
  assert.match(await page.textContent('#change-h'), /To change the number/);
  await h.checkPage(t, assert, page, 'contact-en');
  await Promise.all([page.waitForURL('**/identity'), page.click('text=Verify with the new phone')]);
  await context.close();
});

test('a family member is booked only with their consent code, in English', async (t) => {
  const context = await browser.newContext({ locale: 'en-GB', viewport: h.DESKTOP });
  const page = await context.newPage();
  await admitted(page, 'en');
  await signIn(page, 'en', '김자녀', '700505-2000001', '010-2000-0003');
  await familyBookingPage(page);
  // Another person's phone: the answer looks the same, but no code they could tell us arrives.
  await page.fill('#family-name', '최수진');
  await page.fill('#family-rrn', '681010-2000012');
  await page.fill('#family-phone', '010-2000-0004');
  await page.click('#book button[type=submit]');
  await page.waitForSelector('#family-code:not([hidden])');
  const decoy = (await page.textContent('#family-demo-code')).match(/\d{6}/)[0];
  await page.fill('#family-code-input', decoy);
  await page.click('#book button[type=submit]');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /Wrong code/);
  await h.checkPage(t, assert, page, 'book-family-wrong-code-en');
  assert.match(page.url(), /\/book\?/, 'nothing was booked');
  await context.close();

  // Her own phone: the code reaches her, she reads it out, the booking is made.
  const again = await browser.newContext({ locale: 'en-GB', viewport: h.PHONE });
  const second = await again.newPage();
  await admitted(second, 'en');
  await signIn(second, 'en', '김자녀', '700505-2000001', '010-2000-0003');
  await familyBookingPage(second);
  await second.fill('#family-name', '최수진');
  await second.fill('#family-rrn', '681010-2000012');
  await second.fill('#family-phone', '010-2000-0007');
  await second.click('#book button[type=submit]');
  await second.waitForSelector('#family-code:not([hidden])');
  assert.match(await second.textContent('#family-code'), /texted a code to their phone/);
  await h.checkPage(t, assert, second, 'book-family-consent-en');
  await second.fill('#family-code-input', (await second.textContent('#family-demo-code')).match(/\d{6}/)[0]);
  await Promise.all([second.waitForURL(/\/bookings\?booked=\d+/), second.click('#book button[type=submit]')]);
  assert.match(await second.textContent('#bookings li.card'), /family/i);
  await again.close();
});
