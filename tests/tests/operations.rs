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
    // The allowance refills: one request a second.
    tokio::time::sleep(Duration::from_millis(1100 * retry_after)).await;
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
    drop(first);
    let mut reopened = false;
    for _ in 0..40 {
        if let Handshake::Acked(_) = WsClient::try_connect(&app.base, json!({"token": alice.token})).await {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened, "a closed WebSocket gives its slot back");

    // A WebSocket that never sends connection_init is closed.
    let url = format!("{}/graphql/ws", app.base.replacen("http", "ws", 1));
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut silent, _) = tokio_tungstenite::connect_async(req).await.unwrap();
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

both_backends!(health_and_metrics, rate_limits_per_identity, websocket_caps_and_deadlines);
