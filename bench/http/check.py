#!/usr/bin/env python3
"""Correctness check for one plaintext server, run by bench/http/run.sh before and after
it is measured: 16 requests pipelined in one write must give exactly 16 valid responses,
in order; requests split across writes (inside the request line and inside the final
CRLFCRLF, and one and a half requests in one write) must each give one, and so must 1000
requests sent in one write; no response may come back beyond these. A valid response
is 200 OK, Server present, a Date within 2 s of now, Content-Type: text/plain,
Content-Length: 13 and the body "Hello, World!".

    python3 bench/http/check.py PORT        exits 1 with the reason on the first failure
"""
import email.utils
import socket
import sys
import time

port = int(sys.argv[1])
req = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: check\r\n\r\n"


def fail(why):
    print(f"check.py port {port}: {why}")
    sys.exit(1)


def read_responses(sock, want, buf=b""):
    """Reads exactly `want` responses; returns the bytes left over."""
    got = 0
    while got < want:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            lines = buf[:head_end].decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
            length = int(headers.get("content-length", "-1"))
            if length < 0:
                fail(f"response {got + 1} has no Content-Length: {lines}")
            if len(buf) >= head_end + 4 + length:
                body = buf[head_end + 4 : head_end + 4 + length]
                check(got + 1, lines[0], headers, body)
                buf = buf[head_end + 4 + length :]
                got += 1
                continue
        try:
            data = sock.recv(65536)
        except socket.timeout:
            fail(f"timed out after {got} of {want} responses")
        if not data:
            fail(f"connection closed after {got} of {want} responses")
        buf += data
    return buf


def check(n, status, headers, body):
    if status != "HTTP/1.1 200 OK":
        fail(f"response {n}: status line {status!r}")
    if body != b"Hello, World!":
        fail(f"response {n}: body {body!r}")
    if headers.get("content-type") != "text/plain" or "server" not in headers:
        fail(f"response {n}: headers {headers}")
    try:
        date = email.utils.parsedate_to_datetime(headers.get("date", "")).timestamp()
    except (TypeError, ValueError):
        fail(f"response {n}: Date {headers.get('date')!r}")
    if abs(date - int(time.time())) > 2:
        fail(f"response {n}: Date {headers['date']!r} is not now")


def expect_silence(sock, rest):
    sock.settimeout(0.15)
    try:
        rest += sock.recv(65536)
    except socket.timeout:
        pass
    if rest:
        fail(f"more responses than requests: {rest[:80]!r}")


with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(req * 16)
    rest = read_responses(s, 16)
    # Split requests: inside the request line, inside the final CRLFCRLF, one and a half
    # requests in one write; then 1000 in one write, which cross the servers' read buffers.
    # Leftover bytes carry over, so a surplus response anywhere fails the silence check.
    for pieces in ([req[:9], req[9:-1], req[-1:]], [req + req[:30], req[30:]], [req * 1000]):
        for p in pieces:
            s.sendall(p)
            time.sleep(0.01)
        rest = read_responses(s, len(b"".join(pieces)) // len(req), rest)
    expect_silence(s, rest)
print(f"check.py port {port}: pipelined x16, x1000 and split requests answered correctly")
