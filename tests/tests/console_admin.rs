//! The admin's and the risk officer's journeys through the web console
//! (issue 18), in Debian's Chromium against the real server: the Rust side
//! prepares an organisation through GraphQL, the browser scripts
//! (`tests/browser/admin.mjs`, `tests/browser/risk.mjs`) do the rest from the
//! console alone and check every screen (layout at 1440×900 and 390×844,
//! axe-core) as they go.

use serde_json::{Value, json};
use tests::{Backend, Session, TestApp, browser, spawn};

const WITHDRAW: &str = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status } } }";
const EXECUTE: &str = "mutation($r:ID!){ execute(requestId:$r){ id status } }";
const APPROVE: &str = "mutation($r:ID!){ approveRequest(requestId:$r){ id status } }";
const POLICY: &str =
    "mutation($o:ID!,$w:Workflow!,$i:PolicyInput!){ setPolicy(orgId:$o,workflow:$w,input:$i){ request{ status } } }";
const LIMITS: &str = "mutation($o:ID!,$i:RiskLimitsPatch!){ setRiskLimits(orgId:$o,input:$i){ request{ status } } }";
const ALERT: &str = "mutation($o:ID!,$t:Decimal){ setBalanceAlert(orgId:$o,thresholdUsd:$t){ request{ status } } }";

/// A person with a real name (the harness names people after their e-mail's
/// local part), enrolled in two-factor and verified.
async fn person(app: &TestApp, email: &str, name: &str) -> Session {
    let d = app
        .ok(
            None,
            "mutation($e:String!,$p:String!,$n:String!){ signUp(email:$e,password:$p,name:$n){ token user{ id } } }",
            json!({"e": email, "p": tests::PASSWORD, "n": name}),
        )
        .await;
    let mut s = Session {
        token: d["signUp"]["token"].as_str().expect("token").to_string(),
        user_id: d["signUp"]["user"]["id"].as_str().expect("id").to_string(),
        email: email.to_string(),
        password: tests::PASSWORD.to_string(),
        totp_secret: None,
    };
    app.enrol(&mut s).await;
    s
}

/// Invites `email` as `roles`, and has the named person accept from the
/// e-mailed link; returns their session and member id.
async fn member(
    app: &TestApp,
    owner: &Session,
    org: &str,
    email: &str,
    name: &str,
    roles: &[&str],
) -> (Session, String) {
    let r = app.invite(owner, org, email, roles).await;
    assert_eq!(r["status"], "COMPLETED", "{r}");
    let token = app.outbox_token(email).await;
    let s = person(app, email, name).await;
    let d =
        app.ok(Some(&s.token), "mutation($t:String!){ acceptInvitation(token:$t){ id } }", json!({"t": token})).await;
    (s, d["acceptInvitation"]["id"].as_str().expect("member id").to_string())
}

fn ok_status(d: &Value, field: &str) {
    assert_eq!(d[field]["request"]["status"], "COMPLETED", "{field}: {d}");
}

/// The Owner sets up an organisation, then does every governed setting from
/// the console: members, service users and keys, policies, limits of each
/// layer, balance alert and pause, addresses and cooling-off, the withdrawal
/// window, delegations and approval notices — with a second admin approving
/// what waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_journey_in_chromium() {
    let app = spawn(Backend::Sqlite).await;
    let owner = person(&app, "olivia@example.com", "Olivia Owner").await;
    let org = app.create_org(&owner, "Acme Treasury").await;
    let account = app.first_account(&owner, &org).await;
    let (admin2, _) = member(&app, &owner, &org, "adam@example.com", "Adam Second", &["ADMIN"]).await;
    let (_, max_id) = member(&app, &owner, &org, "max@example.com", "Max Maker", &["MAKER"]).await;
    let (_, sam_id) = member(&app, &owner, &org, "sam@example.com", "Sam Signer", &["SIGNER"]).await;
    let (approver, _) = member(&app, &owner, &org, "april@example.com", "April Approver", &["APPROVER"]).await;
    app.ok(
        Some("operator-test-token"),
        "mutation{ setAssetPrice(asset:\"BTC\",usdPrice:\"64250.5\"){ symbol } }",
        json!({}),
    )
    .await;
    app.credit(&account, "USDC", "125000.5", "custody-usdc-1").await;
    app.credit(&account, "BTC", "1.25", "custody-btc-1").await;
    app.whitelist(&owner, &org, &account, "USDC", "0xc01dc01DC01dc01dC01dC01DC01DC01dc01DC01d").await;

    let fixture = browser::fixture(
        &app,
        json!({
            "users": {"owner": browser::credentials(&owner)},
            "org": org,
            "account": account,
            "admin2Token": admin2.token,
            "approverToken": approver.token,
            "members": {"max": max_id, "sam": sam_id},
        }),
    );
    browser::run("admin.mjs", fixture).await;
}

/// Four days of a treasury's life — withdrawals settled by members and by a
/// service user's key, limits on every layer, the balance alert moving
/// between healthy and low, well over a hundred audit records — then the
/// risk officer (a REVIEWER) reads usage, the outflow and alert charts and
/// the audit trail, filtered, paged to the end, verified and exported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn risk_officer_journey_in_chromium() {
    let app = spawn(Backend::Sqlite).await;
    // Start three days ago so the outflow history has several days.
    let today = app.now();
    app.clock.set(today - chrono::Duration::days(3));
    let mut owner = person(&app, "olivia@example.com", "Olivia Owner").await;
    let org = app.create_org(&owner, "Acme Treasury").await;
    let account = app.first_account(&owner, &org).await;
    let (mut maker, _) = member(&app, &owner, &org, "mark@example.com", "Mark Maker", &["MAKER"]).await;
    let (mut approver, _) = member(&app, &owner, &org, "ada@example.com", "Ada Approver", &["APPROVER"]).await;
    let (mut signer, signer_id) = member(&app, &owner, &org, "sid@example.com", "Sid Signer", &["SIGNER"]).await;
    let (risk, _) = member(&app, &owner, &org, "rhea@example.com", "Rhea Risk", &["REVIEWER"]).await;
    let address = app.whitelist(&owner, &org, &account, "USDC", "0xfEEDFEEDfeEDFEedFEEdFEEDFeEdfEEdFeEdFEEd").await;
    app.credit(&account, "USDC", "250000", "custody-usdc-1").await;

    let d = app
        .ok(
            Some(&owner.token),
            POLICY,
            json!({"o": org, "w": "INITIATE_WITHDRAWAL", "i": {"requiredApprovals": 1, "alwaysRequireApproval": false, "approvalThresholdUsd": "1000"}}),
        )
        .await;
    ok_status(&d, "setPolicy");
    let create = "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"Payouts bot\",scopes:[WITHDRAW,QUERY_FUNDS],nonceWindow:100000}){ request{ status } apiKey{ keyId secret } } }";
    let d = app.ok(Some(&owner.token), create, json!({"o": org})).await;
    let key = (
        d["createServiceUser"]["apiKey"]["keyId"].as_str().expect("key id").to_string(),
        d["createServiceUser"]["apiKey"]["secret"].as_str().expect("secret").to_string(),
    );
    for patch in [
        json!({"layer": "ORGANIZATION", "perTransactionMaxUsd": "50000", "dailyCapUsd": "100000"}),
        json!({"layer": "API_KEY", "apiKeyId": key.0, "perTransactionMaxUsd": "900", "dailyCapUsd": "5000"}),
        json!({"layer": "SIGNER", "memberId": signer_id, "dailyCapUsd": "40000"}),
    ] {
        let d = app.ok(Some(&owner.token), LIMITS, json!({"o": org, "i": patch})).await;
        ok_status(&d, "setRiskLimits");
    }

    // Each day: the maker's withdrawal (approved, executed) and the key's
    // small payout (no approval needed, executed by the signer); the
    // balance alert's threshold set above and below the balance, so the
    // alert turns LOW and HEALTHY again.
    let days = [("12000", "400"), ("3500.75", "650"), ("21000", "300"), ("8000", "875.5")];
    for (day, (member_amount, key_amount)) in days.iter().enumerate() {
        if day > 0 {
            app.clock.advance(chrono::Duration::days(1));
            app.run_daily_jobs().await;
            for s in [&mut owner, &mut maker, &mut approver, &mut signer] {
                s.token = app.sign_in(s).await;
            }
        }
        let input = |amount: &str| json!({"o": org, "i": {"accountId": account, "asset": "USDC", "amount": amount, "addressId": address}});
        let d = app.ok(Some(&maker.token), WITHDRAW, input(member_amount)).await;
        let id = d["withdraw"]["request"]["id"].as_str().expect("request id").to_string();
        assert_eq!(d["withdraw"]["request"]["status"], "PENDING_APPROVAL", "{d}");
        app.ok(Some(&approver.token), APPROVE, json!({"r": id})).await;
        let d = app.ok(Some(&signer.token), EXECUTE, json!({"r": id})).await;
        assert_eq!(d["execute"]["status"], "COMPLETED", "{d}");

        let nonce = day as u64 + 1;
        let (status, body) = app.signed(&key, nonce, WITHDRAW, input(key_amount)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["withdraw"]["request"]["status"], "APPROVED", "{body}");
        let id = body["data"]["withdraw"]["request"]["id"].as_str().expect("request id").to_string();
        let d = app.ok(Some(&signer.token), EXECUTE, json!({"r": id})).await;
        assert_eq!(d["execute"]["status"], "COMPLETED", "{d}");

        for threshold in ["300000", "150000"] {
            let d = app.ok(Some(&owner.token), ALERT, json!({"o": org, "t": threshold})).await;
            ok_status(&d, "setBalanceAlert");
            app.run_minutely_jobs().await;
        }
    }
    // Today also: well over a hundred audit records, so the trail pages.
    let extra_alerts = 60;
    for i in 0..extra_alerts {
        let d = app.ok(Some(&owner.token), ALERT, json!({"o": org, "t": format!("{}", 140000 + i)})).await;
        ok_status(&d, "setBalanceAlert");
    }
    app.run_minutely_jobs().await;
    let d = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ auditVerification{ valid records } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(d["organization"]["auditVerification"]["valid"], true, "{d}");
    let records = d["organization"]["auditVerification"]["records"].as_i64().unwrap_or(0);
    assert!(records > 100, "the trail has {records} records");

    let fixture = browser::fixture(
        &app,
        json!({
            "users": {"risk": browser::credentials(&risk)},
            "org": org,
            "records": records,
            // The owner's SET_BALANCE_ALERT records: two on each day, and the extra ones today.
            "ownerAlertsToday": 2 + extra_alerts,
            "ownerAlertsFirstDay": 2,
            "firstDay": (today - chrono::Duration::days(3)).format("%Y-%m-%d").to_string(),
            "today": app.now().format("%Y-%m-%d").to_string(),
            "outflow": days.iter().map(|(m, k)| json!({"member": m, "key": k})).collect::<Vec<_>>(),
        }),
    );
    browser::run("risk.mjs", fixture).await;
}
