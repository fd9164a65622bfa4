"""A python http.server (HTTP/1.1, keep-alive) that logs every connection it accepts:
tests/http_client/run.sh counts them to see what the pooled client reused.

    counting_server.py PORT_FILE LOG_FILE
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with open(sys.argv[2], "a") as log:
            log.write("connection %s:%d\n" % self.client_address)

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
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
