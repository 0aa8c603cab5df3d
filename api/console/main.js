// Countersign console: the application shell. It restores the session,
// keeps the live WebSocket on the chosen organisation, draws the header and
// navigation (hidden while signed out), and hands the page address to the
// page that owns it. Pages live in pages/, one module each.
import { html, render, useEffect, useState } from './lib/html.js';
import { useApp, can, loadViewer, selectOrg, signOut, update } from './lib/store.js';
import { token } from './lib/api.js';
import { watch } from './lib/live.js';
import { Link, match, navigate, useLocation } from './lib/router.js';
import { Toasts, useQuery } from './lib/ui.js';
import { gql } from './lib/api.js';
import { pendingForViewer } from './pages/approvals.js';

import { SignInPage, SignUpPage } from './pages/sign-in.js';
import { InvitePage } from './pages/invite.js';
import { SecurityPage } from './pages/security.js';
import { ApprovalsPage, HistoryPage } from './pages/approvals.js';
import { RequestPage } from './pages/request.js';
import { WithdrawPage } from './pages/withdraw.js';
import { OverviewPage } from './pages/overview.js';
import { MembersPage } from './pages/members.js';
import { ServiceUsersPage } from './pages/service-users.js';
import { WebhooksPage } from './pages/webhooks.js';
import { PoliciesPage } from './pages/policies.js';
import { LimitsPage } from './pages/limits.js';
import { AddressesPage } from './pages/addresses.js';
import { SettingsPage } from './pages/settings.js';
import { RiskPage } from './pages/risk.js';
import { AuditPage } from './pages/audit.js';

/** Pages anyone may open, signed in or not. */
const PUBLIC = { '/sign-in': SignInPage, '/sign-up': SignUpPage, '/invite/:token': InvitePage };

/** Pages of a signed-in member of the chosen organisation. */
const MEMBER = {
  '/approvals': ApprovalsPage,
  '/history': HistoryPage,
  '/requests/:id': RequestPage,
  '/withdraw': WithdrawPage,
  '/overview': OverviewPage,
  '/risk': RiskPage,
  '/members': MembersPage,
  '/service-users': ServiceUsersPage,
  '/webhooks': WebhooksPage,
  '/policies': PoliciesPage,
  '/limits': LimitsPage,
  '/addresses': AddressesPage,
  '/settings': SettingsPage,
  '/audit': AuditPage,
};

/** The navigation, filtered by what the resolved permissions allow. */
function navItems() {
  return [
    { href: '/approvals', label: 'Approvals', badge: true },
    can('INITIATE_WITHDRAWAL', 'INITIATE') && { href: '/withdraw', label: 'Withdraw' },
    { href: '/overview', label: 'Overview' },
    { href: '/risk', label: 'Risk' },
    can('MANAGE_ACCESS', 'VIEW') && { href: '/members', label: 'Members' },
    can('MANAGE_ACCESS', 'VIEW') && { href: '/service-users', label: 'Service users' },
    can('MANAGE_ACCESS', 'VIEW') && { href: '/webhooks', label: 'Webhooks' },
    can('MANAGE_POLICIES', 'VIEW') && { href: '/policies', label: 'Policies' },
    can('MANAGE_POLICIES', 'VIEW') && { href: '/limits', label: 'Limits' },
    can('MANAGE_ADDRESSES', 'VIEW') && { href: '/addresses', label: 'Addresses' },
    { href: '/settings', label: 'Settings' },
    can('MANAGE_ACCESS', 'VIEW') && { href: '/audit', label: 'Audit' },
  ].filter(Boolean);
}

const READINESS = gql`query ConsoleReadiness($o: ID!) { organization(id: $o) { id treasuryReadiness { ready missingRoles } } }`;

function Readiness({ orgId }) {
  const q = useQuery(READINESS, { o: orgId });
  const r = q.data && q.data.organization && q.data.organization.treasuryReadiness;
  if (!r || r.ready) return null;
  return html`<div class="banner" role="alert" id="banner">Treasury not ready: no member holds
    ${' ' + r.missingRoles.join(', ')}. Withdrawals are refused until every role is filled.</div>`;
}

/** Keeps the navigation's count of requests waiting for the viewer. */
function PendingCounter({ orgId }) {
  const { liveTick, viewer } = useApp();
  useEffect(() => {
    let current = true;
    pendingForViewer(orgId, viewer.user.id).then((n) => { if (current) update({ pending: n }); }, () => {});
    return () => { current = false; };
  }, [orgId, liveTick]);
  return null;
}

function Header({ path }) {
  const a = useApp();
  const signedIn = !!a.viewer;
  // The phone's folded navigation: open on Menu, closed again on arrival.
  const [open, setOpen] = useState(false);
  useEffect(() => setOpen(false), [path]);
  return html`<header class="top">
    <a class="skip" href="#main">Skip to content</a>
    <${Link} href=${signedIn ? '/approvals' : '/sign-in'} class="brand">Countersign<//>
    ${signedIn && a.orgs.length > 0 ? html`<label class="org-switch"><span class="visually-hidden">Organisation</span>
      <select id="org-switcher" value=${a.orgId} onChange=${(e) => selectOrg(e.target.value)}>
        ${a.orgs.map((o) => html`<option value=${o.id} selected=${o.id === a.orgId}>${o.name}</option>`)}</select></label>` : null}
    ${signedIn ? html`<button type="button" class="secondary menu-toggle" aria-controls="nav" aria-expanded=${String(open)} onClick=${() => setOpen(!open)}>Menu${a.pending > 0 ? html` <span class="badge" aria-label=${a.pending + ' waiting for you'}>${a.pending}</span>` : null}</button>` : null}
    ${signedIn && a.orgId ? html`<nav id="nav" aria-label="Main" class=${open ? 'open' : ''}>
      ${navItems().map((i) => html`<${Link} href=${i.href} class=${path === i.href || path.startsWith(i.href + '/') ? 'active' : ''}>
        ${i.label}${i.badge && a.pending > 0 ? html` <span class="badge" id="pending-badge" aria-label=${a.pending + ' waiting for you'}>${a.pending}</span>` : null}<//>`)}
      <a href="/explorer">Explorer</a>
    </nav>` : null}
    ${signedIn ? html`<div class="who">
      <${Link} href="/security" title="Your account and two-factor">${a.viewer.user.name || a.viewer.user.email}<//>
      <button type="button" class="secondary" id="sign-out" onClick=${() => { signOut(true); navigate('/sign-in'); }}>Sign out</button>
    </div>` : null}
  </header>`;
}

function NoOrganisation() {
  return html`<section class="card"><h1>No organisation yet</h1>
    <p>You are not a member of any organisation. Ask an administrator for an invitation, or open the link from your invitation e-mail.</p></section>`;
}

function App() {
  const a = useApp();
  const { path } = useLocation();
  useEffect(() => { watch(a.viewer ? a.token : null, a.orgId); }, [a.token, a.orgId, !!a.viewer]);

  let body;
  const pub = match(PUBLIC, path);
  if (!a.ready) {
    body = html`<p class="muted" aria-busy="true">Loading…</p>`;
  } else if (pub) {
    body = html`<${pub.page} params=${pub.params} />`;
  } else if (!a.viewer) {
    // Every other page needs a session: sign in first, then come back here.
    const back = path === '/' || path === '/sign-in' ? '' : '?next=' + encodeURIComponent(path + location.search);
    setTimeout(() => navigate('/sign-in' + back, { replace: true }), 0);
    body = null;
  } else if (path === '/security') {
    body = html`<${SecurityPage} />`;
  } else if (!a.orgId) {
    body = html`<${NoOrganisation} />`;
  } else {
    const m = match(MEMBER, path);
    if (!m) {
      setTimeout(() => navigate('/approvals', { replace: true }), 0);
      body = null;
    } else {
      body = html`<${m.page} key=${a.orgId} params=${m.params} />`;
    }
  }
  // data-page lets tests (and styles) know which page is on screen.
  const page = (pub || match(MEMBER, path) || { page: null }).page;
  useEffect(() => { document.body.dataset.page = path.split('/')[1] || 'home'; document.body.dataset.live = a.live; });
  return html`<${Header} path=${path} />
    ${a.viewer && a.orgId ? html`<${Readiness} orgId=${a.orgId} key=${'r' + a.orgId} /><${PendingCounter} orgId=${a.orgId} key=${'p' + a.orgId} />` : null}
    <main id="main" tabindex="-1" data-route=${page ? path : ''}>${body}</main>
    <${Toasts} />`;
}

(async () => {
  if (token.get()) {
    try { await loadViewer(); } catch (_) { token.set(null); update({ token: null }); }
  }
  update({ ready: true });
  const root = document.getElementById('app');
  root.textContent = ''; // the "Loading…" placeholder: Preact 11 renders beside what is there
  render(html`<${App} />`, root);
})();

