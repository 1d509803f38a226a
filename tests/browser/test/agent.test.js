// The agent desk in a real browser: an operator issues an agent token; the agent signs in,
// checks a person's ID and identifies them, books for them (dose 2 comes along), changes and
// cancels it, and the audit log names the agent and the person for each action.
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

async function issue(body) {
  const r = await fetch(server.base + '/api/v1/admin/staff', {
    method: 'POST',
    headers: { authorization: 'Bearer ' + server.token, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(r.status, 201);
  return r.json();
}

test('an agent identifies a person, books, changes and cancels for them, and every action is audited', { timeout: 600000 }, async (t) => {
  const agent = await issue({ role: 'agent', name: '상담원 박' });
  const clinics = await (await fetch(server.base + '/api/v1/clinics?municipality=11010')).json();
  const nurse = await issue({ role: 'clinic', clinic: clinics.clinics[0].id, name: '간호사 김' });

  const context = await browser.newContext({ locale: 'ko-KR', viewport: h.DESKTOP });
  const page = await context.newPage();
  await page.goto(server.base + '/agent');
  assert.match(page.url(), /\/agent\/login$/);
  await h.checkPage(t, assert, page, 'agent-login');

  // A clinic's token does not open the agent desk.
  await page.fill('#token', nurse.token);
  await page.click('form button[type=submit]');
  assert.match(await page.textContent('#error'), /직원 토큰이 맞지 않거나/);
  await page.fill('#token', agent.token);
  await Promise.all([page.waitForURL(/\/agent$/), page.click('form button[type=submit]')]);
  const problems = h.watchConsole(page); // after the refused sign-in's 401
  const staffCookie = (await context.cookies()).find((c) => c.name === 'yeyak_staff');
  assert.ok(staffCookie.httpOnly && staffCookie.sameSite === 'Strict');
  await h.checkPage(t, assert, page, 'agent-desk');

  // The ID check must be ticked before the person is identified.
  await page.fill('#name', '최상담');
  await page.fill('#rrn', '670412-2000003');
  await page.fill('#phone', '010-2222-3333');
  await page.click('#identify button[type=submit]');
  assert.equal(await page.isHidden('#person'), true, 'no person without the ID check');
  await page.check('#id-checked');
  await page.click('#identify button[type=submit]');
  await page.waitForSelector('#person:not([hidden])');
  assert.equal(await page.textContent('#person-birth'), '1967-04-12');
  assert.match(await page.textContent('#person-rrn'), /^670412-2\*+$/);
  await page.waitForSelector('#eligibility:not(:empty)');
  assert.match(await page.textContent('#eligibility'), /예약/);
  assert.match(await page.textContent('#bookings'), /예약 내역이 없습니다/);
  // The person token is in this tab's sessionStorage, nowhere the server would keep or log.
  assert.ok(!page.url().includes('token') && !page.url().includes('670412'));
  assert.equal((await context.cookies()).some((c) => c.value.includes('.') && c.name !== 'yeyak_staff'), false);
  assert.ok(await page.evaluate(() => JSON.parse(sessionStorage.getItem('yeyak_agent_person')).token));

  // Find a clinic near Jongno-gu (the page reloads; the person stays), choose it, then book.
  await Promise.all([page.waitForURL(/province=11/), page.selectOption('#province', '11')]);
  await Promise.all([page.waitForURL(/municipality=11010/), page.selectOption('#municipality', '11010')]);
  await page.waitForSelector('#person:not([hidden])');
  const chosen = page.locator('#clinics li.card:has(a.button)').first();
  const clinicName = (await chosen.locator('h4').textContent()).trim();
  await Promise.all([page.waitForURL(/clinic=\d+/), chosen.locator('a.button').click()]);
  await page.waitForSelector('#person:not([hidden])');
  await page.locator('#book input[name=hour]:not([disabled])').first().check();
  await page.click('#book-submit');
  await page.waitForSelector('#done:has-text("예약이 완료되었습니다")');
  const card = page.locator('#bookings li.card').first();
  assert.match(await card.textContent(), /1차 접종/);
  assert.match(await card.textContent(), /2차 접종/, 'dose 2 is booked with dose 1');
  assert.ok((await card.textContent()).includes(clinicName), await card.textContent());
  await h.checkPage(t, assert, page, 'agent-booked');

  // A second booking is refused (one booking a person), in the page's language.
  assert.deepEqual(problems.splice(0), [], 'no script error before the refusal');
  await page.locator('#book input[name=hour]:not([disabled])').first().check();
  await page.click('#book-submit');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /[가-힣]/);
  assert.equal(await page.locator('#bookings li.card').count(), 1);
  assert.deepEqual(problems.splice(0).map((p) => /status of 409/.test(p)), [true], 'only the refused booking');

  // Change it to another hour band: the same form, the same booking moved.
  const before = await card.locator('dd.dose1').textContent();
  await card.locator('button[data-change]').click();
  assert.match(await page.textContent('#change-note'), /예약 변경 중/);
  const later = page.locator('#book input[name=hour]:not([disabled])').last();
  const laterHour = Number(await later.getAttribute('value'));
  await later.check();
  await page.click('#book-submit');
  await page.waitForSelector('#done:has-text("예약이 변경되었습니다")');
  const after = await page.locator('#bookings li.card dd.dose1').first().textContent();
  assert.notEqual(after, before, 'the appointment moved');
  assert.ok(after.includes(String(laterHour).padStart(2, '0') + ':00–'), after);
  assert.equal(await page.isHidden('#change-note'), true, 'the form is back to booking');

  // Cancel it after saying yes.
  page.once('dialog', (d) => d.accept());
  await page.click('#bookings button[data-cancel]');
  await page.waitForSelector('#done:has-text("예약이 취소되었습니다")');
  assert.match(await page.textContent('#bookings li.card'), /취소됨/);

  // "Next person" clears the person from the page and the tab.
  await page.click('#next-person');
  assert.equal(await page.isHidden('#person'), true);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('yeyak_agent_person')), null);
  assert.equal(await page.inputValue('#rrn'), '');

  // The audit log has the agent's identify, book and cancel, each for that one person (effects
  // are written by the writer with their outcome "ok", in the same transaction), and what the
  // agent read about them.
  const audit = await (await fetch(server.base + '/api/v1/admin/audit', { headers: { authorization: 'Bearer ' + server.token } })).json();
  const mine = audit.audit.filter((line) => line.actor === 'agent:' + agent.id);
  const action = (re) => mine.find((line) => re.test(line.action) && /^(2\d\d|ok)$/.test(line.outcome));
  const identified = action(/identify/);
  const booked = action(/POST \/api\/v1\/agent\/bookings$/);
  const changed = action(/change/);
  const cancelled = action(/cancel/);
  assert.ok(identified && booked && changed && cancelled, JSON.stringify(mine, null, 1));
  assert.equal(changed.detail.person, identified.detail.person);
  assert.ok(Number.isInteger(identified.detail.person));
  assert.equal(booked.detail.person, identified.detail.person);
  assert.equal(cancelled.detail.person, identified.detail.person);
  assert.ok(mine.some((line) => line.action === 'GET /api/v1/agent/bookings'), 'reads are audited');
  assert.ok(!JSON.stringify(audit).includes('670412'), 'no registration number in the audit log');

  assert.deepEqual(problems, [], 'no script error and nothing refused by the CSP');
  await context.close();
});

test('the agent desk speaks English through the same switch', async () => {
  const agent = await issue({ role: 'agent', name: 'Agent Kim' });
  const context = await browser.newContext({ locale: 'ko-KR', viewport: h.PHONE });
  const page = await context.newPage();
  await page.goto(server.base + '/agent/login?lang=en');
  await page.fill('#token', agent.token);
  await Promise.all([page.waitForURL(/\/agent$/), page.click('form button[type=submit]')]);
  assert.match(await page.textContent('label[for=id-checked]'), /I have checked their ID/);
  assert.match(await page.textContent('h1'), /Book for someone/);
  // A refusal from the API is shown in English.
  await page.fill('#name', 'Kim');
  await page.fill('#rrn', '123');
  await page.fill('#phone', '010-2222-3333');
  await page.check('#id-checked');
  await page.click('#identify button[type=submit]');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /[A-Za-z]/);
  assert.doesNotMatch(await page.textContent('#error'), /[가-힣]/);
  await context.close();
});

// The desk's search as a citizen's: clinics near a district, each with the places left on each
// of the next seven days as the API counts them; a day or band that is full is shown full and
// cannot be chosen, so an agent on the phone never books into it.
test('the agent desk searches near a place with places left per day', { timeout: 300000 }, async (t) => {
  const agent = await issue({ role: 'agent', name: '상담원 정' });
  const context = await browser.newContext({ locale: 'ko-KR', viewport: h.DESKTOP });
  const page = await context.newPage();
  const problems = h.watchConsole(page);
  await page.goto(server.base + '/agent/login');
  await page.fill('#token', agent.token);
  await Promise.all([page.waitForURL(/\/agent$/), page.click('form button[type=submit]')]);
  const identify = async (name, rrn) => {
    await page.fill('#name', name);
    await page.fill('#rrn', rrn);
    await page.fill('#phone', '010-2222-3333');
    await page.check('#id-checked');
    await page.click('#identify button[type=submit]');
    await page.waitForSelector('#person:not([hidden])');
  };
  await identify('한첫째', '670521-1000301');
  await Promise.all([page.waitForURL(/province=11/), page.selectOption('#province', '11')]);
  await Promise.all([page.waitForURL(/municipality=11010/), page.selectOption('#municipality', '11010')]);
  const product = await page.inputValue('#product');

  // The first clinic listed, nearest the middle of Jongno-gu; its seven days match the API's.
  const card = page.locator('#clinics li.card').first();
  const clinic = Number(await card.getAttribute('data-clinic'));
  const days = (await (await fetch(`${server.base}/api/v1/clinics?municipality=11010&product=${product}&days=7&limit=100`)).json())
    .clinics.find((c) => c.id === clinic).availability;
  const shown = await card.locator('ul.perday li strong').allTextContents();
  assert.deepEqual(shown, days.map((d) => (d.remaining[product] > 0 ? String(d.remaining[product]) : '마감')));
  assert.match(await card.textContent(), /km/, 'distance from the place');
  assert.ok(await page.locator('#clinics li.card').count() > 1);

  // The operator cuts the next two days the clinic is open after the first (no clinic opens on
  // Sundays, and some not on Saturdays, so which days those are depends on the day the test
  // runs) to nothing and to one dose: the list says so.
  const [[i2, day2], [i3, day3]] = days
    .map((d, i) => [i, d.date, d.remaining[product]])
    .filter(([i, , left]) => i > 0 && left > 0);
  for (const [day, doses] of [[day2, 0], [day3, 1]]) {
    const r = await fetch(server.base + '/api/v1/admin/deliveries', {
      method: 'PUT',
      headers: { authorization: 'Bearer ' + server.token, 'content-type': 'application/json' },
      body: JSON.stringify({ deliveries: [{ clinic, day, product, doses }] }),
    });
    assert.equal(r.status, 200);
  }
  await page.reload();
  await page.waitForSelector('#person:not([hidden])');
  const cut = await card.locator('ul.perday li strong').allTextContents();
  assert.deepEqual([cut[i2], cut[i3]], ['마감', '1']);
  assert.equal(await card.locator('ul.perday li').nth(i2).getAttribute('class'), 'off');
  await h.checkPage(t, assert, page, 'agent-search');

  // Choosing the clinic: the full day is not a link; day 3 has one place in each band.
  await Promise.all([page.waitForURL(/clinic=\d+/), card.locator('a.button').click()]);
  await page.waitForSelector('#person:not([hidden])');
  assert.equal(await page.locator(`#days a[href$="date=${day2}"]`).count(), 0, 'a full day cannot be chosen');
  await Promise.all([page.waitForURL(new RegExp('date=' + day3)), page.click(`#days a[href$="date=${day3}"]`)]);
  await page.waitForSelector('#person:not([hidden])');
  const open = page.locator('#book input[name=hour]:not([disabled])');
  assert.ok(await open.count() >= 1);
  assert.match(await open.first().locator('xpath=..').textContent(), /남은 자리 1/);
  await open.first().check();
  await page.click('#book-submit');
  await page.waitForSelector('#done:has-text("예약이 완료되었습니다")');

  // The next person sees day 3 full: every band shown full and none can be chosen.
  await page.click('#next-person');
  await identify('한둘째', '670522-1000302');
  await page.waitForFunction(() => document.querySelectorAll('#book input[name=hour]:not([disabled])').length === 0);
  const labels = await page.locator('#book .choices small').allTextContents();
  assert.ok(labels.length > 0 && labels.every((l) => l === '마감'), labels.join());
  assert.deepEqual(problems, []);
  await context.close();
});
