// The admin's journey (tests/tests/console_admin.rs prepares the
// organisation): every governed setting changed from the console alone —
// members, service users and keys, webhooks, policies, limits of each layer, balance
// alert and pause, withdrawal window, delegations, approval notices,
// addresses and cooling-off — each change telling whether it completed or
// waits for approval. A new key's secret stays on screen, copyable, while
// live events re-read the page, until dismissed. A second admin (through
// the API) makes those live events and approves what waits.
import { fx, assert, signIn, visit, checkScreen, until, finish } from './lib.mjs';

/** GraphQL as another member (the second admin), straight to the API. */
async function as(token, query, variables = {}) {
  const res = await fetch(fx.base + '/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  assert.ok(!body.errors, JSON.stringify(body.errors));
  return body.data;
}
const approve = (id) => as(fx.admin2Token, 'mutation($r:ID!){ approveRequest(requestId:$r){ id status } }', { r: id });

/** Waits for the outcome notice of the change `label` with `status` (COMPLETED, PENDING_APPROVAL, FAILED). */
async function outcome(page, label, status = 'COMPLETED') {
  await until(page, ([l, s]) => [...document.querySelectorAll('.outcome')].some((o) => o.textContent.includes(l) && o.dataset.outcome === s), [label, status])
    .catch(async (e) => {
      const seen = await page.$$eval('.outcome, .toast', (os) => os.map((o) => `${o.dataset.outcome || 'toast'}: ${o.textContent.trim()}`));
      throw new Error(`no "${label}" outcome ${status}; on screen: ${JSON.stringify(seen)}\n${e.message}`);
    });
}

/** Confirms the open modal dialog. */
async function confirm(page) {
  await page.click('dialog[open] [data-confirm]');
  await page.waitForSelector('dialog[open]', { state: 'detached' }).catch(() => {});
  await until(page, () => !document.querySelector('dialog[open]'));
}

const page = await signIn('owner');

// ---- Overview: holdings in each asset's precision and in USD.
await visit(page, '/overview');
await page.waitForSelector('[data-asset=BTC]');
assert.match(await page.textContent('[data-asset=BTC]'), /1\.25000000 BTC/, 'BTC in its eight places');
assert.match(await page.textContent('[data-asset=USDC]'), /125,000\.50/, 'thousands grouped');
await checkScreen(page, 'admin-overview');

// ---- Members: invite, change roles, grant and revoke, remove.
await visit(page, '/members');
await page.waitForSelector('[data-member="max@example.com"]');
await checkScreen(page, 'admin-members');
await page.fill('#invite-form input[type=email]', 'nina@example.com');
await page.check('#invite-form input[value=APPROVER]');
await page.click('#invite-form button[type=submit]');
await outcome(page, 'Invite nina@example.com');
await page.waitForSelector('[data-invitation="nina@example.com"]');
assert.match(await page.textContent('[data-invitation="nina@example.com"]'), /Maker, Approver/);
await page.click('[data-invitation="nina@example.com"] button');
await confirm(page);
await outcome(page, 'Revoke the invitation to nina@example.com');
await page.waitForSelector('[data-invitation="nina@example.com"][data-status=REVOKED]');

await page.click('[data-member="max@example.com"] [data-action=manage]');
await page.waitForSelector('#member-editor');
await page.check('#roles-form input[value=APPROVER]');
await page.click('#roles-form button[type=submit]');
await outcome(page, "Change Max Maker's roles");
await page.waitForSelector('[data-member="max@example.com"] [data-roles="MAKER,APPROVER"]');

await page.selectOption('#grant-form select[name=workflow]', 'MANAGE_ADDRESSES');
await page.selectOption('#grant-form select[name=action]', 'EXECUTE');
await page.click('#grant-form button[type=submit]');
await outcome(page, 'Grant execute on manage addresses to Max Maker');
await page.waitForSelector('#grants [data-grant="MANAGE_ADDRESSES:EXECUTE"]');
await checkScreen(page, 'admin-member-editor');
await page.click('#grants [data-grant="MANAGE_ADDRESSES:EXECUTE"] button');
await outcome(page, 'Revoke execute · manage addresses from Max Maker');
await page.waitForSelector('#grants [data-grant="MANAGE_ADDRESSES:EXECUTE"]', { state: 'detached' });

await page.click('#member-editor [data-action=remove-member]');
await page.waitForSelector('dialog[open]');
await checkScreen(page, 'admin-remove-member-dialog');
await confirm(page);
await outcome(page, 'Remove Max Maker');
await page.waitForSelector('[data-member="max@example.com"]', { state: 'detached' });

// ---- Service users: a new secret stays while live events re-read the page.
await visit(page, '/service-users');
await page.fill('#new-service-user-form input[name=name]', 'Payouts bot');
await page.check('#new-service-user-form input[value=WITHDRAW]');
await page.click('#new-service-user-form button[type=submit]');
await outcome(page, 'Create the service user Payouts bot');
await page.waitForSelector('.secret-card pre.secret');
const secret = (await page.textContent('.secret-card pre.secret')).trim();
assert.ok(secret.length >= 20, `a secret is shown: ${secret}`);
// Someone else's changes arrive live: the page re-reads, the secret stays.
await as(fx.admin2Token, 'mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:"Ledger sync",scopes:[QUERY_LEDGER]}){ request{ status } } }', { o: fx.org });
await page.waitForSelector('[data-service-user="Ledger sync"]');
await as(fx.admin2Token, 'mutation($o:ID!){ inviteMember(orgId:$o,email:"live@example.com",roles:[READ_ONLY]){ request{ status } } }', { o: fx.org });
await page.waitForTimeout(800);
assert.equal((await page.textContent('.secret-card pre.secret')).trim(), secret, 'the secret is still on screen after live re-reads');
await page.click('.secret-card [data-action=copy-secret]');
assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret, 'the copy button copies the secret');
await checkScreen(page, 'admin-service-user-secret');
await page.click('.secret-card [data-action=dismiss-secret]');
await page.waitForSelector('.secret-card', { state: 'detached' });

const bot = '[data-service-user="Payouts bot"]';
const keyId = await page.getAttribute(`${bot} [data-key]`, 'data-key');
await page.click(`${bot} [data-key="${keyId}"] [data-action=edit-key]`);
await page.waitForSelector('#key-editor');
await page.check('#key-editor input[value=QUERY_LEDGER]');
await page.fill('#key-editor input[name=ipAllowlist]', '203.0.113.0/24, 2001:db8::/32');
await page.click('#key-editor button[type=submit]');
await outcome(page, `Change key ${keyId}`);
await until(page, (s) => document.querySelector(s).textContent.includes('Query ledger'), `${bot} [data-key="${keyId}"]`);

await page.click(`${bot} [data-key="${keyId}"] [data-action=rotate]`);
await page.selectOption('dialog[open] select[name=grace]', 'PT6H');
await checkScreen(page, 'admin-rotate-dialog');
await confirm(page);
await outcome(page, `Rotate key ${keyId}`);
await page.waitForSelector('.secret-card pre.secret');
assert.notEqual((await page.textContent('.secret-card pre.secret')).trim(), secret, 'rotation shows a new secret');
await page.waitForSelector(`${bot} [data-key="${keyId}"] [data-grace]`);
await page.click('.secret-card [data-action=dismiss-secret]');

await page.click(`${bot} [data-action=add-key]`);
await page.click('#new-key-form button[type=submit]');
await outcome(page, 'Add a key to Payouts bot');
await page.waitForSelector('.secret-card pre.secret');
await page.click('.secret-card [data-action=dismiss-secret]');
await until(page, (s) => document.querySelectorAll(s).length === 2, `${bot} tr[data-key]`);
const second = await page.$$eval(`${bot} tr[data-key]`, (rows) => rows.map((r) => r.dataset.key));
const extra = second.find((k) => k !== keyId);
await page.click(`${bot} [data-key="${extra}"] [data-action=revoke]`);
await confirm(page);
await outcome(page, `Revoke key ${extra}`);
await page.waitForSelector(`${bot} [data-key="${extra}"][data-status=REVOKED]`);

await page.click('[data-service-user="Ledger sync"] [data-action=remove-service-user]');
await confirm(page);
await outcome(page, 'Remove Ledger sync');
await page.waitForSelector('#removed-service-users [data-removed-service-user="Ledger sync"]');
assert.equal(await page.$('[data-service-user="Ledger sync"]'), null, 'a removed service user leaves the active list');
await checkScreen(page, 'admin-service-users');

// ---- Webhooks: an endpoint, its secret shown once, its delivery log, a resend, removal.
const hookUrl = 'http://127.0.0.1:9/hook'; // nothing listens: every attempt fails, as a receiver that is down would
await visit(page, '/webhooks');
await page.fill('#new-endpoint-form input[name=url]', hookUrl);
await page.check('#new-endpoint-form input[value=PERMISSION]');
await page.click('#new-endpoint-form button[type=submit]');
await outcome(page, `Add the endpoint ${hookUrl}`);
await page.waitForSelector('.secret-card pre.secret');
assert.match((await page.textContent('.secret-card pre.secret')).trim(), /^whsec_/, 'the signing secret is shown once');
await page.click('.secret-card [data-action=dismiss-secret]');
const endpoint = `[data-endpoint="${hookUrl}"]`;
await page.waitForSelector(endpoint);
// A permission change (the second admin's) is sent, fails, and waits for its retry.
await as(fx.admin2Token, 'mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:"Hook test",scopes:[QUERY_FUNDS]}){ request{ status } } }', { o: fx.org });
// Attempts are not live events: the page re-reads its log every few seconds.
const rows = `${endpoint} tr[data-delivery]`;
const attempted = (sel) => [...document.querySelectorAll(sel)].filter((r) => r.dataset.status === 'PENDING'
  && r.textContent.includes('permission.changed') && r.querySelector('[data-action=redeliver]')).map((r) => r.dataset.delivery)[0];
await until(page, (sel) => [...document.querySelectorAll(sel)].some((r) => r.dataset.status === 'PENDING'
  && r.textContent.includes('permission.changed') && r.querySelector('[data-action=redeliver]')), rows, 15000);
const delivery = await page.evaluate(attempted, rows);
assert.match(await page.textContent(`[data-delivery="${delivery}"]`), /No answer.*[Cc]onnect/);
await checkScreen(page, 'admin-webhooks');
await page.click(`[data-delivery="${delivery}"] [data-action=redeliver]`);
await until(page, () => [...document.querySelectorAll('.outcome')].some((o) => /Send evt_.* again: done/.test(o.textContent)));
await page.click(`${endpoint} [data-action=remove-endpoint]`);
await confirm(page);
await outcome(page, `Remove ${hookUrl}`);
await page.waitForSelector(endpoint, { state: 'detached' });

// ---- Policies: set, lock, and unlock, which waits for the second admin.
await visit(page, '/policies');
const wd = '#policy-INITIATE_WITHDRAWAL';
await page.fill(`${wd} input[name=approvals]`, '1');
await page.fill(`${wd} input[name=threshold]`, '5,000');
await page.click(`${wd} [data-action=set-policy]`);
await outcome(page, 'Set the initiate withdrawal policy');
await page.waitForSelector(`${wd} [data-version="1"]`);
await page.click(`${wd} [data-action=lock-policy]`);
await confirm(page);
await outcome(page, 'Lock the initiate withdrawal policy');
await page.waitForSelector(`${wd} [data-locked=true]`);
await page.click(`${wd} [data-action=unlock-policy]`);
await outcome(page, 'Unlock the initiate withdrawal policy', 'PENDING_APPROVAL');
assert.match(await page.textContent('.outcome'), /waiting for one approval/);
const unlockHref = await page.getAttribute('.outcome a', 'href');
assert.match(unlockHref, /^\/requests\/[0-9a-f-]{36}$/, 'the outcome links to the request');
await checkScreen(page, 'admin-policies-waiting');
await approve(unlockHref.split('/').pop());
await page.waitForSelector(`${wd} [data-locked=false]`);

// ---- Limits of every layer.
await visit(page, '/limits');
await page.click('#limits-organization [data-action=set-limits]');
await page.fill('#limits-organization input[name=perTx]', '25000');
await page.fill('#limits-organization input[name=daily]', '100,000');
await page.click('#limits-organization [data-limits-form] button[type=submit]');
await outcome(page, 'Set the limits of Acme Treasury');
await until(page, () => document.querySelector('#limits-organization tbody').textContent.includes('100,000.00 USD'));
await page.click(`#limits-api-keys [data-subject="Payouts bot · ${keyId}"] [data-action=set-limits]`);
await page.fill('#limits-api-keys input[name=perTx]', '1000');
await page.fill('#limits-api-keys input[name=daily]', '5000');
await page.click('#limits-api-keys [data-limits-form] button[type=submit]');
await outcome(page, `Set the limits of Payouts bot · ${keyId}`);
await until(page, (k) => document.querySelector(`#limits-api-keys [data-subject="Payouts bot · ${k}"]`).textContent.includes('5,000.00 USD'), keyId);
await page.click('#limits-signers [data-subject="Sam Signer"] [data-action=set-limits]');
await page.fill('#limits-signers input[name=perTx]', '2000');
await page.fill('#limits-signers input[name=daily]', '20000');
await page.fill('#limits-signers input[name=threshold]', '1500');
await page.click('#limits-signers [data-limits-form] button[type=submit]');
await outcome(page, 'Set the limits of Sam Signer');
await until(page, () => document.querySelector('#limits-signers [data-subject="Sam Signer"]').textContent.includes('1,500.00 USD'));
await checkScreen(page, 'admin-limits');

// ---- Settings: balance alert and pause, withdrawal window, delegations, notices.
await visit(page, '/settings');
// By keyboard alone: type the threshold and press Enter.
await page.focus('#alert-form input[name=threshold]');
await page.keyboard.type('100000');
await page.keyboard.press('Enter');
await outcome(page, 'Set the balance alert to 100,000.00 USD');
await until(page, () => document.querySelector('#alert-threshold').textContent.includes('100,000.00'));
await page.click('#pause-on');
await outcome(page, 'Pause withdrawals while the balance is low');
await page.waitForSelector('#pause-off');
await page.fill('#window-form input[name=timeZone]', 'Europe/Zurich');
await page.fill('#window-form input[name=opens]', '08:00');
await page.fill('#window-form input[name=closes]', '18:00');
await page.uncheck('#window-form input[value=FRI]');
await page.selectOption('#window-form select[name=outside]', 'REQUIRE_APPROVAL');
await page.click('#window-form button[type=submit]');
await outcome(page, 'Set the withdrawal window');
await until(page, () => /Mon, Tue, Wed, Thu, 08:00–18:00 \(Europe\/Zurich\)/.test(document.querySelector('#window-now').textContent));
await page.selectOption('#delegate-form select[name=to]', { label: 'Sam Signer' });
await page.selectOption('#delegate-form select[name=workflow]', 'MANAGE_ADDRESSES');
await page.click('#delegate-form button[type=submit]');
await outcome(page, "Lend Olivia Owner's approval on manage addresses to Sam Signer");
await page.waitForSelector('[data-delegation="Olivia Owner→Sam Signer"][data-state=ACTIVE]');
await checkScreen(page, 'admin-settings');
// By keyboard alone: the Revoke button, then the dialog's confirm button.
await page.focus('[data-delegation="Olivia Owner→Sam Signer"] button');
await page.keyboard.press('Enter');
await page.waitForSelector('dialog[open]');
for (let i = 0; i < 5 && !(await page.evaluate(() => document.activeElement.hasAttribute('data-confirm'))); i += 1) await page.keyboard.press('Tab');
await page.keyboard.press('Enter');
await until(page, () => !document.querySelector('dialog[open]'));
await outcome(page, 'Revoke the delegation from Olivia Owner to Sam Signer');
await page.waitForSelector('[data-delegation="Olivia Owner→Sam Signer"][data-state=REVOKED]');
const noticesBefore = await page.getAttribute('[data-notices]', 'data-notices');
await page.click('#approval-notices');
await page.waitForSelector(`[data-notices="${noticesBefore === 'on' ? 'off' : 'on'}"]`);
await page.click('#approval-notices');
await page.waitForSelector(`[data-notices="${noticesBefore}"]`);

// ---- Addresses: whitelist, cooling-off, remove.
await visit(page, '/addresses');
// Networks are a list from the API, and each offers only the assets it carries.
await page.selectOption('#add-address-form select[name=network]', 'bitcoin');
assert.deepEqual(await page.$$eval('#add-address-form select[name=asset] option', (o) => o.map((x) => x.value)), ['BTC'], 'bitcoin carries BTC only');
await page.selectOption('#add-address-form select[name=network]', 'ethereum');
await page.fill('#add-address-form input[name=label]', 'Cold wallet');
await page.selectOption('#add-address-form select[name=asset]', 'USDC');
await page.fill('#add-address-form input[name=address]', '0x5eC0FfeE5ec0fFEE5Ec0FfeE5EC0FFEe5eC0FfEe');
await page.click('#add-address-form button[type=submit]');
await outcome(page, 'Whitelist “Cold wallet”');
await page.waitForSelector('[data-address="Cold wallet"][data-cooling=false]');
await page.fill('#cooling-off-form input[name=amount]', '2');
await page.selectOption('#cooling-off-form select[name=unit]', 'D');
await page.click('#cooling-off-form button[type=submit]');
await outcome(page, 'Set the cooling-off to 2 days');
await until(page, () => document.querySelector('#cooling-off-now').textContent.includes('2 days'));
await page.fill('#add-address-form input[name=label]', 'Exchange hot wallet');
await page.fill('#add-address-form input[name=address]', '0xe8c4a7e0e8c4A7e0E8c4A7E0E8c4a7e0E8C4A7e0');
await page.click('#add-address-form button[type=submit]');
await outcome(page, 'Whitelist “Exchange hot wallet”');
await page.waitForSelector('[data-address="Exchange hot wallet"][data-cooling=true]');
assert.match(await page.textContent('[data-address="Exchange hot wallet"]'), /usable from/);
await checkScreen(page, 'admin-addresses');
await page.click('[data-address="Cold wallet"] button');
await confirm(page);
await outcome(page, 'Remove “Cold wallet”');
await page.waitForSelector('[data-address="Cold wallet"]', { state: 'detached' });

// ---- Access changes now need another admin: they wait, with a link.
await visit(page, '/policies');
await page.fill('#policy-MANAGE_ACCESS input[name=approvals]', '1');
// Admins hold EXECUTE on access changes: only "every request waits" makes theirs wait.
await page.check('#policy-MANAGE_ACCESS input[name=always]');
await page.click('#policy-MANAGE_ACCESS [data-action=set-policy]');
await outcome(page, 'Set the manage access policy');
await visit(page, '/members');
await page.fill('#invite-form input[type=email]', 'late@example.com');
await page.click('#invite-form button[type=submit]');
await outcome(page, 'Invite late@example.com', 'PENDING_APPROVAL');
assert.match(await page.textContent('.outcome'), /waiting for one approval/);
assert.match(await page.getAttribute('.outcome a', 'href'), /^\/requests\//);
await checkScreen(page, 'admin-members-waiting');

// A service user whose creation waited: its secret is claimed once, after approval.
await visit(page, '/service-users');
await page.fill('#new-service-user-form input[name=name]', 'Treasury feed');
await page.click('#new-service-user-form button[type=submit]');
await outcome(page, 'Create the service user Treasury feed', 'PENDING_APPROVAL');
assert.equal(await page.$('.secret-card'), null, 'no secret before approval');
await page.waitForSelector('#claims [data-status=PENDING_APPROVAL]');
const claimId = await page.getAttribute('#claims [data-claim]', 'data-claim');
await approve(claimId);
await page.waitForSelector(`#claims [data-claim="${claimId}"][data-status=COMPLETED] [data-action=claim]`);
await page.click(`#claims [data-claim="${claimId}"] [data-action=claim]`);
await page.waitForSelector('.secret-card pre.secret');
assert.match(await page.textContent('.secret-card h2'), /Treasury feed/);
await checkScreen(page, 'admin-claimed-secret');
await page.click('.secret-card [data-action=dismiss-secret]');
await page.waitForSelector(`#claims [data-claim="${claimId}"]`, { state: 'detached' });

await finish('admin');
