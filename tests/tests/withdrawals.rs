//! Withdrawals and risk limits (SPEC §5, §6), end to end: Maker → Approver →
//! Signer with live events, balances, three limit layers at their
//! boundaries, concurrency, and the UTC day.

use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tests::{Backend, Session, TestApp, both_backends, spawn};

const WITHDRAW: &str = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status approvalsRequired withdrawal{ usdValue state } } } }";
const EXECUTE: &str = "mutation($r:ID!){ execute(requestId:$r){ id status withdrawal{ state settlementReference } } }";
const APPROVE: &str = "mutation($r:ID!){ approveRequest(requestId:$r){ id status } }";
const LIMITS: &str = "mutation($o:ID!,$i:RiskLimitsPatch!){ setRiskLimits(orgId:$o,input:$i){ request{ status } } }";
const USAGE: &str = "query($o:ID!){ organization(id:$o){ usage{ layer subject perTransactionMaxUsd dailyCapUsd usedTodayUsd heldUsd remainingUsd } } }";
const HOLDINGS: &str =
    "query($o:ID!){ organization(id:$o){ accounts{ holdings{ asset amount held available usdValue } } } }";

struct Treasury {
    org: String,
    account: String,
    owner: Session,
    maker: Session,
    approver: Session,
    signer: (Session, String),
    usdc_address: String,
    eth_address: String,
}

async fn treasury(app: &TestApp) -> Treasury {
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let d =
        app.ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ accounts{ id } } }", json!({"o": org})).await;
    let account = d["organization"]["accounts"][0]["id"].as_str().unwrap().to_string();
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    let (approver, _) = app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    let add = "mutation($o:ID!,$i:AddressInput!){ addAddress(orgId:$o,input:$i){ request{ id status } } }";
    let mut ids = Vec::new();
    for (asset, addr) in
        [("USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"), ("ETH", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359")]
    {
        let d = app
            .ok(Some(&owner.token), add, json!({"o": org, "i": {"accountId": account, "asset": asset, "network": "ethereum", "address": addr, "label": format!("{asset} cold")}}))
            .await;
        assert_eq!(d["addAddress"]["request"]["status"], "COMPLETED");
        let list = app
            .ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ addresses{ id asset } } }", json!({"o": org}))
            .await;
        let id =
            list["organization"]["addresses"].as_array().unwrap().iter().find(|a| a["asset"] == asset).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
        ids.push(id);
    }
    app.credit(&account, "USDC", "10000", "custody-usdc-1").await;
    app.credit(&account, "ETH", "10", "custody-eth-1").await;
    app.ok(
        Some("operator-test-token"),
        "mutation{ setAssetPrice(asset:\"ETH\",usdPrice:\"2000.02\"){ symbol } }",
        json!({}),
    )
    .await;

    // Not ready until someone holds SIGNER.
    let body = app
        .gql(
            Some(&maker.token),
            WITHDRAW,
            json!({"o": org, "i": {"accountId": account, "asset": "USDC", "amount": "1", "addressId": ids[0]}}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "TREASURY_NOT_READY", "{body}");
    let signer = app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    Treasury { org, account, owner, maker, approver, signer, usdc_address: ids[0].clone(), eth_address: ids[1].clone() }
}

fn w(t: &Treasury, asset: &str, amount: &str) -> Value {
    let addr = if asset == "ETH" { &t.eth_address } else { &t.usdc_address };
    json!({"o": t.org, "i": {"accountId": t.account, "asset": asset, "amount": amount, "addressId": addr}})
}

fn code(body: &Value) -> (&str, &str) {
    let ext = &body["errors"][0]["extensions"];
    (ext["code"].as_str().unwrap_or(""), ext["layer"].as_str().unwrap_or(""))
}

/// The account's USDC holding, as the Owner sees it.
async fn usdc_holding(app: &TestApp, t: &Treasury) -> Value {
    let h = app.ok(Some(&t.owner.token), HOLDINGS, json!({"o": t.org})).await;
    h["organization"]["accounts"][0]["holdings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["asset"] == "USDC")
        .unwrap()
        .clone()
}

async fn usage(app: &TestApp, t: &Treasury, layer: &str) -> Value {
    let d = app.ok(Some(&t.owner.token), USAGE, json!({"o": t.org})).await;
    d["organization"]["usage"].as_array().unwrap().iter().find(|u| u["layer"] == layer).cloned().unwrap_or(Value::Null)
}

async fn maker_approver_signer(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    app.ok(
        Some(&t.owner.token),
        "mutation($o:ID!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:{requiredApprovals:1,alwaysRequireApproval:false,approvalThresholdUsd:\"100\"}){ request{ status } } }",
        json!({"o": t.org}),
    )
    .await;
    let mut ws = app.ws(&t.owner.token).await;
    app.subscribe(
        &mut ws,
        "1",
        "subscription($o:ID!){ requestEvents(orgId:$o){ kind request{ id status } } }",
        json!({"o": t.org}),
    )
    .await;

    let d = app.ok(Some(&t.maker.token), WITHDRAW, w(&t, "USDC", "500.25")).await;
    let r = d["withdraw"]["request"]["id"].as_str().unwrap().to_string();
    assert_eq!(d["withdraw"]["request"]["status"], "PENDING_APPROVAL", "above the threshold it waits");
    assert_eq!(d["withdraw"]["request"]["withdrawal"]["usdValue"], "500.25");
    let usdc = usdc_holding(&app, &t).await;
    assert_eq!((usdc["held"].as_str(), usdc["available"].as_str()), (Some("500.25"), Some("9499.75")));
    assert_eq!(app.err(Some(&t.signer.0.token), EXECUTE, json!({"r": r})).await, "CONFLICT", "not approved yet");
    assert_eq!(app.ok(Some(&t.approver.token), APPROVE, json!({"r": r})).await["approveRequest"]["status"], "APPROVED");
    assert_eq!(app.err(Some(&t.maker.token), EXECUTE, json!({"r": r})).await, "FORBIDDEN", "makers do not sign");
    let d = app.ok(Some(&t.signer.0.token), EXECUTE, json!({"r": r})).await;
    assert_eq!(d["execute"]["status"], "COMPLETED");
    assert!(d["execute"]["withdrawal"]["settlementReference"].as_str().unwrap().starts_with("stl_"));
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let e = ws.next(Duration::from_secs(1)).await.expect("event within 1 s");
        assert_eq!(e["data"]["requestEvents"]["request"]["id"], r.as_str());
        kinds.push(e["data"]["requestEvents"]["kind"].as_str().unwrap().to_string());
    }
    assert_eq!(kinds, ["CREATED", "APPROVED", "COMPLETED"]);
    let usdc = usdc_holding(&app, &t).await;
    assert_eq!((usdc["amount"].as_str(), usdc["held"].as_str()), (Some("9499.75"), Some("0")));
    let l = app
        .ok(
            Some(&t.owner.token),
            "query($o:ID!){ organization(id:$o){ accounts{ ledger{ edges{ node{ kind amount balanceAfter } } } } } }",
            json!({"o": t.org}),
        )
        .await;
    assert_eq!(
        l["organization"]["accounts"][0]["ledger"]["edges"][0]["node"],
        json!({"kind": "DEBIT", "amount": "500.25", "balanceAfter": "9499.75"})
    );

    // A maker who is also a signer executes in the same call when no approval is needed…
    let (ms, _) = app.add_member(&t.owner, &t.org, "makersigner@example.com", &["MAKER", "SIGNER"]).await;
    let mut v = w(&t, "USDC", "100");
    v["i"]["execute"] = json!(true);
    let d = app.ok(Some(&ms.token), WITHDRAW, v.clone()).await;
    assert_eq!(d["withdraw"]["request"]["status"], "COMPLETED");
    // …but above the threshold it waits, whoever asks.
    v["i"]["amount"] = json!("100.01");
    let d = app.ok(Some(&ms.token), WITHDRAW, v).await;
    assert_eq!(d["withdraw"]["request"]["status"], "PENDING_APPROVAL");
    let pending = d["withdraw"]["request"]["id"].as_str().unwrap().to_string();
    // Rejection releases the hold.
    app.ok(
        Some(&t.approver.token),
        "mutation($r:ID!){ rejectRequest(requestId:$r,reason:\"too much\"){ status } }",
        json!({"r": pending}),
    )
    .await;
    let usdc = usdc_holding(&app, &t).await;
    assert_eq!((usdc["amount"].as_str(), usdc["held"].as_str()), (Some("9399.75"), Some("0")));

    // Bad input and missing funds write nothing.
    for (asset, amount, want) in [
        ("USDC", "20000", "INSUFFICIENT_FUNDS"),
        ("USDC", "0.0000001", "BAD_INPUT"),
        ("USDC", "-5", "BAD_INPUT"),
        ("USDC", "0", "BAD_INPUT"),
    ] {
        let body = app.gql(Some(&t.maker.token), WITHDRAW, w(&t, asset, amount)).await;
        assert_eq!(code(&body).0, want, "{asset} {amount}: {body}");
    }
    let mut wrong = w(&t, "USDC", "1");
    wrong["i"]["addressId"] = json!(t.eth_address);
    assert_eq!(code(&app.gql(Some(&t.maker.token), WITHDRAW, wrong).await).0, "BAD_INPUT", "an ETH address for USDC");
    assert_eq!(usage(&app, &t, "ORGANIZATION").await["heldUsd"], "0");
}

async fn limit_layers_refuse_at_their_boundaries(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let org_layer = |per: Value, cap: Value| json!({"o": t.org, "i": {"layer": "ORGANIZATION", "perTransactionMaxUsd": per, "dailyCapUsd": cap}});
    app.ok(Some(&t.owner.token), LIMITS, org_layer(json!("1000.00"), json!("2000.00"))).await;
    // Per transaction: equal passes, one cent over fails; in ETH at 2000.02, 0.5 ETH is 1000.01.
    let body = app.gql(Some(&t.maker.token), WITHDRAW, w(&t, "USDC", "1000.01")).await;
    assert_eq!(code(&body), ("LIMIT_EXCEEDED", "ORGANIZATION"), "{body}");
    assert_eq!(
        code(&app.gql(Some(&t.maker.token), WITHDRAW, w(&t, "ETH", "0.5")).await),
        ("LIMIT_EXCEEDED", "ORGANIZATION")
    );
    let first = app.ok(Some(&t.maker.token), WITHDRAW, w(&t, "USDC", "1000.00")).await;
    assert_eq!(first["withdraw"]["request"]["status"], "APPROVED", "no policy: approved, waiting for a signer");
    app.ok(Some(&t.maker.token), WITHDRAW, w(&t, "ETH", "0.25")).await; // 500.005 USD
    app.ok(Some(&t.maker.token), WITHDRAW, w(&t, "USDC", "499.99")).await; // 1999.995 held
    let body = app.gql(Some(&t.maker.token), WITHDRAW, w(&t, "USDC", "0.006")).await;
    assert_eq!(code(&body), ("LIMIT_EXCEEDED", "ORGANIZATION"), "the daily cap: {body}");
    app.ok(Some(&t.maker.token), WITHDRAW, w(&t, "USDC", "0.005")).await; // exactly 2000
    let u = usage(&app, &t, "ORGANIZATION").await;
    assert_eq!((u["dailyCapUsd"].as_str(), u["remainingUsd"].as_str()), (Some("2000"), Some("0")), "{u}");

    // An omitted field keeps its value; null clears it.
    app.ok(Some(&t.owner.token), LIMITS, json!({"o": t.org, "i": {"layer": "ORGANIZATION", "dailyCapUsd": null}}))
        .await;
    let u = usage(&app, &t, "ORGANIZATION").await;
    assert_eq!((u["perTransactionMaxUsd"].as_str(), u["dailyCapUsd"].clone()), (Some("1000"), Value::Null));

    // The signer's own cap is checked at execution; the request stays APPROVED.
    let signer_layer = json!({"o": t.org, "i": {"layer": "SIGNER", "memberId": t.signer.1, "dailyCapUsd": "999.99"}});
    app.ok(Some(&t.owner.token), LIMITS, signer_layer).await;
    let r = first["withdraw"]["request"]["id"].as_str().unwrap();
    let body = app.gql(Some(&t.signer.0.token), EXECUTE, json!({"r": r})).await;
    assert_eq!(code(&body), ("LIMIT_EXCEEDED", "SIGNER"), "{body}");
    app.ok(
        Some(&t.owner.token),
        LIMITS,
        json!({"o": t.org, "i": {"layer": "SIGNER", "memberId": t.signer.1, "dailyCapUsd": "1000"}}),
    )
    .await;
    assert_eq!(app.ok(Some(&t.signer.0.token), EXECUTE, json!({"r": r})).await["execute"]["status"], "COMPLETED");
    let s = usage(&app, &t, "SIGNER").await;
    assert_eq!((s["usedTodayUsd"].as_str(), s["remainingUsd"].as_str()), (Some("1000"), Some("0")));
    let m = app
        .ok(
            Some(&t.owner.token),
            "query($o:ID!){ organization(id:$o){ members{ id signerUsage{ dailyCapUsd usedTodayUsd } } } }",
            json!({"o": t.org}),
        )
        .await;
    let signer = m["organization"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == t.signer.1.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        signer["signerUsage"],
        json!({"dailyCapUsd": "1000", "usedTodayUsd": "1000"}),
        "usage shown on the member too"
    );
    let o = usage(&app, &t, "ORGANIZATION").await;
    assert_eq!(o["usedTodayUsd"], "1000");

    // The API-key layer, for a service user with WITHDRAW.
    let create = "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"bot\",scopes:[WITHDRAW]}){ apiKey{ keyId secret } } }";
    let d = app.ok(Some(&t.owner.token), create, json!({"o": t.org})).await;
    let key = (
        d["createServiceUser"]["apiKey"]["keyId"].as_str().unwrap().to_string(),
        d["createServiceUser"]["apiKey"]["secret"].as_str().unwrap().to_string(),
    );
    app.ok(
        Some(&t.owner.token),
        LIMITS,
        json!({"o": t.org, "i": {"layer": "API_KEY", "apiKeyId": key.0, "perTransactionMaxUsd": "100"}}),
    )
    .await;
    let (_, body) = app.signed(&key, 1, WITHDRAW, w(&t, "USDC", "100.01")).await;
    assert_eq!(code(&body), ("LIMIT_EXCEEDED", "API_KEY"), "{body}");
    // A key's withdrawal always waits for a person: with no policy, for one approval…
    let (_, body) = app.signed(&key, 2, WITHDRAW, w(&t, "USDC", "100")).await;
    assert_eq!(body["data"]["withdraw"]["request"]["status"], "PENDING_APPROVAL", "{body}");
    assert_eq!(body["data"]["withdraw"]["request"]["approvalsRequired"], 1, "{body}");
    // …and with a policy, for its approvals.
    app.ok(
        Some(&t.owner.token),
        "mutation($o:ID!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:{requiredApprovals:1,alwaysRequireApproval:false}){ request{ status } } }",
        json!({"o": t.org}),
    )
    .await;
    let (_, body) = app.signed(&key, 3, WITHDRAW, w(&t, "USDC", "10")).await;
    assert_eq!(body["data"]["withdraw"]["request"]["status"], "PENDING_APPROVAL", "{body}");
    let k = usage(&app, &t, "API_KEY").await;
    assert_eq!((k["subject"].as_str(), k["heldUsd"].as_str()), (Some(key.0.as_str()), Some("110")));
    let d = app
        .ok(
            Some(&t.owner.token),
            "query($o:ID!){ organization(id:$o){ serviceUsers{ keys{ usage{ perTransactionMaxUsd heldUsd } } } } }",
            json!({"o": t.org}),
        )
        .await;
    assert_eq!(
        d["organization"]["serviceUsers"][0]["keys"][0]["usage"],
        json!({"perTransactionMaxUsd": "100", "heldUsd": "110"}),
        "and on the key"
    );
}

async fn concurrent_withdrawals_never_pass_the_daily_cap(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    app.ok(Some(&t.owner.token), LIMITS, json!({"o": t.org, "i": {"layer": "ORGANIZATION", "dailyCapUsd": "1000"}}))
        .await;
    let sends = (0..64).map(|_| app.gql(Some(&t.maker.token), WITHDRAW, w(&t, "USDC", "50")));
    let results = futures_util::future::join_all(sends).await;
    let accepted = results.iter().filter(|b| b.get("errors").is_none()).count();
    let refused = results.iter().filter(|b| code(b) == ("LIMIT_EXCEEDED", "ORGANIZATION")).count();
    assert_eq!(
        (accepted, refused),
        (20, 44),
        "{:?}",
        results.iter().find(|b| b.get("errors").is_some() && code(b).0 != "LIMIT_EXCEEDED")
    );
    let u = usage(&app, &t, "ORGANIZATION").await;
    assert_eq!((u["heldUsd"].as_str(), u["remainingUsd"].as_str()), (Some("1000"), Some("0")));
    let usdc = usdc_holding(&app, &t).await;
    assert_eq!(usdc["held"], "1000");
}

/// Withdrawals racing in one organisation are applied in batches (one
/// transaction for many, crate `rules`, `service::sequencer`), and a batch
/// decides each against what the earlier ones left: refusals of every kind
/// in the middle of a batch write nothing and fail nothing else, each caller
/// gets its own answer, and the trail holds exactly the accepted ones, in a
/// chain that verifies.
async fn batched_withdrawals_answer_each_caller(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    app.ok(Some(&t.owner.token), LIMITS, json!({"o": t.org, "i": {"layer": "ORGANIZATION", "dailyCapUsd": "3000"}}))
        .await;
    // 0.5 ETH at 2,000.02 is 1,000.01 USD, leaving 1,999.99 of the cap.
    let eth = app.ok(Some(&t.maker.token), WITHDRAW, w(&t, "ETH", "0.5")).await;
    let eth = eth["withdraw"]["request"]["id"].as_str().unwrap().to_string();
    let (batches_before, _) = app.state.sequencer.batches();
    // Racing: 48 USDC payouts of 50 (39 fit), 8 ETH payouts beyond the
    // balance, 8 to an address whitelisted for another asset.
    let bodies: Vec<Value> = (0..64)
        .map(|n| match n % 8 {
            3 => w(&t, "ETH", "11"),
            5 => json!({"o": t.org, "i": {"accountId": t.account, "asset": "USDC", "amount": "1", "addressId": t.eth_address}}),
            _ => w(&t, "USDC", "50"),
        })
        .collect();
    let results =
        futures_util::future::join_all(bodies.iter().map(|b| app.gql(Some(&t.maker.token), WITHDRAW, b.clone()))).await;
    let mut accepted = std::collections::BTreeSet::new();
    let mut refusals: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &results {
        match r["data"]["withdraw"]["request"]["id"].as_str() {
            Some(id) => assert!(accepted.insert(id.to_string()), "one id per caller: {r}"),
            None => *refusals.entry(code(r).0.to_string()).or_default() += 1,
        }
    }
    assert_eq!(accepted.len(), 39, "{refusals:?}");
    assert_eq!(refusals.get("LIMIT_EXCEEDED"), Some(&9), "{refusals:?}");
    assert_eq!(refusals.get("INSUFFICIENT_FUNDS"), Some(&8), "{refusals:?}");
    assert_eq!(refusals.get("BAD_INPUT"), Some(&8), "{refusals:?}");
    accepted.insert(eth);
    let u = usage(&app, &t, "ORGANIZATION").await;
    assert_eq!(u["heldUsd"], "2950.01", "{u}");
    assert_eq!(usdc_holding(&app, &t).await["held"], "1950");

    let (batches_after, _) = app.state.sequencer.batches();
    assert!(
        batches_after - batches_before < 64,
        "64 racing withdrawals took {} transactions",
        batches_after - batches_before
    );
    let trail = app
        .ok(
            Some(&t.owner.token),
            "query($o:ID!){ organization(id:$o){ auditVerification{ valid } requests(first:100){ nodes{ id } } } }",
            json!({"o": t.org}),
        )
        .await;
    assert_eq!(trail["organization"]["auditVerification"]["valid"], true, "{trail}");
    let listed: std::collections::BTreeSet<String> = trail["organization"]["requests"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .filter(|id| accepted.contains(id))
        .collect();
    assert_eq!(listed, accepted, "every accepted withdrawal is there, once");
}

/// A batch locks what it needs in the order a lone settlement does (holding,
/// counters, the organisation's row): payouts in batches racing a signer's
/// executions of other withdrawals must all go through, none of them lost to
/// a deadlock (on PostgreSQL, `deadlock detected` would fail one side).
async fn batches_and_executions_race_without_deadlock(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let mut approved = Vec::new();
    for _ in 0..16 {
        let d = app.ok(Some(&t.maker.token), WITHDRAW, w(&t, "ETH", "0.1")).await;
        assert_eq!(d["withdraw"]["request"]["status"], "APPROVED", "no policy: waiting for a signer");
        approved.push(d["withdraw"]["request"]["id"].as_str().unwrap().to_string());
    }
    // And someone who makes and settles payouts in one call: theirs settle
    // in the middle of the batches (what is pending is written first).
    let (payer, _) = app.add_member(&t.owner, &t.org, "payer@example.com", &["MAKER", "SIGNER"]).await;
    let mut at_once = w(&t, "USDC", "2");
    at_once["i"]["execute"] = json!(true);
    let (maker, signer) = (&t.maker.token, &t.signer.0.token);
    let payouts = futures_util::future::join_all((0..128).map(|n| match n % 8 {
        0 => app.gql(Some(&payer.token), WITHDRAW, at_once.clone()),
        _ => app.gql(Some(maker), WITHDRAW, w(&t, "USDC", "1")),
    }));
    let executions =
        futures_util::future::join_all(approved.iter().map(|r| app.gql(Some(signer), EXECUTE, json!({"r": r}))));
    let (payouts, executions) = tokio::join!(payouts, executions);
    for body in payouts.iter().chain(&executions) {
        assert!(body.get("errors").is_none(), "{body}");
    }
    let settled = executions.iter().filter(|b| b["data"]["execute"]["withdrawal"]["state"] == "SETTLED").count();
    assert_eq!(settled, 16);
    let completed = payouts.iter().filter(|b| b["data"]["withdraw"]["request"]["status"] == "COMPLETED").count();
    assert_eq!(completed, 16, "the payer's 16 settled as they were made");
    // 112 of 1 held; 16 of 2 settled out of the 10,000.
    let usdc = usdc_holding(&app, &t).await;
    assert_eq!((usdc["held"].as_str(), usdc["amount"].as_str()), (Some("112"), Some("9968")), "{usdc}");
    let v = app
        .ok(
            Some(&t.owner.token),
            "query($o:ID!){ organization(id:$o){ auditVerification{ valid } } }",
            json!({"o": t.org}),
        )
        .await;
    assert_eq!(v["organization"]["auditVerification"]["valid"], true);
}

/// A batch reads the organisation's settings once (`rules`,
/// `service::org_reads`): a change racing the batch must still hold from the
/// moment it is made. Payouts race the removal of their address; every
/// payout the trail records after the removal would have gone to an address
/// no longer whitelisted, so there must be none, and each payout after it is
/// refused as the address being gone.
async fn a_whitelist_change_racing_a_batch_holds_from_its_moment(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let mut makers = vec![t.maker.token.clone()];
    for n in 2..=4 {
        makers.push(app.add_member(&t.owner, &t.org, &format!("maker{n}@example.com"), &["MAKER"]).await.0.token);
    }
    // The removal can land before or after every payout of a round; up to
    // three rounds, each on an address of its own, until one lands mid-race.
    let mut raced = false;
    for round in 0..3 {
        let address = if round == 0 { t.usdc_address.clone() } else { new_usdc_address(&app, &t, round).await };
        let (accepted, gone) = payouts_racing_a_removal(&app, &t, &makers, &address).await;
        raced = accepted > 0 && gone > 0;
        if raced {
            break;
        }
    }
    assert!(raced, "in three rounds the removal never landed between payouts");
}

/// 240 payouts to `address` at once from four makers (each within the
/// per-person burst rate), about four batches; the removal is sent when the
/// first is answered, while the rest are queued or in a batch. Checks the
/// trail and gives (accepted, refused as gone).
async fn payouts_racing_a_removal(app: &TestApp, t: &Treasury, makers: &[String], address: &str) -> (usize, usize) {
    const REMOVE: &str = "mutation($o:ID!,$a:ID!){ removeAddress(orgId:$o,addressId:$a){ request{ status } } }";
    const TRAIL: &str =
        "query($o:ID!){ organization(id:$o){ auditLog(first:300){ nodes{ seq action } } auditVerification{ valid } } }";
    let seq_of = |r: &Value| r["seq"].as_i64().unwrap();
    let trail = |d: &Value| d["organization"]["auditLog"]["nodes"].as_array().unwrap().clone();
    let before = app.ok(Some(&t.owner.token), TRAIL, json!({"o": t.org})).await;
    let since = trail(&before).first().map(seq_of).unwrap_or(0);
    let held_before: rust_decimal::Decimal = usdc_holding(app, t).await["held"].as_str().unwrap().parse().unwrap();

    let payout =
        json!({"o": t.org, "i": {"accountId": t.account, "asset": "USDC", "amount": "1", "addressId": address}});
    let mut payouts: futures_util::stream::FuturesUnordered<_> =
        (0..240).map(|n| app.gql(Some(&makers[n % makers.len()]), WITHDRAW, payout.clone())).collect();
    let first = payouts.next().await.expect("a payout");
    let removal = app.ok(Some(&t.owner.token), REMOVE, json!({"o": t.org, "a": address}));
    let (mut results, removed): (Vec<Value>, Value) = tokio::join!(payouts.collect(), removal);
    results.push(first);
    assert_eq!(removed["removeAddress"]["request"]["status"], "COMPLETED");
    let accepted = results.iter().filter(|b| b.get("errors").is_none()).count();
    let gone = results.iter().filter(|b| code(b).0 == "NOT_FOUND").count();
    assert_eq!(
        accepted + gone,
        240,
        "{:?}",
        results.iter().find(|b| b.get("errors").is_some() && code(b).0 != "NOT_FOUND")
    );

    let after = app.ok(Some(&t.owner.token), TRAIL, json!({"o": t.org})).await;
    assert_eq!(after["organization"]["auditVerification"]["valid"], true);
    let round: Vec<Value> = trail(&after).into_iter().filter(|r| seq_of(r) > since).collect();
    let removal_seq =
        round.iter().find(|r| r["action"] == "REMOVE_ADDRESS").map(seq_of).expect("the removal is audited");
    let recorded: Vec<i64> = round.iter().filter(|r| r["action"] == "WITHDRAWAL_REQUESTED").map(seq_of).collect();
    assert_eq!(recorded.len(), accepted, "one record per accepted payout");
    let late: Vec<&i64> = recorded.iter().filter(|&&s| s > removal_seq).collect();
    assert!(late.is_empty(), "{} payouts recorded after their address was removed (at {removal_seq})", late.len());
    let held: rust_decimal::Decimal = usdc_holding(app, t).await["held"].as_str().unwrap().parse().unwrap();
    assert_eq!(held - held_before, rust_decimal::Decimal::from(accepted));
    (accepted, gone)
}

/// Another whitelisted USDC address of the treasury's account.
async fn new_usdc_address(app: &TestApp, t: &Treasury, n: usize) -> String {
    let add = "mutation($o:ID!,$i:AddressInput!){ addAddress(orgId:$o,input:$i){ request{ status } } }";
    let address = format!("0x{n:040x}");
    let input = json!({"accountId": t.account, "asset": "USDC", "network": "ethereum", "address": address, "label": format!("USDC {n}")});
    let d = app.ok(Some(&t.owner.token), add, json!({"o": t.org, "i": input})).await;
    assert_eq!(d["addAddress"]["request"]["status"], "COMPLETED");
    let list = app
        .ok(
            Some(&t.owner.token),
            "query($o:ID!){ organization(id:$o){ addresses{ id address } } }",
            json!({"o": t.org}),
        )
        .await;
    list["organization"]["addresses"].as_array().unwrap().iter().find(|a| a["address"] == address.as_str()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn counters_belong_to_the_utc_day(backend: Backend) {
    // The worker's cron ticks on the wall clock, so the reset job does not run
    // at this test-clock midnight: the new day must not depend on it.
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    app.ok(Some(&t.owner.token), LIMITS, json!({"o": t.org, "i": {"layer": "ORGANIZATION", "dailyCapUsd": "100"}}))
        .await;
    // 23:59 UTC today (the test clock), with the reset worker nowhere near running.
    let now = app.now();
    let before_midnight = now.date_naive().and_hms_opt(23, 58, 0).unwrap().and_utc();
    app.clock.set(before_midnight);
    let maker = app.sign_in(&t.maker).await;
    let owner = app.sign_in(&t.owner).await;
    assert_eq!(app.now().date_naive(), before_midnight.date_naive(), "still before midnight");
    app.ok(Some(&maker), WITHDRAW, w(&t, "USDC", "100")).await;
    assert_eq!(code(&app.gql(Some(&maker), WITHDRAW, w(&t, "USDC", "1")).await), ("LIMIT_EXCEEDED", "ORGANIZATION"));
    app.clock.advance(chrono::Duration::minutes(2));
    let d = app.ok(Some(&maker), WITHDRAW, w(&t, "USDC", "100")).await;
    assert_eq!(d["withdraw"]["request"]["status"], "APPROVED", "a new UTC day, a new counter");
    let u = app.ok(Some(&owner), USAGE, json!({"o": t.org})).await;
    assert_eq!(u["organization"]["usage"][0]["heldUsd"], "100", "today's counter holds only today's");

    // The daily job keeps the counter table small, and is idempotent.
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.db().await;
    let count = |db: sea_orm::DatabaseConnection| async move {
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT id FROM limit_counters"))
            .await
            .unwrap();
        rows.len()
    };
    assert_eq!(count(db.clone()).await, 2);
    app.clock.advance(chrono::Duration::days(36));
    app.run_daily_jobs().await;
    app.run_daily_jobs().await;
    assert_eq!(count(db).await, 0);
}

/// Withdrawals move the organisation's chain but not its settings, so a
/// member's resolved access outlives them (`rules::cache`); a change to the
/// member's roles must still hold at their very next request, when it is
/// asked for (nothing changes yet), and when its approval applies it.
async fn a_role_taken_away_between_withdrawals_holds_at_the_next(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let (maker2, maker2_member) = app.add_member(&t.owner, &t.org, "maker2@example.com", &["MAKER"]).await;
    let (admin, _) = app.add_member(&t.owner, &t.org, "admin@example.com", &["ADMIN"]).await;
    let policy = "mutation($o:ID!){ setPolicy(orgId:$o,workflow:MANAGE_ACCESS,input:{requiredApprovals:1,alwaysRequireApproval:true}){ request{ status } } }";
    let d = app.ok(Some(&t.owner.token), policy, json!({"o": t.org})).await;
    assert_eq!(d["setPolicy"]["request"]["status"], "COMPLETED");
    // Both makers' access is resolved and reused while withdrawals move the chain.
    for _ in 0..3 {
        for maker in [&t.maker, &maker2] {
            let d = app.ok(Some(&maker.token), WITHDRAW, w(&t, "USDC", "1")).await;
            assert_eq!(d["withdraw"]["request"]["status"], "APPROVED");
        }
    }
    let set_roles =
        "mutation($o:ID!,$m:ID!){ setMemberRoles(orgId:$o,memberId:$m,roles:[READ_ONLY]){ request{ id status } } }";
    let d = app.ok(Some(&t.owner.token), set_roles, json!({"o": t.org, "m": maker2_member})).await;
    assert_eq!(d["setMemberRoles"]["request"]["status"], "PENDING_APPROVAL");
    let change = d["setMemberRoles"]["request"]["id"].as_str().unwrap().to_string();
    // Asked for, not applied: maker2 is still a maker.
    let d = app.ok(Some(&maker2.token), WITHDRAW, w(&t, "USDC", "1")).await;
    assert_eq!(d["withdraw"]["request"]["status"], "APPROVED");
    let d = app.ok(Some(&admin.token), APPROVE, json!({"r": change})).await;
    assert_eq!(d["approveRequest"]["status"], "COMPLETED");
    let body = app.gql(Some(&maker2.token), WITHDRAW, w(&t, "USDC", "1")).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "the approved change holds at once: {body}");
    // The other maker, whose access did not change, goes on.
    let d = app.ok(Some(&t.maker.token), WITHDRAW, w(&t, "USDC", "1")).await;
    assert_eq!(d["withdraw"]["request"]["status"], "APPROVED");
}

/// The settings version is kept by the database, not by the code that
/// appends: a process of an earlier release (which knows nothing of it)
/// changing a member's roles beside newer processes, as in a rolling
/// upgrade, still ends the access they cached; its money records do not.
async fn an_earlier_release_changing_roles_ends_cached_access(backend: Backend) {
    use api::domain::ActorKind;
    use entity::{audit_record, member, organization};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let (maker2, maker2_member) = app.add_member(&t.owner, &t.org, "maker2@example.com", &["MAKER"]).await;
    for _ in 0..2 {
        let d = app.ok(Some(&maker2.token), WITHDRAW, w(&t, "USDC", "1")).await;
        assert_eq!(d["withdraw"]["request"]["status"], "APPROVED");
    }
    let db = app.db().await;
    let versions = || async {
        let o = organization::Entity::find_by_id(&t.org).one(&db).await.unwrap().unwrap();
        (o.audit_seq, o.settings_seq)
    };
    // What an earlier release writes: its change, a record, the chain's new head.
    let earlier_release = |action: &'static str, seq: i64| audit_record::ActiveModel {
        org_id: Set(t.org.clone()),
        seq: Set(seq),
        actor_kind: Set(ActorKind::User),
        actor_id: Set("earlier-release".into()),
        action: Set(action.into()),
        target: Set(None),
        before: Set(None),
        after: Set(None),
        request_id: Set(None),
        at: Set(chrono::Utc::now()),
        prev_hash: Set("earlier".into()),
        hash: Set(format!("earlier-{seq}")),
        mac: Set("earlier".into()),
        ..Default::default()
    };
    let (seq, settings) = versions().await;
    assert!(settings < seq, "the withdrawals moved the chain, not the settings: {settings} < {seq}");
    earlier_release("ACCOUNT_CREDITED", seq + 1).insert(&db).await.unwrap();
    assert_eq!(versions().await.1, settings, "a money record leaves the settings version alone");
    member::Entity::update_many()
        .col_expr(member::Column::Roles, Expr::value("READ_ONLY"))
        .filter(member::Column::Id.eq(&maker2_member))
        .exec(&db)
        .await
        .unwrap();
    earlier_release("SET_MEMBER_ROLES", seq + 2).insert(&db).await.unwrap();
    organization::Entity::update_many()
        .col_expr(organization::Column::AuditSeq, Expr::value(seq + 2))
        .filter(organization::Column::Id.eq(&t.org))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(versions().await, (seq + 2, seq + 2));
    let body = app.gql(Some(&maker2.token), WITHDRAW, w(&t, "USDC", "1")).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
}

both_backends!(
    maker_approver_signer,
    limit_layers_refuse_at_their_boundaries,
    concurrent_withdrawals_never_pass_the_daily_cap,
    batched_withdrawals_answer_each_caller,
    batches_and_executions_race_without_deadlock,
    a_whitelist_change_racing_a_batch_holds_from_its_moment,
    counters_belong_to_the_utc_day,
    a_role_taken_away_between_withdrawals_holds_at_the_next,
    an_earlier_release_changing_roles_ends_cached_access,
);
