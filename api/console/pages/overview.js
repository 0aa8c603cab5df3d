// Overview (/overview), for every member: what the organisation holds per
// account (amounts in each asset's precision and in USD), the stablecoin
// balance alert, and today's usage against the cap of every limit layer
// (the organisation, each API key, each signer), by name.
import { html } from '../lib/html.js';
import { gql } from '../lib/api.js';
import { app } from '../lib/store.js';
import { useQuery, Loaded, Card, Table, Status, PageTitle } from '../lib/ui.js';
import { money, usd, when, words } from '../lib/format.js';
import { UsageFigures } from './limits.js';
import { sumDecimals } from '../lib/changes.js';

const OVERVIEW = gql`query OverviewPage($o: ID!) {
  assets { symbol decimals usdPrice }
  organization(id: $o) { id name
    accounts { id name holdings { asset amount held available usdValue } }
    balanceAlert { state thresholdUsd totalStablecoinUsd changedAt withdrawalsPaused }
    usage { layer subject subjectName perTransactionMaxUsd dailyCapUsd usedTodayUsd heldUsd remainingUsd approvalThresholdUsd } } }`;

const LAYERS = { ORGANIZATION: 'Organisation', API_KEY: 'API key', SIGNER: 'Signer' };

/** Every layer's usage against its cap, by name: shared with the risk page. */
export function UsageTable({ usage, id = 'usage' }) {
  const order = ['ORGANIZATION', 'API_KEY', 'SIGNER'];
  const rows = [...usage].sort((a, b) => order.indexOf(a.layer) - order.indexOf(b.layer) || a.subjectName.localeCompare(b.subjectName))
    .map((u) => ({ ...u, id: u.layer + ':' + u.subject }));
  return html`<${Table} id=${id} caption="Usage against cap, today (UTC)" rows=${rows} empty="No limits set on any layer."
    rowProps=${(u) => ({ 'data-layer': u.layer, 'data-subject': u.subjectName })}
    columns=${[
      { label: 'Layer', class: 'nowrap', render: (u) => LAYERS[u.layer] || words(u.layer) },
      { label: 'Subject', render: (u) => html`<strong title=${u.subject}>${u.subjectName}</strong>` },
      { label: 'Daily cap', class: 'num', render: (u) => (u.dailyCapUsd ? usd(u.dailyCapUsd) : '—') },
      { label: 'Used', class: 'num', render: (u) => usd(u.usedTodayUsd) },
      { label: 'Held', class: 'num', render: (u) => usd(u.heldUsd) },
      { label: 'Remaining', class: 'num', render: (u) => (u.remainingUsd === null ? '—' : usd(u.remainingUsd)) },
      { label: 'Against cap', render: (u) => html`<${UsageFigures} usage=${u} short />` },
    ]} />`;
}

export function BalanceAlertFacts({ alert }) {
  return html`<dl class="facts" id="alert-facts" data-state=${alert.state}>
    <dt>State</dt><dd><${Status} value=${alert.state} />${alert.withdrawalsPaused ? html` <${Status} value="LOW">withdrawals paused<//>` : null}</dd>
    <dt>Stablecoins</dt><dd class="figure">${usd(alert.totalStablecoinUsd)}</dd>
    <dt>Alert below</dt><dd class="figure">${alert.thresholdUsd ? usd(alert.thresholdUsd) : 'not set'}</dd>
    ${alert.changedAt ? html`<dt>Since</dt><dd>${when(alert.changedAt)}</dd>` : null}
  </dl>`;
}

export function OverviewPage() {
  const q = useQuery(OVERVIEW, { o: app.orgId });
  return html`<${PageTitle} sub="Holdings, the balance alert and today's usage.">Overview<//>
    <${Loaded} q=${q}>${(d) => {
      const o = d.organization;
      const decimals = (s) => (d.assets.find((a) => a.symbol === s) || {}).decimals;
      const total = sumDecimals(o.accounts.flatMap((a) => a.holdings).map((h) => h.usdValue));
      return html`
        <div class="grid">
          <${Card} title="Balance alert" id="overview-alert"><${BalanceAlertFacts} alert=${o.balanceAlert} /><//>
          <${Card} title="Total holdings" id="overview-total"><p class="big figure">${usd(total)}</p>
            <p class="muted">At current prices, across ${o.accounts.length === 1 ? 'the account' : o.accounts.length + ' accounts'}.</p><//>
        </div>
        ${o.accounts.map((a) => html`<${Card} title=${a.name} id=${'account-' + a.id} key=${a.id}>
          <${Table} caption=${'Holdings of ' + a.name} rows=${a.holdings.map((h) => ({ ...h, id: h.asset }))} empty="Nothing held yet."
            rowProps=${(h) => ({ 'data-asset': h.asset })}
            columns=${[
              { label: 'Asset', render: (h) => html`<strong>${h.asset}</strong>` },
              { label: 'Amount', class: 'num', render: (h) => money(h.amount, h.asset, decimals(h.asset)) },
              { label: 'Held', class: 'num', render: (h) => money(h.held, h.asset, decimals(h.asset)) },
              { label: 'Available', class: 'num', render: (h) => money(h.available, h.asset, decimals(h.asset)) },
              { label: 'USD value', class: 'num', render: (h) => usd(h.usdValue) },
            ]} />
        <//>`)}
        <${Card} title="Usage against cap" id="overview-usage"><${UsageTable} usage=${o.usage} /><//>`;
    }}<//>`;
}
