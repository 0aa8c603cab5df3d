//! Policies, requests and approvals (SPEC §4), with live events, end to end.

use serde_json::{Value, json};
use std::time::Duration;
use tests::{Backend, Session, TestApp, both_backends, spawn};

const SET_POLICY: &str = "mutation($o:ID!,$w:Workflow!,$n:Int!,$a:Boolean!,$t:Decimal){ setPolicy(orgId:$o,workflow:$w,input:{requiredApprovals:$n,alwaysRequireApproval:$a,approvalThresholdUsd:$t}){ request{ id status approvalsRequired waitingReason } } }";
const LOCK: &str = "mutation($o:ID!,$w:Workflow!){ lockPolicy(orgId:$o,workflow:$w){ request{ id status } } }";
const UNLOCK: &str =
    "mutation($o:ID!,$w:Workflow!){ unlockPolicy(orgId:$o,workflow:$w){ request{ id status waitingReason } } }";
const GRANT: &str = "mutation($o:ID!,$m:ID!,$w:Workflow!,$a:Action!){ grantPermission(orgId:$o,memberId:$m,workflow:$w,action:$a){ request{ id status approvalsRequired } } }";
const SET_ROLES: &str =
    "mutation($o:ID!,$m:ID!,$r:[Role!]!){ setMemberRoles(orgId:$o,memberId:$m,roles:$r){ request{ id status } } }";
const REMOVE: &str = "mutation($o:ID!,$m:ID!){ removeMember(orgId:$o,memberId:$m){ request{ id status } } }";
const APPROVE: &str =
    "mutation($r:ID!){ approveRequest(requestId:$r){ id status approvals{ approver{ id } } reason } }";
const REJECT: &str = "mutation($r:ID!,$why:String){ rejectRequest(requestId:$r,reason:$why){ id status reason } }";
const CANCEL: &str = "mutation($r:ID!){ cancelRequest(requestId:$r){ id status } }";
const REQUEST: &str = "query($r:ID!){ request(id:$r){ id status operation approvalsRequired approvals{ approver{ id } } eligibleApprovers{ email } reason waitingReason history{ action } } }";
const POLICIES: &str = "query($o:ID!){ organization(id:$o){ policies{ workflow requiredApprovals alwaysRequireApproval approvalThresholdUsd locked version } } }";
const GRANTS: &str = "query($o:ID!){ organization(id:$o){ members{ id grants{ workflow action } } } }";

/// An organisation with an Owner, two more admins, a maker, two approvers and a reader.
struct Org {
    id: String,
    owner: Session,
    admin1: (Session, String),
    admin2: (Session, String),
    maker: (Session, String),
    approver1: (Session, String),
    approver2: (Session, String),
    reader: (Session, String),
}

async fn org(app: &TestApp) -> Org {
    let owner = app.user("owner@example.com").await;
    let id = app.create_org(&owner, "Acme").await;
    let admin1 = app.add_member(&owner, &id, "admin1@example.com", &["ADMIN"]).await;
    let admin2 = app.add_member(&owner, &id, "admin2@example.com", &["ADMIN"]).await;
    let maker = app.add_member(&owner, &id, "maker@example.com", &["MAKER"]).await;
    let approver1 = app.add_member(&owner, &id, "approver1@example.com", &["APPROVER"]).await;
    let approver2 = app.add_member(&owner, &id, "approver2@example.com", &["APPROVER"]).await;
    let reader = app.add_member(&owner, &id, "reader@example.com", &["READ_ONLY"]).await;
    Org { id, owner, admin1, admin2, maker, approver1, approver2, reader }
}

fn status(d: &Value, field: &str) -> String {
    d[field]["request"]["status"].as_str().unwrap_or_default().to_string()
}

fn request_id(d: &Value, field: &str) -> String {
    d[field]["request"]["id"].as_str().unwrap().to_string()
}

async fn policy(app: &TestApp, s: &Session, org: &str, wf: &str, n: i64, always: bool) -> Value {
    app.ok(Some(&s.token), SET_POLICY, json!({"o": org, "w": wf, "n": n, "a": always, "t": null})).await
}

/// SPEC §4's decision, case by case: (policy, caller) → completes or waits.
async fn completes_or_waits_as_the_policy_says(backend: Backend) {
    let app = spawn(backend).await;
    let o = org(&app).await;
    let target = &o.reader.1;
    // The maker gets INITIATE (not EXECUTE) on MANAGE_ACCESS, so it can ask.
    let d = app
        .ok(Some(&o.owner.token), GRANT, json!({"o": o.id, "m": o.maker.1, "w": "MANAGE_ACCESS", "a": "INITIATE"}))
        .await;
    assert_eq!(status(&d, "grantPermission"), "COMPLETED", "no policy: completes at once");

    struct Case {
        policy: Option<(i64, bool)>,
        who: &'static str,
        expect: &'static str,
    }
    let cases = [
        Case { policy: None, who: "admin", expect: "COMPLETED" },
        Case { policy: None, who: "maker", expect: "COMPLETED" },
        Case { policy: None, who: "reader", expect: "FORBIDDEN" },
        Case { policy: Some((1, false)), who: "admin", expect: "COMPLETED" },
        Case { policy: Some((1, false)), who: "owner", expect: "COMPLETED" },
        Case { policy: Some((1, false)), who: "maker", expect: "PENDING_APPROVAL" },
        Case { policy: Some((2, true)), who: "admin", expect: "PENDING_APPROVAL" },
        Case { policy: Some((2, true)), who: "owner", expect: "PENDING_APPROVAL" },
        Case { policy: Some((1, true)), who: "maker", expect: "PENDING_APPROVAL" },
        Case { policy: Some((1, true)), who: "reader", expect: "FORBIDDEN" },
    ];
    // A different (workflow, action) grant per case, so none conflicts with an earlier one.
    let pairs: Vec<(&str, &str)> = ["MANAGE_ADDRESSES", "MANAGE_POLICIES", "INITIATE_WITHDRAWAL"]
        .iter()
        .flat_map(|w| ["VIEW", "INITIATE", "APPROVE", "EXECUTE"].iter().map(move |a| (*w, *a)))
        .collect();
    for (i, c) in cases.iter().enumerate() {
        if let Some((n, always)) = c.policy {
            // Policies on MANAGE_POLICIES stay absent, so the Owner sets them directly.
            let d = policy(&app, &o.owner, &o.id, "MANAGE_ACCESS", n, always).await;
            assert_eq!(status(&d, "setPolicy"), "COMPLETED");
        }
        let who = match c.who {
            "admin" => &o.admin1.0,
            "maker" => &o.maker.0,
            "reader" => &o.reader.0,
            _ => &o.owner,
        };
        let (wf, action) = pairs[i];
        let vars = json!({"o": o.id, "m": target, "w": wf, "a": action});
        let body = app.gql(Some(&who.token), GRANT, vars).await;
        let got = body["data"]["grantPermission"]["request"]["status"]
            .as_str()
            .or(body["errors"][0]["extensions"]["code"].as_str())
            .unwrap_or("?");
        assert_eq!(got, c.expect, "case {i}: policy {:?}, {} → {body}", c.policy, c.who);
        if got == "PENDING_APPROVAL" {
            let n = c.policy.map(|p| p.0).unwrap_or(0);
            assert_eq!(body["data"]["grantPermission"]["request"]["approvalsRequired"], n);
            // Tidy: cancel so later cases start clean.
            app.ok(Some(&who.token), CANCEL, json!({"r": body["data"]["grantPermission"]["request"]["id"]})).await;
        }
    }
}

async fn approvals_apply_once_and_never_by_the_requester(backend: Backend) {
    let app = spawn(backend).await;
    let o = org(&app).await;
    policy(&app, &o.owner, &o.id, "MANAGE_ACCESS", 2, true).await;
    let d = app
        .ok(Some(&o.owner.token), GRANT, json!({"o": o.id, "m": o.reader.1, "w": "MANAGE_POLICIES", "a": "VIEW"}))
        .await;
    assert_eq!(status(&d, "grantPermission"), "PENDING_APPROVAL");
    let r = request_id(&d, "grantPermission");
    let q = app.ok(Some(&o.admin1.0.token), REQUEST, json!({"r": r})).await;
    let mut eligible: Vec<String> = q["request"]["eligibleApprovers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_string())
        .collect();
    eligible.sort();
    assert_eq!(eligible, vec!["admin1@example.com", "admin2@example.com"], "the requester is never eligible");

    assert_eq!(app.err(Some(&o.owner.token), APPROVE, json!({"r": r})).await, "SELF_APPROVAL");
    // A reader sees the request but may not approve it; a maker cannot even see it.
    assert_eq!(app.err(Some(&o.reader.0.token), APPROVE, json!({"r": r})).await, "FORBIDDEN");
    assert_eq!(app.err(Some(&o.maker.0.token), APPROVE, json!({"r": r})).await, "NOT_FOUND");
    let d = app.ok(Some(&o.admin1.0.token), APPROVE, json!({"r": r})).await;
    assert_eq!(d["approveRequest"]["status"], "PENDING_APPROVAL");
    assert_eq!(app.err(Some(&o.admin1.0.token), APPROVE, json!({"r": r})).await, "CONFLICT", "one approval per member");
    let d = app.ok(Some(&o.admin2.0.token), APPROVE, json!({"r": r})).await;
    assert_eq!(d["approveRequest"]["status"], "COMPLETED");
    assert_eq!(d["approveRequest"]["approvals"].as_array().unwrap().len(), 2);
    let q = app.ok(Some(&o.owner.token), REQUEST, json!({"r": r})).await;
    let history: Vec<&str> =
        q["request"]["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
    assert_eq!(history, vec!["REQUEST_CREATED", "REQUEST_APPROVED", "REQUEST_APPROVED", "GRANT_PERMISSION"]);

    // Two approvers race for the final approval: it applies exactly once.
    policy(&app, &o.owner, &o.id, "MANAGE_ACCESS", 1, true).await;
    for round in 0..4 {
        let wf = ["MANAGE_ADDRESSES", "INITIATE_WITHDRAWAL", "MANAGE_ACCESS", "MANAGE_POLICIES"][round];
        let d = app.ok(Some(&o.owner.token), GRANT, json!({"o": o.id, "m": o.reader.1, "w": wf, "a": "EXECUTE"})).await;
        let r = request_id(&d, "grantPermission");
        let a = app.gql(Some(&o.admin1.0.token), APPROVE, json!({"r": r}));
        let b = app.gql(Some(&o.admin2.0.token), APPROVE, json!({"r": r}));
        let (a, b) = tokio::join!(a, b);
        let ok = [&a, &b].iter().filter(|x| x.get("errors").is_none()).count();
        let conflicts = [&a, &b].iter().filter(|x| x["errors"][0]["extensions"]["code"] == "CONFLICT").count();
        assert_eq!((ok, conflicts), (1, 1), "round {round}: {a} / {b}");
        let q = app.ok(Some(&o.owner.token), REQUEST, json!({"r": r})).await;
        assert_eq!(q["request"]["status"], "COMPLETED");
        let applied =
            q["request"]["history"].as_array().unwrap().iter().filter(|h| h["action"] == "GRANT_PERMISSION").count();
        assert_eq!(applied, 1, "applied once");
    }
    let g = app.ok(Some(&o.owner.token), GRANTS, json!({"o": o.id})).await;
    let reader = g["organization"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == o.reader.1.as_str())
        .unwrap()
        .clone();
    assert_eq!(reader["grants"].as_array().unwrap().len(), 5);
    let d = app
        .ok(
            Some(&o.owner.token),
            "query($o:ID!){ organization(id:$o){ auditVerification{ valid } } }",
            json!({"o": o.id}),
        )
        .await;
    assert_eq!(d["organization"]["auditVerification"]["valid"], true);
}

async fn reject_cancel_fail_and_expire(backend: Backend) {
    let app = spawn(backend).await;
    let o = org(&app).await;
    policy(&app, &o.owner, &o.id, "MANAGE_ACCESS", 1, true).await;
    // Reject, with a reason.
    let d = app.ok(Some(&o.admin1.0.token), SET_ROLES, json!({"o": o.id, "m": o.reader.1, "r": ["REVIEWER"]})).await;
    let r = request_id(&d, "setMemberRoles");
    assert_eq!(app.err(Some(&o.admin1.0.token), REJECT, json!({"r": r, "why": "mine"})).await, "FORBIDDEN");
    let d = app.ok(Some(&o.admin2.0.token), REJECT, json!({"r": r, "why": "not needed"})).await;
    assert_eq!(d["rejectRequest"]["status"], "REJECTED");
    assert_eq!(d["rejectRequest"]["reason"], "not needed");
    assert_eq!(app.err(Some(&o.owner.token), APPROVE, json!({"r": r})).await, "CONFLICT");

    // Cancel: the requester only.
    let d = app.ok(Some(&o.admin1.0.token), SET_ROLES, json!({"o": o.id, "m": o.reader.1, "r": ["REVIEWER"]})).await;
    let r = request_id(&d, "setMemberRoles");
    assert_eq!(app.err(Some(&o.admin2.0.token), CANCEL, json!({"r": r})).await, "FORBIDDEN");
    let d = app.ok(Some(&o.admin1.0.token), CANCEL, json!({"r": r})).await;
    assert_eq!(d["cancelRequest"]["status"], "CANCELLED");

    // A change whose target disappears while it waits fails with the reason.
    let d = app.ok(Some(&o.admin1.0.token), SET_ROLES, json!({"o": o.id, "m": o.reader.1, "r": ["REVIEWER"]})).await;
    let pending = request_id(&d, "setMemberRoles");
    let d = app.ok(Some(&o.admin2.0.token), REMOVE, json!({"o": o.id, "m": o.reader.1})).await;
    let removal = request_id(&d, "removeMember");
    app.ok(Some(&o.owner.token), APPROVE, json!({"r": removal})).await;
    let d = app.ok(Some(&o.owner.token), APPROVE, json!({"r": pending})).await;
    assert_eq!(d["approveRequest"]["status"], "FAILED");
    assert!(d["approveRequest"]["reason"].as_str().unwrap().contains("member not found"), "{d}");

    // Pending requests expire after 72 h (the worker's job, driven here).
    let d = app
        .ok(Some(&o.admin1.0.token), GRANT, json!({"o": o.id, "m": o.maker.1, "w": "MANAGE_POLICIES", "a": "VIEW"}))
        .await;
    let r = request_id(&d, "grantPermission");
    app.clock.advance(chrono::Duration::hours(71));
    app.run_minutely_jobs().await;
    // (sessions idle out over days; sign in again to look)
    let t = app.sign_in(&o.admin2.0).await;
    assert_eq!(app.ok(Some(&t), REQUEST, json!({"r": r})).await["request"]["status"], "PENDING_APPROVAL");
    app.clock.advance(chrono::Duration::hours(2));
    app.run_minutely_jobs().await;
    app.run_minutely_jobs().await;
    let t = app.sign_in(&o.admin2.0).await;
    let q = app.ok(Some(&t), REQUEST, json!({"r": r})).await;
    assert_eq!(q["request"]["status"], "EXPIRED");
    let expired =
        q["request"]["history"].as_array().unwrap().iter().filter(|h| h["action"] == "REQUEST_EXPIRED").count();
    assert_eq!(expired, 1);
    assert_eq!(app.err(Some(&t), APPROVE, json!({"r": r})).await, "CONFLICT");
}

async fn locked_policies_need_someone_else(backend: Backend) {
    let app = spawn(backend).await;
    let o = org(&app).await;
    let d = app
        .ok(
            Some(&o.owner.token),
            SET_POLICY,
            json!({"o": o.id, "w": "INITIATE_WITHDRAWAL", "n": 2, "a": false, "t": "10000.00"}),
        )
        .await;
    assert_eq!(status(&d, "setPolicy"), "COMPLETED");
    assert_eq!(
        status(&app.ok(Some(&o.owner.token), LOCK, json!({"o": o.id, "w": "INITIATE_WITHDRAWAL"})).await, "lockPolicy"),
        "COMPLETED"
    );
    assert_eq!(app.err(Some(&o.owner.token), LOCK, json!({"o": o.id, "w": "INITIATE_WITHDRAWAL"})).await, "CONFLICT");

    // The Owner, holding every permission, still cannot change it alone.
    let d = app
        .ok(
            Some(&o.owner.token),
            SET_POLICY,
            json!({"o": o.id, "w": "INITIATE_WITHDRAWAL", "n": 1, "a": false, "t": null}),
        )
        .await;
    assert_eq!(status(&d, "setPolicy"), "PENDING_APPROVAL");
    assert!(d["setPolicy"]["request"]["waitingReason"].as_str().unwrap().starts_with("POLICY_LOCKED"));
    let r = request_id(&d, "setPolicy");
    assert_eq!(app.err(Some(&o.owner.token), APPROVE, json!({"r": r})).await, "POLICY_LOCKED");
    let p = app.ok(Some(&o.owner.token), POLICIES, json!({"o": o.id})).await;
    assert_eq!(p["organization"]["policies"][0]["requiredApprovals"], 2, "unchanged while pending");
    app.ok(Some(&o.admin1.0.token), APPROVE, json!({"r": r})).await;
    let p = app.ok(Some(&o.owner.token), POLICIES, json!({"o": o.id})).await;
    let pol = &p["organization"]["policies"][0];
    assert_eq!(
        (pol["requiredApprovals"].clone(), pol["locked"].clone(), pol["approvalThresholdUsd"].clone()),
        (json!(1), json!(true), Value::Null)
    );
    assert_eq!(pol["version"], 3);

    // Unlocking waits too; an admin's approval releases it.
    let d = app.ok(Some(&o.admin1.0.token), UNLOCK, json!({"o": o.id, "w": "INITIATE_WITHDRAWAL"})).await;
    assert_eq!(status(&d, "unlockPolicy"), "PENDING_APPROVAL");
    let r = request_id(&d, "unlockPolicy");
    assert_eq!(app.err(Some(&o.admin1.0.token), APPROVE, json!({"r": r})).await, "POLICY_LOCKED");
    app.ok(Some(&o.admin2.0.token), APPROVE, json!({"r": r})).await;
    let p = app.ok(Some(&o.owner.token), POLICIES, json!({"o": o.id})).await;
    assert_eq!(p["organization"]["policies"][0]["locked"], false);

    // Bad policies are refused before anything is written.
    for (wf, n, t) in [
        ("INITIATE_WITHDRAWAL", 0, Value::Null),
        ("MANAGE_ACCESS", 1, json!("5.00")),
        ("INITIATE_WITHDRAWAL", 1, json!("-1")),
        ("INITIATE_WITHDRAWAL", 1, json!("0.001")),
    ] {
        let code =
            app.err(Some(&o.owner.token), SET_POLICY, json!({"o": o.id, "w": wf, "n": n, "a": false, "t": t})).await;
        assert_eq!(code, "BAD_INPUT", "{wf} {n} {t}");
    }
}

async fn coverage_is_kept(backend: Backend) {
    let app = spawn(backend).await;
    let o = org(&app).await;
    // MANAGE_ADDRESSES approvers: the Owner, both admins, both approvers.
    let d = policy(&app, &o.owner, &o.id, "MANAGE_ADDRESSES", 4, false).await;
    assert_eq!(status(&d, "setPolicy"), "COMPLETED");
    // Besides the Owner (the requester) four remain; five would be too many.
    assert_eq!(
        app.err(
            Some(&o.owner.token),
            SET_POLICY,
            json!({"o": o.id, "w": "MANAGE_ADDRESSES", "n": 5, "a": false, "t": null})
        )
        .await,
        "COVERAGE"
    );
    // Removing an approver would leave three besides the requester.
    assert_eq!(app.err(Some(&o.owner.token), REMOVE, json!({"o": o.id, "m": o.approver1.1})).await, "COVERAGE");
    assert_eq!(
        app.err(Some(&o.owner.token), SET_ROLES, json!({"o": o.id, "m": o.approver2.1, "r": ["READ_ONLY"]})).await,
        "COVERAGE"
    );
    // A change that keeps coverage is fine: approver1 becomes APPROVER + MAKER.
    let d = app
        .ok(Some(&o.owner.token), SET_ROLES, json!({"o": o.id, "m": o.approver1.1, "r": ["APPROVER", "MAKER"]}))
        .await;
    assert_eq!(status(&d, "setMemberRoles"), "COMPLETED");
    // A waiting request that would break coverage is refused up front.
    policy(&app, &o.owner, &o.id, "MANAGE_ACCESS", 1, true).await;
    assert_eq!(app.err(Some(&o.admin1.0.token), REMOVE, json!({"o": o.id, "m": o.approver2.1})).await, "COVERAGE");
    let members = app.ok(Some(&o.owner.token), GRANTS, json!({"o": o.id})).await;
    assert_eq!(members["organization"]["members"].as_array().unwrap().len(), 7, "nobody was removed");
}

async fn live_events_reach_viewers_in_order(backend: Backend) {
    let app = spawn(backend).await;
    let o = org(&app).await;
    policy(&app, &o.owner, &o.id, "MANAGE_ACCESS", 1, true).await;
    let sub = "subscription($o:ID!){ requestEvents(orgId:$o){ kind request{ id status operation } } }";
    let mut watcher = app.ws(&o.owner.token).await;
    app.subscribe(&mut watcher, "1", sub, json!({"o": o.id})).await;
    let mut reader = app.ws(&o.reader.0.token).await;
    app.subscribe(&mut reader, "1", sub, json!({"o": o.id})).await;
    // APPROVER holds no VIEW on MANAGE_ACCESS: its events are not for them.
    let mut approver = app.ws(&o.approver1.0.token).await;
    app.subscribe(&mut approver, "1", sub, json!({"o": o.id})).await;

    let d = app
        .ok(Some(&o.admin1.0.token), GRANT, json!({"o": o.id, "m": o.maker.1, "w": "MANAGE_POLICIES", "a": "VIEW"}))
        .await;
    let r = request_id(&d, "grantPermission");
    app.ok(Some(&o.admin2.0.token), APPROVE, json!({"r": r})).await;
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let e = watcher.next(Duration::from_secs(1)).await.expect("event within 1 s");
        assert_eq!(e["data"]["requestEvents"]["request"]["id"], r.as_str());
        kinds.push(e["data"]["requestEvents"]["kind"].as_str().unwrap().to_string());
    }
    assert_eq!(kinds, vec!["CREATED", "APPROVED", "COMPLETED"]);
    let e = reader.next(Duration::from_secs(1)).await.expect("READ_ONLY views every workflow");
    assert_eq!(e["data"]["requestEvents"]["kind"], "CREATED");
    assert!(approver.next(Duration::from_millis(300)).await.is_none(), "no VIEW, no event");

    // A member removed from the organisation stops receiving at once.
    let d = app.ok(Some(&o.admin1.0.token), REMOVE, json!({"o": o.id, "m": o.reader.1})).await;
    app.ok(Some(&o.owner.token), APPROVE, json!({"r": request_id(&d, "removeMember")})).await;
    while reader.next(Duration::from_millis(300)).await.is_some() {}
    app.ok(Some(&o.admin1.0.token), GRANT, json!({"o": o.id, "m": o.maker.1, "w": "MANAGE_ACCESS", "a": "VIEW"})).await;
    assert!(reader.next(Duration::from_millis(800)).await.is_none(), "a removed member receives nothing");
    assert!(watcher.next(Duration::from_secs(1)).await.is_some());

    // Another organisation's member cannot subscribe; anonymous sockets are refused.
    let outsider = app.user("outsider@example.com").await;
    let mut ws = app.ws(&outsider.token).await;
    ws.subscribe("1", sub, json!({"o": o.id})).await;
    let e = ws.next(Duration::from_secs(1)).await.expect("an error");
    assert_eq!(e["errors"][0]["extensions"]["code"], "NOT_FOUND", "{e}");
    match tests::ws::WsClient::try_connect(&app.base, json!({})).await {
        tests::ws::Handshake::Refused(..) => {}
        tests::ws::Handshake::Acked(_) => panic!("anonymous WebSocket accepted"),
    }
}

async fn the_queue_pages_and_filters(backend: Backend) {
    let app = spawn(backend).await;
    let o = org(&app).await;
    policy(&app, &o.owner, &o.id, "MANAGE_ACCESS", 1, true).await;
    let mut ids = Vec::new();
    for (i, wf) in ["MANAGE_ADDRESSES", "MANAGE_POLICIES", "INITIATE_WITHDRAWAL"].iter().enumerate() {
        for a in ["VIEW", "APPROVE"] {
            let d = app.ok(Some(&o.admin1.0.token), GRANT, json!({"o": o.id, "m": o.maker.1, "w": wf, "a": a})).await;
            ids.push(request_id(&d, "grantPermission"));
            let _ = i;
        }
    }
    let q = "query($o:ID!,$s:RequestStatus,$after:String){ organization(id:$o){ requests(status:$s,first:4,after:$after){ edges{ node{ id status } } pageInfo{ hasNextPage endCursor } } } }";
    let p1 = app.ok(Some(&o.admin2.0.token), q, json!({"o": o.id, "s": "PENDING_APPROVAL"})).await;
    let c = &p1["organization"]["requests"];
    assert_eq!(c["edges"].as_array().unwrap().len(), 4);
    assert_eq!(c["pageInfo"]["hasNextPage"], true);
    let p2 = app
        .ok(
            Some(&o.admin2.0.token),
            q,
            json!({"o": o.id, "s": "PENDING_APPROVAL", "after": c["pageInfo"]["endCursor"]}),
        )
        .await;
    let c2 = &p2["organization"]["requests"];
    assert_eq!(c2["edges"].as_array().unwrap().len(), 2);
    assert_eq!(c2["pageInfo"]["hasNextPage"], false);
    let mut seen: Vec<String> = c["edges"]
        .as_array()
        .unwrap()
        .iter()
        .chain(c2["edges"].as_array().unwrap())
        .map(|e| e["node"]["id"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "newest first, every pending request once");
    // A maker sees none of the MANAGE_ACCESS queue.
    let m = app.ok(Some(&o.maker.0.token), q, json!({"o": o.id, "s": "PENDING_APPROVAL"})).await;
    assert_eq!(m["organization"]["requests"]["edges"].as_array().unwrap().len(), 0);
    assert_eq!(app.err(Some(&o.maker.0.token), REQUEST, json!({"r": ids[0]})).await, "NOT_FOUND");
}

both_backends!(
    completes_or_waits_as_the_policy_says,
    approvals_apply_once_and_never_by_the_requester,
    reject_cancel_fail_and_expire,
    locked_policies_need_someone_else,
    coverage_is_kept,
    live_events_reach_viewers_in_order,
    the_queue_pages_and_filters,
);
