// End-to-end browser test of the web console, in Debian's headless Chromium
// driven by Playwright. Started by tests/tests/console.rs, which runs the
// real server, prepares an organisation and passes it in CONSOLE_FIXTURE:
//   { base, chromium, screenshots, clockOffsetMs,
//     users: { owner, maker, approver, signer, reader: { email, password, totp } } }
// A maker requests a withdrawal, an approver sees it appear live and
// approves, a signer executes, the usage bar moves; a read-only member sees
// no action buttons. Screenshots of the main pages go to `screenshots`.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const fx = JSON.parse(process.env.CONSOLE_FIXTURE);
fs.mkdirSync(fx.screenshots, { recursive: true });
const errors = [];

/** RFC 6238 code (SHA-1, 6 digits, 30 s) at the server's clock. */
function totp(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor((Date.now() + fx.clockOffsetMs) / 30000)));
  const mac = crypto.createHmac('sha1', key).update(counter).digest();
  const o = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

const browser = await chromium.launch({
  executablePath: fx.chromium,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

async function signIn(who) {
  const user = fx.users[who];
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`${who}: ${e.message.slice(0, 300)}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${who} console: ${m.text().slice(0, 300)}`); });
  await page.goto(fx.base + '/');
  await page.fill('#sign-in-form input[name=email]', user.email);
  await page.fill('#sign-in-form input[name=password]', user.password);
  await page.fill('#sign-in-form input[name=totp]', totp(user.totp));
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('body[data-page="approvals"]');
  await page.waitForSelector('body[data-live="connected"]');
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(fx.screenshots, name + '.png'), fullPage: true });
}

async function visit(page, route) {
  await page.evaluate((r) => { location.hash = r; }, '#/' + route);
  await page.waitForSelector(`body[data-page="${route}"]`);
}

try {
  const approver = await signIn('approver');
  await approver.evaluate(() => { window.notReloaded = true; });
  const maker = await signIn('maker');

  // The maker requests a withdrawal; it waits for approval.
  await maker.fill('#withdraw-form input[name=amount]', '250');
  await maker.click('#withdraw-form button[type=submit]');
  const pending = await maker.waitForSelector('#requests tr[data-status="PENDING_APPROVAL"]');
  const id = await pending.getAttribute('data-request-id');
  assert.equal(await maker.locator(`tr[data-request-id="${id}"] button[data-action=approve]`).count(), 0,
    'no approving one\'s own request');

  // The approver sees it arrive without reloading, and approves.
  const row = `tr[data-request-id="${id}"]`;
  await approver.waitForSelector(`${row}[data-status="PENDING_APPROVAL"]`, { timeout: 5000 });
  assert.equal(await approver.evaluate(() => window.notReloaded), true, 'the row arrived live, not by a reload');
  assert.equal(await approver.locator(`${row} button[data-action=execute]`).count(), 0, 'approvers do not sign');
  await shot(approver, 'approvals-live');
  await approver.click(`${row} button[data-action=approve]`);
  await approver.waitForSelector(`${row}[data-status="APPROVED"]`);

  // The signer executes; everyone's queue shows it completed.
  const signer = await signIn('signer');
  await signer.click(`${row} button[data-action=execute]`);
  await signer.waitForSelector(`${row}[data-status="COMPLETED"]`);
  await maker.waitForSelector(`${row}[data-status="COMPLETED"]`, { timeout: 5000 });
  await shot(signer, 'approvals-completed');

  // The organisation's usage bar moved by 250.
  await visit(maker, 'overview');
  const org = maker.locator('#usage tr[data-usage-layer="ORGANIZATION"]');
  assert.equal((await org.locator('td.used').textContent()).trim(), '250');
  const width = await org.locator('.bar > span').evaluate((el) => el.style.width);
  assert.equal(width, '5%', 'used 250 of a 5000 cap');
  await shot(maker, 'overview');

  // A read-only member sees the queue and no action buttons anywhere.
  const reader = await signIn('reader');
  assert.ok(await reader.locator('#requests tr[data-request-id]').count() >= 1);
  assert.equal(await reader.locator('button[data-action]').count(), 0, 'no action buttons for a reader');
  assert.equal(await reader.locator('#withdraw-form').count(), 0);
  await visit(reader, 'members');
  assert.equal(await reader.locator('#invite-form').count(), 0);
  await visit(reader, 'policies');
  assert.equal(await reader.locator('#policy-form, button[data-action]').count(), 0);
  await shot(reader, 'reader-policies');

  // The owner: members, policies with lock state, a new key shown once, the
  // audit trail and its CSV, and a second organisation that is not ready.
  const owner = await signIn('owner');
  await visit(owner, 'members');
  assert.ok(await owner.locator('#members tr').count() >= 6);
  await shot(owner, 'members');
  // Roles are changed through the same governed requests.
  const readerRoles = owner.locator('select[aria-label="Roles of reader@example.com"]');
  await readerRoles.selectOption(['REVIEWER']);
  await owner.locator('#members tr', { has: readerRoles }).locator('button[data-action=set-roles]').click();
  // Read back from the server (leave the page and return) until it shows.
  let saved = '';
  for (let i = 0; i < 20 && saved !== 'REVIEWER'; i++) {
    await owner.waitForTimeout(250);
    await visit(owner, 'overview');
    await visit(owner, 'members');
    saved = await owner.locator('select[aria-label="Roles of reader@example.com"]')
      .evaluate((s) => [...s.selectedOptions].map((o) => o.value).join());
  }
  assert.equal(saved, 'REVIEWER', 'the new roles were saved');
  await visit(owner, 'policies');
  await owner.waitForSelector('#policies tr[data-workflow="INITIATE_WITHDRAWAL"] button[data-action=lock]');
  await shot(owner, 'policies');
  await visit(owner, 'addresses');
  await shot(owner, 'addresses');
  await visit(owner, 'service-users');
  await owner.fill('#service-user-form input[name=name]', 'payments-backend');
  await owner.check('#service-user-form input[value=QUERY_FUNDS]');
  await owner.click('#service-user-form button[type=submit]');
  const secret = await owner.waitForSelector('#new-secret .secret');
  assert.ok((await secret.textContent()).length >= 32, 'the secret is shown');
  assert.ok((await owner.textContent('#new-secret')).includes('Shown once'));
  await shot(owner, 'service-user-secret');
  await visit(owner, 'audit');
  assert.ok((await owner.textContent('#main')).includes('verified'));
  const [download] = await Promise.all([owner.waitForEvent('download'), owner.click('#export-csv')]);
  assert.match(download.suggestedFilename(), /\.csv$/);
  const csv = fs.readFileSync(await download.path(), 'utf8');
  assert.ok(csv.split('\n').length > 10, 'the CSV holds the trail');
  await shot(owner, 'audit');
  const fresh = await owner.locator('#org-switcher option', { hasText: 'Fresh' }).getAttribute('value');
  await owner.selectOption('#org-switcher', fresh);
  await owner.waitForSelector('#banner:not([hidden])');
  assert.match(await owner.textContent('#banner'), /SIGNER/);
  await shot(owner, 'not-ready-banner');

  // The explorer is served locally and runs.
  await owner.goto(fx.base + '/explorer');
  await owner.waitForSelector('.graphiql-container', { timeout: 15000 });
  await shot(owner, 'explorer');

  assert.deepEqual(errors, [], 'no errors in the pages');
  console.log('console browser test passed; screenshots in ' + fx.screenshots);
} finally {
  await browser.close();
}
