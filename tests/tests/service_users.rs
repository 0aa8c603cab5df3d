//! Service users and API keys, end to end: signed requests, replay
//! protection, expiry, IP ranges, scopes, rotation, revocation, claims.

use serde_json::{Value, json};
use std::time::Duration;
use tests::{Backend, TestApp, both_backends, spawn};

const CREATE: &str = "mutation($o:ID!,$i:ServiceUserInput!){ createServiceUser(orgId:$o,input:$i){ request{ id status } apiKey{ keyId secret } } }";
const UPDATE: &str =
    "mutation($o:ID!,$k:ID!,$p:ApiKeyPatch!){ updateApiKey(orgId:$o,keyId:$k,input:$p){ request{ status } } }";
const ROTATE: &str =
    "mutation($o:ID!,$k:ID!){ rotateApiKey(orgId:$o,keyId:$k){ request{ id status } apiKey{ keyId secret } } }";
const REVOKE: &str = "mutation($o:ID!,$k:ID!){ revokeApiKey(orgId:$o,keyId:$k){ request{ status } } }";
const KEYS: &str = "query($o:ID!){ organization(id:$o){ serviceUsers{ name keys{ keyId status scopes ipAllowlist expiresAt lastUsedAt lastUsedIp } } } }";
const CLAIM: &str = "mutation($r:ID!){ claimApiKeySecret(requestId:$r){ keyId secret } }";

fn holdings_query() -> &'static str {
    "query($o:ID!){ viewer{ serviceUser{ name } } organization(id:$o){ accounts{ id holdings{ asset amount available usdValue } } } }"
}

async fn setup(app: &TestApp, scopes: Value) -> (tests::Session, String, String, (String, String)) {
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let d =
        app.ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ accounts{ id } } }", json!({"o": org})).await;
    let account = d["organization"]["accounts"][0]["id"].as_str().unwrap().to_string();
    let d =
        app.ok(Some(&owner.token), CREATE, json!({"o": org, "i": {"name": "payments-bot", "scopes": scopes}})).await;
    assert_eq!(d["createServiceUser"]["request"]["status"], "COMPLETED");
    let k = &d["createServiceUser"]["apiKey"];
    let key = (k["keyId"].as_str().unwrap().to_string(), k["secret"].as_str().unwrap().to_string());
    (owner, org, account, key)
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

/// Everything the service logs in this test binary, at DEBUG and above.
fn captured_logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    use std::sync::{Arc, Mutex, OnceLock};
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Capture(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn signed_requests_are_verified_and_replays_refused(backend: Backend) {
    let logs = captured_logs();
    let app = spawn(backend).await;
    let (owner, org, account, key) = setup(&app, json!(["QUERY_FUNDS", "QUERY_LEDGER"])).await;
    assert!(key.0.starts_with("cs_") && key.0.len() == 25, "{}", key.0);
    app.credit(&account, "USDC", "1000.50", "custody-1").await;

    let (status, body) = app.signed(&key, 1, holdings_query(), json!({"o": org})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["viewer"]["serviceUser"]["name"], "payments-bot");
    let h = &body["data"]["organization"]["accounts"][0]["holdings"][0];
    assert_eq!(
        (h["asset"].as_str(), h["amount"].as_str(), h["usdValue"].as_str()),
        (Some("USDC"), Some("1000.5"), Some("1000.50"))
    );

    // Each refused with the right code, and nothing consumed.
    let body_text = json!({"query": "{ viewer { serviceUser { name } } }"}).to_string();
    let other = json!({"query": "{ viewer { serviceUser { id } } }"}).to_string();
    let (s, b) = app.signed_raw(&key.0, &key.1, "2", &body_text, &other).await;
    assert_eq!((s, code(&b)), (401, "UNAUTHENTICATED"), "wrong body");
    let (s, b) = app.signed_raw(&key.0, "not-the-secret", "2", &body_text, &body_text).await;
    assert_eq!((s, code(&b)), (401, "UNAUTHENTICATED"), "wrong secret");
    let (s, b) = app.signed_raw(&key.0, &key.1, "1", &body_text, &body_text).await;
    assert_eq!((s, code(&b)), (401, "UNAUTHENTICATED"), "reused nonce");
    let (s, b) = app.signed_raw(&key.0, &key.1, "0", &body_text, &body_text).await;
    assert_eq!((s, code(&b)), (401, "UNAUTHENTICATED"), "older nonce");
    let (s, _) = app.signed_raw(&key.0, &key.1, "abc", &body_text, &body_text).await;
    assert_eq!(s, 401, "malformed nonce");
    let (s, _) = app.signed_raw("cs_AAAAAAAAAAAAAAAAAAAAAA", &key.1, "2", &body_text, &body_text).await;
    assert_eq!(s, 401, "unknown key");
    let (s, _) = app.signed(&key, 2, "{ viewer { serviceUser { name } } }", json!({})).await;
    assert_eq!(s, 200, "nonce 2 was never consumed by the refusals");

    // Scopes: QUERY_LEDGER yes; DEPOSIT and EXPORT_DATA no.
    let q = "query($o:ID!){ organization(id:$o){ accounts{ ledger{ edges{ node{ kind amount reference } } } } } }";
    let (_, b) = app.signed(&key, 3, q, json!({"o": org})).await;
    assert_eq!(b["data"]["organization"]["accounts"][0]["ledger"]["edges"][0]["node"]["reference"], "custody-1", "{b}");
    let (_, b) = app
        .signed(
            &key,
            4,
            "query($o:ID!){ organization(id:$o){ accounts{ deposits{ edges{ node{ id } } } } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(code(&b), "FORBIDDEN");
    let (_, b) =
        app.signed(&key, 5, "query($o:ID!){ organization(id:$o){ accounts{ ledgerCsv } } }", json!({"o": org})).await;
    assert_eq!(code(&b), "FORBIDDEN");

    // Service users never reach people's or administrative operations.
    let (_, b) = app
        .signed(
            &key,
            6,
            "mutation($o:ID!){ inviteMember(orgId:$o,email:\"x@example.com\",roles:[ADMIN]){ request{ id } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(code(&b), "FORBIDDEN");
    let (_, b) = app.signed(&key, 7, "mutation{ createOrganization(name:\"Bot Co\"){ id } }", json!({})).await;
    assert_eq!(code(&b), "FORBIDDEN");
    let (_, b) = app.signed(&key, 8, "mutation($o:ID!){ setPolicy(orgId:$o,workflow:MANAGE_ACCESS,input:{requiredApprovals:1,alwaysRequireApproval:false}){ request{ id } } }", json!({"o": org})).await;
    assert_eq!(code(&b), "FORBIDDEN");
    let other_owner = app.user("other@example.com").await;
    let other_org = app.create_org(&other_owner, "Other").await;
    let (_, b) = app.signed(&key, 9, "query($o:ID!){ organization(id:$o){ id } }", json!({"o": other_org})).await;
    assert_eq!(code(&b), "NOT_FOUND");

    // Last use is visible; the secret appears nowhere it could be read back.
    let d = app.ok(Some(&owner.token), KEYS, json!({"o": org})).await;
    let k = &d["organization"]["serviceUsers"][0]["keys"][0];
    assert_eq!(k["lastUsedIp"], "127.0.0.1");
    assert!(k["lastUsedAt"].is_string());
    let csv =
        app.ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ auditLogCsv } }", json!({"o": org})).await;
    assert!(csv.to_string().contains(&key.0), "the key id is audited");
    assert!(!csv.to_string().contains(&key.1), "the secret is not");
    assert!(!d.to_string().contains(&key.1));
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.db().await;
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT secret_sealed FROM api_keys"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let sealed: String = rows[0].try_get("", "secret_sealed").unwrap();
    assert!(!sealed.contains(&key.1) && sealed.len() > 40);
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(logged.contains("countersign listening"), "the capture sees the service's logs");
    assert!(!logged.contains(&key.1), "the secret is never logged");
}

async fn key_settings_expiry_ip_rotation_revocation(backend: Backend) {
    let app = spawn(backend).await;
    let (owner, org, _account, key) = setup(&app, json!(["QUERY_FUNDS"])).await;
    let q = "{ viewer { serviceUser { name } } }";
    let mut n = 0u64;
    let mut next = || {
        n += 1;
        n
    };

    // IP allow-list outside the caller's address: FORBIDDEN, no nonce consumed.
    app.ok(
        Some(&owner.token),
        UPDATE,
        json!({"o": org, "k": key.0, "p": {"ipAllowlist": ["10.0.0.0/8", "2001:db8::/32"]}}),
    )
    .await;
    let (s, b) = app.signed(&key, next(), q, json!({})).await;
    assert_eq!((s, code(&b)), (403, "FORBIDDEN"));
    // An omitted field keeps its value…
    app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"scopes": ["QUERY_FUNDS", "DEPOSIT"]}}))
        .await;
    let d = app.ok(Some(&owner.token), KEYS, json!({"o": org})).await;
    assert_eq!(d["organization"]["serviceUsers"][0]["keys"][0]["ipAllowlist"], json!(["10.0.0.0/8", "2001:db8::/32"]));
    assert_eq!(d["organization"]["serviceUsers"][0]["keys"][0]["scopes"], json!(["QUERY_FUNDS", "DEPOSIT"]));
    // …an explicit null clears it; loopback ranges allow it.
    app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"ipAllowlist": null}})).await;
    let (s, _) = app.signed(&key, 1, q, json!({})).await;
    assert_eq!(s, 200, "nonce 1 still unused after the IP refusal");
    app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"ipAllowlist": ["127.0.0.0/8"]}})).await;
    assert_eq!(app.signed(&key, 2, q, json!({})).await.0, 200);
    assert_eq!(
        app.err(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"ipAllowlist": ["not a range"]}})).await,
        "BAD_INPUT"
    );

    // Expiry.
    let at = (app.now() + chrono::Duration::hours(1)).to_rfc3339();
    app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"expiresAt": at}})).await;
    assert_eq!(app.signed(&key, 3, q, json!({})).await.0, 200);
    app.clock.advance(chrono::Duration::minutes(61));
    let (s, b) = app.signed(&key, 4, q, json!({})).await;
    assert_eq!((s, code(&b)), (401, "UNAUTHENTICATED"), "expired");
    let owner_token = app.sign_in(&owner).await;
    app.ok(Some(&owner_token), UPDATE, json!({"o": org, "k": key.0, "p": {"expiresAt": null}})).await;
    assert_eq!(app.signed(&key, 4, q, json!({})).await.0, 200);

    // Rotation: the new secret works, the old one is refused at once.
    let d = app.ok(Some(&owner_token), ROTATE, json!({"o": org, "k": key.0})).await;
    let rotated = (key.0.clone(), d["rotateApiKey"]["apiKey"]["secret"].as_str().unwrap().to_string());
    assert_ne!(rotated.1, key.1);
    assert_eq!(app.signed(&key, 5, q, json!({})).await.0, 401);
    assert_eq!(app.signed(&rotated, 5, q, json!({})).await.0, 200);

    // Revocation.
    app.ok(Some(&owner_token), REVOKE, json!({"o": org, "k": key.0})).await;
    assert_eq!(app.signed(&rotated, 6, q, json!({})).await.0, 401);
    let d = app.ok(Some(&owner_token), KEYS, json!({"o": org})).await;
    assert_eq!(d["organization"]["serviceUsers"][0]["keys"][0]["status"], "REVOKED");
}

async fn secrets_of_approved_requests_are_claimed_once(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let (admin, _) = app.add_member(&owner, &org, "admin@example.com", &["ADMIN"]).await;
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!){ setPolicy(orgId:$o,workflow:MANAGE_ACCESS,input:{requiredApprovals:1,alwaysRequireApproval:true}){ request{ status } } }",
        json!({"o": org}),
    )
    .await;
    let d =
        app.ok(Some(&owner.token), CREATE, json!({"o": org, "i": {"name": "bot", "scopes": ["QUERY_FUNDS"]}})).await;
    assert_eq!(d["createServiceUser"]["request"]["status"], "PENDING_APPROVAL");
    assert!(d["createServiceUser"]["apiKey"].is_null());
    let r = d["createServiceUser"]["request"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.err(Some(&owner.token), CLAIM, json!({"r": r})).await,
        "CONFLICT",
        "nothing to claim before approval"
    );
    app.ok(Some(&admin.token), "mutation($r:ID!){ approveRequest(requestId:$r){ status } }", json!({"r": r})).await;
    assert_eq!(app.err(Some(&admin.token), CLAIM, json!({"r": r})).await, "NOT_FOUND", "only the requester claims");
    let d = app.ok(Some(&owner.token), CLAIM, json!({"r": r})).await;
    let key = (
        d["claimApiKeySecret"]["keyId"].as_str().unwrap().to_string(),
        d["claimApiKeySecret"]["secret"].as_str().unwrap().to_string(),
    );
    assert_eq!(app.err(Some(&owner.token), CLAIM, json!({"r": r})).await, "CONFLICT", "shown once");
    assert_eq!(app.signed(&key, 1, "{ viewer { serviceUser { name } } }", json!({})).await.0, 200);
}

async fn concurrent_replays_accept_exactly_one(backend: Backend) {
    let app = spawn(backend).await;
    let (owner, org, _account, key) = setup(&app, json!(["QUERY_FUNDS"])).await;
    let body = json!({"query": "{ viewer { serviceUser { name } } }"}).to_string();
    let sends = (0..50).map(|_| app.signed_raw(&key.0, &key.1, "77", &body, &body));
    let results = futures_util::future::join_all(sends).await;
    let accepted = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(accepted, 1, "50 deliveries of one nonce: exactly one accepted");
    assert!(results.iter().filter(|(s, _)| *s != 200).all(|(s, b)| *s == 401 && code(b) == "UNAUTHENTICATED"));

    // With a nonce window, any unused nonce above highest − W passes, once.
    app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"nonceWindow": 10}})).await;
    let q = "{ viewer { serviceUser { name } } }";
    assert_eq!(app.signed(&key, 100, q, json!({})).await.0, 200);
    assert_eq!(app.signed(&key, 95, q, json!({})).await.0, 200, "inside the window");
    assert_eq!(app.signed(&key, 95, q, json!({})).await.0, 401, "used");
    assert_eq!(app.signed(&key, 90, q, json!({})).await.0, 401, "at the window's edge");
    let sends = (0..30).map(|_| app.signed_raw(&key.0, &key.1, "97", &body, &body));
    let results = futures_util::future::join_all(sends).await;
    assert_eq!(results.iter().filter(|(s, _)| *s == 200).count(), 1, "windowed: still exactly one");
}

/// Nonces are recorded by group commit (`rules::service::nonces`): many
/// keys' requests at once are recorded in shared rounds, each accepted
/// once, and a replay of any of them is refused by another process on the
/// same database and by one started afresh.
async fn nonces_recorded_together_are_each_accepted_once(backend: Backend) {
    let app = spawn(backend).await;
    let (owner, org, _account, first) = setup(&app, json!(["QUERY_FUNDS"])).await;
    let mut keys = vec![first];
    for i in 1..8 {
        let d = app
            .ok(
                Some(&owner.token),
                CREATE,
                json!({"o": org, "i": {"name": format!("bot-{i}"), "scopes": ["QUERY_FUNDS"]}}),
            )
            .await;
        let k = &d["createServiceUser"]["apiKey"];
        keys.push((k["keyId"].as_str().unwrap().to_string(), k["secret"].as_str().unwrap().to_string()));
    }
    let (rounds_before, recorded_before) = app.state.nonces.rounds();
    let q = "{ viewer { serviceUser { name } } }";
    // Eight keys at once, each its nonces 1..=6 in order.
    let runs = keys.iter().map(|key| {
        let app = &app;
        async move {
            let mut statuses = Vec::new();
            for nonce in 1..=6u64 {
                statuses.push(app.signed(key, nonce, q, json!({})).await.0);
            }
            statuses
        }
    });
    let statuses: Vec<u16> = futures_util::future::join_all(runs).await.into_iter().flatten().collect();
    assert!(statuses.iter().all(|s| *s == 200), "every fresh nonce accepted: {statuses:?}");
    let (rounds, recorded) = app.state.nonces.rounds();
    assert_eq!(recorded - recorded_before, 48, "each nonce recorded once");
    assert!(rounds - rounds_before < 48, "recorded in shared rounds: {} rounds for 48 nonces", rounds - rounds_before);

    // Every one of them again, all at once, here and on a second process.
    let other = tests::spawn_sharing(&app).await;
    let replays = keys.iter().flat_map(|key| (1..=6u64).map(move |n| (key, n)));
    let sends = replays.clone().map(|(key, n)| {
        let target = if n % 2 == 0 { &app } else { &other };
        target.signed(key, n, q, json!({}))
    });
    let results = futures_util::future::join_all(sends).await;
    assert!(
        results.iter().all(|(s, b)| *s == 401 && code(b) == "UNAUTHENTICATED"),
        "every replay refused, on either process: {results:?}"
    );
    // A process started afresh on the database knows only what was recorded
    // there (the first process owns the SQLite file's directory, so the
    // second is the one that stops).
    other.stop().await;
    let restarted = tests::spawn_sharing(&app).await;
    for (key, n) in replays {
        assert_eq!(restarted.signed(key, n, q, json!({})).await.0, 401, "replay after a restart");
    }
    assert_eq!(restarted.signed(&keys[0], 7, q, json!({})).await.0, 200, "the next nonce still passes");
}

async fn websocket_and_query_windows(backend: Backend) {
    let app = spawn(backend).await;
    let (owner, org, account, key) = setup(&app, json!(["QUERY_LEDGER", "DEPOSIT", "EXPORT_DATA"])).await;
    let init = |nonce: u64| json!({"apiKey": key.0, "nonce": nonce.to_string(), "signature": tests::sign(&key.1, &nonce.to_string(), b"")});
    match tests::ws::WsClient::try_connect(&app.base, init(1)).await {
        tests::ws::Handshake::Refused(..) => {}
        tests::ws::Handshake::Acked(_) => panic!("WebSocket not allowed for this key"),
    }
    app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"allowWebsocket": true}})).await;
    let mut ws = tests::ws::WsClient::connect(&app.base, init(2)).await;
    ws.subscribe("1", "subscription($o:ID!){ requestEvents(orgId:$o){ kind } }", json!({"o": org})).await;
    // Without WITHDRAW the key views no workflow: a MANAGE_ACCESS event does not reach it.
    app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"nonceWindow": 5}})).await;
    assert!(ws.next(Duration::from_millis(500)).await.is_none());
    // A replayed connection_init nonce is refused.
    match tests::ws::WsClient::try_connect(&app.base, init(2)).await {
        tests::ws::Handshake::Refused(..) => {}
        tests::ws::Handshake::Acked(_) => panic!("replayed nonce accepted"),
    }

    // Query window: history before queryStart is out of reach for the key.
    app.credit(&account, "USDC", "10", "early").await;
    app.clock.advance(chrono::Duration::hours(2));
    let start = (app.now() - chrono::Duration::hours(1)).to_rfc3339();
    app.credit(&account, "USDC", "20", "late").await;
    let owner_token = app.sign_in(&owner).await;
    app.ok(Some(&owner_token), UPDATE, json!({"o": org, "k": key.0, "p": {"queryStart": start}})).await;
    let q = "query($o:ID!){ organization(id:$o){ accounts{ ledger{ edges{ node{ reference } } } deposits{ edges{ node{ reference } } } ledgerCsv } } }";
    let (_, b) = app.signed(&key, 10, q, json!({"o": org})).await;
    let acct = &b["data"]["organization"]["accounts"][0];
    assert_eq!(acct["ledger"]["edges"], json!([{"node": {"reference": "late"}}]), "{b}");
    assert_eq!(acct["deposits"]["edges"], json!([{"node": {"reference": "late"}}]));
    assert!(!acct["ledgerCsv"].as_str().unwrap().contains("early"));
    // A member sees everything.
    let d = app.ok(Some(&owner_token), q, json!({"o": org})).await;
    assert_eq!(d["organization"]["accounts"][0]["ledger"]["edges"].as_array().unwrap().len(), 2);
}

both_backends!(
    signed_requests_are_verified_and_replays_refused,
    key_settings_expiry_ip_rotation_revocation,
    secrets_of_approved_requests_are_claimed_once,
    concurrent_replays_accept_exactly_one,
    nonces_recorded_together_are_each_accepted_once,
    websocket_and_query_windows,
);
