// Signing in and creating an account, for everyone who uses the console.
// Sign in: e-mail, password, then the authenticator's code — or, with "Use a
// recovery code instead", one of the one-time recovery codes (each signs in
// once). `?next=` brings the person back where they were going (an
// invitation link, a request from an approver e-mail).
// Sign up: reached from an invitation (`?invite=<token>&email=…`), it creates
// the account and goes back to the invitation to enrol two-factor and accept.
import { html, useState } from '../lib/html.js';
import { gql, request, errorText } from '../lib/api.js';
import { app, signedIn } from '../lib/store.js';
import { navigate, Link, useLocation } from '../lib/router.js';
import { Field, PageTitle } from '../lib/ui.js';

const SIGN_IN = gql`mutation ConsoleSignIn($e: String!, $p: String!, $t: String) { signIn(email: $e, password: $p, totp: $t) { token } }`;
const SIGN_IN_RECOVERY = gql`mutation ConsoleSignInRecovery($e: String!, $p: String!, $c: String!) { signIn(email: $e, password: $p, recoveryCode: $c) { token } }`;
const SIGN_UP = gql`mutation ConsoleSignUp($e: String!, $p: String!, $n: String!) { signUp(email: $e, password: $p, name: $n) { token } }`;

/** A refused sign-in in plain words ("Invalid e-mail or password"), other errors as usual. */
function signInError(e) {
  if (!e || e.code !== 'UNAUTHENTICATED') return errorText(e);
  const text = String(e.message).replace(/^authentication required:\s*/i, '');
  return text.charAt(0).toUpperCase() + text.slice(1) + '.';
}

/** Where to go after signing in: `?next=` when it is one of ours. */
function next(query) {
  const n = query.get('next');
  return n && n.startsWith('/') && !n.startsWith('//') ? n : '/approvals';
}

export function SignInPage() {
  const { query } = useLocation();
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [recovery, setRecovery] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const vars = { e: f.get('email'), p: f.get('password') };
      const d = recovery
        ? await request(SIGN_IN_RECOVERY, { ...vars, c: String(f.get('recovery') || '').trim() })
        : await request(SIGN_IN, { ...vars, t: f.get('totp') || null });
      await signedIn(d.signIn.token);
      // Signed in without a second factor (not enrolled yet): enrol first.
      const to = app.viewer && !app.viewer.twoFactorVerified && !next(query).startsWith('/invite/') ? '/security' : next(query);
      navigate(to, { replace: true });
    } catch (err) {
      setError(signInError(err));
    } finally {
      setBusy(false);
    }
  };
  const invite = next(query).startsWith('/invite/');
  return html`<section class="card narrow">
    <${PageTitle} sub=${invite ? 'Sign in to accept your invitation.' : null}>Sign in<//>
    <form class="stack" id="sign-in-form" onSubmit=${submit}>
      <${Field} label="E-mail"><input name="email" type="email" required autocomplete="username" value=${query.get('email') || undefined} /><//>
      <${Field} label="Password"><input name="password" type="password" required autocomplete="current-password" /><//>
      ${recovery
        ? html`<${Field} label="Recovery code" hint="One of the recovery codes you stored when you enrolled. Each works once.">
            <input name="recovery" required autocomplete="off" spellcheck="false" /><//>`
        : html`<${Field} label="Authenticator code" hint="The 6-digit code from your authenticator app, if you have enrolled one.">
            <input name="totp" inputmode="numeric" autocomplete="one-time-code" placeholder="123456" /><//>`}
      <button type="button" class="link" id="toggle-recovery" aria-pressed=${recovery ? 'true' : 'false'}
        onClick=${() => { setRecovery(!recovery); setError(null); }}>
        ${recovery ? 'Use your authenticator app instead' : 'Use a recovery code instead'}</button>
      ${error ? html`<p class="error-text" role="alert" id="sign-in-error">${error}</p>` : null}
      <button type="submit" disabled=${busy}>Sign in</button>
    </form>
  </section>`;
}

/** The form that creates an account; `email` fixed when an invitation names it. */
export function SignUpForm({ email, onDone }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    if (f.get('password') !== f.get('password2')) { setError('The two passwords differ.'); return; }
    setBusy(true);
    setError(null);
    try {
      const d = await request(SIGN_UP, { e: email || f.get('email'), p: f.get('password'), n: String(f.get('name')).trim() });
      await signedIn(d.signUp.token);
      onDone();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="stack" id="sign-up-form" onSubmit=${submit}>
    <${Field} label="Your name" hint="Shown to your colleagues on requests and approvals.">
      <input name="name" required autocomplete="name" maxlength="100" /><//>
    <${Field} label="E-mail" hint=${email ? 'The address your invitation was sent to.' : null}>
      <input name="email" type="email" required autocomplete="username" value=${email || undefined} readonly=${!!email} /><//>
    <${Field} label="Password" hint="At least 12 characters; a passphrase of a few words is best.">
      <input name="password" type="password" required minlength="12" autocomplete="new-password" /><//>
    <${Field} label="Password again"><input name="password2" type="password" required minlength="12" autocomplete="new-password" /><//>
    ${error ? html`<p class="error-text" role="alert" id="sign-up-error">${error}</p>` : null}
    <button type="submit" disabled=${busy}>Create account</button>
  </form>`;
}

export function SignUpPage() {
  const { query } = useLocation();
  const invite = query.get('invite');
  const back = invite ? '/invite/' + encodeURIComponent(invite) : '/security';
  return html`<section class="card narrow">
    <${PageTitle} sub=${invite ? 'Then you enrol an authenticator app and join the organisation.' : 'Then you enrol an authenticator app. To join an organisation, open the link in your invitation e-mail.'}>Create your account<//>
    <${SignUpForm} email=${query.get('email') || ''} onDone=${() => navigate(back, { replace: true })} />
    <p class="muted">Already have an account? <${Link} href=${'/sign-in' + (invite ? '?next=' + encodeURIComponent(back) + '&email=' + encodeURIComponent(query.get('email') || '') : '')}>Sign in<//></p>
  </section>`;
}
