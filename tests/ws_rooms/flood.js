// Rooms and backpressure of the chat example, driven by node's `ws` (the twin of flood.py,
// which explains the checks).
//   node flood.js PORT SERVER_PID [MEGABYTES]
'use strict';
const fs = require('fs');
const net = require('net');
const crypto = require('crypto');
const WebSocket = require('ws');

const port = Number(process.argv[2]);
const pid = Number(process.argv[3]);
const megabytes = Number(process.argv[4] || 200);
const MSG = 60000;
const COUNT = Math.floor((megabytes * 1024 * 1024) / MSG);
const WINDOW = 8;
const LIMIT_KIB = 8 * 1024;
let failures = 0;

function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures++;
}

function statusKib(field) {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(field + ':'));
  return Number(line.split(/\s+/)[1]);
}

function open(room) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/${room}`, { perMessageDeflate: false, maxPayload: 1 << 20 });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

// Handshakes on a plain socket and then never reads: paused right after the 101 head.
function stalled(room) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let head = Buffer.alloc(0);
    s.once('connect', () => {
      const key = crypto.randomBytes(16).toString('base64');
      s.write(`GET /ws/${room} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
              `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      if (head.indexOf('\r\n\r\n') < 0) return;
      s.pause(); // from here on, nothing is read
      s.removeListener('data', onData);
      if (!head.toString('latin1').startsWith('HTTP/1.1 101')) return reject(new Error('no 101'));
      resolve(s);
    };
    s.on('data', onData);
    s.once('error', reject);
  });
}

function message(seq) {
  return String(seq).padStart(8, '0') + 'x'.repeat(MSG - 8);
}

async function main() {
  const healthy = [await open('flood'), await open('flood')];
  const quiet = await open('quiet');
  const flooder = await open('flood');
  const stuck = await stalled('flood');
  await new Promise((r) => setTimeout(r, 300));
  const base = statusKib('VmRSS');
  let peak = base;
  const sampler = setInterval(() => { peak = Math.max(peak, statusKib('VmRSS')); }, 20);

  const names = ['healthy0', 'healthy1', 'flooder'];
  const progress = [0, 0, 0];
  const result = [null, null, null];
  let quietGot = 0;
  quiet.on('message', () => quietGot++);
  let wake = null;
  const finished = [healthy[0], healthy[1], flooder].map((ws, i) => new Promise((resolve) => {
    ws.on('message', (data) => {
      if (result[i]) return;
      const m = data.toString();
      if (m.length !== MSG || Number(m.slice(0, 8)) !== progress[i]) {
        result[i] = `message ${progress[i]}: got ${m.length} bytes starting ${m.slice(0, 8)}`;
        return resolve();
      }
      progress[i]++;
      if (wake) { const w = wake; wake = null; w(); }
      if (progress[i] === COUNT) { result[i] = 'all'; resolve(); }
    });
    ws.on('close', (code) => { if (!result[i]) result[i] = `closed after ${progress[i]} (${code})`; resolve(); });
  }));

  const start = Date.now();
  for (let seq = 0; seq < COUNT; seq++) {
    while (Math.min(...progress) < seq - WINDOW && !result.some((r) => r && r !== 'all')) {
      await new Promise((r) => { wake = r; });
    }
    if (result.some((r) => r && r !== 'all')) break;
    flooder.send(message(seq));
  }
  await Promise.race([Promise.all(finished), new Promise((r) => setTimeout(r, 120000))]);
  const elapsed = (Date.now() - start) / 1000;
  clearInterval(sampler);
  const hwm = statusKib('VmHWM');

  names.forEach((n, i) => check(result[i] === 'all', `${n} got all ${COUNT} messages in order (${result[i]})`));
  await new Promise((r) => setTimeout(r, 300));
  check(quietGot === 0, `quiet room got nothing (${quietGot})`);

  // The server lets the stalled client go: EOF or a reset within 20 s.
  let received = 0;
  const ended = await new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), 20000);
    stuck.on('data', (d) => { received += d.length; });
    stuck.once('end', () => { clearTimeout(t); resolve(true); });
    stuck.once('error', () => { clearTimeout(t); resolve(true); });
    stuck.resume();
  });
  check(ended, `stalled client let go by the server (it had received ${received} bytes)`);

  const growth = peak - base;
  check(growth < LIMIT_KIB, `server RSS growth ${growth} KiB (peak VmRSS ${peak}, base ${base}, VmHWM ${hwm} KiB) ` +
        `< ${LIMIT_KIB} KiB while ${megabytes} MB went through the room in ${elapsed.toFixed(1)} s`);
  for (const ws of [...healthy, quiet, flooder]) ws.terminate();
  stuck.destroy();
  process.exit(failures ? 1 : 0);
}

main().catch((e) => { console.log('FAIL ' + e.stack); process.exit(1); });
