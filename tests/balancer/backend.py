#!/usr/bin/env python3
"""A test backend for the balancer that says who it is.

    backend.py --name NAME --mode tcp|http --port PORT   (PORT 0: any free port)

Prints "listening PORT" once it accepts connections.

tcp mode: the first line is a command.
    NAME        -> "NAME\n", then close
    HOLD        -> "NAME\n", then echo lines until the client closes
    ECHO        -> echo every byte until the client half-closes, then half-close
    (no line)   -> a health probe: just close
http mode (the response closes the connection when the request says so):
    GET /            -> 200, body NAME, headers X-Seen-XFF and X-Seen-XFP: the
                        X-Forwarded-For and X-Forwarded-Proto received
    GET /slow?ms=N   -> the same after N ms
    GET /big?mb=N    -> 200 with N MiB of body (Content-Length)
    POST /upload     -> 200, body "NAME BYTES" (the request body, by length or chunked,
                        is read and counted)
    GET /_stats      -> JSON {"conns": C, "requests": R}: C connections carried R requests
                        with an X-Forwarded-For (from the balancer, not its health checks)
--keepalive-timeout S (http): a connection idle for S seconds is closed, as servers do.
--close-nth N (http): the Nth request on a connection is not answered, the connection
                      closes instead: a keep-alive close that crossed the request.
"""
import argparse
import http.server
import json
import threading
import socket
import socketserver
import sys
import time
import urllib.parse

BLOCK = b"x" * (1 << 20)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--mode", choices=["tcp", "http"], required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--keepalive-timeout", type=float, default=0)
    ap.add_argument("--close-nth", type=int, default=0)
    args = ap.parse_args()
    name = args.name
    stats, stats_lock = {"conns": 0, "requests": 0}, threading.Lock()

    class TcpHandler(socketserver.BaseRequestHandler):
        def handle(self):
            s = self.request
            # The command byte by byte, so that nothing after it is read ahead.
            line = b""
            while not line.endswith(b"\n"):
                c = s.recv(1)
                if not c:
                    return  # a health probe, or a client that gave up
                line += c
            line = line.strip()
            if line in (b"NAME", b"HOLD"):
                s.sendall(name.encode() + b"\n")
                while line == b"HOLD":
                    data = s.recv(1 << 16)
                    if not data:
                        break
                    s.sendall(data)
            elif line == b"ECHO":
                while True:
                    data = s.recv(1 << 18)
                    if not data:
                        break
                    s.sendall(data)
                s.shutdown(socket.SHUT_WR)

    class HttpHandler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = args.keepalive_timeout or None
        counted = False
        on_connection = 0

        def count(self):
            """False: close the connection instead of answering (--close-nth)."""
            if "X-Forwarded-For" not in self.headers:
                return True
            self.on_connection += 1
            if self.on_connection == args.close_nth:
                self.close_connection = True
                return False
            with stats_lock:
                stats["requests"] += 1
                if not self.counted:
                    stats["conns"] += 1
            self.counted = True
            return True

        def log_message(self, *a):
            pass

        def reply(self, body, extra=()):
            # Head and body in one write: the kill test SIGKILLs this process at a random
            # moment, and a response cut between its head and its body (two writes) can be
            # retried by no proxy once the head went on; what it checks is the retry of
            # requests the backend never answered.
            lines = ["HTTP/1.1 200 OK", "Content-Type: text/plain",
                     "Content-Length: %d" % len(body),
                     "X-Seen-XFF: " + self.headers.get("X-Forwarded-For", ""),
                     "X-Seen-XFP: " + self.headers.get("X-Forwarded-Proto", "")]
            lines += ["%s: %s" % (k, v) for k, v in extra]
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            self.wfile.write(head + (body if self.command != "HEAD" else b""))

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(url.query)
            if url.path == "/_stats":
                with stats_lock:
                    return self.reply(json.dumps(stats).encode())
            if not self.count():
                return
            if url.path == "/slow":
                time.sleep(int(q.get("ms", ["1000"])[0]) / 1000.0)
            if url.path == "/big":
                n = int(q.get("mb", ["1"])[0])
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(n << 20))
                self.end_headers()
                for _ in range(n):
                    self.wfile.write(BLOCK)
                return
            self.reply(name.encode())

        do_HEAD = do_GET

        def do_POST(self):
            if not self.count():
                return
            got = 0
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b""):
                            pass  # trailers
                        break
                    got += len(self.rfile.read(size))
                    self.rfile.readline()
                return self.reply(("%s %d" % (name, got)).encode())
            left = int(self.headers.get("Content-Length", "0"))
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 18))
                if not chunk:
                    break
                got += len(chunk)
                left -= len(chunk)
            self.reply(("%s %d" % (name, got)).encode())

    class TcpServer(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 128

    class HttpServer(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 128

    server_type, handler = (TcpServer, TcpHandler) if args.mode == "tcp" else (HttpServer, HttpHandler)
    srv = server_type(("127.0.0.1", args.port), handler)
    print("listening %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
