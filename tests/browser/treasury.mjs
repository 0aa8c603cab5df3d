// The treasury's day, each person in their own browser (console_people.rs):
// the maker sees only usable addresses (a cooling-off one disabled, with
// when it becomes usable) and the simulation's verdict as the amount changes,
// and submits; the approver's queue and badge update live, the request page
// approves; a second withdrawal is rejected with a reason after confirmation
// and the reason shows on its timeline; the signer executes and sees their cap
// move; the request page shows the settlement reference; a read-only member
// sees no action buttons; someone without an authenticator enrols from their
// account page.
import { fx, assert, newPage, signIn, totp, visit, checkScreen, until, finish, LAPTOP, PHONE } from './lib.mjs';

const badge = (page) => page.evaluate(() => {
  const b = document.querySelector('#pending-badge');
  return b ? b.textContent.trim() : '0';
});
const waitBadge = (page, n) => until(page, (want) => {
  const b = document.querySelector('#pending-badge');
  return (b ? b.textContent.trim() : '0') === want;
}, String(n));

// Ada watches her queue: the maker's address request waits for her.
const approver = await signIn('approver');
await approver.waitForSelector(`#pending-table tr[data-request="${fx.addressRequest}"]`);
await waitBadge(approver, 1);
const addressRow = await approver.textContent(`tr[data-request="${fx.addressRequest}"]`);
assert.match(addressRow, /Whitelist Payroll: USDC to 0x9A7011000000000000000000000000000000000A on ethereum/, 'a non-withdrawal request reads in words');
assert.ok(!addressRow.includes('{"'), 'no raw JSON in the queue');

// Max makes a withdrawal.
const maker = await signIn('maker');
await visit(maker, '/withdraw');
const usable = maker.locator(`[data-address="${fx.usableAddress}"] input[type=radio]`);
const cooling = maker.locator(`[data-address="${fx.coolingAddress}"] input[type=radio]`);
assert.equal(await usable.isEnabled(), true, 'the usable address is offered');
assert.equal(await cooling.isDisabled(), true, 'the cooling-off address is not');
assert.match(await maker.textContent(`[data-address="${fx.coolingAddress}"]`), /cooling off.*usable from .*\d/s);
await usable.check();
const amount = '#withdraw-form input[name=amount]';
// Over the organisation's per-withdrawal maximum: refused, naming the layer.
await maker.fill(amount, '60000');
await maker.waitForSelector('#verdict [data-outcome="REFUSED"] li[data-layer="ORGANIZATION"]');
assert.equal(await maker.isDisabled('#withdraw-form button[type=submit]'), true, 'a refused withdrawal cannot be submitted');
await checkScreen(maker, 'withdraw-refused');
// Within the threshold: no approval needed.
await maker.fill(amount, '800');
await maker.waitForSelector('#verdict [data-outcome="COMPLETES_NOW"]');
// Above the threshold: it will wait, saying why and for whom.
await maker.fill(amount, '2500');
await maker.waitForSelector('#verdict [data-outcome="WAITS_FOR_APPROVAL"]');
const verdict = await maker.textContent('#verdict');
assert.match(verdict, /wait for one approval/);
assert.match(verdict, /2,500\.00 USD is above the organisation's approval threshold of 1,000\.00 USD/);
assert.match(verdict, /Ada Approver <ada@acme\.test>/);
assert.match(await maker.textContent('#usage-after li[data-layer="ORGANIZATION"] [data-remaining]'), /^197,500\.00 USD$/);
await checkScreen(maker, 'withdraw');
await maker.click('#withdraw-form button[type=submit]');
await maker.waitForSelector('#withdraw-result [data-status="PENDING_APPROVAL"]');
assert.match(await maker.textContent('#withdraw-result'), /waiting for one approval/);
const first = (await maker.getAttribute('#withdraw-result a', 'href')).split('/').pop();

// It arrives in Ada's queue without a reload, and her badge counts it.
await approver.waitForSelector(`#pending-table tr[data-request="${first}"]`);
await waitBadge(approver, 2);
const row = await approver.textContent(`tr[data-request="${first}"]`);
for (const want of ['2,500.000000 USDC', '2,500.00 USD', 'Cold wallet', 'ethereum', 'Max Maker', 'max@acme.test', 'policy v1', '0 of 1']) {
  assert.ok(row.includes(want), `the queue row says ${want}: ${row}`);
}

// A second withdrawal, to be rejected.
await maker.fill(amount, '1500');
await maker.waitForSelector('#verdict [data-outcome="WAITS_FOR_APPROVAL"]');
await maker.click('#withdraw-form button[type=submit]');
await maker.waitForFunction((id) => {
  const a = document.querySelector('#withdraw-result a');
  return a && !a.getAttribute('href').endsWith(id);
}, first);
const second = (await maker.getAttribute('#withdraw-result a', 'href')).split('/').pop();
await approver.waitForSelector(`#pending-table tr[data-request="${second}"]`);
await waitBadge(approver, 3);
await checkScreen(approver, 'approvals');

// On a phone the navigation folds behind Menu, which carries the count; it
// opens on Menu and closes again once a page is chosen.
await approver.setViewportSize(PHONE);
assert.equal((await approver.textContent('.menu-toggle .badge')).trim(), '3');
assert.equal(await approver.isVisible('#nav'), false, 'folded');
await approver.click('.menu-toggle');
await approver.click('#nav a[href="/overview"]');
await approver.waitForSelector('body[data-page="overview"]');
assert.equal(await approver.isVisible('#nav'), false, 'folded again after choosing a page');
assert.equal(await approver.getAttribute('.menu-toggle', 'aria-expanded'), 'false');
await approver.setViewportSize(LAPTOP);
await visit(approver, '/approvals');

// Ada opens the first on its own page and approves it.
await approver.click(`tr[data-request="${first}"] a[href="/requests/${first}"]`);
await approver.waitForSelector('body[data-page="requests"] #request-summary');
assert.match(await approver.textContent('#request-policy'), /Withdrawal policy v1/);
await checkScreen(approver, 'request-pending');
await approver.click('#request-actions [data-action="approve"]');
await approver.waitForSelector('#request-status[data-status="APPROVED"]');
assert.match(await approver.textContent('#timeline'), /Approved \(1 of 1\).*Ada Approver/s);
await waitBadge(approver, 2);

// She rejects the second from the queue: it asks first, and needs a reason.
await visit(approver, '/approvals');
await approver.click(`tr[data-request="${second}"] [data-action="reject"]`);
await approver.waitForSelector('dialog[open] textarea[name=reason]');
await checkScreen(approver, 'reject-dialog');
await approver.click('dialog[open] [data-confirm]');
assert.ok(await approver.isVisible('dialog[open]'), 'no rejection without a reason');
await approver.fill('dialog[open] textarea[name=reason]', 'Duplicate of the first payout');
await approver.click('dialog[open] [data-confirm]');
await approver.waitForSelector(`tr[data-request="${second}"]`, { state: 'detached' });
await waitBadge(approver, 1);
await visit(approver, `/requests/${second}`);
await approver.waitForSelector('#request-status[data-status="REJECTED"]');
assert.equal(await approver.textContent('#timeline [data-rejection-reason]'), 'Duplicate of the first payout');
// The timeline names who rejected it.
assert.ok((await approver.textContent('#timeline [data-event="rejected"]')).includes(fx.users.approver.email), 'the rejecter is named');
await checkScreen(approver, 'request-rejected');
await visit(approver, '/history');
await approver.waitForSelector(`#history-table tr[data-request="${second}"][data-status="REJECTED"]`);
await approver.waitForSelector(`#history-table tr[data-request="${first}"][data-status="APPROVED"]`);
await checkScreen(approver, 'history');

// Sam executes the approved one and sees his cap move.
const signer = await signIn('signer');
await signer.waitForSelector(`#ready-table tr[data-request="${first}"]`);
assert.equal(await signer.textContent('#signer-cap [data-cap]'), '10,000.00 USD');
assert.equal(await signer.textContent('#signer-cap [data-used]'), '0.00 USD');
assert.equal(await signer.textContent('#signer-cap [data-remaining]'), '10,000.00 USD');
await checkScreen(signer, 'approvals-signer');
await signer.click(`#ready-table tr[data-request="${first}"] [data-action="execute"]`);
await signer.click('dialog[open] [data-confirm]');
await signer.waitForSelector(`#ready-table tr[data-request="${first}"]`, { state: 'detached' });
await until(signer, () => document.querySelector('#signer-cap [data-used]').textContent === '2,500.00 USD'
  && document.querySelector('#signer-cap [data-remaining]').textContent === '7,500.00 USD');
await visit(signer, `/requests/${first}`);
await signer.waitForSelector('#request-status[data-status="COMPLETED"]');
const reference = await signer.textContent('#settlement-reference');
assert.match(reference, /^stl_/);
assert.equal(await signer.textContent('#timeline [data-settlement]'), reference);
assert.match(await signer.textContent('#timeline [data-event="executed"]'), /Executed.*Sam Signer/s);
await checkScreen(signer, 'request-executed');

// Rita reads everything and can act on nothing.
const reader = await signIn('reader');
await reader.waitForSelector(`#pending-table tr[data-request="${fx.addressRequest}"]`);
assert.equal(await reader.locator('main [data-action]').count(), 0, 'no action buttons for a read-only member');
assert.equal(await badge(reader), '0');
assert.equal(await reader.locator('nav a[href="/withdraw"]').count(), 0);
await checkScreen(reader, 'approvals-reader');
await visit(reader, `/requests/${fx.addressRequest}`);
await reader.waitForSelector('#request-summary');
assert.equal(await reader.locator('main [data-action]').count(), 0, 'no action buttons on the request page either');
await visit(reader, `/requests/${first}`);
await reader.waitForSelector('#request-status[data-status="COMPLETED"]');
assert.equal(await reader.textContent('#settlement-reference'), reference);

// Nora has an account but no authenticator: signing in takes her to enrol.
const nora = await newPage('newcomer');
await nora.goto(fx.base + '/sign-in');
await nora.fill('#sign-in-form input[name=email]', fx.users.newcomer.email);
await nora.fill('#sign-in-form input[name=password]', fx.users.newcomer.password);
await nora.click('#sign-in-form button[type=submit]');
await nora.waitForSelector('body[data-page="security"] [data-two-factor="off"]');
await checkScreen(nora, 'security-not-enrolled');
await nora.click('#start-enrolment');
const noraSecret = (await (await nora.waitForSelector('#totp-secret')).textContent()).replace(/\s+/g, '');
await nora.fill('#totp-confirm-form input[name=code]', totp(noraSecret));
await nora.click('#totp-confirm-form button[type=submit]');
await nora.waitForSelector('[data-two-factor="on"]');
assert.equal(await nora.textContent('#codes-remaining'), '0');
await nora.click('[data-action="generate-codes"]');
await nora.waitForSelector('#recovery-codes pre.secret');
assert.equal((await nora.textContent('#recovery-codes pre.secret')).trim().split('\n').length, 10);
await nora.click('#recovery-codes [data-action="dismiss-secret"]');
await until(nora, () => document.querySelector('#codes-remaining')?.textContent === '10');

await finish('treasury');
