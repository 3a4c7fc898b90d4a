"""A webhook receiver for the alert tests: verifies every signed request with the
`standardwebhooks` package and records what it got, one JSON line per request.

    python3 receiver.py LOG_FILE SECRET [--fail-first]

Prints `listening on PORT` once bound to 127.0.0.1. Paths: `/hook` and `/events` must be
signed (Standard Webhooks); `/slack` and `/teams` are chat webhooks and are only recorded.
With --fail-first, the first request of each webhook-id is answered 500.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

LOG, SECRET = sys.argv[1], sys.argv[2]
FAIL_FIRST = "--fail-first" in sys.argv[3:]
SIGNED = {"/hook", "/events"}
lock = threading.Lock()
seen = set()
verifier = Webhook(SECRET)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        message_id = headers.get("webhook-id")
        valid = None
        if self.path in SIGNED:
            try:
                verifier.verify(body, headers)
                valid = True
            except WebhookVerificationError as e:
                valid = str(e) or "invalid"
        with lock:
            first = message_id not in seen
            seen.add(message_id)
            status = 500 if FAIL_FIRST and first else 200
            if valid not in (None, True):
                status = 401
            with open(LOG, "a", encoding="utf-8") as log:
                log.write(json.dumps({
                    "path": self.path,
                    "id": message_id,
                    "valid": valid,
                    "status": status,
                    "body": body.decode("utf-8"),
                }) + "\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(f"listening on {server.server_address[1]}", flush=True)
server.serve_forever()
