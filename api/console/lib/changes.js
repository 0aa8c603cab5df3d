// What the administration pages (members, service users, webhooks, policies,
// limits, addresses, settings) share: the outcome of a change shown where it
// was made — done, or waiting for approval with a link to the request — on
// top of the toast `act` shows; the viewer's requests whose secret is still
// to claim; form state that survives live re-reads; and the few readings of
// API values (durations, decimals) those forms need.
import { html, useState, useEffect, useRef } from './html.js';
import { errorText } from './api.js';
import { act, describeOutcome, RequestLink, Card, Table, Status } from './ui.js';
import { app } from './store.js';
import { when } from './format.js';

/**
 * `[run, notice]`: `run(label, mutate, pick)` runs a change through `act`
 * (the toast) and remembers its outcome; `notice` shows it until the next
 * change or until dismissed. `pick(data)` returns the request of a governed
 * change. Resolves to the data, or null when the change failed.
 */
export function useChange() {
  const [outcome, setOutcome] = useState(null);
  const run = async (label, mutate, pick) => {
    let failure = null;
    const data = await act(label, () => mutate().catch((e) => { failure = e; throw e; }), pick);
    const req = data && pick ? pick(data) : null;
    setOutcome(data
      ? { text: req ? describeOutcome(label, req) : `${label}: done.`, req }
      : { text: `${label} failed: ${errorText(failure)}`, failed: true });
    return data;
  };
  const notice = outcome ? html`<${Outcome} ...${outcome} onDismiss=${() => setOutcome(null)} />` : null;
  return [run, notice];
}

function Outcome({ text, req, failed, onDismiss }) {
  const status = failed ? 'FAILED' : req ? req.status : 'COMPLETED';
  const waits = req && req.status !== 'COMPLETED';
  return html`<div class=${'outcome ' + (failed ? 'failed' : waits ? 'waits' : 'done')} data-outcome=${status}>
    <span>${text}</span>
    ${req && waits ? html`<${RequestLink} id=${req.id}>Open the request<//>` : null}
    <button type="button" class="link" onClick=${onDismiss}>Dismiss</button>
  </div>`;
}

/**
 * A ref for an editor that opens below a list: when it appears it scrolls
 * into view and takes the focus (it needs tabindex="-1"), so keyboard and
 * phone users land on what they opened.
 */
export function useReveal() {
  const ref = useRef(null);
  useEffect(() => {
    if (!ref.current) return;
    ref.current.scrollIntoView({ block: 'start', behavior: 'smooth' });
    ref.current.focus({ preventScroll: true });
  }, []);
  return ref;
}

/**
 * Controlled form state that live re-reads leave alone. `bind(name)` gives a
 * text input or select its value and handler, `check(name)` a checkbox.
 */
export function useForm(initial) {
  const [values, setValues] = useState(initial);
  const set = (patch) => setValues((v) => ({ ...v, ...patch }));
  return {
    values,
    set,
    reset: () => setValues(initial),
    bind: (name) => ({ name, value: values[name] ?? '', onInput: (e) => set({ [name]: e.currentTarget.value }) }),
    check: (name) => ({ name, checked: !!values[name], onChange: (e) => set({ [name]: e.currentTarget.checked }) }),
  };
}

/** A set of constants picked with checkboxes (roles, scopes, weekdays). */
export function Checks({ legend, options, value, onChange, label = (o) => o, name }) {
  const toggle = (o) => onChange(value.includes(o) ? value.filter((x) => x !== o) : [...value, o]);
  return html`<fieldset><legend>${legend}</legend>
    ${options.map((o) => html`<label class="check"><input type="checkbox" name=${name} value=${o}
      checked=${value.includes(o)} onChange=${() => toggle(o)} />${label(o)}</label>`)}</fieldset>`;
}

/** A decimal field's text as the API takes it: trimmed, thousands separators dropped, blank → null. */
export const decimalOrNull = (s) => {
  const t = String(s ?? '').replace(/[,\s_]/g, '');
  return t === '' ? null : t;
};

/** Seconds in an ISO 8601 duration as the API writes it (`PT3600S`, `P1DT2H`). */
export function durationSecs(iso) {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(iso || '');
  if (!m) return 0;
  return (+m[1] || 0) * 86400 + (+m[2] || 0) * 3600 + (+m[3] || 0) * 60 + (+m[4] || 0);
}

/** A duration for a person: "2 days", "6 hours", "none". */
export function durationText(iso) {
  let s = durationSecs(iso);
  if (!s) return 'none';
  const parts = [];
  for (const [unit, n] of [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]]) {
    const k = Math.floor(s / n);
    if (k) parts.push(`${k} ${unit}${k === 1 ? '' : 's'}`);
    s -= k * n;
  }
  return parts.join(' ');
}

/** The exact sum of decimal strings ("12.5" + "0.25" → "12.75"): no floating point touches money. */
export function sumDecimals(values) {
  const parts = values.map((v) => {
    const s = String(v ?? '0');
    const negative = s.startsWith('-');
    const [whole, frac = ''] = (negative ? s.slice(1) : s).split('.');
    return { negative, whole: whole || '0', frac };
  });
  const scale = Math.max(0, ...parts.map((p) => p.frac.length));
  let total = 0n;
  for (const p of parts) {
    const n = BigInt(p.whole + p.frac.padEnd(scale, '0'));
    total += p.negative ? -n : n;
  }
  const negative = total < 0n;
  const digits = (negative ? -total : total).toString().padStart(scale + 1, '0');
  return (negative ? '-' : '') + (scale ? digits.slice(0, -scale) + '.' + digits.slice(-scale) : digits);
}

/**
 * The viewer's own requests of `operations`, which issue a secret: those
 * waiting for approval, with a link, and approved ones whose secret is still
 * to be shown once (no `claimedAction` in their history yet), with a button
 * that calls `onClaim(r)`. `what(r)` names a request in the `column` column.
 * Nothing when there are none.
 */
export function ClaimsCard({ title, id, requests, operations, claimedAction, column, what, onClaim }) {
  const me = app.viewer.user.id;
  const mine = requests.filter((r) => operations.includes(r.operation) && r.requester.user && r.requester.user.id === me
    && (r.status === 'PENDING_APPROVAL' || (r.status === 'COMPLETED' && r.approvals.length > 0
      && !r.history.some((h) => h.action === claimedAction))));
  if (!mine.length) return null;
  return html`<${Card} title=${title} id=${id}>
    <${Table} caption=${title} rows=${mine} rowProps=${(r) => ({ 'data-claim': r.id, 'data-status': r.status })}
      columns=${[
        { label: column, render: (r) => html`<div>${what(r)}<br /><small class="muted">${when(r.createdAt)}</small></div>` },
        { label: 'Status', render: (r) => html`<${Status} value=${r.status}>${r.status === 'COMPLETED' ? 'approved' : null}<//>` },
        { label: 'Actions', render: (r) => (r.status === 'COMPLETED'
          ? html`<button type="button" data-action="claim" onClick=${() => onClaim(r)}>Show the secret once</button>`
          : html`<${RequestLink} id=${r.id}>Waiting for approval: open<//>`) },
      ]} />
  <//>`;
}
