#!/usr/bin/env python3
"""The python3 half of tests/static_files/run.sh: http.client and raw sockets against a
running static_server serving ROOT (made by run.sh).

Usage: check.py PORT ROOT [--prefix /p] [--only-traversal]
Raw request lines go out on plain sockets so that no client library normalises the
path before the server sees it. Exits non-zero on the first failure.
"""
import hashlib
import http.client
import os
import socket
import sys

TIMEOUT = 30


def fail(msg):
    print(f"static_files test (python): FAIL: {msg}")
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def raw_exchange(port, data):
    """Sends `data` as is and reads until the server closes (the requests ask it to)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(data)
        out = b""
        while True:
            got = s.recv(65536)
            if not got:
                return out
            out += got


def parse_responses(data, heads):
    """Responses with Content-Length bodies, one per entry of `heads` (True: the answer
    to a HEAD, which has none): [(status, headers, body)]."""
    out = []
    for head_request in heads:
        head, sep, rest = data.partition(b"\r\n\r\n")
        check(sep, f"a response head is cut: {data[:200]!r}")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        if head_request or status == 304 or status < 200:
            n = 0
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    check(data == b"", f"bytes after the last response: {data[:100]!r}")
    return out


def traversal(port, prefix, root):
    secret = b"SECRET"
    paths = [
        "/../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/sub/%2E%2E/%2e%2e/etc/passwd",
        "/..%2fetc%2fpasswd",
        "/%2e%2e%5cetc",
        "/a%00b",
        "/hello.txt%00.png",
        "/escape.txt",                       # a symlink to a file outside the root
        "/escape_dir/secret.txt",            # a symlink to a directory outside
        "/../outside/secret.txt",            # these exist next to the root
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/sub/%2e%2e/%2e%2e/outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/..%5coutside%5csecret.txt",
        "/..\\outside\\secret.txt",
        "/sub/..\\..\\outside\\secret.txt",
        "/%2e%2e%2f%2e%2e%2foutside/secret.txt",
        "/.%2e/outside/secret.txt",
        "/./../outside/secret.txt",
        "/.../outside/secret.txt",
        "//" + os.path.join(os.path.dirname(root), "outside/secret.txt").lstrip("/"),
        "/%2F" + os.path.join(os.path.dirname(root), "outside/secret.txt").lstrip("/"),
    ]
    for p in paths:
        target = prefix + p
        resp = raw_exchange(port, f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                                  .encode("latin-1"))
        status = int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.1 ") else 0
        check(status in (400, 404), f"traversal {target!r}: status {status}, expected 400/404")
        check(secret not in resp and b"root:" not in resp, f"traversal {target!r}: leaked {resp[:300]!r}")
    # An absolute-form target with the same escape.
    resp = raw_exchange(port, f"GET http://127.0.0.1:{port}{prefix}/../outside/secret.txt HTTP/1.1\r\n"
                              "Host: t\r\nConnection: close\r\n\r\n".encode())
    check(secret not in resp and not resp.startswith(b"HTTP/1.1 2"), f"absolute-form escape: {resp[:200]!r}")
    print(f"static_files test (python): {len(paths) + 1} traversal attempts refused (prefix {prefix or '/'})")


def get(c, path, headers=None, method="GET"):
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    return r, r.read()


def main():
    port = int(sys.argv[1])
    root = sys.argv[2]
    prefix = ""
    if "--prefix" in sys.argv:
        prefix = sys.argv[sys.argv.index("--prefix") + 1]
    traversal(port, prefix, root)
    if "--only-traversal" in sys.argv:
        return

    big = open(os.path.join(root, "big.bin"), "rb").read()
    size = len(big)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)

    # Keep-alive: every request below goes on this one connection.
    r, body = get(c, "/big.bin")
    sock = c.sock
    check(r.status == 200, f"big.bin: {r.status}")
    check(hashlib.sha256(body).digest() == hashlib.sha256(big).digest(), "big.bin: bytes differ")
    check(r.getheader("Content-Length") == str(size), "big.bin: Content-Length")
    check(r.getheader("Content-Type") == "application/octet-stream", "big.bin: type")
    check(r.getheader("Accept-Ranges") == "bytes", "big.bin: Accept-Ranges")
    etag, modified = r.getheader("ETag"), r.getheader("Last-Modified")
    check(etag and etag.startswith('W/"'), f"big.bin: weak ETag, got {etag}")
    check(modified and modified.endswith(" GMT"), f"big.bin: Last-Modified {modified}")

    r, body = get(c, "/with%20space%20caf%C3%A9.txt")
    check(r.status == 200 and body == b"spaces and utf-8\n", f"UTF-8 name: {r.status} {body!r}")
    r, body = get(c, "/empty.txt")
    check(r.status == 200 and body == b"" and r.getheader("Content-Length") == "0", "empty file")

    # Conditionals: each validator alone, and If-None-Match taking precedence.
    r, body = get(c, "/big.bin", {"If-None-Match": etag})
    check(r.status == 304 and body == b"", f"If-None-Match: {r.status}")
    check(r.getheader("ETag") == etag, "304 carries the ETag")
    r, body = get(c, "/big.bin", {"If-None-Match": '"other", ' + etag})
    check(r.status == 304, f"If-None-Match list: {r.status}")
    r, body = get(c, "/big.bin", {"If-Modified-Since": modified})
    check(r.status == 304 and body == b"", f"If-Modified-Since: {r.status}")
    r, body = get(c, "/big.bin", {"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"})
    check(r.status == 200 and len(body) == size, f"If-Modified-Since older: {r.status}")
    r, body = get(c, "/big.bin", {"If-None-Match": '"other"', "If-Modified-Since": modified})
    check(r.status == 200 and len(body) == size, f"If-None-Match decides over If-Modified-Since: {r.status}")

    # Ranges: each form, the bytes and Content-Range.
    for spec, first, last in [("0-0", 0, 0), ("1000-1999", 1000, 1999), (f"{size - 10}-", size - 10, size - 1),
                              ("-4096", size - 4096, size - 1), ("100000-", 100000, size - 1),
                              (f"5-{size * 2}", 5, size - 1), (f"-{size + 5}", 0, size - 1)]:
        r, body = get(c, "/big.bin", {"Range": f"bytes={spec}"})
        check(r.status == 206, f"range {spec}: status {r.status}")
        check(r.getheader("Content-Range") == f"bytes {first}-{last}/{size}",
              f"range {spec}: Content-Range {r.getheader('Content-Range')}")
        check(body == big[first:last + 1], f"range {spec}: bytes differ")
    for spec in [f"{size}-", f"{size + 100}-{size + 200}", "-0"]:
        r, body = get(c, "/big.bin", {"Range": f"bytes={spec}"})
        check(r.status == 416, f"range {spec}: status {r.status}, expected 416")
        check(r.getheader("Content-Range") == f"bytes */{size}", f"range {spec}: {r.getheader('Content-Range')}")
    r, body = get(c, "/big.bin", {"Range": "bytes=0-9,20-29"})
    check(r.status == 200 and body == big, f"several ranges: the whole file with 200, got {r.status}")
    r, body = get(c, "/big.bin", {"Range": "bytes=10-19", "If-Range": modified})
    check(r.status == 206 and body == big[10:20], f"If-Range date: {r.status}")
    r, body = get(c, "/big.bin", {"Range": "bytes=10-19", "If-Range": etag})
    check(r.status == 200 and body == big, f"If-Range weak ETag: whole file, got {r.status}")

    # HEAD: the same headers, no body (http.client reads none; the next answer proves
    # none was sent: it would be parsed as garbage).
    r, body = get(c, "/big.bin", method="HEAD")
    check(r.status == 200 and body == b"" and r.getheader("Content-Length") == str(size), "HEAD")
    check(r.getheader("ETag") == etag, "HEAD: same ETag")

    # Errors.
    r, body = get(c, "/missing.txt")
    check(r.status == 404, f"missing: {r.status}")
    r, body = get(c, "/sub")
    check(r.status == 301 and r.getheader("Location") == "/sub/", f"/sub: {r.status} {r.getheader('Location')}")
    r, body = get(c, "/sub/")
    check(r.status == 200 and body == b"<h1>sub index</h1>\n", "sub/ index")
    check(r.getheader("Content-Type") == "text/html; charset=utf-8", "index type")
    r, body = get(c, "/", method="GET")
    check(r.status == 404, f"a directory without index.html: {r.status}")
    r, body = get(c, "/hello.txt", method="POST")
    check(r.status == 405 and "GET" in (r.getheader("Allow") or ""), f"POST: {r.status} {r.getheader('Allow')}")
    r, body = get(c, "/hello.txt", method="DELETE")
    check(r.status == 405, f"DELETE: {r.status}")
    check(c.sock is sock, "every request above went on one kept-alive connection")
    c.close()

    # Pipelined: a HEAD, a range and a whole big file, then a small one, in one write;
    # the answers must come back in order, each body exactly its bytes (no hole, no
    # interleaving).
    reqs = (b"HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=7-70006\r\n\r\n"
            b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    out = parse_responses(raw_exchange(port, reqs), [True, False, False, False])
    check(out[0][0] == 200 and out[0][2] == b"", "pipelined HEAD")
    check(out[1][0] == 206 and out[1][2] == big[7:70007], "pipelined range")
    check(out[2][0] == 200 and out[2][2] == big, "pipelined whole file")
    check(out[3][0] == 200 and out[3][2] == b"hello, static\n", "pipelined small file")

    # Clients that go away mid-download (as wrk does at the end of a run): the server
    # must live on (sendfile to a closed socket raised SIGPIPE and killed it).
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        s.recv(1000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        s.recv(1000)
        s.close()  # a FIN: the server's next bytes get a reset, then EPIPE
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    r, body = get(c, "/big.bin")
    check(r.status == 200 and body == big, "the server still answers after clients left mid-download")
    c.close()
    print("static_files test (python): http.client, pipelining and abandoned downloads passed")


if __name__ == "__main__":
    main()
