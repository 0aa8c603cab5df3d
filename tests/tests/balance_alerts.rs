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

/// A recompute that moves more alerts than one set-based statement holds
/// (500 rows) writes each organisation's own state, total and audit head: a
/// row mixed up between organisations, or a chunk dropped, shows here.
async fn many_alerts_move_in_one_recompute(backend: Backend) {
    use entity::money::Amount;
    use entity::{audit_record, balance_alert, holding, organization};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

    const ORGS: usize = 1_234;
    let app = spawn(backend).await;
    let db = &app.state.db;
    let now = chrono::Utc::now();
    let genesis = api::service::audit::GENESIS;
    let ids: Vec<String> = (0..ORGS).map(|i| format!("bulk-{i:05}")).collect();
    for chunk in ids.chunks(400) {
        let (mut orgs, mut alerts, mut holdings) = (Vec::new(), Vec::new(), Vec::new());
        for org in chunk {
            let i: usize = org[5..].parse().unwrap();
            orgs.push(organization::ActiveModel {
                id: Set(org.clone()),
                name: Set(format!("Org {i}")),
                owner_user_id: Set("seeded".into()),
                session_idle_timeout_secs: Set(1800),
                audit_seq: Set(0),
                settings_seq: Set(0),
                audit_head: Set(genesis.into()),
                audit_head_mac: Set(genesis.into()),
                created_at: Set(now),
                pause_on_low_balance: Set(false),
                address_cooling_off_secs: Set(None),
                withdrawal_window: Set(None),
            });
            alerts.push(balance_alert::ActiveModel {
                org_id: Set(org.clone()),
                threshold_usd: Set(Some(Amount(1000.into()))),
                state: Set(api::domain::AlertState::Unconfigured),
                total_usd: Set(Amount::ZERO),
                changed_at: Set(now),
                updated_at: Set(now),
            });
            // Organisation i holds i + 1 USDC: below the threshold up to 998, at or above from 999.
            holdings.push(holding::ActiveModel {
                id: Set(format!("{org}-USDC")),
                org_id: Set(org.clone()),
                account_id: Set(format!("{org}-acct")),
                asset: Set("USDC".into()),
                amount: Set(Amount((i as i64 + 1).into())),
                held: Set(Amount::ZERO),
                updated_at: Set(now),
            });
        }
        organization::Entity::insert_many(orgs).exec(db).await.unwrap();
        balance_alert::Entity::insert_many(alerts).exec(db).await.unwrap();
        holding::Entity::insert_many(holdings).exec(db).await.unwrap();
    }

    app.run_minutely_jobs().await;

    let alerts =
        balance_alert::Entity::find().filter(balance_alert::Column::OrgId.starts_with("bulk-")).all(db).await.unwrap();
    assert_eq!(alerts.len(), ORGS);
    for a in &alerts {
        let i: i64 = a.org_id[5..].parse().unwrap();
        assert_eq!(a.total_usd, Amount((i + 1).into()), "{}", a.org_id);
        let expected = if i + 1 < 1000 { "LOW" } else { "HEALTHY" };
        assert_eq!(a.state.as_str(), expected, "{}", a.org_id);
    }
    let orgs =
        organization::Entity::find().filter(organization::Column::Id.starts_with("bulk-")).all(db).await.unwrap();
    assert_eq!(orgs.len(), ORGS);
    for o in &orgs {
        // One record each, chained from genesis, and the organisation's head is that record.
        let records = audit_record::Entity::find().filter(audit_record::Column::OrgId.eq(&o.id)).all(db).await.unwrap();
        assert_eq!(records.len(), 1, "{}", o.id);
        let r = &records[0];
        assert_eq!((r.seq, r.prev_hash.as_str(), r.action.as_str()), (1, genesis, "BALANCE_ALERT_CHANGED"));
        assert_eq!((o.audit_seq, &o.audit_head, &o.audit_head_mac), (1, &r.hash, &r.mac), "{}", o.id);
        assert!(
            r.after
                .as_deref()
                .is_some_and(|a| a.contains(&format!("\"totalUsd\":\"{}\"", o.id[5..].parse::<i64>().unwrap() + 1)))
        );
    }
    // Nothing moved since: the next recompute writes nothing.
    app.run_minutely_jobs().await;
    let n =
        audit_record::Entity::find().filter(audit_record::Column::OrgId.starts_with("bulk-")).count(db).await.unwrap();
    assert_eq!(n, ORGS as u64);
}
both_backends!(many_alerts_move_in_one_recompute);
