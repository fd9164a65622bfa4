#!/usr/bin/env python3
"""Test clients for the balancer (loopback only). Each subcommand prints one JSON line.

    dist     --mode M --port P --n N [--source IP]   N requests/connections: count per backend
    spread   --mode M --port P --ips A-B --n N        iphash: each source 127.0.0.K sticks
    least    --port P                                 tcp least: long-held connections
    least-http --port P --n N                         http least: N quick GETs beside 2 slow ones
    steady   --mode M --port P --seconds S --out F    one request at a time; a line per result
    slowread --mode M --port P --mb N --rate R --pid PID
                                                      N MiB through the balancer, read at
                                                      R MiB/s; samples the balancer's VmRSS
    drain    --mode M --port P --pid PID              SIGTERM while a slow exchange runs
    slow     --port P --n N --ms M [--out F]          N concurrent slow GETs, all must be 200;
                                                      F is created once all are sent
    burst    --port P --n N --threads T [--pause-ms MS]
                                                      N keep-alive GETs over T connections
                                                      (a random pause up to MS between two);
                                                      any error or cut connection is a failure
    stats    --ports P1,P2,...                        each backend's /_stats, straight
    edges    --port P                                 3 pipelined GETs in one send; a GET
                                                      sent with a half-close: what came back
"""
import argparse
import http.client
import json
import os
import random
import signal
import socket
import sys
import threading
import time

HOST = "127.0.0.1"


def tcp_command(port, command, source=None, timeout=5.0):
    s = socket.create_connection((HOST, port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    s.sendall(command.encode() + b"\n")
    return s


def read_line(s):
    out = b""
    while not out.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            raise ConnectionError("closed after %r" % out)
        out += c
    return out.decode().strip()


def tcp_name(port, source=None):
    s = tcp_command(port, "NAME", source)
    try:
        return read_line(s)
    finally:
        s.close()


class HttpClient:
    """Keep-alive requests; reconnects when the balancer closed the connection."""

    def __init__(self, port, source=None, timeout=10.0):
        self.port, self.source, self.timeout = port, source, timeout
        self.conn = None

    def get(self, path="/"):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    HOST, self.port, timeout=self.timeout,
                    source_address=(self.source, 0) if self.source else None)
            try:
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                body = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, body.decode(errors="replace"), r
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection closed under us before the request went
                # out (the balancer's idle close): not a failed request.
                self.close()
                if attempt == 1:
                    raise

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def one_request(mode, port, client, source):
    """The name of the backend that answered; raises on failure."""
    if mode == "tcp":
        return tcp_name(port, source)
    status, body, r = client.get("/")
    if status != 200:
        raise RuntimeError("status %d" % status)
    xff = r.getheader("X-Seen-XFF", "")
    if xff != (source or HOST):
        raise RuntimeError("backend saw X-Forwarded-For %r, want %r" % (xff, source or HOST))
    return body.strip()


def cmd_dist(a):
    counts, failures = {}, 0
    client = HttpClient(a.port, a.source)
    for _ in range(a.n):
        try:
            name = one_request(a.mode, a.port, client, a.source)
            counts[name] = counts.get(name, 0) + 1
        except Exception as e:  # counted, and the first reason shown
            failures += 1
            counts.setdefault("_first_failure", str(e))
    client.close()
    counts["_failures"] = failures
    print(json.dumps(counts, sort_keys=True))


def cmd_spread(a):
    lo, hi = (int(x) for x in a.ips.split("-"))
    mapping, unstable = {}, []
    for k in range(lo, hi + 1):
        ip = "127.0.0.%d" % k
        client = HttpClient(a.port, ip)
        seen = set()
        for _ in range(a.n):
            if a.mode == "http":
                client.close()  # a new connection each time: the hash is of the address
            seen.add(one_request(a.mode, a.port, client, ip))
        client.close()
        mapping[ip] = sorted(seen)[0] if len(seen) == 1 else sorted(seen)
        if len(seen) != 1:
            unstable.append(ip)
    print(json.dumps({"mapping": mapping, "unstable": unstable}, sort_keys=True))


def cmd_least(a):
    """9 held connections spread 3/3/3; close the 3 on one backend; the next 3 must
    all go to that backend (it has 0 active, the others 3) to get back to 3/3/3."""
    held = []
    for _ in range(9):
        s = tcp_command(a.port, "HOLD")
        held.append((read_line(s), s))
    first = {}
    for name, _ in held:
        first[name] = first.get(name, 0) + 1
    victim = sorted(first)[0]
    for name, s in held:
        if name == victim:
            s.close()
    held = [(n, s) for n, s in held if n != victim]
    time.sleep(0.3)  # the balancer sees the closes
    refill = []
    for _ in range(3):
        s = tcp_command(a.port, "HOLD")
        name = read_line(s)
        refill.append(name)
        held.append((name, s))
    final = {}
    for name, _ in held:
        final[name] = final.get(name, 0) + 1
    for _, s in held:
        s.close()
    print(json.dumps({"first": first, "victim": victim, "refill": refill, "final": final},
                     sort_keys=True))


def cmd_least_http(a):
    """2 slow GETs hold two backends (1 active each); the quick GETs sent meanwhile
    must all go to the third (0 active)."""
    slow, lock = [], threading.Lock()

    def one():
        c = http.client.HTTPConnection(HOST, a.port, timeout=20)
        c.request("GET", "/slow?ms=2500")
        r = c.getresponse()
        with lock:
            slow.append(r.read().decode().strip())

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.2)  # one after the other: each picked with the other in flight
    time.sleep(0.3)
    quick = {}
    client = HttpClient(a.port)
    for _ in range(a.n):
        name = one_request("http", a.port, client, None)
        quick[name] = quick.get(name, 0) + 1
    client.close()
    for t in threads:
        t.join(10)
    print(json.dumps({"slow": sorted(slow), "quick": quick}, sort_keys=True))


def cmd_steady(a):
    client = HttpClient(a.port)
    end = time.time() + a.seconds
    i = 0
    with open(a.out, "w") as out:
        while time.time() < end:
            try:
                name = one_request(a.mode, a.port, client, None)
                out.write("%d %s\n" % (i, name))
            except Exception as e:
                out.write("%d FAIL %s\n" % (i, str(e).replace("\n", " ")))
                client.close()
            out.flush()
            i += 1
            time.sleep(a.interval / 1000.0)
    client.close()


def cmd_slow(a):
    """n concurrent GET /slow?ms=M; each must answer 200."""
    results, sent, lock = [], [0], threading.Lock()

    def one():
        try:
            c = http.client.HTTPConnection(HOST, a.port, timeout=20)
            c.request("GET", "/slow?ms=%d" % a.ms)
            with lock:
                sent[0] += 1
                if sent[0] == a.n and a.out:
                    with open(a.out, "w") as f:  # all requests are out: tell the script
                        f.write("sent\n")
            r = c.getresponse()
            results.append((r.status, r.read().decode()))
        except Exception as e:
            results.append((0, str(e)))

    threads = [threading.Thread(target=one) for _ in range(a.n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ok = sum(1 for st, _ in results if st == 200)
    print(json.dumps({"ok": ok, "n": a.n, "answers": sorted(b for _, b in results)}))


def cmd_burst(a):
    counts, failures, lock = {}, [], threading.Lock()

    def worker(n):
        c = http.client.HTTPConnection(HOST, a.port, timeout=20)
        for _ in range(n):
            try:
                c.request("GET", "/")
                r = c.getresponse()
                body = r.read().decode().strip()
                if r.status != 200:
                    raise RuntimeError("status %d %s" % (r.status, body))
                with lock:
                    counts[body] = counts.get(body, 0) + 1
            except Exception as e:  # no retry here: the balancer must not fail any
                with lock:
                    failures.append(repr(e))
                c.close()
                c = http.client.HTTPConnection(HOST, a.port, timeout=20)
            if a.pause_ms:
                time.sleep(random.uniform(0, a.pause_ms) / 1000.0)
        c.close()

    per = [a.n // a.threads + (1 if i < a.n % a.threads else 0) for i in range(a.threads)]
    threads = [threading.Thread(target=worker, args=(k,)) for k in per]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    counts["_failures"] = len(failures)
    counts["_first_failures"] = failures[:3]
    print(json.dumps(counts, sort_keys=True))


def cmd_stats(a):
    out = {}
    for p in a.ports.split(","):
        c = http.client.HTTPConnection(HOST, int(p), timeout=10)
        c.request("GET", "/_stats")
        out[p] = json.loads(c.getresponse().read())
        c.close()
    print(json.dumps(out, sort_keys=True))


def read_all(s):
    out = b""
    while True:
        data = s.recv(65536)
        if not data:
            return out
        out += data


def cmd_edges(a):
    s = socket.create_connection((HOST, a.port), timeout=10)
    s.sendall(b"GET /slow?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    pipelined = read_all(s).decode(errors="replace")
    s.close()
    s = socket.create_connection((HOST, a.port), timeout=10)
    s.sendall(b"GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
    half = read_all(s).decode(errors="replace")
    s.close()
    print(json.dumps({"pipelined_200s": pipelined.count("HTTP/1.1 200 OK"),
                      "half_close_200": half.startswith("HTTP/1.1 200 OK"),
                      "half_close": half[:200]}, sort_keys=True))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cmd_slowread(a):
    total = a.mb << 20
    rss = [rss_kb(a.pid)]
    if a.mode == "tcp":
        # Upload as fast as the balancer takes it; the echo comes back and is read slowly.
        s = tcp_command(a.port, "ECHO", timeout=30)
        sent = [0]

        def upload():
            block = b"y" * (1 << 20)
            for _ in range(a.mb):
                s.sendall(block)
                sent[0] += len(block)
            s.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=upload, daemon=True)
        t.start()
        expect = total
    else:
        s = socket.create_connection((HOST, a.port), timeout=30)
        s.sendall(b"GET /big?mb=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % a.mb)
        expect = None
        t = None
    got, head = 0, b""
    start = time.time()
    next_sample = start
    while expect is None or got < expect:
        data = s.recv(256 * 1024)
        if not data:
            break
        if expect is None:
            head += data
            if b"\r\n\r\n" not in head:
                continue
            h, _, rest = head.partition(b"\r\n\r\n")
            length = [l for l in h.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            expect = int(length[0].split(b":")[1]) if length else total
            data = rest
        got += len(data)
        # Throttle: never more than `rate` MiB/s on average.
        ahead = got / (a.rate * (1 << 20)) - (time.time() - start)
        if ahead > 0:
            time.sleep(ahead)
        if time.time() >= next_sample:
            rss.append(rss_kb(a.pid))
            next_sample = time.time() + 0.1
    rss.append(rss_kb(a.pid))
    s.close()
    if t:
        t.join(5)
    print(json.dumps({"bytes": got, "expected": total, "seconds": round(time.time() - start, 2),
                      "rss_start_kb": rss[0], "rss_max_kb": max(rss), "samples": len(rss)}))


def refused(port):
    try:
        socket.create_connection((HOST, port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def cmd_drain(a):
    result = {}
    if a.mode == "tcp":
        s = tcp_command(a.port, "HOLD", timeout=10)
        result["name"] = read_line(s)
        os.kill(a.pid, signal.SIGTERM)
        time.sleep(0.5)
        result["new_refused"] = refused(a.port)
        s.sendall(b"still here\n")
        result["held_works"] = read_line(s) == "still here"
        time.sleep(0.3)
        s.close()
    else:
        out = {}

        def slow():
            try:
                c = http.client.HTTPConnection(HOST, a.port, timeout=10)
                c.request("GET", "/slow?ms=2000")
                r = c.getresponse()
                out["status"], out["body"] = r.status, r.read().decode()
            except Exception as e:
                out["error"] = str(e)

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.5)
        os.kill(a.pid, signal.SIGTERM)
        time.sleep(0.5)
        result["new_refused"] = refused(a.port)
        t.join(15)
        result.update(out)
        result["held_works"] = out.get("status") == 200 and out.get("body", "") != ""
    print(json.dumps(result, sort_keys=True))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command")
    ap.add_argument("--mode", choices=["tcp", "http"], default="tcp")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--source")
    ap.add_argument("--ips", default="2-21")
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--interval", type=float, default=5)
    ap.add_argument("--out")
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--ms", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--pause-ms", type=float, default=0)
    ap.add_argument("--ports")
    a = ap.parse_args()
    {"dist": cmd_dist, "spread": cmd_spread, "least": cmd_least, "steady": cmd_steady,
     "slowread": cmd_slowread, "drain": cmd_drain, "slow": cmd_slow,
     "least-http": cmd_least_http, "burst": cmd_burst, "stats": cmd_stats,
     "edges": cmd_edges}[a.command](a)


if __name__ == "__main__":
    sys.exit(main())
