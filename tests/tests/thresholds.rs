//! Who needs approval when (issue 17; SPEC §4, §5), end to end on both
//! backends: the organisation's approval threshold decides for every
//! initiator, a member's own lower threshold wins, service users follow the
//! threshold and otherwise wait, and straight-through payouts settle in one
//! call only for a key bounded by both its caps — its daily cap holding
//! exactly under a 64-way race.

use serde_json::{Value, json};
use tests::{Backend, Session, TestApp, both_backends, spawn};

const WITHDRAW: &str = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status approvalsRequired waitingReason withdrawal{ usdValue state executedBy settlementReference } } } }";
const SIMULATE: &str = "query($o:ID!,$i:WithdrawalInput!){ simulateWithdrawal(orgId:$o,input:$i){ outcome status approvalsRequired waitingReason decidingThreshold{ layer thresholdUsd usdValue above } } }";
const EXECUTE: &str = "mutation($r:ID!){ execute(requestId:$r){ id status withdrawal{ state executedBy } } }";
const APPROVE: &str = "mutation($r:ID!){ approveRequest(requestId:$r){ id status } }";
const POLICY: &str = "mutation($o:ID!,$i:PolicyInput!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:$i){ request{ status } } }";
const LIMITS: &str = "mutation($o:ID!,$i:RiskLimitsPatch!){ setRiskLimits(orgId:$o,input:$i){ request{ status } } }";
const USAGE: &str = "query($o:ID!){ organization(id:$o){ usage{ layer subject dailyCapUsd usedTodayUsd heldUsd remainingUsd approvalThresholdUsd } } }";
const UPDATE_KEY: &str =
    "mutation($o:ID!,$k:ID!,$p:ApiKeyPatch!){ updateApiKey(orgId:$o,keyId:$k,input:$p){ request{ status } } }";
const HOLDINGS: &str = "query($o:ID!){ organization(id:$o){ accounts{ holdings{ asset amount held } } } }";

struct Treasury {
    org: String,
    account: String,
    owner: Session,
    maker: (Session, String),
    approver: Session,
    signer: Session,
    address: String,
}

/// Owner, a MAKER, an APPROVER and a SIGNER; 10 000 USDC; one whitelisted address.
async fn treasury(app: &TestApp) -> Treasury {
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let account = app.first_account(&owner, &org).await;
    let maker = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    let (approver, _) = app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    let (signer, _) = app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let address = app.whitelist(&owner, &org, &account, "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").await;
    app.credit(&account, "USDC", "10000", "custody-1").await;
    Treasury { org, account, owner, maker, approver, signer, address }
}

fn w(t: &Treasury, amount: &str) -> Value {
    json!({"o": t.org, "i": {"accountId": t.account, "asset": "USDC", "amount": amount, "addressId": t.address}})
}

fn code(body: &Value) -> (&str, &str) {
    let ext = &body["errors"][0]["extensions"];
    (ext["code"].as_str().unwrap_or(""), ext["layer"].as_str().unwrap_or(""))
}

async fn policy(app: &TestApp, t: &Treasury, approvals: i64, always: bool, threshold: Value) {
    let i = json!({"requiredApprovals": approvals, "alwaysRequireApproval": always, "approvalThresholdUsd": threshold});
    let d = app.ok(Some(&t.owner.token), POLICY, json!({"o": t.org, "i": i})).await;
    assert_eq!(d["setPolicy"]["request"]["status"], "COMPLETED");
}

async fn withdraw(app: &TestApp, token: &str, vars: Value) -> Value {
    app.ok(Some(token), WITHDRAW, vars).await["withdraw"]["request"].clone()
}

async fn usage_of(app: &TestApp, t: &Treasury, layer: &str, subject: &str) -> Value {
    let d = app.ok(Some(&t.owner.token), USAGE, json!({"o": t.org})).await;
    d["organization"]["usage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["layer"] == layer && u["subject"] == subject)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn usdc(app: &TestApp, t: &Treasury) -> (String, String) {
    let h = app.ok(Some(&t.owner.token), HOLDINGS, json!({"o": t.org})).await;
    let h = h["organization"]["accounts"][0]["holdings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["asset"] == "USDC")
        .unwrap()
        .clone();
    (h["amount"].as_str().unwrap().to_string(), h["held"].as_str().unwrap().to_string())
}

async fn maker_and_the_organisation_threshold(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let maker = &t.maker.0.token;
    policy(&app, &t, 1, false, json!("100")).await;

    // At and one cent below the threshold: no approval, APPROVED for a signer.
    for amount in ["100", "99.99"] {
        let r = withdraw(&app, maker, w(&t, amount)).await;
        assert_eq!(
            (r["status"].as_str(), r["approvalsRequired"].as_i64()),
            (Some("APPROVED"), Some(0)),
            "{amount}: {r}"
        );
        let d = app.ok(Some(&t.signer.token), EXECUTE, json!({"r": r["id"]})).await;
        assert_eq!(d["execute"]["status"], "COMPLETED", "a signer settles it");
    }
    // One cent above: waits for the policy's approvals, and says why.
    let r = withdraw(&app, maker, w(&t, "100.01")).await;
    assert_eq!((r["status"].as_str(), r["approvalsRequired"].as_i64()), (Some("PENDING_APPROVAL"), Some(1)), "{r}");
    assert!(r["waitingReason"].as_str().unwrap().starts_with("ABOVE_THRESHOLD"), "{r}");
    assert_eq!(app.err(Some(&t.signer.token), EXECUTE, json!({"r": r["id"]})).await, "CONFLICT", "not approved yet");
    assert_eq!(
        app.ok(Some(&t.approver.token), APPROVE, json!({"r": r["id"]})).await["approveRequest"]["status"],
        "APPROVED"
    );
    assert_eq!(app.ok(Some(&t.signer.token), EXECUTE, json!({"r": r["id"]})).await["execute"]["status"], "COMPLETED");

    // The dry run answers the same and names the threshold that decided.
    for (amount, outcome, status, above) in
        [("100", "COMPLETES_NOW", "APPROVED", false), ("100.01", "WAITS_FOR_APPROVAL", "PENDING_APPROVAL", true)]
    {
        let sim = app.ok(Some(maker), SIMULATE, w(&t, amount)).await["simulateWithdrawal"].clone();
        assert_eq!((sim["outcome"].as_str(), sim["status"].as_str()), (Some(outcome), Some(status)), "{sim}");
        assert_eq!(
            sim["decidingThreshold"],
            json!({"layer": "ORGANIZATION", "thresholdUsd": "100", "usdValue": amount, "above": above}),
            "{sim}"
        );
        let real = withdraw(&app, maker, w(&t, amount)).await;
        assert_eq!(real["status"], sim["status"], "the real call agrees");
    }

    // A maker without EXECUTE cannot settle in the same call; a maker-signer can.
    let mut v = w(&t, "50");
    v["i"]["execute"] = json!(true);
    assert_eq!(code(&app.gql(Some(maker), WITHDRAW, v.clone()).await).0, "FORBIDDEN");
    let (ms, _) = app.add_member(&t.owner, &t.org, "makersigner@example.com", &["MAKER", "SIGNER"]).await;
    let r = withdraw(&app, &ms.token, v.clone()).await;
    assert_eq!((r["status"].as_str(), r["withdrawal"]["state"].as_str()), (Some("COMPLETED"), Some("SETTLED")), "{r}");

    // alwaysRequireApproval: every withdrawal waits, however small.
    policy(&app, &t, 1, true, json!("100")).await;
    assert_eq!(withdraw(&app, maker, w(&t, "1")).await["status"], "PENDING_APPROVAL");
    assert_eq!(withdraw(&app, &ms.token, v.clone()).await["status"], "PENDING_APPROVAL");
    let sim = app.ok(Some(maker), SIMULATE, w(&t, "1")).await["simulateWithdrawal"].clone();
    assert_eq!(sim["outcome"], "WAITS_FOR_APPROVAL", "{sim}");

    // Without a threshold the present rule: makers wait, EXECUTE holders complete.
    policy(&app, &t, 1, false, Value::Null).await;
    let r = withdraw(&app, maker, w(&t, "1")).await;
    assert_eq!((r["status"].as_str(), r["waitingReason"].as_str()), (Some("PENDING_APPROVAL"), None), "{r}");
    assert_eq!(withdraw(&app, &ms.token, v).await["status"], "COMPLETED");
    let sim = app.ok(Some(maker), SIMULATE, w(&t, "1")).await["simulateWithdrawal"].clone();
    assert_eq!(sim["decidingThreshold"], Value::Null, "no threshold decided: {sim}");
}

async fn a_members_own_threshold_below_the_organisations(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let (maker, maker_id) = (&t.maker.0.token, t.maker.1.clone());
    policy(&app, &t, 1, false, json!("100")).await;
    let signer_layer = |patch: Value| {
        let mut i = json!({"layer": "SIGNER", "memberId": maker_id});
        i.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
        json!({"o": t.org, "i": i})
    };
    app.ok(Some(&t.owner.token), LIMITS, signer_layer(json!({"approvalThresholdUsd": "40"}))).await;

    // The lower threshold wins: 50 is under the organisation's 100, above the maker's 40.
    let r = withdraw(&app, maker, w(&t, "50")).await;
    assert_eq!(r["status"], "PENDING_APPROVAL", "{r}");
    assert!(r["waitingReason"].as_str().unwrap().contains("own approval threshold of 40"), "{r}");
    assert_eq!(withdraw(&app, maker, w(&t, "40")).await["status"], "APPROVED", "at their own threshold");
    let sim = app.ok(Some(maker), SIMULATE, w(&t, "40.01")).await["simulateWithdrawal"].clone();
    assert_eq!(
        sim["decidingThreshold"],
        json!({"layer": "OPERATOR", "thresholdUsd": "40", "usdValue": "40.01", "above": true}),
        "{sim}"
    );
    // Others keep the organisation's.
    let (other, _) = app.add_member(&t.owner, &t.org, "maker2@example.com", &["MAKER"]).await;
    assert_eq!(withdraw(&app, &other.token, w(&t, "50")).await["status"], "APPROVED");

    // usage and the member show it; an omitted field keeps it.
    let user_id = app.ok(Some(maker), "{ viewer { user { id } } }", json!({})).await["viewer"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.ok(Some(&t.owner.token), LIMITS, signer_layer(json!({"dailyCapUsd": "5000"}))).await;
    let u = usage_of(&app, &t, "SIGNER", &user_id).await;
    assert_eq!((u["approvalThresholdUsd"].as_str(), u["dailyCapUsd"].as_str()), (Some("40"), Some("5000")), "{u}");
    let m = app
        .ok(
            Some(&t.owner.token),
            "query($o:ID!){ organization(id:$o){ members{ id approvalThresholdUsd } } }",
            json!({"o": t.org}),
        )
        .await;
    let mine =
        m["organization"]["members"].as_array().unwrap().iter().find(|m| m["id"] == maker_id.as_str()).unwrap().clone();
    assert_eq!(mine["approvalThresholdUsd"], "40");

    // A threshold higher than the organisation's changes nothing: the lower wins.
    app.ok(Some(&t.owner.token), LIMITS, signer_layer(json!({"approvalThresholdUsd": "500"}))).await;
    assert_eq!(withdraw(&app, maker, w(&t, "100.01")).await["status"], "PENDING_APPROVAL");
    // null clears it.
    app.ok(Some(&t.owner.token), LIMITS, signer_layer(json!({"approvalThresholdUsd": null}))).await;
    assert_eq!(withdraw(&app, maker, w(&t, "50")).await["status"], "APPROVED");
    assert_eq!(usage_of(&app, &t, "SIGNER", &user_id).await["approvalThresholdUsd"], Value::Null);
    // Without an organisation threshold a member's own only adds waiting: a
    // maker-signer settles 30 at once, but their 50 waits for the policy's approval.
    let (ms, ms_id) = app.add_member(&t.owner, &t.org, "makersigner@example.com", &["MAKER", "SIGNER"]).await;
    let own = json!({"o": t.org, "i": {"layer": "SIGNER", "memberId": ms_id, "approvalThresholdUsd": "40"}});
    app.ok(Some(&t.owner.token), LIMITS, own).await;
    policy(&app, &t, 1, false, Value::Null).await;
    let mut v = w(&t, "30");
    v["i"]["execute"] = json!(true);
    assert_eq!(withdraw(&app, &ms.token, v.clone()).await["status"], "COMPLETED");
    v["i"]["amount"] = json!("50");
    let r = withdraw(&app, &ms.token, v.clone()).await;
    assert_eq!((r["status"].as_str(), r["approvalsRequired"].as_i64()), (Some("PENDING_APPROVAL"), Some(1)), "{r}");
    assert_eq!(withdraw(&app, maker, w(&t, "10")).await["status"], "PENDING_APPROVAL", "makers wait as before");
    // Only the SIGNER layer has one.
    let body = app
        .gql(
            Some(&t.owner.token),
            LIMITS,
            json!({"o": t.org, "i": {"layer": "ORGANIZATION", "approvalThresholdUsd": "10"}}),
        )
        .await;
    assert_eq!(code(&body).0, "BAD_INPUT", "{body}");
}

/// A service user with WITHDRAW, made by the Owner (the APPROVER stays an
/// eligible approver outside its creator).
async fn bot(app: &TestApp, t: &Treasury) -> (String, String) {
    let create = "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"payouts\",scopes:[WITHDRAW,QUERY_FUNDS],nonceWindow:100000}){ request{ status } apiKey{ keyId secret } } }";
    let d = app.ok(Some(&t.owner.token), create, json!({"o": t.org})).await;
    let k = &d["createServiceUser"]["apiKey"];
    (k["keyId"].as_str().unwrap().to_string(), k["secret"].as_str().unwrap().to_string())
}

async fn service_user_below_and_above(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let key = bot(&app, &t).await;
    let mut nonce = 0;
    let mut call = async |q: &str, v: Value| {
        nonce += 1;
        let (status, body) = app.signed(&key, nonce, q, v).await;
        assert_eq!(status, 200, "{body}");
        body
    };
    // No policy: a machine waits for one approval.
    let b = call(WITHDRAW, w(&t, "50")).await;
    let r = &b["data"]["withdraw"]["request"];
    assert_eq!((r["status"].as_str(), r["approvalsRequired"].as_i64()), (Some("PENDING_APPROVAL"), Some(1)), "{b}");
    assert!(r["waitingReason"].as_str().unwrap().starts_with("SERVICE_USER"), "{b}");
    // A policy without a threshold: still waits.
    policy(&app, &t, 1, false, Value::Null).await;
    assert_eq!(call(WITHDRAW, w(&t, "50")).await["data"]["withdraw"]["request"]["status"], "PENDING_APPROVAL");
    // With a threshold: at or below it APPROVED for a signer (not settled), above it waits.
    policy(&app, &t, 1, false, json!("100")).await;
    let b = call(WITHDRAW, w(&t, "100")).await;
    let r = b["data"]["withdraw"]["request"].clone();
    assert_eq!((r["status"].as_str(), r["withdrawal"]["state"].as_str()), (Some("APPROVED"), Some("HELD")), "{b}");
    let d = app.ok(Some(&t.signer.token), EXECUTE, json!({"r": r["id"]})).await;
    assert_eq!(d["execute"]["status"], "COMPLETED");
    let b = call(WITHDRAW, w(&t, "100.01")).await;
    let r = b["data"]["withdraw"]["request"].clone();
    assert_eq!(r["status"], "PENDING_APPROVAL", "{b}");
    assert!(r["waitingReason"].as_str().unwrap().starts_with("ABOVE_THRESHOLD"), "{b}");
    // The service user cannot execute, nor can its creator approve; the approver can.
    let b = call(EXECUTE, json!({"r": r["id"]})).await;
    assert_eq!(code(&b).0, "CONFLICT", "{b}");
    assert_eq!(app.err(Some(&t.owner.token), APPROVE, json!({"r": r["id"]})).await, "SELF_APPROVAL", "its creator");
    assert_eq!(
        app.ok(Some(&t.approver.token), APPROVE, json!({"r": r["id"]})).await["approveRequest"]["status"],
        "APPROVED"
    );
    let b = call(EXECUTE, json!({"r": r["id"]})).await;
    assert_eq!(code(&b).0, "FORBIDDEN", "a service user is no signer: {b}");
    assert_eq!(app.ok(Some(&t.signer.token), EXECUTE, json!({"r": r["id"]})).await["execute"]["status"], "COMPLETED");
    // The dry run agrees.
    let b = call(SIMULATE, w(&t, "100.01")).await;
    assert_eq!(b["data"]["simulateWithdrawal"]["outcome"], "WAITS_FOR_APPROVAL", "{b}");
    let b = call(SIMULATE, w(&t, "99")).await;
    assert_eq!(b["data"]["simulateWithdrawal"]["status"], "APPROVED", "{b}");
    // alwaysRequireApproval holds for machines too.
    policy(&app, &t, 1, true, json!("100")).await;
    assert_eq!(call(WITHDRAW, w(&t, "1")).await["data"]["withdraw"]["request"]["status"], "PENDING_APPROVAL");
}

async fn key_caps(app: &TestApp, t: &Treasury, key: &str, per_tx: Value, daily: Value) -> Value {
    let i = json!({"layer": "API_KEY", "apiKeyId": key, "perTransactionMaxUsd": per_tx, "dailyCapUsd": daily});
    app.gql(Some(&t.owner.token), LIMITS, json!({"o": t.org, "i": i})).await
}

async fn straight_through_payouts(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    policy(&app, &t, 1, false, json!("100")).await;
    let key = bot(&app, &t).await;
    let auto = |on: bool| json!({"o": t.org, "k": key.0, "p": {"autoExecute": on}});

    // Refused without both key caps.
    assert_eq!(app.err(Some(&t.owner.token), UPDATE_KEY, auto(true)).await, "BAD_INPUT");
    assert!(key_caps(&app, &t, &key.0, json!("200"), Value::Null).await["errors"].is_null());
    assert_eq!(
        app.err(Some(&t.owner.token), UPDATE_KEY, auto(true)).await,
        "BAD_INPUT",
        "a maximum alone is not enough"
    );
    assert!(key_caps(&app, &t, &key.0, json!("200"), json!("300")).await["errors"].is_null());
    // A MANAGE_ACCESS operation under its policy: here it waits for another admin.
    let (admin2, _) = app.add_member(&t.owner, &t.org, "admin2@example.com", &["ADMIN"]).await;
    let access_policy = "mutation($o:ID!){ setPolicy(orgId:$o,workflow:MANAGE_ACCESS,input:{requiredApprovals:1,alwaysRequireApproval:true}){ request{ status } } }";
    app.ok(Some(&t.owner.token), access_policy, json!({"o": t.org})).await;
    let q =
        "mutation($o:ID!,$k:ID!,$p:ApiKeyPatch!){ updateApiKey(orgId:$o,keyId:$k,input:$p){ request{ id status } } }";
    let d = app.ok(Some(&t.owner.token), q, auto(true)).await;
    assert_eq!(d["updateApiKey"]["request"]["status"], "PENDING_APPROVAL");
    let (_, b) = app.signed(&key, 100, WITHDRAW, w(&t, "10")).await;
    assert_eq!(b["data"]["withdraw"]["request"]["status"], "APPROVED", "not straight-through before approval: {b}");
    let d = app.ok(Some(&admin2.token), APPROVE, json!({"r": d["updateApiKey"]["request"]["id"]})).await;
    assert_eq!(d["approveRequest"]["status"], "COMPLETED");

    // Removing a cap now is refused: the key would settle unbounded.
    for (per_tx, daily) in [(Value::Null, json!("300")), (json!("200"), Value::Null)] {
        let b = key_caps(&app, &t, &key.0, per_tx, daily).await;
        assert_eq!(code(&b).0, "CONFLICT", "{b}");
    }

    let su = app
        .ok(
            Some(&t.owner.token),
            "query($o:ID!){ organization(id:$o){ serviceUsers{ id keys{ keyId autoExecute } } } }",
            json!({"o": t.org}),
        )
        .await;
    let su = &su["organization"]["serviceUsers"][0];
    assert_eq!(su["keys"][0]["autoExecute"], true);
    let bot_id = su["id"].as_str().unwrap().to_string();

    // Below the threshold: settled in the same call, the service user the executor.
    let (s, b) = app.signed(&key, 1, WITHDRAW, w(&t, "80")).await;
    let r = b["data"]["withdraw"]["request"].clone();
    assert_eq!((s, r["status"].as_str()), (200, Some("COMPLETED")), "{b}");
    assert_eq!(r["withdrawal"]["state"], "SETTLED");
    assert_eq!(r["withdrawal"]["executedBy"], bot_id.as_str());
    assert!(r["withdrawal"]["settlementReference"].as_str().unwrap().starts_with("stl_"));
    let h = app
        .ok(
            Some(&t.owner.token),
            "query($r:ID!){ request(id:$r){ history{ action actorKind actorId } } }",
            json!({"r": r["id"]}),
        )
        .await;
    let executed =
        h["request"]["history"].as_array().unwrap().iter().find(|e| e["action"] == "WITHDRAWAL_EXECUTED").cloned();
    let executed = executed.expect("an execution record");
    assert_eq!(executed["actorId"], bot_id.as_str(), "{h}");
    assert_eq!(usdc(&app, &t).await, ("9920".to_string(), "10".to_string()), "the 10 still held for a signer");

    // Above the threshold it waits as usual (and holds key capacity).
    let (_, b) = app.signed(&key, 2, WITHDRAW, w(&t, "150")).await;
    let pending = b["data"]["withdraw"]["request"].clone();
    assert_eq!(pending["status"], "PENDING_APPROVAL", "{b}");
    // The daily cap: 80 used + 160 held + 80 > 300.
    let (_, b) = app.signed(&key, 3, WITHDRAW, w(&t, "80")).await;
    assert_eq!(code(&b), ("LIMIT_EXCEEDED", "API_KEY"), "{b}");
    let (_, b) = app.signed(&key, 4, SIMULATE, w(&t, "60")).await;
    assert_eq!(b["data"]["simulateWithdrawal"]["status"], "COMPLETED", "the dry run shows straight-through: {b}");
    // Approved, it still needs a signer.
    app.ok(Some(&t.approver.token), APPROVE, json!({"r": pending["id"]})).await;
    let d = app.ok(Some(&t.signer.token), EXECUTE, json!({"r": pending["id"]})).await;
    assert_eq!(d["execute"]["status"], "COMPLETED");
    let u = usage_of(&app, &t, "API_KEY", &key.0).await;
    assert_eq!((u["usedTodayUsd"].as_str(), u["heldUsd"].as_str()), (Some("230"), Some("10")), "{u}");

    // Off again (approved by the other admin): the next payout below the threshold waits for a signer.
    let d = app.ok(Some(&t.owner.token), q, auto(false)).await;
    app.ok(Some(&admin2.token), APPROVE, json!({"r": d["updateApiKey"]["request"]["id"]})).await;
    let (_, b) = app.signed(&key, 5, WITHDRAW, w(&t, "10")).await;
    assert_eq!(b["data"]["withdraw"]["request"]["status"], "APPROVED", "{b}");
    // and the caps may go.
    assert!(key_caps(&app, &t, &key.0, Value::Null, Value::Null).await["errors"].is_null());
}

async fn straight_through_race_holds_the_key_cap(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    policy(&app, &t, 1, false, json!("100")).await;
    let key = bot(&app, &t).await;
    assert!(key_caps(&app, &t, &key.0, json!("50"), json!("1000")).await["errors"].is_null());
    app.ok(Some(&t.owner.token), UPDATE_KEY, json!({"o": t.org, "k": key.0, "p": {"autoExecute": true}})).await;

    let sends = (1..=64).map(|n| app.signed(&key, n, WITHDRAW, w(&t, "50")));
    let results = futures_util::future::join_all(sends).await;
    let settled = results.iter().filter(|(_, b)| b["data"]["withdraw"]["request"]["status"] == "COMPLETED").count();
    let refused = results.iter().filter(|(_, b)| code(b) == ("LIMIT_EXCEEDED", "API_KEY")).count();
    assert_eq!(
        (settled, refused),
        (20, 44),
        "{:?}",
        results.iter().find(|(_, b)| b.get("errors").is_some() && code(b).0 != "LIMIT_EXCEEDED")
    );
    let u = usage_of(&app, &t, "API_KEY", &key.0).await;
    assert_eq!(
        (u["usedTodayUsd"].as_str(), u["heldUsd"].as_str(), u["remainingUsd"].as_str()),
        (Some("1000"), Some("0"), Some("0")),
        "{u}"
    );
    assert_eq!(usdc(&app, &t).await, ("9000".to_string(), "0".to_string()), "exactly the cap left the account");
}

both_backends!(
    maker_and_the_organisation_threshold,
    a_members_own_threshold_below_the_organisations,
    service_user_below_and_above,
    straight_through_payouts,
    straight_through_race_holds_the_key_cap,
);
