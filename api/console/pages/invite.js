// The invitation link from the e-mail, /invite/<token>: the invitee's way in.
// It says who invited them to which organisation as which roles; then they
// create an account (or sign in if the address has one), enrol an
// authenticator from the QR code, store their one-time recovery codes, and
// join — landing in the organisation's approval queue. Someone already signed
// in with the invited address goes straight to joining (enrolling first if
// their session has no second factor). A used, expired, revoked or unknown
// link gets a page saying so and what to do.
import { html, useState } from '../lib/html.js';
import { gql, request, errorText } from '../lib/api.js';
import { loadViewer, signOut, toast, useApp } from '../lib/store.js';
import { Link, navigate } from '../lib/router.js';
import { Card, PageTitle, useQuery } from '../lib/ui.js';
import { when, words } from '../lib/format.js';
import { RecoveryCodes, TotpEnrolment } from './security.js';

const PREVIEW = gql`query InvitePreview($t: String!) { invitationPreview(token: $t) {
  organizationName email roles invitedByName invitedByEmail status expiresAt } }`;
const ACCEPT = gql`mutation InviteAccept($t: String!) { acceptInvitation(token: $t) { id organizationId roles } }`;

const roleText = (roles) => {
  const w = roles.map((r) => words(r).toLowerCase());
  return w.length > 1 ? w.slice(0, -1).join(', ') + ' and ' + w[w.length - 1] : w[0];
};

/** Who invited whom to what, as the e-mail said it. */
function Invitation({ p }) {
  return html`<div id="invitation" data-status=${p.status}>
    <p class="lead"><strong data-inviter>${p.invitedByName}</strong> <span class="muted">(${p.invitedByEmail})</span> invited you to join${' '}
      <strong data-organization>${p.organizationName}</strong> as <strong data-roles>${roleText(p.roles)}</strong>.</p>
    <p class="muted">Sent to ${p.email}; the link works until ${when(p.expiresAt)}.</p>
  </div>`;
}

/** A link that cannot be used, and what to do about it. */
function Dead({ state, p, signedInAs }) {
  const who = p ? `${p.invitedByName} (${p.invitedByEmail})` : 'the person who invited you';
  const ask = `Ask ${who} for a new invitation.`;
  const text = {
    unknown: ['This invitation link is not valid', html`The link is incomplete, or it was replaced by a newer invitation. Use the link in the latest e-mail you received. ${ask}`],
    ACCEPTED: ['This invitation has already been used', signedInAs
      ? html`You are a member. <${Link} href="/approvals">Open the approval queue<//>.`
      : html`Each link works once. If you accepted it, <${Link} href="/sign-in">sign in<//>. If not, ask ${who} for a new invitation.`],
    EXPIRED: ['This invitation has expired', html`Invitation links work for seven days. ${ask}`],
    REVOKED: ['This invitation was withdrawn', html`${p ? p.organizationName : 'The organisation'} revoked it, so the link no longer works. ${ask}`],
  }[state];
  return html`<section class="card narrow" id="invite-dead" data-state=${state}>
    <${PageTitle}>${text[0]}<//>
    ${p ? html`<p class="muted">Invitation to ${p.organizationName} for ${p.email}, from ${p.invitedByName}.</p>` : null}
    <p>${text[1]}</p>
  </section>`;
}

const STEPS = ['Account', 'Two-factor', 'Recovery codes', 'Join'];

function Steps({ at }) {
  return html`<ol class="steps" aria-label="Steps">${STEPS.map((s, i) => html`<li class=${i < at ? 'done' : i === at ? 'current' : ''}
    aria-current=${i === at ? 'step' : undefined}>${s}</li>`)}</ol>`;
}

/** The invitee is signed in with the invited address: enrol, store codes, join. */
function Join({ token, p }) {
  const a = useApp();
  // Codes are offered right after enrolling in this flow; someone who was
  // enrolled before already has theirs (the Security page makes new ones).
  const [stage, setStage] = useState(a.viewer.twoFactorVerified ? 'join' : 'enrol');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const join = async () => {
    setBusy(true);
    setError(null);
    try {
      const m = (await request(ACCEPT, { t: token })).acceptInvitation;
      await loadViewer(m.organizationId);
      toast(`Welcome to ${p.organizationName}.`);
      navigate('/approvals', { replace: true });
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };
  const at = stage === 'enrol' ? 1 : stage === 'codes' ? 2 : 3;
  return html`<section class="card invite" id="invite-join" data-stage=${stage}>
    <${PageTitle}>Join ${p.organizationName}<//>
    <${Invitation} p=${p} />
    <${Steps} at=${at} />
    ${stage === 'enrol' ? html`<h2>Turn on two-factor authentication</h2>
      <p>Every member of a treasury signs in with a code from an authenticator app as well as a password.</p>
      <${TotpEnrolment} onDone=${() => setStage('codes')} />` : null}
    ${stage === 'codes' ? html`<h2>Store your recovery codes</h2>
      <p>If you lose your phone, a recovery code signs you in once in place of the authenticator's code.</p>
      <${RecoveryCodes} label="Show my recovery codes" onDone=${() => setStage('join')} />` : null}
    ${stage === 'join' ? html`<h2>Join the organisation</h2>
      <p>You join as ${roleText(p.roles)}, signed in as ${a.viewer.user.name} (${a.viewer.user.email}).</p>
      ${error ? html`<p class="error-text" role="alert">${error}</p>` : null}
      <button type="button" id="accept-invitation" disabled=${busy} onClick=${join}>Join ${p.organizationName}</button>` : null}
  </section>`;
}

export function InvitePage({ params }) {
  const a = useApp();
  const token = params.token;
  const q = useQuery(PREVIEW, { t: token }, { live: false });
  if (q.error && !q.data) {
    if (q.error.code === 'NOT_FOUND') return html`<${Dead} state="unknown" />`;
    return html`<section class="card narrow"><${PageTitle}>Invitation<//><p class="error-text" role="alert">${errorText(q.error)}</p></section>`;
  }
  if (!q.data) return html`<p class="muted" aria-busy="true">Loading…</p>`;
  const p = q.data.invitationPreview;
  const me = a.viewer && a.viewer.user;
  if (p.status !== 'PENDING') return html`<${Dead} state=${p.status} p=${p} signedInAs=${me && me.email === p.email ? me : null} />`;
  if (me && me.email.toLowerCase() === p.email.toLowerCase()) return html`<${Join} token=${token} p=${p} />`;
  const here = '/invite/' + encodeURIComponent(token);
  const email = encodeURIComponent(p.email);
  return html`<section class="card invite narrow" id="invite-preview">
    <${PageTitle}>You are invited to ${p.organizationName}<//>
    <${Invitation} p=${p} />
    ${me ? html`<${Card} class="warn-card"><p id="wrong-account">You are signed in as ${me.email}, but this invitation is for ${p.email}.</p>
        <button type="button" class="secondary" onClick=${() => signOut(true)}>Sign out</button><//>`
      : html`<${Steps} at=${0} />
        <p>Countersign is where ${p.organizationName} approves and sends treasury payments. Create your account to accept.</p>
        <div class="row">
          <${Link} class="button" id="invite-sign-up" href=${`/sign-up?invite=${encodeURIComponent(token)}&email=${email}`}>Create an account<//>
          <${Link} class="button secondary" id="invite-sign-in" href=${`/sign-in?next=${encodeURIComponent(here)}&email=${email}`}>I have an account: sign in<//>
        </div>`}
  </section>`;
}
