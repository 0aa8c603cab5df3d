// Countersign console: a client of the public GraphQL API and its
// subscriptions, nothing more. What it shows follows the signed-in member's
// resolved permissions (viewer.permissions); the API enforces the same rules,
// so a hidden button is a courtesy, not the control.
'use strict';

const TOKEN_KEY = 'countersign.token';
const ORG_KEY = 'countersign.org';

const state = { token: sessionStorage.getItem(TOKEN_KEY), viewer: null, orgId: null, perms: new Set(), ready: null };

// ---- DOM helpers (text only: user data never becomes markup) ----

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);

function toast(message, error) {
  const t = $('toast');
  t.textContent = message;
  t.className = error ? 'error' : '';
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, error ? 8000 : 4000);
}

// ---- GraphQL over HTTP ----

class ApiError extends Error {
  constructor(message, code) { super(message); this.code = code; }
}

async function gql(query, variables) {
  const headers = { 'Content-Type': 'application/json' };
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  const res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await res.json().catch(() => ({ errors: [{ message: 'HTTP ' + res.status }] }));
  if (body.errors && body.errors.length) {
    const e = body.errors[0];
    const code = e.extensions && e.extensions.code;
    if (code === 'UNAUTHENTICATED') signOut(false);
    throw new ApiError(e.message, code);
  }
  return body.data;
}

// Runs a mutation from a button or form, reporting the outcome.
async function act(label, fn) {
  try {
    const result = await fn();
    toast(label);
    return result;
  } catch (e) {
    toast((e.code ? e.code + ': ' : '') + e.message, true);
    return null;
  }
}

// ---- Subscriptions (graphql-transport-ws) ----

const live = { socket: null, orgId: null, retry: null };

function subscribe(orgId) {
  if (live.socket) { live.socket.onclose = null; live.socket.close(); }
  clearTimeout(live.retry);
  live.orgId = orgId;
  if (!orgId || !state.token) return;
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws';
  const ws = new WebSocket(url, 'graphql-transport-ws');
  live.socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: { token: state.token } }));
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === 'connection_ack') {
      ws.send(JSON.stringify({ id: 'requests', type: 'subscribe', payload: {
        query: 'subscription($o:ID!){ requestEvents(orgId:$o){ kind request{ id operation status } } }', variables: { o: orgId } } }));
      ws.send(JSON.stringify({ id: 'alerts', type: 'subscribe', payload: {
        query: 'subscription($o:ID!){ balanceAlertChanged(orgId:$o){ state } }', variables: { o: orgId } } }));
      document.body.dataset.live = 'connected';
    } else if (msg.type === 'ping') {
      ws.send(JSON.stringify({ type: 'pong' }));
    } else if (msg.type === 'next' && msg.payload && msg.payload.data) {
      const e = msg.payload.data.requestEvents;
      if (e) toast(e.request.operation + ': ' + e.kind.toLowerCase());
      refreshSoon();
    } else if (msg.type === 'next' || msg.type === 'error') {
      // The subscription ended (e.g. it fell behind): re-read and resubscribe.
      refreshSoon();
      setTimeout(() => subscribe(orgId), 500);
    }
  };
  ws.onclose = (e) => {
    document.body.dataset.live = 'disconnected';
    // 4401: the session ended (signed out elsewhere, expired or idle); 4403: no longer a member here.
    if (e.code === 4401) { signOut(false); return; }
    if (e.code === 4403) { refreshSoon(); return; }
    live.retry = setTimeout(() => { if (live.orgId === orgId) subscribe(orgId); }, 2000);
  };
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => render(), 150);
}

// ---- Session, organisation, permissions ----

function signOut(callApi) {
  if (callApi && state.token) gql('mutation{ signOut }').catch(() => {});
  state.token = null;
  state.viewer = null;
  sessionStorage.removeItem(TOKEN_KEY);
  subscribe(null);
  location.hash = '#/sign-in';
  render();
}

async function loadViewer() {
  const d = await gql(`{ viewer { twoFactorVerified user { id email name }
      memberships { id organizationId roles isOwner } } }`);
  state.viewer = d.viewer;
  const orgs = await Promise.all(d.viewer.memberships.map((m) =>
    gql('query($o:ID!){ organization(id:$o){ id name } }', { o: m.organizationId })
      .then((x) => x.organization).catch(() => null)));
  state.orgs = orgs.filter(Boolean);
  const saved = sessionStorage.getItem(ORG_KEY);
  const pick = state.orgs.find((o) => o.id === saved) || state.orgs[0];
  await selectOrg(pick ? pick.id : null);
}

async function selectOrg(orgId) {
  state.orgId = orgId;
  state.perms = new Set();
  if (orgId) {
    sessionStorage.setItem(ORG_KEY, orgId);
    const d = await gql('query($o:ID!){ viewer{ permissions(orgId:$o){ workflow action accountId } } }', { o: orgId });
    for (const p of d.viewer.permissions) state.perms.add(p.workflow + ':' + p.action);
  }
  subscribe(orgId);
}

/** Whether the resolved permission set holds `action` on `workflow`. */
const can = (workflow, action) => state.perms.has(workflow + ':' + action);

// ---- Chrome ----

function renderChrome() {
  const signedIn = !!state.viewer;
  $('nav').hidden = !signedIn || !state.orgId;
  $('sign-out').hidden = !signedIn;
  $('who').textContent = signedIn ? state.viewer.user.email : '';
  const sw = $('org-switcher');
  sw.hidden = !signedIn || !state.orgs || state.orgs.length === 0;
  sw.replaceChildren(...(state.orgs || []).map((o) => h('option', { value: o.id, selected: o.id === state.orgId }, o.name)));
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === location.hash);
}

async function renderBanner() {
  const banner = $('banner');
  if (!state.orgId) { banner.hidden = true; return; }
  const d = await gql('query($o:ID!){ organization(id:$o){ treasuryReadiness{ ready missingRoles } } }', { o: state.orgId });
  const r = d.organization.treasuryReadiness;
  banner.hidden = r.ready;
  banner.textContent = r.ready ? '' :
    'Treasury not ready: no member holds ' + r.missingRoles.join(', ') + '. Withdrawals are refused until every role is filled.';
}

// ---- Pages ----

const pages = {
  'sign-in': signInPage,
  overview: overviewPage,
  approvals: approvalsPage,
  members: membersPage,
  'service-users': serviceUsersPage,
  policies: policiesPage,
  addresses: addressesPage,
  audit: auditPage,
};

let rendering = Promise.resolve();
function render() {
  rendering = rendering.then(renderNow, renderNow);
  return rendering;
}

async function renderNow() {
  let page = (location.hash.replace(/^#\//, '') || 'overview');
  if (!state.viewer) page = 'sign-in';
  else if (!state.orgId) page = 'no-org';
  renderChrome();
  const main = $('main');
  try {
    const content = page === 'no-org'
      ? h('section', { class: 'card' }, 'You are not a member of any organisation yet.')
      : await (pages[page] || overviewPage)();
    if (state.viewer) await renderBanner();
    // Live refreshes must not wipe what someone is typing into a form.
    const typed = [...main.querySelectorAll('form[id] [name]')].map((el) =>
      ({ form: el.form.id, name: el.name, value: el.value, checked: el.checked, type: el.type }));
    main.replaceChildren(content);
    for (const t of typed) {
      const sel = `#${t.form} [name="${t.name}"]` + (t.type === 'checkbox' ? `[value="${t.value}"]` : '');
      const el = main.querySelector(sel);
      if (!el) continue;
      if (t.type === 'checkbox') el.checked = t.checked; else el.value = t.value;
    }
    document.body.dataset.page = page;
  } catch (e) {
    main.replaceChildren(h('section', { class: 'card' }, h('p', {}, (e.code ? e.code + ': ' : '') + e.message)));
  }
}

function signInPage() {
  const form = h('form', { id: 'sign-in-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    try {
      const d = await gql('mutation($e:String!,$p:String!,$t:String){ signIn(email:$e,password:$p,totp:$t){ token } }',
        { e: f.get('email'), p: f.get('password'), t: f.get('totp') || null });
      state.token = d.signIn.token;
      sessionStorage.setItem(TOKEN_KEY, state.token);
      await loadViewer();
      // The hash change renders the page; render directly only if it did not change.
      if (location.hash === '#/approvals') render(); else location.hash = '#/approvals';
    } catch (e) {
      toast((e.code ? e.code + ': ' : '') + e.message, true);
    }
  } },
  h('label', {}, 'E-mail', h('input', { name: 'email', type: 'email', required: true, autocomplete: 'username' })),
  h('label', {}, 'Password', h('input', { name: 'password', type: 'password', required: true, autocomplete: 'current-password' })),
  h('label', {}, 'Authenticator code', h('input', { name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', placeholder: '123456' })),
  h('button', { type: 'submit' }, 'Sign in'));
  return h('section', { class: 'card signin' }, h('h1', {}, 'Sign in'), form);
}

/** A bar of used + held against the daily cap (empty without a cap). */
function bar(u) {
  const used = Number(u.usedTodayUsd) + Number(u.heldUsd);
  const cap = u.dailyCapUsd === null ? null : Number(u.dailyCapUsd);
  const pct = cap ? Math.min(100, (used / cap) * 100) : 0;
  return h('div', { class: 'bar', title: pct.toFixed(1) + '%' }, h('span', { class: pct > 90 ? 'high' : '', style: 'width:' + pct + '%' }));
}

function usageBar(u) {
  return h('tr', { 'data-usage-layer': u.layer, 'data-usage-subject': u.subject },
    h('td', {}, u.layer), h('td', {}, h('code', {}, u.subject)),
    h('td', {}, bar(u)),
    h('td', { class: 'used' }, u.usedTodayUsd), h('td', { class: 'held' }, u.heldUsd),
    h('td', {}, u.dailyCapUsd === null ? 'no cap' : u.dailyCapUsd),
    h('td', {}, u.perTransactionMaxUsd === null ? '—' : u.perTransactionMaxUsd));
}

async function overviewPage() {
  const d = await gql(`query($o:ID!){ organization(id:$o){ name
      balanceAlert{ state thresholdUsd totalStablecoinUsd changedAt }
      accounts{ id name holdings{ asset amount held available usdValue } }
      usage{ layer subject perTransactionMaxUsd dailyCapUsd usedTodayUsd heldUsd remainingUsd } } }`, { o: state.orgId });
  const org = d.organization;
  const alert = org.balanceAlert;
  return h('div', {},
    h('h1', {}, org.name),
    h('section', { class: 'card', id: 'balance-alert' },
      h('h2', {}, 'Stablecoin balance alert'),
      h('p', {}, h('span', { class: 'status ' + alert.state }, alert.state), ' ',
        'total ', alert.totalStablecoinUsd, ' USD',
        alert.thresholdUsd ? ' · threshold ' + alert.thresholdUsd + ' USD' : ' · no threshold set')),
    h('section', { class: 'card' }, h('h2', {}, 'Holdings'),
      h('table', {}, h('tr', {}, ['Account', 'Asset', 'Amount', 'Held', 'Available', 'USD value'].map((t) => h('th', {}, t))),
        org.accounts.flatMap((a) => a.holdings.map((x) =>
          h('tr', {}, h('td', {}, a.name), h('td', {}, x.asset), h('td', {}, x.amount), h('td', {}, x.held), h('td', {}, x.available), h('td', {}, x.usdValue)))))),
    h('section', { class: 'card', id: 'usage' }, h('h2', {}, 'Risk limits today (UTC)'),
      org.usage.length === 0 ? h('p', { class: 'muted' }, 'No limits set.') :
        h('table', {}, h('tr', {}, ['Layer', 'Subject', 'Usage', 'Used', 'Held', 'Daily cap', 'Per transaction'].map((t) => h('th', {}, t))),
          org.usage.map(usageBar))));
}

function requestSummary(r) {
  if (r.withdrawal) return r.withdrawal.amount + ' ' + r.withdrawal.asset + ' (' + r.withdrawal.usdValue + ' USD)';
  try {
    const p = JSON.parse(r.payload);
    return Object.entries(p).filter(([, v]) => typeof v !== 'object').map(([k, v]) => k + ': ' + v).join(', ');
  } catch (_) { return ''; }
}

function requestActions(r) {
  const me = state.viewer.user.id;
  const mine = r.requester.kind === 'USER' && r.requester.id === me;
  const approvedByMe = r.approvals.some((a) => a.approver.id === me);
  const buttons = [];
  const run = (label, query) => act(label, () => gql(query, { r: r.id })).then(() => render());
  if (r.status === 'PENDING_APPROVAL' && can(r.workflow, 'APPROVE') && !mine && !approvedByMe) {
    buttons.push(h('button', { 'data-action': 'approve', onclick: () => run('Approved', 'mutation($r:ID!){ approveRequest(requestId:$r){ id } }') }, 'Approve'));
    buttons.push(h('button', { class: 'danger', 'data-action': 'reject', onclick: () => run('Rejected', 'mutation($r:ID!){ rejectRequest(requestId:$r){ id } }') }, 'Reject'));
  }
  if (r.status === 'APPROVED' && r.workflow === 'INITIATE_WITHDRAWAL' && can('INITIATE_WITHDRAWAL', 'EXECUTE')) {
    buttons.push(h('button', { 'data-action': 'execute', onclick: () => run('Executed', 'mutation($r:ID!){ execute(requestId:$r){ id } }') }, 'Execute'));
  }
  if (mine && ['PENDING_APPROVAL', 'APPROVED'].includes(r.status)) {
    buttons.push(h('button', { class: 'secondary', 'data-action': 'cancel', onclick: () => run('Cancelled', 'mutation($r:ID!){ cancelRequest(requestId:$r){ id } }') }, 'Cancel'));
  }
  return buttons;
}

async function withdrawalForm() {
  const d = await gql('query($o:ID!){ organization(id:$o){ accounts{ id name } addresses{ id accountId asset network address label } } }', { o: state.orgId });
  const org = d.organization;
  const form = h('form', { class: 'inline', id: 'withdraw-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const address = org.addresses.find((a) => a.id === f.get('address'));
    if (!address) { toast('Choose a whitelisted address', true); return; }
    const done = await act('Withdrawal requested', () => gql(
      'mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status } } }',
      { o: state.orgId, i: { accountId: address.accountId, asset: address.asset, amount: f.get('amount'), addressId: address.id } }));
    if (done) { form.reset(); render(); }
  } },
  h('label', {}, 'To address', h('select', { name: 'address' },
    org.addresses.map((a) => h('option', { value: a.id }, a.label + ' — ' + a.asset + ' ' + a.network + ' ' + a.address)))),
  h('label', {}, 'Amount', h('input', { name: 'amount', required: true, inputmode: 'decimal', placeholder: '100.00' })),
  h('button', { type: 'submit' }, 'Request withdrawal'));
  return h('section', { class: 'card' }, h('h2', {}, 'New withdrawal'), form);
}

async function approvalsPage() {
  const d = await gql(`query($o:ID!){ organization(id:$o){ requests(first:50){ edges{ node{
      id workflow operation payload status approvalsRequired waitingReason reason createdAt
      requester{ kind id user{ email } } approvals{ approver{ id } }
      withdrawal{ amount asset usdValue state settlementReference } } } } } }`, { o: state.orgId });
  const rows = d.organization.requests.edges.map((e) => e.node);
  const table = h('table', { id: 'requests' },
    h('tr', {}, ['Requested', 'Operation', 'What', 'By', 'Approvals', 'Status', ''].map((t) => h('th', {}, t))),
    rows.map((r) => h('tr', { 'data-request-id': r.id, 'data-status': r.status },
      h('td', {}, new Date(r.createdAt).toLocaleString()),
      h('td', {}, r.operation),
      h('td', {}, requestSummary(r), r.waitingReason ? h('div', { class: 'muted' }, r.waitingReason) : null,
        r.withdrawal && r.withdrawal.settlementReference ? h('div', { class: 'muted' }, r.withdrawal.settlementReference) : null),
      h('td', {}, r.requester.user ? r.requester.user.email : r.requester.kind),
      h('td', {}, r.approvals.length + ' / ' + r.approvalsRequired),
      h('td', {}, h('span', { class: 'status ' + r.status }, r.status), r.reason ? h('div', { class: 'muted' }, r.reason) : null),
      h('td', {}, requestActions(r)))));
  return h('div', {}, h('h1', {}, 'Approval queue'),
    can('INITIATE_WITHDRAWAL', 'INITIATE') ? await withdrawalForm() : null,
    h('section', { class: 'card' }, rows.length ? table : h('p', { class: 'muted' }, 'No requests yet.')));
}

const ROLES = ['ADMIN', 'MAKER', 'APPROVER', 'SIGNER', 'REVIEWER', 'READ_ONLY'];

async function membersPage() {
  const d = await gql(`query($o:ID!){ organization(id:$o){
      members{ id roles isOwner status user{ email name } signerUsage{ usedTodayUsd heldUsd dailyCapUsd } }
      invitations{ id email roles status deliveryStatus expiresAt } } }`, { o: state.orgId });
  const org = d.organization;
  const invite = can('MANAGE_ACCESS', 'INITIATE') ? (() => {
    const form = h('form', { class: 'inline', id: 'invite-form', onsubmit: async (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      const done = await act('Invitation requested', () => gql(
        'mutation($o:ID!,$e:String!,$r:[Role!]!){ inviteMember(orgId:$o,email:$e,roles:$r){ request{ status } } }',
        { o: state.orgId, e: f.get('email'), r: f.getAll('role') }));
      if (done) { form.reset(); render(); }
    } },
    h('label', {}, 'E-mail', h('input', { name: 'email', type: 'email', required: true })),
    ROLES.map((r) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'role', value: r }), r)),
    h('button', { type: 'submit' }, 'Invite'));
    return h('section', { class: 'card' }, h('h2', {}, 'Invite a member'), form);
  })() : null;
  // Role changes are governed requests like any other: they may wait for approval.
  const roleEditor = (m) => {
    const select = h('select', { multiple: true, size: 3, 'aria-label': 'Roles of ' + m.user.email },
      ROLES.map((r) => h('option', { value: r, selected: m.roles.includes(r) }, r)));
    const save = h('button', { class: 'secondary', 'data-action': 'set-roles', onclick: async () => {
      const roles = [...select.selectedOptions].map((o) => o.value);
      await act('Role change requested', () => gql(
        'mutation($o:ID!,$m:ID!,$r:[Role!]!){ setMemberRoles(orgId:$o,memberId:$m,roles:$r){ request{ status } } }',
        { o: state.orgId, m: m.id, r: roles }));
      render();
    } }, 'Change roles');
    return [select, ' ', save];
  };
  const mayManage = can('MANAGE_ACCESS', 'INITIATE');
  return h('div', {}, h('h1', {}, 'Members and roles'), invite,
    h('section', { class: 'card' }, h('table', { id: 'members' },
      h('tr', {}, ['Member', 'Roles', 'Status', 'Signed today (USD)'].map((t) => h('th', {}, t))),
      org.members.map((m) => h('tr', {},
        h('td', {}, m.user.name, ' ', h('span', { class: 'muted' }, m.user.email), m.isOwner ? ' (owner)' : ''),
        h('td', {}, mayManage && !m.isOwner ? roleEditor(m) : m.roles.join(', ')), h('td', {}, m.status),
        h('td', {}, m.roles.includes('SIGNER')
          ? [bar(m.signerUsage), m.signerUsage.usedTodayUsd + (m.signerUsage.dailyCapUsd ? ' of ' + m.signerUsage.dailyCapUsd : ' (no cap)')]
          : '—'))))),
    h('section', { class: 'card' }, h('h2', {}, 'Invitations'), h('table', {},
      h('tr', {}, ['E-mail', 'Roles', 'Status', 'Delivery', 'Expires'].map((t) => h('th', {}, t))),
      org.invitations.map((i) => h('tr', {}, h('td', {}, i.email), h('td', {}, i.roles.join(', ')), h('td', {}, i.status),
        h('td', {}, i.deliveryStatus), h('td', {}, new Date(i.expiresAt).toLocaleDateString()))))));
}

const SCOPES = ['QUERY_FUNDS', 'QUERY_LEDGER', 'DEPOSIT', 'WITHDRAW', 'EXPORT_DATA', 'EARN'];

function secretBox(key) {
  const copy = h('button', { class: 'secondary', onclick: () => navigator.clipboard.writeText(key.secret).then(() => toast('Secret copied')) }, 'Copy');
  return h('section', { class: 'card', id: 'new-secret' },
    h('h2', {}, 'New API key ', h('code', {}, key.keyId)),
    h('p', {}, h('strong', {}, 'Shown once. '), 'Store this secret now: Countersign keeps it encrypted and will not show it again.'),
    h('div', { class: 'secret' }, key.secret), copy);
}

async function serviceUsersPage(newKey) {
  const d = await gql(`query($o:ID!){ organization(id:$o){ serviceUsers{ id name status keys{ keyId status scopes lastUsedAt
      usage{ usedTodayUsd heldUsd dailyCapUsd layer subject perTransactionMaxUsd remainingUsd } } } } }`, { o: state.orgId });
  const create = can('MANAGE_ACCESS', 'INITIATE') ? (() => {
    const form = h('form', { class: 'inline', id: 'service-user-form', onsubmit: async (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      const res = await act('Service user requested', () => gql(
        'mutation($o:ID!,$i:ServiceUserInput!){ createServiceUser(orgId:$o,input:$i){ request{ status } apiKey{ keyId secret } } }',
        { o: state.orgId, i: { name: f.get('name'), scopes: f.getAll('scope') } }));
      if (res && res.createServiceUser.apiKey) {
        $('main').replaceChildren(await serviceUsersPage(res.createServiceUser.apiKey));
      } else if (res) {
        toast('Waiting for approval; the requester can claim the secret once it is approved');
        render();
      }
    } },
    h('label', {}, 'Name', h('input', { name: 'name', required: true })),
    SCOPES.map((s) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'scope', value: s }), s)),
    h('button', { type: 'submit' }, 'Create'));
    return h('section', { class: 'card' }, h('h2', {}, 'New service user'), form);
  })() : null;
  return h('div', {}, h('h1', {}, 'Service users and API keys'), newKey ? secretBox(newKey) : null, create,
    h('section', { class: 'card' }, h('table', { id: 'keys' },
      h('tr', {}, ['Service user', 'Key', 'Scopes', 'Status', 'Last used', 'Usage today'].map((t) => h('th', {}, t))),
      d.organization.serviceUsers.flatMap((su) => su.keys.map((k) => h('tr', {},
        h('td', {}, su.name), h('td', {}, h('code', {}, k.keyId)), h('td', {}, k.scopes.join(', ')), h('td', {}, k.status),
        h('td', {}, k.lastUsedAt ? new Date(k.lastUsedAt).toLocaleString() : 'never'),
        h('td', {}, bar(k.usage), k.usage.usedTodayUsd + (k.usage.dailyCapUsd ? ' of ' + k.usage.dailyCapUsd : ' (no cap)'))))))));
}

const WORKFLOWS = ['INITIATE_WITHDRAWAL', 'MANAGE_ADDRESSES', 'MANAGE_ACCESS', 'MANAGE_POLICIES'];

async function policiesPage() {
  const d = await gql('query($o:ID!){ organization(id:$o){ policies{ workflow requiredApprovals alwaysRequireApproval approvalThresholdUsd locked version } } }', { o: state.orgId });
  const byWf = Object.fromEntries(d.organization.policies.map((p) => [p.workflow, p]));
  const mayEdit = can('MANAGE_POLICIES', 'INITIATE');
  const rows = WORKFLOWS.map((wf) => {
    const p = byWf[wf];
    const lock = p && mayEdit ? h('button', { class: 'secondary', 'data-action': p.locked ? 'unlock' : 'lock', onclick: async () => {
      await act(p.locked ? 'Unlock requested' : 'Lock requested', () => gql(
        `mutation($o:ID!,$w:Workflow!){ ${p.locked ? 'unlockPolicy' : 'lockPolicy'}(orgId:$o,workflow:$w){ request{ status } } }`, { o: state.orgId, w: wf }));
      render();
    } }, p.locked ? 'Unlock' : 'Lock') : null;
    return h('tr', { 'data-workflow': wf },
      h('td', {}, wf), h('td', {}, p ? String(p.requiredApprovals) : 'no policy'),
      h('td', {}, p ? (p.alwaysRequireApproval ? 'always' : p.approvalThresholdUsd ? 'above ' + p.approvalThresholdUsd + ' USD' : 'when not allowed to execute') : '—'),
      h('td', {}, p ? (p.locked ? '🔒 locked' : 'unlocked') : '—'), h('td', {}, p ? 'v' + p.version : ''), h('td', {}, lock));
  });
  const form = mayEdit ? (() => {
    const f = h('form', { class: 'inline', id: 'policy-form', onsubmit: async (ev) => {
      ev.preventDefault();
      const v = new FormData(f);
      await act('Policy change requested', () => gql(
        'mutation($o:ID!,$w:Workflow!,$i:PolicyInput!){ setPolicy(orgId:$o,workflow:$w,input:$i){ request{ status } } }',
        { o: state.orgId, w: v.get('workflow'), i: { requiredApprovals: Number(v.get('approvals')), alwaysRequireApproval: v.get('always') === 'on',
          approvalThresholdUsd: v.get('threshold') || null } }));
      render();
    } },
    h('label', {}, 'Workflow', h('select', { name: 'workflow' }, WORKFLOWS.map((w) => h('option', { value: w }, w)))),
    h('label', {}, 'Approvals', h('input', { name: 'approvals', type: 'number', min: '0', max: '10', value: '1' })),
    h('label', {}, 'Threshold (USD)', h('input', { name: 'threshold', inputmode: 'decimal' })),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'always' }), 'always require approval'),
    h('button', { type: 'submit' }, 'Request change'));
    return h('section', { class: 'card' }, h('h2', {}, 'Change a policy'), f);
  })() : null;
  return h('div', {}, h('h1', {}, 'Policies'),
    h('section', { class: 'card' }, h('table', { id: 'policies' },
      h('tr', {}, ['Workflow', 'Approvals', 'When', 'Lock', 'Version', ''].map((t) => h('th', {}, t))), rows)), form);
}

async function addressesPage() {
  const d = await gql('query($o:ID!){ organization(id:$o){ accounts{ id name } addresses{ id accountId asset network address label createdAt } } }', { o: state.orgId });
  const org = d.organization;
  const form = can('MANAGE_ADDRESSES', 'INITIATE') ? (() => {
    const f = h('form', { class: 'inline', id: 'address-form', onsubmit: async (ev) => {
      ev.preventDefault();
      const v = new FormData(f);
      await act('Address requested', () => gql('mutation($o:ID!,$i:AddressInput!){ addAddress(orgId:$o,input:$i){ request{ status } } }',
        { o: state.orgId, i: { accountId: v.get('account'), asset: v.get('asset'), network: v.get('network'), address: v.get('address'), label: v.get('label') } }));
      render();
    } },
    h('label', {}, 'Account', h('select', { name: 'account' }, org.accounts.map((a) => h('option', { value: a.id }, a.name)))),
    h('label', {}, 'Asset', h('input', { name: 'asset', required: true, value: 'USDC' })),
    h('label', {}, 'Network', h('input', { name: 'network', required: true, value: 'ethereum' })),
    h('label', {}, 'Address', h('input', { name: 'address', required: true })),
    h('label', {}, 'Label', h('input', { name: 'label', required: true })),
    h('button', { type: 'submit' }, 'Whitelist'));
    return h('section', { class: 'card' }, h('h2', {}, 'Whitelist an address'), f);
  })() : null;
  return h('div', {}, h('h1', {}, 'Whitelisted addresses'), form,
    h('section', { class: 'card' }, h('table', { id: 'addresses' },
      h('tr', {}, ['Label', 'Asset', 'Network', 'Address', 'Added'].map((t) => h('th', {}, t))),
      org.addresses.map((a) => h('tr', {}, h('td', {}, a.label), h('td', {}, a.asset), h('td', {}, a.network),
        h('td', {}, h('code', {}, a.address)), h('td', {}, new Date(a.createdAt).toLocaleDateString()))))));
}

async function auditPage() {
  const d = await gql(`query($o:ID!){ organization(id:$o){ auditVerification{ valid }
      auditLog(first:100){ edges{ node{ seq at actorKind actorId action target requestId hash } } } } }`, { o: state.orgId });
  const org = d.organization;
  const exportCsv = h('button', { class: 'secondary', id: 'export-csv', onclick: async () => {
    const x = await act('Audit trail exported', () => gql('query($o:ID!){ organization(id:$o){ auditLogCsv } }', { o: state.orgId }));
    if (!x) return;
    const url = URL.createObjectURL(new Blob([x.organization.auditLogCsv], { type: 'text/csv' }));
    h('a', { href: url, download: 'audit-' + state.orgId + '.csv' }).click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } }, 'Export CSV');
  return h('div', {}, h('h1', {}, 'Audit trail'),
    h('section', { class: 'card' },
      h('p', {}, 'Hash chain: ', h('span', { class: 'status ' + (org.auditVerification.valid ? 'COMPLETED' : 'FAILED') },
        org.auditVerification.valid ? 'verified' : 'BROKEN'), ' ', exportCsv),
      h('table', { id: 'audit' }, h('tr', {}, ['#', 'When', 'Who', 'What', 'Target', 'Hash'].map((t) => h('th', {}, t))),
        org.auditLog.edges.map(({ node: r }) => h('tr', {}, h('td', {}, r.seq), h('td', {}, new Date(r.at).toLocaleString()),
          h('td', {}, r.actorKind), h('td', {}, r.action), h('td', {}, r.target || ''), h('td', {}, h('code', {}, r.hash.slice(0, 12))))))));
}

// ---- Start ----

window.addEventListener('hashchange', () => render());
$('sign-out').addEventListener('click', () => signOut(true));
$('org-switcher').addEventListener('change', async (e) => { await selectOrg(e.target.value); render(); });

(async () => {
  if (state.token) {
    try { await loadViewer(); } catch (_) { state.token = null; sessionStorage.removeItem(TOKEN_KEY); }
  }
  render();
})();
