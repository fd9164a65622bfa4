#!/usr/bin/python3
"""A permessage-deflate "zip bomb" against ws_echo --deflate on, from a raw socket.

Usage: /usr/bin/python3 deflate_bomb.py PORT SERVER_PID [LIMIT_BYTES]

Negotiates permessage-deflate by hand (the response must accept it), then sends
one compressed binary message: 1 GiB of zeros, about 1 MB on the wire. The
server must inflate no further than its max message size (LIMIT_BYTES, 16 MiB
by default) and close with 1009; its peak RSS (VmHWM of SERVER_PID, best
measured on a fresh server) must grow by less than twice the limit plus 8 MiB
(the reassembly buffer is at most the limit; one doubling may briefly hold the
old copy too, and allocators or sanitizers keep some slack), where the whole
message would need 1 GiB; and it must still echo on a new connection.
Prints one line per check and "bomb: N passed, N failed"; exits 1 on failure.
"""

import base64
import os
import socket
import struct
import sys
import time
import zlib

MiB = 1024 * 1024


def vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def frame(op, payload, rsv1=False, fin=True):
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | op])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    mask = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big") if n else b""
    return head + key + masked


def handshake(port, offer="permessage-deflate"):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Extensions: {offer}\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise RuntimeError("connection closed during the handshake")
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    return s, head.decode("latin-1"), rest


def read_frame(s, buf):
    """(opcode, payload, rest) of the next server frame (unmasked)."""
    def need(k):
        nonlocal buf
        while len(buf) < k:
            d = s.recv(65536)
            if not d:
                raise RuntimeError("connection closed before a whole frame")
            buf += d
    need(2)
    op, n = buf[0] & 0x0F, buf[1] & 0x7F
    at = 2
    if n == 126:
        need(4)
        n, at = struct.unpack("!H", buf[2:4])[0], 4
    elif n == 127:
        need(10)
        n, at = struct.unpack("!Q", buf[2:10])[0], 10
    need(at + n)
    return op, buf[at:at + n], buf[at + n:]


def bomb_payload():
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    zeros = bytes(MiB)
    parts = [c.compress(zeros) for _ in range(1024)]  # 1 GiB
    parts.append(c.flush(zlib.Z_SYNC_FLUSH))
    data = b"".join(parts)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


def main():
    if len(sys.argv) not in (3, 4) or not sys.argv[1].isdigit() or not sys.argv[2].isdigit():
        print("usage: deflate_bomb.py PORT SERVER_PID [LIMIT_BYTES]", file=sys.stderr)
        return 2
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    limit = int(sys.argv[3]) if len(sys.argv) == 4 else 16 * MiB
    passed = failed = 0

    def result(ok, name, why=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok    {name}", flush=True)
        else:
            failed += 1
            print(f"FAIL  {name}: {why}", flush=True)

    payload = bomb_payload()
    print(f"      1 GiB of zeros compressed to {len(payload)} bytes", flush=True)
    hwm_before = vm_kib(pid, "VmHWM")
    s, head, rest = handshake(port)
    ext = [l for l in head.split("\r\n") if l.lower().startswith("sec-websocket-extensions:")]
    result(head.startswith("HTTP/1.1 101") and len(ext) == 1 and "permessage-deflate" in ext[0],
           "permessage-deflate accepted", f"response head {head!r}")
    t = time.monotonic()
    try:
        s.sendall(frame(0x2, payload, rsv1=True))
    except OSError as e:  # the server may close before the last byte: that is fine
        print(f"      send stopped: {e}", flush=True)
    code = None
    try:
        op, body, rest = read_frame(s, rest)
        while op != 0x8:
            op, body, rest = read_frame(s, rest)
        code = struct.unpack("!H", body[:2])[0] if len(body) >= 2 else None
    except (OSError, RuntimeError) as e:
        print(f"      reading the close: {e}", flush=True)
    s.close()
    result(code == 1009, "the bomb closes with 1009 (Message Too Big)", f"close code {code}")
    hwm_after = vm_kib(pid, "VmHWM")
    grew = (hwm_after - hwm_before) * 1024
    print(f"      server peak RSS {hwm_before // 1024} MiB -> {hwm_after // 1024} MiB "
          f"(+{grew / MiB:.1f} MiB, limit {limit / MiB:.0f} MiB) in {time.monotonic() - t:.2f} s",
          flush=True)
    result(grew < 2 * limit + 8 * MiB, "peak RSS grew by less than twice the limit + 8 MiB",
           f"grew by {grew / MiB:.1f} MiB")

    s, head, rest = handshake(port)
    s.sendall(frame(0x1, b"still alive"))
    op, body, _ = read_frame(s, rest)
    result(op == 0x1 and body == b"still alive", "the server still echoes afterwards",
           f"got opcode {op} {body[:40]!r}")
    s.close()
    print(f"bomb: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
