// Shared by the browser tests: start the real yeyak binary on a free port with a fresh demo
// world, drive Debian's Chromium, check accessibility with axe-core, take screenshots.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const REPO = path.resolve(__dirname, '..', '..', '..');
const BIN = process.env.YEYAK_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(REPO, 'target'), 'debug', 'yeyak');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, '..', 'artifacts');
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Starts `yeyak serve --demo` and waits for /healthz. Returns {base, token, stop()}.
async function startServer(extraArgs = []) {
  if (!fs.existsSync(BIN)) throw new Error(`no yeyak binary at ${BIN}: run cargo build -p yeyak`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yeyak-browser-'));
  const port = await freePort();
  const child = spawn(BIN, ['serve', '--demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: Object.assign({}, process.env, { YEYAK_LOG: 'warn' }),
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`yeyak exited (${child.exitCode}): ${stderr}`);
    try {
      const r = await fetch(base + '/healthz');
      if (r.ok) break;
    } catch (e) { /* not up yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`yeyak did not start: ${stderr}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  const token = fs.readFileSync(path.join(dataDir, 'operator.token'), 'utf8').trim();
  return {
    base,
    token,
    dataDir,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => { child.once('exit', r); setTimeout(r, 5000); });
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// Chromium must start: a test that cannot run the browser fails, it is never skipped.
async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM} (apt-get install -y chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// Runs axe-core in the page (through the DevTools protocol, so the page's strict CSP stays on)
// and returns the serious and critical violations against WCAG 2.1 A and AA.
async function seriousViolations(page) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

// Screenshots the page at phone and desktop sizes into artifacts/NAME-{phone,desktop}.png.
async function screenshots(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const before = page.viewportSize();
  for (const [label, size] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    await page.setViewportSize(size);
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${label}.png`), fullPage: true });
  }
  if (before) await page.setViewportSize(before);
}

// Controls a finger must hit that are smaller than 44×44 CSS pixels on a phone (links inside
// running text are exempt, as WCAG 2.5.5 allows; a radio or checkbox counts by its label).
async function smallTargets(page) {
  return page.evaluate(() => {
    const controls = document.querySelectorAll(
      'button, .button, nav a, .choice, select, input:not([type=radio]):not([type=checkbox]):not([type=hidden])');
    const small = [];
    for (const el of controls) {
      const box = el.getBoundingClientRect();
      if (box.width === 0 && box.height === 0) continue; // not shown
      if (box.height < 44 || box.width < 44) small.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className}: ${Math.round(box.width)}×${Math.round(box.height)}`);
    }
    return small;
  });
}

// Each main page: no serious accessibility violation, touch targets of at least 44 px at phone
// size, and a screenshot at both sizes.
async function checkPage(t, assert, page, name) {
  const violations = await seriousViolations(page);
  assert.deepStrictEqual(violations, [], `${name}: ${JSON.stringify(violations, null, 1)}`);
  const before = page.viewportSize();
  await page.setViewportSize(PHONE);
  assert.deepStrictEqual(await smallTargets(page), [], `${name}: targets under 44 px`);
  if (before) await page.setViewportSize(before);
  await screenshots(page, name);
}

// Collects what the CSP refused (or any script error) so a test can require none.
function watchConsole(page) {
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  return problems;
}

module.exports = { startServer, launchBrowser, seriousViolations, screenshots, checkPage, watchConsole, PHONE, DESKTOP, ARTIFACTS };
