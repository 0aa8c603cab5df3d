//! The integration examples in `examples/` run against a real server, so
//! they cannot rot: a signed API-key client in Python (standard library
//! only) and in TypeScript (compiled with `tsc`, run on Node.js), each
//! reading an organisation's balances with a key and refused with the
//! server's code when the key is revoked.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tests::{Backend, TestApp, both_backends, spawn};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The TypeScript example built afresh (`npm ci` when needed, then `tsc`),
/// once per test binary (the SQLite and PostgreSQL tests run at once);
/// returns the script to run.
async fn typescript_client() -> PathBuf {
    static BUILT: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    BUILT.get_or_init(build_typescript).await.clone()
}

async fn build_typescript() -> PathBuf {
    let dir = tests::browser::node_packages(&examples().join("typescript")).await;
    let out = tokio::process::Command::new("node")
        .args(["node_modules/typescript/bin/tsc", "-p", "."])
        .current_dir(&dir)
        .output()
        .await
        .expect("node runs");
    assert!(out.status.success(), "tsc failed:\n{}", String::from_utf8_lossy(&out.stdout));
    dir.join("dist/signed_client.js")
}

/// Runs one example client with the key's settings; its exit status, stdout and stderr.
async fn run(program: &str, script: &Path, app: &TestApp, org: &str, key: &(String, String)) -> (i32, String, String) {
    let out = tokio::process::Command::new(program)
        .arg(script)
        .env("COUNTERSIGN_URL", &app.base)
        .env("COUNTERSIGN_KEY_ID", &key.0)
        .env("COUNTERSIGN_KEY_SECRET", &key.1)
        .env("COUNTERSIGN_ORG_ID", org)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

async fn signed_clients_read_balances_and_are_refused_when_revoked(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let account = app.first_account(&owner, &org).await;
    app.credit(&account, "USDC", "250.75", "deposit-1").await;
    let d = app
        .ok(
            Some(&owner.token),
            "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"reporting\",scopes:[QUERY_FUNDS]}){ apiKey{ keyId secret } } }",
            json!({"o": org}),
        )
        .await;
    let k = &d["createServiceUser"]["apiKey"];
    let key = (k["keyId"].as_str().unwrap().to_string(), k["secret"].as_str().unwrap().to_string());
    let python = examples().join("python/signed_client.py");
    let typescript = typescript_client().await;
    let clients = [("python3", python.as_path()), ("node", typescript.as_path())];

    for (program, script) in clients {
        // Twice each: the second run's nonces must exceed the first's.
        for _ in 0..2 {
            let (status, stdout, stderr) = run(program, script, &app, &org, &key).await;
            assert_eq!(status, 0, "{program} {}:\n{stdout}\n{stderr}", script.display());
            let data: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{program}: {e}: {stdout}"));
            assert_eq!(data["viewer"]["serviceUser"]["name"], "reporting", "{data}");
            let holdings = data["organization"]["accounts"][0]["holdings"].as_array().cloned().unwrap_or_default();
            let usdc = holdings.iter().find(|h| h["asset"] == "USDC").unwrap_or_else(|| panic!("{data}"));
            assert_eq!(usdc["amount"], "250.75", "{data}");
            assert_eq!(usdc["available"], "250.75");
        }
    }

    app.ok(
        Some(&owner.token),
        "mutation($o:ID!,$k:ID!){ revokeApiKey(orgId:$o,keyId:$k){ request{ status } } }",
        json!({"o": org, "k": key.0}),
    )
    .await;
    for (program, script) in clients {
        let (status, stdout, stderr) = run(program, script, &app, &org, &key).await;
        assert_eq!(status, 1, "{program}: a revoked key is refused:\n{stdout}\n{stderr}");
        assert!(stderr.starts_with("UNAUTHENTICATED"), "{program}: {stderr}");
        assert!(stdout.is_empty(), "{program} printed no data: {stdout}");
    }
}

both_backends!(signed_clients_read_balances_and_are_refused_when_revoked);
