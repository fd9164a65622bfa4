#!/usr/bin/env node
// Conformance checks of a sluice WebSocket echo server with a real client.
//
// Usage: node node_client.js PORT [--deflate off|takeover|server-nct|client-nct] [--tls-ca FILE]
//
// Drives examples/ws_echo (ws://127.0.0.1:PORT/) with the `ws` package and
// checks that every message comes back as sent (text as text, binary as
// binary), that pings are answered with their payload, that an oversized
// message closes the connection with 1009 and that a client's close is echoed.
// Every check opens its own connection and is bounded by a timeout. Prints one
// line per check and a closing "node: N passed, N failed" line; exits 1 if any
// check failed.
//
// --deflate: off (the default) offers nothing and checks that the server accepts
// nothing; the other modes offer permessage-deflate (compressing every message,
// threshold 0) with context takeover, or asking for server_no_context_takeover,
// or announcing client_no_context_takeover, and a first check asserts from the
// 101 response that the server accepted exactly that.
//
// --tls-ca FILE: wss://127.0.0.1:PORT/ (ws_echo --tls-cert/--tls-key), trusting exactly the
// CA in FILE (the `ca` option replaces node's own store), with a first check that the same
// server is refused when that CA is not given.
'use strict';

const crypto = require('crypto');
const WebSocket = require('ws');

const MiB = 1024 * 1024;
const SERVER_LIMIT = 16 * MiB; // ws_echo echoes messages up to this size; above it: close 1009
const RECV_TIMEOUT = 10000;

class CheckFailed extends Error {}

function check(cond, message) {
  if (!cond) throw new CheckFailed(message);
}

function withTimeout(promise, ms, what) {
  let timer;
  promise.catch(() => {}); // a rejection after the timeout won is not an unhandled one
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new CheckFailed(`${what}: nothing within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function describe(m) {
  const head = m.isBinary ? m.data.subarray(0, 24).toString('hex') : JSON.stringify(m.data.toString('utf8').slice(0, 24));
  return `${m.isBinary ? 'binary' : 'text'} message of ${m.data.length} bytes starting ${head}`;
}

// One connection: received messages are queued; recv() takes them in order.
const DEFLATE_MODES = {
  off: false,
  takeover: { threshold: 0 },
  'server-nct': { threshold: 0, serverNoContextTakeover: true },
  'client-nct': { threshold: 0, clientNoContextTakeover: true },
};
let deflateMode = 'off';
let tlsCa = null; // the CA's PEM: wss:// instead of ws://

function serverUrl(port) {
  return `${tlsCa ? 'wss' : 'ws'}://127.0.0.1:${port}/`;
}

class Conn {
  constructor(port, options = {}) {
    this.ws = new WebSocket(serverUrl(port), {
      ...(tlsCa ? { ca: tlsCa } : {}),
      maxPayload: SERVER_LIMIT + MiB,
      handshakeTimeout: 5000,
      perMessageDeflate: DEFLATE_MODES[deflateMode],
      ...options,
    });
    this.upgradeHeaders = null;
    this.ws.once('upgrade', (res) => { this.upgradeHeaders = res.headers; });
    this.queue = [];
    this.waiters = [];
    this.pongs = [];
    this.pongWaiters = [];
    this.errors = [];
    this.closeInfo = null;
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('close', (code) => reject(new CheckFailed(`connection closed (${code}) before it opened`)));
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        resolve(this.closeInfo);
        for (const w of this.waiters.splice(0)) w.reject(new CheckFailed(
          `connection closed (code ${code} ${JSON.stringify(this.closeInfo.reason)}) while waiting for a message`));
      });
    });
    this.ws.on('error', (e) => this.errors.push(e));
    this.ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      const w = this.waiters.shift();
      if (w) w.resolve(m); else this.queue.push(m);
    });
    this.ws.on('pong', (data) => {
      this.pongs.push(Buffer.from(data));
      for (const w of this.pongWaiters.slice()) w();
    });
  }

  static async open(port, options) {
    const c = new Conn(port, options);
    await withTimeout(c.opened, 5000, 'opening the connection');
    return c;
  }

  recv(what, ms = RECV_TIMEOUT) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closeInfo) {
      return Promise.reject(new CheckFailed(`${what}: connection already closed (code ${this.closeInfo.code})`));
    }
    let waiter;
    const p = new Promise((resolve, reject) => { waiter = { resolve, reject }; this.waiters.push(waiter); });
    return withTimeout(p, ms, `${what}: waiting for the echo`).catch((e) => {
      const i = this.waiters.indexOf(waiter);
      if (i >= 0) this.waiters.splice(i, 1);
      if (e instanceof CheckFailed && !e.message.startsWith(what)) e.message = `${what}: ${e.message}`;
      throw e;
    });
  }

  // Resolves when the data is written; a failed write is recorded in this.errors
  // (the checks look at what comes back, and a closed connection shows there).
  send(data, opts = {}) {
    return new Promise((resolve) => this.ws.send(data, opts, (err) => {
      if (err) this.errors.push(err);
      resolve();
    }));
  }

  // Resolves when a pong carrying exactly `payload` arrives.
  waitPong(payload, what, ms = RECV_TIMEOUT) {
    const p = new Promise((resolve) => {
      const test = () => {
        const i = this.pongs.findIndex((b) => b.equals(payload));
        if (i < 0) return;
        this.pongs.splice(i, 1);
        this.pongWaiters.splice(this.pongWaiters.indexOf(test), 1);
        resolve();
      };
      this.pongWaiters.push(test);
      test();
    });
    return withTimeout(p, ms, `${what} (pongs received: ${this.pongs.map((b) => b.toString('hex')).join(', ') || 'none'})`);
  }

  async close(code = 1000, reason = '') {
    this.ws.close(code, reason);
    return withTimeout(this.closed, 10000, `closing with ${code}`);
  }

  destroy() {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
  }
}

function checkEcho(sent, got, what) {
  const sentBuf = Buffer.isBuffer(sent.data) ? sent.data : Buffer.from(sent.data, 'utf8');
  check(got.isBinary === sent.isBinary,
    `${what}: sent a ${sent.isBinary ? 'binary' : 'text'} message but received a ${describe(got)} ` +
    '(text must come back as text, binary as binary)');
  if (!got.data.equals(sentBuf)) {
    let i = 0;
    while (i < sentBuf.length && i < got.data.length && sentBuf[i] === got.data[i]) i++;
    throw new CheckFailed(
      `${what}: echo differs: sent ${sentBuf.length} bytes, got ${got.data.length}, first difference at byte ${i}: ` +
      `sent ${sentBuf.subarray(i, i + 16).toString('hex')}, got ${got.data.subarray(i, i + 16).toString('hex')}`);
  }
}

const text = (s) => ({ data: s, isBinary: false });
const binary = (b) => ({ data: b, isBinary: true });

async function roundtrip(c, msg, what, ms = RECV_TIMEOUT) {
  c.send(msg.data, { binary: msg.isBinary });
  checkEcho(msg, await c.recv(what, ms), what);
}

// ------------------------------------------------------------------ the checks

async function checkText(c) {
  for (const s of ['hello', 'Hello, sluice!',
    'héllo wörld — ✓ Ελληνικά Русский 日本語 한국어 العربية 🎉🦀',
    '\u0000 nul \u007f del \u0080 \u07ff \u0800 \uffff \u{10000} \u{10ffff}']) {
    await roundtrip(c, text(s), `text round-trip of ${JSON.stringify(s.slice(0, 20))}`);
  }
}

async function checkBinary(c) {
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  await roundtrip(c, binary(every), 'binary round-trip of bytes 0..255');
  await roundtrip(c, binary(Buffer.from(every).reverse()), 'binary round-trip of bytes 255..0');
  await roundtrip(c, binary(Buffer.from([0xff, 0xfe, 0xc3, 0x28])), 'binary message that is not UTF-8');
}

async function checkEmpty(c) {
  await roundtrip(c, text(''), 'empty text message');
  await roundtrip(c, binary(Buffer.alloc(0)), 'empty binary message');
  await roundtrip(c, text('after empty'), 'text message after the empty ones');
}

async function checkFragmented(c) {
  // Text in three frames: the echo must be one message, their concatenation.
  c.send('frag', { binary: false, fin: false });
  c.send('mented ', { binary: false, fin: false });
  c.send('téxt ✓', { binary: false, fin: true });
  checkEcho(text('fragmented téxt ✓'), await c.recv('fragmented text message'),
    'fragmented text message echoed as one message');

  // A fragment boundary inside a UTF-8 sequence is valid: only the whole message must be UTF-8.
  const check_mark = Buffer.from('✓', 'utf8'); // e2 9c 93
  c.send(Buffer.concat([Buffer.from('split '), check_mark.subarray(0, 2)]), { binary: false, fin: false });
  c.send(Buffer.concat([check_mark.subarray(2), Buffer.from(' code point')]), { binary: false, fin: true });
  checkEcho(text('split ✓ code point'), await c.recv('text message split inside a code point'),
    'text message whose fragments split a UTF-8 code point');

  // Binary in many frames.
  const frags = [];
  for (let i = 0; i < 256; i += 17) frags.push(Buffer.alloc(i + 1, i));
  frags.forEach((f, i) => c.send(f, { binary: true, fin: i === frags.length - 1 }));
  checkEcho(binary(Buffer.concat(frags)), await c.recv('fragmented binary message'),
    'fragmented binary message echoed as one message');

  // A ping between two fragments: control frames may be interleaved.
  const payload = Buffer.from('between fragments');
  c.send(Buffer.from('first,'), { binary: true, fin: false });
  await sleep(50);
  c.ws.ping(payload);
  await sleep(50);
  c.send(Buffer.from('second,'), { binary: true, fin: false });
  c.send(Buffer.from('third'), { binary: true, fin: true });
  checkEcho(binary(Buffer.from('first,second,third')), await c.recv('fragmented message with a ping inside'),
    'fragmented binary message with a ping between fragments');
  await c.waitPong(payload, 'no pong for a ping sent between the fragments of a message');
}

async function checkLarge(c) {
  for (const size of [1 * MiB, 8 * MiB]) {
    const t = Date.now();
    await roundtrip(c, binary(crypto.randomBytes(size)), `${size / MiB} MiB binary message`, 60000);
    console.log(`      ${size / MiB} MiB binary echoed in ${((Date.now() - t) / 1000).toFixed(2)} s`);
  }
  const alphabet = [...'abcdefghijklmnopqrstuvwxyz0123456789 é✓日🎉'];
  let s = '';
  let bytes = 0;
  for (let i = 0; bytes < MiB - 4; i++) {
    const ch = alphabet[(i * 7919 + (i >> 3)) % alphabet.length];
    const n = Buffer.byteLength(ch);
    if (bytes + n > MiB) break;
    s += ch;
    bytes += n;
  }
  s += 'x'.repeat(MiB - bytes);
  check(Buffer.byteLength(s) === MiB, 'test bug: text is not 1 MiB');
  await roundtrip(c, text(s), '1 MiB text message with multi-byte characters', 60000);
}

async function checkLimitExact(c) {
  await roundtrip(c, binary(crypto.randomBytes(SERVER_LIMIT)), 'binary message of exactly 16 MiB (the limit)', 90000);
}

async function checkMany(c) {
  const count = 1000;
  const sent = [];
  for (let i = 0; i < count; i++) {
    sent.push(i % 2 === 0 ? text(`message #${i} ✓`) : binary(Buffer.concat([Buffer.from(`binary #${i}`), Buffer.from([i % 256])])));
  }
  // Pipelined: everything is sent before anything is read.
  for (const m of sent) c.send(m.data, { binary: m.isBinary });
  for (let i = 0; i < count; i++) {
    checkEcho(sent[i], await c.recv(`message ${i} of ${count} pipelined messages`),
      `pipelined message ${i} of ${count} (echoes must come back in order)`);
  }
}

async function checkPing(c) {
  for (const payload of [Buffer.from('sluice ping \x00\x01'), Buffer.alloc(0),
    Buffer.from(Array.from({ length: 125 }, (_, i) => i))]) {
    c.ws.ping(payload);
    await c.waitPong(payload, `no pong carrying the ping's payload (${payload.length} bytes)`);
  }
  // A ping between messages must not disturb them.
  const payload = Buffer.from('in the middle');
  c.send('before ping');
  c.ws.ping(payload);
  c.send('after ping');
  checkEcho(text('before ping'), await c.recv('message sent before a ping'), 'message sent before a ping');
  checkEcho(text('after ping'), await c.recv('message sent after a ping'), 'message sent after a ping');
  await c.waitPong(payload, 'no pong for a ping sent between two messages');
}

async function expectClose1009(c, what) {
  const info = await withTimeout(c.closed, 30000, `${what}: expected the server to close with 1009`);
  check(info.code !== 1006,
    `${what}: the connection ended without a close frame from the server (1006; errors: ` +
    `${c.errors.map((e) => e.code || e.message).join(', ') || 'none'}), expected a close with 1009`);
  check(info.code === 1009, `${what}: the server closed with ${info.code} ${JSON.stringify(info.reason)}, expected 1009 (Message Too Big)`);
  check(c.queue.length === 0, `${what}: got a ${describe(c.queue[0] || { data: Buffer.alloc(0) })} before the close`);
}

async function checkTooBig(c) {
  c.send(crypto.randomBytes(SERVER_LIMIT + 1), { binary: true });
  await expectClose1009(c, '16 MiB + 1 byte binary message');
}

async function checkTooBigFragmented(c) {
  // Every frame is small; only the whole message is over the limit.
  const frag = crypto.randomBytes(MiB);
  for (let i = 0; i < 16; i++) c.send(frag, { binary: true, fin: false });
  c.send(Buffer.from('!'), { binary: true, fin: true });
  await expectClose1009(c, '16 MiB + 1 byte message sent in 1 MiB fragments');
}

async function checkClose(c, code, reason) {
  await roundtrip(c, text('before close'), `message before a close with ${code}`);
  const info = await c.close(code, reason);
  check(info.code !== 1006, `after sending a close with ${code}, the connection ended without a close frame back (1006)`);
  check(info.code === code, `sent a close with ${code} ${JSON.stringify(reason)}, the server answered with ${info.code} ${JSON.stringify(info.reason)}`);
  if (info.reason !== reason) console.log(`      note: close reason came back as ${JSON.stringify(info.reason)} (sent ${JSON.stringify(reason)})`);
}

async function checkNegotiated(c) {
  const header = (c.upgradeHeaders || {})['sec-websocket-extensions'];
  console.log(`      Sec-WebSocket-Extensions: ${JSON.stringify(header)}; ws.extensions ${JSON.stringify(c.ws.extensions)}`);
  if (deflateMode === 'off') {
    check(header === undefined, `the server accepted an extension nobody offered: ${header}`);
    return;
  }
  check(typeof header === 'string' && header.startsWith('permessage-deflate'),
    `the server did not accept permessage-deflate (response header ${JSON.stringify(header)})`);
  check(c.ws.extensions === 'permessage-deflate', `ws runs ${JSON.stringify(c.ws.extensions)}, not permessage-deflate`);
  if (deflateMode === 'server-nct') {
    check(header.includes('server_no_context_takeover'), `server_no_context_takeover was asked for, not confirmed: ${header}`);
  }
  if (deflateMode === 'client-nct') {
    check(header.includes('client_no_context_takeover'), `client_no_context_takeover was announced, not echoed: ${header}`);
  }
  if (deflateMode === 'takeover') {
    check(!header.includes('no_context_takeover'), `context takeover was expected: ${header}`);
  }
  // Fragmented and compressed (RSV1 on the first frame only), then similar messages that
  // context takeover shrinks.
  const part = 'compressible fragment ✓ '.repeat(200);
  c.send(part, { binary: false, fin: false, compress: true });
  c.send(part, { binary: false, fin: false, compress: true });
  c.send(part, { binary: false, fin: true, compress: true });
  checkEcho(text(part + part + part), await c.recv('fragmented compressed message'), 'fragmented compressed message');
  for (let i = 0; i < 20; i++) await roundtrip(c, text(`${part} #${i}`), `similar compressed message ${i}`);
}

// Without the test CA, node's own store does not know the server's certificate.
async function checkUntrusted(port) {
  const ws = new WebSocket(serverUrl(port), { handshakeTimeout: 5000 });
  const outcome = await new Promise((resolve) => {
    ws.once('open', () => resolve(null));
    ws.once('error', (e) => resolve(e));
  });
  ws.terminate();
  check(outcome !== null, 'the connection opened without the test CA');
  check(/CERT|VERIFY|SIGNATURE|ISSUER/.test(outcome.code || ''),
    `refused, but not for the certificate: ${outcome.code}: ${outcome.message}`);
}

const CHECKS = [
  ['negotiated extensions', checkNegotiated, 30],
  ['text round-trip (ASCII and non-ASCII UTF-8)', checkText, 30],
  ['binary round-trip (all 256 byte values)', checkBinary, 30],
  ['empty text and binary messages', checkEmpty, 30],
  ['fragmented messages echoed as one message', checkFragmented, 30],
  ['large messages (1 MiB, 8 MiB binary; 1 MiB text)', checkLarge, 180],
  ['message of exactly 16 MiB', checkLimitExact, 120],
  ['1000 pipelined messages in order', checkMany, 60],
  ['ping with payload answered by a pong', checkPing, 30],
  ['message over 16 MiB closes with 1009', checkTooBig, 120],
  ['fragmented message over 16 MiB closes with 1009', checkTooBigFragmented, 120],
  ['close 1000 echoed', (c) => checkClose(c, 1000, ''), 30, true],
  ['close 4000 with a reason echoed', (c) => checkClose(c, 4000, 'bye from node ✓'), 30, true],
];

// Checks that do not close themselves end with a normal close, which must be echoed too.
async function runCheck(port, fn, closes) {
  const c = await Conn.open(port);
  try {
    await fn(c);
    if (!closes && !c.closeInfo) {
      const info = await c.close(1000);
      check(info.code === 1000, `the closing 1000 was answered with ${info.code}`);
    }
  } finally {
    c.destroy();
  }
}

async function main() {
  const port = process.argv[2];
  const args = process.argv.slice(3);
  let usable = /^\d+$/.test(port || '');
  for (let i = 0; usable && i < args.length; i += 2) {
    if (args[i] === '--deflate' && args[i + 1] in DEFLATE_MODES) deflateMode = args[i + 1];
    else if (args[i] === '--tls-ca' && args[i + 1]) tlsCa = require('fs').readFileSync(args[i + 1]);
    else usable = false;
  }
  if (!usable) {
    console.error('usage: node node_client.js PORT [--deflate off|takeover|server-nct|client-nct] [--tls-ca FILE]');
    return 2;
  }
  console.log(`node ${process.version}, ws ${require('ws/package.json').version} against ${serverUrl(port)}` +
    `, permessage-deflate: ${deflateMode}`);
  let passed = 0;
  let failed = 0;
  if (tlsCa) {
    try {
      await withTimeout(checkUntrusted(port), 30000, 'whole check');
      passed++;
      console.log('ok    refused without the test CA');
    } catch (e) {
      failed++;
      console.log(`FAIL  refused without the test CA: ${e.message}`);
    }
  }
  for (const [name, fn, limit, closes] of CHECKS) {
    const t = Date.now();
    try {
      await withTimeout(runCheck(port, fn, closes), limit * 1000, 'whole check');
      passed++;
      console.log(`ok    ${name} (${((Date.now() - t) / 1000).toFixed(2)} s)`);
    } catch (e) {
      failed++;
      const why = e instanceof CheckFailed ? e.message
        : e && e.code ? `${e.code}: ${e.message}` // connection refused, reset, handshake rejected...
          : (e && e.stack) || e;
      console.log(`FAIL  ${name}: ${why}`);
    }
  }
  console.log(`node: ${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.error(e); process.exit(1); });
