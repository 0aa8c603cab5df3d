// Policies (/policies), for administrators: each governed workflow's
// approval policy — how many approvals, the withdrawal approval threshold,
// whether every request waits, locked or not, its version — and the changes
// to it: set, lock (from then on changes need someone else's approval) and
// unlock (always waits for someone else). Each change says whether it
// completed or waits for approval.
import { html } from '../lib/html.js';
import { gql, request } from '../lib/api.js';
import { app, can } from '../lib/store.js';
import { useQuery, Loaded, Card, Status, Field, ConfirmButton, PageTitle } from '../lib/ui.js';
import { useChange, useForm, decimalOrNull } from '../lib/changes.js';
import { usd, when, words } from '../lib/format.js';
import { WORKFLOWS } from './members.js';

const POLICIES = gql`query PoliciesPage($o: ID!) { organization(id: $o) { id
  policies { workflow requiredApprovals alwaysRequireApproval approvalThresholdUsd locked version updatedAt } } }`;
const SET_POLICY = gql`mutation PoliciesSet($o: ID!, $w: Workflow!, $i: PolicyInput!) {
  setPolicy(orgId: $o, workflow: $w, input: $i) { request { id status approvalsRequired } } }`;
const LOCK = gql`mutation PoliciesLock($o: ID!, $w: Workflow!) {
  lockPolicy(orgId: $o, workflow: $w) { request { id status approvalsRequired } } }`;
const UNLOCK = gql`mutation PoliciesUnlock($o: ID!, $w: Workflow!) {
  unlockPolicy(orgId: $o, workflow: $w) { request { id status approvalsRequired } } }`;

const ABOUT = {
  INITIATE_WITHDRAWAL: 'Withdrawals: who approves a payout before a signer executes it.',
  MANAGE_ADDRESSES: 'Whitelisting and removing withdrawal addresses.',
  MANAGE_ACCESS: 'Members, invitations, permissions, service users and keys, delegations.',
  MANAGE_POLICIES: 'Risk limits, the balance alert, the withdrawal window, cooling-off.',
};

function PolicyCard({ workflow, policy, run }) {
  const admin = can('MANAGE_POLICIES', 'INITIATE');
  const f = useForm({
    approvals: String(policy ? policy.requiredApprovals : 1),
    always: policy ? policy.alwaysRequireApproval : false,
    threshold: policy && policy.approvalThresholdUsd ? policy.approvalThresholdUsd : '',
  });
  const name = words(workflow).toLowerCase();
  const save = (e) => {
    e.preventDefault();
    const input = {
      requiredApprovals: Number(f.values.approvals),
      alwaysRequireApproval: !!f.values.always,
      approvalThresholdUsd: workflow === 'INITIATE_WITHDRAWAL' ? decimalOrNull(f.values.threshold) : null,
    };
    run(`Set the ${name} policy`, () => request(SET_POLICY, { o: app.orgId, w: workflow, i: input }), (x) => x.setPolicy.request);
  };
  const lock = () => run(`Lock the ${name} policy`, () => request(LOCK, { o: app.orgId, w: workflow }), (x) => x.lockPolicy.request);
  const unlock = () => run(`Unlock the ${name} policy`, () => request(UNLOCK, { o: app.orgId, w: workflow }), (x) => x.unlockPolicy.request);
  return html`<${Card} title=${words(workflow)} id=${'policy-' + workflow}
    actions=${policy ? html`<${Status} value=${policy.locked ? 'LOCKED' : 'ACTIVE'}>${policy.locked ? 'locked' : 'unlocked'}<//>` : html`<${Status} value="NONE">no policy<//>`}>
    <p class="muted">${ABOUT[workflow]}</p>
    ${policy ? html`<dl class="facts" data-policy=${workflow} data-version=${policy.version} data-locked=${String(policy.locked)}>
        <dt>Approvals</dt><dd>${policy.requiredApprovals === 0 ? 'None' : policy.requiredApprovals}${policy.alwaysRequireApproval ? ', for every request' : ''}</dd>
        ${workflow === 'INITIATE_WITHDRAWAL' ? html`<dt>Threshold</dt><dd>${policy.approvalThresholdUsd ? `Above ${usd(policy.approvalThresholdUsd)} a withdrawal waits` : 'None'}</dd>` : null}
        <dt>Version</dt><dd>${policy.version}, ${when(policy.updatedAt)}</dd>
      </dl>`
      : html`<p data-policy=${workflow} data-version="0">No policy: the built-in rules apply.</p>`}
    ${admin ? html`<form class="stack" onSubmit=${save} aria-label=${'Set the ' + name + ' policy'}>
      <div class="form-row">
        <${Field} label="Approvals required"><input type="number" min="0" max="10" required ...${f.bind('approvals')} /><//>
        ${workflow === 'INITIATE_WITHDRAWAL' ? html`<${Field} label="Approval threshold (USD)" hint="At or below it no approval is needed. Blank: none.">
          <input inputmode="decimal" ...${f.bind('threshold')} placeholder="10,000" /><//>` : null}
      </div>
      <label class="check"><input type="checkbox" ...${f.check('always')} />Every request waits for approval</label>
      ${workflow !== 'INITIATE_WITHDRAWAL' ? html`<p class="muted">Members who hold EXECUTE here (admins) complete their own changes at once unless every request waits; everyone else waits for the approvals.</p>` : null}
      <div class="row">
        <button type="submit" data-action="set-policy">${policy ? 'Save policy' : 'Create policy'}</button>
        ${policy && !policy.locked ? html`<${ConfirmButton} label="Lock" class="secondary" data-action="lock-policy"
          title=${'Lock the ' + name + ' policy?'} confirmLabel="Lock policy"
          body=${html`<p>From then on, changing or unlocking this policy needs the approval of someone other than the requester.</p>`}
          onConfirm=${lock} />` : null}
        ${policy && policy.locked ? html`<button type="button" class="secondary" data-action="unlock-policy" onClick=${unlock}>Unlock</button>` : null}
      </div>
    </form>` : null}
  <//>`;
}

export function PoliciesPage() {
  const q = useQuery(POLICIES, { o: app.orgId });
  const [run, notice] = useChange();
  return html`<${PageTitle} sub="How many approvals each kind of request needs.">Policies<//>
    ${notice}
    <${Loaded} q=${q}>${(d) => html`<div class="grid">
      ${WORKFLOWS.map((w) => html`<${PolicyCard} key=${w} workflow=${w} policy=${d.organization.policies.find((p) => p.workflow === w)} run=${run} />`)}
    </div>`}<//>`;
}
