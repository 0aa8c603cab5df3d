//! An open WebSocket is held to the rules every HTTP request meets (issue
//! 16, item 3): when its session is signed out, expires or idles, when its
//! API key is revoked, expires or is rotated past its grace, or when its
//! member is removed, the server closes it — 4401 unauthenticated, 4403
//! forbidden — within a second, and delivers nothing more. On PostgreSQL
//! this holds across processes.

use futures_util::future::join_all;
use serde_json::{Value, json};
use std::time::Duration;
use tests::ws::WsClient;
use tests::{Backend, Session, TestApp, both_backends, spawn};

const EVENTS: &str = "subscription($o:ID!){ requestEvents(orgId:$o){ kind request{ id } } }";
const VIEWER: &str = "{ viewer { user { email } } }";
const UPDATE: &str =
    "mutation($o:ID!,$k:ID!,$p:ApiKeyPatch!){ updateApiKey(orgId:$o,keyId:$k,input:$p){ request{ status } } }";
const ROTATE: &str = "mutation($o:ID!,$k:ID!,$g:Duration){ rotateApiKey(orgId:$o,keyId:$k,grace:$g){ request{ status } apiKey{ secret } } }";
const REVOKE: &str = "mutation($o:ID!,$k:ID!){ revokeApiKey(orgId:$o,keyId:$k){ request{ status } } }";

/// The server closes the socket with `code` within a second of `since`
/// (when the credential stopped holding); nothing was delivered after it.
async fn closes_within_a_second(ws: &mut WsClient, since: tokio::time::Instant, code: u16, what: &str) {
    let started = since;
    let closed = ws.until_closed(Duration::from_secs(3)).await;
    let (got, reason) = closed.close.clone().unwrap_or_else(|| panic!("{what}: the socket stayed open"));
    assert_eq!(got, code, "{what}: closed with {got} {reason}");
    assert!(closed.at - started <= Duration::from_secs(1), "{what}: closed after {:?}", closed.at - started);
    assert!(closed.delivered.is_empty(), "{what}: delivered after the credential ended: {:?}", closed.delivered);
}

/// [`closes_within_a_second`], counted from now.
async fn closes_with(ws: &mut WsClient, code: u16, what: &str) {
    closes_within_a_second(ws, tokio::time::Instant::now(), code, what).await;
}

/// The socket is still open and answers an operation.
async fn still_open(ws: &mut WsClient, id: &str, what: &str) {
    let d = ws.query(id, "{ viewer { serviceUser { name } user { email } } }", json!({}), Duration::from_secs(3)).await;
    let d = d.unwrap_or_else(|| panic!("{what}: no answer"));
    assert!(d.get("errors").is_none(), "{what}: {d}");
}

/// Reads the socket's events up to the `COMPLETED` one (an invitation is
/// announced when it is created and when it completes); returns the first.
async fn event_received(ws: &mut WsClient, what: &str) -> Value {
    let first = ws.next(Duration::from_secs(5)).await.unwrap_or_else(|| panic!("{what}: no event"));
    let mut last = first.clone();
    while last["data"]["requestEvents"]["kind"] != "COMPLETED" {
        last = ws.next(Duration::from_secs(5)).await.unwrap_or_else(|| panic!("{what}: no COMPLETED event"));
    }
    first
}

/// Creates a request in `org` (an invitation), so subscribers get an event.
async fn event(app: &TestApp, token: &str, org: &str, n: u32) {
    let d = app
        .ok(
            Some(token),
            "mutation($o:ID!,$e:String!){ inviteMember(orgId:$o,email:$e,roles:[READ_ONLY]){ request{ status } } }",
            json!({"o": org, "e": format!("invitee{n}@example.com")}),
        )
        .await;
    assert_eq!(d["inviteMember"]["request"]["status"], "COMPLETED");
}

async fn signed_out(app: &TestApp, token: &str) {
    assert_eq!(app.ok(Some(token), "mutation{ signOut }", json!({})).await["signOut"], true);
}

/// An owner with two sessions: `owner.token` for the socket, the other for making events.
async fn owner_with_two_sessions(app: &TestApp) -> (Session, String, String) {
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let other = app.sign_in(&owner).await;
    (owner, org, other)
}

async fn sign_out_closes_the_socket(backend: Backend) {
    let app = spawn(backend).await;
    let (owner, org, other) = owner_with_two_sessions(&app).await;
    let mut ws = app.ws(&owner.token).await;
    app.subscribe(&mut ws, "events", EVENTS, json!({"o": org})).await;
    event(&app, &other, &org, 1).await;
    let first = event_received(&mut ws, "while signed in").await;
    assert_eq!(first["data"]["requestEvents"]["kind"], "CREATED", "{first}");

    // Sign out over HTTP, then at once: an event and a new operation on the socket.
    signed_out(&app, &owner.token).await;
    let since = tokio::time::Instant::now();
    event(&app, &other, &org, 2).await;
    ws.subscribe("after", VIEWER, json!({})).await;
    closes_within_a_second(&mut ws, since, 4401, "signed out").await;

    // The signed-out token opens no new socket either.
    match WsClient::try_connect(&app.base, json!({"token": owner.token})).await {
        tests::ws::Handshake::Refused(..) => {}
        tests::ws::Handshake::Acked(_) => panic!("a signed-out token opened a WebSocket"),
    }
}

async fn idle_sessions_are_closed(backend: Backend) {
    let app = spawn(backend).await;
    let (owner, org, other) = owner_with_two_sessions(&app).await;
    let mut ws = app.ws(&owner.token).await;
    app.subscribe(&mut ws, "events", EVENTS, json!({"o": org})).await;

    // An operation on the socket is a use of the session: 20 + 20 minutes
    // with one operation between stays within the 30-minute idle timeout.
    app.clock.advance(chrono::Duration::minutes(20));
    let d = ws.query("q1", VIEWER, json!({}), Duration::from_secs(3)).await.expect("answered");
    assert_eq!(d["data"]["viewer"]["user"]["email"], "owner@example.com", "{d}");
    app.clock.advance(chrono::Duration::minutes(20));
    // Events delivered are not a use: the socket stays open and receives…
    let other = app.sign_in(&Session { token: other, ..owner.clone() }).await;
    event(&app, &other, &org, 1).await;
    let e = event_received(&mut ws, "while the session is live").await;
    assert_eq!(e["data"]["requestEvents"]["kind"], "CREATED", "{e}");
    // …and 31 minutes after the last operation it is closed, however many events it got.
    app.clock.advance(chrono::Duration::minutes(11));
    closes_with(&mut ws, 4401, "idle").await;
}

/// A service user whose key may open WebSockets (no WITHDRAW: the owner is
/// its creator and the only approver, so coverage would refuse one); returns (key id, secret).
async fn websocket_key(app: &TestApp, owner: &Session, org: &str) -> (String, String) {
    let create = "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"bot\",scopes:[QUERY_FUNDS],allowWebsocket:true}){ apiKey{ keyId secret } } }";
    let d = app.ok(Some(&owner.token), create, json!({"o": org})).await;
    let k = &d["createServiceUser"]["apiKey"];
    (k["keyId"].as_str().unwrap().to_string(), k["secret"].as_str().unwrap().to_string())
}

async fn key_socket(app: &TestApp, key: &(String, String), nonce: u64) -> WsClient {
    let n = nonce.to_string();
    let init = json!({"apiKey": key.0, "nonce": n, "signature": tests::sign(&key.1, &n, b"")});
    let mut ws = WsClient::connect(&app.base, init).await;
    still_open(&mut ws, "hello", "a fresh key socket").await;
    ws
}

async fn key_changes_close_its_sockets(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let key = websocket_key(&app, &owner, &org).await;

    // Revoked.
    let mut ws = key_socket(&app, &key, 1).await;
    app.ok(Some(&owner.token), REVOKE, json!({"o": org, "k": key.0})).await;
    closes_with(&mut ws, 4401, "revoked key").await;

    // Expired.
    let key = websocket_key(&app, &owner, &org).await;
    let at = (app.now() + chrono::Duration::minutes(10)).to_rfc3339();
    app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"expiresAt": at}})).await;
    let mut ws = key_socket(&app, &key, 1).await;
    app.clock.advance(chrono::Duration::minutes(9));
    still_open(&mut ws, "before", "before expiry").await;
    app.clock.advance(chrono::Duration::minutes(2));
    closes_with(&mut ws, 4401, "expired key").await;

    // No longer allowed on WebSockets, or from this address: forbidden.
    let owner_token = app.sign_in(&owner).await;
    let owner = Session { token: owner_token, ..owner };
    let key = websocket_key(&app, &owner, &org).await;
    let mut ws = key_socket(&app, &key, 1).await;
    app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"ipAllowlist": ["10.0.0.0/8"]}})).await;
    closes_with(&mut ws, 4403, "address no longer allowed").await;
    app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"ipAllowlist": null}})).await;
    let mut ws = key_socket(&app, &key, 2).await;
    app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"allowWebsocket": false}})).await;
    closes_with(&mut ws, 4403, "WebSockets no longer allowed").await;
    app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"allowWebsocket": true}})).await;

    // Rotated with a grace period: the old secret's socket lives until the
    // grace ends, the new secret's socket goes on after it.
    let mut old = key_socket(&app, &key, 3).await;
    let d = app.ok(Some(&owner.token), ROTATE, json!({"o": org, "k": key.0, "g": "PT10M"})).await;
    let rotated = (key.0.clone(), d["rotateApiKey"]["apiKey"]["secret"].as_str().unwrap().to_string());
    let mut new = key_socket(&app, &rotated, 4).await;
    app.clock.advance(chrono::Duration::minutes(9));
    still_open(&mut old, "grace", "within the grace period").await;
    app.clock.advance(chrono::Duration::minutes(2));
    closes_with(&mut old, 4401, "rotated past its grace").await;
    still_open(&mut new, "after", "the new secret's socket").await;

    // Rotated without grace: the old secret stops at once.
    let owner_token = app.sign_in(&owner).await;
    let d = app.ok(Some(&owner_token), ROTATE, json!({"o": org, "k": key.0, "g": null})).await;
    assert!(d["rotateApiKey"]["apiKey"]["secret"].is_string());
    closes_with(&mut new, 4401, "rotated without grace").await;
}

async fn removed_members_are_closed_with_4403(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let (member, member_id) = app.add_member(&owner, &org, "member@example.com", &["READ_ONLY"]).await;
    let mut ws = app.ws(&member.token).await;
    app.subscribe(&mut ws, "events", EVENTS, json!({"o": org})).await;
    event(&app, &owner.token, &org, 1).await;
    let e = event_received(&mut ws, "a member").await;
    assert_eq!(e["data"]["requestEvents"]["kind"], "CREATED", "{e}");

    let remove = "mutation($o:ID!,$m:ID!){ removeMember(orgId:$o,memberId:$m){ request{ status } } }";
    let d = app.ok(Some(&owner.token), remove, json!({"o": org, "m": member_id})).await;
    assert_eq!(d["removeMember"]["request"]["status"], "COMPLETED");
    event(&app, &owner.token, &org, 2).await;
    closes_with(&mut ws, 4403, "removed member").await;

    // A socket that watches no organisation is not the organisation's to
    // close: the person is still signed in.
    let mut ws = app.ws(&member.token).await;
    let d = ws.query("q", VIEWER, json!({}), Duration::from_secs(3)).await.expect("answered");
    assert_eq!(d["data"]["viewer"]["user"]["email"], "member@example.com", "{d}");
    // Subscribing to the organisation they left is refused like any read.
    let d: Value = ws.query("s", EVENTS, json!({"o": org}), Duration::from_secs(3)).await.expect("answered");
    assert_eq!(d["errors"][0]["extensions"]["code"], "NOT_FOUND", "{d}");
}

/// Subscribers of one organisation on one process: enough that checking
/// each delivery on its own (a few reads per socket, all at the moment an
/// event arrives) exhausted the pool and closed every socket with 1011.
const CROWD: usize = 240;

/// A crowd of sockets, on three credentials, all receive an event; and the
/// checks, answered together, still tell the sockets apart: a signed-out
/// session's sockets close with 4401 and a removed member's with 4403,
/// while the owner's keep receiving until the server stops.
async fn a_crowd_of_subscribers_is_served_and_held_to_the_rules(backend: Backend) {
    let app = tests::spawn_with(backend, |c| {
        c.ws_max_per_identity = CROWD;
        c.rate_limit_burst = 1000;
    })
    .await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let (reader, reader_id) = app.add_member(&owner, &org, "reader@example.com", &["READ_ONLY"]).await;
    let leaving = app.sign_in(&owner).await;
    let credentials = [owner.token.as_str(), reader.token.as_str(), leaving.as_str()];
    let mut crowd: [Vec<WsClient>; 3] = Default::default();
    for n in 0..CROWD {
        let mut ws = app.ws(credentials[n % 3]).await;
        app.subscribe(&mut ws, "events", EVENTS, json!({"o": org})).await;
        crowd[n % 3].push(ws);
    }

    event(&app, &owner.token, &org, 1).await;
    let firsts = join_all(crowd.iter_mut().flatten().map(|ws| event_received(ws, "one of the crowd"))).await;
    assert_eq!(firsts.len(), CROWD);
    for e in &firsts {
        assert_eq!(e["data"]["requestEvents"]["kind"], "CREATED", "{e}");
    }

    let [owners, readers, leavers] = &mut crowd;
    let since = tokio::time::Instant::now();
    signed_out(&app, &leaving).await;
    join_all(leavers.iter_mut().map(|ws| closes_within_a_second(ws, since, 4401, "a signed-out session"))).await;

    let remove = "mutation($o:ID!,$m:ID!){ removeMember(orgId:$o,memberId:$m){ request{ status } } }";
    let d = app.ok(Some(&owner.token), remove, json!({"o": org, "m": reader_id})).await;
    assert_eq!(d["removeMember"]["request"]["status"], "COMPLETED");
    let since = tokio::time::Instant::now();
    event(&app, &owner.token, &org, 2).await;
    join_all(readers.iter_mut().map(|ws| closes_within_a_second(ws, since, 4403, "a removed member"))).await;
    let seconds = join_all(owners.iter_mut().map(|ws| event_received(ws, "the owner's"))).await;
    for e in &seconds {
        assert_eq!(e["data"]["requestEvents"]["kind"], "CREATED", "{e}");
    }

    // A server that stops tells every socket so (1001) before its pool closes,
    // rather than failing their checks (1011).
    app.stop().await;
    let closed = join_all(owners.iter_mut().map(|ws| ws.until_closed(Duration::from_secs(3)))).await;
    for c in closed {
        let (code, reason) = c.close.expect("closed by the server");
        assert_eq!(code, 1001, "at shutdown: {code} {reason}");
    }
}

/// A WebSocket message is held to the HTTP body limit (1 MiB): a larger
/// one ends the connection instead of being buffered, and the server goes on
/// serving.
async fn oversized_messages_end_the_connection(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let mut ws = WsClient::connect(&app.base, json!({"Authorization": format!("Bearer {}", owner.token)})).await;
    let huge = json!({"id": "1", "type": "subscribe", "payload": {"query": format!("{{ viewer {{ user {{ email }} }} }} #{}", "x".repeat(2 << 20))}});
    ws.send_raw(huge.to_string()).await;
    let closed = ws.until_closed(Duration::from_secs(5)).await;
    assert!(closed.close.is_some(), "a 2 MiB message ends the connection");
    assert!(closed.delivered.is_empty(), "and is not answered: {:?}", closed.delivered);
    let mut again = WsClient::connect(&app.base, json!({"Authorization": format!("Bearer {}", owner.token)})).await;
    still_open(&mut again, "2", "a new connection after the oversized one").await;
}

both_backends!(
    oversized_messages_end_the_connection,
    a_crowd_of_subscribers_is_served_and_held_to_the_rules,
    sign_out_closes_the_socket,
    idle_sessions_are_closed,
    key_changes_close_its_sockets,
    removed_members_are_closed_with_4403,
);

/// Two `serve` processes on one PostgreSQL database: signing out through
/// one closes the session's socket on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_out_through_one_server_closes_a_socket_on_another() {
    let a = spawn(Backend::Postgres).await;
    let b = tests::spawn_sharing(&a).await;
    let (owner, org, other) = owner_with_two_sessions(&a).await;
    let mut ws = b.ws(&owner.token).await;
    b.subscribe(&mut ws, "events", EVENTS, json!({"o": org})).await;
    event(&a, &other, &org, 1).await;
    let e = event_received(&mut ws, "published by the other server").await;
    assert_eq!(e["data"]["requestEvents"]["kind"], "CREATED", "{e}");
    signed_out(&a, &owner.token).await;
    let since = tokio::time::Instant::now();
    event(&a, &other, &org, 2).await;
    closes_within_a_second(&mut ws, since, 4401, "signed out on the other server").await;
}
