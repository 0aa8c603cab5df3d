// Risk limits (/limits), for administrators and risk officers: the USD
// limits of every layer — the organisation, each API key, each signer (with
// the signer's own approval threshold) — next to today's usage (used, held,
// remaining against the daily cap), and the form to set them through
// setRiskLimits. Each change says whether it completed or waits.
import { html, useState } from '../lib/html.js';
import { gql, request } from '../lib/api.js';
import { app, can } from '../lib/store.js';
import { useQuery, Loaded, Card, Table, UsageBar, Field, PageTitle } from '../lib/ui.js';
import { useChange, useForm, decimalOrNull } from '../lib/changes.js';
import { usd } from '../lib/format.js';

const LIMITS = gql`query LimitsPage($o: ID!) { organization(id: $o) { id name
  limits { layer subject perTransactionMaxUsd dailyCapUsd usedTodayUsd heldUsd remainingUsd approvalThresholdUsd }
  members { id roles user { id name email }
    signerUsage { layer subject perTransactionMaxUsd dailyCapUsd usedTodayUsd heldUsd remainingUsd approvalThresholdUsd } }
  serviceUsers { id name status keys { keyId status
    usage { layer subject perTransactionMaxUsd dailyCapUsd usedTodayUsd heldUsd remainingUsd approvalThresholdUsd } } } } }`;
const SET_LIMITS = gql`mutation LimitsSet($o: ID!, $i: RiskLimitsPatch!) {
  setRiskLimits(orgId: $o, input: $i) { request { id status approvalsRequired } } }`;

const none = { perTransactionMaxUsd: null, dailyCapUsd: null, usedTodayUsd: '0', heldUsd: '0', remainingUsd: null, approvalThresholdUsd: null };

/** Used, held and remaining today, with the bar. */
export function UsageFigures({ usage, short }) {
  const cap = usage.dailyCapUsd;
  const share = cap && Number(cap) > 0 ? Math.round(((Number(usage.usedTodayUsd) + Number(usage.heldUsd)) / Number(cap)) * 100) : null;
  return html`<div class="usage-cell"><${UsageBar} usage=${usage} />
    <small>${short
      ? (share === null ? 'no daily cap' : `${share}% of the cap used or held`)
      : `${usd(usage.usedTodayUsd)} used · ${usd(usage.heldUsd)} held · ${usage.remainingUsd === null ? 'no daily cap' : usd(usage.remainingUsd) + ' left'}`}</small></div>`;
}

function LimitsForm({ layer, subject, name, current, run, onClose }) {
  const f = useForm({
    perTx: current.perTransactionMaxUsd || '', daily: current.dailyCapUsd || '', threshold: current.approvalThresholdUsd || '',
  });
  const submit = async (e) => {
    e.preventDefault();
    const input = {
      layer, ...subject,
      perTransactionMaxUsd: decimalOrNull(f.values.perTx),
      dailyCapUsd: decimalOrNull(f.values.daily),
      ...(layer === 'SIGNER' ? { approvalThresholdUsd: decimalOrNull(f.values.threshold) } : {}),
    };
    const d = await run(`Set the limits of ${name}`, () => request(SET_LIMITS, { o: app.orgId, i: input }), (x) => x.setRiskLimits.request);
    if (d && onClose) onClose();
  };
  return html`<form class="form-row limits-form" onSubmit=${submit} aria-label=${'Limits of ' + name} data-limits-form=${layer}>
    <${Field} label="Per transaction (USD)" hint="Blank: no maximum."><input inputmode="decimal" ...${f.bind('perTx')} placeholder="none" /><//>
    <${Field} label="Daily cap (USD)" hint="Blank: no cap."><input inputmode="decimal" ...${f.bind('daily')} placeholder="none" /><//>
    ${layer === 'SIGNER' ? html`<${Field} label="Own approval threshold (USD)" hint="Above it their withdrawals wait. Blank: none.">
      <input inputmode="decimal" ...${f.bind('threshold')} placeholder="none" /><//>` : null}
    <div class="row"><button type="submit">Save limits</button>
      ${onClose ? html`<button type="button" class="secondary" onClick=${onClose}>Cancel</button>` : null}</div>
  </form>`;
}

/** One layer's subjects in a table, with a form under it for the one being changed. */
function Layer({ title, id, layer, rows, run, empty, threshold }) {
  const [editing, setEditing] = useState(null);
  const admin = can('MANAGE_POLICIES', 'INITIATE');
  const chosen = editing && rows.find((r) => r.key === editing);
  return html`<${Card} title=${title} id=${id}>
    <${Table} caption=${title} rows=${rows} empty=${empty} rowProps=${(r) => ({ 'data-subject': r.name })}
      columns=${[
        { label: layer === 'API_KEY' ? 'Key' : layer === 'SIGNER' ? 'Signer' : 'Organisation', render: (r) => html`<div><strong>${r.title || r.name}</strong>${r.detail ? html`<br /><small class="muted">${r.detail}</small>` : null}</div>` },
        { label: 'Per transaction', class: 'num', render: (r) => (r.usage.perTransactionMaxUsd ? usd(r.usage.perTransactionMaxUsd) : '—') },
        { label: 'Daily cap', class: 'num', render: (r) => (r.usage.dailyCapUsd ? usd(r.usage.dailyCapUsd) : '—') },
        ...(threshold ? [{ label: 'Own threshold', class: 'num', render: (r) => (r.usage.approvalThresholdUsd ? usd(r.usage.approvalThresholdUsd) : '—') }] : []),
        { label: 'Today', render: (r) => html`<${UsageFigures} usage=${r.usage} />` },
        ...(admin ? [{ label: 'Actions', render: (r) => html`<button type="button" class="secondary small" data-action="set-limits"
            aria-label=${'Set limits of ' + r.name} onClick=${() => setEditing(r.key)}>Set limits</button>` }] : []),
      ]} />
    ${chosen ? html`<h3>Limits of ${chosen.name}</h3><${LimitsForm} key=${chosen.key} layer=${layer} subject=${chosen.subject} name=${chosen.name}
      current=${chosen.usage} run=${run} onClose=${() => setEditing(null)} />` : null}
  <//>`;
}

export function LimitsPage() {
  const q = useQuery(LIMITS, { o: app.orgId });
  const [run, notice] = useChange();
  return html`<${PageTitle} sub="USD limits per layer and today's usage (UTC day). A withdrawal must fit every layer.">Risk limits<//>
    ${notice}
    <${Loaded} q=${q}>${(d) => {
      const o = d.organization;
      const org = o.limits.find((l) => l.layer === 'ORGANIZATION') || none;
      const keys = o.serviceUsers.flatMap((su) => su.keys.filter((k) => k.status === 'ACTIVE').map((k) => ({
        key: k.keyId, name: `${su.name} · ${k.keyId}`, title: su.name, detail: k.keyId, subject: { apiKeyId: k.keyId }, usage: k.usage,
      })));
      const signers = o.members.filter((m) => m.roles.includes('SIGNER') || m.signerUsage.dailyCapUsd || m.signerUsage.perTransactionMaxUsd || m.signerUsage.approvalThresholdUsd)
        .map((m) => ({ key: m.id, name: m.user.name || m.user.email, detail: m.user.email, subject: { memberId: m.id }, usage: m.signerUsage }));
      return html`
        <${Layer} title="Organisation" id="limits-organization" layer="ORGANIZATION" run=${run}
          rows=${[{ key: o.id, name: o.name, subject: {}, usage: org }]} />
        <${Layer} title="API keys" id="limits-api-keys" layer="API_KEY" run=${run} rows=${keys} empty="No active API keys." />
        <${Layer} title="Signers" id="limits-signers" layer="SIGNER" run=${run} rows=${signers} threshold
          empty="No member holds SIGNER." />`;
    }}<//>`;
}
