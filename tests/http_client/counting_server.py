"""A python http.server (HTTP/1.1, keep-alive) that logs every connection it accepts:
tests/http_client/run.sh counts them to see what the pooled client reused. With a
certificate and key it serves HTTPS (python's ssl), and logs whether each connection
resumed a TLS session.

    counting_server.py PORT_FILE LOG_FILE [CERT KEY]
"""
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with open(sys.argv[2], "a") as log:
            reused = getattr(self.connection, "session_reused", None)
            log.write("connection %s:%d reused=%s\n" % (*self.client_address, reused))

    def do_GET(self):
        n = parse_qs(urlparse(self.path).query).get("n", ["?"])[0]
        body = ("answer " + n).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if len(sys.argv) == 5:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = tls.wrap_socket(server.socket, server_side=True)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
