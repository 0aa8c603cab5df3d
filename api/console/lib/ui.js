// The console's building blocks: data loading, cards, tables that fold into
// lists on a phone, status pills, usage bars, confirmations, one-time
// secrets, and the outcome of a governed change.
import { html, useState, useEffect, useRef, useId } from './html.js';
import { request, errorText } from './api.js';
import { app, useApp, toast } from './store.js';
import { Link } from './router.js';
import { usd } from './format.js';

/**
 * Reads `query` and re-reads it on every live event (and on `reload()`).
 * The previous data stays on screen while a re-read runs, so nothing jumps.
 */
export function useQuery(query, variables, { live = true, skip = false } = {}) {
  const { liveTick } = useApp();
  const [state, setState] = useState({ data: null, error: null, loading: !skip });
  const [nonce, setNonce] = useState(0);
  const key = JSON.stringify(variables || {});
  useEffect(() => {
    if (skip) return undefined;
    let current = true;
    request(query, variables).then(
      (data) => current && setState({ data, error: null, loading: false }),
      (error) => current && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => { current = false; };
  }, [query, key, live ? liveTick : 0, nonce, skip]);
  return { ...state, reload: () => setNonce((n) => n + 1) };
}

/** Renders a query's state: a loading line, its error, or `children(data)`. */
export function Loaded({ q, children }) {
  if (q.error && !q.data) return html`<${Card}><p class="error-text" role="alert">${errorText(q.error)}</p><//>`;
  if (!q.data) return html`<p class="muted" aria-busy="true">Loading…</p>`;
  return children(q.data);
}

export function Card({ title, id, actions, children, class: extra }) {
  return html`<section class=${'card ' + (extra || '')} id=${id} aria-label=${title || undefined}>
    ${title || actions ? html`<div class="card-head">${title ? html`<h2>${title}</h2>` : null}${actions ? html`<div class="card-actions">${actions}</div>` : null}</div>` : null}
    ${children}
  </section>`;
}

/**
 * A table whose rows become labelled blocks on narrow screens.
 * columns: [{ label, render(row), class }]; rowProps(row) adds attributes.
 */
export function Table({ columns, rows, id, empty = 'Nothing here yet.', rowProps, caption }) {
  if (!rows || rows.length === 0) return html`<p class="muted empty" id=${id}>${empty}</p>`;
  return html`<div class="table-wrap"><table id=${id} class="responsive">
    ${caption ? html`<caption class="visually-hidden">${caption}</caption>` : null}
    <thead><tr>${columns.map((c) => html`<th scope="col" class=${c.class}>${c.label}</th>`)}</tr></thead>
    <tbody>${rows.map((r, i) => html`<tr key=${r.id || i} ...${rowProps ? rowProps(r) : {}}>
      ${columns.map((c) => html`<td data-label=${c.label} class=${c.class}>${c.render(r)}</td>`)}</tr>`)}</tbody>
  </table></div>`;
}

export const Status = ({ value, children }) => html`<span class=${'status ' + value}>${children || String(value).replace(/_/g, ' ').toLowerCase()}</span>`;

/** Used + held against a daily cap, as a bar with its figures. */
export function UsageBar({ usage }) {
  const used = Number(usage.usedTodayUsd) + Number(usage.heldUsd);
  const cap = usage.dailyCapUsd === null || usage.dailyCapUsd === undefined ? null : Number(usage.dailyCapUsd);
  const pct = cap ? Math.min(100, (used / cap) * 100) : 0;
  const label = cap === null ? 'no daily cap' : `${pct.toFixed(0)}% of the daily cap used or held`;
  return html`<div class="bar" role="img" aria-label=${label} title=${label}>
    <span class=${pct > 90 ? 'high' : pct > 70 ? 'mid' : ''} style=${'width:' + pct + '%'}></span></div>`;
}

/** A labelled form control. */
export function Field({ label, hint, children, class: extra }) {
  return html`<label class=${'field ' + (extra || '')}><span class="field-label">${label}</span>${children}${hint ? html`<small class="muted">${hint}</small>` : null}</label>`;
}

/**
 * A button that asks before it acts, in a modal dialog. With
 * `reasonLabel`, the dialog asks for a reason, which is required.
 * `onConfirm(reason)` may return a promise; errors are shown in the dialog.
 */
export function ConfirmButton({ label, title, body, confirmLabel, danger, reasonLabel, onConfirm, class: extra, ...rest }) {
  const ref = useRef(null);
  const [reason, setReason] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const open = () => { setError(null); setReason(''); ref.current.showModal(); };
  const submit = async (e) => {
    e.preventDefault();
    if (reasonLabel && !reason.trim()) { setError('A reason is required.'); return; }
    setBusy(true);
    try { await onConfirm(reason.trim()); ref.current.close(); } catch (err) { setError(errorText(err)); } finally { setBusy(false); }
  };
  return html`<button type="button" class=${(danger ? 'danger ' : '') + (extra || '')} onClick=${open} ...${rest}>${label}</button>
    <dialog ref=${ref} aria-labelledby=${id + '-t'} class="confirm">
      <form method="dialog" onSubmit=${submit}>
        <h2 id=${id + '-t'}>${title || label}</h2>
        ${body ? html`<div class="dialog-body">${body}</div>` : null}
        ${reasonLabel ? html`<${Field} label=${reasonLabel}><textarea name="reason" required rows="3" value=${reason} onInput=${(e) => setReason(e.target.value)}></textarea><//>` : null}
        ${error ? html`<p class="error-text" role="alert">${error}</p>` : null}
        <div class="dialog-actions">
          <button type="button" class="secondary" onClick=${() => ref.current.close()}>Keep it</button>
          <button type="submit" class=${danger ? 'danger' : ''} disabled=${busy} data-confirm>${confirmLabel || label}</button>
        </div>
      </form>
    </dialog>`;
}

/**
 * A secret shown once (an API key secret, recovery codes): it stays until the
 * person dismisses it, whatever live events arrive, with a copy button.
 */
export function SecretBox({ title, secret, note, onDismiss, id = 'new-secret' }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try { await navigator.clipboard.writeText(secret); setCopied(true); } catch (_) { toast('Copy failed: select the text and copy it by hand.', 'error'); }
  };
  return html`<section class="card secret-card" id=${id} role="region" aria-label=${title}>
    <h2>${title}</h2>
    <p><strong>Shown once.</strong> ${note || 'Store it now: Countersign will not show it again.'}</p>
    <pre class="secret" tabindex="0">${secret}</pre>
    <div class="row">
      <button type="button" class="secondary" onClick=${copy} data-action="copy-secret">${copied ? 'Copied' : 'Copy'}</button>
      <button type="button" onClick=${onDismiss} data-action="dismiss-secret">I have stored it</button>
    </div>
  </section>`;
}

/**
 * What happened to a governed change (a RequestResult's request): done at
 * once, or waiting for approval, with a link to the request.
 */
export function describeOutcome(label, req) {
  if (!req) return label;
  if (req.status === 'COMPLETED' || req.status === 'EXECUTED') return `${label}: done.`;
  if (req.status === 'PENDING_APPROVAL') {
    const n = req.approvalsRequired;
    return `${label}: waiting for ${n === 1 ? 'one approval' : (n || 'the required') + ' approvals'}.`;
  }
  if (req.status === 'APPROVED') return `${label}: approved, waiting to be executed.`;
  return `${label}: ${String(req.status).toLowerCase().replace(/_/g, ' ')}.`;
}

/**
 * Runs a mutation for a button or form and reports the outcome as a toast.
 * `pick(data)` returns the request (for governed changes) to describe.
 * Resolves to the data, or null after showing the error.
 */
export async function act(label, run, pick) {
  try {
    const data = await run();
    const req = pick ? pick(data) : null;
    toast(req ? describeOutcome(label, req) : label + '.', 'ok');
    return data;
  } catch (e) {
    toast(`${label} failed: ${errorText(e)}`, 'error');
    return null;
  }
}

/** The toasts, announced politely to screen readers. */
export function Toasts() {
  const { toasts } = useApp();
  return html`<div class="toasts" role="status" aria-live="polite">
    ${toasts.map((t) => html`<div key=${t.id} class=${'toast ' + t.kind}>${t.message}</div>`)}</div>`;
}

/** A link to a request's own page. */
export const RequestLink = ({ id, children }) => html`<${Link} href=${'/requests/' + id}>${children || 'Open request'}<//>`;

/** A page heading with the document title kept in step. */
export function PageTitle({ children, sub }) {
  useEffect(() => { document.title = `${children} · Countersign`; }, [children]);
  return html`<div class="page-title"><h1>${children}</h1>${sub ? html`<p class="muted">${sub}</p>` : null}</div>`;
}

export { usd, app };
