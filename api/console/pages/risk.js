// Risk (/risk), for the risk officer: today's usage against the cap of every
// limit layer by name (used, held, remaining), the last 30 days' outflow per
// layer as a line chart, and the stablecoin balance alert's history as a
// chart — each chart an inline SVG drawn here, with the same figures as a
// table for screen readers and for reading exact values.
import { html, useState, useEffect, useRef, useId } from '../lib/html.js';
import { gql } from '../lib/api.js';
import { app } from '../lib/store.js';
import { useQuery, Loaded, Card, Table, Status, PageTitle } from '../lib/ui.js';
import { usd, when, day as dayText, amount } from '../lib/format.js';
import { sumDecimals } from '../lib/changes.js';
import { UsageTable, BalanceAlertFacts } from './overview.js';

const RISK = gql`query RiskPage($o: ID!) { organization(id: $o) { id name
  usage { layer subject subjectName perTransactionMaxUsd dailyCapUsd usedTodayUsd heldUsd remainingUsd approvalThresholdUsd }
  outflowHistory(days: 30) { layer subject subjectName days { day usd } }
  balanceAlert { state thresholdUsd totalStablecoinUsd changedAt withdrawalsPaused }
  balanceAlertHistory(first: 200) { state totalStablecoinUsd thresholdUsd at } } }`;

const LAYER_NAMES = { ORGANIZATION: 'Organisation', API_KEY: 'API key', SIGNER: 'Signer' };
// Colours that keep 4.5:1 on white, each with its own dash so lines differ without colour too.
const PALETTE = ['#1f4fb4', '#b42318', '#17703e', '#8a5300', '#6b3fa0', '#0f6b75', '#3b4656', '#a1346b'];
const DASHES = ['', '6 3', '2 3', '8 3 2 3', '1 2', '10 4'];

/** The width of an element, kept current as the window resizes. */
function useWidth(initial = 640) {
  const ref = useRef(null);
  const [width, setWidth] = useState(initial);
  useEffect(() => {
    if (!ref.current) return undefined;
    const ro = new ResizeObserver(([e]) => setWidth(Math.max(240, Math.floor(e.contentRect.width))));
    ro.observe(ref.current);
    return () => ro.disconnect();
  }, []);
  return [ref, width];
}

/** A rounded-up axis maximum with about four steps: 23 400 → 25 000. */
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  const step = [1, 2, 2.5, 5, 10].map((s) => s * p).find((s) => s * 4 >= v);
  return step * 4;
}

const compact = (n) => (n >= 1e6 ? amount(String(+(n / 1e6).toFixed(1)), 0) + 'M' : n >= 1e3 ? amount(String(+(n / 1e3).toFixed(1)), 0) + 'k' : String(Math.round(n)));

/**
 * A line chart drawn at the width it is given. `series`: [{ name, points:
 * [{ x, y }], step }]; `xTicks`: [{ x, label }]; x and y are plain numbers
 * for geometry only (figures on screen come from the tables).
 */
export function LineChart({ title, description, series, xMin, xMax, xTicks, id, height = 260 }) {
  const [ref, width] = useWidth();
  const titleId = useId();
  const m = { left: 52, right: 14, top: 12, bottom: 30 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const top = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.y))));
  const x = (v) => m.left + (xMax === xMin ? w / 2 : ((v - xMin) / (xMax - xMin)) * w);
  const y = (v) => m.top + h - (v / top) * h;
  const path = (s) => s.points.map((p, i) => {
    if (i === 0) return `M${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`;
    return s.step ? `H${x(p.x).toFixed(1)}V${y(p.y).toFixed(1)}` : `L${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`;
  }).join('');
  // Fewer x labels on a narrow screen.
  const every = Math.max(1, Math.ceil(xTicks.length / Math.max(2, Math.floor(w / 70))));
  return html`<div class="chart-box" ref=${ref}>
    <svg class="chart" id=${id} width=${width} height=${height} viewBox=${`0 0 ${width} ${height}`} role="img" aria-labelledby=${titleId + '-t ' + titleId + '-d'}>
      <title id=${titleId + '-t'}>${title}</title>
      <desc id=${titleId + '-d'}>${description}</desc>
      ${[0, 1, 2, 3, 4].map((i) => {
        const v = (top / 4) * i;
        return html`<g class="grid-line"><line x1=${m.left} x2=${m.left + w} y1=${y(v)} y2=${y(v)} />
          <text x=${m.left - 6} y=${y(v) + 4} text-anchor="end">${compact(v)}</text></g>`;
      })}
      ${xTicks.filter((_, i) => i % every === 0).map((t) => html`<text class="x-label" x=${x(t.x)} y=${height - 10} text-anchor="middle">${t.label}</text>`)}
      ${series.map((s, i) => html`<g class="series" data-series=${s.name}>
        <path d=${path(s)} fill="none" stroke=${PALETTE[i % PALETTE.length]} stroke-width="2" stroke-dasharray=${DASHES[i % DASHES.length]} />
        ${s.points.filter((p) => p.mark).map((p) => html`<circle cx=${x(p.x)} cy=${y(p.y)} r="3.5" fill=${p.markColor || PALETTE[i % PALETTE.length]} />`)}
      </g>`)}
    </svg>
    <ul class="legend" aria-hidden="true">${series.map((s, i) => html`<li>
      <svg width="26" height="10" class="swatch-line"><line x1="0" x2="26" y1="5" y2="5" stroke=${PALETTE[i % PALETTE.length]} stroke-width="2" stroke-dasharray=${DASHES[i % DASHES.length]} /></svg>${s.name}</li>`)}</ul>
  </div>`;
}

const seriesName = (s) => `${LAYER_NAMES[s.layer] || s.layer}: ${s.subjectName}`;
const utcDay = (d) => Date.parse(d + 'T00:00:00Z');
const dayLabel = (d) => new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' }).format(new Date(utcDay(d)));

function Outflow({ history }) {
  const [table, setTable] = useState(false);
  const days = history.length ? history[0].days.map((d) => d.day) : [];
  if (!days.length) return html`<p class="muted">No outflow history.</p>`;
  const series = history.map((s) => ({
    name: seriesName(s),
    points: s.days.map((d, i) => ({ x: i, y: Number(d.usd), mark: Number(d.usd) > 0 })),
  }));
  const totals = history.map((s) => sumDecimals(s.days.map((d) => d.usd)));
  const active = days.map((d, i) => ({ id: d, day: d, values: history.map((s) => s.days[i].usd) }))
    .filter((r) => r.values.some((v) => Number(v) > 0));
  const org = history.find((s) => s.layer === 'ORGANIZATION');
  return html`<div>
    <${LineChart} id="outflow-chart" title="Outflow per day, last 30 days (UTC), USD"
      description=${`Settled withdrawals per UTC day from ${dayText(days[0] + 'T12:00:00Z')} to ${dayText(days[days.length - 1] + 'T12:00:00Z')}, one line per limit layer.`
        + (org ? ` The organisation's total over the period: ${usd(sumDecimals(org.days.map((d) => d.usd)))}.` : '')}
      series=${series} xMin=${0} xMax=${days.length - 1} xTicks=${days.map((d, i) => ({ x: i, label: dayLabel(d) }))} />
    <${Table} id="outflow-totals" caption="Outflow over 30 days per layer" rows=${history.map((s, i) => ({ id: s.layer + s.subject, s, total: totals[i] }))}
      rowProps=${(r) => ({ 'data-series': r.s.subjectName, 'data-layer': r.s.layer })}
      columns=${[
        { label: 'Layer', class: 'nowrap', render: (r) => LAYER_NAMES[r.s.layer] || r.s.layer },
        { label: 'Subject', render: (r) => html`<strong title=${r.s.subject}>${r.s.subjectName}</strong>` },
        { label: '30 days', class: 'num', render: (r) => usd(r.total) },
        { label: 'Today', class: 'num', render: (r) => usd(r.s.days[r.s.days.length - 1].usd) },
      ]} />
    <button type="button" class="secondary small" aria-expanded=${String(table)} aria-controls="outflow-table" id="outflow-table-toggle"
      onClick=${() => setTable(!table)}>${table ? 'Hide' : 'Show'} the chart's figures per day</button>
    ${table ? html`<div id="outflow-table"><p class="muted">Days with outflow on some layer; every other day is zero.</p>
      <${Table} caption="Outflow per day and layer, USD" rows=${active} empty="No outflow in the last 30 days."
        columns=${[
          { label: 'Day (UTC)', render: (r) => r.day },
          ...history.map((s, i) => ({ label: seriesName(s), class: 'num', render: (r) => usd(r.values[i]) })),
        ]} /></div>` : null}
  </div>`;
}

function AlertHistory({ history, alert }) {
  const [table, setTable] = useState(false);
  if (!history.length) return html`<p class="muted" id="alert-history-empty">The alert has not changed yet.</p>`;
  const changes = [...history].reverse();
  const t = (c) => Date.parse(c.at);
  const now = Date.now();
  const xMin = t(changes[0]);
  const xMax = Math.max(now, t(changes[changes.length - 1]));
  // The balance as each change recorded it, carried on to now.
  const balance = [...changes.map((c) => ({ x: t(c), y: Number(c.totalStablecoinUsd), mark: true, markColor: c.state === 'LOW' ? '#b42318' : '#17703e' })),
    { x: xMax, y: Number(alert.totalStablecoinUsd) }];
  // The threshold as each change recorded it, then as it is set now.
  const threshold = changes.filter((c) => c.thresholdUsd !== null).map((c) => ({ x: t(c), y: Number(c.thresholdUsd) }));
  if (alert.thresholdUsd !== null) threshold.push({ x: xMax, y: Number(alert.thresholdUsd) });
  const span = xMax - xMin;
  // Over more than two days, a tick at each UTC midnight; otherwise six times of day.
  const DAY = 86400e3;
  const ticks = span > 2 * DAY
    ? Array.from({ length: Math.floor(xMax / DAY) - Math.ceil(xMin / DAY) + 1 }, (_, i) => (Math.ceil(xMin / DAY) + i) * DAY)
      .map((v) => ({ x: v, label: new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' }).format(new Date(v)) }))
    : Array.from({ length: 6 }, (_, i) => xMin + (span * i) / 5)
      .map((v) => ({ x: v, label: new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' }).format(new Date(v)) }));
  const lows = changes.filter((c) => c.state === 'LOW').length;
  return html`<div>
    <${LineChart} id="alert-chart" title="Stablecoin balance and alert threshold, USD"
      description=${`${changes.length} changes of the balance alert from ${when(changes[0].at)} to ${when(changes[changes.length - 1].at)}; it turned low ${lows} time${lows === 1 ? '' : 's'}. Red points: turned low; green: healthy again.`}
      series=${[{ name: 'Stablecoin balance (red point: low, green: healthy)', points: balance, step: true },
        ...(threshold.length ? [{ name: 'Alert threshold', points: threshold, step: true }] : [])]}
      xMin=${xMin} xMax=${xMax} xTicks=${ticks} />
    <button type="button" class="secondary small" aria-expanded=${String(table)} aria-controls="alert-table" id="alert-table-toggle"
      onClick=${() => setTable(!table)}>${table ? 'Hide' : 'Show'} the changes as a table</button>
    ${table ? html`<div id="alert-table"><${Table} caption="Balance alert changes" rows=${history.map((c, i) => ({ ...c, id: i }))}
      columns=${[
        { label: 'When', render: (c) => when(c.at) },
        { label: 'State', render: (c) => html`<${Status} value=${c.state} />` },
        { label: 'Stablecoins', class: 'num', render: (c) => usd(c.totalStablecoinUsd) },
        { label: 'Threshold', class: 'num', render: (c) => (c.thresholdUsd ? usd(c.thresholdUsd) : '—') },
      ]} /></div>` : null}
  </div>`;
}

export function RiskPage() {
  const q = useQuery(RISK, { o: app.orgId });
  return html`<${PageTitle} sub="Usage against the caps, outflow over time, and the balance alert.">Risk<//>
    <${Loaded} q=${q}>${(d) => {
      const o = d.organization;
      return html`
        <${Card} title="Usage against cap, today (UTC)" id="risk-usage"><${UsageTable} usage=${o.usage} id="risk-usage-table" /><//>
        <${Card} title="Outflow, last 30 days" id="risk-outflow"><${Outflow} history=${o.outflowHistory} /><//>
        <${Card} title="Balance alert" id="risk-alert">
          <${BalanceAlertFacts} alert=${o.balanceAlert} />
          <${AlertHistory} history=${o.balanceAlertHistory} alert=${o.balanceAlert} />
        <//>`;
    }}<//>`;
}
