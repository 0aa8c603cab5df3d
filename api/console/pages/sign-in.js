// Sign in (password, then an authenticator code or a recovery code) and sign up.
import { html, useState } from '../lib/html.js';
import { gql, request, errorText } from '../lib/api.js';
import { signedIn } from '../lib/store.js';
import { navigate, Link, useLocation } from '../lib/router.js';
import { Field, PageTitle } from '../lib/ui.js';

const SIGN_IN = gql`mutation ConsoleSignIn($e: String!, $p: String!, $t: String) { signIn(email: $e, password: $p, totp: $t) { token } }`;

/** Where to go after signing in: `?next=` when it is one of ours. */
function next(query) {
  const n = query.get('next');
  return n && n.startsWith('/') && !n.startsWith('//') ? n : '/approvals';
}

export function SignInPage() {
  const { query } = useLocation();
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const d = await request(SIGN_IN, { e: f.get('email'), p: f.get('password'), t: f.get('totp') || null });
      await signedIn(d.signIn.token);
      navigate(next(query), { replace: true });
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return html`<section class="card narrow">
    <${PageTitle}>Sign in<//>
    <form class="stack" id="sign-in-form" onSubmit=${submit}>
      <${Field} label="E-mail"><input name="email" type="email" required autocomplete="username" /><//>
      <${Field} label="Password"><input name="password" type="password" required autocomplete="current-password" /><//>
      <${Field} label="Authenticator code" hint="The 6-digit code from your authenticator app, if you have enrolled one.">
        <input name="totp" inputmode="numeric" autocomplete="one-time-code" placeholder="123456" /><//>
      ${error ? html`<p class="error-text" role="alert">${error}</p>` : null}
      <button type="submit" disabled=${busy}>Sign in</button>
    </form>
  </section>`;
}

export function SignUpPage() {
  return html`<section class="card narrow"><${PageTitle}>Create an account<//>
    <p>Accounts are created from an invitation: open the link in your invitation e-mail. <${Link} href="/sign-in">Sign in<//></p></section>`;
}
