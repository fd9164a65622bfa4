#!/usr/bin/env python3
"""HTTPS test clients for the balancer (loopback only, python3 ssl). One JSON line each.

    dist     --port P --ca F --n N [--fresh] [--sni NAME] [--send-xfp V]
             N GETs over HTTPS (one keep-alive connection, or a new TLS connection
             each with --fresh), the certificate verified against CA F for NAME
             (default localhost): answers per backend; every one must be 200 and say
             the backend saw X-Forwarded-Proto https and X-Forwarded-For 127.0.0.1.
    steady   --port P --ca F --seconds S --out F
             one keep-alive connection, a GET every 5 ms for S seconds; a line per result
             in F ("ok NAME" or "FAIL why"), flushed as it goes. Nothing is retried.
    slow     --port P --ca F --n N --ms M --out F
             N concurrent GET /slow?ms=M, each on its own TLS connection; F is written
             once all are sent; all must be answered 200.
    redirect --port RP --tls-port TP
             plain HTTP to --redirect-http: 301s and their Location, keep-alive across
             them (a body too), 400 without Host; a body over 1 MiB: 301 and close.
"""
import argparse
import http.client
import json
import socket
import ssl
import sys
import threading
import time

HOST = "127.0.0.1"


class Https(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 with `sni` as the name sent and verified."""

    def __init__(self, port, ca, sni, timeout=10.0):
        ctx = ssl.create_default_context(cafile=ca)
        ctx.set_alpn_protocols(["http/1.1"])
        super().__init__(HOST, port, timeout=timeout, context=ctx)
        self.sni = sni

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.sni)


def checked_get(conn, send_xfp=None, path="/", sent=None):
    """The name of the backend that answered; raises on anything unexpected. sent():
    called once the request went out."""
    headers = {"X-Forwarded-Proto": send_xfp} if send_xfp else {}
    conn.request("GET", path, headers=headers)
    if sent:
        sent()
    r = conn.getresponse()
    body = r.read().decode(errors="replace").strip()
    if r.status != 200:
        raise RuntimeError("status %d" % r.status)
    if r.getheader("X-Seen-XFP") != "https":
        raise RuntimeError("backend saw X-Forwarded-Proto %r" % r.getheader("X-Seen-XFP"))
    if r.getheader("X-Seen-XFF") != HOST:
        raise RuntimeError("backend saw X-Forwarded-For %r" % r.getheader("X-Seen-XFF"))
    if r.getheader("Connection", "").lower() == "close":
        raise RuntimeError("the balancer closed the keep-alive connection")
    return body


def cmd_dist(a):
    counts, failures, connections, conn = {}, 0, 0, None
    for _ in range(a.n):
        try:
            if conn is None:
                conn = Https(a.port, a.ca, a.sni)
                conn.connect()
                connections += 1
                counts["_alpn"] = conn.sock.selected_alpn_protocol()
            name = checked_get(conn, a.send_xfp)
            counts[name] = counts.get(name, 0) + 1
        except Exception as e:  # counted, and the first reason shown
            failures += 1
            counts.setdefault("_first_failure", repr(e))
            if conn is not None:
                conn.close()
            conn = None
        if a.fresh and conn is not None:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()
    counts["_failures"] = failures
    counts["_connections"] = connections
    print(json.dumps(counts, sort_keys=True))


def cmd_steady(a):
    conn = Https(a.port, a.ca, a.sni)
    end = time.monotonic() + a.seconds
    with open(a.out, "w") as out:
        while time.monotonic() < end:
            try:
                out.write("ok %s\n" % checked_get(conn))
            except Exception as e:
                out.write("FAIL %r\n" % e)
                conn.close()
                conn = Https(a.port, a.ca, a.sni)
            out.flush()
            time.sleep(0.005)
    conn.close()


def cmd_slow(a):
    answers, lock, sent = [], threading.Lock(), threading.Barrier(a.n + 1)

    def one():
        conn = Https(a.port, a.ca, a.sni, timeout=20)
        try:
            name = checked_get(conn, path="/slow?ms=%d" % a.ms, sent=sent.wait)
        except Exception as e:
            name = "FAIL %r" % e
        conn.close()
        with lock:
            answers.append(name)

    threads = [threading.Thread(target=one) for _ in range(a.n)]
    for t in threads:
        t.start()
    sent.wait(timeout=10)
    open(a.out, "w").write("sent\n")
    for t in threads:
        t.join()
    ok = sum(1 for x in answers if not x.startswith("FAIL"))
    print(json.dumps({"n": a.n, "ok": ok, "answers": sorted(answers)}))


def cmd_redirect(a):
    tp, checks = a.tls_port, {}

    def check(name, ok, detail):
        checks[name] = [bool(ok), detail]

    c = http.client.HTTPConnection(HOST, a.port, timeout=10)

    def ask(method, target, host, body=None):
        """(status, Location, local port of the connection it went on); (None, why,
        None) when the connection failed (then the next request opens a new one). The
        body goes in a send of its own, after the head."""
        try:
            c.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            if host is not None:
                c.putheader("Host", host)
            if body is not None:
                c.putheader("Content-Length", str(len(body)))
            c.endheaders()
            if body is not None:
                time.sleep(0.05)  # the server has the head alone first
                c.send(body)
            r = c.getresponse()
            r.read()
            return r.status, r.getheader("Location"), c.sock.getsockname()[1] if c.sock else None
        except (OSError, http.client.HTTPException) as e:
            c.close()
            return None, repr(e), None

    s, loc, p1 = ask("GET", "/a/b?x=1&y=%20z", "localhost:%d" % a.port)
    want = "https://localhost:%d/a/b?x=1&y=%%20z" % tp
    check("path_query_port_stripped", s == 301 and loc == want, [s, loc, want])
    s, loc, p2 = ask("GET", "/second", "example.test")
    want = "https://example.test:%d/second" % tp
    check("keepalive_second", s == 301 and loc == want and p2 == p1, [s, loc, want, p1, p2])
    s, loc, p3 = ask("POST", "/form?k=v", "[::1]:8080", b"x" * 1000)
    want = "https://[::1]:%d/form?k=v" % tp
    check("post_body_v6_host", s == 301 and loc == want and p3 == p1, [s, loc, want, p1, p3])
    s, loc, p4 = ask("HEAD", "/after-body", "localhost")
    want = "https://localhost:%d/after-body" % tp
    check("keepalive_after_body", s == 301 and loc == want and p4 == p1, [s, loc, want, p1, p4])
    s, loc, _ = ask("GET", "/no-host", None)
    check("no_host_400", s == 400 and loc is None, [s, loc])
    c.close()
    # A body past what the redirect reads (1 MiB): the 301 says it closes, and does.
    s = socket.create_connection((HOST, a.port), timeout=10)
    s.sendall(b"POST /big HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % (2 << 20)
              + b"x" * (2 << 20))
    got = b""
    while True:
        data = s.recv(65536)
        if not data:
            break
        got += data
    s.close()
    head = got.split(b"\r\n\r\n")[0].decode(errors="replace").lower()
    check("big_body_closes", head.startswith("http/1.1 301") and "connection: close" in head
          and "location: https://localhost:%d/big" % tp in head, head)
    print(json.dumps(checks, sort_keys=True))
    return 0 if all(v[0] for v in checks.values()) else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["dist", "steady", "slow", "redirect"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls-port", type=int)
    ap.add_argument("--ca")
    ap.add_argument("--sni", default="localhost")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--send-xfp")
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--out")
    ap.add_argument("--ms", type=int, default=2500)
    a = ap.parse_args()
    commands = {"dist": cmd_dist, "steady": cmd_steady, "slow": cmd_slow, "redirect": cmd_redirect}
    return commands[a.command](a) or 0


if __name__ == "__main__":
    sys.exit(main())
