// The maker's withdrawal form, /withdraw. Only whitelisted addresses that can
// receive are offered; those still cooling off are shown, disabled, with the
// moment they become usable. While the amount is typed, the form shows what
// `simulateWithdrawal` says the real call would do — refused (each failing
// check, with its limit layer), completes at once, or waits for approval (why,
// under which threshold, from whom) — and every limit layer's remaining
// capacity afterwards. Submitting says whether it completed or waits, with a
// link to the request.
import { html, useEffect, useState } from '../lib/html.js';
import { gql, request, errorText } from '../lib/api.js';
import { app, can } from '../lib/store.js';
import { Card, Field, Loaded, PageTitle, RequestLink, Status, UsageBar, act, describeOutcome, useQuery } from '../lib/ui.js';
import { money, usd, when, words } from '../lib/format.js';
import { reasonText } from './approvals.js';

const FORM = gql`query WithdrawForm($o: ID!) {
  assets { symbol decimals usdPrice }
  organization(id: $o) { id
    accounts { id name holdings { asset available } }
    addresses { id accountId asset network address label coolingOff usableFrom valid invalidReason } } }`;

const SIMULATE = gql`query WithdrawSimulate($o: ID!, $i: WithdrawalInput!) { simulateWithdrawal(orgId: $o, input: $i) {
  outcome status approvalsRequired waitingReason policyVersion
  failures { code message layer }
  decidingThreshold { layer thresholdUsd usdValue above }
  eligibleApprovers { id name email }
  usageAfter { layer subject subjectName perTransactionMaxUsd dailyCapUsd usedTodayUsd heldUsd remainingUsd } } }`;

const WITHDRAW = gql`mutation WithdrawSubmit($o: ID!, $i: WithdrawalInput!) { withdraw(orgId: $o, input: $i) {
  request { id status approvalsRequired withdrawal { amount asset usdValue } } } }`;

const LAYER = { ORGANIZATION: 'Organisation', API_KEY: 'API key', SIGNER: 'Signer' };
const DECIMAL = /^\d+(\.\d+)?$/;

/** The simulation of what is typed, re-run 350 ms after the last change. */
function useSimulation(orgId, input) {
  const [state, setState] = useState({ sim: null, error: null, busy: false });
  const key = input ? JSON.stringify(input) : '';
  useEffect(() => {
    if (!input) { setState({ sim: null, error: null, busy: false }); return undefined; }
    let current = true;
    setState((s) => ({ ...s, busy: true }));
    const t = setTimeout(() => {
      request(SIMULATE, { o: orgId, i: input }).then(
        (d) => current && setState({ sim: d.simulateWithdrawal, error: null, busy: false }),
        (e) => current && setState({ sim: null, error: e, busy: false }),
      );
    }, 350);
    return () => { current = false; clearTimeout(t); };
  }, [orgId, key, app.liveTick]);
  return state;
}

function Verdict({ state }) {
  const { sim, error, busy } = state;
  if (error) return html`<p class="error-text" role="alert">${errorText(error)}</p>`;
  if (!sim) return html`<p class="muted">Choose a destination and type an amount to see what will happen.</p>`;
  const t = sim.decidingThreshold;
  let head;
  if (sim.outcome === 'REFUSED') {
    head = html`<p class="verdict-head bad"><strong>It would be refused.</strong></p>
      <ul class="failures">${sim.failures.map((f) => html`<li data-code=${f.code} data-layer=${f.layer || ''}>
        ${reasonText(f.message)}${f.layer ? html` <span class="status REJECTED">${LAYER[f.layer] || words(f.layer)} limit</span>` : null}
        <small class="muted"> (${f.code})</small></li>`)}</ul>`;
  } else if (sim.outcome === 'COMPLETES_NOW') {
    head = html`<p class="verdict-head ok"><strong>${sim.status === 'COMPLETED' ? 'It completes at once.' : 'It needs no approval:'}</strong>
      ${sim.status === 'APPROVED' ? ' it will be approved at once and wait for a signer to execute it.' : ''}</p>`;
  } else {
    const n = sim.approvalsRequired;
    head = html`<p class="verdict-head warn"><strong>It will wait for ${n === 1 ? 'one approval' : n + ' approvals'}.</strong></p>
      <ul class="reasons">
        ${t && t.above ? html`<li data-threshold>${usd(t.usdValue)} is above ${t.layer === 'OPERATOR' ? 'your own' : "the organisation's"} approval threshold of ${usd(t.thresholdUsd)}.</li>` : null}
        ${sim.waitingReason && !(t && t.above && sim.waitingReason.startsWith('ABOVE_THRESHOLD')) ? html`<li>${reasonText(sim.waitingReason)}</li>` : null}
        <li>Can approve: ${sim.eligibleApprovers.length ? sim.eligibleApprovers.map((u) => (u.name ? `${u.name} <${u.email}>` : u.email)).join(', ') : 'nobody at the moment'}.</li>
      </ul>`;
  }
  return html`<div class="verdict" data-outcome=${sim.outcome} aria-busy=${busy ? 'true' : 'false'}>
    ${head}
    ${t && !t.above && sim.outcome !== 'REFUSED' ? html`<p class="muted">${usd(t.usdValue)} is within ${t.layer === 'OPERATOR' ? 'your own' : "the organisation's"} approval threshold of ${usd(t.thresholdUsd)}.</p>` : null}
    ${sim.policyVersion ? html`<p class="muted">Under the withdrawal policy v${sim.policyVersion}.</p>` : null}
    <h3>Limits afterwards (today, UTC)</h3>
    <ul class="usage-after" id="usage-after">
      ${sim.usageAfter.length === 0 ? html`<li class="muted">No limit applies.</li>` : null}
      ${sim.usageAfter.map((u) => html`<li data-layer=${u.layer}>
        <strong>${LAYER[u.layer] || words(u.layer)}: ${u.subjectName}</strong>
        ${u.dailyCapUsd ? html`<${UsageBar} usage=${u} />` : null}
        <span>${u.remainingUsd === null ? 'no daily cap' : html`<span class="figure" data-remaining>${usd(u.remainingUsd)}</span> left of ${usd(u.dailyCapUsd)} today`}</span>
        <span class="muted">${u.perTransactionMaxUsd ? `at most ${usd(u.perTransactionMaxUsd)} a withdrawal` : 'no per-withdrawal maximum'}</span>
      </li>`)}
    </ul>
  </div>`;
}

function Form({ d }) {
  const orgId = app.orgId;
  const accounts = d.organization.accounts;
  const decimals = Object.fromEntries(d.assets.map((a) => [a.symbol, a.decimals]));
  const [accountId, setAccount] = useState(accounts[0] ? accounts[0].id : '');
  const [addressId, setAddress] = useState('');
  const [amountText, setAmount] = useState('');
  const [execute, setExecute] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);
  const addresses = d.organization.addresses.filter((a) => a.accountId === accountId);
  const chosen = addresses.find((a) => a.id === addressId && !a.coolingOff && a.valid);
  const account = accounts.find((a) => a.id === accountId);
  const holding = account && chosen ? account.holdings.find((h) => h.asset === chosen.asset) : null;
  const amount = amountText.trim();
  const valid = chosen && DECIMAL.test(amount) && Number(amount) > 0;
  const input = valid ? { accountId, asset: chosen.asset, amount, addressId: chosen.id, execute } : null;
  const sim = useSimulation(orgId, input);
  const signer = can('INITIATE_WITHDRAWAL', 'EXECUTE');

  const submit = async (e) => {
    e.preventDefault();
    if (!input) return;
    setBusy(true);
    const out = await act('Withdrawal', () => request(WITHDRAW, { o: orgId, i: input }), (x) => x.withdraw.request);
    setBusy(false);
    if (out) { setResult(out.withdraw.request); setAmount(''); }
  };

  return html`<div class="grid withdraw">
    <${Card} title="New withdrawal" id="withdraw-card">
      <form class="stack" id="withdraw-form" onSubmit=${submit}>
        <${Field} label="From account">
          <select name="account" value=${accountId} onChange=${(e) => { setAccount(e.target.value); setAddress(''); }}>
            ${accounts.map((a) => html`<option value=${a.id}>${a.name}</option>`)}
          </select><//>
        <fieldset id="destinations">
          <legend>To address</legend>
          ${addresses.length === 0 ? html`<p class="muted">This account has no whitelisted address. An address manager adds them under Addresses.</p>` : null}
          ${addresses.map((a) => html`<label class=${'destination' + (a.coolingOff ? ' cooling' : '')} data-address=${a.id} data-cooling=${a.coolingOff ? 'true' : 'false'}>
            <input type="radio" name="address" value=${a.id} checked=${a.id === addressId} disabled=${a.coolingOff || !a.valid}
              onChange=${() => setAddress(a.id)} />
            <span><strong>${a.label}</strong> · ${a.asset}<br /><code>${a.address}</code> on ${a.network}
              ${a.coolingOff ? html`<br /><span class="status COOLING_OFF">cooling off</span> <span data-usable-from>usable from ${when(a.usableFrom)}</span>` : null}
              ${a.valid ? null : html`<br /><span class="status FAILED">not a valid address</span> <span data-invalid>${a.invalidReason}; an address manager must replace it</span>`}</span>
          </label>`)}
        </fieldset>
        <${Field} label=${'Amount' + (chosen ? ' in ' + chosen.asset : '')}
          hint=${holding ? `Available: ${money(holding.available, chosen.asset, decimals[chosen.asset])}` : chosen ? `No ${chosen.asset} on this account.` : 'Choose a destination first.'}>
          <input name="amount" inputmode="decimal" autocomplete="off" value=${amountText} placeholder="0.00"
            onInput=${(e) => setAmount(e.target.value)} aria-invalid=${amount && !DECIMAL.test(amount) ? 'true' : 'false'} /><//>
        ${amount && !DECIMAL.test(amount) ? html`<p class="error-text">Type the amount as digits with an optional decimal point, e.g. 1250.50.</p>` : null}
        ${signer ? html`<label class="check"><input type="checkbox" name="execute" checked=${execute} onChange=${(e) => setExecute(e.target.checked)} />
          Execute it myself at once if it needs no approval</label>` : null}
        <div class="row">
          <button type="submit" disabled=${!input || busy || (sim.sim && sim.sim.outcome === 'REFUSED')}>Request withdrawal</button>
        </div>
      </form>
    <//>
    <${Card} title="What will happen" id="verdict-card">
      <div aria-live="polite" id="verdict"><${Verdict} state=${sim} /></div>
    <//>
    ${result ? html`<${Card} title="Requested" id="withdraw-result">
      <p data-status=${result.status}><${Status} value=${result.status} /> ${describeOutcome(`${money(result.withdrawal.amount, result.withdrawal.asset, decimals[result.withdrawal.asset])} (${usd(result.withdrawal.usdValue)})`, result)}</p>
      <p><${RequestLink} id=${result.id}>Open the request<//></p>
    <//>` : null}
  </div>`;
}

export function WithdrawPage() {
  const q = useQuery(FORM, { o: app.orgId });
  return html`<${PageTitle} sub="Send funds to a whitelisted address. You see what will happen before you submit.">Withdraw<//>
    <${Loaded} q=${q}>${(d) => html`<${Form} d=${d} />`}<//>`;
}
