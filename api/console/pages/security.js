// The signed-in person's own account, /security: whether two-factor is on,
// enrolment from the server's QR code (with the secret as text beside it for
// apps that cannot scan), and one-time recovery codes — how many are left, and
// a new set, shown once until dismissed. The invitation page (invite.js) uses
// the same enrolment and recovery-code components.
import { html, useEffect, useRef, useState } from '../lib/html.js';
import { gql, request, errorText } from '../lib/api.js';
import { loadViewer, toast, useApp } from '../lib/store.js';
import { Card, ConfirmButton, Field, Loaded, PageTitle, SecretBox, Status, useQuery } from '../lib/ui.js';

const ENROL = gql`mutation SecurityEnrol { enrollTotp { secret otpauthUrl qrSvg } }`;
const CONFIRM = gql`mutation SecurityConfirm($c: String!) { confirmTotp(code: $c) }`;
const CODES = gql`mutation SecurityRecoveryCodes { generateRecoveryCodes }`;
const ACCOUNT = gql`query SecurityAccount { viewer { twoFactorVerified recoveryCodesRemaining user { id name email twoFactorEnabled } } }`;

/** "JBSWY3DPEHPK3PXP" → "JBSW Y3DP EHPK 3PXP": easier to type into an app. */
const grouped = (s) => s.replace(/(.{4})(?=.)/g, '$1 ');

/**
 * Enrols an authenticator: starts enrolment, shows the QR code and the
 * secret, and confirms with a current code. `onDone()` once confirmed.
 */
export function TotpEnrolment({ onDone }) {
  const [enrolment, setEnrolment] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const started = useRef(false);
  const start = async () => {
    setError(null);
    try { setEnrolment((await request(ENROL)).enrollTotp); } catch (e) { setError(errorText(e)); }
  };
  useEffect(() => { if (!started.current) { started.current = true; start(); } }, []);
  const confirm = async (e) => {
    e.preventDefault();
    const code = String(new FormData(e.currentTarget).get('code') || '').replace(/\s+/g, '');
    setBusy(true);
    setError(null);
    try {
      await request(CONFIRM, { c: code });
      await loadViewer();
      toast('Two-factor authentication is on.');
      onDone();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  if (!enrolment) {
    return error ? html`<p class="error-text" role="alert">${error}</p><button type="button" onClick=${start}>Try again</button>`
      : html`<p class="muted" aria-busy="true">Preparing your QR code…</p>`;
  }
  return html`<div class="enrol" id="totp-enrolment">
    <ol class="steps-text">
      <li>Open an authenticator app (1Password, Google Authenticator, Authy, …) and scan this code.</li>
      <li>Type the 6-digit code it shows to confirm.</li>
    </ol>
    <div class="enrol-body">
      <div class="qr" role="img" aria-label="QR code of your two-factor secret" dangerouslySetInnerHTML=${{ __html: enrolment.qrSvg }}></div>
      <div class="enrol-secret">
        <p>Cannot scan? Enter this secret in the app (time-based, 6 digits, 30 seconds):</p>
        <p><code id="totp-secret" data-secret=${enrolment.secret}>${grouped(enrolment.secret)}</code></p>
        <form class="stack" id="totp-confirm-form" onSubmit=${confirm}>
          <${Field} label="Code from the app"><input name="code" required inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" placeholder="123456" /><//>
          ${error ? html`<p class="error-text" role="alert">${error}</p>` : null}
          <button type="submit" disabled=${busy}>Confirm</button>
        </form>
      </div>
    </div>
  </div>`;
}

/**
 * A new set of recovery codes, shown once until dismissed. `replacing` asks
 * for confirmation first (the earlier codes stop working). `onGenerated()`
 * once the set exists, `onDone()` once dismissed.
 */
export function RecoveryCodes({ onDone, onGenerated, replacing, label = 'Create recovery codes' }) {
  const [codes, setCodes] = useState(null);
  const [error, setError] = useState(null);
  const generate = async () => {
    setError(null);
    try { setCodes((await request(CODES)).generateRecoveryCodes); } catch (e) { setError(errorText(e)); throw e; }
    if (onGenerated) onGenerated();
  };
  // The button stays mounted (hidden) while the codes show: its dialog closes itself.
  return html`${codes ? html`<${SecretBox} id="recovery-codes" title="Your recovery codes" secret=${codes.join('\n')}
      note="Each code signs you in once in place of your authenticator code, if you lose your phone. Store them somewhere safe, apart from your password: Countersign will not show them again."
      onDismiss=${() => { setCodes(null); onDone && onDone(); }} />` : null}
    <div hidden=${!!codes}>
      ${replacing
        ? html`<${ConfirmButton} label="Create new recovery codes" title="Replace your recovery codes?" data-action="regenerate-codes"
            body=${html`<p>Your earlier recovery codes stop working at once.</p>`} confirmLabel="Create new codes" onConfirm=${generate} />`
        : html`<button type="button" data-action="generate-codes" onClick=${() => generate().catch(() => {})}>${label}</button>`}
      ${error && !replacing ? html`<p class="error-text" role="alert">${error}</p>` : null}
    </div>`;
}

export function SecurityPage() {
  const a = useApp();
  const q = useQuery(ACCOUNT, {}, { live: false });
  const [enrolling, setEnrolling] = useState(false);
  return html`<${PageTitle} sub="Your own account: how you sign in.">Your account<//>
    <${Loaded} q=${q}>${(d) => {
      const v = d.viewer;
      const on = v.user.twoFactorEnabled;
      return html`<div class="grid security">
        <${Card} title="Account" id="account">
          <dl class="facts"><dt>Name</dt><dd>${v.user.name}</dd><dt>E-mail</dt><dd>${v.user.email}</dd></dl>
        <//>
        <${Card} title="Two-factor authentication" id="two-factor">
          <p data-two-factor=${on ? 'on' : 'off'}>${on ? html`<${Status} value="VERIFIED">on<//> Signing in asks for a code from your authenticator app.`
            : html`<${Status} value="PENDING">off<//> Until you enrol, you can read nothing in an organisation.`}</p>
          ${!on && !enrolling ? html`<button type="button" id="start-enrolment" onClick=${() => setEnrolling(true)}>Enrol an authenticator app</button>` : null}
          ${!on && enrolling ? html`<${TotpEnrolment} onDone=${() => { setEnrolling(false); q.reload(); }} />` : null}
        <//>
        ${on ? html`<${Card} title="Recovery codes" id="recovery">
          <p><span class="figure" id="codes-remaining" data-remaining=${v.recoveryCodesRemaining}>${v.recoveryCodesRemaining}</span>
            ${v.recoveryCodesRemaining === 1 ? ' code' : ' codes'} left. Each signs you in once without your authenticator app.</p>
          ${v.recoveryCodesRemaining <= 3 ? html`<p class="error-text">${v.recoveryCodesRemaining === 0 ? 'You have none left' : 'You are running low'}: create a new set.</p>` : null}
          ${a.viewer && a.viewer.twoFactorVerified
            ? html`<${RecoveryCodes} replacing=${v.recoveryCodesRemaining > 0} onGenerated=${q.reload} />`
            : html`<p class="muted">Sign in with your authenticator code to create new codes.</p>`}
        <//>` : null}
      </div>`;
    }}<//>`;
}
