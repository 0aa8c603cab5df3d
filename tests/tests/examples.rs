//! The integration examples in `examples/` run against a real server, so
//! they cannot rot: a signed API-key client in Python (standard library
//! only) and in TypeScript (compiled with `tsc`, run on Node.js), each
//! reading an organisation's balances with a key and refused with the
//! server's code when the key is revoked; and a webhook receiver in each,
//! printing the events the server sends and refusing forged, stale and
//! repeated ones.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tests::{Backend, TestApp, both_backends, spawn};
use tokio::io::{AsyncBufReadExt, BufReader};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The TypeScript examples built afresh (`npm ci` when needed, then `tsc`),
/// once per test binary (the tests run at once); returns the folder of the
/// scripts to run.
async fn typescript_dist() -> PathBuf {
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
    dir.join("dist")
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
    let typescript = typescript_dist().await.join("signed_client.js");
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

/// A webhook receiver example, started as a process: it prints one JSON
/// line per event it accepts.
struct ReceiverProcess {
    name: &'static str,
    url: String,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    _child: tokio::process::Child,
}

/// The next line `name` printed (panics after 30 s or at its end).
async fn next_line(name: &str, lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    match tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await {
        Ok(Ok(Some(line))) => line,
        other => panic!("{name} printed nothing more: {other:?}"),
    }
}

impl ReceiverProcess {
    async fn start(name: &'static str, program: &str, script: &Path, secret: &str, port: u16) -> Self {
        let mut child = tokio::process::Command::new(program)
            .arg(script)
            .env("COUNTERSIGN_WEBHOOK_SECRET", secret)
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = next_line(name, &mut lines).await;
        let url = first.strip_prefix("listening on ").unwrap_or_else(|| panic!("{name}: {first}")).to_string();
        Self { name, url, lines, _child: child }
    }

    /// The next event it printed.
    async fn next_event(&mut self) -> Value {
        let line = next_line(self.name, &mut self.lines).await;
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{}: {e}: {line}", self.name))
    }
}

/// A free loopback port (the receiver binds it next; the endpoint's URL
/// names it before the receiver can start, since it needs the secret).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// POSTs `body` to `url` as Countersign would, signed with `secret` at `timestamp`.
async fn post_signed(url: &str, secret: &str, id: &str, timestamp: i64, body: &str) -> u16 {
    let key = STANDARD.decode(secret.trim_start_matches("whsec_")).expect("base64 secret");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let signature = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    let response = reqwest::Client::new()
        .post(url)
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_string())
        .send()
        .await
        .expect("the receiver answers");
    response.status().as_u16()
}

async fn webhook_receivers_verify_what_they_are_sent(backend: Backend) {
    let app = spawn(backend).await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let add = "mutation($o:ID!,$u:String!){ addWebhookEndpoint(orgId:$o,url:$u,events:[PERMISSION]){ webhookSecret{ secret } } }";
    let python = examples().join("python/webhook_receiver.py");
    let typescript = typescript_dist().await.join("webhook_receiver.js");
    let mut receivers = Vec::new();
    for (name, program, script) in [("python", "python3", python), ("typescript", "node", typescript)] {
        let port = free_port();
        let d = app.ok(Some(&owner.token), add, json!({"o": org, "u": format!("http://127.0.0.1:{port}/")})).await;
        let secret = d["addWebhookEndpoint"]["webhookSecret"]["secret"].as_str().unwrap().to_string();
        let receiver = ReceiverProcess::start(name, program, &script, &secret, port).await;
        assert_eq!(receiver.url, format!("http://127.0.0.1:{port}/"), "{name}");
        receivers.push((receiver, secret));
    }

    // A permission change reaches both, verified.
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"bot\",scopes:[QUERY_FUNDS]}){ request{ status } } }",
        json!({"o": org}),
    )
    .await;
    for (receiver, secret) in &mut receivers {
        let event = receiver.next_event().await;
        assert_eq!(event["type"], "permission.changed", "{}: {event}", receiver.name);
        assert_eq!(event["data"]["action"], "CREATE_SERVICE_USER");
        assert_eq!(event["data"]["organizationId"], org.as_str());
        let id = event["id"].as_str().unwrap().to_string();

        // Forged, stale and repeated deliveries are not taken as events.
        let now = chrono::Utc::now().timestamp();
        let body = r#"{"type":"permission.changed","data":{"forged":true}}"#;
        let url = receiver.url.clone();
        let name = receiver.name;
        assert_eq!(
            post_signed(&url, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "evt_forged", now, body).await,
            401,
            "{name}"
        );
        assert_eq!(post_signed(&url, secret, "evt_stale", now - 3600, body).await, 401, "{name}: a replayed capture");
        assert_eq!(post_signed(&url, secret, &id, now, body).await, 204, "{name}: a retry is acknowledged");
        let fresh = r#"{"type":"request.completed","data":{"action":"TEST"}}"#;
        assert_eq!(post_signed(&url, secret, "evt_test_next", now, fresh).await, 204, "{name}");
        let next = receiver.next_event().await;
        assert_eq!(next["id"], "evt_test_next", "{name}: the retry of {id} was not handled twice: {next}");
    }
}

both_backends!(signed_clients_read_balances_and_are_refused_when_revoked, webhook_receivers_verify_what_they_are_sent);
