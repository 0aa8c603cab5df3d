// A request's own page, /requests/<id>: the address approver digest e-mails
// link to. It says what is asked, who asked, under which policy version, where
// the request stands, and its timeline — created, each approval, the
// rejection and its reason, execution and the settlement reference — with the
// actions the viewer may take (approve, reject with a reason, execute, cancel).
// Administrators also see the request's audit records.
import { html, useEffect } from '../lib/html.js';
import { gql } from '../lib/api.js';
import { app, can, selectOrg } from '../lib/store.js';
import { Link } from '../lib/router.js';
import { Card, Loaded, PageTitle, Status, Table, useQuery } from '../lib/ui.js';
import { when, words } from '../lib/format.js';
import { Actions, Person, What, approvalsText, describePayload, policyText, reasonText, useNames } from './approvals.js';

const REQUEST = gql`query RequestPage($r: ID!) { request(id: $r) {
  id organizationId workflow operation payload status approvalsRequired policyVersion reason waitingReason createdAt updatedAt
  requester { kind id name user { id name email } }
  decidedBy { kind id name user { id name email } }
  approvals { at delegationId approver { kind id name user { id name email } } }
  eligibleApprovers { id name email }
  withdrawal { accountId asset amount usdValue addressId state settlementReference executedAt
    address { label network address } executor { kind id name user { id name email } } } } }`;

const HISTORY = gql`query RequestAuditRecords($r: ID!) { request(id: $r) { id history { seq at action actorKind actorId actorName } } }`;

const HOLD = { HELD: 'held on the account', SETTLED: 'settled', RELEASED: 'hold released' };

/** The request's life, oldest first. */
function timeline(r) {
  const items = [{ key: 'created', at: r.createdAt, title: 'Created', who: html`<${Person} actor=${r.requester} />` }];
  for (const [i, a] of [...r.approvals].sort((x, y) => x.at.localeCompare(y.at)).entries()) {
    items.push({ key: 'approval-' + i, at: a.at, title: `Approved (${i + 1} of ${r.approvalsRequired})`, who: html`<${Person} actor=${a.approver} />`,
      note: a.delegationId ? 'under a delegation of approval' : null, kind: 'approval' });
  }
  const w = r.withdrawal;
  switch (r.status) {
    case 'PENDING_APPROVAL': {
      const left = r.approvalsRequired - r.approvals.length;
      const names = r.eligibleApprovers.map((u) => u.name || u.email).join(', ');
      items.push({ key: 'waiting', title: `Waiting for ${left === 1 ? 'one more approval' : left + ' more approvals'}`,
        note: names ? `Can approve: ${names}` : 'Nobody can approve it at the moment.', kind: 'waiting' });
      break;
    }
    case 'APPROVED':
      items.push({ key: 'ready', title: w ? 'Approved: waiting for a signer to execute it' : 'Approved', kind: 'waiting' });
      break;
    case 'REJECTED':
      items.push({ key: 'rejected', at: r.updatedAt, title: 'Rejected', who: r.decidedBy ? html`<${Person} actor=${r.decidedBy} />` : null, note: r.reason ? html`Reason: <q data-rejection-reason>${r.reason}</q>` : null, kind: 'bad' });
      break;
    case 'CANCELLED':
      items.push({ key: 'cancelled', at: r.updatedAt, title: 'Cancelled', who: r.decidedBy ? html`<${Person} actor=${r.decidedBy} />` : null, kind: 'bad' });
      break;
    case 'EXPIRED':
    case 'FAILED':
      items.push({ key: 'end', at: r.updatedAt, title: words(r.status), note: reasonText(r.reason), kind: 'bad' });
      break;
    case 'COMPLETED':
      if (w && w.executedAt) {
        items.push({ key: 'executed', at: w.executedAt, title: 'Executed', who: w.executor ? html`<${Person} actor=${w.executor} />` : null, kind: 'ok',
          note: w.settlementReference ? html`Settlement reference <code data-settlement>${w.settlementReference}</code>` : null });
      } else {
        items.push({ key: 'completed', at: r.updatedAt, title: 'Completed', kind: 'ok' });
      }
      break;
    default:
  }
  return items;
}

function Timeline({ r }) {
  return html`<ol class="timeline" id="timeline">
    ${timeline(r).map((i) => html`<li key=${i.key} data-event=${i.key} class=${i.kind || ''}>
      <strong>${i.title}</strong>${i.at ? html` <span class="muted">${when(i.at)}</span>` : null}
      ${i.who ? html`<div>${i.who}</div>` : null}
      ${i.note ? html`<div class="muted">${i.note}</div>` : null}
    </li>`)}
  </ol>`;
}

/** The request's audit records, for those who may read the audit trail. */
function AuditRecords({ id, ctx }) {
  const q = useQuery(HISTORY, { r: id });
  const users = ctx ? ctx.users : {};
  return html`<${Card} title="Audit records" id="request-audit"><${Loaded} q=${q}>${(d) => html`<${Table} caption="Audit records of this request"
    rows=${d.request.history.map((h) => ({ ...h, id: h.seq }))} empty="No audit record yet."
    columns=${[
      { label: 'When', render: (h) => when(h.at) },
      { label: 'What', render: (h) => words(h.action) },
      { label: 'Who', render: (h) => (users[h.actorId] ? html`<${Person} user=${users[h.actorId]} />` : h.actorName) },
      { label: 'Record', class: 'num', render: (h) => '#' + h.seq },
    ]} />`}<//><//>`;
}

export function RequestPage({ params }) {
  const q = useQuery(REQUEST, { r: params.id });
  const r = q.data && q.data.request;
  // A link from an e-mail may name a request of another of the viewer's organisations.
  useEffect(() => {
    if (r && r.organizationId !== app.orgId && app.orgs.some((o) => o.id === r.organizationId)) selectOrg(r.organizationId);
  }, [r && r.organizationId]);
  const { ctx } = useNames(app.orgId);
  if (q.data && !r) {
    return html`<${PageTitle}>Request not found<//><${Card}><p>There is no request with this address that you may see.
      <${Link} href="/approvals">Back to the approval queue<//></p><//>`;
  }
  return html`<${Loaded} q=${q}>${() => {
    const title = r.withdrawal ? 'Withdrawal request' : words(r.operation);
    return html`<${PageTitle} sub=${html`<span title=${r.id}>Request ${r.id.slice(0, 8)}</span>`}>${title}<//>
      <div class="grid request">
        <${Card} title="What is asked" id="request-summary">
          <${What} r=${r} ctx=${ctx} full />
          <dl class="facts">
            <dt>Status</dt><dd><span id="request-status" data-status=${r.status}><${Status} value=${r.status} /></span></dd>
            <dt>Requested by</dt><dd><${Person} actor=${r.requester} /></dd>
            <dt>Policy</dt><dd id="request-policy">${policyText(r)}</dd>
            <dt>Approvals</dt><dd id="request-approvals">${approvalsText(r)}</dd>
            ${r.waitingReason ? html`<dt>${r.status === 'PENDING_APPROVAL' ? 'Waits because' : 'Needed approval because'}</dt><dd>${reasonText(r.waitingReason)}</dd>` : null}
            ${r.withdrawal ? html`<dt>Funds</dt><dd>${HOLD[r.withdrawal.state] || words(r.withdrawal.state)}</dd>` : null}
            ${r.withdrawal && r.withdrawal.settlementReference ? html`<dt>Settlement</dt><dd><code id="settlement-reference">${r.withdrawal.settlementReference}</code></dd>` : null}
            ${!r.withdrawal ? html`<dt>Change</dt><dd>${describePayload(r.operation, r.payload, ctx)}</dd>` : null}
          </dl>
          <div id="request-actions"><${Actions} r=${r} ctx=${ctx} after=${q.reload} /></div>
        <//>
        <${Card} title="Timeline"><${Timeline} r=${r} /><//>
      </div>
      ${can('MANAGE_ACCESS', 'VIEW') ? html`<${AuditRecords} id=${r.id} ctx=${ctx} />` : null}`;
  }}<//>`;
}
