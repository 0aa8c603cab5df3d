// Service users (/service-users), for administrators: the organisation's
// machine clients and their API keys — scopes, accounts, expiry, allowlist,
// last use, today's usage against the key's cap — and every change to them:
// create a service user (with its first key), add a key, change a key's
// settings, rotate a secret with a grace period, revoke a key, remove a
// service user, and claim the secret of a key whose creation waited for
// approval. A new secret is shown once, in this page's own state, until
// the admin dismisses it; live re-reads do not touch it.
import { html, useState } from '../lib/html.js';
import { gql, request } from '../lib/api.js';
import { app, can } from '../lib/store.js';
import { useQuery, Loaded, Card, Table, Status, UsageBar, Field, ConfirmButton, SecretBox, PageTitle } from '../lib/ui.js';
import { useChange, useForm, Checks, useReveal, ClaimsCard } from '../lib/changes.js';
import { usd, when, words, short } from '../lib/format.js';

const SCOPES = ['QUERY_FUNDS', 'WITHDRAW', 'DEPOSIT', 'QUERY_LEDGER', 'EXPORT_DATA', 'EARN',
  'QUERY_OPEN_ORDERS', 'QUERY_CLOSED_ORDERS', 'CREATE_MODIFY_ORDERS', 'CANCEL_CLOSE_ORDERS'];
const KEY_OPS = ['CREATE_SERVICE_USER', 'CREATE_API_KEY', 'ROTATE_API_KEY'];
const GRACE = [['', 'None: the old secret stops at once'], ['PT1H', '1 hour'], ['PT6H', '6 hours'], ['P1D', '1 day (the most)']];

const SERVICE_USERS = gql`query ServiceUsersPage($o: ID!) { organization(id: $o) { id
  accounts { id name }
  serviceUsers { id name status createdAt
    keys { keyId status scopes accountIds expiresAt ipAllowlist nonceWindow allowWebsocket autoExecute
      queryStart queryEnd lastUsedAt lastUsedIp previousSecretValidUntil createdAt revokedAt
      usage { layer subject perTransactionMaxUsd dailyCapUsd usedTodayUsd heldUsd remainingUsd } } }
  requests(workflow: MANAGE_ACCESS, first: 100) { nodes { id operation status payload createdAt
    requester { kind user { id } } approvals { at } history { action } } } } }`;
const CREATE_USER = gql`mutation ServiceUsersCreate($o: ID!, $i: ServiceUserInput!) {
  createServiceUser(orgId: $o, input: $i) { request { id status approvalsRequired } apiKey { keyId secret } } }`;
const CREATE_KEY = gql`mutation ServiceUsersCreateKey($o: ID!, $s: ID!, $i: ServiceUserInput!) {
  createApiKey(orgId: $o, serviceUserId: $s, input: $i) { request { id status approvalsRequired } apiKey { keyId secret } } }`;
const UPDATE_KEY = gql`mutation ServiceUsersUpdateKey($o: ID!, $k: ID!, $p: ApiKeyPatch!) {
  updateApiKey(orgId: $o, keyId: $k, input: $p) { request { id status approvalsRequired } } }`;
const ROTATE_KEY = gql`mutation ServiceUsersRotateKey($o: ID!, $k: ID!, $g: Duration) {
  rotateApiKey(orgId: $o, keyId: $k, grace: $g) { request { id status approvalsRequired } apiKey { keyId secret } } }`;
const REVOKE_KEY = gql`mutation ServiceUsersRevokeKey($o: ID!, $k: ID!) {
  revokeApiKey(orgId: $o, keyId: $k) { request { id status approvalsRequired } } }`;
const REMOVE_USER = gql`mutation ServiceUsersRemove($o: ID!, $s: ID!) {
  removeServiceUser(orgId: $o, serviceUserId: $s) { request { id status approvalsRequired } } }`;
const CLAIM = gql`mutation ServiceUsersClaim($r: ID!) { claimApiKeySecret(requestId: $r) { keyId secret } }`;

const lines = (s) => String(s || '').split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
const iso = (local) => (local ? new Date(local).toISOString() : null);
const localInput = (isoValue) => {
  if (!isoValue) return '';
  const d = new Date(isoValue);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
};

/** The key settings both a new key and a key change take, as form fields. */
function KeyFields({ f, scopes, setScopes, accounts, accountIds, setAccountIds, withAutoExecute }) {
  return html`
    <${Checks} legend="Scopes" name="scope" options=${SCOPES} value=${scopes} onChange=${setScopes} label=${words} />
    ${accounts.length > 1 ? html`<${Checks} legend="Accounts (none checked: every account)" name="account"
      options=${accounts.map((a) => a.id)} value=${accountIds} onChange=${setAccountIds}
      label=${(id) => accounts.find((a) => a.id === id).name} />` : null}
    <div class="form-row">
      <${Field} label="Expires" hint="Blank: never."><input type="datetime-local" ...${f.bind('expiresAt')} /><//>
      <${Field} label="Nonce window" hint="Blank: the server's default."><input type="number" min="1" ...${f.bind('nonceWindow')} /><//>
    </div>
    <${Field} label="IP allowlist" hint="Addresses or CIDR ranges, separated by spaces or commas. Blank: anywhere.">
      <input autocomplete="off" ...${f.bind('ipAllowlist')} placeholder="203.0.113.0/24" /><//>
    <div class="form-row">
      <${Field} label="Query window starts" hint="Blank: no limit."><input type="datetime-local" ...${f.bind('queryStart')} /><//>
      <${Field} label="Query window ends" hint="Blank: no limit."><input type="datetime-local" ...${f.bind('queryEnd')} /><//>
    </div>
    <label class="check"><input type="checkbox" ...${f.check('allowWebsocket')} />May open a WebSocket</label>
    ${withAutoExecute ? html`<label class="check"><input type="checkbox" ...${f.check('autoExecute')} />Straight-through payouts
      (settles its own withdrawals that need no approval; needs a per-transaction maximum and a daily cap)</label>` : null}`;
}

function settingsInput(v, scopes, accountIds) {
  return {
    scopes,
    accountIds: accountIds.length ? accountIds : null,
    expiresAt: iso(v.expiresAt),
    ipAllowlist: lines(v.ipAllowlist).length ? lines(v.ipAllowlist) : null,
    nonceWindow: v.nonceWindow ? Number(v.nonceWindow) : null,
    allowWebsocket: !!v.allowWebsocket,
    queryStart: iso(v.queryStart),
    queryEnd: iso(v.queryEnd),
  };
}

/** A new service user and its first key, or (with `serviceUser`) another key for one. */
function NewKeyForm({ accounts, serviceUser, run, onSecret, onDone }) {
  const blank = { name: '', expiresAt: '', nonceWindow: '', ipAllowlist: '', queryStart: '', queryEnd: '', allowWebsocket: false };
  const f = useForm(blank);
  const [scopes, setScopes] = useState(['QUERY_FUNDS']);
  const [accountIds, setAccountIds] = useState([]);
  const submit = async (e) => {
    e.preventDefault();
    const input = { name: serviceUser ? serviceUser.name : f.values.name.trim(), ...settingsInput(f.values, scopes, accountIds) };
    for (const k of ['expiresAt', 'ipAllowlist', 'nonceWindow', 'queryStart', 'queryEnd', 'accountIds']) if (input[k] === null) delete input[k];
    const label = serviceUser ? `Add a key to ${serviceUser.name}` : `Create the service user ${input.name}`;
    const d = await run(label, () => (serviceUser
      ? request(CREATE_KEY, { o: app.orgId, s: serviceUser.id, i: input })
      : request(CREATE_USER, { o: app.orgId, i: input })), (x) => (x.createApiKey || x.createServiceUser).request);
    if (!d) return;
    const r = d.createApiKey || d.createServiceUser;
    if (r.apiKey) onSecret({ title: `Secret of ${input.name}'s new key ${r.apiKey.keyId}`, ...r.apiKey });
    f.reset(); setScopes(['QUERY_FUNDS']); setAccountIds([]);
    if (onDone) onDone();
  };
  return html`<form class="stack" id=${serviceUser ? 'new-key-form' : 'new-service-user-form'} onSubmit=${submit}>
    ${serviceUser ? null : html`<${Field} label="Name" hint="What it is for, e.g. “Payouts bot”."><input required autocomplete="off" ...${f.bind('name')} /><//>`}
    <${KeyFields} f=${f} scopes=${scopes} setScopes=${setScopes} accounts=${accounts} accountIds=${accountIds} setAccountIds=${setAccountIds} />
    <div class="row"><button type="submit" disabled=${!scopes.length}>${serviceUser ? 'Create key' : 'Create service user'}</button>
      ${onDone ? html`<button type="button" class="secondary" onClick=${onDone}>Cancel</button>` : null}</div>
  </form>`;
}

/** Changes one key's settings (ApiKeyPatch: every field sent, blank clears). */
function KeyEditor({ k, accounts, run, onClose }) {
  const f = useForm({
    expiresAt: localInput(k.expiresAt), nonceWindow: k.nonceWindow ?? '', ipAllowlist: (k.ipAllowlist || []).join(', '),
    queryStart: localInput(k.queryStart), queryEnd: localInput(k.queryEnd), allowWebsocket: k.allowWebsocket, autoExecute: k.autoExecute,
  });
  const [scopes, setScopes] = useState(k.scopes);
  const [accountIds, setAccountIds] = useState(k.accountIds || []);
  const reveal = useReveal();
  const submit = async (e) => {
    e.preventDefault();
    const patch = { ...settingsInput(f.values, scopes, accountIds), autoExecute: !!f.values.autoExecute };
    const d = await run(`Change key ${k.keyId}`, () => request(UPDATE_KEY, { o: app.orgId, k: k.keyId, p: patch }), (x) => x.updateApiKey.request);
    if (d) onClose();
  };
  return html`<form class="stack key-editor reveal" id="key-editor" ref=${reveal} tabindex="-1" onSubmit=${submit} aria-label=${'Settings of key ' + k.keyId}>
    <h3>Settings of key <code>${k.keyId}</code></h3>
    <${KeyFields} f=${f} scopes=${scopes} setScopes=${setScopes} accounts=${accounts} accountIds=${accountIds} setAccountIds=${setAccountIds} withAutoExecute />
    <div class="row"><button type="submit" disabled=${!scopes.length}>Save key settings</button>
      <button type="button" class="secondary" onClick=${onClose}>Cancel</button></div>
  </form>`;
}

function RotateButton({ k, run, onSecret }) {
  const [grace, setGrace] = useState('PT1H');
  const rotate = async () => {
    const d = await run(`Rotate key ${k.keyId}`, () => request(ROTATE_KEY, { o: app.orgId, k: k.keyId, g: grace || null }), (x) => x.rotateApiKey.request);
    if (d && d.rotateApiKey.apiKey) onSecret({ title: `New secret of key ${d.rotateApiKey.apiKey.keyId}`, ...d.rotateApiKey.apiKey });
  };
  return html`<${ConfirmButton} label="Rotate" class="secondary small" data-action="rotate" aria-label=${'Rotate key ' + k.keyId}
    title=${'Rotate key ' + k.keyId + '?'} confirmLabel="Rotate secret"
    body=${html`<p>A new secret is issued and shown once. The current one keeps working for the grace period, so clients can switch without an outage.</p>
      <${Field} label="Grace period"><select name="grace" value=${grace} onChange=${(e) => setGrace(e.currentTarget.value)}>
        ${GRACE.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select><//>`}
    onConfirm=${rotate} />`;
}

function keyUsage(u) {
  if (!u.dailyCapUsd && !u.perTransactionMaxUsd) return html`<span class="muted">No limits; ${usd(u.usedTodayUsd)} today</span>`;
  return html`<div class="usage-cell"><${UsageBar} usage=${u} />
    <small>${usd(u.usedTodayUsd)} used${Number(u.heldUsd) ? `, ${usd(u.heldUsd)} held` : ''}${u.dailyCapUsd ? ` of ${usd(u.dailyCapUsd)} a day` : ''}${u.perTransactionMaxUsd ? `; at most ${usd(u.perTransactionMaxUsd)} each` : ''}</small></div>`;
}

function ServiceUserCard({ su, accounts, run, onSecret, admin }) {
  const [editing, setEditing] = useState(null);
  const [adding, setAdding] = useState(false);
  const accountNames = (ids) => (ids && ids.length ? ids.map((id) => (accounts.find((a) => a.id === id) || { name: 'another account' }).name).join(', ') : 'Every account');
  const active = su.status === 'ACTIVE';
  const chosen = editing && su.keys.find((k) => k.keyId === editing);
  return html`<div data-service-user=${su.name}><${Card} title=${su.name} id=${'su-' + su.id} class="service-user"
    actions=${html`<${Status} value=${su.status} />${admin && active ? html`
      <button type="button" class="secondary small" data-action="add-key" onClick=${() => setAdding(true)}>Add a key</button>
      <${ConfirmButton} label="Remove" danger class="small" data-action="remove-service-user" aria-label=${'Remove ' + su.name}
        title=${'Remove ' + su.name + '?'} confirmLabel="Remove service user"
        body=${html`<p>Every key of ${su.name} is revoked at once; clients using them are refused.</p>`}
        onConfirm=${() => run(`Remove ${su.name}`, () => request(REMOVE_USER, { o: app.orgId, s: su.id }), (x) => x.removeServiceUser.request)} />` : null}`}>
    <p class="muted">Created ${when(su.createdAt)}</p>
    <${Table} caption=${'Keys of ' + su.name} empty="No keys." rows=${[...su.keys].sort((a, b) => (a.status === 'ACTIVE' ? 0 : 1) - (b.status === 'ACTIVE' ? 0 : 1))} rowProps=${(k) => ({ 'data-key': k.keyId, 'data-status': k.status })}
      columns=${[
        { label: 'Key', render: (k) => html`<code class="nowrap" title=${k.keyId}>${short(k.keyId, 8)}</code>` },
        { label: 'Status', render: (k) => html`<div><${Status} value=${k.status} />${k.previousSecretValidUntil && new Date(k.previousSecretValidUntil) > new Date()
          ? html`<br /><small class="muted" data-grace>Old secret valid until ${when(k.previousSecretValidUntil)}</small>` : null}</div>` },
        { label: 'Scopes', render: (k) => k.scopes.map(words).join(', ') },
        ...(accounts.length > 1 ? [{ label: 'Accounts', render: (k) => accountNames(k.accountIds) }] : []),
        { label: 'Expires', class: 'nowrap', render: (k) => (k.expiresAt ? when(k.expiresAt) : 'Never') },
        { label: 'Last used', class: 'nowrap', render: (k) => (k.lastUsedAt ? html`<div>${when(k.lastUsedAt)}${k.lastUsedIp ? html`<br /><small class="muted">from ${k.lastUsedIp}</small>` : null}</div>` : 'Never') },
        { label: 'Usage today', render: (k) => keyUsage(k.usage) },
        ...(admin ? [{ label: 'Actions', render: (k) => (k.status === 'ACTIVE' ? html`<div class="row">
            <button type="button" class="secondary small" data-action="edit-key" aria-label=${'Settings of key ' + k.keyId} onClick=${() => setEditing(k.keyId)}>Settings</button>
            <${RotateButton} k=${k} run=${run} onSecret=${onSecret} />
            <${ConfirmButton} label="Revoke" danger class="small" data-action="revoke" aria-label=${'Revoke key ' + k.keyId}
              title=${'Revoke key ' + k.keyId + '?'} confirmLabel="Revoke key"
              body=${html`<p>The key and any secret still in its grace period stop working at once.</p>`}
              onConfirm=${() => run(`Revoke key ${k.keyId}`, () => request(REVOKE_KEY, { o: app.orgId, k: k.keyId }), (x) => x.revokeApiKey.request)} />
          </div>` : html`<span class="muted">${k.revokedAt ? 'Revoked ' + when(k.revokedAt) : '—'}</span>`) }] : []),
      ]} />
    ${chosen ? html`<${KeyEditor} key=${chosen.keyId} k=${chosen} accounts=${accounts} run=${run} onClose=${() => setEditing(null)} />` : null}
    ${adding ? html`<h3>New key for ${su.name}</h3><${NewKeyForm} accounts=${accounts} serviceUser=${su} run=${run} onSecret=${onSecret} onDone=${() => setAdding(false)} />` : null}
  <//></div>`;
}

/** The viewer's key requests that waited: pending ones, and approved ones whose secret is still to claim. */
function Claims({ requests, serviceUsers, run, onSecret, reload }) {
  const what = (r) => {
    const p = JSON.parse(r.payload || '{}');
    if (r.operation === 'CREATE_SERVICE_USER') return `New service user ${p.name || ''}`;
    const su = serviceUsers.find((s) => s.id === p.serviceUserId);
    if (r.operation === 'CREATE_API_KEY') return `New key for ${su ? su.name : 'a service user'}`;
    return `New secret for key ${p.keyId}`;
  };
  const claim = async (r) => {
    const d = await run(`Claim the secret of “${what(r)}”`, () => request(CLAIM, { r: r.id }));
    if (d) { onSecret({ title: `Secret of key ${d.claimApiKeySecret.keyId} (${what(r)})`, ...d.claimApiKeySecret }); reload(); }
  };
  return html`<${ClaimsCard} title="Your key requests" id="claims" requests=${requests}
    operations=${KEY_OPS} claimedAction="API_KEY_SECRET_CLAIMED" column="Request" what=${what} onClaim=${claim} />`;
}

export function ServiceUsersPage() {
  const q = useQuery(SERVICE_USERS, { o: app.orgId });
  const [run, notice] = useChange();
  // One-time secrets: this component's state, never refetched data.
  const [secrets, setSecrets] = useState([]);
  const onSecret = (s) => setSecrets((all) => [...all, s]);
  const admin = can('MANAGE_ACCESS', 'INITIATE');
  return html`<${PageTitle} sub="Machine clients of the API and their keys.">Service users<//>
    ${secrets.map((s) => html`<${SecretBox} key=${s.keyId + s.secret} id=${'secret-' + s.keyId} title=${s.title}
      note=${html`Key id <code>${s.keyId}</code>. Store the secret in your secrets manager now: Countersign will not show it again.`}
      secret=${s.secret} onDismiss=${() => setSecrets((all) => all.filter((x) => x !== s))} />`)}
    ${notice}
    <${Loaded} q=${q}>${(d) => {
      const o = d.organization;
      const active = o.serviceUsers.filter((su) => su.status !== 'REMOVED');
      const removed = o.serviceUsers.filter((su) => su.status === 'REMOVED');
      return html`
        ${admin ? html`<${Claims} requests=${o.requests.nodes} serviceUsers=${o.serviceUsers} run=${run} onSecret=${onSecret} reload=${q.reload} />` : null}
        ${active.length ? active.map((su) => html`<${ServiceUserCard} key=${su.id} su=${su} accounts=${o.accounts} run=${run} onSecret=${onSecret} admin=${admin} />`)
          : html`<${Card}><p class="muted">No service users yet.</p><//>`}
        ${removed.length ? html`<${Card} title="Removed service users" id="removed-service-users">
          <ul class="plain">${removed.map((su) => html`<li data-removed-service-user=${su.name}><strong>${su.name}</strong>
            <span class="muted">created ${when(su.createdAt)}; its ${su.keys.length === 1 ? 'key is' : su.keys.length + ' keys are'} revoked</span></li>`)}</ul><//>` : null}
        ${admin ? html`<${Card} title="Create a service user" id="create-service-user">
          <${NewKeyForm} accounts=${o.accounts} run=${run} onSecret=${onSecret} /><//>` : null}`;
    }}<//>`;
}
