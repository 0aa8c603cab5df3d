// Audit (/audit), for administrators, reviewers and risk officers: the
// organisation's tamper-evident trail, newest first, with the actor by
// name, filters (actor, action, since and until as UTC days) kept in the
// address so a filtered view can be shared, paging back to the very first
// record, the hash chain's verification status, and the filtered trail as a
// CSV file (with hashes, MACs and signed checkpoints for
// `countersign audit verify`).
import { html, useState } from '../lib/html.js';
import { gql, request, errorText } from '../lib/api.js';
import { app, toast } from '../lib/store.js';
import { navigate, useLocation } from '../lib/router.js';
import { useQuery, Loaded, Card, Table, Status, Field, PageTitle, RequestLink } from '../lib/ui.js';
import { when, words, short } from '../lib/format.js';
import { useForm } from '../lib/changes.js';

const PAGE = 50;
// The actions come from the trail itself (auditActions), so the list never
// drifts from what the server records.
const ACTORS = gql`query AuditActors($o: ID!) { organization(id: $o) { id name auditActions
  members(includeRemoved: true) { id status user { id name email } }
  serviceUsers { id name status keys { keyId } }
  addresses { id label } } }`;
const VERIFY = gql`query AuditVerify($o: ID!) { organization(id: $o) { id auditVerification { valid records firstInvalidSeq checkpoints } } }`;
const TRAIL = gql`query AuditTrail($o: ID!, $f: AuditFilter, $first: Int!, $after: String) { organization(id: $o) { id
  auditLog(filter: $f, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { seq at actorKind actorId actorName action target requestId before after } } } }`;
const CSV = gql`query AuditCsv($o: ID!, $f: AuditFilter) { organization(id: $o) { id auditLogCsv(filter: $f) } }`;

/** The filter in the address (?actor=&action=&since=&until=) as the API takes it. */
function filterOf(query) {
  const f = {};
  if (query.get('actor')) f.actorId = query.get('actor');
  if (query.get('action')) f.action = query.get('action');
  if (query.get('since')) f.since = query.get('since') + 'T00:00:00Z';
  if (query.get('until')) {
    // Until a day means to the end of it (the API's `until` is exclusive).
    const d = new Date(query.get('until') + 'T00:00:00Z');
    d.setUTCDate(d.getUTCDate() + 1);
    f.until = d.toISOString();
  }
  return f;
}

function Filters({ query, actors, actions }) {
  const f = useForm({ actor: query.get('actor') || '', action: query.get('action') || '', since: query.get('since') || '', until: query.get('until') || '' });
  const apply = (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const k of ['actor', 'action', 'since', 'until']) if (f.values[k]) p.set(k, f.values[k]);
    navigate('/audit' + (p.toString() ? '?' + p : ''));
  };
  const clear = () => { f.set({ actor: '', action: '', since: '', until: '' }); navigate('/audit'); };
  return html`<form class="form-row" id="audit-filters" onSubmit=${apply} aria-label="Filter the trail">
    <${Field} label="Actor"><select ...${f.bind('actor')}><option value="">Anyone</option>
      <optgroup label="People">${actors.people.map((a) => html`<option value=${a.id}>${a.label}</option>`)}</optgroup>
      ${actors.services.length ? html`<optgroup label="Service users">${actors.services.map((a) => html`<option value=${a.id}>${a.label}</option>`)}</optgroup>` : null}
    </select><//>
    <${Field} label="Action"><select ...${f.bind('action')}><option value="">Any action</option>
      ${actions.map((a) => html`<option value=${a}>${words(a)}</option>`)}</select><//>
    <${Field} label="Since (UTC day)"><input type="date" ...${f.bind('since')} /><//>
    <${Field} label="Until (UTC day, inclusive)"><input type="date" ...${f.bind('until')} /><//>
    <div class="row"><button type="submit">Apply filters</button>
      <button type="button" class="secondary" onClick=${clear}>Clear</button></div>
  </form>`;
}

/** A record's change, before and after, for those who want the detail. */
function Change({ r }) {
  if (!r.before && !r.after) return html`<span class="muted">—</span>`;
  const pretty = (s) => { try { return JSON.stringify(JSON.parse(s), null, 2); } catch (_) { return s; } };
  return html`<details class="change"><summary>Details</summary>
    ${r.before ? html`<p class="muted">Before</p><pre>${pretty(r.before)}</pre>` : null}
    ${r.after ? html`<p class="muted">After</p><pre>${pretty(r.after)}</pre>` : null}</details>`;
}

const KIND = { USER: 'person', SERVICE_USER: 'service user', OPERATOR: 'platform operator', SYSTEM: 'system' };

/** Names for the ids a record's target may hold: the organisation, people, members, service users, keys, addresses. */
function targetNames(o) {
  const names = new Map([[o.id, o.name]]);
  for (const m of o.members) { const n = m.user.name || m.user.email; names.set(m.id, n); names.set(m.user.id, n); }
  for (const s of o.serviceUsers) { names.set(s.id, s.name); for (const k of s.keys) names.set(k.keyId, `${s.name} (key ${k.keyId})`); }
  for (const a of o.addresses) names.set(a.id, `address “${a.label}”`);
  return names;
}

function Trail({ filter, names }) {
  // The cursor of each page up to the one shown: "Older" pushes, "Newer" pops.
  const [cursors, setCursors] = useState([null]);
  const after = cursors[cursors.length - 1];
  // Keyed by its cursor, so a page's figures always belong to its own records.
  return html`<${TrailPage} key=${after || 'newest'} filter=${filter} names=${names} after=${after} page=${cursors.length}
    onOlder=${(c) => setCursors([...cursors, c])} onNewer=${() => setCursors(cursors.slice(0, -1))} />`;
}

function TrailPage({ filter, names, after, page, onOlder, onNewer }) {
  const q = useQuery(TRAIL, { o: app.orgId, f: filter, first: PAGE, after });
  return html`<${Loaded} q=${q}>${(d) => {
    const log = d.organization.auditLog;
    return html`
      <p class="muted" id="audit-page" data-page=${page} data-last=${String(!log.pageInfo.hasNextPage)} data-filter=${JSON.stringify(filter)}>
        Page ${page}${log.nodes.length ? `: records ${log.nodes[0].seq} to ${log.nodes[log.nodes.length - 1].seq}` : ''}${!log.pageInfo.hasNextPage ? ' — the oldest records.' : ''}</p>
      <${Table} id="audit-table" caption="Audit records, newest first" rows=${log.nodes.map((r) => ({ ...r, id: r.seq }))}
        empty="No records match these filters."
        rowProps=${(r) => ({ 'data-seq': r.seq, 'data-action': r.action, 'data-actor': r.actorName })}
        columns=${[
          { label: '#', class: 'num', render: (r) => r.seq },
          { label: 'When', render: (r) => when(r.at) },
          { label: 'Actor', render: (r) => html`<div><strong title=${r.actorId}>${r.actorName}</strong><br /><small class="muted">${KIND[r.actorKind] || words(r.actorKind)}</small></div>` },
          { label: 'Action', render: (r) => words(r.action) },
          { label: 'Target', render: (r) => (!r.target ? html`<span class="muted">—</span>`
            : names.has(r.target) ? html`<span title=${r.target}>${names.get(r.target)}</span>`
              : html`<code class="muted" title=${r.target}>${short(r.target, 8)}</code>`) },
          { label: 'Request', render: (r) => (r.requestId ? html`<${RequestLink} id=${r.requestId}>Open<//>` : html`<span class="muted">—</span>`) },
          { label: 'Change', render: (r) => html`<${Change} r=${r} />` },
        ]} />
      <nav class="row pager" aria-label="Audit pages">
        <button type="button" class="secondary" id="audit-newer" disabled=${page === 1} onClick=${onNewer}>Newer</button>
        <button type="button" class="secondary" id="audit-older" disabled=${!log.pageInfo.hasNextPage}
          onClick=${() => onOlder(log.pageInfo.endCursor)}>Older</button>
      </nav>`;
  }}<//>`;
}

/** The hash chain re-checked on the server: on opening the page and on request, not on every live event. */
function Verification() {
  const q = useQuery(VERIFY, { o: app.orgId }, { live: false });
  return html`<${Loaded} q=${q}>${(d) => {
    const v = d.organization.auditVerification;
    return html`<div id="audit-verification" data-valid=${String(v.valid)}>
      <p><${Status} value=${v.valid ? 'VERIFIED' : 'BROKEN'}>${v.valid ? 'chain verified' : 'chain broken'}<//></p>
      <p>${v.valid
        ? `All ${v.records} records link up: none was changed, removed or inserted out of order. ${v.checkpoints} signed checkpoint${v.checkpoints === 1 ? '' : 's'} hold.`
        : `The chain breaks at record ${v.firstInvalidSeq}: records from there on cannot be trusted. Tell your security team.`}</p>
      <button type="button" class="secondary small" id="audit-verify-again" onClick=${q.reload}>Check again</button>
    </div>`;
  }}<//>`;
}

function Export({ filter, orgName }) {
  const [busy, setBusy] = useState(false);
  const download = async () => {
    setBusy(true);
    try {
      const d = await request(CSV, { o: app.orgId, f: filter });
      const blob = new Blob([d.organization.auditLogCsv], { type: 'text/csv' });
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `audit-${orgName.replace(/[^A-Za-z0-9]+/g, '-').toLowerCase()}-${new Date().toISOString().slice(0, 10)}.csv`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      toast('Audit trail exported as CSV.');
    } catch (e) {
      toast(`Export failed: ${errorText(e)}`, 'error');
    } finally {
      setBusy(false);
    }
  };
  return html`<button type="button" id="audit-csv" disabled=${busy} onClick=${download}>Download CSV${Object.keys(filter).length ? ' (filtered)' : ''}</button>`;
}

export function AuditPage() {
  const { query } = useLocation();
  const filter = filterOf(query);
  const key = JSON.stringify(filter);
  const q = useQuery(ACTORS, { o: app.orgId });
  return html`<${PageTitle} sub="Every change in the organisation, newest first, hash-chained.">Audit trail<//>
    <${Loaded} q=${q}>${(d) => {
      const o = d.organization;
      const actors = {
        people: o.members.map((m) => ({ id: m.user.id, label: `${m.user.name || m.user.email} <${m.user.email}>${m.status === 'REMOVED' ? ' (removed)' : ''}` })),
        services: o.serviceUsers.map((s) => ({ id: s.id, label: s.name + (s.status === 'REMOVED' ? ' (removed)' : '') })),
      };
      return html`
        <div class="grid">
          <${Card} title="Chain" id="audit-chain"><${Verification} /><//>
          <${Card} title="Export" id="audit-export"><p>The filtered trail, oldest first, with hashes, MACs and signed checkpoints for <code>countersign audit verify</code>.</p>
            <${Export} filter=${filter} orgName=${o.name} /><//>
        </div>
        <${Card} title="Records" id="audit-records">
          <${Filters} key=${key} query=${query} actors=${actors} actions=${o.auditActions} />
          <${Trail} key=${key} filter=${filter} names=${targetNames(o)} />
        <//>`;
    }}<//>`;
}
