#!/usr/bin/env node
// The chat example in a real browser: Debian's Chromium driven by playwright-core.
//
// Usage: node chromium_chat.js PORT [--tls-cert FILE]
//
// Opens http://127.0.0.1:PORT/ in two pages (separate browser contexts, so two
// independent clients), waits until both show #status "connected", sends from
// page A with the input and the button and from page B with Enter, and checks
// that each message appears exactly once, in order, as an <li> of #log in both
// pages, and that the input is cleared after sending. Then page B leaves and
// page A must still get its own messages. Every wait is bounded. Prints one line
// per check and a closing "chromium: N passed, N failed" line; exits 1 on any
// failure; always closes the browser.
//
// --tls-cert FILE: the chat runs with --tls-cert FILE (https:// and wss://). Chromium then
// trusts exactly that certificate's key: the SHA-256 of its SubjectPublicKeyInfo, computed
// here with openssl, goes to --ignore-certificate-errors-spki-list (certificate errors are
// ignored for that key alone, not blanket). A first check loads the page in a browser
// without the pin and expects a certificate error; the pages' sockets must be wss://.
'use strict';

const { execFileSync } = require('child_process');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  // Without these the closed network makes Chromium misbehave.
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const STEP_TIMEOUT = 10000;
const HARD_LIMIT = 120000;

class CheckFailed extends Error {}

async function logOf(page) {
  return page.evaluate(() => {
    const log = document.getElementById('log');
    return log ? Array.from(log.querySelectorAll('li'), (li) => li.textContent) : null;
  });
}

async function stateOf(page) {
  try {
    return await page.evaluate(() => ({
      status: (document.getElementById('status') || {}).textContent,
      input: (document.getElementById('text') || {}).value,
      log: Array.from(document.querySelectorAll('#log li'), (li) => li.textContent),
    }));
  } catch (e) {
    return `(page not readable: ${e.message.split('\n')[0]})`;
  }
}

// Waits until every message of `messages` is in the page's #log.
async function waitForLog(page, name, messages) {
  try {
    await page.waitForFunction((want) => {
      const got = Array.from(document.querySelectorAll('#log li'), (li) => li.textContent);
      return want.every((m) => got.includes(m));
    }, messages, { timeout: STEP_TIMEOUT, polling: 50 });
  } catch (e) {
    throw new CheckFailed(`page ${name}: #log did not get ${JSON.stringify(messages)} within ` +
      `${STEP_TIMEOUT / 1000} s; it has ${JSON.stringify(await logOf(page).catch(() => '?'))}`);
  }
}

async function expectLogExactly(page, name, messages) {
  const got = await logOf(page);
  if (JSON.stringify(got) !== JSON.stringify(messages)) {
    throw new CheckFailed(`page ${name}: #log is ${JSON.stringify(got)}, expected exactly ${JSON.stringify(messages)} ` +
      '(each broadcast once, in the order sent)');
  }
}

async function expectInputCleared(page, name, how) {
  const value = await page.inputValue('#text');
  if (value !== '') throw new CheckFailed(`page ${name}: #text still holds ${JSON.stringify(value)} after sending with ${how}`);
}

// base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate, as Chromium's pin list wants it.
function spkiHash(certFile) {
  return execFileSync('bash', ['-c',
    'openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64',
    'spki', certFile]).toString().trim();
}

async function main() {
  const port = process.argv[2];
  const tlsCert = process.argv[3] === '--tls-cert' ? process.argv[4] : null;
  if (!/^\d+$/.test(port || '') || process.argv.length !== (tlsCert ? 5 : 3)) {
    console.error('usage: node chromium_chat.js PORT [--tls-cert FILE]');
    return 2;
  }
  const url = `${tlsCert ? 'https' : 'http'}://127.0.0.1:${port}/`;
  const args = [...ARGS];
  const sockets = [];
  if (tlsCert) {
    const pin = spkiHash(tlsCert);
    if (!/^[A-Za-z0-9+/]{43}=$/.test(pin)) {
      console.error(`chromium_chat.js: openssl gave no SPKI hash for ${tlsCert}: ${JSON.stringify(pin)}`);
      return 2;
    }
    args.push(`--ignore-certificate-errors-spki-list=${pin}`);
  }
  let browser = null;
  let passed = 0;
  let failed = 0;
  const pages = {};
  const diagnostics = [];

  const step = async (name, fn) => {
    const t = Date.now();
    try {
      await fn();
      passed++;
      console.log(`ok    ${name} (${((Date.now() - t) / 1000).toFixed(2)} s)`);
      return true;
    } catch (e) {
      failed++;
      console.log(`FAIL  ${name}: ${e instanceof CheckFailed ? e.message : (e && e.stack) || e}`);
      return false;
    }
  };

  const hardStop = setTimeout(() => {
    console.log(`FAIL  the whole run took more than ${HARD_LIMIT / 1000} s`);
    if (browser) browser.close().catch(() => {});
    setTimeout(() => process.exit(1), 5000).unref();
  }, HARD_LIMIT);

  try {
    if (tlsCert) {
      await step('without the pin, the test certificate is refused', async () => {
        const plain = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 30000 });
        try {
          const page = await (await plain.newContext()).newPage();
          let error = null;
          await page.goto(url, { timeout: STEP_TIMEOUT }).catch((e) => { error = e; });
          if (!error) throw new CheckFailed(`${url} loaded without the pin`);
          if (!/ERR_CERT/.test(error.message)) {
            throw new CheckFailed(`${url} failed, but not for the certificate: ${error.message.split('\n')[0]}`);
          }
        } finally {
          await plain.close().catch(() => {});
        }
      });
    }
    const launched = await step('launch Chromium', async () => {
      browser = await chromium.launch({ executablePath: CHROMIUM, args, headless: true, timeout: 30000 });
      console.log(`      ${CHROMIUM}: Chromium ${browser.version()}`);
    });
    if (!launched) return 1;

    const opened = await step('both pages load and show #status "connected"', async () => {
      for (const name of ['A', 'B']) {
        const context = await browser.newContext();
        const page = await context.newPage();
        page.setDefaultTimeout(STEP_TIMEOUT);
        page.on('console', (m) => diagnostics.push(`page ${name} console.${m.type()}: ${m.text()} (${m.location().url || '?'})`));
        page.on('response', (r) => { if (r.status() >= 400) diagnostics.push(`page ${name}: ${r.request().method()} ${r.url()} -> ${r.status()}`); });
        page.on('requestfailed', (r) => diagnostics.push(`page ${name}: ${r.method()} ${r.url()} failed: ${(r.failure() || {}).errorText}`));
        page.on('pageerror', (e) => diagnostics.push(`page ${name} error: ${e.message}`));
        page.on('websocket', (ws) => {
          diagnostics.push(`page ${name} websocket opened: ${ws.url()}`);
          sockets.push(ws.url());
          ws.on('close', () => diagnostics.push(`page ${name} websocket closed: ${ws.url()}`));
          ws.on('socketerror', (err) => diagnostics.push(`page ${name} websocket error: ${err}`));
        });
        pages[name] = page;
        const response = await page.goto(url, { timeout: STEP_TIMEOUT });
        if (!response || !response.ok()) {
          throw new CheckFailed(`page ${name}: GET ${url} answered ${response ? response.status() : 'nothing'}`);
        }
        const type = response.headers()['content-type'] || '';
        if (!type.startsWith('text/html')) diagnostics.push(`page ${name}: GET / has Content-Type ${JSON.stringify(type)}`);
        for (const id of ['status', 'text', 'send', 'log']) {
          if ((await page.locator(`#${id}`).count()) !== 1) {
            throw new CheckFailed(`page ${name}: the page has no element #${id} (the DOM contract needs #status, #text, #send, #log)`);
          }
        }
      }
      for (const name of ['A', 'B']) {
        try {
          await pages[name].waitForFunction(
            () => (document.getElementById('status').textContent || '').trim() === 'connected',
            null, { timeout: STEP_TIMEOUT, polling: 50 });
        } catch (e) {
          throw new CheckFailed(`page ${name}: #status is ${JSON.stringify(await pages[name].textContent('#status').catch(() => '?'))}` +
            `, not "connected", after ${STEP_TIMEOUT / 1000} s`);
        }
      }
    });
    if (!opened) return 1;

    if (tlsCert) {
      await step('both pages\' sockets are wss://', async () => {
        if (sockets.length !== 2 || !sockets.every((u) => u.startsWith(`wss://127.0.0.1:${port}/`))) {
          throw new CheckFailed(`the pages opened ${JSON.stringify(sockets)}`);
        }
      });
    }

    const a = pages.A;
    const b = pages.B;
    const fromA = 'hello from A';
    const fromB = 'hi from B';
    const unicode = 'grüße aus A ✓ 日本語 🎉';

    await step('A sends with the input and #send; both pages get it', async () => {
      await a.fill('#text', fromA);
      await a.click('#send');
      await expectInputCleared(a, 'A', 'the #send button');
      await waitForLog(a, 'A', [fromA]);
      await waitForLog(b, 'B', [fromA]);
    });

    await step('B sends with Enter; both pages get it', async () => {
      await b.fill('#text', fromB);
      await b.press('#text', 'Enter');
      await expectInputCleared(b, 'B', 'Enter');
      await waitForLog(a, 'A', [fromA, fromB]);
      await waitForLog(b, 'B', [fromA, fromB]);
    });

    await step('A sends non-ASCII text; both pages show it exactly', async () => {
      await a.fill('#text', unicode);
      await a.click('#send');
      await waitForLog(a, 'A', [unicode]);
      await waitForLog(b, 'B', [unicode]);
    });

    await step('each message is in each #log exactly once, in order', async () => {
      await new Promise((resolve) => setTimeout(resolve, 300)); // let any duplicate arrive
      await expectLogExactly(a, 'A', [fromA, fromB, unicode]);
      await expectLogExactly(b, 'B', [fromA, fromB, unicode]);
    });

    await step('after B leaves, A still gets its messages', async () => {
      await b.context().close();
      delete pages.B;
      await new Promise((resolve) => setTimeout(resolve, 300));
      const last = 'still here after B left';
      await a.fill('#text', last);
      await a.press('#text', 'Enter');
      await waitForLog(a, 'A', [last]);
      await expectLogExactly(a, 'A', [fromA, fromB, unicode, last]);
    });
  } finally {
    if (failed) {
      for (const [name, page] of Object.entries(pages)) {
        console.log(`      page ${name} state: ${JSON.stringify(await stateOf(page))}`);
      }
      for (const d of diagnostics) console.log(`      ${d}`);
    }
    if (browser) await browser.close().catch((e) => console.log(`      closing the browser: ${e.message}`));
    clearTimeout(hardStop);
    console.log(`chromium: ${passed} passed, ${failed} failed`);
  }
  return failed ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.error(e); process.exit(1); });
