// Webhooks (/webhooks), for administrators: where the organisation's events
// are POSTed, signed — each endpoint's URL and event kinds, and its recent
// deliveries with their status, attempts and last answer — and every change:
// add an endpoint (its signing secret shown once, in this page's state, until
// dismissed), remove one, claim the secret of an endpoint whose addition
// waited for approval, and send a failed delivery again. Attempts are not
// live events, so the page also re-reads every few seconds while it is open.
import { html, useState, useEffect } from '../lib/html.js';
import { gql, request } from '../lib/api.js';
import { app, can } from '../lib/store.js';
import { useQuery, Loaded, Card, Table, Status, Field, ConfirmButton, SecretBox, PageTitle } from '../lib/ui.js';
import { useChange, useForm, Checks, ClaimsCard } from '../lib/changes.js';
import { when, words } from '../lib/format.js';

const EVENTS = ['REQUEST', 'BALANCE_ALERT', 'PERMISSION'];
/** How often the delivery log is re-read while the page is open (workers attempt every second). */
const REFRESH_MS = 3000;
const EVENT_LABEL = { REQUEST: 'Requests and withdrawals', BALANCE_ALERT: 'Balance alert', PERMISSION: 'Permission changes' };

const WEBHOOKS = gql`query WebhooksPage($o: ID!) { organization(id: $o) { id
  webhookEndpoints { id url events createdAt
    deliveries(first: 10) { id eventId eventType status attempts lastStatusCode lastError nextAttemptAt deliveredAt createdAt } }
  requests(workflow: MANAGE_ACCESS, first: 100) { nodes { id operation status payload createdAt
    requester { kind user { id } } approvals { at } history { action } } } } }`;
const ADD = gql`mutation WebhooksAdd($o: ID!, $u: String!, $e: [WebhookEvent!]!) {
  addWebhookEndpoint(orgId: $o, url: $u, events: $e) { request { id status approvalsRequired } webhookSecret { endpointId secret } } }`;
const REMOVE = gql`mutation WebhooksRemove($o: ID!, $e: ID!) {
  removeWebhookEndpoint(orgId: $o, endpointId: $e) { request { id status approvalsRequired } } }`;
const REDELIVER = gql`mutation WebhooksRedeliver($o: ID!, $d: ID!) { redeliverWebhook(orgId: $o, deliveryId: $d) { id status } }`;
const CLAIM = gql`mutation WebhooksClaim($r: ID!) { claimWebhookSecret(requestId: $r) { endpointId secret } }`;

/** A delivery's last answer, as an operator reads it. */
function answer(d) {
  if (d.status === 'DELIVERED') return html`<span>HTTP ${d.lastStatusCode}<br /><small class="muted">${when(d.deliveredAt)}</small></span>`;
  if (!d.attempts) return html`<span class="muted">Not sent yet</span>`;
  return html`<span>${d.lastStatusCode ? 'HTTP ' + d.lastStatusCode : 'No answer'}<br /><small class="muted">${d.lastError || ''}</small>
    ${d.nextAttemptAt ? html`<br /><small class="muted">Next try ${when(d.nextAttemptAt)}</small>` : null}</span>`;
}

function EndpointCard({ e, run, admin }) {
  return html`<div data-endpoint=${e.url}><${Card} title=${e.url} id=${'endpoint-' + e.id} class="webhook-endpoint"
    actions=${admin ? html`<${ConfirmButton} label="Remove" danger class="small" data-action="remove-endpoint" aria-label=${'Remove ' + e.url}
      title="Remove this endpoint?" confirmLabel="Remove endpoint"
      body=${html`<p>Nothing more is sent to <code>${e.url}</code>; deliveries still waiting are dropped.</p>`}
      onConfirm=${() => run(`Remove ${e.url}`, () => request(REMOVE, { o: app.orgId, e: e.id }), (x) => x.removeWebhookEndpoint.request)} />` : null}>
    <p class="muted">${e.events.map((k) => EVENT_LABEL[k] || words(k)).join(', ')} · added ${when(e.createdAt)}</p>
    <${Table} caption=${'Recent deliveries to ' + e.url} empty="No events sent yet." rows=${e.deliveries}
      rowProps=${(d) => ({ 'data-delivery': d.id, 'data-status': d.status })}
      columns=${[
        { label: 'Event', class: 'nowrap', render: (d) => html`<div>${d.eventType}<br /><small class="muted"><code>${d.eventId}</code></small></div>` },
        { label: 'Status', render: (d) => html`<${Status} value=${d.status} />` },
        { label: 'Attempts', class: 'nowrap', render: (d) => String(d.attempts) },
        { label: 'Last answer', render: answer },
        { label: 'Created', class: 'nowrap', render: (d) => when(d.createdAt) },
        ...(admin ? [{ label: 'Actions', render: (d) => (d.status === 'FAILED' || (d.status === 'PENDING' && d.attempts > 0)
          ? html`<button type="button" class="secondary small" data-action="redeliver" aria-label=${'Send again: ' + d.eventId}
              onClick=${() => run(`Send ${d.eventId} again`, () => request(REDELIVER, { o: app.orgId, d: d.id }))}>Send again</button>`
          : html`<span class="muted">—</span>`) }] : []),
      ]} />
  <//></div>`;
}

/** The viewer's endpoint additions that waited: pending ones, and approved ones whose secret is still to claim. */
function Claims({ requests, run, onSecret, reload }) {
  const url = (r) => JSON.parse(r.payload || '{}').url || 'an endpoint';
  const claim = async (r) => {
    const d = await run(`Claim the signing secret of ${url(r)}`, () => request(CLAIM, { r: r.id }));
    if (d) { onSecret({ title: `Signing secret of ${url(r)}`, id: d.claimWebhookSecret.endpointId, secret: d.claimWebhookSecret.secret }); reload(); }
  };
  return html`<${ClaimsCard} title="Your endpoint requests" id="webhook-claims" requests=${requests}
    operations=${['ADD_WEBHOOK_ENDPOINT']} claimedAction="WEBHOOK_SECRET_CLAIMED" column="Endpoint"
    what=${(r) => html`<code>${url(r)}</code>`} onClaim=${claim} />`;
}

function NewEndpointForm({ run, onSecret }) {
  const f = useForm({ url: '' });
  const [events, setEvents] = useState(['REQUEST']);
  const submit = async (ev) => {
    ev.preventDefault();
    const url = f.values.url.trim();
    const d = await run(`Add the endpoint ${url}`, () => request(ADD, { o: app.orgId, u: url, e: events }), (x) => x.addWebhookEndpoint.request);
    if (!d) return;
    const s = d.addWebhookEndpoint.webhookSecret;
    if (s) onSecret({ title: `Signing secret of ${url}`, id: s.endpointId, secret: s.secret });
    f.reset(); setEvents(['REQUEST']);
  };
  return html`<form class="stack" id="new-endpoint-form" onSubmit=${submit}>
    <${Field} label="URL" hint="https:// on a public address. Each POST carries webhook-id, webhook-timestamp and webhook-signature headers (Standard Webhooks).">
      <input type="url" required autocomplete="off" inputmode="url" ...${f.bind('url')} placeholder="https://hooks.example.com/countersign" /><//>
    <${Checks} legend="Events" name="event" options=${EVENTS} value=${events} onChange=${setEvents} label=${(k) => EVENT_LABEL[k]} />
    <div class="row"><button type="submit" disabled=${!events.length}>Add endpoint</button></div>
  </form>`;
}

export function WebhooksPage() {
  const q = useQuery(WEBHOOKS, { o: app.orgId });
  const { reload } = q;
  useEffect(() => {
    const every = setInterval(reload, REFRESH_MS);
    return () => clearInterval(every);
  }, []);
  const [run, notice] = useChange();
  // One-time secrets: this component's state, never refetched data.
  const [secrets, setSecrets] = useState([]);
  const onSecret = (s) => setSecrets((all) => [...all, s]);
  const admin = can('MANAGE_ACCESS', 'INITIATE');
  return html`<${PageTitle} sub="Signed HTTP POSTs of the organisation's events to your own systems.">Webhooks<//>
    ${secrets.map((s) => html`<${SecretBox} key=${s.id + s.secret} id=${'secret-' + s.id} title=${s.title}
      note=${html`Your receiver verifies each delivery with it (HMAC-SHA256 over id, timestamp and body). Store it in your secrets manager now: Countersign will not show it again.`}
      secret=${s.secret} onDismiss=${() => setSecrets((all) => all.filter((x) => x !== s))} />`)}
    ${notice}
    <${Loaded} q=${q}>${(d) => {
      const o = d.organization;
      return html`
        ${admin ? html`<${Claims} requests=${o.requests.nodes} run=${run} onSecret=${onSecret} reload=${q.reload} />` : null}
        ${o.webhookEndpoints.length ? o.webhookEndpoints.map((e) => html`<${EndpointCard} key=${e.id} e=${e} run=${run} admin=${admin} />`)
          : html`<${Card}><p class="muted">No endpoints yet. Events reach a backend here without holding a WebSocket open.</p><//>`}
        ${admin ? html`<${Card} title="Add an endpoint" id="add-endpoint"><${NewEndpointForm} run=${run} onSecret=${onSecret} /><//>` : null}`;
    }}<//>`;
}
