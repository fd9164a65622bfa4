#!/usr/bin/env node
// permessage-deflate with a real browser: Debian's Chromium (which offers it by default)
// against `ws_echo --deflate on`, driven by playwright-core.
//
// Usage: node chromium_deflate.js PORT
//
// A page opens ws://127.0.0.1:PORT/ and the checks run inside it: the connection's
// negotiated extensions (WebSocket.extensions) must name permessage-deflate, so every
// message below went compressed (Chromium compresses all it sends once negotiated);
// text and binary messages from 0 bytes to 16 MiB, compressible and random, must come
// back as sent. Prints one line per check and a closing "chromium: N passed, N failed"
// line; exits 1 on any failure; always closes the browser.
'use strict';

const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const MiB = 1024 * 1024;

// Runs in the page: opens the socket and reports what it negotiated.
async function openSocket(url) {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  window.__ws = ws;
  window.__inbox = [];
  window.__waiters = [];
  ws.onmessage = (e) => {
    const w = window.__waiters.shift();
    if (w) w(e.data); else window.__inbox.push(e.data);
  };
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error('WebSocket error before open'));
    ws.onclose = (e) => reject(new Error(`closed before open (${e.code})`));
  });
  ws.onclose = (e) => { window.__closed = e.code; };
  return ws.extensions;
}

// Runs in the page: sends one message built there and compares the echo.
async function echoInPage([kind, size, random]) {
  const next = () => (window.__inbox.length ? Promise.resolve(window.__inbox.shift())
    : new Promise((resolve) => window.__waiters.push(resolve)));
  let sent;
  if (kind === 'text') {
    // Sizes count UTF-16 units: above 4 MiB only ASCII, so the UTF-8 stays within the 16 MiB
    // limit; no astral characters, which a cut could split into a lone surrogate.
    const words = size > 4 * 1024 * 1024 ? ['sluice ', 'deflate ', 'window ']
      : ['sluice ', 'deflate ', 'window ', 'é✓ ', '日本 '];
    let s = '';
    let x = size + 1;
    while (s.length < size) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      s += random ? String.fromCharCode(0x20 + (x >>> 16) % 0x5f) : words[(x >>> 16) % words.length];
    }
    sent = s.slice(0, size);
  } else {
    sent = new Uint8Array(size);
    if (random) {
      for (let i = 0; i < size; i += 65536) crypto.getRandomValues(sent.subarray(i, Math.min(size, i + 65536)));
    } else {
      for (let i = 0; i < size; i++) sent[i] = (i * 7) % 251 < 128 ? 0 : i & 0xff;
    }
  }
  window.__ws.send(sent);
  const got = await next();
  if (kind === 'text') {
    if (typeof got !== 'string') return `a text message came back as ${typeof got}`;
    if (got !== sent) return `text echo differs: sent ${sent.length} chars, got ${got.length}`;
  } else {
    if (!(got instanceof ArrayBuffer)) return `a binary message came back as ${typeof got}`;
    const g = new Uint8Array(got);
    if (g.length !== sent.length) return `binary echo differs: sent ${sent.length} bytes, got ${g.length}`;
    for (let i = 0; i < g.length; i++) if (g[i] !== sent[i]) return `binary echo differs at byte ${i}`;
  }
  return '';
}

async function main() {
  const port = process.argv[2];
  if (!/^\d+$/.test(port || '')) {
    console.error('usage: node chromium_deflate.js PORT');
    return 2;
  }
  let passed = 0;
  let failed = 0;
  const result = (ok, name, why) => {
    if (ok) { passed++; console.log(`ok    ${name}`); } else { failed++; console.log(`FAIL  ${name}: ${why}`); }
  };
  let browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 30000 });
    console.log(`      ${CHROMIUM}: Chromium ${browser.version()}`);
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(120000);
    const ext = await page.evaluate(openSocket, `ws://127.0.0.1:${port}/`);
    console.log(`      WebSocket.extensions: ${JSON.stringify(ext)}`);
    result(typeof ext === 'string' && ext.startsWith('permessage-deflate'), 'permessage-deflate negotiated',
      `the connection runs ${JSON.stringify(ext)}`);
    const cases = [];
    for (const kind of ['text', 'binary']) {
      for (const size of [0, 1, 125, 4096, 65536, MiB, 16 * MiB]) cases.push([kind, size, false]);
      for (const size of [1000, MiB, 16 * MiB]) cases.push([kind, size, true]);
    }
    for (const c of cases) {
      const name = `${c[0]} of ${c[1]} bytes, ${c[2] ? 'random' : 'compressible'}, echoed`;
      const t = Date.now();
      const why = await page.evaluate(echoInPage, c).catch((e) => e.message.split('\n')[0]);
      result(why === '', `${name} (${((Date.now() - t) / 1000).toFixed(2)} s)`, why);
    }
    const closed = await page.evaluate(() => window.__closed);
    result(closed === undefined, 'the connection stayed open', `closed with ${closed}`);
  } catch (e) {
    failed++;
    console.log(`FAIL  ${(e && e.message) || e}`);
  } finally {
    if (browser) await browser.close().catch((e) => console.log(`      closing the browser: ${e.message}`));
  }
  console.log(`chromium: ${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.error(e); process.exit(1); });
