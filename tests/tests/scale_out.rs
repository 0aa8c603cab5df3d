//! Several `serve` processes on one PostgreSQL database: events published by
//! one reach subscribers connected to another (LISTEN/NOTIFY), within 1 s.
//! SQLite is the single-process embedded default, so this is PostgreSQL only.

use serde_json::json;
use std::time::Duration;
use tests::answers::RequestEvent;
use tests::{Backend, spawn, spawn_sharing, typed};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_reach_subscribers_of_every_process() {
    let a = spawn(Backend::Postgres).await;
    let b = spawn_sharing(&a).await;
    let owner = a.user("owner@example.com").await;
    let org = a.create_org(&owner, "Acme").await;
    // The session works on either process: they share the database.
    let mut on_b = b.ws(&owner.token).await;
    b.subscribe(
        &mut on_b,
        "1",
        "subscription($o:ID!){ requestEvents(orgId:$o){ kind request{ id operation } } }",
        json!({"o": org}),
    )
    .await;
    let mut on_a = a.ws(&owner.token).await;
    a.subscribe(
        &mut on_a,
        "1",
        "subscription($o:ID!){ requestEvents(orgId:$o){ kind request{ id } } }",
        json!({"o": org}),
    )
    .await;
    let mut alerts_on_b = b.ws(&owner.token).await;
    b.subscribe(
        &mut alerts_on_b,
        "2",
        "subscription($o:ID!){ balanceAlertChanged(orgId:$o){ state } }",
        json!({"o": org}),
    )
    .await;

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
            let e: RequestEvent = typed(&e["data"]["requestEvents"]);
            assert_eq!(e.request.id, r);
            kinds.push(e.kind);
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

/// Each process reuses a member's resolved access and a key's material
/// while the organisation's version (its audit sequence) is unchanged. A
/// change made through one process must hold on the other at its very next
/// request: a role taken away, a key revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn access_changed_through_one_process_holds_at_once_on_another() {
    let a = spawn(Backend::Postgres).await;
    let owner = a.user("owner@example.com").await;
    let org = a.create_org(&owner, "Acme").await;
    let (maker, maker_member) = a.add_member(&owner, &org, "maker@example.com", &["MAKER", "ADMIN"]).await;
    // Started after the invitation went out, so A's worker (and outbox) delivered it.
    let b = spawn_sharing(&a).await;
    let perms = "query($o:ID!){ viewer{ permissions(orgId:$o){ workflow action } } }";
    let can_manage = |d: &serde_json::Value| {
        d["viewer"]["permissions"].as_array().unwrap().iter().any(|p| p["workflow"] == "MANAGE_ACCESS")
    };
    // Warm process B's cache, twice (the second read is served from it).
    for _ in 0..2 {
        assert!(can_manage(&b.ok(Some(&maker.token), perms, json!({"o": org})).await));
    }
    let d = a
        .ok(
            Some(&owner.token),
            "mutation($o:ID!,$m:ID!){ setMemberRoles(orgId:$o,memberId:$m,roles:[MAKER]){ request{ status } } }",
            json!({"o": org, "m": maker_member}),
        )
        .await;
    assert_eq!(d["setMemberRoles"]["request"]["status"], "COMPLETED");
    assert!(!can_manage(&b.ok(Some(&maker.token), perms, json!({"o": org})).await), "B sees the new roles at once");

    // Limit usage, cached by version on B, shows a cap set through A at once.
    let usage = "query($o:ID!){ organization(id:$o){ usage{ layer dailyCapUsd } } }";
    let cap = |d: &serde_json::Value| d["organization"]["usage"][0]["dailyCapUsd"].clone();
    for _ in 0..2 {
        assert_eq!(cap(&b.ok(Some(&owner.token), usage, json!({"o": org})).await), serde_json::Value::Null);
    }
    a.ok(
        Some(&owner.token),
        "mutation($o:ID!){ setRiskLimits(orgId:$o,input:{layer:ORGANIZATION,dailyCapUsd:\"50000\"}){ request{ status } } }",
        json!({"o": org}),
    )
    .await;
    assert_eq!(cap(&b.ok(Some(&owner.token), usage, json!({"o": org})).await), "50000", "B sees the new cap at once");

    // So do balances: a credit through A shows on B's next read.
    let balances = "query($o:ID!){ organization(id:$o){ accounts{ id holdings{ asset amount } } } }";
    let usdc = |d: &serde_json::Value| {
        let holdings = d["organization"]["accounts"][0]["holdings"].as_array().cloned().unwrap_or_default();
        holdings.iter().find(|h| h["asset"] == "USDC").map(|h| h["amount"].clone())
    };
    let d = b.ok(Some(&owner.token), balances, json!({"o": org})).await;
    let account = d["organization"]["accounts"][0]["id"].as_str().unwrap().to_string();
    assert!(matches!(usdc(&d), None | Some(serde_json::Value::String(_))), "{d}");
    a.credit(&account, "USDC", "125.5", "scale-out-1").await;
    assert_eq!(usdc(&b.ok(Some(&owner.token), balances, json!({"o": org})).await), Some(json!("125.5")));
    a.credit(&account, "USDC", "0.5", "scale-out-2").await;
    assert_eq!(usdc(&b.ok(Some(&owner.token), balances, json!({"o": org})).await), Some(json!("126")));

    // A key used on B, revoked through A, is refused by B at its next use.
    let d = a
        .ok(
            Some(&owner.token),
            "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"bot\",scopes:[QUERY_FUNDS]}){ apiKey{ keyId secret } } }",
            json!({"o": org}),
        )
        .await;
    let k = &d["createServiceUser"]["apiKey"];
    let key = (k["keyId"].as_str().unwrap().to_string(), k["secret"].as_str().unwrap().to_string());
    let read = "query($o:ID!){ viewer{ serviceUser{ name } } organization(id:$o){ accounts{ id } } }";
    for nonce in 1..=2 {
        let (status, body) = b.signed(&key, nonce, read, json!({"o": org})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["viewer"]["serviceUser"]["name"], "bot");
    }
    a.ok(
        Some(&owner.token),
        "mutation($o:ID!,$k:ID!){ revokeApiKey(orgId:$o,keyId:$k){ request{ status } } }",
        json!({"o": org, "k": key.0}),
    )
    .await;
    let (status, body) = b.signed(&key, 3, read, json!({"o": org})).await;
    assert_eq!(status, 401, "B refuses the revoked key at once: {body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}
