//! Treasury controls past approval itself, end to end on both databases:
//! policy versions recorded on requests, withdrawals paused while the balance
//! alert is LOW, rotated keys' overlap, address cooling-off, withdrawal time
//! windows, dry runs, approver digests and delegated approval.

use serde_json::{Value, json};
use std::time::Duration;
use tests::{Backend, TestApp, both_backends, spawn, spawn_with};

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
    let account = app.first_account(&owner, &org).await;
    let address = app.whitelist(&owner, &org, &account, "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").await;
    let withdraw = |amount: &str| json!({"o": org, "i": {"accountId": account, "asset": "USDC", "amount": amount, "addressId": address}});
    app.credit(&account, "USDC", "5000", "custody-1").await;
    // Subscribe before the alert exists and take its first event, so no event
    // of the setup (on PostgreSQL it travels through NOTIFY and may arrive
    // late under load) can be mistaken for a later transition.
    let mut ws = app.ws(&owner.token).await;
    app.subscribe(
        &mut ws,
        "1",
        "subscription($o:ID!){ balanceAlertChanged(orgId:$o){ state withdrawalsPaused } }",
        json!({"o": org}),
    )
    .await;
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

async fn rotated_keys_overlap_for_their_grace_period(backend: Backend) {
    // A burst of 20 requests per identity: refusals must not spend it.
    let app = spawn_with(backend, |c| {
        c.rate_limit_per_minute = 600;
        c.rate_limit_burst = 20;
    })
    .await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let create = "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"bot\",scopes:[QUERY_FUNDS]}){ apiKey{ keyId secret } } }";
    let d = app.ok(Some(&owner.token), create, json!({"o": org})).await;
    let k = &d["createServiceUser"]["apiKey"];
    let old = (k["keyId"].as_str().unwrap().to_string(), k["secret"].as_str().unwrap().to_string());
    let q = "{ viewer { serviceUser { name } } }";
    let update =
        "mutation($o:ID!,$k:ID!,$p:ApiKeyPatch!){ updateApiKey(orgId:$o,keyId:$k,input:$p){ request{ status } } }";

    // Refused for its IP range: no nonce consumed, no allowance spent. (A
    // nonce window lets the 20 requests below arrive in any order.)
    let p = json!({"ipAllowlist": ["10.0.0.0/8"], "nonceWindow": 1000});
    app.ok(Some(&owner.token), update, json!({"o": org, "k": old.0, "p": p})).await;
    for n in 1..=12 {
        let (s, b) = app.signed(&old, n, q, json!({})).await;
        assert_eq!((s, b["errors"][0]["extensions"]["code"].as_str()), (403, Some("FORBIDDEN")));
    }
    let p = json!({"ipAllowlist": ["127.0.0.0/8", "::1/128"]});
    app.ok(Some(&owner.token), update, json!({"o": org, "k": old.0, "p": p})).await;
    let burst = futures_util::future::join_all((1..=20).map(|n| app.signed(&old, n, q, json!({})))).await;
    let statuses: Vec<u16> = burst.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, vec![200; 20], "nonces 1-20 unused and the whole burst intact");
    // The allowance refills at 10 a second: a second later, enough for the rest.
    app.clock.advance(chrono::Duration::seconds(1));
    app.ok(Some(&owner.token), update, json!({"o": org, "k": old.0, "p": {"nonceWindow": null}})).await;
    app.clock.advance(chrono::Duration::seconds(60));

    // Grace is bounded to a day and must be a duration.
    let rotate = "mutation($o:ID!,$k:ID!,$g:Duration){ rotateApiKey(orgId:$o,keyId:$k,grace:$g){ request{ status } apiKey{ secret } } }";
    for bad in ["P2D", "PT25H", "1 hour", "-PT1H"] {
        let body = app.gql(Some(&owner.token), rotate, json!({"o": org, "k": old.0, "g": bad})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_INPUT", "{bad}: {body}");
    }

    // Rotation with an hour of overlap: both secrets work, then only the new.
    let before = app.now();
    let d = app.ok(Some(&owner.token), rotate, json!({"o": org, "k": old.0, "g": "PT1H"})).await;
    let after = app.now();
    let new = (old.0.clone(), d["rotateApiKey"]["apiKey"]["secret"].as_str().unwrap().to_string());
    let keys = "query($o:ID!){ organization(id:$o){ serviceUsers{ keys{ previousSecretValidUntil } } } }";
    let d = app.ok(Some(&owner.token), keys, json!({"o": org})).await;
    let until =
        d["organization"]["serviceUsers"][0]["keys"][0]["previousSecretValidUntil"].as_str().unwrap().to_string();
    let until = chrono::DateTime::parse_from_rfc3339(&until).unwrap();
    let hour = chrono::Duration::hours(1);
    assert!(before + hour <= until && until <= after + hour, "{until}: an hour after the rotation");
    assert_eq!(app.signed(&old, 24, q, json!({})).await.0, 200, "old secret within the grace");
    assert_eq!(app.signed(&new, 25, q, json!({})).await.0, 200, "new secret at once");
    app.clock.advance(chrono::Duration::minutes(59));
    assert_eq!(app.signed(&old, 26, q, json!({})).await.0, 200, "old secret one minute before the end");
    app.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(app.signed(&old, 27, q, json!({})).await.0, 401, "old secret refused after the grace");
    assert_eq!(app.signed(&new, 27, q, json!({})).await.0, 200, "the refusal consumed no nonce");
    let owner_token = app.sign_in(&owner).await;
    let d = app.ok(Some(&owner_token), keys, json!({"o": org})).await;
    assert_eq!(d["organization"]["serviceUsers"][0]["keys"][0]["previousSecretValidUntil"], Value::Null);

    // Revocation cuts a secret still within its grace at once.
    let d = app.ok(Some(&owner_token), rotate, json!({"o": org, "k": old.0, "g": "P1D"})).await;
    let newest = (old.0.clone(), d["rotateApiKey"]["apiKey"]["secret"].as_str().unwrap().to_string());
    assert_eq!(app.signed(&new, 28, q, json!({})).await.0, 200);
    assert_eq!(app.signed(&newest, 29, q, json!({})).await.0, 200);
    app.ok(
        Some(&owner_token),
        "mutation($o:ID!,$k:ID!){ revokeApiKey(orgId:$o,keyId:$k){ request{ status } } }",
        json!({"o": org, "k": old.0}),
    )
    .await;
    assert_eq!(app.signed(&new, 30, q, json!({})).await.0, 401);
    assert_eq!(app.signed(&newest, 31, q, json!({})).await.0, 401);

    // The audit trail records the overlap.
    let d = app
        .ok(
            Some(&owner_token),
            "query($o:ID!){ organization(id:$o){ auditLog(first:20){ edges{ node{ action after } } } } }",
            json!({"o": org}),
        )
        .await;
    let text = d.to_string();
    assert!(text.contains("PT3600S") && text.contains("PT86400S"), "{text}");
}

async fn new_addresses_cool_off_before_they_receive(backend: Backend) {
    let app = spawn_with(backend, |c| c.address_cooling_off_secs = 24 * 3600).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let d = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ addressCoolingOff accounts{ id } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(d["organization"]["addressCoolingOff"], "PT86400S", "the deployment default: a day");
    let account = d["organization"]["accounts"][0]["id"].as_str().unwrap().to_string();
    app.credit(&account, "USDC", "1000", "custody-1").await;
    let add = |address: &str| json!({"o": org, "i": {"accountId": account, "asset": "USDC", "network": "ethereum", "address": address, "label": address}});
    let add_address = "mutation($o:ID!,$i:AddressInput!){ addAddress(orgId:$o,input:$i){ request{ status } } }";
    let addresses = "query($o:ID!){ organization(id:$o){ addresses{ id address usableFrom coolingOff } } }";
    let address_of = |d: &Value, address: &str| {
        d["organization"]["addresses"].as_array().unwrap().iter().find(|a| a["address"] == address).unwrap().clone()
    };
    let withdraw = |address_id: &Value| json!({"o": org, "i": {"accountId": account, "asset": "USDC", "amount": "10", "addressId": address_id}});

    let before = app.now();
    app.ok(Some(&owner.token), add_address, add("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")).await;
    let after = app.now();
    let a = address_of(
        &app.ok(Some(&maker.token), addresses, json!({"o": org})).await,
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    );
    let usable = chrono::DateTime::parse_from_rfc3339(a["usableFrom"].as_str().unwrap()).unwrap();
    let day = chrono::Duration::hours(24);
    assert!(before + day <= usable && usable <= after + day, "{usable}: a day after it was whitelisted");
    assert_eq!(a["coolingOff"], true);

    // Refused while cooling off, saying until when; nothing held or written.
    let body = app.gql(Some(&maker.token), WITHDRAW, withdraw(&a["id"])).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "ADDRESS_COOLING_OFF", "{body}");
    let until = body["errors"][0]["extensions"]["usableFrom"].as_str().unwrap();
    assert_eq!(chrono::DateTime::parse_from_rfc3339(until).unwrap(), usable);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("can receive from"), "{body}");
    let d = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ accounts{ holdings{ held } } requests(first:50){ edges{ node{ operation } } } } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(d["organization"]["accounts"][0]["holdings"][0]["held"], "0");
    assert!(!d.to_string().contains("WITHDRAW\""), "no withdrawal request written: {d}");

    // The dry run names the same refusal.
    let d = app
        .ok(
            Some(&maker.token),
            "query($o:ID!,$i:WithdrawalInput!){ simulateWithdrawal(orgId:$o,input:$i){ outcome failures{ code } } }",
            withdraw(&a["id"]),
        )
        .await;
    assert_eq!(d["simulateWithdrawal"]["failures"], json!([{"code": "ADDRESS_COOLING_OFF"}]), "{d}");

    let usable = usable.with_timezone(&chrono::Utc);
    travel_to(&app, usable - chrono::Duration::minutes(5));
    let maker_token = app.sign_in(&maker).await;
    let owner_token = app.sign_in(&owner).await;
    travel_to(&app, usable - chrono::Duration::seconds(1));
    assert_eq!(app.err(Some(&maker_token), WITHDRAW, withdraw(&a["id"])).await, "ADDRESS_COOLING_OFF");
    travel_to(&app, usable);
    let d = app.ok(Some(&maker_token), WITHDRAW, withdraw(&a["id"])).await;
    assert_eq!(d["withdraw"]["request"]["status"], "APPROVED");
    let a = address_of(
        &app.ok(Some(&maker_token), addresses, json!({"o": org})).await,
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    );
    assert_eq!(a["coolingOff"], false);

    // The organisation shortens its delay for addresses whitelisted from now on.
    let set = "mutation($o:ID!,$d:Duration!){ setAddressCoolingOff(orgId:$o,delay:$d){ request{ status } } }";
    for bad in ["P31D", "PT-1H", "soon"] {
        let body = app.gql(Some(&owner_token), set, json!({"o": org, "d": bad})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_INPUT", "{bad}: {body}");
    }
    let d = app.ok(Some(&owner_token), set, json!({"o": org, "d": "PT2H"})).await;
    assert_eq!(d["setAddressCoolingOff"]["request"]["status"], "COMPLETED");
    app.ok(Some(&owner_token), add_address, add("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359")).await;
    let b = address_of(
        &app.ok(Some(&maker_token), addresses, json!({"o": org})).await,
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    );
    assert_eq!(app.err(Some(&maker_token), WITHDRAW, withdraw(&b["id"])).await, "ADDRESS_COOLING_OFF");
    app.clock.advance(chrono::Duration::hours(2));
    let maker_token = app.sign_in(&maker).await;
    let d = app.ok(Some(&maker_token), WITHDRAW, withdraw(&b["id"])).await;
    assert_eq!(d["withdraw"]["request"]["status"], "APPROVED");
}

/// Moves the test clock forward to `at`.
fn travel_to(app: &TestApp, at: chrono::DateTime<chrono::Utc>) {
    let now = app.now();
    assert!(at >= now, "the clock only moves forward");
    app.clock.advance(at - now);
}

/// The first Monday after `now`, at `hh:mm` in Zurich, in UTC.
fn next_zurich_monday(now: chrono::DateTime<chrono::Utc>, hh: u32, mm: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::{Datelike, TimeZone};
    let tz = chrono_tz::Europe::Zurich;
    let mut day = now.with_timezone(&tz).date_naive() + chrono::Duration::days(1);
    while day.weekday() != chrono::Weekday::Mon {
        day += chrono::Duration::days(1);
    }
    tz.from_local_datetime(&day.and_hms_opt(hh, mm, 0).unwrap()).unwrap().with_timezone(&chrono::Utc)
}

async fn withdrawals_keep_to_the_window(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    let (approver, _) = app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let withdraw = json!({"o": org, "i": amount(&funded_address(&app, &owner, &org).await, "10")});
    let set =
        "mutation($o:ID!,$i:WithdrawalWindowInput){ setWithdrawalWindow(orgId:$o,input:$i){ request{ status } } }";
    let office = |outside: &str| json!({"o": org, "i": {"timeZone": "Europe/Zurich", "days": ["MON", "TUE", "WED", "THU", "FRI"], "opens": "08:00", "closes": "18:00", "outside": outside}});

    // Bad windows are refused before anything is written.
    for bad in [
        json!({"timeZone": "Mars/Olympus", "days": ["MON"], "opens": "08:00", "closes": "18:00"}),
        json!({"timeZone": "UTC", "days": [], "opens": "08:00", "closes": "18:00"}),
        json!({"timeZone": "UTC", "days": ["MON"], "opens": "18:00", "closes": "08:00"}),
        json!({"timeZone": "UTC", "days": ["MON"], "opens": "8am", "closes": "18:00"}),
        json!({"timeZone": "UTC", "days": ["FUNDAY"], "opens": "08:00", "closes": "18:00"}),
    ] {
        let body = app.gql(Some(&owner.token), set, json!({"o": org, "i": bad})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_INPUT", "{body}");
    }
    let d = app.ok(Some(&owner.token), set, office("REFUSE")).await;
    assert_eq!(d["setWithdrawalWindow"]["request"]["status"], "COMPLETED");

    // Monday 09:00 in Zurich: open.
    let monday = next_zurich_monday(app.now(), 9, 0);
    travel_to(&app, monday - chrono::Duration::minutes(10));
    let maker_t = app.sign_in(&maker).await;
    travel_to(&app, monday);
    let window =
        "query($o:ID!){ organization(id:$o){ withdrawalWindow{ timeZone days opens closes outside openNow } } }";
    let d = app.ok(Some(&maker_t), window, json!({"o": org})).await;
    assert_eq!(
        d["organization"]["withdrawalWindow"],
        json!({"timeZone": "Europe/Zurich", "days": ["MON", "TUE", "WED", "THU", "FRI"], "opens": "08:00", "closes": "18:00", "outside": "REFUSE", "openNow": true})
    );
    let d = app.ok(Some(&maker_t), WITHDRAW, withdraw.clone()).await;
    assert_eq!(d["withdraw"]["request"]["status"], "APPROVED");

    // Monday 18:00 (closing time is exclusive) and Saturday: refused, nothing held.
    travel_to(&app, monday + chrono::Duration::hours(9) - chrono::Duration::minutes(10));
    let maker_t = app.sign_in(&maker).await;
    travel_to(&app, monday + chrono::Duration::hours(9));
    let body = app.gql(Some(&maker_t), WITHDRAW, withdraw.clone()).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "OUTSIDE_WINDOW", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("Europe/Zurich"), "{body}");
    let d = app
        .ok(
            Some(&maker_t),
            "query($o:ID!,$i:WithdrawalInput!){ simulateWithdrawal(orgId:$o,input:$i){ outcome failures{ code } } }",
            withdraw.clone(),
        )
        .await;
    assert_eq!(d["simulateWithdrawal"], json!({"outcome": "REFUSED", "failures": [{"code": "OUTSIDE_WINDOW"}]}));
    let saturday = monday + chrono::Duration::days(5) + chrono::Duration::hours(1);
    travel_to(&app, saturday - chrono::Duration::minutes(10));
    let (owner_t, maker_t, approver_t) =
        (app.sign_in(&owner).await, app.sign_in(&maker).await, app.sign_in(&approver).await);
    travel_to(&app, saturday);
    assert_eq!(app.err(Some(&maker_t), WITHDRAW, withdraw.clone()).await, "OUTSIDE_WINDOW");
    let d = app
        .ok(Some(&owner_t), "query($o:ID!){ organization(id:$o){ accounts{ holdings{ held } } } }", json!({"o": org}))
        .await;
    assert_eq!(d["organization"]["accounts"][0]["holdings"][0]["held"], "10", "only Monday's withdrawal is held");

    // With REQUIRE_APPROVAL, a weekend withdrawal waits for an approver instead.
    app.ok(Some(&owner_t), set, office("REQUIRE_APPROVAL")).await;
    let d = app
        .ok(Some(&maker_t), "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status approvalsRequired waitingReason } } }", withdraw.clone())
        .await;
    let r = &d["withdraw"]["request"];
    assert_eq!((r["status"].as_str(), r["approvalsRequired"].as_i64()), (Some("PENDING_APPROVAL"), Some(1)), "{d}");
    assert!(r["waitingReason"].as_str().unwrap().contains("outside the withdrawal window"), "{d}");
    let d = app
        .ok(Some(&approver_t), "mutation($r:ID!){ approveRequest(requestId:$r){ status } }", json!({"r": r["id"]}))
        .await;
    assert_eq!(d["approveRequest"]["status"], "APPROVED");

    // Lifting the window lets withdrawals through at any time again.
    app.ok(Some(&owner_t), set, json!({"o": org, "i": null})).await;
    let d = app.ok(Some(&maker_t), window, json!({"o": org})).await;
    assert_eq!(d["organization"]["withdrawalWindow"], Value::Null);
    let d = app.ok(Some(&maker_t), WITHDRAW, withdraw.clone()).await;
    assert_eq!(d["withdraw"]["request"]["status"], "APPROVED");
}

both_backends!(
    withdrawals_keep_to_the_window,
    new_addresses_cool_off_before_they_receive,
    requests_keep_the_policy_they_were_made_under,
    withdrawals_pause_while_the_balance_is_low,
    rotated_keys_overlap_for_their_grace_period
);

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
    let input = json!({"accountId": account, "asset": "USDC", "network": "ethereum", "address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "label": "cold"});
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
        // At or below the threshold a maker needs no approval either (issue 17).
        (&maker, input("50", false, &address), "COMPLETES_NOW", vec![]),
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

/// The e-mails in the outbox to `email` whose subject contains `subject`,
/// with quoted-printable soft line breaks undone.
fn mails_to(app: &TestApp, email: &str, subject: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(&app.outbox) else { return Vec::new() };
    dir.flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .map(|t| t.replace("=\r\n", "").replace("=\n", "").replace("=3D", "="))
        .filter(|t| t.contains(&format!("To: {email}")) && t.contains(subject))
        .collect()
}

/// Once every e-mail is sent (none queued or sending), `email`'s digests: exactly `n`.
async fn digests(app: &TestApp, email: &str, n: usize) -> Vec<String> {
    app.mail_settled().await;
    let all = mails_to(app, email, "for your approval");
    assert_eq!(all.len(), n, "{email}: exactly {n} digest(s)");
    all
}

/// 1,000 USDC in the organisation's account and a whitelisted address: a
/// withdrawal input without its amount.
async fn funded_address(app: &TestApp, owner: &tests::Session, org: &str) -> Value {
    let account = app.first_account(owner, org).await;
    app.credit(&account, "USDC", "1000", "custody-1").await;
    let address = app.whitelist(owner, org, &account, "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").await;
    json!({"accountId": account, "asset": "USDC", "addressId": address})
}

/// [`funded_address`], with withdrawals waiting for one approval.
async fn withdrawal_setup(app: &TestApp, owner: &tests::Session, org: &str) -> Value {
    let input = funded_address(app, owner, org).await;
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:{requiredApprovals:1,alwaysRequireApproval:true}){ request{ status } } }",
        json!({"o": org}),
    )
    .await;
    input
}

fn amount(base: &Value, amount: &str) -> Value {
    let mut i = base.clone();
    i["amount"] = json!(amount);
    i
}

async fn approvers_get_one_digest_a_minute_unless_they_opt_out(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    app.add_member(&owner, &org, "alice@example.com", &["APPROVER"]).await;
    let (bob, bob_member) = app.add_member(&owner, &org, "bob@example.com", &["APPROVER"]).await;
    app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let w = withdrawal_setup(&app, &owner, &org).await;

    // Bob opts out.
    let d = app
        .ok(
            Some(&bob.token),
            "mutation($o:ID!){ setApprovalNotices(orgId:$o,enabled:false){ id approvalNotices } }",
            json!({"o": org}),
        )
        .await;
    assert_eq!(d["setApprovalNotices"], json!({"id": bob_member, "approvalNotices": false}));

    let d = app.ok(Some(&maker.token), WITHDRAW, json!({"o": org, "i": amount(&w, "25")})).await;
    let first = d["withdraw"]["request"]["id"].as_str().unwrap().to_string();
    assert_eq!(d["withdraw"]["request"]["status"], "PENDING_APPROVAL");
    app.run_minutely_jobs().await;
    let mail = digests(&app, "alice@example.com", 1).await.remove(0);
    assert!(mail.contains("Subject: [Acme] a request waits for your approval"), "{mail}");
    for what in [
        "WITHDRAW",
        "maker@example.com",
        "Amount: 25 USDC",
        // Where it goes and from where, by name.
        "To: cold (ethereum 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed)",
        "From account: Main",
        "Review it at http",
        // The request's own page in the console.
        &format!("/requests/{first}"),
    ] {
        assert!(mail.contains(what), "{what} in {mail}");
    }
    digests(&app, "owner@example.com", 1).await;
    assert!(mails_to(&app, "bob@example.com", "approval").is_empty(), "bob opted out");
    assert!(mails_to(&app, "maker@example.com", "approval").is_empty(), "the requester approves nothing");

    // Two more within the minute: no second digest until a minute has passed,
    // then one digest with both.
    for a in ["26", "27"] {
        app.ok(Some(&maker.token), WITHDRAW, json!({"o": org, "i": amount(&w, a)})).await;
    }
    app.run_minutely_jobs().await;
    digests(&app, "alice@example.com", 1).await;
    app.clock.advance(chrono::Duration::seconds(61));
    app.run_minutely_jobs().await;
    let mails = digests(&app, "alice@example.com", 2).await;
    let second = mails.iter().find(|m| m.contains("2 requests wait")).expect("a digest of two");
    assert!(second.contains("Amount: 26 USDC") && second.contains("Amount: 27 USDC"), "{second}");
    app.run_minutely_jobs().await;
    digests(&app, "alice@example.com", 2).await;

    // The opt-out is audited.
    let d = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ auditLog(first:100){ edges{ node{ action } } } } }",
            json!({"o": org}),
        )
        .await;
    assert!(d.to_string().contains("APPROVAL_NOTICES_SET"));
}

const DELEGATE: &str =
    "mutation($o:ID!,$i:DelegationInput!){ delegateApproval(orgId:$o,input:$i){ request{ status } } }";
const APPROVE: &str = "mutation($r:ID!){ approveRequest(requestId:$r){ status approvals{ delegationId } } }";

async fn approval_can_be_delegated_for_a_while(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let (maker, maker_member) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    let (alice, alice_member) = app.add_member(&owner, &org, "alice@example.com", &["APPROVER"]).await;
    let (bob, bob_member) = app.add_member(&owner, &org, "bob@example.com", &["MAKER"]).await;
    app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let w = withdrawal_setup(&app, &owner, &org).await;
    let until = |days: i64| (app.now() + chrono::Duration::days(days)).to_rfc3339();
    let lend = |to: &str, until: String| json!({"o": org, "i": {"toMemberId": to, "workflow": "INITIATE_WITHDRAWAL", "until": until}});

    // Refusals: no APPROVE to lend, lent APPROVE cannot be lent on, bad periods.
    assert_eq!(app.err(Some(&maker.token), DELEGATE, lend(&bob_member, until(7))).await, "FORBIDDEN");
    for (input, why) in [
        (lend(&bob_member, (app.now() - chrono::Duration::hours(1)).to_rfc3339()), "in the past"),
        (lend(&bob_member, until(91)), "longer than 90 days"),
        (lend(&alice_member, until(7)), "to oneself"),
    ] {
        assert_eq!(app.err(Some(&alice.token), DELEGATE, input).await, "BAD_INPUT", "{why}");
    }

    // Alice lends her APPROVE on withdrawals to Bob for a week.
    let d = app.ok(Some(&alice.token), DELEGATE, lend(&bob_member, until(7))).await;
    assert_eq!(d["delegateApproval"]["request"]["status"], "COMPLETED");
    let members = "query($o:ID!){ organization(id:$o){ members{ id delegationsGiven{ id toMemberId active } delegationsReceived{ id fromMemberId workflow active } } } }";
    let d = app.ok(Some(&owner.token), members, json!({"o": org})).await;
    let member =
        |id: &str| d["organization"]["members"].as_array().unwrap().iter().find(|m| m["id"] == id).unwrap().clone();
    let given = &member(&alice_member)["delegationsGiven"][0];
    let received = &member(&bob_member)["delegationsReceived"][0];
    assert_eq!((given["toMemberId"].as_str(), given["active"].as_bool()), (Some(bob_member.as_str()), Some(true)));
    assert_eq!(received["fromMemberId"], alice_member);
    assert_eq!(received["workflow"], "INITIATE_WITHDRAWAL");
    assert_eq!(given["id"], received["id"]);
    let delegation = given["id"].clone();
    assert_eq!(app.err(Some(&bob.token), DELEGATE, lend(&maker_member, until(3))).await, "FORBIDDEN", "no chains");

    // Bob counts as an approver and approves the maker's withdrawal; the
    // approval and the audit trail name the delegation.
    let d = app.ok(Some(&maker.token), WITHDRAW, json!({"o": org, "i": amount(&w, "10")})).await;
    let r = d["withdraw"]["request"]["id"].clone();
    let eligible = "query($r:ID!){ request(id:$r){ eligibleApprovers{ email } } }";
    let d = app.ok(Some(&owner.token), eligible, json!({"r": r})).await;
    assert!(d.to_string().contains("bob@example.com"), "{d}");
    let d = app.ok(Some(&bob.token), APPROVE, json!({"r": r})).await;
    assert_eq!(d["approveRequest"], json!({"status": "APPROVED", "approvals": [{"delegationId": delegation}]}));
    let d = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ auditLog(first:100){ edges{ node{ action after } } } } }",
            json!({"o": org}),
        )
        .await;
    let approved = d["organization"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["action"] == "REQUEST_APPROVED")
        .unwrap()["node"]["after"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(approved.contains(delegation.as_str().unwrap()) && approved.contains(&alice_member), "{approved}");

    // Never for his own request.
    let d = app.ok(Some(&bob.token), WITHDRAW, json!({"o": org, "i": amount(&w, "11")})).await;
    let own = d["withdraw"]["request"]["id"].clone();
    assert_eq!(app.err(Some(&bob.token), APPROVE, json!({"r": own})).await, "SELF_APPROVAL");

    // It lapses by itself after the week. (The request is made after it: one
    // made before would have expired, its 72 h TTL past, on the first touch.)
    app.clock.advance(chrono::Duration::days(7));
    let (owner_t, bob_t, alice_t) = (app.sign_in(&owner).await, app.sign_in(&bob).await, app.sign_in(&alice).await);
    let maker_t = app.sign_in(&maker).await;
    let d = app.ok(Some(&maker_t), WITHDRAW, json!({"o": org, "i": amount(&w, "12")})).await;
    let later = d["withdraw"]["request"]["id"].clone();
    assert_eq!(app.err(Some(&bob_t), APPROVE, json!({"r": later})).await, "FORBIDDEN", "lapsed");
    let d = app.ok(Some(&owner_t), eligible, json!({"r": later})).await;
    assert!(!d.to_string().contains("bob@example.com"), "{d}");
    let d = app.ok(Some(&owner_t), members, json!({"o": org})).await;
    assert!(!d.to_string().contains("\"active\":true"), "{d}");

    // A new one, revoked at once by an administrator.
    let d = app.ok(Some(&alice_t), DELEGATE, json!({"o": org, "i": {"toMemberId": bob_member, "workflow": "INITIATE_WITHDRAWAL", "until": (app.now() + chrono::Duration::days(2)).to_rfc3339()}})).await;
    assert_eq!(d["delegateApproval"]["request"]["status"], "COMPLETED");
    let d = app.ok(Some(&owner_t), members, json!({"o": org})).await;
    let id = d["organization"]["members"].as_array().unwrap().iter().find(|m| m["id"] == bob_member).unwrap()
        ["delegationsReceived"][0]["id"]
        .clone();
    app.ok(
        Some(&owner_t),
        "mutation($o:ID!,$d:ID!){ revokeDelegation(orgId:$o,delegationId:$d){ request{ status } } }",
        json!({"o": org, "d": id}),
    )
    .await;
    assert_eq!(app.err(Some(&bob_t), APPROVE, json!({"r": later})).await, "FORBIDDEN", "revoked");
    let d = app.ok(Some(&alice_t), APPROVE, json!({"r": later})).await;
    assert_eq!(d["approveRequest"], json!({"status": "APPROVED", "approvals": [{"delegationId": null}]}));
}

both_backends!(approvers_get_one_digest_a_minute_unless_they_opt_out, approval_can_be_delegated_for_a_while);
