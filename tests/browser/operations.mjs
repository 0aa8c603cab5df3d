// Validates every GraphQL operation the console sends against the SDL in
// schema.graphql (exported from the server's code and kept in sync by a
// test), so a schema change that would break a console page fails CI.
// Operations are the gql`...` documents in api/console/**/*.js; a string
// passed straight to request() or the WebSocket would escape the check, so
// it is refused too. Run by tests/tests/console.rs.
import { buildSchema, parse, validate } from 'graphql';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const schema = buildSchema(fs.readFileSync(path.join(root, 'schema.graphql'), 'utf8'));

function* sources(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) { if (entry.name !== 'vendor') yield* sources(p); } else if (p.endsWith('.js')) yield p;
  }
}

const problems = [];
const names = new Map();
let count = 0;
for (const file of sources(path.join(root, 'api/console'))) {
  const text = fs.readFileSync(file, 'utf8');
  const rel = path.relative(root, file);
  if (/\brequest\(\s*['"`]/.test(text)) problems.push(`${rel}: request() takes a gql\`...\` constant, not a string literal`);
  for (const m of text.matchAll(/gql`([^`]*)`/g)) {
    count += 1;
    const line = text.slice(0, m.index).split('\n').length;
    let doc;
    try { doc = parse(m[1]); } catch (e) { problems.push(`${rel}:${line}: ${e.message}`); continue; }
    for (const e of validate(schema, doc)) problems.push(`${rel}:${line}: ${e.message}`);
    for (const def of doc.definitions) {
      const name = def.name && def.name.value;
      if (!name) { problems.push(`${rel}:${line}: every console operation is named (it shows in the server's logs)`); continue; }
      if (names.has(name) && names.get(name) !== m[1]) problems.push(`${rel}:${line}: operation ${name} is also defined differently in ${names.get(name + ':file')}`);
      names.set(name, m[1]);
      names.set(name + ':file', rel);
    }
  }
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`console operations valid: ${count} operations checked against schema.graphql`);
