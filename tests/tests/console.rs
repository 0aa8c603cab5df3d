//! The web console's shell (issue 18): every GraphQL operation it sends is
//! valid against `schema.graphql`, its pages are served at their own
//! addresses, the explorer loads the schema, and a person using only the
//! keyboard can sign in and decide requests. The journeys of the people
//! who use it are in `console_people.rs` and `console_admin.rs`.

use serde_json::json;
use tests::{Backend, browser, spawn};

#[tokio::test]
async fn console_operations_match_the_schema() {
    let dir = browser::browser_dir().await;
    let out =
        tokio::process::Command::new("node").arg("operations.mjs").current_dir(&dir).output().await.expect("node runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "console operations do not match schema.graphql:\n{stdout}\n{stderr}");
    assert!(stdout.contains("console operations valid"), "{stdout}");
}

#[tokio::test]
async fn page_addresses_answer_with_the_console() {
    let app = spawn(Backend::Sqlite).await;
    let client = reqwest::Client::new();
    for path in ["/", "/approvals", "/requests/00000000-0000-0000-0000-000000000000", "/invite/abc", "/audit"] {
        let res = client.get(format!("{}{path}", app.base)).send().await.expect("get");
        assert_eq!(res.status(), 200, "{path}");
        let csp = res.headers().get("content-security-policy").expect("csp").to_str().unwrap_or_default().to_string();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        // Invitation links carry a token: it must not leak in a Referer.
        assert_eq!(res.headers().get("referrer-policy").map(|v| v.to_str().unwrap_or_default()), Some("no-referrer"));
        assert!(res.text().await.expect("body").contains("/console/main.js"), "{path}");
    }
    for path in ["/console/main.js", "/console/vendor/preact.mjs", "/console/lib/ui.js"] {
        let res = client.get(format!("{}{path}", app.base)).send().await.expect("get");
        assert_eq!(res.status(), 200, "{path}");
        assert!(res.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/javascript"), "{path}");
    }
    for path in ["/console/../Cargo.toml", "/console/nope.js", "/nowhere"] {
        let res = client.get(format!("{}{path}", app.base)).send().await.expect("get");
        assert_eq!(res.status(), 404, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explorer_loads_the_schema_in_chromium() {
    let app = spawn(Backend::Sqlite).await;
    let owner = app.user("owner@example.com").await;
    app.create_org(&owner, "Acme Treasury").await;
    let fixture = browser::fixture(&app, json!({"users": {"owner": browser::credentials(&owner)}}));
    browser::run("explorer.mjs", fixture).await;
}

/// An approver with two withdrawals waiting: one to approve, one to reject.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyboard_alone_signs_in_and_decides() {
    let app = spawn(Backend::Sqlite).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme Treasury").await;
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    let (approver, _) = app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let account = app.first_account(&owner, &org).await;
    let address = app.whitelist(&owner, &org, &account, "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").await;
    app.credit(&account, "USDC", "10000", "custody-1").await;
    let policy = "mutation($o:ID!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:{requiredApprovals:1,alwaysRequireApproval:true}){ request{ status } } }";
    app.ok(Some(&owner.token), policy, json!({"o": org})).await;
    let withdraw = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status } } }";
    let mut ids = Vec::new();
    for amount in ["120", "340"] {
        let input = json!({"accountId": account, "asset": "USDC", "amount": amount, "addressId": address});
        let d = app.ok(Some(&maker.token), withdraw, json!({"o": org, "i": input})).await;
        assert_eq!(d["withdraw"]["request"]["status"], "PENDING_APPROVAL");
        ids.push(d["withdraw"]["request"]["id"].as_str().unwrap_or_default().to_string());
    }
    let fixture = browser::fixture(
        &app,
        json!({"users": {"approver": browser::credentials(&approver)}, "approve": ids[0], "reject": ids[1]}),
    );
    browser::run("keyboard.mjs", fixture).await;
    let status = "query($r:ID!){ request(id:$r){ status reason } }";
    let approved = app.ok(Some(&owner.token), status, json!({"r": ids[0]})).await;
    assert_eq!(approved["request"]["status"], "APPROVED");
    let rejected = app.ok(Some(&owner.token), status, json!({"r": ids[1]})).await;
    assert_eq!(rejected["request"], json!({"status": "REJECTED", "reason": "Destination not on the payment run"}));
}
