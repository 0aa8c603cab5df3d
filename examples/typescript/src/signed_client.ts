/**
 * A service user's signed request to Countersign, in TypeScript on Node.js
 * (18 or later: the global `fetch`), with no dependency at run time.
 *
 * Reads the organisation's balances with an API key (scope QUERY_FUNDS or
 * WITHDRAW) and prints the GraphQL `data` as JSON. Every request is signed:
 *
 *   X-Api-Key:       the key id (cs_...)
 *   X-Api-Nonce:     an unsigned 64-bit integer, larger than any the key used
 *                    before (or, with the key's nonceWindow, unused and recent)
 *   X-Api-Signature: hex HMAC-SHA256, keyed with the secret's text, over
 *                    nonce + "\n" + the exact body bytes sent
 *
 * Settings come from the environment: COUNTERSIGN_URL, COUNTERSIGN_KEY_ID,
 * COUNTERSIGN_KEY_SECRET, COUNTERSIGN_ORG_ID. Exits 1 with the server's
 * error code when the request is refused.
 *
 * Build and run: `npm ci && npm run build && node dist/signed_client.js`.
 * The tests run it against a real server (tests/tests/examples.rs).
 */
import { createHmac } from "node:crypto";

const BALANCES = `
query($org: ID!) {
  viewer { serviceUser { name } }
  organization(id: $org) {
    accounts { id name holdings { asset amount held available usdValue } }
  }
}`;

interface GraphQLError {
  message: string;
  extensions?: { code?: string };
}

interface GraphQLAnswer<T> {
  data?: T;
  errors?: GraphQLError[];
}

/** Signs and sends GraphQL requests with one API key. */
export class Client {
  private lastNonce = 0n;

  constructor(
    private readonly url: string,
    private readonly keyId: string,
    private readonly secret: string,
  ) {}

  /** Microseconds since the epoch, raised by one per request within a run. */
  private nextNonce(): string {
    const now = BigInt(Date.now()) * 1000n;
    this.lastNonce = now > this.lastNonce ? now : this.lastNonce + 1n;
    return this.lastNonce.toString();
  }

  async execute<T>(query: string, variables: Record<string, unknown>): Promise<T> {
    const body = JSON.stringify({ query, variables });
    const nonce = this.nextNonce();
    const signature = createHmac("sha256", this.secret).update(`${nonce}\n`).update(body).digest("hex");
    const response = await fetch(`${this.url.replace(/\/$/, "")}/graphql`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "X-Api-Key": this.keyId,
        "X-Api-Nonce": nonce,
        "X-Api-Signature": signature,
      },
      body,
    });
    // 401 (bad signature, used nonce, revoked key), 403 and 429 carry
    // GraphQL's error shape too, with a stable extensions.code.
    const answer = (await response.json()) as GraphQLAnswer<T>;
    if (answer.errors?.length) {
      const [first] = answer.errors;
      throw new Error(`${first.extensions?.code ?? "UNKNOWN"}: ${first.message}`);
    }
    if (answer.data === undefined) {
      throw new Error(`INTERNAL: HTTP ${response.status} without data`);
    }
    return answer.data;
  }
}

function setting(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`set ${name} (see this file's header)`);
    process.exit(2);
  }
  return value;
}

async function main(): Promise<void> {
  const client = new Client(setting("COUNTERSIGN_URL"), setting("COUNTERSIGN_KEY_ID"), setting("COUNTERSIGN_KEY_SECRET"));
  try {
    const data = await client.execute<unknown>(BALANCES, { org: setting("COUNTERSIGN_ORG_ID") });
    console.log(JSON.stringify(data));
  } catch (refused) {
    console.error((refused as Error).message);
    process.exit(1);
  }
}

await main();
