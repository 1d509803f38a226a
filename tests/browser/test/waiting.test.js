// The waiting page with people ahead (a server that lets one person book at a time): the place
// survives reloads and a second tab, and the page says so.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

let server;
let browser;

before(async () => {
  // One person at a time, and a waiting page that refreshes itself seldom: near the front a
  // queued page refreshes every second (the Refresh header follows the poll interval), which
  // would navigate away under the accessibility check. An admission rate of one a second
  // makes the front zone one place and a poll budget of two a second puts the places behind
  // it on long intervals; the place across reloads and tabs is what this file tests.
  server = await h.startServer(['--max-active', '1', '--admission-rate', '1', '--poll-budget', '2']);
  browser = await h.launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

async function figures(page) {
  return {
    number: Number(await page.textContent('#number')),
    ahead: Number((await page.textContent('#ahead')).replace(/\D/g, '')),
    progress: Number(await page.getAttribute('#progress', 'value')),
  };
}

test('the waiting page keeps the same place across reloads and tabs', async (t) => {
  // Fifteen people arrive first; with room for one, the browser waits behind them.
  for (let i = 0; i < 15; i++) {
    const r = await fetch(server.base + '/api/v1/queue/arrive', { method: 'POST' });
    assert.equal(r.status, 201);
  }
  const context = await browser.newContext({ locale: 'ko-KR', viewport: h.PHONE });
  const page = await context.newPage();
  await page.goto(server.base + '/wait');
  assert.match(await page.textContent('h1'), /대기 중입니다/);
  const first = await figures(page);
  assert.ok(first.ahead > 0, `people ahead: ${JSON.stringify(first)}`);
  assert.match(await page.textContent('main'), /새로고침하거나 다시 접속해도 순서는 그대로/);
  await h.checkPage(t, assert, page, 'wait-queued');

  await page.reload();
  const again = await figures(page);
  assert.equal(again.number, first.number, 'the same place after a reload');
  assert.ok(again.ahead <= first.ahead, 'never a worse place');

  const tab = await context.newPage();
  await tab.goto(server.base + '/wait');
  assert.equal((await figures(tab)).number, first.number, 'the same place in a new tab');

  // A direct link to the booking pages leads back here.
  await page.goto(server.base + '/search');
  assert.match(page.url(), /\/wait$/);
  assert.equal((await figures(page)).number, first.number);
  await context.close();
});
