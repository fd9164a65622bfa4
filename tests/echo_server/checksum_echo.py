#!/usr/bin/env python3
"""Every byte sent to echo_server comes back, in order: SHA-256 per connection.

    checksum_echo.py [--backend epoll] [--connections 4] [--bytes 1048576] -- COMMAND...

Starts COMMAND --port P --backend B (tools/test-cross.sh passes a cross-built
echo_server behind qemu-user, e.g. `qemu-s390x -L /usr/s390x-linux-gnu echo_server`)
on a free port, then this native client opens the connections on 127.0.0.1 and sends
each its share of random bytes in chunks of random sizes while reading the echo back;
the SHA-256 of what came back must equal that of what was sent, per connection. Then
SIGTERM to the one process it started: the server must print "echo_server: stopped"
and exit 0. Every wait is bounded. Exit status 0 when all of that held, 1 otherwise.
"""
import argparse
import hashlib
import os
import random
import select
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time

START_SECONDS = 30   # qemu starts a guest in well under a second; this is a bound, not a wait
ECHO_SECONDS = 120   # for the whole transfer; 1 MiB under qemu takes about a second
STOP_SECONDS = 10


def fail(what, server=None):
    print("FAIL  " + what, flush=True)
    if server is not None:
        server.show_stderr()
    sys.exit(1)


class Server:
    """The server under test: started on a port found free, stopped by its own PID."""

    def __init__(self, command, backend):
        for _attempt in range(5):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
            probe.close()  # released before the server binds it
            self.err = tempfile.TemporaryFile()
            self.p = subprocess.Popen(command + ["--port", str(self.port), "--backend", backend],
                                      stdout=subprocess.PIPE, stderr=self.err)
            line = self.first_line()
            if "listening" in line:
                print("ok    started: " + line.strip(), flush=True)
                return
            self.stop_now()
            if "in use" not in self.stderr_text():  # only a port taken meanwhile is retried
                fail("server did not start: stdout %r" % line, self)
        fail("no free port after 5 attempts")

    def first_line(self):
        deadline = time.monotonic() + START_SECONDS
        out = b""
        while not out.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([self.p.stdout], [], [], deadline - time.monotonic())
            if not ready:
                break
            byte = os.read(self.p.stdout.fileno(), 1)
            if not byte:
                break
            out += byte
        return out.decode(errors="replace")

    def stderr_text(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def show_stderr(self):
        text = self.stderr_text().strip()
        if text:
            print("server stderr:\n" + text, flush=True)

    def stop_now(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(timeout=STOP_SECONDS)


def echo(port, connections, total):
    """Sends total bytes over the connections at once; returns the failures."""
    rng = random.Random(os.getpid() ^ int(time.time()))
    share = total // connections
    conns = []
    sel = selectors.DefaultSelector()
    for i in range(connections):
        size = share if i < connections - 1 else total - share * (connections - 1)
        payload = rng.randbytes(size)
        s = socket.create_connection(("127.0.0.1", port), timeout=START_SECONDS)
        s.setblocking(False)
        c = {"sock": s, "payload": payload, "sent": 0, "got": 0,
             "want": hashlib.sha256(payload).hexdigest(), "hash": hashlib.sha256()}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)

    deadline = time.monotonic() + ECHO_SECONDS
    open_conns = len(conns)
    while open_conns and time.monotonic() < deadline:
        for key, events in sel.select(timeout=1.0):
            c = key.data
            if events & selectors.EVENT_WRITE and c["sent"] < len(c["payload"]):
                # Chunks of random sizes: the server sees reads split anywhere.
                end = min(len(c["payload"]), c["sent"] + rng.randint(1, 64 * 1024))
                try:
                    c["sent"] += c["sock"].send(c["payload"][c["sent"]:end])
                except BlockingIOError:
                    pass
                if c["sent"] == len(c["payload"]):
                    sel.modify(c["sock"], selectors.EVENT_READ, c)
            if events & selectors.EVENT_READ:
                try:
                    data = c["sock"].recv(256 * 1024)
                except BlockingIOError:
                    continue
                if not data:  # the server closed early: what came back is checked below
                    sel.unregister(c["sock"])
                    open_conns -= 1
                    continue
                c["hash"].update(data)
                c["got"] += len(data)
                if c["got"] >= len(c["payload"]):
                    sel.unregister(c["sock"])
                    open_conns -= 1

    failures = []
    for i, c in enumerate(conns):
        c["sock"].close()
        got = c["hash"].hexdigest()
        ok = c["got"] == len(c["payload"]) and got == c["want"]
        print("%s  connection %d: sent %d bytes sha256 %s..., got %d bytes sha256 %s..." %
              ("ok  " if ok else "FAIL", i, len(c["payload"]), c["want"][:16], c["got"], got[:16]),
              flush=True)
        if not ok:
            failures.append(i)
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="epoll")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--bytes", type=int, default=1 << 20)
    ap.add_argument("command", nargs="+", help="the server program, and what runs it (qemu)")
    args = ap.parse_args()

    server = Server(args.command, args.backend)
    try:
        failures = echo(server.port, args.connections, args.bytes)
    except OSError as e:
        server.stop_now()
        fail("client: %s" % e, server)
    if failures:
        server.stop_now()
        fail("%d of %d connections did not get their bytes back" % (len(failures), args.connections),
             server)

    server.p.send_signal(signal.SIGTERM)
    try:
        status = server.p.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        server.stop_now()
        fail("server did not stop within %d s of SIGTERM" % STOP_SECONDS, server)
    rest = server.p.stdout.read().decode(errors="replace")
    if status != 0 or "echo_server: stopped" not in rest:
        fail("server exited %d after SIGTERM, stdout %r" % (status, rest), server)
    print("ok    %d bytes echoed over %d connections, SHA-256 equal; stopped by SIGTERM, exit 0" %
          (args.bytes, args.connections), flush=True)


if __name__ == "__main__":
    main()
