//! What the console's journeys need from the API (issue 18), through the
//! public GraphQL API: an invitation link's preview, TOTP enrolment's QR
//! code, one-time recovery codes (racing included), names beside ids, and
//! the outflow history a risk officer charts.

use serde_json::{Value, json};
use tests::{Backend, Session, TestApp, both_backends, spawn};

const PREVIEW: &str = "query($t:String!){ invitationPreview(token:$t){ organizationName email roles invitedByName invitedByEmail status expiresAt } }";
const SIGN_IN_RECOVERY: &str =
    "mutation($e:String!,$p:String!,$r:String){ signIn(email:$e,password:$p,recoveryCode:$r){ token } }";

async fn invitation_links_preview_what_they_offer(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme Treasury").await;
    app.invite(&owner, &org, "ann@example.com", &["APPROVER", "SIGNER"]).await;
    let token = app.outbox_token("ann@example.com").await;

    // Anyone holding the link may look, signed in or not.
    let d = app.ok(None, PREVIEW, json!({"t": token})).await;
    let p = &d["invitationPreview"];
    assert_eq!(p["organizationName"], "Acme Treasury");
    assert_eq!(p["email"], "ann@example.com");
    assert_eq!(p["roles"], json!(["APPROVER", "SIGNER"]));
    assert_eq!(p["invitedByName"], "owner");
    assert_eq!(p["invitedByEmail"], "owner@example.com");
    assert_eq!(p["status"], "PENDING");
    // It tells nothing else: no organisation id, no members, no way in.
    assert_eq!(p.as_object().map(|o| o.len()), Some(7));
    assert_eq!(app.err(None, PREVIEW, json!({"t": "not-a-token"})).await, "NOT_FOUND");

    // Accepted, it says so.
    let ann = app.sign_up("ann@example.com").await;
    app.ok(Some(&ann.token), "mutation($t:String!){ acceptInvitation(token:$t){ id } }", json!({"t": token})).await;
    assert_eq!(app.ok(None, PREVIEW, json!({"t": token})).await["invitationPreview"]["status"], "ACCEPTED");

    // Revoked, it says so.
    let r = app.invite(&owner, &org, "bob@example.com", &["MAKER"]).await;
    assert_eq!(r["status"], "COMPLETED");
    let bob_token = app.outbox_token("bob@example.com").await;
    let inv = app
        .ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ invitations{ id email } } }", json!({"o": org}))
        .await;
    let bob_inv = inv["organization"]["invitations"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["email"] == "bob@example.com"))
        .map(|i| i["id"].clone())
        .unwrap_or_default();
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!,$i:ID!){ revokeInvitation(orgId:$o,invitationId:$i){ request{ status } } }",
        json!({"o": org, "i": bob_inv}),
    )
    .await;
    assert_eq!(app.ok(None, PREVIEW, json!({"t": bob_token})).await["invitationPreview"]["status"], "REVOKED");

    // Past its week, it is expired.
    app.invite(&owner, &org, "cy@example.com", &["MAKER"]).await;
    let cy_token = app.outbox_token("cy@example.com").await;
    app.clock.advance(chrono::Duration::days(8));
    assert_eq!(app.ok(None, PREVIEW, json!({"t": cy_token})).await["invitationPreview"]["status"], "EXPIRED");
}

async fn enrolment_draws_its_qr_code(backend: Backend) {
    let app = spawn(backend).await;
    let s = app.sign_up("dee@example.com").await;
    let d = app.ok(Some(&s.token), "mutation{ enrollTotp{ secret otpauthUrl qrSvg } }", json!({})).await;
    let svg = d["enrollTotp"]["qrSvg"].as_str().unwrap_or_default();
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "an SVG document: {}", &svg[..svg.len().min(200)]);
    assert!(svg.len() > 2000, "with the modules of a QR code");
    // The secret it encodes is the one written out beside it.
    assert!(
        d["enrollTotp"]["otpauthUrl"]
            .as_str()
            .unwrap_or_default()
            .contains(d["enrollTotp"]["secret"].as_str().unwrap_or("?"))
    );
}

fn codes(d: &Value) -> Vec<String> {
    d["generateRecoveryCodes"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

async fn recovery_codes_sign_in_once_each(backend: Backend) {
    let app = spawn(backend).await;
    // An unverified session may not mint a way past the authenticator.
    let mut eve = app.sign_up("eve@example.com").await;
    assert_eq!(app.err(Some(&eve.token), "mutation{ generateRecoveryCodes }", json!({})).await, "FORBIDDEN");
    app.enrol(&mut eve).await;
    let first = codes(&app.ok(Some(&eve.token), "mutation{ generateRecoveryCodes }", json!({})).await);
    assert_eq!(first.len(), 10);
    assert!(first.iter().all(|c| c.len() == 14 && c.matches('-').count() == 2), "{first:?}");
    let remaining = "{ viewer{ recoveryCodesRemaining } }";
    assert_eq!(app.ok(Some(&eve.token), remaining, json!({})).await["viewer"]["recoveryCodesRemaining"], 10);

    // A code signs in, typed loosely (upper case, spaces), as two-factor verified.
    let loose = first[0].to_uppercase().replace('-', " ");
    let vars = |code: &str| json!({"e": "eve@example.com", "p": eve.password, "r": code});
    let d = app.ok(None, SIGN_IN_RECOVERY, vars(&loose)).await;
    let token = d["signIn"]["token"].as_str().unwrap_or_default().to_string();
    let v = app.ok(Some(&token), "{ viewer{ twoFactorVerified recoveryCodesRemaining } }", json!({})).await;
    assert_eq!(v["viewer"], json!({"twoFactorVerified": true, "recoveryCodesRemaining": 9}));
    // Never twice.
    assert_eq!(app.err(None, SIGN_IN_RECOVERY, vars(&first[0])).await, "UNAUTHENTICATED");
    // Not both factors at once, and a password is still needed.
    let both =
        "mutation($e:String!,$p:String!){ signIn(email:$e,password:$p,totp:\"123456\",recoveryCode:\"x\"){ token } }";
    assert_eq!(app.err(None, both, json!({"e": "eve@example.com", "p": eve.password})).await, "BAD_INPUT");
    let wrong_pw = json!({"e": "eve@example.com", "p": "wrong password!", "r": first[1]});
    assert_eq!(app.err(None, SIGN_IN_RECOVERY, wrong_pw).await, "UNAUTHENTICATED");

    // Eight requests race with one code: exactly one signs in.
    let race: Vec<_> = (0..8).map(|_| app.gql(None, SIGN_IN_RECOVERY, vars(&first[2]))).collect();
    let answers = futures_util::future::join_all(race).await;
    let won = answers.iter().filter(|a| a["data"]["signIn"]["token"].is_string()).count();
    assert_eq!(won, 1, "one code, one sign-in: {answers:?}");
    // The losers count as failures against the TOTP throttle: let it pass.
    app.clock.advance(chrono::Duration::minutes(16));

    // A new set replaces the old one.
    let second = codes(&app.ok(Some(&token), "mutation{ generateRecoveryCodes }", json!({})).await);
    assert_eq!(app.err(None, SIGN_IN_RECOVERY, vars(&first[3])).await, "UNAUTHENTICATED");
    app.ok(None, SIGN_IN_RECOVERY, vars(&second[0])).await;
    // Other people's codes are no use.
    let fay = app.user("fay@example.com").await;
    let fays = json!({"e": "fay@example.com", "p": fay.password, "r": second[1]});
    assert_eq!(app.err(None, SIGN_IN_RECOVERY, fays).await, "UNAUTHENTICATED");
}

/// An organisation with a maker, an approver and a signer, and funds.
struct Treasury {
    org: String,
    owner: Session,
    maker: Session,
    approver: Session,
    signer: Session,
    account: String,
    address: String,
}

async fn treasury(app: &TestApp) -> Treasury {
    let owner = app.user("olga@example.com").await;
    let org = app.create_org(&owner, "Acme Treasury").await;
    let (maker, _) = app.add_member(&owner, &org, "mia@example.com", &["MAKER"]).await;
    let (approver, _) = app.add_member(&owner, &org, "abe@example.com", &["APPROVER"]).await;
    let (signer, _) = app.add_member(&owner, &org, "sam@example.com", &["SIGNER"]).await;
    let account = app.first_account(&owner, &org).await;
    let address = app.whitelist(&owner, &org, &account, "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").await;
    app.credit(&account, "USDC", "100000", "custody-1").await;
    Treasury { org, owner, maker, approver, signer, account, address }
}

/// A withdrawal made, approved and executed; its request id.
async fn settle(app: &TestApp, t: &Treasury, amount: &str) -> String {
    let w = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status } } }";
    let input = json!({"accountId": t.account, "asset": "USDC", "amount": amount, "addressId": t.address});
    let d = app.ok(Some(&t.maker.token), w, json!({"o": t.org, "i": input})).await;
    let id = d["withdraw"]["request"]["id"].as_str().unwrap_or_default().to_string();
    if d["withdraw"]["request"]["status"] == "PENDING_APPROVAL" {
        app.ok(Some(&t.approver.token), "mutation($r:ID!){ approveRequest(requestId:$r){ status } }", json!({"r": id}))
            .await;
    }
    let d =
        app.ok(Some(&t.signer.token), "mutation($r:ID!){ execute(requestId:$r){ status } }", json!({"r": id})).await;
    assert_eq!(d["execute"]["status"], "COMPLETED");
    id
}

async fn names_stand_beside_ids(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let (owner, org) = (&t.owner, &t.org);
    let id = settle(&app, &t, "1200").await;
    let d = app
        .ok(
            Some(&owner.token),
            "query($r:ID!){ request(id:$r){ requester{ kind name } withdrawal{ address{ label network address } executor{ name } } } }",
            json!({"r": id}),
        )
        .await;
    assert_eq!(d["request"]["requester"], json!({"kind": "USER", "name": "mia"}));
    assert_eq!(
        d["request"]["withdrawal"]["address"],
        json!({"label": "cold", "network": "ethereum", "address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"})
    );
    assert_eq!(d["request"]["withdrawal"]["executor"]["name"], "sam");
    let d = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ usage{ layer subject subjectName } auditLog(first:5){ nodes{ actorKind actorName } } auditLogCsv } }",
            json!({"o": org}),
        )
        .await;
    let o = &d["organization"];
    assert!(
        o["usage"]
            .as_array()
            .is_some_and(|u| u.iter().any(|x| x["layer"] == "ORGANIZATION" && x["subjectName"] == "Acme Treasury")),
        "{o}"
    );
    let people = ["olga", "mia", "abe", "sam", "Platform operator", "Countersign"];
    let records = o["auditLog"]["nodes"].as_array().cloned().unwrap_or_default();
    assert!(!records.is_empty() && records.iter().all(|r| people.iter().any(|p| r["actorName"] == *p)), "{o}");
    let csv = o["auditLogCsv"].as_str().unwrap_or_default();
    assert!(csv.starts_with("seq,at,actor_name,actor_kind,actor_id,"), "{}", &csv[..80.min(csv.len())]);
    assert!(csv.lines().nth(1).is_some_and(|l| l.contains(",olga,USER,")), "{csv}");
    // The offline verifier reads the columns by name; the name is not chained.
    use api::service::{audit, audit_offline};
    let key = audit_offline::parse_public_key(&audit::public_key_hex(&app.state.key)).expect("key");
    let file = audit_offline::parse(csv).expect("a CSV export");
    assert!(audit_offline::verify(&file, &key).is_ok());
}

async fn who_decided_and_which_actions_are_on_record(backend: Backend) {
    let app = spawn(backend).await;
    let t = treasury(&app).await;
    let policy = "mutation($o:ID!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:{requiredApprovals:1,alwaysRequireApproval:true}){ request{ status } } }";
    app.ok(Some(&t.owner.token), policy, json!({"o": t.org})).await;
    let w = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id decidedBy{ name } } } }";
    let input = json!({"accountId": t.account, "asset": "USDC", "amount": "10", "addressId": t.address});
    let d = app.ok(Some(&t.maker.token), w, json!({"o": t.org, "i": input})).await;
    assert_eq!(d["withdraw"]["request"]["decidedBy"], Value::Null, "open: nobody decided yet");
    let id = d["withdraw"]["request"]["id"].clone();
    let reject = "mutation($r:ID!){ rejectRequest(requestId:$r,reason:\"not on the run\"){ status reason decidedBy{ kind name } } }";
    let d = app.ok(Some(&t.approver.token), reject, json!({"r": id})).await;
    assert_eq!(
        d["rejectRequest"],
        json!({"status": "REJECTED", "reason": "not on the run", "decidedBy": {"kind": "USER", "name": "abe"}})
    );
    // The maker, who may not read the audit trail, still sees who rejected it.
    let d =
        app.ok(Some(&t.maker.token), "query($r:ID!){ request(id:$r){ decidedBy{ name } } }", json!({"r": id})).await;
    assert_eq!(d["request"]["decidedBy"]["name"], "abe");

    let actions = "query($o:ID!){ organization(id:$o){ auditActions } }";
    let d = app.ok(Some(&t.owner.token), actions, json!({"o": t.org})).await;
    let list: Vec<String> = serde_json::from_value(d["organization"]["auditActions"].clone()).unwrap_or_default();
    for a in ["ORGANIZATION_CREATED", "REQUEST_REJECTED", "INVITATION_ACCEPTED", "WITHDRAWAL_REQUESTED"] {
        assert!(list.iter().any(|x| x == a), "{a} in {list:?}");
    }
    let mut sorted = list.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(list, sorted, "distinct, alphabetical");
    assert_eq!(app.err(Some(&t.maker.token), actions, json!({"o": t.org})).await, "FORBIDDEN");
}

async fn outflow_history_covers_thirty_days(backend: Backend) {
    let app = spawn(backend).await;
    let mut t = treasury(&app).await;
    settle(&app, &t, "1200").await;
    // Tomorrow (UTC), another (sessions do not last a day).
    app.clock.advance(chrono::Duration::days(1));
    for s in [&mut t.owner, &mut t.maker, &mut t.approver, &mut t.signer] {
        s.token = app.sign_in(s).await;
    }
    settle(&app, &t, "300.5").await;
    let (owner, org) = (&t.owner, &t.org);
    let q = "query($o:ID!){ organization(id:$o){ outflowHistory{ layer subjectName days{ day usd } } } }";
    let d = app.ok(Some(&owner.token), q, json!({"o": org})).await;
    let series = d["organization"]["outflowHistory"].as_array().cloned().unwrap_or_default();
    let org_series = series.iter().find(|s| s["layer"] == "ORGANIZATION").expect("the organisation's layer");
    assert_eq!(org_series["subjectName"], "Acme Treasury");
    let days = org_series["days"].as_array().cloned().unwrap_or_default();
    assert_eq!(days.len(), 30, "every day of the window");
    let today = app.now().format("%Y-%m-%d").to_string();
    let yesterday = (app.now() - chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    assert_eq!(days[29], json!({"day": today, "usd": "300.5"}));
    assert_eq!(days[28], json!({"day": yesterday, "usd": "1200"}));
    assert!(days[..28].iter().all(|d| d["usd"] == "0"), "{days:?}");
    let d = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ outflowHistory(days:400){ days{ day } } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(d["organization"]["outflowHistory"][0]["days"].as_array().map(Vec::len), Some(35), "at most 35 days");
    // Another organisation's member reads nothing of it.
    let other = app.user("mallory@example.com").await;
    app.create_org(&other, "Elsewhere").await;
    assert_eq!(app.err(Some(&other.token), q, json!({"o": org})).await, "NOT_FOUND");
}

both_backends!(
    invitation_links_preview_what_they_offer,
    enrolment_draws_its_qr_code,
    recovery_codes_sign_in_once_each,
    names_stand_beside_ids,
    who_decided_and_which_actions_are_on_record,
    outflow_history_covers_thirty_days,
);
