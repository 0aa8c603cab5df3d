// Addresses (/addresses), for administrators and makers: the whitelisted
// withdrawal addresses (label, address, network, asset, account) with
// their cooling-off — a new address cannot receive until it is usable —
// and the changes: whitelist an address, remove one, and set the
// organisation's cooling-off delay for addresses whitelisted from then on.
// Each change says whether it completed or waits for approval. The network
// and asset are chosen from the `networks` the API lists (each network
// offers only the assets it carries), and the address field says the
// network's format; addresses whitelisted before networks were checked
// are marked when they are not valid and cannot receive.
import { html } from '../lib/html.js';
import { gql, request } from '../lib/api.js';
import { app, can } from '../lib/store.js';
import { useQuery, Loaded, Card, Table, Status, Field, ConfirmButton, PageTitle } from '../lib/ui.js';
import { useChange, useForm, durationSecs, durationText } from '../lib/changes.js';
import { when } from '../lib/format.js';

const ADDRESSES = gql`query AddressesPage($o: ID!) { organization(id: $o) { id addressCoolingOff
  accounts { id name }
  addresses { id accountId asset network address label createdAt usableFrom coolingOff valid invalidReason } }
  networks { name displayName addressFormat addressExample assets { symbol } } }`;
const ADD = gql`mutation AddressesAdd($o: ID!, $i: AddressInput!) {
  addAddress(orgId: $o, input: $i) { request { id status approvalsRequired } } }`;
const REMOVE = gql`mutation AddressesRemove($o: ID!, $a: ID!) {
  removeAddress(orgId: $o, addressId: $a) { request { id status approvalsRequired } } }`;
const COOLING_OFF = gql`mutation AddressesCoolingOff($o: ID!, $d: Duration!) {
  setAddressCoolingOff(orgId: $o, delay: $d) { request { id status approvalsRequired } } }`;

function AddForm({ accounts, networks, run }) {
  const first = networks[0] || { name: '', assets: [] };
  const f = useForm({ accountId: accounts[0] ? accounts[0].id : '', asset: (first.assets[0] || {}).symbol || '', network: first.name, address: '', label: '' });
  const network = networks.find((n) => n.name === f.values.network) || first;
  const assets = network.assets.map((a) => a.symbol);
  // Another network may not carry the asset chosen: offer its first instead.
  const pickNetwork = (e) => {
    const n = networks.find((x) => x.name === e.currentTarget.value) || first;
    const symbols = n.assets.map((a) => a.symbol);
    f.set({ network: n.name, asset: symbols.includes(f.values.asset) ? f.values.asset : symbols[0] || '' });
  };
  const submit = async (e) => {
    e.preventDefault();
    const v = f.values;
    const input = { accountId: v.accountId, asset: v.asset, network: v.network.trim(), address: v.address.trim(), label: v.label.trim() };
    const d = await run(`Whitelist “${input.label}”`, () => request(ADD, { o: app.orgId, i: input }), (x) => x.addAddress.request);
    if (d) f.set({ address: '', label: '' });
  };
  return html`<form class="stack" id="add-address-form" onSubmit=${submit}>
    <div class="form-row">
      <${Field} label="Label" hint="How people will recognise it, e.g. “Cold wallet”."><input required autocomplete="off" ...${f.bind('label')} /><//>
      ${accounts.length > 1 ? html`<${Field} label="Account"><select ...${f.bind('accountId')}>${accounts.map((a) => html`<option value=${a.id}>${a.name}</option>`)}</select><//>` : null}
    </div>
    <div class="form-row">
      <${Field} label="Network"><select name="network" value=${network.name} onChange=${pickNetwork}>${networks.map((n) => html`<option value=${n.name}>${n.displayName}</option>`)}</select><//>
      <${Field} label="Asset"><select ...${f.bind('asset')}>${assets.map((a) => html`<option value=${a}>${a}</option>`)}</select><//>
    </div>
    <${Field} label="Address" hint=${network.addressFormat}><input required autocomplete="off" spellcheck="false" class="mono" placeholder=${network.addressExample} ...${f.bind('address')} /><//>
    <div><button type="submit">Whitelist address</button></div>
  </form>`;
}

function CoolingOff({ current, run }) {
  const secs = durationSecs(current);
  const f = useForm(secs % 86400 === 0 && secs ? { amount: String(secs / 86400), unit: 'D' } : { amount: String(Math.round(secs / 3600)), unit: 'H' });
  const submit = (e) => {
    e.preventDefault();
    const n = Math.max(0, Math.floor(Number(f.values.amount) || 0));
    const delay = n === 0 ? 'PT0S' : f.values.unit === 'D' ? `P${n}D` : `PT${n}H`;
    run(`Set the cooling-off to ${durationText(delay)}`, () => request(COOLING_OFF, { o: app.orgId, d: delay }), (x) => x.setAddressCoolingOff.request);
  };
  return html`<p id="cooling-off-now">Addresses whitelisted from now on wait <strong>${durationText(current)}</strong> before they can receive.</p>
    ${can('MANAGE_POLICIES', 'INITIATE') ? html`<form class="inline" id="cooling-off-form" onSubmit=${submit}>
      <${Field} label="Cooling-off"><input type="number" min="0" required ...${f.bind('amount')} /><//>
      <${Field} label="Unit"><select ...${f.bind('unit')}><option value="H">hours</option><option value="D">days</option></select><//>
      <button type="submit">Save cooling-off</button>
    </form><p class="muted">At most 30 days; 0 for none. Addresses already whitelisted keep their dates.</p>` : null}`;
}

export function AddressesPage() {
  const q = useQuery(ADDRESSES, { o: app.orgId });
  const [run, notice] = useChange();
  const manage = can('MANAGE_ADDRESSES', 'INITIATE');
  return html`<${PageTitle} sub="Where withdrawals may go.">Addresses<//>
    ${notice}
    <${Loaded} q=${q}>${(d) => {
      const o = d.organization;
      const account = (id) => (o.accounts.find((a) => a.id === id) || { name: '—' }).name;
      return html`
        <${Card} title="Whitelisted addresses" id="addresses">
          <${Table} id="addresses-table" caption="Whitelisted addresses" rows=${o.addresses} empty="No addresses yet: withdrawals need one."
            rowProps=${(a) => ({ 'data-address': a.label, 'data-cooling': String(a.coolingOff), 'data-valid': String(a.valid) })}
            columns=${[
              { label: 'Label', render: (a) => html`<strong>${a.label}</strong>` },
              { label: 'Address', render: (a) => html`<code>${a.address}</code>` },
              { label: 'Asset', render: (a) => `${a.asset} on ${a.network}` },
              ...(o.accounts.length > 1 ? [{ label: 'Account', render: (a) => account(a.accountId) }] : []),
              { label: 'Usable', render: (a) => (!a.valid
                ? html`<div><${Status} value="FAILED">not valid<//><br /><small>${a.invalidReason}; replace it</small></div>`
                : a.coolingOff
                ? html`<div><${Status} value="COOLING_OFF">cooling off<//><br /><small>usable from ${when(a.usableFrom)}</small></div>`
                : html`<div><${Status} value="ACTIVE">usable<//><br /><small class="muted">since ${when(a.usableFrom)}</small></div>`) },
              ...(manage ? [{ label: 'Actions', render: (a) => html`<${ConfirmButton} label="Remove" danger class="small"
                  aria-label=${'Remove ' + a.label} title=${'Remove “' + a.label + '”?'} confirmLabel="Remove address"
                  body=${html`<p>Withdrawals to <code>${a.address}</code> are refused from then on, including approved ones not yet executed.</p>`}
                  onConfirm=${() => run(`Remove “${a.label}”`, () => request(REMOVE, { o: app.orgId, a: a.id }), (x) => x.removeAddress.request)} />` }] : []),
            ]} />
        <//>
        <div class="grid">
          ${manage ? html`<${Card} title="Whitelist an address" id="add-address"><${AddForm} accounts=${o.accounts} networks=${d.networks} run=${run} /><//>` : null}
          <${Card} title="Cooling-off" id="cooling-off"><${CoolingOff} current=${o.addressCoolingOff} run=${run} /><//>
        </div>`;
    }}<//>`;
}
