// Settings (/settings), for administrators and every member: the stablecoin
// balance alert's threshold and the low-balance pause, the withdrawal
// window, delegations of APPROVE (holiday cover) with their revocation, and
// the viewer's own approval-notice e-mails. Each governed change says
// whether it completed or waits for approval.
import { html, useState } from '../lib/html.js';
import { gql, request, errorText } from '../lib/api.js';
import { app, can, toast } from '../lib/store.js';
import { useQuery, Loaded, Card, Table, Status, Field, ConfirmButton, PageTitle } from '../lib/ui.js';
import { useChange, useForm, Checks, decimalOrNull } from '../lib/changes.js';
import { usd, when, words } from '../lib/format.js';

const WEEKDAYS = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'];
const DELEGABLE = ['INITIATE_WITHDRAWAL', 'MANAGE_ADDRESSES', 'MANAGE_ACCESS', 'MANAGE_POLICIES'];

const SETTINGS = gql`query SettingsPage($o: ID!) { organization(id: $o) { id pauseOnLowBalance
  balanceAlert { state thresholdUsd totalStablecoinUsd changedAt withdrawalsPaused }
  withdrawalWindow { timeZone days opens closes outside openNow }
  viewerMember { id
    delegationsGiven { id workflow fromMemberId toMemberId validFrom validUntil revokedAt active }
    delegationsReceived { id workflow fromMemberId toMemberId validFrom validUntil revokedAt active } }
  members { id user { id name email } } } }`;
const ALL_DELEGATIONS = gql`query SettingsAllDelegations($o: ID!) { organization(id: $o) { id
  members { id delegationsGiven { id workflow fromMemberId toMemberId validFrom validUntil revokedAt active } } } }`;
const SET_ALERT = gql`mutation SettingsBalanceAlert($o: ID!, $t: Decimal) {
  setBalanceAlert(orgId: $o, thresholdUsd: $t) { request { id status approvalsRequired } } }`;
const SET_PAUSE = gql`mutation SettingsLowBalancePause($o: ID!, $e: Boolean!) {
  setLowBalancePause(orgId: $o, enabled: $e) { request { id status approvalsRequired } } }`;
const SET_WINDOW = gql`mutation SettingsWithdrawalWindow($o: ID!, $i: WithdrawalWindowInput) {
  setWithdrawalWindow(orgId: $o, input: $i) { request { id status approvalsRequired } } }`;
const DELEGATE = gql`mutation SettingsDelegate($o: ID!, $i: DelegationInput!) {
  delegateApproval(orgId: $o, input: $i) { request { id status approvalsRequired } } }`;
const REVOKE_DELEGATION = gql`mutation SettingsRevokeDelegation($o: ID!, $d: ID!) {
  revokeDelegation(orgId: $o, delegationId: $d) { request { id status approvalsRequired } } }`;
const NOTICES = gql`query SettingsApprovalNotices($o: ID!) { organization(id: $o) { id viewerMember { id approvalNotices } } }`;
const SET_NOTICES = gql`mutation SettingsSetApprovalNotices($o: ID!, $e: Boolean!) {
  setApprovalNotices(orgId: $o, enabled: $e) { id approvalNotices } }`;

/** The viewer's own approver e-mails in this organisation, on or off (not governed: it is theirs). */
export function ApprovalNotices() {
  const q = useQuery(NOTICES, { o: app.orgId });
  const [busy, setBusy] = useState(false);
  const on = q.data ? q.data.organization.viewerMember.approvalNotices : false;
  const toggle = async () => {
    setBusy(true);
    try {
      const d = await request(SET_NOTICES, { o: app.orgId, e: !on });
      toast(d.setApprovalNotices.approvalNotices ? 'Approval notices on: you are e-mailed when a request waits for you.' : 'Approval notices off.');
      q.reload();
    } catch (e) {
      toast(`Changing approval notices failed: ${errorText(e)}`, 'error');
    } finally {
      setBusy(false);
    }
  };
  return html`<${Loaded} q=${q}>${() => html`<div class="stack-s">
    <label class="check"><input type="checkbox" id="approval-notices" checked=${on} disabled=${busy} onChange=${toggle} />
      E-mail me when a request waits for my approval</label>
    <p class="muted" data-notices=${on ? 'on' : 'off'}>${on ? 'On: each waiting request you may approve is e-mailed to you.' : 'Off: check the approval queue yourself.'}</p>
  </div>`}<//>`;
}

function BalanceAlertCard({ o, run }) {
  const a = o.balanceAlert;
  const f = useForm({ threshold: a.thresholdUsd || '' });
  const admin = can('MANAGE_POLICIES', 'INITIATE');
  const save = (e) => {
    e.preventDefault();
    const t = decimalOrNull(f.values.threshold);
    run(t ? `Set the balance alert to ${usd(t)}` : 'Clear the balance alert', () => request(SET_ALERT, { o: app.orgId, t }), (x) => x.setBalanceAlert.request);
  };
  const pause = (enabled) => run(enabled ? 'Pause withdrawals while the balance is low' : 'Stop pausing withdrawals on a low balance',
    () => request(SET_PAUSE, { o: app.orgId, e: enabled }), (x) => x.setLowBalancePause.request);
  return html`<${Card} title="Balance alert" id="balance-alert">
    <dl class="facts">
      <dt>State</dt><dd><${Status} value=${a.state} /></dd>
      <dt>Stablecoins now</dt><dd class="figure">${usd(a.totalStablecoinUsd)}</dd>
      <dt>Threshold</dt><dd class="figure" id="alert-threshold">${a.thresholdUsd ? usd(a.thresholdUsd) : 'not set'}</dd>
      <dt>Low-balance pause</dt><dd id="pause-state">${o.pauseOnLowBalance ? 'On: new withdrawals are refused while the alert is low' : 'Off'}${a.withdrawalsPaused ? html` <${Status} value="LOW">paused now<//>` : null}</dd>
      ${a.changedAt ? html`<dt>Last change</dt><dd>${when(a.changedAt)}</dd>` : null}
    </dl>
    ${admin ? html`<form class="inline" id="alert-form" onSubmit=${save}>
        <${Field} label="Alert below (USD)"><input inputmode="decimal" ...${f.bind('threshold')} placeholder="50,000" /><//>
        <button type="submit">Save threshold</button>
      </form>
      <p class="muted">Blank clears the alert.</p>
      <div class="row">
        ${o.pauseOnLowBalance
          ? html`<button type="button" class="secondary" id="pause-off" onClick=${() => pause(false)}>Stop pausing on a low balance</button>`
          : html`<button type="button" class="secondary" id="pause-on" onClick=${() => pause(true)}>Pause withdrawals while low</button>`}
      </div>` : null}
  <//>`;
}

function WindowCard({ o, run }) {
  const w = o.withdrawalWindow;
  const zone = w ? w.timeZone : Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const f = useForm({ timeZone: zone, opens: w ? w.opens : '08:00', closes: w ? w.closes : '18:00', outside: w ? w.outside : 'REFUSE' });
  const [days, setDays] = useState(w ? w.days : ['MON', 'TUE', 'WED', 'THU', 'FRI']);
  const admin = can('MANAGE_POLICIES', 'INITIATE');
  const save = (e) => {
    e.preventDefault();
    const v = f.values;
    const input = { timeZone: v.timeZone.trim(), days: WEEKDAYS.filter((d) => days.includes(d)), opens: v.opens, closes: v.closes, outside: v.outside };
    run('Set the withdrawal window', () => request(SET_WINDOW, { o: app.orgId, i: input }), (x) => x.setWithdrawalWindow.request);
  };
  const lift = () => run('Lift the withdrawal window', () => request(SET_WINDOW, { o: app.orgId, i: null }), (x) => x.setWithdrawalWindow.request);
  return html`<${Card} title="Withdrawal window" id="withdrawal-window">
    <p id="window-now">${w
      ? html`${w.days.map(words).join(', ')}, ${w.opens}–${w.closes} (${w.timeZone}). Outside it a withdrawal is ${w.outside === 'REFUSE' ? 'refused' : 'accepted but waits for approval'}. <${Status} value=${w.openNow ? 'ACTIVE' : 'PENDING'}>${w.openNow ? 'open now' : 'closed now'}<//>`
      : 'No window: withdrawals may be made at any time.'}</p>
    ${admin ? html`<form class="stack" id="window-form" onSubmit=${save}>
      <${Checks} legend="Days" name="day" options=${WEEKDAYS} value=${days} onChange=${setDays} label=${words} />
      <div class="form-row">
        <${Field} label="Opens" hint="HH:MM, local time."><input required pattern="[0-2][0-9]:[0-5][0-9]" ...${f.bind('opens')} /><//>
        <${Field} label="Closes" hint="24:00 is the end of the day."><input required pattern="[0-2][0-9]:[0-5][0-9]" ...${f.bind('closes')} /><//>
        <${Field} label="Time zone" hint="IANA name, e.g. Europe/Zurich."><input required ...${f.bind('timeZone')} /><//>
      </div>
      <${Field} label="Outside the window"><select ...${f.bind('outside')}>
        <option value="REFUSE">Refuse the withdrawal</option>
        <option value="REQUIRE_APPROVAL">Accept it, but it waits for approval</option></select><//>
      <div class="row"><button type="submit" disabled=${!days.length}>Save window</button>
        ${w ? html`<button type="button" class="secondary" id="lift-window" onClick=${lift}>Lift the window</button>` : null}</div>
    </form>` : null}
  <//>`;
}

function Delegations({ o, run }) {
  const me = o.viewerMember.id;
  const byId = new Map(o.members.map((m) => [m.id, m]));
  const name = (id) => { const m = byId.get(id); return m ? (m.user.name || m.user.email) : 'a former member'; };
  // Everyone's delegations for those who may see them, otherwise one's own.
  const everyone = useQuery(ALL_DELEGATIONS, { o: app.orgId }, { skip: !can('MANAGE_ACCESS', 'VIEW') });
  const all = everyone.data
    ? everyone.data.organization.members.flatMap((m) => m.delegationsGiven)
    : [...o.viewerMember.delegationsGiven, ...o.viewerMember.delegationsReceived];
  const manager = can('MANAGE_ACCESS', 'INITIATE');
  const inWeek = new Date(Date.now() + 7 * 86400e3);
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
  const f = useForm({ from: me, to: '', workflow: 'INITIATE_WITHDRAWAL', until: local(inWeek) });
  const submit = async (e) => {
    e.preventDefault();
    const v = f.values;
    const input = { toMemberId: v.to, workflow: v.workflow, until: new Date(v.until).toISOString(), ...(v.from && v.from !== me ? { fromMemberId: v.from } : {}) };
    const d = await run(`Lend ${name(v.from)}'s approval on ${words(v.workflow).toLowerCase()} to ${name(v.to)}`,
      () => request(DELEGATE, { o: app.orgId, i: input }), (x) => x.delegateApproval.request);
    if (d) f.set({ to: '' });
  };
  const revoke = (dl) => run(`Revoke the delegation from ${name(dl.fromMemberId)} to ${name(dl.toMemberId)}`,
    () => request(REVOKE_DELEGATION, { o: app.orgId, d: dl.id }), (x) => x.revokeDelegation.request);
  const state = (dl) => (dl.revokedAt ? 'REVOKED' : dl.active ? 'ACTIVE' : new Date(dl.validUntil) < new Date() ? 'EXPIRED' : 'PENDING');
  return html`<${Card} title="Delegations" id="delegations">
    <p class="muted">Lend APPROVE on one workflow to another member for a while (holiday cover). The delegate never approves their own requests.</p>
    <${Table} id="delegations-table" caption="Delegations" empty="No delegations." rows=${all}
      rowProps=${(dl) => ({ 'data-delegation': name(dl.fromMemberId) + '→' + name(dl.toMemberId), 'data-state': state(dl) })}
      columns=${[
        { label: 'From', render: (dl) => name(dl.fromMemberId) },
        { label: 'To', render: (dl) => name(dl.toMemberId) },
        { label: 'Workflow', render: (dl) => words(dl.workflow) },
        { label: 'Runs', render: (dl) => html`${when(dl.validFrom)} – ${when(dl.validUntil)}` },
        { label: 'State', render: (dl) => html`<${Status} value=${state(dl)}>${words(state(dl))}<//>` },
        { label: 'Actions', render: (dl) => (!dl.revokedAt && state(dl) !== 'EXPIRED' && (manager || dl.fromMemberId === me) ? html`<${ConfirmButton}
            label="Revoke" class="secondary small" danger title="Revoke this delegation?" confirmLabel="Revoke delegation"
            aria-label=${'Revoke the delegation from ' + name(dl.fromMemberId) + ' to ' + name(dl.toMemberId)}
            body=${html`<p>${name(dl.toMemberId)} stops counting as an approver on ${words(dl.workflow).toLowerCase()} at once.</p>`}
            onConfirm=${() => revoke(dl)} />` : null) },
      ]} />
    <h3>Lend approval</h3>
    <form class="form-row" id="delegate-form" onSubmit=${submit}>
      ${manager ? html`<${Field} label="From"><select ...${f.bind('from')}>${o.members.map((m) => html`<option value=${m.id}>${m.user.name || m.user.email}${m.id === me ? ' (you)' : ''}</option>`)}</select><//>` : null}
      <${Field} label="To"><select required ...${f.bind('to')}><option value="">Choose a member</option>
        ${o.members.filter((m) => m.id !== f.values.from).map((m) => html`<option value=${m.id}>${m.user.name || m.user.email}</option>`)}</select><//>
      <${Field} label="Workflow"><select ...${f.bind('workflow')}>${DELEGABLE.map((w) => html`<option value=${w}>${words(w)}</option>`)}</select><//>
      <${Field} label="Until"><input type="datetime-local" required ...${f.bind('until')} /><//>
      <div><button type="submit">Delegate</button></div>
    </form>
  <//>`;
}

export function SettingsPage() {
  const q = useQuery(SETTINGS, { o: app.orgId });
  const [run, notice] = useChange();
  return html`<${PageTitle} sub="The organisation's balance alert, withdrawal window and delegations, and your own notices.">Settings<//>
    ${notice}
    <${Loaded} q=${q}>${(d) => html`
      <div class="grid">
        <${BalanceAlertCard} o=${d.organization} run=${run} />
        <${Card} title="Your approval notices" id="approval-notices-card"><${ApprovalNotices} /><//>
      </div>
      <${WindowCard} o=${d.organization} run=${run} />
      <${Delegations} o=${d.organization} run=${run} />`}<//>`;
}
