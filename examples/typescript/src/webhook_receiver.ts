// A Countersign webhook receiver on Node.js 18+, with no run-time dependency.
//
// Countersign POSTs each event with three headers, in the Standard Webhooks
// format (https://www.standardwebhooks.com/):
//
//   webhook-id         the event's id: the same on every retry of this event
//   webhook-timestamp  Unix seconds when this attempt was signed
//   webhook-signature  "v1," + base64(HMAC-SHA256(secret, id + "." + timestamp + "." + body))
//
// The secret is the endpoint's `whsec_...` value, shown once when the
// endpoint was added; the HMAC key is the base64 after the prefix.
//
// This receiver verifies every request before it trusts a byte of it,
// refuses stale timestamps (a replayed capture), answers a retry of an event
// it already took with 204 without handling it again, and prints each new
// event as one JSON line on stdout. Answer 2xx quickly: Countersign retries
// anything else and waits at most 10 s per attempt.
//
//   export COUNTERSIGN_WEBHOOK_SECRET=whsec_...   # required
//   export PORT=8000                              # 0 picks a free port
//   node dist/webhook_receiver.js
//
// The first line printed is the address it listens on.

import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

/** How far a signature's timestamp may be from our clock (seconds). */
const TOLERANCE = 5 * 60;

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return Array.isArray(value) ? value[0] ?? "" : value ?? "";
}

/** Whether the request carries a valid, fresh Countersign signature. */
export function verify(secret: string, headers: IncomingHttpHeaders, body: Buffer, nowSeconds: number): boolean {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  if (!id || !/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > TOLERANCE) {
    return false;
  }
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const mac = createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest("base64");
  const expected = Buffer.from(`v1,${mac}`);
  // Several signatures may be sent, space-separated (during a secret rotation).
  return header(headers, "webhook-signature")
    .split(" ")
    .map((candidate) => Buffer.from(candidate))
    .some((candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected));
}

function main(): number {
  const secret = process.env.COUNTERSIGN_WEBHOOK_SECRET ?? "";
  if (!secret.startsWith("whsec_")) {
    console.error("set COUNTERSIGN_WEBHOOK_SECRET to the endpoint's whsec_... secret");
    return 2;
  }
  const seen = new Set<string>(); // event ids already handled (keep these in your database)
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.method !== "POST" || !verify(secret, req.headers, body, Date.now() / 1000)) {
        console.error(`refused: bad or stale signature on ${JSON.stringify(req.headers["webhook-id"])}`);
        res.writeHead(401).end();
        return;
      }
      const id = header(req.headers, "webhook-id");
      if (!seen.has(id)) {
        seen.add(id);
        const event = JSON.parse(body.toString("utf8"));
        console.log(JSON.stringify({ id, type: event.type, data: event.data }));
      }
      res.writeHead(204).end();
    });
  });
  server.listen(Number(process.env.PORT ?? "8000"), "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo;
    console.log(`listening on http://127.0.0.1:${port}/`);
  });
  return 0;
}

const status = main();
if (status !== 0) {
  process.exit(status);
}
