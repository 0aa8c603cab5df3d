// The approval queue: what waits for a decision (the default view, /approvals)
// and what was decided (/history). Approvers approve, or reject with a reason
// after confirming; signers execute approved withdrawals and see their own
// daily cap. Each row says what is asked (a withdrawal's amount, value,
// destination and account; any other request in words, never raw JSON), who
// asked, under which policy version, and how many approvals it has.
//
// Also exported for the request page (request.js) and the navigation badge
// (main.js): the request's summary, its actions, and `pendingForViewer`.
import { html, useState } from '../lib/html.js';
import { gql, request } from '../lib/api.js';
import { app, can, toast } from '../lib/store.js';
import { Link } from '../lib/router.js';
import { Card, ConfirmButton, Loaded, PageTitle, RequestLink, Status, Table, UsageBar, act, useQuery } from '../lib/ui.js';
import { money, short, usd, when, words } from '../lib/format.js';

/**
 * What the pages need to put names on ids: accounts, addresses, members,
 * assets' precision. Read once per page (and again on live events).
 */
const NAMES = gql`query ApprovalsNames($o: ID!) {
  assets { symbol decimals }
  organization(id: $o) { id
    accounts { id name }
    addresses { id label network address asset }
    members(includeRemoved: true) { id user { id name email } } } }`;

const PENDING = gql`query ApprovalsPending($o: ID!) { organization(id: $o) { id
  requests(status: PENDING_APPROVAL, first: 25) { pageInfo { hasNextPage }
    nodes { id workflow operation payload status approvalsRequired policyVersion reason waitingReason createdAt updatedAt
      requester { kind id name user { id name email } }
      approvals { at delegationId approver { kind id name user { id name email } } }
      eligibleApprovers { id name email }
      withdrawal { accountId asset amount usdValue addressId state settlementReference executedAt
        address { label network address } } } } } }`;

const READY = gql`query ApprovalsReady($o: ID!) { organization(id: $o) { id
  viewerMember { id signerUsage { dailyCapUsd perTransactionMaxUsd usedTodayUsd heldUsd remainingUsd } }
  requests(status: APPROVED, workflow: INITIATE_WITHDRAWAL, first: 25) {
    nodes { id workflow operation payload status approvalsRequired policyVersion reason waitingReason createdAt updatedAt
      requester { kind id name user { id name email } }
      approvals { at delegationId approver { kind id name user { id name email } } }
      eligibleApprovers { id name email }
      withdrawal { accountId asset amount usdValue addressId state settlementReference executedAt
        address { label network address } } } } } }`;

const HISTORY = gql`query ApprovalsHistory($o: ID!, $s: RequestStatus, $after: String) { organization(id: $o) { id
  requests(status: $s, first: 25, after: $after) { pageInfo { hasNextPage endCursor }
    nodes { id workflow operation payload status approvalsRequired policyVersion reason waitingReason createdAt updatedAt
      requester { kind id name user { id name email } }
      approvals { at delegationId approver { kind id name user { id name email } } }
      eligibleApprovers { id name email }
      withdrawal { accountId asset amount usdValue addressId state settlementReference executedAt
        address { label network address } } } } } }`;

const WAITING_FOR = gql`query ApprovalsWaitingFor($o: ID!, $after: String) { organization(id: $o) { id
  requests(status: PENDING_APPROVAL, first: 200, after: $after) { pageInfo { hasNextPage endCursor }
    nodes { id eligibleApprovers { id } } } } }`;

const APPROVE = gql`mutation ApprovalsApprove($r: ID!) { approveRequest(requestId: $r) { id status approvalsRequired } }`;
const REJECT = gql`mutation ApprovalsReject($r: ID!, $why: String) { rejectRequest(requestId: $r, reason: $why) { id status approvalsRequired } }`;
const EXECUTE = gql`mutation ApprovalsExecute($r: ID!) { execute(requestId: $r) { id status approvalsRequired withdrawal { settlementReference } } }`;
const CANCEL = gql`mutation ApprovalsCancel($r: ID!) { cancelRequest(requestId: $r) { id status approvalsRequired } }`;

/** How many pending requests `userId` may approve in `orgId` (the navigation badge). */
export async function pendingForViewer(orgId, userId) {
  let n = 0;
  let after = null;
  for (let page = 0; page < 10; page += 1) {
    const d = await request(WAITING_FOR, { o: orgId, after });
    const c = d.organization.requests;
    n += c.nodes.filter((r) => r.eligibleApprovers.some((u) => u.id === userId)).length;
    if (!c.pageInfo.hasNextPage) break;
    after = c.pageInfo.endCursor;
  }
  return n;
}

/** Names for ids (accounts, addresses, members) and assets' precision, read once per page. */
export function useNames(orgId) {
  const q = useQuery(NAMES, { o: orgId });
  if (!q.data) return { q, ctx: null };
  const o = q.data.organization;
  const byId = (list) => Object.fromEntries(list.map((x) => [x.id, x]));
  const ctx = {
    accounts: byId(o.accounts),
    addresses: byId(o.addresses),
    members: byId(o.members),
    users: Object.fromEntries(o.members.map((m) => [m.user.id, m.user])),
    decimals: Object.fromEntries(q.data.assets.map((a) => [a.symbol, a.decimals])),
  };
  return { q, ctx };
}

/** A person as "Name" over a muted e-mail; a service user by its name. */
export function Person({ actor, user }) {
  const u = user || (actor && actor.user);
  if (u) return html`<span class="person"><span>${u.name || u.email}</span>${u.name ? html` <small class="muted">${u.email}</small>` : null}</span>`;
  if (!actor) return '—';
  if (actor.kind === 'SERVICE_USER') return html`<span class="person"><span>${actor.name}</span> <small class="muted">service user</small></span>`;
  return html`<span>${actor.name || words(actor.kind)}</span>`;
}

const durationText = (secs) => {
  const s = Number(secs) || 0;
  if (s === 0) return 'none';
  if (s % 86400 === 0) return `${s / 86400} day${s === 86400 ? '' : 's'}`;
  if (s % 3600 === 0) return `${s / 3600} hour${s === 3600 ? '' : 's'}`;
  if (s % 60 === 0) return `${s / 60} minute${s === 60 ? '' : 's'}`;
  return `${s} seconds`;
};
/** A workflow as people name it: "withdrawal", "address", "access", "policy-change". */
const WORKFLOW = { INITIATE_WITHDRAWAL: 'withdrawal', MANAGE_ADDRESSES: 'address', MANAGE_ACCESS: 'access', MANAGE_POLICIES: 'policy-change' };
export const workflowName = (w) => WORKFLOW[w] || words(w).toLowerCase();
/** "approvalThresholdUsd" → "approval threshold usd" */
const fieldName = (k) => words(k.replace(/([A-Z])/g, '_$1')).toLowerCase();
const roleList = (roles) => (roles || []).map(words).join(', ');
const limitText = (v, what) => (v === undefined ? null : v === null ? `no ${what}` : `${what} ${usd(v)}`);

/** A non-withdrawal request's payload, in words. */
export function describePayload(operation, payloadText, ctx) {
  let p;
  try { p = JSON.parse(payloadText); } catch (_) { return words(operation); }
  const member = (id) => {
    const m = ctx && ctx.members[id];
    return m ? (m.user.name ? `${m.user.name} <${m.user.email}>` : m.user.email) : `member ${short(id)}`;
  };
  const account = (id) => (ctx && ctx.accounts[id] ? ctx.accounts[id].name : `account ${short(id)}`);
  const address = (id) => {
    const a = ctx && ctx.addresses[id];
    return a ? `${a.label} (${a.address} on ${a.network})` : `address ${short(id)}`;
  };
  const scopes = (s) => (s && s.settings && s.settings.scopes ? s.settings.scopes.map(words).join(', ') : '');
  switch (operation) {
    case 'INVITE_MEMBER': return `Invite ${p.email} as ${roleList(p.roles)}`;
    case 'REVOKE_INVITATION': return `Revoke the invitation ${short(p.invitationId)}`;
    case 'REMOVE_MEMBER': return `Remove ${member(p.memberId)} from the organisation`;
    case 'SET_MEMBER_ROLES': return `Give ${member(p.memberId)} the roles ${roleList(p.roles)}`;
    case 'GRANT_PERMISSION':
    case 'REVOKE_PERMISSION':
      return `${operation === 'GRANT_PERMISSION' ? 'Grant' : 'Revoke'} ${words(p.action).toLowerCase()} on ${workflowName(p.workflow)} requests`
        + ` ${operation === 'GRANT_PERMISSION' ? 'to' : 'from'} ${member(p.memberId)}${p.accountId ? ` (account ${account(p.accountId)})` : ''}`;
    case 'SET_POLICY':
      return `Set the ${workflowName(p.workflow)} policy: ${p.requiredApprovals} approval${p.requiredApprovals === 1 ? '' : 's'}`
        + (p.alwaysRequireApproval ? ', always required' : '')
        + (p.approvalThresholdUsd ? `, above ${usd(p.approvalThresholdUsd)}` : '');
    case 'LOCK_POLICY': return `Lock the ${workflowName(p.workflow)} policy`;
    case 'UNLOCK_POLICY': return `Unlock the ${workflowName(p.workflow)} policy`;
    case 'CREATE_SERVICE_USER': return `Create the service user “${p.name}” with a key for ${scopes(p) || 'no scopes'}`;
    case 'CREATE_API_KEY': return `Add a key for ${scopes(p) || 'no scopes'} to service user ${short(p.serviceUserId)}`;
    case 'UPDATE_API_KEY': return `Change ${Object.keys(p.patch || {}).map(words).join(', ').toLowerCase() || 'nothing'} of key ${p.keyId}`;
    case 'ROTATE_API_KEY': return `Issue a new secret for key ${p.keyId}; the old one ${p.graceSecs ? `stays valid for ${durationText(p.graceSecs)}` : 'stops at once'}`;
    case 'REVOKE_API_KEY': return `Revoke key ${p.keyId}`;
    case 'REMOVE_SERVICE_USER': return `Remove service user ${short(p.serviceUserId)} and revoke its keys`;
    case 'ADD_ADDRESS': return `Whitelist ${p.label}: ${p.asset} to ${p.address} on ${p.network}, for account ${account(p.accountId)}`;
    case 'REMOVE_ADDRESS': return `Remove the address ${address(p.addressId)}`;
    case 'SET_RISK_LIMITS': {
      const who = p.layer === 'ORGANIZATION' ? 'the organisation' : p.layer === 'SIGNER' ? member(p.subject) : `key ${p.subject}`;
      const parts = [limitText(p.perTransactionMaxUsd, 'per-transaction maximum'), limitText(p.dailyCapUsd, 'daily cap'),
        limitText(p.approvalThresholdUsd, 'own approval threshold')].filter(Boolean);
      return `Limits for ${who}: ${parts.join(', ') || 'unchanged'}`;
    }
    case 'SET_BALANCE_ALERT': return p.thresholdUsd ? `Alert when stablecoins fall below ${usd(p.thresholdUsd)}` : 'Turn the balance alert off';
    case 'SET_LOW_BALANCE_PAUSE': return p.enabled ? 'Pause withdrawals while the balance is low' : 'Stop pausing withdrawals on a low balance';
    case 'SET_ADDRESS_COOLING_OFF': return `New addresses wait ${durationText(p.delaySecs)} before they can receive`;
    case 'SET_WITHDRAWAL_WINDOW':
      return p.window
        ? `Allow withdrawals ${p.window.days.map(words).join(', ')} ${String(p.window.opens).slice(0, 5)}–${String(p.window.closes).slice(0, 5)} ${p.window.timeZone}`
          + (p.window.outside === 'REQUIRE_APPROVAL' ? '; outside it they wait for approval' : '; refused outside it')
        : 'Allow withdrawals at any time';
    case 'DELEGATE_APPROVAL':
      return `${member(p.fromMemberId)} lends approval of ${workflowName(p.workflow)} requests to ${member(p.toMemberId)} until ${when(p.validUntil)}`;
    case 'REVOKE_DELEGATION': return `End the delegation ${short(p.delegationId)}`;
    default: {
      // An operation this console does not know yet: its fields, in words.
      const plain = (v) => (Array.isArray(v) ? v.map(plain).join(', ')
        : v && typeof v === 'object' ? Object.entries(v).map(([k, x]) => `${fieldName(k)} ${plain(x)}`).join(', ') : String(v));
      const rest = Object.entries(p).filter(([k]) => k !== 'operation').map(([k, v]) => `${fieldName(k)}: ${plain(v)}`);
      return `${words(operation)}${rest.length ? ' — ' + rest.join('; ') : ''}`;
    }
  }
}

/** The withdrawal's destination: the address the API names, else the whitelist's entry. */
function destination(w, ctx) {
  return w.address || (ctx && ctx.addresses[w.addressId]) || null;
}

/** What the request asks for, in a few lines. */
export function What({ r, ctx, full }) {
  const w = r.withdrawal;
  if (!w) return html`<span class="what" data-summary>${describePayload(r.operation, r.payload, ctx)}</span>`;
  const to = destination(w, ctx);
  const account = ctx && ctx.accounts[w.accountId];
  return html`<div class="what" data-summary>
    <strong class="figure" data-amount>${money(w.amount, w.asset, ctx ? ctx.decimals[w.asset] : undefined)}</strong>
    <span class="muted figure"> ≈ ${usd(w.usdValue)}</span>
    <div>to ${to ? html`<span data-destination>${to.label}</span> <code title=${to.address}>${full ? to.address : short(to.address, 10)}</code> on ${to.network}` : html`<code>${short(w.addressId)}</code>`}</div>
    <div class="muted">from ${account ? account.name : short(w.accountId)}</div>
  </div>`;
}

/**
 * A waiting reason for a person: the API's `CODE: message` without the code,
 * with its USD figures grouped ("ABOVE_THRESHOLD: 2500 USD is above …" →
 * "2,500.00 USD is above …").
 */
export function reasonText(reason) {
  if (!reason) return '';
  const text = reason.replace(/^[A-Z_]+:\s*/, '').replace(/\b(\d+(?:\.\d+)?) USD\b/g, (_, n) => usd(n));
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** "Withdrawal policy v3", "Address policy: none set" */
export const policyText = (r) => {
  const name = workflowName(r.workflow);
  return `${name.charAt(0).toUpperCase() + name.slice(1)} policy${r.policyVersion ? ' v' + r.policyVersion : ': none set'}`;
};

/** Approvals so far against what the request needs. */
export const approvalsText = (r) => `${r.approvals.length} of ${r.approvalsRequired}`;

/** Whether the signed-in person may decide this request (the API lists them). */
export const mayDecide = (r) => r.status === 'PENDING_APPROVAL' && !!app.viewer && r.eligibleApprovers.some((u) => u.id === app.viewer.user.id);
export const mayExecute = (r) => r.status === 'APPROVED' && !!r.withdrawal && can('INITIATE_WITHDRAWAL', 'EXECUTE');
export const mayCancel = (r) => r.status === 'PENDING_APPROVAL' && !!app.viewer && !!r.requester.user && r.requester.user.id === app.viewer.user.id;

function ApproveButton({ r, done }) {
  const [busy, setBusy] = useState(false);
  const approve = async () => {
    setBusy(true);
    await act('Approved', () => request(APPROVE, { r: r.id }), (d) => d.approveRequest);
    setBusy(false);
    done();
  };
  return html`<button type="button" data-action="approve" disabled=${busy} onClick=${approve}>Approve</button>`;
}

/** The buttons the viewer may use on a request; `after()` re-reads. */
export function Actions({ r, ctx, after }) {
  const done = () => after && after();
  const buttons = [];
  if (mayDecide(r)) {
    buttons.push(html`<${ApproveButton} r=${r} done=${done} />`);
    buttons.push(html`<${ConfirmButton} label="Reject" danger data-action="reject" title="Reject this request?"
      body=${html`<p>${r.withdrawal ? html`<${What} r=${r} ctx=${ctx} />` : describePayload(r.operation, r.payload, ctx)}</p>
        <p>The requester sees your reason. A rejected request cannot be approved later.</p>`}
      reasonLabel="Why is it rejected?" confirmLabel="Reject request"
      onConfirm=${async (why) => { await request(REJECT, { r: r.id, why }); toast('Request rejected.'); done(); }} />`);
  }
  if (mayExecute(r)) {
    buttons.push(html`<${ConfirmButton} label="Execute" data-action="execute" title="Send this withdrawal?"
      body=${html`<${What} r=${r} ctx=${ctx} /><p>It settles now and counts against your daily cap.</p>`}
      confirmLabel="Execute withdrawal"
      onConfirm=${async () => {
        const d = await request(EXECUTE, { r: r.id });
        toast(`Withdrawal executed: settlement ${d.execute.withdrawal.settlementReference}.`);
        done();
      }} />`);
  }
  if (mayCancel(r)) {
    buttons.push(html`<${ConfirmButton} label="Cancel request" class="secondary" data-action="cancel" title="Cancel your request?"
      confirmLabel="Cancel request" onConfirm=${async () => { await request(CANCEL, { r: r.id }); toast('Request cancelled.'); done(); }} />`);
  }
  return buttons.length ? html`<div class="row actions">${buttons}</div>` : null;
}

// Each cell renders one element: on a phone a cell is a (label, content) grid.
const columns = (ctx, after, withStatus) => [
  { label: 'What', class: 'what-col', render: (r) => html`<${What} r=${r} ctx=${ctx} />` },
  { label: 'Requested by', class: 'who-col', render: (r) => html`<div><${Person} actor=${r.requester} /><div class="muted">${when(r.createdAt)}</div></div>` },
  { label: 'Policy', render: (r) => html`<div>${policyText(r)}${r.waitingReason ? html`<div class="muted">${reasonText(r.waitingReason)}</div>` : null}</div>` },
  withStatus
    ? { label: 'Status', render: (r) => html`<div><${Status} value=${r.status} />${r.reason ? html`<div class="muted" data-reason>${r.status === 'REJECTED' ? r.reason : reasonText(r.reason)}</div>` : null}</div>` }
    : { label: 'Approvals', class: 'num', render: (r) => html`<span data-approvals>${approvalsText(r)}</span>` },
  { label: 'Actions', class: 'actions-col', render: (r) => html`<div class="stack-s"><${RequestLink} id=${r.id}>Open<//><${Actions} r=${r} ctx=${ctx} after=${after} /></div>` },
];

const rowProps = (r) => ({ 'data-request': r.id, 'data-status': r.status });

/** A signer's own daily cap: used, held and remaining today. */
function SignerCap({ usage }) {
  const u = usage;
  return html`<${Card} title="Your signing limit today" id="signer-cap">
    ${u.dailyCapUsd === null ? html`<p>You have no daily cap of your own; the organisation's limits apply.</p>` : html`
      <${UsageBar} usage=${u} />
      <dl class="facts">
        <dt>Daily cap</dt><dd class="figure" data-cap>${usd(u.dailyCapUsd)}</dd>
        <dt>Used today</dt><dd class="figure" data-used>${usd(u.usedTodayUsd)}</dd>
        <dt>Held by open withdrawals</dt><dd class="figure">${usd(u.heldUsd)}</dd>
        <dt>Remaining</dt><dd class="figure" data-remaining>${usd(u.remainingUsd)}</dd>
      </dl>`}
    ${u.perTransactionMaxUsd ? html`<p class="muted">At most ${usd(u.perTransactionMaxUsd)} per withdrawal.</p>` : null}
  <//>`;
}

/** Approved withdrawals waiting for a signer, and the signer's cap. */
function ReadyToExecute({ orgId, ctx }) {
  const q = useQuery(READY, { o: orgId });
  return html`<${Loaded} q=${q}>${(d) => html`
    <div class="grid ready">
      <${Card} title="Ready to execute" id="ready">
        <${Table} id="ready-table" caption="Approved withdrawals waiting for a signer" rows=${d.organization.requests.nodes}
          empty="No approved withdrawal is waiting to be executed." rowProps=${rowProps}
          columns=${[
            { label: 'What', class: 'what-col', render: (r) => html`<${What} r=${r} ctx=${ctx} />` },
            { label: 'Requested by', class: 'who-col', render: (r) => html`<div><${Person} actor=${r.requester} /></div>` },
            { label: 'Actions', class: 'actions-col', render: (r) => html`<div class="stack-s"><${RequestLink} id=${r.id}>Open<//><${Actions} r=${r} ctx=${ctx} after=${q.reload} /></div>` },
          ]} />
      <//>
      <${SignerCap} usage=${d.organization.viewerMember.signerUsage} />
    </div>`}<//>`;
}

export function ApprovalsPage() {
  const { orgId } = app;
  const { q: cq, ctx } = useNames(orgId);
  const q = useQuery(PENDING, { o: orgId });
  const signer = can('INITIATE_WITHDRAWAL', 'EXECUTE');
  return html`<${PageTitle} sub="Requests waiting for a decision. Decided requests are in the history.">Approvals<//>
    <div class="row tabs" role="navigation" aria-label="Queue"><${Link} href="/approvals" class="active">Pending<//><${Link} href="/history">History<//></div>
    ${signer && ctx ? html`<${ReadyToExecute} orgId=${orgId} ctx=${ctx} />` : null}
    <${Loaded} q=${cq}>${() => html`<${Loaded} q=${q}>${(d) => {
      const rows = d.organization.requests.nodes;
      const mine = rows.filter(mayDecide).length;
      return html`<${Card} title="Pending" id="pending"
        actions=${html`<span class="muted" id="pending-summary">${rows.length} pending, ${mine} waiting for you</span>`}>
        <${Table} id="pending-table" caption="Pending requests" rows=${rows} columns=${columns(ctx, q.reload, false)} rowProps=${rowProps}
          empty="Nothing is waiting for approval." />
        ${d.organization.requests.pageInfo.hasNextPage ? html`<p class="muted">Showing the newest 25; decide these to see more.</p>` : null}
      <//>`;
    }}<//>`}<//>`;
}

const HISTORY_STATUSES = ['COMPLETED', 'APPROVED', 'REJECTED', 'CANCELLED', 'EXPIRED', 'FAILED'];

export function HistoryPage() {
  const { orgId } = app;
  const { q: cq, ctx } = useNames(orgId);
  const [status, setStatus] = useState('');
  const [pages, setPages] = useState([null]);
  return html`<${PageTitle} sub="Every decided request, newest first.">History<//>
    <div class="row tabs" role="navigation" aria-label="Queue"><${Link} href="/approvals">Pending<//><${Link} href="/history" class="active">History<//></div>
    <${Card} title="Decided requests" id="history"
      actions=${html`<label class="row"><span class="field-label">Status</span>
        <select id="history-status" value=${status} onChange=${(e) => { setStatus(e.target.value); setPages([null]); }}>
          <option value="">All decided</option>
          ${HISTORY_STATUSES.map((s) => html`<option value=${s}>${words(s)}</option>`)}
        </select></label>`}>
      <${Loaded} q=${cq}>${() => html`${pages.map((after, i) => html`<${HistoryPart} key=${status + ':' + i} orgId=${orgId} ctx=${ctx}
        status=${status} after=${after} last=${i === pages.length - 1} more=${(cursor) => setPages([...pages, cursor])} />`)}`}<//>
    <//>`;
}

/** One page of the history; the last page offers the next. */
function HistoryPart({ orgId, ctx, status, after, last, more }) {
  const q = useQuery(HISTORY, { o: orgId, s: status || null, after });
  return html`<${Loaded} q=${q}>${(d) => {
    const c = d.organization.requests;
    const rows = c.nodes.filter((r) => r.status !== 'PENDING_APPROVAL');
    return html`<${Table} id=${after ? undefined : 'history-table'} caption="Decided requests" rows=${rows}
        columns=${columns(ctx, q.reload, true)} rowProps=${rowProps} empty=${after ? '' : 'No request has been decided yet.'} />
      ${last && c.pageInfo.hasNextPage ? html`<button type="button" class="secondary" id="history-more" onClick=${() => more(c.pageInfo.endCursor)}>Show older</button>` : null}`;
  }}<//>`;
}
