#!/usr/bin/env python3
"""A Countersign webhook receiver, with the Python standard library alone.

Countersign POSTs each event with three headers, in the Standard Webhooks
format (https://www.standardwebhooks.com/):

    webhook-id         the event's id: the same on every retry of this event
    webhook-timestamp  Unix seconds when this attempt was signed
    webhook-signature  "v1," + base64(HMAC-SHA256(secret, id + "." + timestamp + "." + body))

The secret is the endpoint's `whsec_...` value, shown once when the endpoint
was added (addWebhookEndpoint's webhookSecret, or claimWebhookSecret); the
HMAC key is the base64 after the prefix.

This receiver verifies every request before it trusts a byte of it, refuses
stale timestamps (a replayed capture), answers a retry of an event it already
took with 200 without handling it again, and prints each new event as one
JSON line on stdout. Answer 2xx quickly: Countersign retries anything else
(10 s, 20 s, 40 s, ... eight attempts), and waits at most 10 s per attempt.

    export COUNTERSIGN_WEBHOOK_SECRET=whsec_...   # required
    export PORT=8000                              # 0 picks a free port
    python3 examples/python/webhook_receiver.py

The first line printed is the address it listens on.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: How far a signature's timestamp may be from our clock (seconds).
TOLERANCE = 5 * 60


def verify(secret: str, headers, body: bytes, now: float) -> bool:
    """Whether the request carries a valid, fresh Countersign signature."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not msg_id or not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # Several signatures may be sent, space-separated (during a secret rotation).
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures.split(" "))


class Receiver(BaseHTTPRequestHandler):
    secret = ""
    seen = set()  # event ids already handled (a real receiver keeps these in its database)

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        if not verify(self.secret, self.headers, body, time.time()):
            print(f"refused: bad or stale signature on {self.headers.get('webhook-id')!r}", file=sys.stderr, flush=True)
            self.send_response(401)
            self.end_headers()
            return
        msg_id = self.headers["webhook-id"]
        if msg_id not in self.seen:
            self.seen.add(msg_id)
            event = json.loads(body)
            print(json.dumps({"id": msg_id, "type": event["type"], "data": event["data"]}), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):  # quiet: stdout is for events
        pass


def main() -> int:
    secret = os.environ.get("COUNTERSIGN_WEBHOOK_SECRET", "")
    if not secret.startswith("whsec_"):
        print("set COUNTERSIGN_WEBHOOK_SECRET to the endpoint's whsec_... secret", file=sys.stderr)
        return 2
    Receiver.secret = secret
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Receiver)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
