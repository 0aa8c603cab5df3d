//! Several `serve` processes on one PostgreSQL database: events published by
//! one reach subscribers connected to another (LISTEN/NOTIFY), within 1 s.
//! SQLite is the single-process embedded default, so this is PostgreSQL only.

use serde_json::json;
use std::time::Duration;
use tests::{Backend, spawn, spawn_sharing};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_reach_subscribers_of_every_process() {
    let a = spawn(Backend::Postgres).await;
    let b = spawn_sharing(&a).await;
    let owner = a.user("owner@example.com").await;
    let org = a.create_org(&owner, "Acme").await;
    // The session works on either process: they share the database.
    let mut on_b = b.ws(&owner.token).await;
    on_b.subscribe(
        "1",
        "subscription($o:ID!){ requestEvents(orgId:$o){ kind request{ id operation } } }",
        json!({"o": org}),
    )
    .await;
    let mut on_a = a.ws(&owner.token).await;
    on_a.subscribe("1", "subscription($o:ID!){ requestEvents(orgId:$o){ kind request{ id } } }", json!({"o": org}))
        .await;
    let mut alerts_on_b = b.ws(&owner.token).await;
    alerts_on_b
        .subscribe("2", "subscription($o:ID!){ balanceAlertChanged(orgId:$o){ state } }", json!({"o": org}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let d = a
        .ok(
            Some(&owner.token),
            "mutation($o:ID!){ inviteMember(orgId:$o,email:\"new@example.com\",roles:[MAKER]){ request{ id } } }",
            json!({"o": org}),
        )
        .await;
    let r = d["inviteMember"]["request"]["id"].as_str().unwrap();
    for ws in [&mut on_b, &mut on_a] {
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let e = ws.next(Duration::from_secs(1)).await.expect("event within 1 s");
            assert_eq!(e["data"]["requestEvents"]["request"]["id"], r);
            kinds.push(e["data"]["requestEvents"]["kind"].as_str().unwrap().to_string());
        }
        assert_eq!(kinds, ["CREATED", "COMPLETED"], "once each, in order");
        assert!(ws.next(Duration::from_millis(300)).await.is_none(), "no duplicates");
    }
    // Balance-alert changes cross processes too.
    a.ok(
        Some(&owner.token),
        "mutation($o:ID!){ setBalanceAlert(orgId:$o,thresholdUsd:\"10\"){ request{ status } } }",
        json!({"o": org}),
    )
    .await;
    let e = alerts_on_b.next(Duration::from_secs(1)).await.expect("alert event within 1 s");
    assert_eq!(e["data"]["balanceAlertChanged"]["state"], "LOW");
}
