//! Running it in production (SPEC §1, issue 8): liveness and readiness,
//! Prometheus metrics, and the abuse limits at the edge — per-identity rate
//! limits with a retry hint, WebSocket caps, and deadlines for slow or
//! silent clients.

use serde_json::{Value, json};
use std::time::Duration;
use tests::ws::{Handshake, WsClient};
use tests::{Backend, TestApp, both_backends, spawn, spawn_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let r = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the sample line that starts with `series` (name and labels).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find(|l| l.starts_with(series))?.rsplit(' ').next()?.parse().ok()
}

async fn health_and_metrics(backend: Backend) {
    let app = spawn(backend).await;
    assert_eq!(get(&app, "/livez").await, (200, "ok".into()));
    assert_eq!(get(&app, "/readyz").await, (200, "ok".into()));
    assert_eq!(get(&app, "/healthz").await.0, 200);

    // Some traffic: a success, a BAD_INPUT, and a request left waiting.
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    app.add_member(&owner, &org, "admin@example.com", &["ADMIN"]).await;
    assert_eq!(app.err(None, "{ nope }", json!({})).await, "BAD_INPUT");
    let policy = "mutation($o:ID!){ setPolicy(orgId:$o,workflow:MANAGE_ACCESS,input:{requiredApprovals:1,alwaysRequireApproval:true}){ request{ status } } }";
    app.ok(Some(&owner.token), policy, json!({"o": org})).await;
    let d = app.invite(&owner, &org, "waiting@example.com", &["MAKER"]).await;
    assert_eq!(d["status"], "PENDING_APPROVAL");

    let (status, text) = get(&app, "/metrics").await;
    assert_eq!(status, 200);
    assert!(text.ends_with("# EOF\n"), "OpenMetrics text");
    let ok = sample(&text, "countersign_http_requests_total{route=\"/graphql\",status=\"200\"}").unwrap();
    assert!(ok >= 8.0, "requests counted: {ok}");
    assert!(sample(&text, "countersign_graphql_errors_total{code=\"BAD_INPUT\"}").unwrap() >= 1.0);
    let histogram = |l: &&str| l.starts_with("countersign_http_request_duration_seconds_bucket{");
    assert!(text.lines().filter(histogram).any(|l| l.contains("route=\"/graphql\"")), "{text}");
    assert_eq!(sample(&text, "countersign_approvals_pending"), Some(1.0));
    assert!(sample(&text, "countersign_queue_depth").is_some());
    // The in-process workers delivered the admin's invitation and counted it.
    assert!(sample(&text, "countersign_jobs_total{job=\"deliver_invitation\",outcome=\"ok\"}").unwrap() >= 1.0);

    // Open subscriptions: one while a client listens, none once it has gone.
    assert_eq!(sample(&text, "countersign_subscriptions"), Some(0.0));
    let mut ws = app.ws(&owner.token).await;
    let events = "subscription($o:ID!){ requestEvents(orgId:$o){ kind } }";
    app.subscribe(&mut ws, "1", events, json!({"o": org})).await;
    assert_eq!(sample(&get(&app, "/metrics").await.1, "countersign_subscriptions"), Some(1.0));
    drop(ws);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sample(&get(&app, "/metrics").await.1, "countersign_subscriptions") != Some(0.0) {
        assert!(tokio::time::Instant::now() < deadline, "the closed subscription is still counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn rate_limits_per_identity(backend: Backend) {
    let app = spawn_with(backend, |c| {
        c.rate_limit_per_minute = 60;
        c.rate_limit_burst = 15;
    })
    .await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let viewer = "{ viewer { twoFactorVerified } }";
    let mut refused = None;
    for _ in 0..20 {
        let r = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&alice.token)
            .json(&json!({"query": viewer}))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let r = refused.expect("alice is refused once her burst is spent");
    let retry_after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "one more request a second: {retry_after}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{body}");
    assert!(body["errors"][0]["extensions"]["retryAfterSeconds"].as_i64().unwrap() >= 1, "{body}");
    // Nothing ran: her next request is refused too, while bob is unaffected.
    assert_eq!(app.err(Some(&alice.token), viewer, json!({})).await, "RATE_LIMITED");
    assert!(app.ok(Some(&bob.token), viewer, json!({})).await["viewer"]["twoFactorVerified"].is_boolean());
    // The allowance refills: one request a second (the limiter reads the
    // application's clock, so the test moves it instead of waiting).
    app.clock.advance(chrono::Duration::seconds(i64::try_from(retry_after).unwrap()));
    app.ok(Some(&alice.token), viewer, json!({})).await;
    let (_, text) = get(&app, "/metrics").await;
    assert!(sample(&text, "countersign_rate_limited_total").unwrap() >= 2.0);
}

async fn websocket_caps_and_deadlines(backend: Backend) {
    let app = spawn_with(backend, |c| {
        c.ws_max_per_identity = 2;
        c.ws_init_timeout_secs = 1;
        c.request_timeout_secs = 1;
    })
    .await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let first = app.ws(&alice.token).await;
    let _second = app.ws(&alice.token).await;
    match WsClient::try_connect(&app.base, json!({"token": alice.token})).await {
        Handshake::Refused(_, reason) => assert!(reason.contains("RATE_LIMITED"), "{reason}"),
        Handshake::Acked(_) => panic!("a third WebSocket for one identity is refused"),
    }
    let _bob = app.ws(&bob.token).await;
    // Closing one frees its slot.
    let mut released = app.state.limiter.ws_releases();
    released.borrow_and_update();
    drop(first);
    tokio::time::timeout(Duration::from_secs(10), released.changed())
        .await
        .expect("the server notices the closed WebSocket")
        .unwrap();
    match WsClient::try_connect(&app.base, json!({"token": alice.token})).await {
        Handshake::Acked(_) => {}
        Handshake::Refused(_, reason) => panic!("a closed WebSocket gives its slot back: {reason}"),
    }

    // A WebSocket that never sends connection_init is closed.
    let url = format!("{}/graphql/ws", app.base.replacen("http", "ws", 1));
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut silent, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    // The deadline reads the application's clock: moving it past the
    // deadline closes the socket at once (had the server not started
    // watching yet, the one real second of the deadline still closes it).
    app.clock.advance(chrono::Duration::seconds(2));
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        use futures_util::StreamExt;
        while let Some(Ok(_)) = silent.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the silent WebSocket was closed by the server");

    // A client that sends half a body and stalls gets 408, while others are served.
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"query\":"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    app.ok(Some(&bob.token), "{ viewer { twoFactorVerified } }", json!({})).await;
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut answer))
        .await
        .expect("the server answers the stalled client")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// Posts a batch of `n` copies of `query` as `token`: the status and the answers.
async fn batch(app: &TestApp, token: &str, query: &str, n: usize) -> (u16, Value) {
    let body: Vec<Value> = (0..n).map(|_| json!({"query": query})).collect();
    let r = app.client.post(format!("{}/graphql", app.base)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let body: Value = r.json().await.unwrap();
    if status == 429 {
        assert!(retry_after.is_some(), "a refused batch says when to come back");
    }
    (status, body)
}

/// How many answers of a batch ran, after checking that the refused ones
/// are RATE_LIMITED with a retry hint and come after every answered one.
fn answered(answers: &Value) -> usize {
    let answers = answers.as_array().expect("a batch answer is a list");
    let ran = answers.iter().take_while(|a| a.get("errors").is_none()).count();
    for a in &answers[ran..] {
        assert_eq!(a["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{a}");
        assert!(a["errors"][0]["extensions"]["retryAfterSeconds"].as_i64().unwrap() >= 1, "{a}");
        assert!(a.get("data").is_none_or(Value::is_null), "a refused entry does not run: {a}");
    }
    ran
}

/// Rate limits count operations, not HTTP posts: each batch entry and each
/// operation on a WebSocket takes one unit of the caller's allowance.
async fn every_operation_counts(backend: Backend) {
    let app = spawn_with(backend, |c| {
        c.rate_limit_per_minute = 10;
        c.rate_limit_burst = 5;
    })
    .await;
    let alice = app.user("alice@example.com").await;
    let viewer = "{ viewer { twoFactorVerified } }";
    // A batch of 8 under a burst of 5: at most 5 run, the rest are refused unrun.
    let (status, answers) = batch(&app, &alice.token, viewer, 8).await;
    assert_eq!(status, 200, "{answers}");
    let ran = answered(&answers);
    assert!((1..=5).contains(&ran), "{ran} of 8 ran: {answers:#}");
    // Straight after, the allowance is spent: the whole batch is refused.
    let (status, answers) = batch(&app, &alice.token, viewer, 8).await;
    assert!(answered(&answers) <= 1, "{answers:#}");
    if answered(&answers) == 0 {
        assert_eq!(status, 429);
    }
    assert_eq!(app.err(Some(&alice.token), viewer, json!({})).await, "RATE_LIMITED");

    // On a WebSocket each operation counts too.
    let bob = app.user("bob@example.com").await;
    let mut ws = app.ws(&bob.token).await;
    let mut codes = Vec::new();
    for i in 0..8 {
        let d = ws.query(&format!("q{i}"), viewer, json!({}), Duration::from_secs(3)).await.expect("an answer");
        codes.push(d["errors"][0]["extensions"]["code"].as_str().unwrap_or("OK").to_string());
    }
    let ok = codes.iter().take_while(|c| *c == "OK").count();
    assert!((1..=5).contains(&ok), "{codes:?}");
    assert!(codes[ok..].iter().all(|c| c == "RATE_LIMITED"), "{codes:?}");
}

/// A batch holds at most `COUNTERSIGN_MAX_BATCH` operations (10 by default).
async fn batches_are_capped(backend: Backend) {
    let app = spawn(backend).await;
    let alice = app.user("alice@example.com").await;
    let viewer = "{ viewer { twoFactorVerified } }";
    let (status, answers) = batch(&app, &alice.token, viewer, 10).await;
    assert_eq!((status, answered(&answers)), (200, 10), "{answers}");
    let (status, body) = batch(&app, &alice.token, viewer, 11).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_INPUT", "{body}");
    let (status, body) = batch(&app, &alice.token, viewer, 200).await;
    assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (400, Some("BAD_INPUT")), "{body}");

    let app = spawn_with(backend, |c| c.max_batch = 3).await;
    let bob = app.user("bob@example.com").await;
    assert_eq!(batch(&app, &bob.token, viewer, 3).await.0, 200);
    assert_eq!(batch(&app, &bob.token, viewer, 4).await.0, 400);
}

/// Query complexity counts the items a list asks for (`first`), so a few
/// large pages in one query are refused like any over-complex query.
async fn complexity_counts_list_sizes(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let page = |alias: &str| format!("{alias}: auditLog(first:500){{ edges{{ cursor }} }}");
    let three = format!("query($o:ID!){{ organization(id:$o){{ {} {} {} }} }}", page("a"), page("b"), page("c"));
    let body = app.gql(Some(&owner.token), &three, json!({"o": org})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_INPUT", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().to_lowercase().contains("complex"), "{body}");
    assert!(body["data"].is_null(), "nothing ran: {body}");
    // One such page passes, and so do the console's own queries.
    let one = format!("query($o:ID!){{ organization(id:$o){{ {} }} }}", page("a"));
    app.ok(Some(&owner.token), &one, json!({"o": org})).await;
    let queue = "query($o:ID!){ organization(id:$o){ requests(first:50){ edges{ node{
        id workflow operation payload status approvalsRequired waitingReason reason createdAt
        requester{ kind id user{ email } } approvals{ approver{ id } }
        withdrawal{ amount asset usdValue state settlementReference } } } } } }";
    app.ok(Some(&owner.token), queue, json!({"o": org})).await;
    // The size counts however it is given: a variable too.
    let vars = "query($o:ID!,$n:Int!){ organization(id:$o){ a: auditLog(first:$n){ edges{ cursor } } b: auditLog(first:$n){ edges{ cursor } } c: auditLog(first:$n){ edges{ cursor } } } }";
    assert_eq!(app.err(Some(&owner.token), vars, json!({"o": org, "n": 500})).await, "BAD_INPUT");
    app.ok(Some(&owner.token), vars, json!({"o": org, "n": 50})).await;
}

/// An allow-list entry written as an IPv4-mapped IPv6 address admits the
/// IPv4 peer, and an IPv4 entry admits a peer that a dual-stack socket
/// reports as IPv4-mapped: both sides are normalised.
async fn ipv4_mapped_allow_list_entries(backend: Backend) {
    const UPDATE: &str =
        "mutation($o:ID!,$k:ID!,$p:ApiKeyPatch!){ updateApiKey(orgId:$o,keyId:$k,input:$p){ request{ status } } }";
    const KEYS: &str = "query($o:ID!){ organization(id:$o){ serviceUsers{ keys{ ipAllowlist lastUsedIp } } } }";
    let q = "{ viewer { serviceUser { name } } }";
    // An IPv4-only listener (the peer is 127.0.0.1) and a dual-stack one
    // reached over IPv4 (the peer is ::ffff:127.0.0.1).
    let mut dual = spawn_with(backend, |c| c.bind = "[::]:0".parse().unwrap()).await;
    dual.base = dual.base.replace("[::]", "127.0.0.1");
    let v4 = spawn(backend).await;
    for app in [&v4, &dual] {
        let owner = app.user("owner@example.com").await;
        let org = app.create_org(&owner, "Acme").await;
        let create = "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"bot\",scopes:[QUERY_FUNDS]}){ apiKey{ keyId secret } } }";
        let d = app.ok(Some(&owner.token), create, json!({"o": org})).await;
        let k = &d["createServiceUser"]["apiKey"];
        let key = (k["keyId"].as_str().unwrap().to_string(), k["secret"].as_str().unwrap().to_string());
        let mut nonce = 0;
        for (entry, allowed) in [
            ("::ffff:127.0.0.1", true),
            ("127.0.0.1", true),
            ("::ffff:127.0.0.0/104", true),
            ("::ffff:10.0.0.1", false),
        ] {
            app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"ipAllowlist": [entry]}})).await;
            nonce += 1;
            let (status, body) = app.signed(&key, nonce, q, json!({})).await;
            let want = if allowed { 200 } else { 403 };
            assert_eq!(status, want, "entry {entry} on {}: {body}", app.base);
        }
        app.ok(Some(&owner.token), UPDATE, json!({"o": org, "k": key.0, "p": {"ipAllowlist": ["::ffff:127.0.0.1"]}}))
            .await;
        let d = app.ok(Some(&owner.token), KEYS, json!({"o": org})).await;
        let shown = &d["organization"]["serviceUsers"][0]["keys"][0];
        assert_eq!(shown["ipAllowlist"], json!(["127.0.0.1/32"]), "stored as the IPv4 it maps: {shown}");
        assert_eq!(shown["lastUsedIp"], "127.0.0.1", "{shown}");
    }
}

both_backends!(
    health_and_metrics,
    rate_limits_per_identity,
    websocket_caps_and_deadlines,
    every_operation_counts,
    batches_are_capped,
    complexity_counts_list_sizes,
    ipv4_mapped_allow_list_entries,
);
