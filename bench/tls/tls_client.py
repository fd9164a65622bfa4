#!/usr/bin/env python3
"""The neutral TLS client of bench/tls/run.sh (Python's ssl module on OpenSSL, not sluice).

  tls_client.py check PORT    every answer of one server, over TLS, checked: the version and
                              cipher the script pins, no session resumption (the servers issue
                              no tickets, so the handshakes wrk makes are all full ones),
                              keep-alive, 16 pipelined requests in one write, and
                              "Connection: close" answered with a close. Prints "ok".
  tls_client.py idle PORT N   opens N TLS connections, each handshaken and served one verified
                              GET, prints "ready N" and holds them idle until a line arrives on
                              stdin; then one more verified GET on every one, "pinged N".

Exits 1 with the reason on stderr when anything differs.
"""
import socket
import ssl
import sys

VERSION = "TLSv1.3"
CIPHER = "TLS_AES_128_GCM_SHA256"
BODY = b"Hello, World!"
REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n"


def fail(why):
    sys.stderr.write(f"tls_client: {why}\n")
    sys.exit(1)


def context():
    # The servers present a self-signed certificate; what is checked here is the answer,
    # the version and the cipher, not the trust chain.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Conn:
    def __init__(self, ctx, port, session=None):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        # The handshake's last flight and the first request are two small writes: with
        # Nagle the request would wait for the server's delayed ACK (40 ms per connection).
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        self.buf = b""

    def response(self):
        """Reads one response; returns (status, lower-cased headers, body)."""
        while b"\r\n\r\n" not in self.buf:
            self.more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or parts[0] != "HTTP/1.1":
            fail(f"bad status line {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" not in headers:
            fail(f"no Content-Length in {head!r}")
        n = int(headers["content-length"])
        while len(self.buf) < n:
            self.more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(parts[1]), headers, body

    def more(self):
        data = self.s.recv(65536)
        if not data:
            fail(f"connection closed mid-response (have {self.buf!r})")
        self.buf += data

    def hello(self, what):
        status, _, body = self.response()
        if status != 200 or body != BODY:
            fail(f"{what}: status {status}, body {body!r}")

    def closed_by_server(self):
        try:
            return self.s.recv(1) == b""
        except (ssl.SSLEOFError, ConnectionResetError):
            return True  # closed without close_notify: still closed


def check(port):
    ctx = context()
    session = None
    for i in range(3):
        c = Conn(ctx, port, session)
        if c.s.version() != VERSION or c.s.cipher()[0] != CIPHER:
            fail(f"negotiated {c.s.version()} {c.s.cipher()[0]}, want {VERSION} {CIPHER}")
        if c.s.session_reused:
            fail(f"connection {i + 1} resumed the session: resumption must be off")
        for k in range(3):
            c.s.sendall(REQUEST)
            c.hello(f"keep-alive request {k + 1}")
        c.s.sendall(REQUEST * 16)
        for k in range(16):
            c.hello(f"pipelined request {k + 1} of 16")
        session = c.s.session  # offered back next time: the server must not take it
        c.s.close()
    c = Conn(ctx, port)
    c.s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    status, headers, body = c.response()
    if status != 200 or body != BODY or headers.get("connection", "").lower() != "close":
        fail(f"Connection: close got status {status}, body {body!r}, headers {headers}")
    if c.buf or not c.closed_by_server():
        fail("the server kept the connection open after Connection: close")
    c.s.close()
    print("ok")


def idle(port, n):
    ctx = context()
    conns = []
    for _ in range(n):
        c = Conn(ctx, port)
        c.s.sendall(REQUEST)
        c.hello("first request")
        conns.append(c)
    print(f"ready {n}", flush=True)
    sys.stdin.readline()
    for c in conns:
        c.s.sendall(REQUEST)
        c.hello("request after the idle wait")
    print(f"pinged {n}", flush=True)
    for c in conns:
        c.s.close()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "check":
        check(int(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "idle":
        idle(int(sys.argv[2]), int(sys.argv[3]))
    else:
        fail("usage: tls_client.py check PORT | idle PORT N")
