//! Signed webhooks (issue 21), against a real HTTP receiver started by the
//! test: deliveries carry a Standard Webhooks signature that verifies with
//! the secret shown once; a receiver that fails is retried with backoff and
//! gets the same event id and body every time; a delivered event is never
//! sent again; a FAILED delivery is sent again on request; a removed
//! endpoint gets nothing more; another organisation sees and touches none
//! of it; plain `http://` (and any loopback host) needs the deployment's
//! setting, and private or metadata addresses are refused; and a worker
//! process killed mid-delivery leaves the delivery to the next worker.

use chrono::Duration as Span;
use serde_json::{Value, json};
use std::time::Duration;
use tests::process::{Process, Role};
use tests::webhook_receiver::{Answer, Receiver};
use tests::{Backend, Session, TestApp, both_backends, countersign_exe, spawn_with};

const ADD: &str = "mutation($o:ID!,$u:String!,$e:[WebhookEvent!]!){ addWebhookEndpoint(orgId:$o,url:$u,events:$e){ request{ id status } webhookSecret{ endpointId secret } } }";
const REMOVE: &str = "mutation($o:ID!,$e:ID!){ removeWebhookEndpoint(orgId:$o,endpointId:$e){ request{ status } } }";
const REDELIVER: &str =
    "mutation($o:ID!,$d:ID!){ redeliverWebhook(orgId:$o,deliveryId:$d){ status attempts nextAttemptAt } }";
const CLAIM: &str = "mutation($r:ID!){ claimWebhookSecret(requestId:$r){ endpointId secret } }";
const LOG: &str = "query($o:ID!){ organization(id:$o){ webhookDeliveries(first:50){ id endpointId eventId eventType status attempts lastStatusCode lastError nextAttemptAt deliveredAt payload } } }";
const ENDPOINTS: &str =
    "query($o:ID!){ organization(id:$o){ webhookEndpoints{ id url events deliveries{ eventId status } } } }";
const BOT: &str = "mutation($o:ID!,$n:String!){ createServiceUser(orgId:$o,input:{name:$n,scopes:[QUERY_FUNDS]}){ request{ status } } }";

/// How long a test waits for the workers (they run every second).
const PATIENCE: Duration = Duration::from_secs(30);

/// A server whose sessions outlast the hours these tests move its clock.
async fn spawn_patient(backend: Backend) -> TestApp {
    spawn_with(backend, |c| {
        c.session_idle_secs = 7 * 24 * 3600;
        c.session_max_secs = 7 * 24 * 3600;
    })
    .await
}

/// Adds an endpoint for `events` that completes at once: (endpoint id, secret).
async fn add(app: &TestApp, who: &Session, org: &str, url: &str, events: &[&str]) -> (String, String) {
    let d = app.ok(Some(&who.token), ADD, json!({"o": org, "u": url, "e": events})).await;
    let r = &d["addWebhookEndpoint"];
    assert_eq!(r["request"]["status"], "COMPLETED", "{d}");
    let s = &r["webhookSecret"];
    (s["endpointId"].as_str().unwrap().to_string(), s["secret"].as_str().unwrap().to_string())
}

/// A permission change (a new service user): one `permission.changed` event.
async fn permission_change(app: &TestApp, who: &Session, org: &str, name: &str) {
    let d = app.ok(Some(&who.token), BOT, json!({"o": org, "n": name})).await;
    assert_eq!(d["createServiceUser"]["request"]["status"], "COMPLETED");
}

/// The delivery log, newest first.
async fn log(app: &TestApp, who: &Session, org: &str) -> Vec<Value> {
    let d = app.ok(Some(&who.token), LOG, json!({"o": org})).await;
    d["organization"]["webhookDeliveries"].as_array().unwrap().clone()
}

/// Waits until the log's entry for `event_id` satisfies `done`, asking after each job.
async fn until_logged(app: &TestApp, who: &Session, org: &str, event_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    app.after_each_job(&format!("the delivery of {event_id} to settle"), || async {
        log(app, who, org).await.into_iter().find(|d| d["eventId"] == event_id && done(d))
    })
    .await
}

async fn deliveries_are_signed_retried_and_never_resent(backend: Backend) {
    let app = spawn_patient(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    // People first: their joining is itself a permission change.
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    let mallory = app.user("mallory@example.com").await;
    let other = app.create_org(&mallory, "Other").await;
    let hook = Receiver::start(&[Answer::Status(500), Answer::Status(503)]).await;
    let (endpoint, secret) = add(&app, &owner, &org, &hook.url(), &["PERMISSION"]).await;
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");

    // One event; the receiver fails twice.
    permission_change(&app, &owner, &org, "payouts-bot").await;
    let first = hook.until(1, PATIENCE).await.remove(0);
    assert!(first.verifies_with(&secret), "{first:?}");
    assert!(!first.verifies_with("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "another secret does not verify it");
    assert_eq!(first.content_type, "application/json");
    assert!(first.id.starts_with("evt_"), "{first:?}");
    let body = first.json();
    assert_eq!(body["type"], "permission.changed");
    assert_eq!(body["data"]["action"], "CREATE_SERVICE_USER");
    assert_eq!(body["data"]["organizationId"], org.as_str());
    let sent_at: i64 = first.timestamp.parse().unwrap();
    assert!((sent_at - app.now().timestamp()).abs() < 60, "the timestamp is the server's clock: {sent_at}");

    let d = until_logged(&app, &owner, &org, &first.id, |d| d["attempts"] == 1 && d["status"] == "PENDING").await;
    assert_eq!(d["lastStatusCode"], 500);
    assert_eq!(d["endpointId"], endpoint.as_str());
    assert_eq!(d["payload"], first.body.as_str(), "the log shows the body exactly as sent");
    assert!(d["lastError"].as_str().unwrap().contains("500"), "{d}");

    // Backoff: the second attempt 10 s after the first, the third 20 s after that.
    app.clock.advance(Span::seconds(10));
    hook.until(2, PATIENCE).await;
    until_logged(&app, &owner, &org, &first.id, |d| d["attempts"] == 2 && d["status"] == "PENDING").await;
    app.clock.advance(Span::seconds(20));
    let got = hook.until(3, PATIENCE).await;
    let d = until_logged(&app, &owner, &org, &first.id, |d| d["status"] == "DELIVERED").await;
    assert_eq!((d["attempts"].as_i64(), d["lastStatusCode"].as_i64()), (Some(3), Some(200)), "{d}");
    assert!(d["deliveredAt"].is_string() && d["nextAttemptAt"].is_null(), "{d}");
    for retry in &got[1..] {
        assert_eq!((&retry.id, &retry.body), (&first.id, &first.body), "a retry is the same event, byte for byte");
        assert!(retry.verifies_with(&secret), "{retry:?}");
    }

    // Delivered is final: not sent again on request, nor when time passes.
    let delivery = d["id"].as_str().unwrap().to_string();
    assert_eq!(app.err(Some(&owner.token), REDELIVER, json!({"o": org, "d": delivery})).await, "CONFLICT");
    app.clock.advance(Span::minutes(25)); // past any backoff, inside the idle timeout
    permission_change(&app, &owner, &org, "reporting-bot").await;
    let got = hook.until(4, PATIENCE).await;
    let second = until_logged(&app, &owner, &org, &got[3].id, |d| d["status"] == "DELIVERED").await;
    assert_ne!(got[3].id, first.id, "the fourth POST is the new event, not the delivered one again");
    assert_eq!(second["attempts"], 1);
    assert_eq!(hook.received().len(), 4, "{:?}", hook.received());

    // Another organisation sees and touches none of it.
    assert_eq!(app.err(Some(&mallory.token), ENDPOINTS, json!({"o": org})).await, "NOT_FOUND");
    assert_eq!(app.err(Some(&mallory.token), REDELIVER, json!({"o": other, "d": delivery})).await, "NOT_FOUND");
    assert_eq!(app.err(Some(&mallory.token), REMOVE, json!({"o": other, "e": endpoint})).await, "NOT_FOUND");
    assert!(log(&app, &mallory, &other).await.is_empty());
    // Nor does a member without VIEW on MANAGE_ACCESS.
    assert_eq!(app.err(Some(&maker.token), ENDPOINTS, json!({"o": org})).await, "FORBIDDEN");
    let d = app.gql(Some(&maker.token), ADD, json!({"o": org, "u": "not a url", "e": ["REQUEST"]})).await;
    assert_eq!(d["errors"][0]["extensions"]["code"], "FORBIDDEN", "refused before the URL is even parsed: {d}");

    // A removed endpoint gets nothing more; the one added after it gets the next event.
    let d = app.ok(Some(&owner.token), REMOVE, json!({"o": org, "e": endpoint})).await;
    assert_eq!(d["removeWebhookEndpoint"]["request"]["status"], "COMPLETED");
    let hook2 = Receiver::start(&[]).await;
    let (endpoint2, secret2) = add(&app, &owner, &org, &hook2.url(), &["PERMISSION"]).await;
    permission_change(&app, &owner, &org, "ledger-bot").await;
    let got2 = hook2.until(1, PATIENCE).await;
    assert!(got2[0].verifies_with(&secret2) && !got2[0].verifies_with(&secret));
    until_logged(&app, &owner, &org, &got2[0].id, |d| d["status"] == "DELIVERED").await;
    assert_eq!(hook.received().len(), 4, "the removed endpoint got nothing more");
    let d = app.ok(Some(&owner.token), ENDPOINTS, json!({"o": org})).await;
    let endpoints = d["organization"]["webhookEndpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "{d}");
    assert_eq!(endpoints[0]["id"], endpoint2.as_str());
    assert_eq!(endpoints[0]["events"], json!(["PERMISSION"]));
    assert_eq!(endpoints[0]["deliveries"][0]["eventId"], got2[0].id.as_str());
}

async fn failed_deliveries_are_sent_again_on_request(backend: Backend) {
    let app = spawn_patient(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let hook = Receiver::start(&[]).await;
    hook.otherwise(Answer::Status(500));
    let (_, secret) = add(&app, &owner, &org, &hook.url(), &["REQUEST", "BALANCE_ALERT"]).await;

    // A request event: a balance alert set (its request is created and completes).
    let d = app
        .ok(
            Some(&owner.token),
            "mutation($o:ID!){ setBalanceAlert(orgId:$o,thresholdUsd:\"100\"){ request{ status } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(d["setBalanceAlert"]["request"]["status"], "COMPLETED");
    let first = hook.until(1, PATIENCE).await.remove(0);
    assert!(first.verifies_with(&secret));
    // The first delivery can be attempted before the later events are queued
    // (they are taken from the audit trail each second): wait for all three.
    let expected = [
        ("request.completed", "ADD_WEBHOOK_ENDPOINT"),
        ("request.completed", "SET_BALANCE_ALERT"),
        ("balance_alert.changed", "BALANCE_ALERT_CHANGED"),
    ];
    app.after_each_job("every event to be queued for the endpoint", || async {
        let events: Vec<(String, String)> = log(&app, &owner, &org)
            .await
            .iter()
            .map(|d| {
                let body: Value = serde_json::from_str(d["payload"].as_str().unwrap()).unwrap();
                (d["eventType"].as_str().unwrap().to_string(), body["data"]["action"].as_str().unwrap().to_string())
            })
            .collect();
        expected.iter().all(|(t, a)| events.contains(&(t.to_string(), a.to_string()))).then_some(())
    })
    .await;

    // Eight failures of the first event (each retry once its backoff passed): FAILED.
    for n in 1..8 {
        until_logged(&app, &owner, &org, &first.id, |d| d["attempts"] == n && d["status"] == "PENDING").await;
        app.clock.advance(Span::seconds(1300));
    }
    let failed = until_logged(&app, &owner, &org, &first.id, |d| d["status"] == "FAILED").await;
    assert_eq!((failed["attempts"].as_i64(), failed["lastStatusCode"].as_i64()), (Some(8), Some(500)), "{failed}");
    let attempts_of_first = hook.received().iter().filter(|d| d.id == first.id).count();
    assert_eq!(attempts_of_first, 8, "eight attempts, no more");

    // Sent again on request, and this time the receiver takes it.
    hook.otherwise(Answer::Status(204));
    let id = failed["id"].as_str().unwrap().to_string();
    let d = app.ok(Some(&owner.token), REDELIVER, json!({"o": org, "d": id})).await;
    assert_eq!(d["redeliverWebhook"]["status"], "PENDING");
    assert_eq!(d["redeliverWebhook"]["attempts"], 0);
    let done = until_logged(&app, &owner, &org, &first.id, |d| d["status"] == "DELIVERED").await;
    assert_eq!((done["attempts"].as_i64(), done["lastStatusCode"].as_i64()), (Some(1), Some(204)), "{done}");
    let resent: Vec<_> = hook.received().into_iter().filter(|d| d.id == first.id).collect();
    assert_eq!(resent.len(), 9);
    assert!(resent[8].verifies_with(&secret) && resent[8].body == first.body);
    // The redelivery is audited.
    let d = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ auditLog(first:5){ nodes{ action target } } } }",
            json!({"o": org}),
        )
        .await;
    let actions: Vec<&Value> = d["organization"]["auditLog"]["nodes"].as_array().unwrap().iter().collect();
    assert!(actions.iter().any(|a| a["action"] == "WEBHOOK_REDELIVERED" && a["target"] == id.as_str()), "{d}");

    // The log is bounded: the daily job drops settled deliveries after 30 days.
    app.run_daily_jobs().await;
    assert!(log(&app, &owner, &org).await.iter().any(|d| d["id"] == id.as_str()), "kept within the retention");
    app.clock.advance(Span::days(31));
    app.run_daily_jobs().await;
    let db = app.db().await;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let left = entity::webhook_delivery::Entity::find()
        .filter(entity::webhook_delivery::Column::Status.is_in(["DELIVERED", "FAILED"]))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(left, 0, "every settled delivery past 30 days is gone");
}

async fn endpoints_need_https_and_their_secret_is_shown_once(backend: Backend) {
    let app = spawn_with(backend, |c| c.webhooks_allow_http_loopback = false).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    for (url, events) in [
        ("http://127.0.0.1:9/hook", json!(["REQUEST"])),
        ("http://hooks.example.com/x", json!(["REQUEST"])),
        ("https://user:pw@hooks.example.com/x", json!(["REQUEST"])),
        ("hooks.example.com/x", json!(["REQUEST"])),
        ("https://hooks.example.com/x", json!([])),
        // Called from inside our network: never a private or metadata address.
        ("https://169.254.169.254/latest/meta-data/", json!(["REQUEST"])),
        ("https://10.0.0.7/hook", json!(["REQUEST"])),
        ("https://[::ffff:192.168.1.1]/hook", json!(["REQUEST"])),
        ("https://localhost/hook", json!(["REQUEST"])),
    ] {
        let d = app.gql(Some(&owner.token), ADD, json!({"o": org, "u": url, "e": events})).await;
        assert_eq!(d["errors"][0]["extensions"]["code"], "BAD_INPUT", "{url}: {d}");
    }

    // Behind approval, the requester claims the secret once, after approval.
    let (admin, _) = app.add_member(&owner, &org, "admin@example.com", &["ADMIN"]).await;
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!){ setPolicy(orgId:$o,workflow:MANAGE_ACCESS,input:{requiredApprovals:1,alwaysRequireApproval:true}){ request{ status } } }",
        json!({"o": org}),
    )
    .await;
    let d = app
        .ok(Some(&owner.token), ADD, json!({"o": org, "u": "https://hooks.example.com/x", "e": ["PERMISSION"]}))
        .await;
    assert_eq!(d["addWebhookEndpoint"]["request"]["status"], "PENDING_APPROVAL");
    assert!(d["addWebhookEndpoint"]["webhookSecret"].is_null());
    let r = d["addWebhookEndpoint"]["request"]["id"].as_str().unwrap().to_string();
    assert_eq!(app.err(Some(&owner.token), CLAIM, json!({"r": r})).await, "CONFLICT", "nothing to claim yet");
    app.ok(Some(&admin.token), "mutation($r:ID!){ approveRequest(requestId:$r){ status } }", json!({"r": r})).await;
    assert_eq!(app.err(Some(&admin.token), CLAIM, json!({"r": r})).await, "NOT_FOUND", "only the requester claims");
    let claimed = app.ok(Some(&owner.token), CLAIM, json!({"r": r})).await;
    assert!(claimed["claimWebhookSecret"]["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(app.err(Some(&owner.token), CLAIM, json!({"r": r})).await, "CONFLICT", "shown once");
    let d = app.ok(Some(&owner.token), ENDPOINTS, json!({"o": org})).await;
    let endpoint = &d["organization"]["webhookEndpoints"][0];
    assert_eq!(endpoint["id"], claimed["claimWebhookSecret"]["endpointId"]);
    assert_eq!(
        (&endpoint["url"], &endpoint["events"]),
        (&json!("https://hooks.example.com/x"), &json!(["PERMISSION"]))
    );
}

both_backends!(
    deliveries_are_signed_retried_and_never_resent,
    failed_deliveries_are_sent_again_on_request,
    endpoints_need_https_and_their_secret_is_shown_once,
);

/// A `worker` process killed while its POST is in flight: the delivery's
/// lease runs out (2 s here) and the next worker sends the same event again;
/// events committed while no worker ran are delivered when one starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_delivery_leaves_it_to_the_next() {
    let app = spawn_with(Backend::Postgres, |c| {
        c.run_workers = false;
        c.webhook_lease_secs = 2;
        c.db_max_connections = 6;
    })
    .await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let hook = Receiver::start(&[Answer::Hang]).await;
    let (_, secret) = add(&app, &owner, &org, &hook.url(), &["PERMISSION"]).await;
    permission_change(&app, &owner, &org, "payouts-bot").await;

    let w1 = Process::start(countersign_exe!(), Role::Worker, &app.worker_config).await;
    let first = hook.until(1, PATIENCE).await.remove(0);
    w1.kill().await;
    let d = log(&app, &owner, &org).await;
    assert_eq!(d[0]["status"], "SENDING", "the kill caught the delivery in flight: {d:?}");

    // Committed with no worker running: waits, and is not lost.
    permission_change(&app, &owner, &org, "reporting-bot").await;
    let w2 = Process::start(countersign_exe!(), Role::Worker, &app.worker_config).await;
    let got = hook.until(3, PATIENCE).await;
    let again: Vec<_> = got.iter().filter(|d| d.id == first.id).collect();
    assert_eq!(again.len(), 2, "the in-flight event is sent again, once: {got:?}");
    assert!(again.iter().all(|d| d.body == first.body && d.verifies_with(&secret)));
    // Another process records the outcomes: poll the log until both are delivered.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let d = log(&app, &owner, &org).await;
        if d.len() == 2 && d.iter().all(|d| d["status"] == "DELIVERED") {
            let retried = d.iter().find(|d| d["eventId"] == first.id.as_str()).unwrap();
            assert_eq!(retried["attempts"], 2, "{d:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not delivered: {d:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(hook.received().len(), 3, "nothing else was sent");
    w2.terminate().await;
}
