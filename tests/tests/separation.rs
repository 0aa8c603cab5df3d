//! Separation of duties at the edges (issue 16), end to end on both
//! databases, each control attacked through the public API:
//!
//! - a service user's withdrawal waits for a person even with no policy;
//! - a service user's requests count as made by its creator and by every
//!   member who obtained one of its key secrets (creation, rotation, claim):
//!   none of them approves them, and coverage counts them out;
//! - settlement re-checks the whitelist in its own transaction;
//! - approve, reject, cancel and execute honour the TTL to the second;
//! - keys cannot be born expired;
//! - an APPROVED withdrawal can still be stopped until it is executed.

use serde_json::{Value, json};
use std::time::Duration;
use tests::{Backend, Session, TestApp, both_backends, spawn, spawn_with};

const WITHDRAW: &str = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status approvalsRequired eligibleApprovers{ email } } } }";
const APPROVE: &str = "mutation($r:ID!){ approveRequest(requestId:$r){ id status } }";
const REJECT: &str = "mutation($r:ID!,$why:String){ rejectRequest(requestId:$r,reason:$why){ id status reason } }";
const CANCEL: &str = "mutation($r:ID!){ cancelRequest(requestId:$r){ id status } }";
const EXECUTE: &str = "mutation($r:ID!){ execute(requestId:$r){ id status reason withdrawal{ state } } }";
const REQUEST: &str = "query($r:ID!){ request(id:$r){ id status reason eligibleApprovers{ email } history{ action } withdrawal{ state } } }";
const CREATE_SU: &str = "mutation($o:ID!,$i:ServiceUserInput!){ createServiceUser(orgId:$o,input:$i){ request{ id status } apiKey{ keyId secret } } }";
const CREATE_KEY: &str = "mutation($o:ID!,$s:ID!,$i:ServiceUserInput!){ createApiKey(orgId:$o,serviceUserId:$s,input:$i){ request{ id status } apiKey{ keyId secret } } }";
const UPDATE_KEY: &str =
    "mutation($o:ID!,$k:ID!,$p:ApiKeyPatch!){ updateApiKey(orgId:$o,keyId:$k,input:$p){ request{ status } } }";
const ROTATE: &str =
    "mutation($o:ID!,$k:ID!){ rotateApiKey(orgId:$o,keyId:$k){ request{ id status } apiKey{ keyId secret } } }";
const CLAIM: &str = "mutation($r:ID!){ claimApiKeySecret(requestId:$r){ keyId secret } }";
const SET_ROLES: &str =
    "mutation($o:ID!,$m:ID!,$r:[Role!]!){ setMemberRoles(orgId:$o,memberId:$m,roles:$r){ request{ status } } }";
const SERVICE_USERS: &str = "query($o:ID!){ organization(id:$o){ serviceUsers{ id name keys{ keyId expiresAt } } } }";
const REQUESTS: &str = "query($o:ID!){ organization(id:$o){ requests(first:200){ edges{ node{ id } } } } }";
const USAGE: &str = "query($o:ID!){ organization(id:$o){ usage{ layer subject usedTodayUsd heldUsd } } }";
const HOLDINGS: &str = "query($o:ID!){ organization(id:$o){ accounts{ holdings{ asset amount held available } } } }";

/// An organisation ready for withdrawals, with a member who is both ADMIN
/// and APPROVER (the one who could otherwise move money alone).
struct Treasury {
    org: String,
    account: String,
    address: String,
    owner: Session,
    maker: Session,
    approver: Session,
    signer: Session,
    boss: (Session, String),
}

async fn treasury(app: &TestApp) -> Treasury {
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let account = app.first_account(&owner, &org).await;
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    let (approver, _) = app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    let (signer, _) = app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let boss = app.add_member(&owner, &org, "boss@example.com", &["ADMIN", "APPROVER"]).await;
    let address = app.whitelist(&owner, &org, &account, "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").await;
    app.credit(&account, "USDC", "10000", "custody-1").await;
    Treasury { org, account, address, owner, maker, approver, signer, boss }
}

fn withdrawal(t: &Treasury, amount: &str) -> Value {
    json!({"o": t.org, "i": {"accountId": t.account, "asset": "USDC", "amount": amount, "addressId": t.address}})
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

fn emails(v: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        v.as_array().expect("a list of users").iter().map(|u| u["email"].as_str().unwrap_or("").to_string()).collect();
    out.sort();
    out
}

fn actions(history: &Value) -> Vec<String> {
    history.as_array().expect("history").iter().map(|h| h["action"].as_str().unwrap_or("").to_string()).collect()
}

/// Creates a service user as `who`; the request must complete at once. Its id and first key.
async fn service_user(app: &TestApp, who: &Session, org: &str, scopes: Value) -> (String, (String, String)) {
    let d =
        app.ok(Some(&who.token), CREATE_SU, json!({"o": org, "i": {"name": "payments-bot", "scopes": scopes}})).await;
    assert_eq!(d["createServiceUser"]["request"]["status"], "COMPLETED", "{d}");
    let k = &d["createServiceUser"]["apiKey"];
    let key = (k["keyId"].as_str().unwrap().to_string(), k["secret"].as_str().unwrap().to_string());
    let list = app.ok(Some(&who.token), SERVICE_USERS, json!({"o": org})).await;
    let su = list["organization"]["serviceUsers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["keys"].as_array().unwrap().iter().any(|k| k["keyId"] == key.0.as_str()))
        .expect("the new service user")["id"]
        .as_str()
        .unwrap()
        .to_string();
    (su, key)
}

/// The organisation layer's held and used USD, and the USDC holding's held amount.
async fn holds(app: &TestApp, t: &Treasury) -> (String, String, String) {
    let u = app.ok(Some(&t.owner.token), USAGE, json!({"o": t.org})).await;
    let org = u["organization"]["usage"].as_array().unwrap().iter().find(|u| u["layer"] == "ORGANIZATION").unwrap();
    let h = app.ok(Some(&t.owner.token), HOLDINGS, json!({"o": t.org})).await;
    let usdc =
        h["organization"]["accounts"][0]["holdings"].as_array().unwrap().iter().find(|h| h["asset"] == "USDC").unwrap();
    (
        org["heldUsd"].as_str().unwrap().to_string(),
        org["usedTodayUsd"].as_str().unwrap().to_string(),
        usdc["held"].as_str().unwrap().to_string(),
    )
}

/// Item 5: with no policy at all, a service user's withdrawal waits for one
/// approval by an eligible person, and only then can a signer execute it.
async fn service_user_withdrawals_wait_without_a_policy(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let (_, key) = service_user(&app, &t.owner, &t.org, json!(["WITHDRAW"])).await;
    let (_, body) = app.signed(&key, 1, WITHDRAW, withdrawal(&t, "100")).await;
    let r = &body["data"]["withdraw"]["request"];
    assert_eq!(r["status"], "PENDING_APPROVAL", "a machine never moves money without a person: {body}");
    assert_eq!(r["approvalsRequired"], 1);
    let id = r["id"].as_str().unwrap().to_string();
    assert_eq!(app.err(Some(&t.signer.token), EXECUTE, json!({"r": id})).await, "CONFLICT", "not approved");
    let d = app.ok(Some(&t.approver.token), APPROVE, json!({"r": id})).await;
    assert_eq!(d["approveRequest"]["status"], "APPROVED");
    let d = app.ok(Some(&t.signer.token), EXECUTE, json!({"r": id})).await;
    assert_eq!(d["execute"]["status"], "COMPLETED");
    assert_eq!(d["execute"]["withdrawal"]["state"], "SETTLED");
}

/// Item 6: the member who created a service user, and every member who
/// obtained one of its secrets by rotation or by claim, is refused as an
/// approver of its withdrawals, and is not offered as an eligible approver.
async fn creators_and_secret_holders_never_approve_a_service_users_requests(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let (boss, _) = &t.boss;
    let (rotator, _) = app.add_member(&t.owner, &t.org, "rotator@example.com", &["ADMIN", "APPROVER"]).await;
    let (claimer, _) = app.add_member(&t.owner, &t.org, "claimer@example.com", &["ADMIN", "APPROVER"]).await;

    // The attack of the issue: ADMIN+APPROVER creates a WITHDRAW bot, the bot withdraws, the creator approves.
    let (_, key) = service_user(&app, boss, &t.org, json!(["WITHDRAW"])).await;
    let (_, body) = app.signed(&key, 1, WITHDRAW, withdrawal(&t, "100")).await;
    let r = &body["data"]["withdraw"]["request"];
    assert_eq!(r["status"], "PENDING_APPROVAL", "{body}");
    let first = r["id"].as_str().unwrap().to_string();
    assert!(!emails(&r["eligibleApprovers"]).contains(&"boss@example.com".to_string()), "{r}");
    let body = app.gql(Some(&boss.token), APPROVE, json!({"r": first})).await;
    assert_eq!(code(&body), "SELF_APPROVAL", "the creator approves their own bot's withdrawal: {body}");
    assert_eq!(
        app.ok(Some(&t.owner.token), REQUEST, json!({"r": first})).await["request"]["status"],
        "PENDING_APPROVAL"
    );

    // A member who rotates the key obtains its new secret: they count as the requester too.
    let d = app.ok(Some(&rotator.token), ROTATE, json!({"o": t.org, "k": key.0})).await;
    assert_eq!(d["rotateApiKey"]["request"]["status"], "COMPLETED");
    let rotated = (key.0.clone(), d["rotateApiKey"]["apiKey"]["secret"].as_str().unwrap().to_string());
    let (_, body) = app.signed(&rotated, 2, WITHDRAW, withdrawal(&t, "50")).await;
    let second = body["data"]["withdraw"]["request"]["id"].as_str().expect("a request").to_string();
    assert_eq!(app.err(Some(&rotator.token), APPROVE, json!({"r": second})).await, "SELF_APPROVAL");
    assert_eq!(
        app.err(Some(&rotator.token), APPROVE, json!({"r": first})).await,
        "SELF_APPROVAL",
        "holding a secret counts for every request of the service user"
    );

    // A member who claims a rotated secret after approval counts too.
    app.ok(
        Some(&t.owner.token),
        "mutation($o:ID!){ setPolicy(orgId:$o,workflow:MANAGE_ACCESS,input:{requiredApprovals:1,alwaysRequireApproval:true}){ request{ status } } }",
        json!({"o": t.org}),
    )
    .await;
    let d = app.ok(Some(&claimer.token), ROTATE, json!({"o": t.org, "k": key.0})).await;
    assert_eq!(d["rotateApiKey"]["request"]["status"], "PENDING_APPROVAL");
    let rotation = d["rotateApiKey"]["request"]["id"].as_str().unwrap().to_string();
    app.ok(Some(&t.owner.token), APPROVE, json!({"r": rotation})).await;
    let d = app.ok(Some(&claimer.token), CLAIM, json!({"r": rotation})).await;
    let claimed = (key.0.clone(), d["claimApiKeySecret"]["secret"].as_str().unwrap().to_string());
    let (_, body) = app.signed(&claimed, 3, WITHDRAW, withdrawal(&t, "25")).await;
    let third = body["data"]["withdraw"]["request"]["id"].as_str().expect("a request").to_string();
    for r in [&first, &second, &third] {
        assert_eq!(app.err(Some(&claimer.token), APPROVE, json!({"r": r})).await, "SELF_APPROVAL");
        assert_eq!(app.err(Some(&boss.token), APPROVE, json!({"r": r})).await, "SELF_APPROVAL");
        assert_eq!(app.err(Some(&rotator.token), APPROVE, json!({"r": r})).await, "SELF_APPROVAL");
        let q = app.ok(Some(&t.owner.token), REQUEST, json!({"r": r})).await;
        assert_eq!(
            emails(&q["request"]["eligibleApprovers"]),
            ["approver@example.com", "owner@example.com"],
            "only people the bot does not count as: {q}"
        );
    }
    // Someone else may approve it, and then it settles.
    assert_eq!(
        app.ok(Some(&t.approver.token), APPROVE, json!({"r": third})).await["approveRequest"]["status"],
        "APPROVED"
    );
    assert_eq!(app.ok(Some(&t.signer.token), EXECUTE, json!({"r": third})).await["execute"]["status"], "COMPLETED");
}

/// Item 6, coverage: a change that would leave a service user's withdrawals
/// with too few approvers it does not count as is refused (`COVERAGE`).
async fn coverage_counts_a_service_users_principals_out(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    // The Owner is the only approver: a bot of theirs that may withdraw could never be approved.
    let d =
        app.gql(Some(&owner.token), CREATE_SU, json!({"o": org, "i": {"name": "bot", "scopes": ["WITHDRAW"]}})).await;
    assert_eq!(code(&d), "COVERAGE", "{d}");
    let list = app.ok(Some(&owner.token), SERVICE_USERS, json!({"o": org})).await;
    assert_eq!(list["organization"]["serviceUsers"], json!([]), "nothing written");
    // Without WITHDRAW it needs no approver; adding the scope later is the same change.
    let (_, key) = service_user(&app, &owner, &org, json!(["QUERY_FUNDS"])).await;
    let d = app.gql(Some(&owner.token), UPDATE_KEY, json!({"o": org, "k": key.0, "p": {"scopes": ["WITHDRAW"]}})).await;
    assert_eq!(code(&d), "COVERAGE", "{d}");

    // With another approver the bot may withdraw; a withdrawal policy of two
    // approvals counts the Owner and the approver, never the creator.
    let (approver, approver_member) = app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    let (boss, _) = app.add_member(&owner, &org, "boss@example.com", &["ADMIN", "APPROVER"]).await;
    let (admin, _) = app.add_member(&owner, &org, "admin@example.com", &["ADMIN"]).await;
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:{requiredApprovals:2,alwaysRequireApproval:false}){ request{ status } } }",
        json!({"o": org}),
    )
    .await;
    let (_, boss_key) = service_user(&app, &boss, &org, json!(["WITHDRAW"])).await;
    // Demoting the approver leaves the workflow with the Owner and boss (two,
    // enough for the policy), but boss's bot with only the Owner: refused.
    let d = app.gql(Some(&admin.token), SET_ROLES, json!({"o": org, "m": approver_member, "r": ["REVIEWER"]})).await;
    assert_eq!(code(&d), "COVERAGE", "{d}");
    assert!(d["errors"][0]["message"].as_str().unwrap_or("").contains("service user"), "{d}");
    // Rotating boss's key as the approver would make them a holder too: refused likewise.
    app.ok(Some(&owner.token), SET_ROLES, json!({"o": org, "m": approver_member, "r": ["APPROVER", "ADMIN"]})).await;
    let d = app.gql(Some(&approver.token), ROTATE, json!({"o": org, "k": boss_key.0})).await;
    assert_eq!(code(&d), "COVERAGE", "{d}");
    // Once the bot loses WITHDRAW, its withdrawals need no coverage.
    app.ok(Some(&admin.token), UPDATE_KEY, json!({"o": org, "k": boss_key.0, "p": {"scopes": ["QUERY_FUNDS"]}})).await;
    let d = app.ok(Some(&admin.token), SET_ROLES, json!({"o": org, "m": approver_member, "r": ["REVIEWER"]})).await;
    assert_eq!(d["setMemberRoles"]["request"]["status"], "COMPLETED");
}

/// Item 7: an address removed after approval is re-checked at settlement:
/// the withdrawal fails with the reason, its holds released, and an event.
async fn settlement_rechecks_the_whitelist(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let d = app.ok(Some(&t.maker.token), WITHDRAW, withdrawal(&t, "100")).await;
    let r = d["withdraw"]["request"]["id"].as_str().unwrap().to_string();
    assert_eq!(d["withdraw"]["request"]["status"], "APPROVED", "no policy: waiting for a signer");
    assert_eq!(holds(&app, &t).await, ("100".into(), "0".into(), "100".into()));
    let d = app
        .ok(
            Some(&t.owner.token),
            "mutation($o:ID!,$a:ID!){ removeAddress(orgId:$o,addressId:$a){ request{ status } } }",
            json!({"o": t.org, "a": t.address}),
        )
        .await;
    assert_eq!(d["removeAddress"]["request"]["status"], "COMPLETED");
    let mut ws = app.ws(&t.owner.token).await;
    app.subscribe(
        &mut ws,
        "1",
        "subscription($o:ID!){ requestEvents(orgId:$o){ kind request{ id status } } }",
        json!({"o": t.org}),
    )
    .await;

    let d = app.ok(Some(&t.signer.token), EXECUTE, json!({"r": r})).await;
    assert_eq!(d["execute"]["status"], "FAILED", "{d}");
    assert!(d["execute"]["reason"].as_str().unwrap_or("").contains("removed from the whitelist"), "{d}");
    assert_eq!(d["execute"]["withdrawal"]["state"], "RELEASED");
    let e = ws.next(Duration::from_secs(1)).await.expect("an event within 1 s");
    let e: tests::answers::RequestEvent = tests::typed(&e["data"]["requestEvents"]);
    assert_eq!((e.kind.as_str(), e.request.id.as_str()), ("FAILED", r.as_str()), "{e:?}");
    assert_eq!(holds(&app, &t).await, ("0".into(), "0".into(), "0".into()), "holds released, nothing used");
    let h = app.ok(Some(&t.owner.token), HOLDINGS, json!({"o": t.org})).await;
    assert_eq!(h["organization"]["accounts"][0]["holdings"][0]["amount"], "10000", "no money left");
    let q = app.ok(Some(&t.owner.token), REQUEST, json!({"r": r})).await;
    assert!(actions(&q["request"]["history"]).contains(&"REQUEST_FAILED".to_string()), "{q}");
    assert_eq!(app.err(Some(&t.signer.token), EXECUTE, json!({"r": r})).await, "CONFLICT", "failed stays failed");
}

/// Item 8: approve, reject, cancel and execute past the TTL expire the
/// request in their own transaction and refuse, before any sweep runs.
/// (The test clock is real time plus an offset: a 60 s TTL leaves the test
/// two seconds of slack for its own work.)
async fn expiry_holds_to_the_second(backend: Backend) {
    let app = spawn_with(backend, |c| c.request_ttl_secs = 60).await;
    let t = treasury(&app).await;
    app.ok(
        Some(&t.owner.token),
        "mutation($o:ID!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:{requiredApprovals:1,alwaysRequireApproval:false}){ request{ status } } }",
        json!({"o": t.org}),
    )
    .await;
    let mut ids = Vec::new();
    for amount in ["20", "30", "40", "50", "10"] {
        let d = app.ok(Some(&t.maker.token), WITHDRAW, withdrawal(&t, amount)).await;
        assert_eq!(d["withdraw"]["request"]["status"], "PENDING_APPROVAL");
        ids.push(d["withdraw"]["request"]["id"].as_str().unwrap().to_string());
    }
    // Within the TTL, approval works (the newest request).
    app.clock.advance(chrono::Duration::seconds(58));
    assert_eq!(
        app.ok(Some(&t.approver.token), APPROVE, json!({"r": ids[4]})).await["approveRequest"]["status"],
        "APPROVED"
    );
    assert_eq!(holds(&app, &t).await.0, "150");
    // Past it, each deciding path expires the request there and then.
    app.clock.advance(chrono::Duration::seconds(3));
    let attempts = [
        (&t.approver, APPROVE, json!({"r": ids[0]})),
        (&t.approver, REJECT, json!({"r": ids[1], "why": "late"})),
        (&t.maker, CANCEL, json!({"r": ids[2]})),
        (&t.signer, EXECUTE, json!({"r": ids[3]})),
    ];
    for (who, mutation, vars) in attempts {
        let body = app.gql(Some(&who.token), mutation, vars.clone()).await;
        assert_eq!(code(&body), "CONFLICT", "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap_or("").contains("expired"), "{body}");
        let q = app.ok(Some(&t.owner.token), REQUEST, json!({"r": vars["r"]})).await;
        assert_eq!(q["request"]["status"], "EXPIRED", "at once, not at the next sweep: {q}");
        assert_eq!(q["request"]["withdrawal"]["state"], "RELEASED");
    }
    assert_eq!(holds(&app, &t).await.0, "10", "only the approved withdrawal still holds");
    // The sweep finds nothing more to do; each expiry is recorded once.
    app.run_minutely_jobs().await;
    for r in &ids[..4] {
        let q = app.ok(Some(&t.owner.token), REQUEST, json!({"r": r})).await;
        let expired = actions(&q["request"]["history"]).iter().filter(|a| *a == "REQUEST_EXPIRED").count();
        assert_eq!(expired, 1, "{q}");
        assert_eq!(app.err(Some(&t.approver.token), APPROVE, json!({"r": r})).await, "CONFLICT");
    }
}

/// Item 13: a key cannot be created or updated to expire in the past, and
/// the refusal writes nothing.
async fn keys_cannot_be_born_expired(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let past = (app.now() - chrono::Duration::minutes(1)).to_rfc3339();
    let future = (app.now() + chrono::Duration::days(1)).to_rfc3339();
    let d = app
        .gql(
            Some(&owner.token),
            CREATE_SU,
            json!({"o": org, "i": {"name": "bot", "scopes": ["QUERY_FUNDS"], "expiresAt": past}}),
        )
        .await;
    assert_eq!(code(&d), "BAD_INPUT", "{d}");
    let list = app.ok(Some(&owner.token), SERVICE_USERS, json!({"o": org})).await;
    assert_eq!(list["organization"]["serviceUsers"], json!([]));
    let reqs = app.ok(Some(&owner.token), REQUESTS, json!({"o": org})).await;
    assert_eq!(reqs["organization"]["requests"]["edges"], json!([]), "no request written");

    let (su, key) = service_user(&app, &owner, &org, json!(["QUERY_FUNDS"])).await;
    let d = app
        .gql(
            Some(&owner.token),
            CREATE_KEY,
            json!({"o": org, "s": su, "i": {"name": "k2", "scopes": ["QUERY_FUNDS"], "expiresAt": past}}),
        )
        .await;
    assert_eq!(code(&d), "BAD_INPUT", "{d}");
    let d = app.gql(Some(&owner.token), UPDATE_KEY, json!({"o": org, "k": key.0, "p": {"expiresAt": past}})).await;
    assert_eq!(code(&d), "BAD_INPUT", "{d}");
    let list = app.ok(Some(&owner.token), SERVICE_USERS, json!({"o": org})).await;
    let keys = list["organization"]["serviceUsers"][0]["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1, "no second key");
    assert_eq!(keys[0]["expiresAt"], Value::Null, "expiry unchanged");
    let reqs = app.ok(Some(&owner.token), REQUESTS, json!({"o": org})).await;
    assert_eq!(reqs["organization"]["requests"]["edges"].as_array().unwrap().len(), 1, "only the creation");
    // A future expiry is fine.
    let d = app.ok(Some(&owner.token), UPDATE_KEY, json!({"o": org, "k": key.0, "p": {"expiresAt": future}})).await;
    assert_eq!(d["updateApiKey"]["request"]["status"], "COMPLETED");
}

/// Item 17: until it is executed, an APPROVED withdrawal may be cancelled by
/// its requester or rejected by an approver or a signer; the holds go back
/// and a signer can no longer execute it.
async fn approved_withdrawals_can_still_be_stopped(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let approved = |d: &Value| {
        assert_eq!(d["withdraw"]["request"]["status"], "APPROVED", "{d}");
        d["withdraw"]["request"]["id"].as_str().unwrap().to_string()
    };
    let a = approved(&app.ok(Some(&t.maker.token), WITHDRAW, withdrawal(&t, "100")).await);
    let b = approved(&app.ok(Some(&t.maker.token), WITHDRAW, withdrawal(&t, "200")).await);
    let c = approved(&app.ok(Some(&t.maker.token), WITHDRAW, withdrawal(&t, "300")).await);
    assert_eq!(holds(&app, &t).await, ("600".into(), "0".into(), "600".into()));

    // Only the requester cancels; the requester does not reject.
    assert_eq!(app.err(Some(&t.signer.token), CANCEL, json!({"r": a})).await, "FORBIDDEN");
    assert_eq!(app.err(Some(&t.maker.token), REJECT, json!({"r": a, "why": "x"})).await, "FORBIDDEN");
    let d = app.ok(Some(&t.maker.token), CANCEL, json!({"r": a})).await;
    assert_eq!(d["cancelRequest"]["status"], "CANCELLED");
    // A signer rejects with a reason; so does an approver.
    let d = app.ok(Some(&t.signer.token), REJECT, json!({"r": b, "why": "wrong invoice"})).await;
    assert_eq!(
        (d["rejectRequest"]["status"].as_str(), d["rejectRequest"]["reason"].as_str()),
        (Some("REJECTED"), Some("wrong invoice"))
    );
    let d = app.ok(Some(&t.approver.token), REJECT, json!({"r": c, "why": "duplicate"})).await;
    assert_eq!(d["rejectRequest"]["status"], "REJECTED");
    assert_eq!(holds(&app, &t).await, ("0".into(), "0".into(), "0".into()), "every hold released");

    for (r, action) in [(&a, "REQUEST_CANCELLED"), (&b, "REQUEST_REJECTED"), (&c, "REQUEST_REJECTED")] {
        assert_eq!(app.err(Some(&t.signer.token), EXECUTE, json!({"r": r})).await, "CONFLICT", "stopped for good");
        let q = app.ok(Some(&t.owner.token), REQUEST, json!({"r": r})).await;
        assert!(actions(&q["request"]["history"]).contains(&action.to_string()), "{q}");
        assert_eq!(q["request"]["withdrawal"]["state"], "RELEASED");
    }
    // An executed one is past stopping.
    let d = approved(&app.ok(Some(&t.maker.token), WITHDRAW, withdrawal(&t, "10")).await);
    app.ok(Some(&t.signer.token), EXECUTE, json!({"r": d})).await;
    assert_eq!(app.err(Some(&t.maker.token), CANCEL, json!({"r": d})).await, "CONFLICT");
    assert_eq!(app.err(Some(&t.approver.token), REJECT, json!({"r": d, "why": "late"})).await, "CONFLICT");
}

both_backends!(
    service_user_withdrawals_wait_without_a_policy,
    creators_and_secret_holders_never_approve_a_service_users_requests,
    coverage_counts_a_service_users_principals_out,
    settlement_rechecks_the_whitelist,
    expiry_holds_to_the_second,
    keys_cannot_be_born_expired,
    approved_withdrawals_can_still_be_stopped,
);
