//! The web console in a real browser (issue 10): the server runs here, an
//! organisation is prepared over GraphQL, and `tests/browser/console.mjs`
//! drives headless Chromium (Debian's `chromium`, via Playwright) through it.
//! Screenshots of the main pages land in `target/console-screenshots/`.
//!
//! Needs `/usr/bin/chromium` (or `COUNTERSIGN_CHROMIUM`) and Node.js;
//! `.ci/run` installs both. The Node dependencies are installed on first use.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tests::{Backend, Session, spawn};

fn chromium() -> String {
    let path = std::env::var("COUNTERSIGN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&path).exists(),
        "the console test needs Chromium at {path}: `apt-get install chromium` (bash .ci/run does) or set COUNTERSIGN_CHROMIUM"
    );
    path
}

/// `tests/browser` with its Node dependencies installed.
async fn browser_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let status = tokio::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .await
            .expect("npm (Node.js) is needed for the console test");
        assert!(status.success(), "npm ci in tests/browser failed");
    }
    dir
}

fn credentials(s: &Session) -> serde_json::Value {
    json!({"email": s.email, "password": s.password, "totp": s.totp_secret})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_in_chromium() {
    let chromium = chromium();
    let dir = browser_dir().await;
    let app = spawn(Backend::Sqlite).await;

    // An organisation with a full treasury team, funds, a whitelisted
    // address, a daily cap, and withdrawals that always need one approval.
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme Treasury").await;
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    let (approver, _) = app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    let (signer, _) = app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let (reader, _) = app.add_member(&owner, &org, "reader@example.com", &["READ_ONLY"]).await;
    let d =
        app.ok(Some(&owner.token), "query($o:ID!){ organization(id:$o){ accounts{ id } } }", json!({"o": org})).await;
    let account = d["organization"]["accounts"][0]["id"].as_str().unwrap().to_string();
    app.credit(&account, "USDC", "10000", "custody-1").await;
    let input = json!({"accountId": account, "asset": "USDC", "network": "ethereum", "address": "0xA11ce", "label": "Cold wallet"});
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!,$i:AddressInput!){ addAddress(orgId:$o,input:$i){ request{ status } } }",
        json!({"o": org, "i": input}),
    )
    .await;
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!){ setRiskLimits(orgId:$o,input:{layer:ORGANIZATION,dailyCapUsd:\"5000\"}){ request{ status } } }",
        json!({"o": org}),
    )
    .await;
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:{requiredApprovals:1,alwaysRequireApproval:true}){ request{ status } } }",
        json!({"o": org}),
    )
    .await;
    // A second organisation with nobody to make, approve or sign.
    app.create_org(&owner, "Fresh").await;

    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    let fixture = json!({
        "base": app.base,
        "chromium": chromium,
        "screenshots": screenshots,
        "clockOffsetMs": (app.now() - chrono::Utc::now()).num_milliseconds(),
        "users": {
            "owner": credentials(&owner),
            "maker": credentials(&maker),
            "approver": credentials(&approver),
            "signer": credentials(&signer),
            "reader": credentials(&reader),
        },
    });
    let run = tokio::process::Command::new("node")
        .arg("console.mjs")
        .current_dir(&dir)
        .env("CONSOLE_FIXTURE", fixture.to_string())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("the browser test finishes within 4 minutes")
        .expect("node runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("console browser test passed"), "{stdout}");
    for page in ["overview", "approvals-live", "members", "policies", "service-user-secret", "audit", "explorer"] {
        assert!(screenshots.join(format!("{page}.png")).exists(), "screenshot of {page}");
    }
}
