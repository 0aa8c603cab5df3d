// The GraphQL explorer, signed in: GraphiQL loads the schema through its own
// introspection query (which must pass the server's depth limit), shows the
// docs, and runs a query with the console's session.
import { fx, assert, signIn, finish, path } from './lib.mjs';

const owner = await signIn('owner');
await owner.goto(fx.base + '/explorer');
await owner.waitForSelector('.graphiql-container', { timeout: 15000 });
// The docs explorer lists the root types only once the schema has loaded.
await owner.click('button[aria-label="Show Documentation Explorer"]');
await owner.waitForSelector('.graphiql-doc-explorer >> text=QueryRoot', { timeout: 15000 });
const text = await owner.textContent('body');
assert.ok(!/Error fetching schema/i.test(text), 'the explorer fetched the schema');
// Autocomplete from the schema, then a query run with the console's session.
await owner.click('.graphiql-query-editor .CodeMirror');
await owner.keyboard.press('Control+A');
await owner.keyboard.press('Delete');
await owner.keyboard.type('{ viewer { user { ema');
await owner.waitForSelector('.CodeMirror-hints >> text=email', { timeout: 10000 });
await owner.keyboard.press('Enter');
await owner.keyboard.press('Control+Enter');
await owner.waitForFunction((email) => document.querySelector('.graphiql-response')?.textContent.includes(email),
  fx.users.owner.email, { timeout: 10000 });
await owner.screenshot({ path: path.join(fx.screenshots, 'explorer.png'), fullPage: true });
await finish('explorer');
