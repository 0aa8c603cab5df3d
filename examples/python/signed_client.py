#!/usr/bin/env python3
"""A service user's signed request to Countersign, with nothing but the
standard library.

Reads the organisation's balances with an API key (scope QUERY_FUNDS or
WITHDRAW) and prints the GraphQL `data` as JSON. Every request is signed:

    X-Api-Key:       the key id (cs_...)
    X-Api-Nonce:     an unsigned 64-bit integer, larger than any the key used
                     before (or, with the key's nonceWindow, unused and recent)
    X-Api-Signature: hex HMAC-SHA256, keyed with the secret's text, over
                     nonce + "\\n" + the exact body bytes sent

Settings come from the environment:

    COUNTERSIGN_URL         e.g. http://127.0.0.1:8080
    COUNTERSIGN_KEY_ID      cs_...
    COUNTERSIGN_KEY_SECRET  the secret shown once when the key was made
    COUNTERSIGN_ORG_ID      the organisation's id

Exits 1 with the server's error code when the request is refused.
The tests run this file against a real server (tests/tests/examples.rs).
"""

import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request

BALANCES = """
query($org: ID!) {
  viewer { serviceUser { name } }
  organization(id: $org) {
    accounts { id name holdings { asset amount held available usdValue } }
  }
}
"""


class Client:
    """Signs and sends GraphQL requests with one API key."""

    def __init__(self, url: str, key_id: str, secret: str):
        self.endpoint = url.rstrip("/") + "/graphql"
        self.key_id = key_id
        self.secret = secret.encode()
        # Microseconds since the epoch: larger than any nonce an earlier run
        # of this client used, and raised by one per request within a run.
        self.last_nonce = 0

    def next_nonce(self) -> str:
        self.last_nonce = max(self.last_nonce + 1, time.time_ns() // 1000)
        return str(self.last_nonce)

    def execute(self, query: str, variables: dict) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        nonce = self.next_nonce()
        signature = hmac.new(self.secret, nonce.encode() + b"\n" + body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            self.endpoint,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Api-Key": self.key_id,
                "X-Api-Nonce": nonce,
                "X-Api-Signature": signature,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as refused:
            # 401 (bad signature, used nonce, revoked key), 403, 429: the
            # body is GraphQL's error shape with a stable extensions.code.
            answer = json.load(refused)
        if answer.get("errors"):
            first = answer["errors"][0]
            code = (first.get("extensions") or {}).get("code", "UNKNOWN")
            raise RuntimeError(f"{code}: {first.get('message')}")
        return answer["data"]


def main() -> int:
    try:
        env = {name: os.environ[name] for name in ("COUNTERSIGN_URL", "COUNTERSIGN_KEY_ID", "COUNTERSIGN_KEY_SECRET", "COUNTERSIGN_ORG_ID")}
    except KeyError as missing:
        print(f"set {missing.args[0]} (see this file's docstring)", file=sys.stderr)
        return 2
    client = Client(env["COUNTERSIGN_URL"], env["COUNTERSIGN_KEY_ID"], env["COUNTERSIGN_KEY_SECRET"])
    try:
        data = client.execute(BALANCES, {"org": env["COUNTERSIGN_ORG_ID"]})
    except RuntimeError as refused:
        print(refused, file=sys.stderr)
        return 1
    print(json.dumps(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
