// The risk officer's journey (tests/tests/console_admin.rs prepares four
// days of withdrawals by members and a service user's key, limits on every
// layer, a balance alert going low and healthy again, and well over a
// hundred audit records): usage against cap by name, the 30-day outflow
// chart and the balance-alert chart with their tables, and the audit trail
// filtered by actor, action and dates (kept in the address), paged to the
// very end, its chain verified, and exported as CSV with names.
import { fx, assert, fs, signIn, visit, checkScreen, until, finish } from './lib.mjs';

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const text = (page, sel) => page.textContent(sel).then((t) => t.replace(/\s+/g, ' ').trim());
/** "46,726.25 USD" from decimal strings, the way the console writes them. */
const usdText = (cents) => `${(cents / 100).toFixed(2).replace(/\B(?=(\d{3})+(?!\d))/g, ',')} USD`;
const cents = (s) => Math.round(Number(s) * 100);

const page = await signIn('risk');

// ---- Overview: holdings and usage, by name.
await visit(page, '/overview');
await page.waitForSelector('#usage [data-layer=ORGANIZATION][data-subject="Acme Treasury"]');
await page.waitForSelector('#usage [data-layer=SIGNER][data-subject="Sid Signer"]');
const keyRow = await page.getAttribute('#usage [data-layer=API_KEY]', 'data-subject');
assert.match(keyRow, /Payouts bot/, 'a key is named after its service user');
assert.ok(!UUID.test(await text(page, '#usage')), 'no ids in the usage table');
await checkScreen(page, 'risk-overview');

// ---- Risk: usage, outflow per layer over 30 days, the balance alert's history.
await visit(page, '/risk');
await page.waitForSelector('#risk-usage-table [data-subject="Sid Signer"]');
const usage = await text(page, '#risk-usage-table');
assert.ok(!UUID.test(usage), 'no ids in the risk usage table');
assert.match(await text(page, '#risk-usage-table [data-layer=ORGANIZATION]'), /100,000\.00 USD/, 'the organisation cap shows');
const total = fx.outflow.reduce((s, d) => s + cents(d.member) + cents(d.key), 0);
const keyTotal = fx.outflow.reduce((s, d) => s + cents(d.key), 0);
const today = fx.outflow[fx.outflow.length - 1];
await page.waitForSelector('#outflow-chart');
assert.equal(await page.$$eval('#outflow-chart g.series', (g) => g.length) >= 3, true, 'one line per layer subject');
assert.match(await text(page, '#outflow-totals [data-layer=ORGANIZATION]'), new RegExp(usdText(total).replace('.', '\\.')), 'the organisation outflow over 30 days');
assert.match(await text(page, '#outflow-totals [data-layer=ORGANIZATION]'), new RegExp(usdText(cents(today.member) + cents(today.key)).replace('.', '\\.')), "today's outflow");
assert.match(await text(page, '#outflow-totals [data-layer=API_KEY]'), new RegExp(usdText(keyTotal).replace('.', '\\.')), "the key's outflow");
assert.match(await page.$eval('#outflow-chart', (s) => s.getAttribute('aria-labelledby')), /\S+ \S+/, 'the chart has a title and a description');
await page.click('#outflow-table-toggle');
await page.waitForSelector('#outflow-table table');
assert.equal(await page.$$eval('#outflow-table tbody tr', (r) => r.length), fx.outflow.length, 'one row per day with outflow');
assert.match(await text(page, '#outflow-table'), new RegExp(fx.firstDay), 'the first day is in the table');
await page.waitForSelector('#alert-chart');
await page.click('#alert-table-toggle');
await page.waitForSelector('#alert-table table');
const alertRows = await text(page, '#alert-table');
assert.match(alertRows, /Low/i);
assert.match(alertRows, /Healthy/i);
await checkScreen(page, 'risk');

// ---- Audit: verified chain, paging to the very first record.
await visit(page, '/audit');
await page.waitForSelector('#audit-verification[data-valid=true]');
assert.match(await text(page, '#audit-verification'), new RegExp(`All ${fx.records} records`));
await page.waitForSelector('#audit-table tbody tr');
assert.ok(!(await page.$$eval('#audit-table [data-actor]', (r) => r.some((x) => !x.dataset.actor))), 'every record names its actor');
await checkScreen(page, 'risk-audit');
const seen = new Set();
for (let pages = 1; ; pages += 1) {
  for (const seq of await page.$$eval('#audit-table tbody tr', (rs) => rs.map((r) => r.dataset.seq))) seen.add(seq);
  if (await page.getAttribute('#audit-page', 'data-last') === 'true') break;
  assert.ok(pages < 20, 'the trail ends');
  await page.click('#audit-older');
  await page.waitForSelector(`#audit-page[data-page="${pages + 1}"]`);
}
assert.ok(seen.size >= fx.records, `every record was paged through: ${seen.size} of ${fx.records}`);
assert.ok(seen.has('1'), 'the last page holds the first record');
await checkScreen(page, 'risk-audit-last-page');
await page.click('#audit-newer');
await page.waitForSelector('#audit-page:not([data-last=true])');

// ---- Filters: actor, action and dates, kept in the address.
await page.selectOption('#audit-filters select[name=actor]', { label: 'Olivia Owner <olivia@example.com>' });
await page.selectOption('#audit-filters select[name=action]', 'SET_BALANCE_ALERT');
await page.fill('#audit-filters input[name=since]', fx.today);
await page.fill('#audit-filters input[name=until]', fx.today);
await page.click('#audit-filters button[type=submit]');
await until(page, () => location.search.includes('action=SET_BALANCE_ALERT') && location.search.includes('since='));
await page.waitForSelector('#audit-page[data-page="1"][data-filter*=SET_BALANCE_ALERT][data-filter*=since]');
await until(page, () => [...document.querySelectorAll('#audit-table tbody tr')].every((r) => r.dataset.action === 'SET_BALANCE_ALERT' && r.dataset.actor === 'Olivia Owner'));
const firstPage = await page.$$eval('#audit-table tbody tr', (r) => r.length);
// The filtered trail pages too: count it to its end.
let filtered = firstPage;
for (let pages = 1; await page.getAttribute('#audit-page', 'data-last') !== 'true'; pages += 1) {
  await page.click('#audit-older');
  await page.waitForSelector(`#audit-page[data-page="${pages + 1}"]`);
  await until(page, () => [...document.querySelectorAll('#audit-table tbody tr')].every((r) => r.dataset.action === 'SET_BALANCE_ALERT'));
  filtered += await page.$$eval('#audit-table tbody tr', (r) => r.length);
}
assert.equal(filtered, fx.ownerAlertsToday, "every one of today's balance-alert changes by the owner");
const address = page.url();
assert.match(address, /actor=[0-9a-f-]{36}/);
await checkScreen(page, 'risk-audit-filtered');
// The address alone brings the same view back.
await page.goto(address);
await page.waitForSelector('#audit-table tbody tr');
assert.equal(await page.$$eval('#audit-table tbody tr', (r) => r.length), firstPage, 'the filters come back from the address');
assert.equal(await page.inputValue('#audit-filters select[name=action]'), 'SET_BALANCE_ALERT');
// The first day only: its two changes.
await page.fill('#audit-filters input[name=since]', fx.firstDay);
await page.fill('#audit-filters input[name=until]', fx.firstDay);
await page.click('#audit-filters button[type=submit]');
await page.waitForSelector(`#audit-page[data-filter*="${fx.firstDay}T"]`);
await until(page, (n) => document.querySelectorAll('#audit-table tbody tr').length === n, fx.ownerAlertsFirstDay);

// ---- CSV of the filtered trail, with names.
const [download] = await Promise.all([page.waitForEvent('download'), page.click('#audit-csv')]);
assert.match(download.suggestedFilename(), /^audit-acme-treasury-\d{4}-\d{2}-\d{2}\.csv$/);
const csv = fs.readFileSync(await download.path(), 'utf8');
assert.match(csv, /Olivia Owner/, 'the CSV names the actor');
assert.match(csv, /SET_BALANCE_ALERT/);
assert.ok(!/Mark Maker|Sid Signer/.test(csv), 'the CSV holds only the filtered records');

await finish('risk');
