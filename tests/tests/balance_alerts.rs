//! Stablecoin balance alerts (SPEC §6, §8), end to end: credits, withdrawals
//! and price changes move the state both ways; each change reaches a
//! WebSocket subscriber once and e-mails the ADMIN members when it turns LOW.

use serde_json::json;
use std::time::Duration;
use tests::{Backend, both_backends, spawn};

const ALERT: &str =
    "query($o:ID!){ organization(id:$o){ balanceAlert{ state thresholdUsd totalStablecoinUsd changedAt } } }";
const SET: &str = "mutation($o:ID!,$t:Decimal){ setBalanceAlert(orgId:$o,thresholdUsd:$t){ request{ status } } }";

async fn alerts_follow_balances_and_prices(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let d =
        app.ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ accounts{ id } } }", json!({"o": org})).await;
    let account = d["organization"]["accounts"][0]["id"].as_str().unwrap().to_string();
    let d = app.ok(Some(&owner.token), ALERT, json!({"o": org})).await;
    assert_eq!(d["organization"]["balanceAlert"]["state"], "UNCONFIGURED");

    let mut ws = app.ws(&owner.token).await;
    app.subscribe(
        &mut ws,
        "1",
        "subscription($o:ID!){ balanceAlertChanged(orgId:$o){ state totalStablecoinUsd thresholdUsd } }",
        json!({"o": org}),
    )
    .await;

    app.ok(Some(&owner.token), SET, json!({"o": org, "t": "1000"})).await;
    let e = next_state(&mut ws).await.expect("LOW");
    assert_eq!((e["state"].as_str(), e["totalStablecoinUsd"].as_str()), (Some("LOW"), Some("0.00")));
    // Still below: no event.
    app.credit(&account, "USDC", "600", "c1").await;
    assert!(next_state(&mut ws).await.is_none(), "no change, no event");
    // Equal to the threshold is HEALTHY (DAI counts at 1.00).
    app.credit(&account, "DAI", "400", "c2").await;
    let e = next_state(&mut ws).await.expect("HEALTHY");
    assert_eq!((e["state"].as_str(), e["totalStablecoinUsd"].as_str()), (Some("HEALTHY"), Some("1000.00")));
    // Non-stablecoins never count.
    app.ok(
        Some("operator-test-token"),
        "mutation{ setAssetPrice(asset:\"BTC\",usdPrice:\"50000\"){ symbol } }",
        json!({}),
    )
    .await;
    app.credit(&account, "BTC", "1", "c3").await;
    assert!(next_state(&mut ws).await.is_none());

    // A settled withdrawal moves it back to LOW.
    let (ms, _) = app.add_member(&owner, &org, "makersigner@example.com", &["MAKER", "SIGNER"]).await;
    app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    let (admin, _) = app.add_member(&owner, &org, "admin@example.com", &["ADMIN"]).await;
    let d = app
        .ok(Some(&owner.token), "mutation($o:ID!,$a:ID!){ addAddress(orgId:$o,input:{accountId:$a,asset:\"USDC\",network:\"ethereum\",address:\"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb\",label:\"out\"}){ request{ status } } }", json!({"o": org, "a": account}))
        .await;
    assert_eq!(d["addAddress"]["request"]["status"], "COMPLETED");
    let addr = app
        .ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ addresses{ id } } }", json!({"o": org}))
        .await["organization"]["addresses"][0]["id"]
        .clone();
    let d = app
        .ok(
            Some(&ms.token),
            "mutation($o:ID!,$a:ID!,$ad:ID!){ withdraw(orgId:$o,input:{accountId:$a,asset:\"USDC\",amount:\"0.01\",addressId:$ad,execute:true}){ request{ status } } }",
            json!({"o": org, "a": account, "ad": addr}),
        )
        .await;
    assert_eq!(d["withdraw"]["request"]["status"], "COMPLETED");
    let e = next_state(&mut ws).await.expect("LOW again");
    assert_eq!((e["state"].as_str(), e["totalStablecoinUsd"].as_str()), (Some("LOW"), Some("999.99")));

    // A stablecoin price change recomputes every organisation.
    app.ok(
        Some("operator-test-token"),
        "mutation{ setAssetPrice(asset:\"USDC\",usdPrice:\"1.1\"){ symbol } }",
        json!({}),
    )
    .await;
    let e = next_state(&mut ws).await.expect("HEALTHY again");
    assert_eq!((e["state"].as_str(), e["totalStablecoinUsd"].as_str()), (Some("HEALTHY"), Some("1059.99")));
    assert!(next_state(&mut ws).await.is_none(), "each change once");
    // The schedule finds nothing more to do (and publishes nothing).
    app.run_minutely_jobs().await;
    assert!(next_state(&mut ws).await.is_none());

    // Each turn to LOW e-mailed the ADMIN members (the Owner holds ADMIN too) once.
    let count_for = |email: &str| {
        std::fs::read_dir(&app.outbox)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("notification-"))
                    .filter(|e| std::fs::read_to_string(e.path()).unwrap_or_default().contains(&format!("To: {email}")))
                    .count()
            })
            .unwrap_or(0)
    };
    // LOW #1 happened before admin@ joined: the Owner got two, the admin one.
    // Once no e-mail is queued or being sent, the outbox holds all there is.
    app.mail_settled().await;
    assert_eq!((count_for("owner@example.com"), count_for("admin@example.com")), (2, 1));
    assert_eq!(count_for("makersigner@example.com"), 0, "only ADMIN members");

    // Clearing the threshold: UNCONFIGURED.
    let admin_token = app.sign_in(&admin).await;
    app.ok(Some(&admin_token), SET, json!({"o": org, "t": null})).await;
    let d = app.ok(Some(&admin_token), ALERT, json!({"o": org})).await;
    assert_eq!(d["organization"]["balanceAlert"]["state"], "UNCONFIGURED");
    assert_eq!(d["organization"]["balanceAlert"]["thresholdUsd"], serde_json::Value::Null);
    let audit = app
        .ok(Some(&admin_token), "query($o:ID!){ organization(id:$o){ auditLog(first:200,filter:{action:\"BALANCE_ALERT_CHANGED\"}){ edges{ node{ after } } } } }", json!({"o": org}))
        .await;
    assert_eq!(
        audit["organization"]["auditLog"]["edges"].as_array().unwrap().len(),
        5,
        "LOW, HEALTHY, LOW, HEALTHY, UNCONFIGURED"
    );
}

/// The next balance-alert event within 1 s, if any.
async fn next_state(ws: &mut tests::ws::WsClient) -> Option<serde_json::Value> {
    ws.next(Duration::from_secs(1)).await.map(|e| e["data"]["balanceAlertChanged"].clone())
}

both_backends!(alerts_follow_balances_and_prices);
