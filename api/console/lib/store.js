// The signed-in person, their organisations and their resolved permissions
// in the chosen one, shared by every page. Permissions come from
// `viewer.permissions(orgId)`, the API's own resolution of roles, grants and
// policies: the console hides what the API would refuse, and the API still
// refuses it.
import { gql, request, token, onUnauthenticated } from './api.js';
import { useEffect, useReducer } from './html.js';

const ORG_KEY = 'countersign.org';
const listeners = new Set();

export const app = {
  token: token.get(),
  viewer: null, // { user, twoFactorVerified, memberships }
  orgs: [], // [{ id, name }]
  orgId: null,
  perms: new Set(), // "WORKFLOW:ACTION"
  ready: false, // the session (if any) has been loaded
  live: 'disconnected', // the WebSocket: connected | disconnected
  liveTick: 0, // bumped by every live event: queries re-read on it
  pending: 0, // requests waiting for the viewer's approval (the navigation badge)
  toasts: [],
};

/** Changes the shared state and re-renders every component that reads it. */
export function update(patch) {
  Object.assign(app, patch);
  listeners.forEach((fn) => fn());
}

/** The shared state; re-renders the caller whenever it changes. */
export function useApp() {
  const [, force] = useReducer((x) => x + 1, 0);
  useEffect(() => { listeners.add(force); return () => listeners.delete(force); }, []);
  return app;
}

/** Whether the resolved permission set holds `action` on `workflow`. */
export const can = (workflow, action) => app.perms.has(workflow + ':' + action);

/** The viewer's membership in the chosen organisation. */
export const membership = () => (app.viewer ? app.viewer.memberships.find((m) => m.organizationId === app.orgId) : null);

/** Shows a short message; errors stay longer. `kind`: ok | error | info. */
export function toast(message, kind = 'ok') {
  const id = Math.random().toString(36).slice(2);
  update({ toasts: [...app.toasts, { id, message, kind }] });
  setTimeout(() => update({ toasts: app.toasts.filter((t) => t.id !== id) }), kind === 'error' ? 9000 : 5000);
}

const VIEWER = gql`query ConsoleViewer { viewer { twoFactorVerified
  user { id email name twoFactorEnabled }
  memberships { id organizationId roles isOwner } } }`;
const ORG_NAME = gql`query ConsoleOrgName($o: ID!) { organization(id: $o) { id name } }`;
const PERMISSIONS = gql`query ConsolePermissions($o: ID!) { viewer { permissions(orgId: $o) { workflow action accountId } } }`;

/** Reads the viewer, their organisations, and picks one (the last used). */
export async function loadViewer(preferOrg) {
  const d = await request(VIEWER);
  if (!d.viewer.user) throw new Error('not signed in');
  const orgs = (await Promise.all(d.viewer.memberships.map((m) =>
    request(ORG_NAME, { o: m.organizationId }).then((x) => x.organization).catch(() => null)))).filter(Boolean);
  const saved = preferOrg || sessionStorage.getItem(ORG_KEY);
  const pick = orgs.find((o) => o.id === saved) || orgs[0];
  update({ viewer: d.viewer, orgs });
  await selectOrg(pick ? pick.id : null);
}

/** Switches organisation: permissions are resolved anew. */
export async function selectOrg(orgId) {
  const perms = new Set();
  if (orgId) {
    sessionStorage.setItem(ORG_KEY, orgId);
    const d = await request(PERMISSIONS, { o: orgId });
    for (const p of d.viewer.permissions) perms.add(p.workflow + ':' + p.action);
  }
  update({ orgId, perms, pending: 0, liveTick: app.liveTick + 1 });
}

/** Keeps a new session's token and loads who it belongs to. */
export async function signedIn(newToken, preferOrg) {
  token.set(newToken);
  update({ token: newToken });
  await loadViewer(preferOrg);
}

const SIGN_OUT = gql`mutation ConsoleSignOut { signOut }`;

/** Ends the session here (and, with `callApi`, on the server). */
export function signOut(callApi = true) {
  if (callApi && app.token) request(SIGN_OUT).catch(() => {});
  token.set(null);
  update({ token: null, viewer: null, orgs: [], orgId: null, perms: new Set(), pending: 0 });
}

onUnauthenticated(() => {
  signOut(false);
  toast('Your session ended. Sign in again.', 'info');
});
