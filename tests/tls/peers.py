"""python3 ssl against http_hello --tls-cert (tests/tls/run.sh): pipelining, then peers that
misbehave (garbage instead of a ClientHello, a stalled handshake, a reset in the middle of a
record), each followed by a good request that must still be answered."""
import socket
import ssl
import struct
import sys

port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)  # verification and host name check on


def tls_connect():
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def read_responses(s, count):
    """Reads `count` responses (Content-Length bodies); returns their bodies."""
    buf, bodies = b"", []
    while len(bodies) < count:
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, "connection closed early"
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, v = line.split(b":", 1)
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(buf) < length:
            chunk = s.recv(65536)
            assert chunk, "connection closed in a body"
            buf += chunk
        bodies.append(buf[:length])
        buf = buf[length:]
    return bodies


def good_request():
    with tls_connect() as s:
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_responses(s, 1) == [b"Hello, World!"]


# Pipelined: 16 requests in one write, 16 answers in order.
with tls_connect() as s:
    assert s.version() in ("TLSv1.2", "TLSv1.3"), s.version()
    reqs = b"".join(b"GET /%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % (b"plaintext" if i % 2 == 0 else b"nope")
                    for i in range(16))
    s.sendall(reqs)
    bodies = read_responses(s, 16)
    assert bodies == [b"Hello, World!" if i % 2 == 0 else b"Not Found\n" for i in range(16)], bodies
print("pipelined: 16 answers in order")

# Garbage instead of a ClientHello: the server closes that connection (possibly after an alert).
g = socket.create_connection(("127.0.0.1", port), timeout=10)
g.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
got = b""
try:
    while True:
        chunk = g.recv(4096)
        if not chunk:
            break
        got += chunk
except ConnectionResetError:
    pass
assert b"HTTP/1.1" not in got, got  # never answered as plain HTTP
assert not got or got[0] == 0x15, got  # nothing but a TLS alert record
g.close()
good_request()
print("garbage ClientHello: closed, others unaffected")

# A stalled handshake: while it hangs, other clients are served.
stalled = socket.create_connection(("127.0.0.1", port), timeout=10)
stalled.sendall(b"\x16\x03\x01")
good_request()
good_request()
stalled.close()
print("stalled handshake: others unaffected")

# A reset in the middle of a record, after the handshake.
s = tls_connect()
s.sendall(b"GET /plaintext HTTP/1.1\r\n")  # half a request
sock = socket.socket(fileno=s.detach())  # the TCP socket under it: write half a record
sock.sendall(b"\x17\x03\x03\x00\x40" + b"\x00" * 10)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
sock.close()  # RST
good_request()
print("reset mid-record: others unaffected")
