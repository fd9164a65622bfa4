#!/usr/bin/python3
"""Conformance checks of a sluice WebSocket echo server with a real client.

Usage: /usr/bin/python3 python_client.py PORT [--deflate on|off]

Drives examples/ws_echo (ws://127.0.0.1:PORT/) with the `websockets` asyncio
client (Debian's python3-websockets, written for its 10.x API) and checks that
every message comes back as sent, that pings are answered, that an oversized
message closes the connection with 1009 and that a client's close is echoed.
Every check opens its own connection and is bounded by a timeout. Prints one
line per check and a closing "python: N passed, N failed" line; exits 1 if any
check failed.

The client offers permessage-deflate (the websockets default); --deflate says
whether the server must accept it (ws_echo --deflate on) or decline it (the
default), and a first check asserts exactly that, so the other checks are known
to have run compressed (or not).
"""

import asyncio
import os
import random
import sys
import time
import traceback

import websockets

MiB = 1024 * 1024
SERVER_LIMIT = 16 * MiB  # ws_echo echoes messages up to this size; above it: close 1009
CONNECT_TIMEOUT = 5
RECV_TIMEOUT = 10


class CheckFailed(Exception):
    pass


def check(cond, message):
    if not cond:
        raise CheckFailed(message)


def describe(data):
    """A short description of a message for assertion messages."""
    kind = "text" if isinstance(data, str) else "binary" if isinstance(data, bytes) else type(data).__name__
    size = len(data) if isinstance(data, (str, bytes)) else "?"
    head = repr(data[:40]) if isinstance(data, (str, bytes)) else repr(data)
    return f"{kind} message of length {size} starting {head}"


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def check_echo(sent, got, what):
    check(type(got) is type(sent),
          f"{what}: sent a {describe(sent)} but received a {describe(got)} "
          f"(text must come back as text, binary as binary)")
    if got != sent:
        i = first_difference(sent, got)
        raise CheckFailed(
            f"{what}: echo differs from what was sent: sent length {len(sent)}, got length {len(got)}, "
            f"first difference at index {i}: sent {sent[i:i + 16]!r}, got {got[i:i + 16]!r}")


class Client:
    def __init__(self, port):
        self.url = f"ws://127.0.0.1:{port}/"

    def connect(self, **kw):
        # No keepalive pings of our own (they would interleave with the checks);
        # accept messages as large as the server is allowed to echo.
        kw.setdefault("max_size", SERVER_LIMIT + MiB)
        kw.setdefault("ping_interval", None)
        kw.setdefault("close_timeout", 5)
        kw.setdefault("open_timeout", CONNECT_TIMEOUT)
        return websockets.connect(self.url, **kw)


async def recv(ws, what, timeout=RECV_TIMEOUT):
    try:
        return await asyncio.wait_for(ws.recv(), timeout)
    except asyncio.TimeoutError:
        raise CheckFailed(f"{what}: no message received within {timeout} s")
    except websockets.ConnectionClosed as e:
        raise CheckFailed(f"{what}: connection closed while waiting for the echo: {e!r}")


async def roundtrip(ws, message, what, timeout=RECV_TIMEOUT):
    await asyncio.wait_for(ws.send(message), timeout)
    got = await recv(ws, what, timeout)
    check_echo(message, got, what)


async def close_normally(ws):
    await asyncio.wait_for(ws.close(1000), 10)


# ---------------------------------------------------------------- the checks


async def check_text(c):
    async with c.connect() as ws:
        for msg in ["hello", "Hello, sluice!",
                    "héllo wörld — ✓ Ελληνικά Русский 日本語 한국어 العربية 🎉🦀",
                    "\u0000 nul \u007f del \u0080 \u07ff \u0800 \uffff \U00010000 \U0010ffff"]:
            await roundtrip(ws, msg, f"text round-trip of {msg[:20]!r}")
        await close_normally(ws)


async def check_binary(c):
    async with c.connect() as ws:
        every_byte = bytes(range(256))
        await roundtrip(ws, every_byte, "binary round-trip of bytes 0..255")
        await roundtrip(ws, every_byte[::-1], "binary round-trip of bytes 255..0")
        await roundtrip(ws, b"\xff\xfe invalid utf-8 \xc3\x28", "binary message that is not UTF-8")
        await close_normally(ws)


async def check_empty(c):
    async with c.connect() as ws:
        await roundtrip(ws, "", "empty text message")
        await roundtrip(ws, b"", "empty binary message")
        await roundtrip(ws, "after empty", "text message after the empty ones")
        await close_normally(ws)


async def check_fragmented(c):
    async with c.connect() as ws:
        # An iterable of fragments: one frame each (FIN only on a last, empty one).
        # The echo must be one message equal to their concatenation.
        frags = ["frag", "mented ", "téxt ✓"]
        await asyncio.wait_for(ws.send(frags), RECV_TIMEOUT)
        got = await recv(ws, "fragmented text message")
        check_echo("".join(frags), got, "fragmented text message echoed as one message")

        bfrags = [bytes([i]) * (i + 1) for i in range(0, 256, 17)]
        await asyncio.wait_for(ws.send(bfrags), RECV_TIMEOUT)
        got = await recv(ws, "fragmented binary message")
        check_echo(b"".join(bfrags), got, "fragmented binary message echoed as one message")

        # An async iterator of fragments, with a ping between two of them:
        # control frames may be interleaved with the fragments of a message.
        pong_waiters = []

        async def fragments():
            yield b"first,"
            pong_waiters.append(await ws.ping(b"between fragments"))
            await asyncio.sleep(0.05)
            yield b"second,"
            await asyncio.sleep(0.05)
            yield b"third"

        await asyncio.wait_for(ws.send(fragments()), RECV_TIMEOUT)
        got = await recv(ws, "fragmented binary message with a ping between fragments")
        check_echo(b"first,second,third", got,
                   "fragmented binary message with a ping between fragments")
        try:
            await asyncio.wait_for(pong_waiters[0], RECV_TIMEOUT)
        except asyncio.TimeoutError:
            raise CheckFailed("no pong for a ping sent between the fragments of a message")
        await close_normally(ws)


async def check_large(c):
    async with c.connect() as ws:
        for size in (1 * MiB, 8 * MiB):
            data = os.urandom(size)
            t = time.monotonic()
            await roundtrip(ws, data, f"{size // MiB} MiB binary message", timeout=60)
            print(f"      {size // MiB} MiB binary echoed in {time.monotonic() - t:.2f} s", flush=True)
        rng = random.Random(6455)
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 é✓日🎉"
        text = "".join(rng.choice(alphabet) for _ in range(300_000))
        text = text.encode("utf-8")[:MiB].decode("utf-8", "ignore")
        text += "x" * (MiB - len(text.encode("utf-8")))
        check(len(text.encode("utf-8")) == MiB, "test bug: text is not 1 MiB")
        await roundtrip(ws, text, "1 MiB text message with multi-byte characters", timeout=60)
        await close_normally(ws)


async def check_limit_exact(c):
    async with c.connect() as ws:
        data = os.urandom(SERVER_LIMIT)
        await roundtrip(ws, data, "binary message of exactly 16 MiB (the limit)", timeout=90)
        await close_normally(ws)


async def check_many(c):
    count = 1000
    async with c.connect() as ws:
        sent = []
        for i in range(count):
            msg = f"message #{i} ✓" if i % 2 == 0 else f"binary #{i}".encode() + bytes([i % 256])
            sent.append(msg)
        # Pipelined: everything is sent before anything is read.
        for msg in sent:
            await asyncio.wait_for(ws.send(msg), RECV_TIMEOUT)
        for i, msg in enumerate(sent):
            got = await recv(ws, f"message {i} of {count} pipelined messages")
            check_echo(msg, got, f"pipelined message {i} of {count} (echoes must come back in order)")
        await close_normally(ws)


async def check_ping(c):
    async with c.connect() as ws:
        for payload in (b"sluice ping \x00\x01\xfe\xff", b"", bytes(range(125))):
            waiter = await ws.ping(payload)
            try:
                await asyncio.wait_for(waiter, RECV_TIMEOUT)
            except asyncio.TimeoutError:
                raise CheckFailed(
                    f"no pong carrying the ping's payload ({len(payload)} bytes: {payload[:16]!r}) "
                    f"within {RECV_TIMEOUT} s")
        # A ping between messages must not disturb them.
        await ws.send("before ping")
        waiter = await ws.ping(b"in the middle")
        await ws.send("after ping")
        check_echo("before ping", await recv(ws, "message sent before a ping"), "message sent before a ping")
        check_echo("after ping", await recv(ws, "message sent after a ping"), "message sent after a ping")
        try:
            await asyncio.wait_for(waiter, RECV_TIMEOUT)
        except asyncio.TimeoutError:
            raise CheckFailed("no pong for a ping sent between two messages")
        await close_normally(ws)


async def expect_close_1009(ws, what):
    # The server may close while we are still sending: that is fine.
    try:
        await asyncio.wait_for(ws.wait_closed(), 30)
    except asyncio.TimeoutError:
        raise CheckFailed(f"{what}: connection still open 30 s after sending it (expected a close with 1009)")
    rcvd = ws.close_rcvd
    check(rcvd is not None,
          f"{what}: the connection ended without a close frame from the server "
          f"(close code {ws.close_code}, expected a close frame with 1009 Message Too Big)")
    check(rcvd.code == 1009,
          f"{what}: the server closed with code {rcvd.code} {rcvd.reason!r}, expected 1009 (Message Too Big)")


async def check_too_big(c):
    async with c.connect() as ws:
        size = SERVER_LIMIT + 1
        try:
            await asyncio.wait_for(ws.send(os.urandom(size)), 60)
        except websockets.ConnectionClosed:
            pass
        except asyncio.TimeoutError:
            raise CheckFailed("sending a 16 MiB + 1 byte message did not finish within 60 s "
                              "(and the server did not close the connection)")
        try:
            got = await asyncio.wait_for(ws.recv(), 30)
            raise CheckFailed(f"a 16 MiB + 1 byte message was answered with a {describe(got)} "
                              f"instead of a close with 1009")
        except (websockets.ConnectionClosed, asyncio.TimeoutError):
            pass
        await expect_close_1009(ws, "16 MiB + 1 byte binary message")


async def check_too_big_fragmented(c):
    async with c.connect() as ws:
        # Every frame is small; only the whole message is over the limit.
        frag = os.urandom(MiB)
        fragments = [frag] * 16 + [b"!"]
        try:
            await asyncio.wait_for(ws.send(fragments), 60)
        except websockets.ConnectionClosed:
            pass
        except asyncio.TimeoutError:
            raise CheckFailed("sending a 16 MiB + 1 byte fragmented message did not finish within 60 s")
        try:
            got = await asyncio.wait_for(ws.recv(), 30)
            raise CheckFailed(f"a 16 MiB + 1 byte message sent in 1 MiB fragments was answered with a "
                              f"{describe(got)} instead of a close with 1009")
        except (websockets.ConnectionClosed, asyncio.TimeoutError):
            pass
        await expect_close_1009(ws, "16 MiB + 1 byte message sent in 1 MiB fragments")


async def check_close(c, code, reason):
    async with c.connect() as ws:
        await roundtrip(ws, "before close", f"message before a close with {code}")
        try:
            await asyncio.wait_for(ws.close(code, reason), 15)
        except asyncio.TimeoutError:
            raise CheckFailed(f"closing with {code} did not finish within 15 s")
        check(ws.closed, f"close({code}) returned but the connection is not closed (state {ws.state})")
        rcvd = ws.close_rcvd
        check(rcvd is not None,
              f"after sending a close with {code} {reason!r}, no close frame came back "
              f"(close_code {ws.close_code})")
        check(rcvd.code == code,
              f"sent a close with {code} {reason!r}, the server answered with {rcvd.code} {rcvd.reason!r}")
        check(ws.close_code == code, f"close_code is {ws.close_code}, expected {code}")
        if rcvd.reason != reason:
            print(f"      note: close reason came back as {rcvd.reason!r} (sent {reason!r})", flush=True)


async def check_negotiated(c, want_deflate):
    async with c.connect() as ws:
        header = ws.response_headers.get("Sec-WebSocket-Extensions")
        names = [type(e).__name__ for e in ws.extensions]
        print(f"      Sec-WebSocket-Extensions: {header!r}; extensions in use: {names}", flush=True)
        if want_deflate:
            check(header is not None and header.startswith("permessage-deflate"),
                  f"the server did not accept permessage-deflate (response header {header!r})")
            check(len(ws.extensions) == 1, f"the client runs no extension ({names})")
            await roundtrip(ws, "compressed " * 100, "a compressible text message")
        else:
            check(header is None, f"the server accepted an extension it should not: {header!r}")
        await close_normally(ws)


CHECKS = [
    ("text round-trip (ASCII and non-ASCII UTF-8)", check_text, 30),
    ("binary round-trip (all 256 byte values)", check_binary, 30),
    ("empty text and binary messages", check_empty, 30),
    ("fragmented messages echoed as one message", check_fragmented, 30),
    ("large messages (1 MiB, 8 MiB binary; 1 MiB text)", check_large, 180),
    ("message of exactly 16 MiB", check_limit_exact, 120),
    ("1000 pipelined messages in order", check_many, 60),
    ("ping with payload answered by a pong", check_ping, 30),
    ("message over 16 MiB closes with 1009", check_too_big, 120),
    ("fragmented message over 16 MiB closes with 1009", check_too_big_fragmented, 120),
    ("close 1000 echoed", lambda c: check_close(c, 1000, ""), 30),
    ("close 4000 with a reason echoed", lambda c: check_close(c, 4000, "bye from python ✓"), 30),
]


async def main(port, want_deflate):
    c = Client(port)
    passed = failed = 0
    negotiated = ("permessage-deflate " + ("accepted" if want_deflate else "declined"),
                  lambda c: check_negotiated(c, want_deflate), 30)
    for name, fn, limit in [negotiated] + CHECKS:
        t = time.monotonic()
        try:
            await asyncio.wait_for(fn(c), limit)
        except CheckFailed as e:
            failed += 1
            print(f"FAIL  {name}: {e}", flush=True)
        except asyncio.TimeoutError:
            failed += 1
            print(f"FAIL  {name}: did not finish within {limit} s", flush=True)
        except Exception as e:  # connection refused, handshake rejected, protocol error, ...
            failed += 1
            print(f"FAIL  {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(limit=3, file=sys.stdout)
        else:
            passed += 1
            print(f"ok    {name} ({time.monotonic() - t:.2f} s)", flush=True)
    print(f"python: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    ok = len(args) in (1, 3) and args[0].isdigit()
    if len(args) == 3:
        ok = ok and args[1] == "--deflate" and args[2] in ("on", "off")
    if not ok:
        print("usage: python_client.py PORT [--deflate on|off]", file=sys.stderr)
        sys.exit(2)
    deflate = len(args) == 3 and args[2] == "on"
    print(f"python websockets {websockets.__version__} against ws://127.0.0.1:{args[0]}/"
          f"{' (permessage-deflate expected)' if deflate else ''}", flush=True)
    sys.exit(asyncio.run(main(int(args[0]), deflate)))
