// Subscribes to requestEvents with graphql-ws, the reference client of the
// graphql-transport-ws protocol, once as a member (session token) and once as
// a signed API key, and prints the first event each receives as one JSON
// line: {"member": …, "key": …}. The fixture (WS_FIXTURE) gives the server's
// address, the organisation, the token and the key; the Rust test
// (tests/tests/graphql_over_http.rs) makes the event once both have
// subscribed.
import { createHmac } from "node:crypto";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const f = JSON.parse(process.env.WS_FIXTURE);
const url = f.base.replace(/^http/, "ws") + "/graphql/ws";
const query = "subscription($o:ID!){ requestEvents(orgId:$o){ kind request{ id workflow } } }";

function firstEvent(connectionParams) {
  const client = createClient({ url, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: false });
  return new Promise((resolve, reject) => {
    const stop = client.subscribe(
      { query, variables: { o: f.org } },
      {
        next: (result) => {
          stop();
          client.dispose();
          result.errors ? reject(new Error(JSON.stringify(result.errors))) : resolve(result.data.requestEvents);
        },
        error: (e) => reject(e instanceof Error ? e : new Error(String(e?.reason ?? JSON.stringify(e)))),
        complete: () => reject(new Error("the subscription completed without an event")),
      },
    );
  });
}

const nonce = String(Date.now());
const signature = createHmac("sha256", f.key.secret).update(nonce + "\n").digest("hex");
const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("no event within 60 s")), 60_000));
try {
  const [member, key] = await Promise.race([
    Promise.all([firstEvent({ token: f.token }), firstEvent({ apiKey: f.key.id, nonce, signature })]),
    timeout,
  ]);
  console.log(JSON.stringify({ member, key }));
  process.exit(0);
} catch (e) {
  console.error(String(e?.stack ?? e));
  process.exit(1);
}
