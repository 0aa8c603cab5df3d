// Every action reachable by keyboard: an approver signs in, approves one
// withdrawal and rejects another with a reason, with nothing but Tab, typing,
// Enter and Escape. On each screen on the way, every visible control is in
// the tab order. Started by tests/tests/console.rs, with fixture
// { users: { approver }, approve: <request id>, reject: <request id> }.
import { fx, assert, newPage, totp, finish } from './lib.mjs';

const page = await newPage('keyboard');

/** Presses Tab until the focused element matches `selector` (at most 80 times). */
async function tabTo(selector) {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement && document.activeElement.matches(s), selector)) return;
  }
  throw new Error(`Tab never reaches ${selector}`);
}

/** Every visible button, link and form control can take focus from the keyboard. */
async function allInTabOrder(name) {
  const stuck = await page.evaluate(() => [...document.querySelectorAll('a, button, input, select, textarea, summary')]
    .filter((el) => el.offsetParent !== null && !el.disabled && el.tabIndex < 0)
    .map((el) => el.outerHTML.slice(0, 120)));
  assert.deepEqual(stuck, [], `${name}: controls out of the tab order`);
}

await page.goto(fx.base + '/sign-in');
await page.waitForSelector('#sign-in-form');
// The first Tab offers the skip link.
await page.keyboard.press('Tab');
assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), 'Skip to content');
await allInTabOrder('sign-in');
await tabTo('#sign-in-form input[name=email]');
await page.keyboard.type(fx.users.approver.email);
await tabTo('#sign-in-form input[name=password]');
await page.keyboard.type(fx.users.approver.password);
await tabTo('#sign-in-form input[name=totp]');
await page.keyboard.type(totp(fx.users.approver.totp));
await page.keyboard.press('Enter');
await page.waitForSelector('body[data-page="approvals"]');
await page.waitForSelector(`[data-request="${fx.approve}"] [data-action=approve]`);
await allInTabOrder('approvals');

// Approve the first with Enter.
await tabTo(`[data-request="${fx.approve}"] [data-action=approve]`);
await page.keyboard.press('Enter');
await page.waitForSelector(`#pending [data-request="${fx.approve}"]`, { state: 'detached' });

// Reject the second: Enter opens the dialog, Escape leaves it, Enter again,
// a reason is typed, and Tab reaches the confirmation.
await tabTo(`[data-request="${fx.reject}"] [data-action=reject]`);
await page.keyboard.press('Enter');
await page.waitForSelector('dialog[open]');
await page.keyboard.press('Escape');
await page.waitForSelector('dialog[open]', { state: 'detached' });
assert.equal(await page.locator(`#pending [data-request="${fx.reject}"]`).count(), 1, 'Escape changed nothing');
await tabTo(`[data-request="${fx.reject}"] [data-action=reject]`);
await page.keyboard.press('Enter');
await page.waitForSelector('dialog[open]');
await allInTabOrder('reject dialog');
await tabTo('dialog[open] textarea');
await page.keyboard.type('Destination not on the payment run');
await tabTo('dialog[open] [data-confirm]');
await page.keyboard.press('Enter');
await page.waitForSelector(`#pending [data-request="${fx.reject}"]`, { state: 'detached' });

// The request page is a keyboard stop too: follow the link with Enter.
await page.goto(fx.base + '/requests/' + fx.reject);
await page.waitForSelector('body[data-page="requests"]');
await page.waitForSelector('text=Destination not on the payment run');
await allInTabOrder('request page');
await finish('keyboard');
