// Shared by the console's journey scripts (people.mjs, admin.mjs, …), each
// started by a Rust test in tests/tests/ through tests::browser::run, which
// runs the real server, prepares an organisation and passes it in
// CONSOLE_FIXTURE: { base, chromium, screenshots, clockOffsetMs, users: {
// name: { email, password, totp } }, ...whatever the journey needs }.
//
// Every screen a journey visits is checked, not only looked at:
// `checkScreen` takes a screenshot at 1440×900 and at 390×844, fails if the
// page is wider than the window at either, and fails on any serious or
// critical axe-core violation.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

export const fx = JSON.parse(process.env.CONSOLE_FIXTURE);
fs.mkdirSync(fx.screenshots, { recursive: true });

/** Page errors and console errors, from every page: a journey ends with none. */
export const errors = [];

const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 secret, at the server's clock. */
export function totp(secret, stepOffset = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').replace(/\s+/g, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor((Date.now() + fx.clockOffsetMs) / 30000) + stepOffset));
  const mac = crypto.createHmac('sha1', key).update(counter).digest();
  const o = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

export const browser = await chromium.launch({
  executablePath: fx.chromium,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

/** A fresh browser context (its own session storage) with one page. */
export async function newPage(label, viewport = { width: 1440, height: 900 }) {
  const context = await browser.newContext({ acceptDownloads: true, viewport, permissions: ['clipboard-read', 'clipboard-write'] });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`${label}: ${e.message.slice(0, 300)}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${label} console: ${m.text().slice(0, 300)}`); });
  return page;
}

/** Signs `who` (a key of fx.users) in through the sign-in form; lands on the approval queue. */
export async function signIn(who, viewport) {
  const user = fx.users[who];
  const page = await newPage(who, viewport);
  await page.goto(fx.base + '/sign-in');
  await page.fill('#sign-in-form input[name=email]', user.email);
  await page.fill('#sign-in-form input[name=password]', user.password);
  if (user.totp) await page.fill('#sign-in-form input[name=totp]', totp(user.totp));
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('body[data-page="approvals"]');
  await page.waitForSelector('body[data-live="connected"]');
  return page;
}

/** Goes to a console address inside the app (no reload) and waits for its page. */
export async function visit(page, route) {
  await page.evaluate((r) => { history.pushState(null, '', r); dispatchEvent(new PopStateEvent('popstate')); }, route);
  await page.waitForSelector(`body[data-page="${route.split(/[/?]/)[1]}"]`);
  await page.waitForSelector('main [aria-busy="true"]', { state: 'detached' });
}

/** Runs axe-core on the page; fails on serious or critical violations. */
export async function axe(page, name) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(axeSource); // not a script tag: the console's CSP (rightly) refuses inline scripts
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`), [],
    `axe-core finds no serious or critical violation on ${name}`);
}

/** Scroll width against the window's: no page may be wider than its window. */
export async function assertNoOverflow(page, name) {
  const { scroll, inner } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
  assert.ok(scroll <= inner, `${name}: page is ${scroll}px wide in a ${inner}px window`);
}

export const LAPTOP = { width: 1440, height: 900 };
export const PHONE = { width: 390, height: 844 };

/**
 * Checks the screen `page` shows: axe-core, and no horizontal overflow at a
 * laptop's and a phone's width, with a full-page screenshot of each as
 * `<name>.png` and `<name>-phone.png`. The viewport is put back afterwards.
 */
export async function checkScreen(page, name) {
  const before = page.viewportSize();
  await axe(page, name);
  for (const [size, suffix] of [[LAPTOP, ''], [PHONE, '-phone']]) {
    await page.setViewportSize(size);
    await page.waitForTimeout(50);
    await assertNoOverflow(page, `${name}${suffix}`);
    await page.screenshot({ path: path.join(fx.screenshots, name + suffix + '.png'), fullPage: true });
  }
  await page.setViewportSize(before);
}

/** Waits until `fn` (run in the page) returns true, re-checking as live events arrive. */
export async function until(page, fn, arg, timeout = 8000) {
  await page.waitForFunction(fn, arg, { timeout });
}

/** Ends a journey: no page errors, then the line the Rust test looks for. */
export async function finish(name) {
  await browser.close();
  assert.deepEqual(errors, [], 'no errors in the pages');
  console.log(`${name} browser journey passed; screenshots in ${fx.screenshots}`);
}

export { assert, fs, path };
