//! Beyond the anchors (issue 11), end to end on both databases: policy
//! versions recorded on requests, and withdrawals paused while the balance
//! alert is LOW.

use serde_json::{Value, json};
use std::time::Duration;
use tests::{Backend, TestApp, both_backends, spawn};

const SET_POLICY: &str = "mutation($o:ID!,$w:Workflow!,$n:Int!){ setPolicy(orgId:$o,workflow:$w,input:{requiredApprovals:$n,alwaysRequireApproval:true}){ request{ status policyVersion } } }";
const INVITE: &str = "mutation($o:ID!,$e:String!){ inviteMember(orgId:$o,email:$e,roles:[READ_ONLY]){ request{ id status approvalsRequired policyVersion } } }";
const WITHDRAW: &str = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status } } }";

async fn policy_version(app: &TestApp, token: &str, org: &str, workflow: &str) -> i64 {
    let d = app
        .ok(Some(token), "query($o:ID!){ organization(id:$o){ policies{ workflow version } } }", json!({"o": org}))
        .await;
    d["organization"]["policies"].as_array().unwrap().iter().find(|p| p["workflow"] == workflow).unwrap()["version"]
        .as_i64()
        .unwrap()
}

async fn requests_keep_the_policy_they_were_made_under(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let (admin1, _) = app.add_member(&owner, &org, "admin1@example.com", &["ADMIN"]).await;
    app.add_member(&owner, &org, "admin2@example.com", &["ADMIN"]).await;

    // No policy yet: the invitation completes and names no version.
    let d = app.ok(Some(&owner.token), INVITE, json!({"o": org, "e": "a@example.com"})).await;
    assert_eq!(d["inviteMember"]["request"]["policyVersion"], Value::Null);

    app.ok(Some(&owner.token), SET_POLICY, json!({"o": org, "w": "MANAGE_ACCESS", "n": 1})).await;
    let v1 = policy_version(&app, &owner.token, &org, "MANAGE_ACCESS").await;
    let d = app.ok(Some(&owner.token), INVITE, json!({"o": org, "e": "b@example.com"})).await;
    let first = d["inviteMember"]["request"].clone();
    assert_eq!((first["status"].as_str(), first["approvalsRequired"].as_i64()), (Some("PENDING_APPROVAL"), Some(1)));
    assert_eq!(first["policyVersion"], v1);

    // The policy tightens; the waiting request keeps what it was made under.
    app.ok(Some(&owner.token), SET_POLICY, json!({"o": org, "w": "MANAGE_ACCESS", "n": 2})).await;
    let v2 = policy_version(&app, &owner.token, &org, "MANAGE_ACCESS").await;
    assert!(v2 > v1);
    let d = app.ok(Some(&owner.token), INVITE, json!({"o": org, "e": "c@example.com"})).await;
    assert_eq!(d["inviteMember"]["request"]["approvalsRequired"], 2);
    assert_eq!(d["inviteMember"]["request"]["policyVersion"], v2);
    let d = app
        .ok(
            Some(&admin1.token),
            "mutation($r:ID!){ approveRequest(requestId:$r){ status approvalsRequired policyVersion } }",
            json!({"r": first["id"]}),
        )
        .await;
    assert_eq!(d["approveRequest"], json!({"status": "COMPLETED", "approvalsRequired": 1, "policyVersion": v1}));
}

async fn withdrawals_pause_while_the_balance_is_low(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    let (signer, _) = app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let d =
        app.ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ accounts{ id } } }", json!({"o": org})).await;
    let account = d["organization"]["accounts"][0]["id"].as_str().unwrap().to_string();
    let input =
        json!({"accountId": account, "asset": "USDC", "network": "ethereum", "address": "0xA11ce", "label": "cold"});
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!,$i:AddressInput!){ addAddress(orgId:$o,input:$i){ request{ status } } }",
        json!({"o": org, "i": input}),
    )
    .await;
    let d =
        app.ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ addresses{ id } } }", json!({"o": org})).await;
    let address = d["organization"]["addresses"][0]["id"].clone();
    let withdraw = |amount: &str| json!({"o": org, "i": {"accountId": account, "asset": "USDC", "amount": amount, "addressId": address}});
    app.credit(&account, "USDC", "5000", "custody-1").await;
    // Subscribe before the alert exists and take its first event, so no event
    // of the setup (on PostgreSQL it travels through NOTIFY and may arrive
    // late under load) can be mistaken for a later transition.
    let mut ws = app.ws(&owner.token).await;
    ws.subscribe(
        "1",
        "subscription($o:ID!){ balanceAlertChanged(orgId:$o){ state withdrawalsPaused } }",
        json!({"o": org}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!){ setBalanceAlert(orgId:$o,thresholdUsd:\"1000\"){ request{ status } } }",
        json!({"o": org}),
    )
    .await;
    let e = ws.next(Duration::from_secs(5)).await.expect("alert event");
    assert_eq!(e["data"]["balanceAlertChanged"], json!({"state": "HEALTHY", "withdrawalsPaused": false}));
    let d = app
        .ok(
            Some(&owner.token),
            "mutation($o:ID!){ setLowBalancePause(orgId:$o,enabled:true){ request{ status operation } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(
        d["setLowBalancePause"]["request"],
        json!({"status": "COMPLETED", "operation": "SET_LOW_BALANCE_PAUSE"})
    );
    let d = app
        .ok(
            Some(&maker.token),
            "query($o:ID!){ organization(id:$o){ pauseOnLowBalance balanceAlert{ state withdrawalsPaused } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(
        d["organization"],
        json!({"pauseOnLowBalance": true, "balanceAlert": {"state": "HEALTHY", "withdrawalsPaused": false}})
    );

    // Spending down to 500 USD turns the alert LOW and pauses withdrawals.
    let d = app.ok(Some(&maker.token), WITHDRAW, withdraw("4500")).await;
    let r = d["withdraw"]["request"]["id"].clone();
    app.ok(Some(&signer.token), "mutation($r:ID!){ execute(requestId:$r){ status } }", json!({"r": r})).await;
    let e = ws.next(Duration::from_secs(5)).await.expect("alert event");
    assert_eq!(e["data"]["balanceAlertChanged"], json!({"state": "LOW", "withdrawalsPaused": true}));
    let count = "query($o:ID!){ organization(id:$o){ requests(first:50){ edges{ node{ id } } } } }";
    let requests = |d: Value| d["organization"]["requests"]["edges"].as_array().unwrap().len();
    let before = requests(app.ok(Some(&owner.token), count, json!({"o": org})).await);
    let body = app.gql(Some(&maker.token), WITHDRAW, withdraw("10")).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAUSED_LOW_BALANCE", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("500"), "{body}");
    let d = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ accounts{ holdings{ asset held } } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(d["organization"]["accounts"][0]["holdings"][0]["held"], "0", "nothing held by the refusal");
    assert_eq!(requests(app.ok(Some(&owner.token), count, json!({"o": org})).await), before, "no request written");

    // A deposit lifts the balance above the threshold: withdrawals resume.
    app.credit(&account, "USDC", "1000", "custody-2").await;
    let e = ws.next(Duration::from_secs(5)).await.expect("alert event");
    assert_eq!(e["data"]["balanceAlertChanged"], json!({"state": "HEALTHY", "withdrawalsPaused": false}));
    let d = app.ok(Some(&maker.token), WITHDRAW, withdraw("10")).await;
    assert_eq!(d["withdraw"]["request"]["status"], "APPROVED");

    // A stablecoin price change moves every organisation at once (the
    // batched recompute): it pauses and resumes withdrawals the same way.
    let price = "mutation($p:Decimal!){ setAssetPrice(asset:\"USDC\",usdPrice:$p){ symbol } }";
    app.ok(Some("operator-test-token"), price, json!({"p": "0.5"})).await;
    let e = ws.next(Duration::from_secs(5)).await.expect("alert event");
    assert_eq!(e["data"]["balanceAlertChanged"], json!({"state": "LOW", "withdrawalsPaused": true}));
    let body = app.gql(Some(&maker.token), WITHDRAW, withdraw("10")).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAUSED_LOW_BALANCE", "{body}");
    app.ok(Some("operator-test-token"), price, json!({"p": "1"})).await;
    let e = ws.next(Duration::from_secs(5)).await.expect("alert event");
    assert_eq!(e["data"]["balanceAlertChanged"], json!({"state": "HEALTHY", "withdrawalsPaused": false}));

    // Every transition is in the audit trail.
    let d = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ auditLog(first:100){ edges{ node{ action actorKind } } } } }",
            json!({"o": org}),
        )
        .await;
    let actions: Vec<&str> = d["organization"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    let transitions: Vec<&str> = actions.iter().copied().filter(|a| a.starts_with("WITHDRAWALS_")).collect();
    assert_eq!(
        transitions,
        ["WITHDRAWALS_RESUMED", "WITHDRAWALS_PAUSED", "WITHDRAWALS_RESUMED", "WITHDRAWALS_PAUSED"],
        "newest first"
    );
}

both_backends!(requests_keep_the_policy_they_were_made_under, withdrawals_pause_while_the_balance_is_low);

const SIMULATE: &str = "query($o:ID!,$i:WithdrawalInput!){ simulateWithdrawal(orgId:$o,input:$i){ outcome status approvalsRequired failures{ code layer message } eligibleApprovers{ email } usageAfter{ layer usedTodayUsd heldUsd } } }";
const REAL: &str =
    "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ status approvalsRequired } } }";

async fn org_usage(app: &TestApp, token: &str, org: &str) -> Value {
    let d = app
        .ok(
            Some(token),
            "query($o:ID!){ organization(id:$o){ usage{ layer usedTodayUsd heldUsd } } }",
            json!({"o": org}),
        )
        .await;
    d["organization"]["usage"].as_array().unwrap().iter().find(|u| u["layer"] == "ORGANIZATION").unwrap().clone()
}

async fn trail_len(app: &TestApp, token: &str, org: &str) -> usize {
    let d = app
        .ok(
            Some(token),
            "query($o:ID!){ organization(id:$o){ auditLog(first:500){ edges{ cursor } } } }",
            json!({"o": org}),
        )
        .await;
    d["organization"]["auditLog"]["edges"].as_array().unwrap().len()
}

async fn a_dry_run_answers_what_the_real_call_then_does(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    let (signer, _) = app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let (both, both_member) = app.add_member(&owner, &org, "both@example.com", &["MAKER", "SIGNER"]).await;
    let d =
        app.ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ accounts{ id } } }", json!({"o": org})).await;
    let account = d["organization"]["accounts"][0]["id"].as_str().unwrap().to_string();
    let input =
        json!({"accountId": account, "asset": "USDC", "network": "ethereum", "address": "0xA11ce", "label": "cold"});
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!,$i:AddressInput!){ addAddress(orgId:$o,input:$i){ request{ status } } }",
        json!({"o": org, "i": input}),
    )
    .await;
    let d =
        app.ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ addresses{ id } } }", json!({"o": org})).await;
    let address = d["organization"]["addresses"][0]["id"].as_str().unwrap().to_string();
    app.credit(&account, "USDC", "1000", "custody-1").await;
    app.ok(Some(&owner.token), "mutation($o:ID!){ setRiskLimits(orgId:$o,input:{layer:ORGANIZATION,perTransactionMaxUsd:\"600\",dailyCapUsd:\"800\"}){ request{ status } } }", json!({"o": org}))
        .await;
    app.ok(Some(&owner.token), "mutation($o:ID!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:{requiredApprovals:1,alwaysRequireApproval:false,approvalThresholdUsd:\"100\"}){ request{ status } } }", json!({"o": org}))
        .await;
    let input = |amount: &str, execute: bool, addr: &str| json!({"o": org, "i": {"accountId": account, "asset": "USDC", "amount": amount, "addressId": addr, "execute": execute}});

    // (who, input, expected outcome, every failure code expected)
    let cases = [
        (&maker, input("50", false, &address), "WAITS_FOR_APPROVAL", vec![]),
        (&both, input("50", true, &address), "COMPLETES_NOW", vec![]),
        (&both, input("150", true, &address), "WAITS_FOR_APPROVAL", vec![]),
        (&maker, input("700", false, &address), "REFUSED", vec!["LIMIT_EXCEEDED", "LIMIT_EXCEEDED"]),
        (
            &maker,
            input("2000", false, &address),
            "REFUSED",
            vec!["INSUFFICIENT_FUNDS", "LIMIT_EXCEEDED", "LIMIT_EXCEEDED"],
        ),
        (&signer, input("10", false, &address), "REFUSED", vec!["FORBIDDEN"]),
        (&maker, input("10", false, "00000000-0000-0000-0000-000000000000"), "REFUSED", vec!["NOT_FOUND"]),
        (&maker, input("600", false, &address), "REFUSED", vec!["LIMIT_EXCEEDED"]),
    ];
    for (who, vars, outcome, codes) in cases {
        let trail = trail_len(&app, &owner.token, &org).await;
        let sim = app.ok(Some(&who.token), SIMULATE, vars.clone()).await["simulateWithdrawal"].clone();
        assert_eq!(trail_len(&app, &owner.token, &org).await, trail, "a dry run writes nothing: {sim}");
        assert_eq!(sim["outcome"], outcome, "{vars}: {sim}");
        let sim_codes: Vec<&str> =
            sim["failures"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
        assert_eq!(sim_codes, codes, "{vars}: {sim}");
        let real = app.gql(Some(&who.token), REAL, vars.clone()).await;
        if outcome == "REFUSED" {
            assert_eq!(
                real["errors"][0]["extensions"]["code"], codes[0],
                "the real call refuses with the first: {real}"
            );
            assert_eq!(
                sim["usageAfter"].as_array().unwrap().iter().find(|u| u["layer"] == "ORGANIZATION").unwrap(),
                &org_usage(&app, &owner.token, &org).await
            );
        } else {
            let r = &real["data"]["withdraw"]["request"];
            assert_eq!(
                (&r["status"], &r["approvalsRequired"]),
                (&sim["status"], &sim["approvalsRequired"]),
                "{real} vs {sim}"
            );
            let after = org_usage(&app, &owner.token, &org).await;
            let predicted =
                sim["usageAfter"].as_array().unwrap().iter().find(|u| u["layer"] == "ORGANIZATION").unwrap();
            assert_eq!(predicted, &after, "usage predicted for {vars}");
        }
        if outcome == "WAITS_FOR_APPROVAL" {
            let approvers: Vec<&str> =
                sim["eligibleApprovers"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
            assert!(approvers.contains(&"approver@example.com"), "{approvers:?}");
        }
    }
    // The signer's own cap bites only when the withdrawal executes now.
    app.ok(Some(&owner.token), "mutation($o:ID!,$m:ID!){ setRiskLimits(orgId:$o,input:{layer:SIGNER,memberId:$m,dailyCapUsd:\"20\"}){ request{ status } } }", json!({"o": org, "m": both_member}))
        .await;
    for (amount, outcome) in [("30", "REFUSED"), ("101", "WAITS_FOR_APPROVAL")] {
        let vars = input(amount, true, &address);
        let sim = app.ok(Some(&both.token), SIMULATE, vars.clone()).await["simulateWithdrawal"].clone();
        assert_eq!(sim["outcome"], outcome, "{sim}");
        let real = app.gql(Some(&both.token), REAL, vars).await;
        if outcome == "REFUSED" {
            assert_eq!(sim["failures"][0]["layer"], "SIGNER", "{sim}");
            assert_eq!(real["errors"][0]["extensions"]["layer"], "SIGNER", "{real}");
        } else {
            assert_eq!(real["data"]["withdraw"]["request"]["status"], "PENDING_APPROVAL", "{real}");
        }
    }

    // The two layers of case 5 are both named.
    let sim = app.ok(Some(&maker.token), SIMULATE, input("2000", false, &address)).await;
    let layers: Vec<&str> =
        sim["simulateWithdrawal"]["failures"].as_array().unwrap().iter().filter_map(|f| f["layer"].as_str()).collect();
    assert_eq!(layers, ["ORGANIZATION", "ORGANIZATION"], "per-transaction maximum and daily cap: {sim}");

    // Any governed operation: an invitation that would complete, written nowhere.
    let trail = trail_len(&app, &owner.token, &org).await;
    let q = "query($o:ID!,$op:JSON!){ simulate(orgId:$o,operation:$op){ outcome status failures{ code } } }";
    let d = app
        .ok(
            Some(&owner.token),
            q,
            json!({"o": org, "op": {"operation": "INVITE_MEMBER", "email": "new@example.com", "roles": ["MAKER"]}}),
        )
        .await;
    assert_eq!(d["simulate"]["outcome"], "COMPLETES_NOW", "{d}");
    assert_eq!(trail_len(&app, &owner.token, &org).await, trail);
    let d = app
        .ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ invitations{ email } } }", json!({"o": org}))
        .await;
    assert!(!d.to_string().contains("new@example.com"), "no invitation was made");
    let d = app
        .ok(
            Some(&maker.token),
            q,
            json!({"o": org, "op": {"operation": "SET_MEMBER_ROLES", "memberId": "nobody", "roles": ["ADMIN"]}}),
        )
        .await;
    assert_eq!(d["simulate"]["failures"][0]["code"], "FORBIDDEN", "{d}");
    assert_eq!(
        app.err(Some(&owner.token), q, json!({"o": org, "op": {"operation": "NO_SUCH_THING"}})).await,
        "BAD_INPUT"
    );
}

both_backends!(a_dry_run_answers_what_the_real_call_then_does);
