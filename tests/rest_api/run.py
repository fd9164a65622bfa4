#!/usr/bin/env python3
"""Real clients (python3 http.client and curl) against examples/rest_api on loopback.

Usage: run.py path/to/rest_api
Items: POST/GET/DELETE, JSON 404/405/413/400, HEAD. Blobs: a 50 MB upload streamed in
pieces (the count must match), downloads checked byte by byte (i % 251) with their
Content-Length, a 1 GiB download read slowly that must not grow the server's memory, and
1 GiB each way at full speed (curl chunked upload, a Content-Length upload from
http.client, a curl download hashed end to end): the server's peak memory must grow by
less than 16 MiB during each (issue 19).
Exits non-zero on the first failure.
"""
import http.client
import json
import os
import shutil
import subprocess
import sys
import time

TIMEOUT = 60


def fail(msg):
    print(f"rest_api test: FAIL: {msg}")
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def request(port, method, path, body=None, headers=None, chunked=False):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    c.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def reset_peak(pid):
    """Restarts the kernel's peak-RSS count (VmHWM) of our own child: writing 5 to
    clear_refs does that (Linux 4.0+), so each transfer's peak is its own."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def expected_blob(offset, n):
    """Bytes [offset, offset + n) of a blob: byte i is i % 251."""
    period = bytes(range(251))
    start = offset % 251
    reps = (start + n) // 251 + 1
    return (period * reps)[start:start + n]


def main():
    binary = sys.argv[1]
    server = subprocess.Popen([binary, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        check("listening on port" in line, f"no listening line: {line!r}")
        port = int(line.split()[-1])
        # The server logs each request; drain its output so it never blocks on a full pipe.
        drain = subprocess.Popen(["cat"], stdin=server.stdout, stdout=subprocess.DEVNULL)
        run(port, server.pid)
        check(server.poll() is None, "the server died")
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    check(server.returncode == 0, f"the server exited with {server.returncode} on SIGTERM")
    drain.wait(10)
    print("rest_api test: all checks passed")


def run(port, pid):
    # ---- items ----
    r, data = request(port, "POST", "/items", json.dumps({"name": "lamp", "watts": 40}),
                      {"Content-Type": "application/json"})
    check(r.status == 201, f"POST /items: {r.status}")
    check(r.getheader("Location") == "/items/1", f"Location: {r.getheader('Location')}")
    check(r.getheader("Content-Type") == "application/json", "POST /items: Content-Type")
    check(json.loads(data) == {"id": 1, "name": "lamp", "watts": 40}, f"POST /items body {data!r}")
    r, data = request(port, "POST", "/items", json.dumps({"name": "desk"}))
    check(r.status == 201 and r.getheader("Location") == "/items/2", "second POST")

    r, data = request(port, "GET", "/items/1")
    check(r.status == 200 and json.loads(data)["name"] == "lamp", f"GET /items/1: {r.status} {data!r}")
    r, data = request(port, "GET", "/items")
    check(r.status == 200 and [i["id"] for i in json.loads(data)] == [1, 2], f"GET /items: {data!r}")
    r, data = request(port, "HEAD", "/items")
    check(r.status == 200 and data == b"" and int(r.getheader("Content-Length")) > 0, "HEAD /items")

    r, data = request(port, "DELETE", "/items/1")
    check(r.status == 204 and data == b"", f"DELETE /items/1: {r.status}")
    r, data = request(port, "GET", "/items/1")
    check(r.status == 404, f"GET deleted item: {r.status}")
    check(json.loads(data)["status"] == 404 and r.getheader("Content-Type") == "application/json",
          f"404 body {data!r}")
    r, data = request(port, "DELETE", "/items/1")
    check(r.status == 404, "DELETE twice")
    r, data = request(port, "GET", "/nowhere")
    check(r.status == 404 and json.loads(data)["status"] == 404, "404 for an unknown path")

    r, data = request(port, "PUT", "/items")
    check(r.status == 405, f"PUT /items: {r.status}")
    check(r.getheader("Allow") == "GET, HEAD, POST", f"Allow: {r.getheader('Allow')}")
    check(json.loads(data) == {"status": 405, "error": "method not allowed", "allow": "GET, HEAD, POST"},
          f"405 body {data!r}")

    r, data = request(port, "POST", "/items", "{not json")
    check(r.status == 400 and json.loads(data)["status"] == 400, f"bad JSON: {r.status}")
    r, data = request(port, "POST", "/items", b"[" + b"1," * (1 << 20) + b"1]")
    check(r.status == 413, f"2 MiB of JSON: {r.status}")
    check(json.loads(data) == {"status": 413, "error": "Payload Too Large"} or
          json.loads(data)["status"] == 413, f"413 body {data!r}")
    r, data = request(port, "GET", "/items/%zz")
    check(r.status == 400 and json.loads(data)["status"] == 400, "bad percent-encoding")
    print("items: POST/GET/DELETE, HEAD, 404/405/413/400 JSON ok")

    # ---- POST /blobs: 50 MB sent in 1 MiB pieces ----
    total = 50 * 1000 * 1000
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    c.putrequest("POST", "/blobs")
    c.putheader("Content-Length", str(total))
    c.endheaders()
    piece = expected_blob(0, 1 << 20)
    sent = 0
    while sent < total:
        n = min(len(piece), total - sent)
        c.send(piece[:n])
        sent += n
    r = c.getresponse()
    data = r.read()
    c.close()
    check(r.status == 200 and json.loads(data) == {"bytes": total}, f"POST /blobs: {r.status} {data!r}")
    # ... and chunked, of an odd size
    r, data = request(port, "POST", "/blobs", iter([b"x" * 1000, b"y" * 2345, b"z"]),
                      {"Transfer-Encoding": "chunked"}, chunked=True)
    check(r.status == 200 and json.loads(data) == {"bytes": 3346}, f"chunked POST /blobs: {data!r}")
    print(f"blobs: {total} bytes streamed up, count ok; chunked upload ok")

    # ---- GET /blobs/{n}: every byte, and the Content-Length ----
    for n in (0, 1, 250, 251, 252, 10_000_019):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        c.request("GET", f"/blobs/{n}")
        r = c.getresponse()
        check(r.status == 200, f"GET /blobs/{n}: {r.status}")
        check(r.getheader("Content-Length") == str(n), f"GET /blobs/{n}: Content-Length {r.getheader('Content-Length')}")
        check(r.getheader("Transfer-Encoding") is None, "GET /blobs: chunked")
        got = 0
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            check(chunk == expected_blob(got, len(chunk)), f"GET /blobs/{n}: wrong bytes at {got}")
            got += len(chunk)
        c.close()
        check(got == n, f"GET /blobs/{n}: {got} bytes")
    r, data = request(port, "GET", "/blobs/abc")
    check(r.status == 400, "GET /blobs/abc")
    print("blobs: downloads of 0..10,000,019 bytes, every byte i % 251, Content-Length ok")

    # curl agrees (a client that is not Python): the bytes and the status.
    if shutil.which("curl"):
        out = subprocess.run(["curl", "-s", "-D", "-", f"http://127.0.0.1:{port}/blobs/1000"],
                             capture_output=True, timeout=TIMEOUT)
        head, _, body = out.stdout.partition(b"\r\n\r\n")
        check(b"Content-Length: 1000" in head and body == expected_blob(0, 1000), "curl GET /blobs/1000")
        code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PATCH",
                               f"http://127.0.0.1:{port}/items/2"], capture_output=True, text=True,
                              timeout=TIMEOUT).stdout
        check(code == "405", f"curl PATCH: {code}")
        print("curl: GET /blobs/1000 bytes and PATCH 405 ok")
    else:
        fail("curl is not installed (tools/install-deps.sh installs it)")

    # ---- a huge download read slowly: produced as drained, so memory stays flat ----
    before = rss_kib(pid)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    c.request("GET", f"/blobs/{1 << 30}")
    r = c.getresponse()
    check(r.getheader("Content-Length") == str(1 << 30), "1 GiB Content-Length")
    got = 0
    for _ in range(8):
        chunk = r.read(1 << 20)
        check(chunk == expected_blob(got, len(chunk)), "1 GiB: wrong bytes")
        got += len(chunk)
        time.sleep(0.05)
    grown = rss_kib(pid) - before
    c.close()
    check(grown < 48 * 1024, f"the server grew by {grown} KiB during a slow 1 GiB download")
    print(f"blobs: 1 GiB download read slowly, server memory grew by {grown} KiB")
    full_speed_gib(port, pid)


GIB = 1 << 30
LIMIT_KIB = 16 * 1024  # issue 19: less than 16 MiB of growth for 1 GiB either way


def full_speed_gib(port, pid):
    """1 GiB up (chunked from curl, then Content-Length from http.client) and 1 GiB down
    (curl into sha256sum), each as fast as loopback goes; the server's peak RSS during
    each, over its RSS before, must stay under LIMIT_KIB."""
    import hashlib

    def measured(what, run):
        base = rss_kib(pid)
        reset_peak(pid)
        result = run()
        grown = peak_kib(pid) - base
        check(grown < LIMIT_KIB, f"{what}: the server's peak grew by {grown} KiB (limit {LIMIT_KIB})")
        print(f"blobs: {what}: server peak memory grew by {grown} KiB")
        return result

    def curl_chunked_upload():
        zeros = subprocess.Popen(["head", "-c", str(GIB), "/dev/zero"], stdout=subprocess.PIPE)
        out = subprocess.run(["curl", "-sS", "--fail", "-T", "-", "-X", "POST",
                              f"http://127.0.0.1:{port}/blobs"], stdin=zeros.stdout,
                             capture_output=True, timeout=300)
        zeros.stdout.close()
        zeros.wait()
        check(out.returncode == 0, f"curl 1 GiB upload: {out.stderr.decode()}")
        check(json.loads(out.stdout) == {"bytes": GIB}, f"curl 1 GiB upload answered {out.stdout!r}")

    def sized_upload():
        piece = b"\xa5" * (1 << 20)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        c.request("POST", "/blobs", body=(piece for _ in range(GIB // len(piece))),
                  headers={"Content-Length": str(GIB)})
        r = c.getresponse()
        data = r.read()
        c.close()
        check(r.status == 200 and json.loads(data) == {"bytes": GIB},
              f"Content-Length 1 GiB upload: {r.status} {data!r}")

    def curl_download():
        # The expected digest: byte i is i % 251, hashed in blocks of a whole number of periods.
        block = bytes(range(251)) * 4177
        want, left = hashlib.sha256(), GIB
        while left:
            n = min(left, len(block))
            want.update(block[:n])
            left -= n
        curl = subprocess.Popen(["curl", "-sS", "--fail", f"http://127.0.0.1:{port}/blobs/{GIB}"],
                                stdout=subprocess.PIPE)
        got, size = hashlib.sha256(), 0
        while True:
            chunk = curl.stdout.read(1 << 20)
            if not chunk:
                break
            got.update(chunk)
            size += len(chunk)
        check(curl.wait(timeout=300) == 0, "curl 1 GiB download failed")
        check(size == GIB and got.digest() == want.digest(),
              f"curl 1 GiB download: {size} bytes, digest {'equal' if got.digest() == want.digest() else 'differs'}")

    measured("1 GiB chunked upload from curl, full speed", curl_chunked_upload)
    measured("1 GiB Content-Length upload from http.client, full speed", sized_upload)
    measured("1 GiB download into curl, full speed, SHA-256 equal", curl_download)


if __name__ == "__main__":
    main()
