#!/usr/bin/env python3
"""push_server.py - a Pyroscope-compatible /ingest for the push tests (t_push.sh, bench).

  push_server.py MODE DIR [PORT]      MODE: accept | hang | fail
Listens on 127.0.0.1 (PORT, or a free port; written to DIR/port) and
  accept: answers POST /ingest 200 and keeps each push as DIR/N.{query,headers,profile,
          sample_type_config} (the multipart form parsed by the email package, as a
          real server's form parser would; a malformed one is answered 400 and noted);
  hang:   accepts connections, reads, never answers (a server that is up but stuck);
  fail:   answers 503 to everything.
Runs until killed.
"""
import email.parser
import email.policy
import http.server
import os
import socket
import sys
import threading

mode, out = sys.argv[1], sys.argv[2]
want_port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
os.makedirs(out, exist_ok=True)
count = [0]
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if mode == "fail":
            self.answer(503)
            return
        ctype = self.headers.get("Content-Type", "")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        parts = {}
        if msg.is_multipart():
            for p in msg.iter_parts():
                parts[p.get_param("name", header="content-disposition")] = p.get_payload(decode=True)
        if not self.path.startswith("/ingest?") or "profile" not in parts:
            with open(os.path.join(out, "errors"), "a") as f:
                f.write("%s %s %s\n" % (self.path, ctype, sorted(parts)))
            self.answer(400)
            return
        with lock:
            count[0] += 1
            i = count[0]
        base = os.path.join(out, "%d" % i)
        with open(base + ".profile", "wb") as f:
            f.write(parts["profile"])
        with open(base + ".sample_type_config", "wb") as f:
            f.write(parts.get("sample_type_config") or b"")
        with open(base + ".headers", "w") as f:
            f.write("".join("%s: %s\n" % kv for kv in self.headers.items()))
        with open(base + ".query", "w") as f:  # written last: the push is complete
            f.write(self.path.split("?", 1)[1] + "\n")
        self.answer(200)

    def answer(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


if mode == "hang":
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", want_port))
    srv.listen(64)
    with open(os.path.join(out, "port"), "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    held = []
    while True:
        c, _ = srv.accept()
        held.append(c)  # never read to the end, never answered, never closed
        with open(os.path.join(out, "accepted"), "a") as f:
            f.write("1\n")
else:
    http.server.ThreadingHTTPServer.request_queue_size = 128  # many processes exit at once
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", want_port), Handler)
    with open(os.path.join(out, "port"), "w") as f:
        f.write("%d\n" % httpd.server_address[1])
    httpd.serve_forever()
