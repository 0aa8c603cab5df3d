// Members (/members), for administrators: who is in the organisation (name,
// e-mail, roles, status, single grants, each signer's usage today) and the
// changes an admin makes — invite by e-mail with roles, change roles, grant
// and revoke a single permission, remove a member — plus the invitations
// with their e-mail's delivery and a revoke, and the viewer's own approval
// notices. Each change says whether it completed or waits for approval.
import { html, useState } from '../lib/html.js';
import { gql, request } from '../lib/api.js';
import { app, can } from '../lib/store.js';
import { useQuery, Loaded, Card, Table, Status, UsageBar, Field, ConfirmButton, PageTitle } from '../lib/ui.js';
import { useChange, useForm, Checks, useReveal } from '../lib/changes.js';
import { usd, when, words } from '../lib/format.js';
import { ApprovalNotices } from './settings.js';

const ROLES = ['ADMIN', 'MAKER', 'APPROVER', 'SIGNER', 'REVIEWER', 'READ_ONLY'];
export const WORKFLOWS = ['INITIATE_WITHDRAWAL', 'MANAGE_ADDRESSES', 'MANAGE_ACCESS', 'MANAGE_POLICIES'];
const ACTIONS = ['VIEW', 'INITIATE', 'APPROVE', 'EXECUTE'];

const MEMBERS = gql`query MembersPage($o: ID!) { organization(id: $o) { id
  accounts { id name }
  members { id roles status isOwner joinedAt user { id name email }
    grants { workflow action accountId }
    signerUsage { layer subject dailyCapUsd usedTodayUsd heldUsd remainingUsd } }
  invitations { id email roles status expiresAt createdAt deliveryStatus deliveryAttempts lastError sentAt
    invitedBy { name email } } } }`;
const INVITE = gql`mutation MembersInvite($o: ID!, $e: String!, $r: [Role!]!) {
  inviteMember(orgId: $o, email: $e, roles: $r) { request { id status approvalsRequired } } }`;
const REVOKE_INVITATION = gql`mutation MembersRevokeInvitation($o: ID!, $i: ID!) {
  revokeInvitation(orgId: $o, invitationId: $i) { request { id status approvalsRequired } } }`;
const SET_ROLES = gql`mutation MembersSetRoles($o: ID!, $m: ID!, $r: [Role!]!) {
  setMemberRoles(orgId: $o, memberId: $m, roles: $r) { request { id status approvalsRequired } } }`;
const GRANT = gql`mutation MembersGrant($o: ID!, $m: ID!, $w: Workflow!, $a: Action!, $acc: ID) {
  grantPermission(orgId: $o, memberId: $m, workflow: $w, action: $a, accountId: $acc) { request { id status approvalsRequired } } }`;
const REVOKE_GRANT = gql`mutation MembersRevokeGrant($o: ID!, $m: ID!, $w: Workflow!, $a: Action!, $acc: ID) {
  revokePermission(orgId: $o, memberId: $m, workflow: $w, action: $a, accountId: $acc) { request { id status approvalsRequired } } }`;
const REMOVE = gql`mutation MembersRemove($o: ID!, $m: ID!) {
  removeMember(orgId: $o, memberId: $m) { request { id status approvalsRequired } } }`;

/** "Name <email>", the way the console names a person. */
const personName = (u) => (u.name ? `${u.name} <${u.email}>` : u.email);

function Person({ user }) {
  return html`<span class="person"><strong>${user.name || user.email}</strong>
    ${user.name ? html` <span class="muted">${user.email}</span>` : null}</span>`;
}

function grantText(g, accounts) {
  const acc = g.accountId ? accounts.find((a) => a.id === g.accountId) : null;
  return `${words(g.action)} · ${words(g.workflow)}${g.accountId ? ' (' + (acc ? acc.name : 'one account') + ')' : ''}`;
}

function SignerToday({ member }) {
  if (!member.roles.includes('SIGNER')) return html`<span class="muted">—</span>`;
  const u = member.signerUsage;
  return html`<div class="usage-cell">
    <${UsageBar} usage=${u} />
    <small>${usd(u.usedTodayUsd)} used${Number(u.heldUsd) ? `, ${usd(u.heldUsd)} held` : ''}${u.dailyCapUsd ? ` of ${usd(u.dailyCapUsd)}` : ', no daily cap'}</small>
  </div>`;
}

function InviteForm({ run }) {
  const f = useForm({ email: '' });
  const [roles, setRoles] = useState(['MAKER']);
  const submit = async (e) => {
    e.preventDefault();
    const d = await run(`Invite ${f.values.email}`, () => request(INVITE, { o: app.orgId, e: f.values.email.trim(), r: roles }), (x) => x.inviteMember.request);
    if (d) { f.reset(); setRoles(['MAKER']); }
  };
  return html`<form class="stack" id="invite-form" onSubmit=${submit}>
    <${Field} label="E-mail address"><input type="email" required autocomplete="off" ...${f.bind('email')} /><//>
    <${Checks} legend="Roles" name="role" options=${ROLES} value=${roles} onChange=${setRoles} label=${words} />
    <div><button type="submit" disabled=${!roles.length}>Send invitation</button></div>
  </form>`;
}

/** The changes an admin makes to one member: roles, grants, removal. */
function MemberEditor({ member, accounts, run, onClose }) {
  const [roles, setRoles] = useState(member.roles);
  const g = useForm({ workflow: 'INITIATE_WITHDRAWAL', action: 'APPROVE', account: '' });
  const name = member.user.name || member.user.email;
  const m = { o: app.orgId, m: member.id };
  const reveal = useReveal();
  const saveRoles = (e) => {
    e.preventDefault();
    run(`Change ${name}'s roles`, () => request(SET_ROLES, { ...m, r: roles }), (x) => x.setMemberRoles.request);
  };
  const grant = (e) => {
    e.preventDefault();
    const v = g.values;
    run(`Grant ${words(v.action).toLowerCase()} on ${words(v.workflow).toLowerCase()} to ${name}`,
      () => request(GRANT, { ...m, w: v.workflow, a: v.action, acc: v.account || null }), (x) => x.grantPermission.request);
  };
  const revoke = (p) => run(`Revoke ${grantText(p, accounts).toLowerCase()} from ${name}`,
    () => request(REVOKE_GRANT, { ...m, w: p.workflow, a: p.action, acc: p.accountId || null }), (x) => x.revokePermission.request);
  return html`<div ref=${reveal} tabindex="-1" class="reveal"><${Card} title=${'Manage ' + name} id="member-editor" actions=${html`<button type="button" class="secondary" onClick=${onClose}>Close</button>`}>
    <p class="muted">${member.user.email} · joined ${when(member.joinedAt)}</p>
    <div class="grid">
      <form class="stack" id="roles-form" onSubmit=${saveRoles}>
        <${Checks} legend="Roles" name="role" options=${ROLES} value=${roles} onChange=${setRoles} label=${words} />
        <div><button type="submit" disabled=${!roles.length}>Save roles</button></div>
      </form>
      <div>
        <h3>Single permissions</h3>
        ${member.grants.length ? html`<ul class="plain" id="grants">${member.grants.map((p) => html`<li data-grant=${p.workflow + ':' + p.action}>
          ${grantText(p, accounts)} <button type="button" class="secondary small" onClick=${() => revoke(p)}
            aria-label=${'Revoke ' + grantText(p, accounts)}>Revoke</button></li>`)}</ul>`
          : html`<p class="muted" id="grants">None beyond the roles.</p>`}
        <form class="inline" id="grant-form" onSubmit=${grant}>
          <${Field} label="Workflow"><select ...${g.bind('workflow')}>${WORKFLOWS.map((w) => html`<option value=${w}>${words(w)}</option>`)}</select><//>
          <${Field} label="Action"><select ...${g.bind('action')}>${ACTIONS.map((a) => html`<option value=${a}>${words(a)}</option>`)}</select><//>
          <${Field} label="Account"><select ...${g.bind('account')}><option value="">Every account</option>
            ${accounts.map((a) => html`<option value=${a.id}>${a.name}</option>`)}</select><//>
          <button type="submit">Grant</button>
        </form>
      </div>
    </div>
    ${member.isOwner ? html`<p class="muted">The Owner cannot be removed.</p>` : html`<div class="row danger-zone">
      <${ConfirmButton} label=${'Remove ' + name} danger data-action="remove-member"
        title=${'Remove ' + name + '?'} confirmLabel="Remove member"
        body=${html`<p>${personName(member.user)} loses access to the organisation at once: roles, single permissions and delegations stop applying.</p>`}
        onConfirm=${async () => { const d = await run(`Remove ${name}`, () => request(REMOVE, m), (x) => x.removeMember.request); if (d && d.removeMember.request.status === 'COMPLETED') onClose(); }} />
    </div>`}
  <//></div>`;
}

function Invitations({ invitations, run }) {
  const admin = can('MANAGE_ACCESS', 'INITIATE');
  const rows = invitations.filter((i) => i.status === 'PENDING' || Date.now() - new Date(i.createdAt) < 7 * 86400e3);
  return html`<${Table} id="invitations" caption="Invitations" empty="No invitations." rows=${rows}
    rowProps=${(i) => ({ 'data-invitation': i.email, 'data-status': i.status })}
    columns=${[
      { label: 'E-mail', render: (i) => i.email },
      { label: 'Roles', render: (i) => i.roles.map(words).join(', ') },
      { label: 'Invited by', render: (i) => i.invitedBy.name || i.invitedBy.email },
      { label: 'Status', render: (i) => html`<${Status} value=${i.status} />` },
      { label: 'E-mail delivery', render: (i) => html`<div><${Status} value=${i.deliveryStatus} />
          ${i.deliveryAttempts > 1 ? html` <small class="muted">${i.deliveryAttempts} attempts</small>` : null}
          ${i.lastError && i.deliveryStatus !== 'SENT' ? html`<br /><small class="error-text">${i.lastError}</small>` : null}</div>` },
      { label: 'Expires', render: (i) => when(i.expiresAt) },
      { label: 'Actions', render: (i) => (admin && i.status === 'PENDING' ? html`<${ConfirmButton} label="Revoke" class="secondary small"
          title=${'Revoke the invitation to ' + i.email + '?'} confirmLabel="Revoke invitation" danger
          body=${html`<p>The link in the e-mail stops working.</p>`}
          aria-label=${'Revoke the invitation to ' + i.email}
          onConfirm=${() => run(`Revoke the invitation to ${i.email}`, () => request(REVOKE_INVITATION, { o: app.orgId, i: i.id }), (x) => x.revokeInvitation.request)} />` : null) },
    ]} />`;
}

export function MembersPage() {
  const q = useQuery(MEMBERS, { o: app.orgId });
  const [run, notice] = useChange();
  const [editing, setEditing] = useState(null);
  const admin = can('MANAGE_ACCESS', 'INITIATE');
  return html`<${PageTitle} sub="Who can act in this organisation, and how.">Members<//>
    ${notice}
    <${Loaded} q=${q}>${(d) => {
      const o = d.organization;
      const chosen = editing && o.members.find((m) => m.id === editing);
      return html`
        <${Card} title="Members" id="members">
          <${Table} id="members-table" caption="Members" rows=${o.members} rowProps=${(m) => ({ 'data-member': m.user.email })}
            columns=${[
              { label: 'Member', render: (m) => html`<${Person} user=${m.user} />` },
              { label: 'Roles', render: (m) => html`<div><span data-roles=${m.roles.join(',')}>${m.roles.map(words).join(', ')}</span>${m.isOwner ? html` <${Status} value="ACTIVE">Owner<//>` : null}</div>` },
              { label: 'Status', render: (m) => html`<${Status} value=${m.status} />` },
              { label: 'Single permissions', render: (m) => (m.grants.length ? m.grants.map((p) => grantText(p, o.accounts)).join('; ') : html`<span class="muted">—</span>`) },
              { label: 'Signer usage today', render: (m) => html`<${SignerToday} member=${m} />` },
              ...(admin ? [{ label: 'Actions', render: (m) => html`<button type="button" class="secondary small" data-action="manage"
                  aria-label=${'Manage ' + (m.user.name || m.user.email)} onClick=${() => setEditing(m.id)}>Manage</button>` }] : []),
            ]} />
        <//>
        ${chosen ? html`<${MemberEditor} key=${chosen.id} member=${chosen} accounts=${o.accounts} run=${run} onClose=${() => setEditing(null)} />` : null}
        <div class="grid">
          ${admin ? html`<${Card} title="Invite someone" id="invite"><${InviteForm} run=${run} /><//>` : null}
          <${Card} title="Your approval notices" id="my-notices"><${ApprovalNotices} /><//>
        </div>
        <${Card} title="Invitations" id="invitations-card"><${Invitations} invitations=${o.invitations} run=${run} /><//>`;
    }}<//>`;
}
