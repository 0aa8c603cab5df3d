// The graphql-http project's audit of the GraphQL-over-HTTP spec, run
// against the server at argv[2]. Prints one JSON line per audit and exits 1
// if any MUST or SHOULD audit is not `ok` (MAY audits are reported only).
import { serverAudits } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node graphql-http-audit.mjs <url of /graphql>");
  process.exit(2);
}
const results = [];
for (const audit of serverAudits({ url, fetchFn: fetch })) {
  const r = await audit.fn();
  const reason = r.status === "ok" ? undefined : String(r.reason?.message ?? r.reason);
  results.push({ id: audit.id, name: audit.name, status: r.status, reason });
}
for (const r of results) console.log(JSON.stringify(r));
const failing = results.filter((r) => r.status !== "ok" && /^(MUST|SHOULD)\b/.test(r.name));
console.error(`${results.length} audits, ${results.filter((r) => r.status === "ok").length} ok, ${failing.length} MUST/SHOULD not ok`);
process.exit(failing.length ? 1 : 0);
