#!/usr/bin/python3
"""Rooms and backpressure of the chat example, driven by python3-websockets.

    flood.py PORT SERVER_PID [MEGABYTES]

In room "flood": two healthy readers, a flooder that sends MEGABYTES (default 200) of
numbered text messages into the room (and reads its own copies back: the chat sends to
everyone, the sender included), and a stalled client that completes its handshake and then
never reads a byte. In room "quiet": one reader, which must get nothing.

The flooder keeps at most WINDOW messages ahead of the slowest healthy reader, so the
healthy ones are never the slow ones; the stalled one falls behind at once. Checks:
  - every healthy reader (and the flooder) gets every message, whole and in order;
  - the quiet room gets nothing;
  - the server lets the stalled client go (its socket reaches EOF or a reset);
  - the server's resident memory grows by less than 8 MiB over the whole run (peak VmRSS
    sampled every 20 ms, and VmHWM, against the RSS with everyone connected).
Prints one line per check and exits non-zero if any failed.
"""
import asyncio
import base64
import os
import socket
import sys
import time

import websockets

PORT = int(sys.argv[1])
PID = int(sys.argv[2])
MEGABYTES = int(sys.argv[3]) if len(sys.argv) > 3 else 200
MSG = 60000  # bytes per message, under the chat's 64 KiB message limit
COUNT = MEGABYTES * 1024 * 1024 // MSG
WINDOW = 8
LIMIT_KIB = 8 * 1024

failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures += 1


def status_kib(field):
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field + " not found")


def stalled_client(room):
    """Handshakes on a plain socket, reads the 101 head, then never reads again."""
    s = socket.create_connection(("127.0.0.1", PORT))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws/{room} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)  # byte by byte: nothing after the head may be consumed
        if not chunk:
            raise RuntimeError("stalled client: connection closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError("stalled client: " + head.decode(errors="replace"))
    return s


def message(seq):
    return f"{seq:08d}" + "x" * (MSG - 8)


async def reader(ws, name, got, progress):
    expected = 0
    async for m in ws:
        if len(m) != MSG or int(m[:8]) != expected:
            got[name] = f"message {expected}: got {len(m)} bytes starting {m[:8]!r}"
            return
        expected += 1
        progress[name] = expected
        if expected == COUNT:
            got[name] = "all"
            return
    got[name] = f"closed after {expected} messages ({ws.close_code})"


async def main():
    url = f"ws://127.0.0.1:{PORT}/ws/"
    opts = dict(max_size=1 << 20, compression=None, ping_interval=None)
    healthy = [await websockets.connect(url + "flood", **opts) for _ in range(2)]
    quiet = await websockets.connect(url + "quiet", **opts)
    flooder = await websockets.connect(url + "flood", **opts)
    stalled = stalled_client("flood")
    await asyncio.sleep(0.3)
    base = status_kib("VmRSS")
    peak = base
    names = ["healthy0", "healthy1", "flooder"]
    got, progress = {}, {n: 0 for n in names}
    tasks = [asyncio.create_task(reader(w, n, got, progress))
             for w, n in zip(healthy + [flooder], names)]
    done = False

    async def sample():
        nonlocal peak
        while not done:
            peak = max(peak, status_kib("VmRSS"))
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    start = time.monotonic()
    for seq in range(COUNT):
        while min(progress.values()) < seq - WINDOW and len(got) == 0:
            await asyncio.sleep(0)
        if got:
            break  # a reader failed: stop flooding
        await flooder.send(message(seq))
    await asyncio.wait(tasks, timeout=120)
    elapsed = time.monotonic() - start
    done = True
    await sampler
    hwm = status_kib("VmHWM")

    for n in names:
        check(got.get(n) == "all", f"{n} got all {COUNT} messages in order ({got.get(n)})")
    try:
        extra = await asyncio.wait_for(quiet.recv(), 0.3)
        check(False, f"quiet room got a message ({len(extra)} bytes)")
    except asyncio.TimeoutError:
        check(True, "quiet room got nothing")

    # The server must have let the stalled client go: EOF or a reset within 15 s (its
    # close_timeout is 5 s), whatever it had received by then.
    stalled.settimeout(15)
    ended, received = False, 0
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            b = stalled.recv(1 << 20)
            if not b:
                ended = True
                break
            received += len(b)
    except ConnectionResetError:
        ended = True
    except socket.timeout:
        pass
    check(ended, f"stalled client let go by the server (it had received {received} bytes)")

    growth = peak - base
    check(growth < LIMIT_KIB,
          f"server RSS growth {growth} KiB (peak VmRSS {peak}, base {base}, VmHWM {hwm} KiB) "
          f"< {LIMIT_KIB} KiB while {MEGABYTES} MB went through the room in {elapsed:.1f} s")
    for w in healthy + [quiet, flooder]:
        await w.close()


asyncio.run(main())
sys.exit(1 if failures else 0)
