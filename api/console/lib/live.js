// Live updates over the graphql-transport-ws WebSocket: request events and
// balance-alert changes of the chosen organisation. Each event bumps
// `app.liveTick`, on which useQuery re-reads; what a person is typing, or a
// one-time secret on screen, lives in component state and survives that.
import { app, update, signOut, toast } from './store.js';
import { gql } from './api.js';

const REQUEST_EVENTS = gql`subscription ConsoleRequestEvents($o: ID!) { requestEvents(orgId: $o) { kind request { id operation status } } }`;
const ALERTS = gql`subscription ConsoleAlerts($o: ID!) { balanceAlertChanged(orgId: $o) { state } }`;

let socket = null;
let retry = null;
let watching = { token: null, orgId: null };
let tickTimer = null;

// Several events in a burst cause one re-read.
function tick() {
  clearTimeout(tickTimer);
  tickTimer = setTimeout(() => update({ liveTick: app.liveTick + 1 }), 120);
}

function connect() {
  const { token, orgId } = watching;
  if (socket) { socket.onclose = null; socket.close(); socket = null; }
  clearTimeout(retry);
  if (!token || !orgId) { if (app.live !== 'disconnected') update({ live: 'disconnected' }); return; }
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws', 'graphql-transport-ws');
  socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: { token } }));
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === 'connection_ack') {
      ws.send(JSON.stringify({ id: 'requests', type: 'subscribe', payload: { query: REQUEST_EVENTS, variables: { o: orgId } } }));
      ws.send(JSON.stringify({ id: 'alerts', type: 'subscribe', payload: { query: ALERTS, variables: { o: orgId } } }));
      update({ live: 'connected' });
    } else if (msg.type === 'ping') {
      ws.send(JSON.stringify({ type: 'pong' }));
    } else if (msg.type === 'next') {
      tick();
    } else if (msg.type === 'error' || msg.type === 'complete') {
      // The subscription ended (it fell behind, say): re-read and start again.
      tick();
      retry = setTimeout(connect, 500);
    }
  };
  ws.onclose = (e) => {
    socket = null;
    update({ live: 'disconnected' });
    // 4401: the session ended elsewhere (signed out, expired, idle).
    if (e.code === 4401) { signOut(false); toast('Your session ended. Sign in again.', 'info'); return; }
    // 4403: no longer allowed here (removed from the organisation, say).
    if (e.code === 4403) { tick(); return; }
    retry = setTimeout(() => { if (watching.token === token && watching.orgId === orgId) connect(); }, 2000);
  };
}

/** Follows the chosen organisation while signed in. */
export function watch(token, orgId) {
  if (watching.token === token && watching.orgId === orgId) return;
  watching = { token, orgId };
  connect();
}
