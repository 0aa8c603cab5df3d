// The invitee's journey (console_people.rs, on SQLite and PostgreSQL): a
// person who has only the invitation e-mail opens its link, sees who invited
// them to which organisation as which roles, creates an account, enrols an
// authenticator from the QR code (reading the secret printed beside it),
// stores the recovery codes shown once, joins, and approves the withdrawal
// waiting in the queue — without touching the API. Then: a recovery code
// signs in once and is refused the second time, a new set replaces the old
// one; later invitations are accepted with the account she has (signed in
// already, or signing in from the link); and used, expired, revoked and
// unknown links each get a clear page.
import { fx, assert, newPage, totp, visit, checkScreen, until, finish } from './lib.mjs';

const ivy = fx.invitee;
const page = await newPage('invitee');

// The link from the e-mail: who invites whom to what.
await page.goto(fx.link);
await page.waitForSelector('#invite-preview');
assert.equal(await page.textContent('#invitation [data-inviter]'), fx.inviter.name);
assert.equal(await page.textContent('#invitation [data-organization]'), fx.organization);
assert.equal(await page.textContent('#invitation [data-roles]'), 'approver and reviewer');
assert.match(await page.textContent('#invitation'), new RegExp(`${fx.inviter.email}.*Sent to ${ivy.email}`, 's'));
assert.equal(await page.locator('#nav').count(), 0, 'no navigation while signed out');
await checkScreen(page, 'invite-preview');

// A new account for the invited address.
await page.click('#invite-sign-up');
await page.waitForSelector('#sign-up-form');
assert.equal(await page.inputValue('#sign-up-form input[name=email]'), ivy.email);
await page.fill('#sign-up-form input[name=name]', ivy.name);
await page.fill('#sign-up-form input[name=password]', ivy.password);
await page.fill('#sign-up-form input[name=password2]', ivy.password);
await checkScreen(page, 'sign-up');
await page.click('#sign-up-form button[type=submit]');

// Two-factor from the QR code, with the secret beside it.
await page.waitForSelector('#invite-join[data-stage="enrol"] #totp-secret');
assert.equal(await page.locator('#totp-enrolment .qr svg').count(), 1, 'the server-rendered QR code is on screen');
const secret = (await page.textContent('#totp-secret')).replace(/\s+/g, '');
assert.match(secret, /^[A-Z2-7]{16,}$/);
await checkScreen(page, 'enrol');
await page.fill('#totp-confirm-form input[name=code]', totp(secret));
await page.click('#totp-confirm-form button[type=submit]');

// Recovery codes, shown once until dismissed.
await page.waitForSelector('#invite-join[data-stage="codes"]');
await page.click('[data-action="generate-codes"]');
await page.waitForSelector('#recovery-codes pre.secret');
const codes = (await page.textContent('#recovery-codes pre.secret')).split('\n').map((c) => c.trim()).filter(Boolean);
assert.equal(codes.length, 10, 'ten recovery codes');
await checkScreen(page, 'recovery-codes');
await page.click('#recovery-codes [data-action="dismiss-secret"]');

// Join, and land in the organisation's approval queue.
await page.waitForSelector('#invite-join[data-stage="join"]');
await page.click('#accept-invitation');
await page.waitForSelector('body[data-page="approvals"]');
await page.waitForSelector('body[data-live="connected"]');
assert.equal(await page.$eval('#org-switcher', (s) => s.options[s.selectedIndex].textContent), fx.organization);
const row = `#pending-table tr[data-request="${fx.withdrawal}"]`;
await page.waitForSelector(row);
await until(page, () => document.querySelector('#pending-badge')?.textContent.trim() === '1');
assert.match(await page.textContent(row), /1,250\.500000 USDC.*Cold wallet.*Max Maker/s);
await checkScreen(page, 'invitee-approvals');

// Approve the withdrawal waiting for her.
await page.click(`${row} [data-action="approve"]`);
await page.waitForSelector(row, { state: 'detached' });
await until(page, () => !document.querySelector('#pending-badge'));
await visit(page, `/requests/${fx.withdrawal}`);
await page.waitForSelector('#request-status[data-status="APPROVED"]');
assert.match(await page.textContent('#timeline'), new RegExp(`Approved \\(1 of 1\\).*${ivy.name}`, 's'));

// Her account: two-factor on, ten codes left.
await visit(page, '/security');
await page.waitForSelector('#codes-remaining');
assert.equal(await page.textContent('#codes-remaining'), '10');
assert.equal(await page.getAttribute('[data-two-factor]', 'data-two-factor'), 'on');
await checkScreen(page, 'security');

/** Signs out, then in with a recovery code; resolves to whether it let her in. */
async function signInWithCode(code, screen) {
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in-form');
  await page.fill('#sign-in-form input[name=email]', ivy.email);
  await page.fill('#sign-in-form input[name=password]', ivy.password);
  await page.click('#toggle-recovery');
  await page.fill('#sign-in-form input[name=recovery]', code);
  if (screen) await checkScreen(page, screen);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('body[data-page="approvals"] #pending-table, #sign-in-error');
  return (await page.locator('#sign-in-error').count()) === 0;
}

// A recovery code signs in once, in place of the authenticator's code…
assert.equal(await signInWithCode(codes[0], 'sign-in'), true, 'a recovery code signs in');
await visit(page, '/security');
await until(page, () => document.querySelector('#codes-remaining')?.textContent === '9');
// …and is refused the second time.
assert.equal(await signInWithCode(codes[0]), false, 'a used code does not sign in');
assert.equal(await page.locator('body[data-page="sign-in"]').count(), 1);
await checkScreen(page, 'sign-in-refused');
await page.fill('#sign-in-form input[name=recovery]', codes[1]);
await page.click('#sign-in-form button[type=submit]');
await page.waitForSelector('body[data-page="approvals"] #pending-table');

// A new set replaces the old one, shown once.
await visit(page, '/security');
await page.click('[data-action="regenerate-codes"]');
await page.click('dialog[open] [data-confirm]');
await page.waitForSelector('#recovery-codes pre.secret');
const fresh = (await page.textContent('#recovery-codes pre.secret')).split('\n').map((c) => c.trim()).filter(Boolean);
assert.equal(fresh.length, 10);
assert.ok(!fresh.includes(codes[2]), 'new codes');
await checkScreen(page, 'security-new-codes');
await page.click('#recovery-codes [data-action="dismiss-secret"]');
await until(page, () => document.querySelector('#codes-remaining')?.textContent === '10');
assert.equal(await signInWithCode(codes[2]), false, 'an old code stops working');
await page.fill('#sign-in-form input[name=recovery]', fresh[0]);
await page.click('#sign-in-form button[type=submit]');
await page.waitForSelector('body[data-page="approvals"] #pending-table');

// Signed in already, with the invited address: straight to joining.
await page.goto(fx.thirdLink);
await page.waitForSelector('#invite-join[data-stage="join"]');
await page.click('#accept-invitation');
await page.waitForSelector('body[data-page="approvals"]');
assert.equal(await page.$eval('#org-switcher', (s) => s.options[s.selectedIndex].textContent), 'Gamma Partners');

// Another organisation's link, opened signed out: she signs in with the account she has.
const again = await newPage('second invitation');
await again.goto(fx.secondLink);
await again.waitForSelector('#invite-preview');
await again.click('#invite-sign-in');
await again.waitForSelector('#sign-in-form');
assert.equal(await again.inputValue('#sign-in-form input[name=email]'), ivy.email);
await again.fill('#sign-in-form input[name=password]', ivy.password);
await again.fill('#sign-in-form input[name=totp]', totp(secret, 1));
await again.click('#sign-in-form button[type=submit]');
await again.waitForSelector('#invite-join[data-stage="join"]');
await again.click('#accept-invitation');
await again.waitForSelector('body[data-page="approvals"]');
assert.equal(await again.$eval('#org-switcher', (s) => s.options[s.selectedIndex].textContent), 'Beta Fund');
assert.deepEqual((await again.$$eval('#org-switcher option', (o) => o.map((x) => x.textContent))).sort(),
  ['Acme Treasury', 'Beta Fund', 'Gamma Partners']);
await again.context().close();

// Links that cannot be used say so, to anyone who opens them.
for (const [name, link, state] of [
  ['invite-used', fx.link, 'ACCEPTED'],
  ['invite-expired', fx.links.expired, 'EXPIRED'],
  ['invite-revoked', fx.links.revoked, 'REVOKED'],
  ['invite-unknown', fx.links.unknown, 'unknown'],
]) {
  const other = await newPage(name);
  await other.goto(link);
  await other.waitForSelector(`#invite-dead[data-state="${state}"]`);
  assert.equal(await other.locator('#sign-up-form, #invite-sign-up').count(), 0, `${name}: no way to sign up from it`);
  await checkScreen(other, name);
  await other.context().close();
}

await finish('invitee');
