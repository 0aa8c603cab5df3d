//! Several real `countersign` processes on one PostgreSQL database (SPEC §1,
//! issue 8): limits and nonces hold across `serve` processes, a `serve`
//! killed with SIGKILL mid-traffic loses nothing committed and leaves no
//! half-applied request (nor a half-applied batch of withdrawals) while the
//! survivor carries on, and `worker`
//! processes deliver each queued job once — a killed worker's jobs are
//! picked up by the next one.
//!
//! The in-process app from the usual harness only sets the scene (users,
//! organisation, credits) and reads the result; the traffic goes to the
//! processes.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tests::process::{Process, Role};
use tests::smtp::SmtpSink;
use tests::ws::WsClient;
use tests::{Backend, Session, TestApp, countersign_exe, sign, spawn_with};

const WITHDRAW: &str = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status } } }";
const APPROVE: &str = "mutation($r:ID!){ approveRequest(requestId:$r){ id status } }";
const EXECUTE: &str = "mutation($r:ID!){ execute(requestId:$r){ id status } }";
const LIMITS: &str = "mutation($o:ID!,$i:RiskLimitsPatch!){ setRiskLimits(orgId:$o,input:$i){ request{ status } } }";

/// Posts GraphQL to any process; `Err` when the connection failed (the
/// process is gone), which tells the caller nothing about whether it committed.
async fn post(client: &reqwest::Client, base: &str, token: &str, query: &str, vars: Value) -> Result<Value, String> {
    let r = client
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": vars}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    r.json().await.map_err(|e| e.to_string())
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none")
}

/// An organisation that can move USDC: maker, approver, signer, a whitelisted address, funds.
struct Treasury {
    org: String,
    account: String,
    owner: Session,
    maker: Session,
    approver: Session,
    signer: Session,
    address: String,
}

async fn treasury(app: &TestApp, funds: &str) -> Treasury {
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let account = app.first_account(&owner, &org).await;
    let (maker, _) = app.add_member(&owner, &org, "maker@example.com", &["MAKER"]).await;
    let (approver, _) = app.add_member(&owner, &org, "approver@example.com", &["APPROVER"]).await;
    let (signer, _) = app.add_member(&owner, &org, "signer@example.com", &["SIGNER"]).await;
    let address = app.whitelist(&owner, &org, &account, "USDC", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").await;
    app.credit(&account, "USDC", funds, "custody-1").await;
    // Every withdrawal waits for one approval.
    app.ok(
        Some(&owner.token),
        "mutation($o:ID!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:{requiredApprovals:1,alwaysRequireApproval:true}){ request{ status } } }",
        json!({"o": org}),
    )
    .await;
    Treasury { org, account, owner, maker, approver, signer, address }
}

fn withdrawal(t: &Treasury, amount: &str) -> Value {
    json!({"o": t.org, "i": {"accountId": t.account, "asset": "USDC", "amount": amount, "addressId": t.address}})
}

/// How a `serve` process of these tests is configured: no workers, and a
/// pool small enough that every process of the concurrently running tests
/// fits in PostgreSQL's default 100 connections.
fn serve_config(app: &TestApp) -> api::Config {
    let mut config = app.worker_config.clone();
    config.run_workers = false;
    config.db_max_connections = 6;
    config
}

/// Two `serve` processes on `app`'s database.
async fn two_servers(app: &TestApp) -> (Process, Process) {
    let a = Process::start(countersign_exe!(), Role::Serve, &serve_config(app)).await;
    let b = Process::start(countersign_exe!(), Role::Serve, &serve_config(app)).await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_and_nonces_hold_across_processes() {
    let app = spawn_with(Backend::Postgres, |c| c.db_max_connections = 6).await;
    let t = treasury(&app, "100000").await;
    app.ok(Some(&t.owner.token), LIMITS, json!({"o": t.org, "i": {"layer": "ORGANIZATION", "dailyCapUsd": "200"}}))
        .await;
    let (a, b) = two_servers(&app).await;
    let client = reqwest::Client::new();
    // A subscriber on B hears of requests made through A.
    let mut ws = WsClient::connect(&b.base, json!({"token": t.owner.token})).await;
    ws.subscribe("1", "subscription($o:ID!){ requestEvents(orgId:$o){ kind request{ id } } }", json!({"o": t.org}))
        .await;
    // B is another OS process: its /metrics shows when the subscription
    // receives events (in-process servers signal it, see `TestApp::subscribe`).
    until("B's subscription", Duration::from_secs(30), || async {
        metric(&b.base, "countersign_subscriptions ").await >= 1.0
    })
    .await;

    // 40 withdrawals of 10 against a 200 cap, half through each process.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let base = if i % 2 == 0 { a.base.clone() } else { b.base.clone() };
            let (client, token, vars) = (client.clone(), t.maker.token.clone(), withdrawal(&t, "10"));
            tokio::spawn(async move { post(&client, &base, &token, WITHDRAW, vars).await.expect("process answers") })
        })
        .collect();
    let mut accepted = BTreeSet::new();
    for task in tasks {
        let body = task.await.unwrap();
        match code(&body) {
            "none" => {
                accepted.insert(body["data"]["withdraw"]["request"]["id"].as_str().unwrap().to_string());
            }
            "LIMIT_EXCEEDED" => {}
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(accepted.len(), 20, "exactly the cap, across two processes");
    let mut heard = BTreeSet::new();
    while heard.len() < accepted.len() {
        let e = ws.next(Duration::from_secs(1)).await.expect("each event reaches B within 1 s");
        assert_eq!(e["data"]["requestEvents"]["kind"], "CREATED", "{e}");
        heard.insert(e["data"]["requestEvents"]["request"]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(heard, accepted, "B's subscriber heard of every request, A's included");
    let d = app
        .ok(Some(&t.owner.token), "query($o:ID!){ organization(id:$o){ usage{ layer heldUsd } } }", json!({"o": t.org}))
        .await;
    let org_usage =
        d["organization"]["usage"].as_array().unwrap().iter().find(|u| u["layer"] == "ORGANIZATION").unwrap();
    assert_eq!(org_usage["heldUsd"], "200");

    // One nonce, sent 30 times at once to both processes: accepted once.
    let d = app
        .ok(Some(&t.owner.token), "mutation($o:ID!){ createServiceUser(orgId:$o,input:{name:\"feed\",scopes:[QUERY_FUNDS]}){ apiKey{ keyId secret } } }", json!({"o": t.org}))
        .await;
    let key = d["createServiceUser"]["apiKey"]["keyId"].as_str().unwrap().to_string();
    let secret = d["createServiceUser"]["apiKey"]["secret"].as_str().unwrap().to_string();
    let body = json!({"query": "{ viewer { __typename } }"}).to_string();
    let signature = sign(&secret, "7", body.as_bytes());
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let base = if i % 2 == 0 { a.base.clone() } else { b.base.clone() };
            let (client, key, body, signature) = (client.clone(), key.clone(), body.clone(), signature.clone());
            tokio::spawn(async move {
                let r = client
                    .post(format!("{base}/graphql"))
                    .header("content-type", "application/json")
                    .header("X-Api-Key", key)
                    .header("X-Api-Nonce", "7")
                    .header("X-Api-Signature", signature)
                    .body(body)
                    .send()
                    .await
                    .expect("process answers");
                r.json::<Value>().await.unwrap()
            })
        })
        .collect();
    let mut codes = BTreeMap::new();
    for task in tasks {
        *codes.entry(code(&task.await.unwrap()).to_string()).or_insert(0) += 1;
    }
    assert_eq!(codes.get("none"), Some(&1), "one nonce, one acceptance: {codes:?}");

    // Production logs are JSON lines, with an access line per request.
    let access = a
        .logs
        .lock()
        .unwrap()
        .iter()
        .find(|l| l["message"] == "finished processing request" && l["span"]["uri"] == "/graphql")
        .cloned()
        .expect("an access log line for /graphql");
    assert_eq!((access["span"]["method"].as_str(), access["status"].as_u64()), (Some("POST"), Some(200)), "{access}");
    assert!(access["latency"].is_string() || access["latency"].is_number(), "{access}");
    a.terminate().await;
    b.terminate().await;
}

/// How far a request got, as a client was told.
fn rank(status: &str) -> u8 {
    match status {
        "PENDING_APPROVAL" => 1,
        "APPROVED" => 2,
        "COMPLETED" => 3,
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_serve_process_killed_mid_traffic_loses_nothing() {
    let app = spawn_with(Backend::Postgres, |c| c.db_max_connections = 6).await;
    let t = Arc::new(treasury(&app, "1000000").await);
    app.ok(Some(&t.owner.token), LIMITS, json!({"o": t.org, "i": {"layer": "ORGANIZATION", "dailyCapUsd": "1000000"}}))
        .await;
    let (a, b) = two_servers(&app).await;
    let bases = Arc::new(Mutex::new(vec![a.base.clone(), b.base.clone()]));
    let client = reqwest::Client::new();
    // What clients were told: request id → the furthest acknowledged status.
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let lost_connections = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // How many requests clients have been told of so far.
    let progress = tokio::sync::watch::Sender::new(0usize);

    // Twelve clients, each creating, approving and executing withdrawals,
    // every step through whichever process it picks.
    let clients: Vec<_> = (0..12)
        .map(|c| {
            let (t, bases, client, acked) = (t.clone(), bases.clone(), client.clone(), acked.clone());
            let (stop, lost, progress) = (stop.clone(), lost_connections.clone(), progress.clone());
            tokio::spawn(async move {
                let mut n = c;
                while !stop.load(Ordering::Relaxed) {
                    let mut id = None;
                    for (step, token) in [(0, &t.maker.token), (1, &t.approver.token), (2, &t.signer.token)] {
                        n += 1;
                        let base = {
                            let b = bases.lock().unwrap();
                            b[n % b.len()].clone()
                        };
                        let (query, vars) = match (step, &id) {
                            (0, _) => (WITHDRAW, withdrawal(&t, "10")),
                            (1, Some(r)) => (APPROVE, json!({"r": r})),
                            (_, Some(r)) => (EXECUTE, json!({"r": r})),
                            _ => break,
                        };
                        let body = match post(&client, &base, token, query, vars).await {
                            Ok(body) => body,
                            Err(_) => {
                                lost.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        };
                        assert_eq!(code(&body), "none", "step {step}: {body}");
                        let (_, answer) = body["data"].as_object().unwrap().iter().next().unwrap();
                        let answer = if step == 0 { &answer["request"] } else { answer };
                        let r = answer["id"].as_str().unwrap().to_string();
                        let told = {
                            let mut acked = acked.lock().unwrap();
                            acked.insert(r.clone(), answer["status"].as_str().unwrap().to_string());
                            acked.len()
                        };
                        progress.send_replace(told);
                        id = Some(r);
                    }
                }
            })
        })
        .collect();

    // Kill A once traffic is flowing (clients were told of 10 requests), and
    // stop once the survivor carried 10 more.
    let mut told = progress.subscribe();
    let flowing = tokio::time::timeout(Duration::from_secs(60), told.wait_for(|n| *n >= 10)).await;
    flowing.expect("traffic is flowing before the kill").unwrap();
    let before_kill = acked.lock().unwrap().len();
    a.kill().await;
    bases.lock().unwrap().retain(|base| *base == b.base);
    let carried = tokio::time::timeout(Duration::from_secs(60), told.wait_for(|n| *n >= before_kill + 10)).await;
    carried.expect("the survivor carries on after the kill").unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client task");
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > before_kill, "the survivor carried on after the kill");
    assert!(lost_connections.load(Ordering::Relaxed) > 0, "the kill really cut requests off mid-traffic");

    // Everything acknowledged is there, at least as far as acknowledged.
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let d = app
            .ok(
                Some(&t.owner.token),
                "query($o:ID!,$a:String){ organization(id:$o){ requests(workflow:INITIATE_WITHDRAWAL,first:100,after:$a){ edges{ node{ id status approvals{ __typename } withdrawal{ amount state settlementReference } } } pageInfo{ hasNextPage endCursor } } } }",
                json!({"o": t.org, "a": after}),
            )
            .await;
        let page = &d["organization"]["requests"];
        all.extend(page["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()));
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(String::from);
    }
    let by_id: HashMap<&str, &Value> = all.iter().map(|r| (r["id"].as_str().unwrap(), r)).collect();
    for (id, status) in &acked {
        let r = by_id.get(id.as_str()).unwrap_or_else(|| panic!("acknowledged request {id} was lost"));
        assert!(rank(r["status"].as_str().unwrap()) >= rank(status), "{id} was {status}, now {r}");
    }

    // No request is half-applied: its status, approvals, withdrawal state
    // and the money all agree.
    let (mut settled, mut held) = (0u64, 0u64);
    for r in &all {
        let w = &r["withdrawal"];
        assert_eq!(w["amount"], "10", "{r}");
        let approvals = r["approvals"].as_array().unwrap().len();
        match r["status"].as_str().unwrap() {
            "PENDING_APPROVAL" => assert_eq!((approvals, w["state"].as_str()), (0, Some("HELD")), "{r}"),
            "APPROVED" => assert_eq!((approvals, w["state"].as_str()), (1, Some("HELD")), "{r}"),
            "COMPLETED" => {
                assert_eq!((approvals, w["state"].as_str()), (1, Some("SETTLED")), "{r}");
                assert!(w["settlementReference"].as_str().unwrap().starts_with("stl_"), "{r}");
            }
            other => panic!("unexpected status {other}: {r}"),
        }
        match w["state"].as_str().unwrap() {
            "SETTLED" => settled += 10,
            _ => held += 10,
        }
    }
    let d = app
        .ok(
            Some(&t.owner.token),
            "query($o:ID!){ organization(id:$o){ accounts{ holdings{ asset amount held available } } usage{ layer usedTodayUsd heldUsd } auditVerification{ valid } } }",
            json!({"o": t.org}),
        )
        .await;
    let org = &d["organization"];
    let usdc = org["accounts"][0]["holdings"].as_array().unwrap().iter().find(|h| h["asset"] == "USDC").unwrap();
    assert_eq!(usdc["amount"], (1_000_000 - settled).to_string(), "{usdc}");
    assert_eq!(usdc["held"], held.to_string(), "{usdc}");
    let usage = org["usage"].as_array().unwrap().iter().find(|u| u["layer"] == "ORGANIZATION").unwrap();
    assert_eq!(usage["usedTodayUsd"], settled.to_string(), "{usage}");
    assert_eq!(usage["heldUsd"], held.to_string(), "{usage}");
    assert_eq!(org["auditVerification"]["valid"], true);

    // A replacement process joins and serves; the survivor still does.
    let a2 = Process::start(countersign_exe!(), Role::Serve, &serve_config(&app)).await;
    let d = post(&client, &a2.base, &t.maker.token, WITHDRAW, withdrawal(&t, "10")).await.unwrap();
    let r = d["data"]["withdraw"]["request"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("created on the new process: {d}"))
        .to_string();
    let d = post(&client, &b.base, &t.approver.token, APPROVE, json!({"r": r})).await.unwrap();
    assert_eq!(d["data"]["approveRequest"]["status"], "APPROVED", "{d}");
    let d = post(&client, &a2.base, &t.signer.token, EXECUTE, json!({"r": r})).await.unwrap();
    assert_eq!(d["data"]["execute"]["status"], "COMPLETED", "{d}");
    a2.terminate().await;
    b.terminate().await;
}

/// Withdrawals arrive in batches on each process (`rules::service::sequencer`:
/// many withdrawals, one transaction); a `serve` killed with SIGKILL while it
/// applies them leaves every acknowledged withdrawal present, no batch half
/// applied (holdings, counters and withdrawals agree to the cent) and the
/// chain intact, while the other process's batches carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_serve_process_killed_during_batched_withdrawals_loses_nothing() {
    let app = spawn_with(Backend::Postgres, |c| c.db_max_connections = 6).await;
    let t = Arc::new(treasury(&app, "1000000").await);
    app.ok(Some(&t.owner.token), LIMITS, json!({"o": t.org, "i": {"layer": "ORGANIZATION", "dailyCapUsd": "1000000"}}))
        .await;
    // One maker's payroll: no rate limit in the way.
    let mut config = serve_config(&app);
    config.rate_limit_per_minute = 0;
    let a = Process::start(countersign_exe!(), Role::Serve, &config).await;
    let b = Process::start(countersign_exe!(), Role::Serve, &config).await;
    let bases = Arc::new(Mutex::new(vec![a.base.clone(), b.base.clone()]));
    let client = reqwest::Client::new();
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let (lost, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
    // Withdrawals sent to A and not yet answered: A is killed while some are.
    let at_a = Arc::new(AtomicUsize::new(0));
    let progress = tokio::sync::watch::Sender::new(0usize);
    let clients: Vec<_> = (0..48)
        .map(|c| {
            let (t, bases, client, acked) = (t.clone(), bases.clone(), client.clone(), acked.clone());
            let (stop, lost, progress, at_a, a_base) =
                (stop.clone(), lost.clone(), progress.clone(), at_a.clone(), a.base.clone());
            tokio::spawn(async move {
                let mut n = c;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let base = {
                        let b = bases.lock().unwrap();
                        b[n % b.len()].clone()
                    };
                    let to_a = base == a_base;
                    if to_a {
                        at_a.fetch_add(1, Ordering::SeqCst);
                    }
                    let sent = post(&client, &base, &t.maker.token, WITHDRAW, withdrawal(&t, "1.25")).await;
                    if to_a {
                        at_a.fetch_sub(1, Ordering::SeqCst);
                    }
                    let Ok(body) = sent else {
                        lost.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    assert_eq!(code(&body), "none", "{body}");
                    let id = body["data"]["withdraw"]["request"]["id"].as_str().unwrap().to_string();
                    let told = {
                        let mut acked = acked.lock().unwrap();
                        assert!(acked.insert(id), "one id per acknowledged withdrawal");
                        acked.len()
                    };
                    progress.send_replace(told);
                }
            })
        })
        .collect();

    // Kill A once it has applied batches of more than one withdrawal.
    let mut told = progress.subscribe();
    until("A batches withdrawals with some in flight", Duration::from_secs(60), || async {
        metric(&a.base, "countersign_withdrawals_batched_total").await
            > metric(&a.base, "countersign_withdrawal_batches_total").await + 20.0
            && at_a.load(Ordering::SeqCst) >= 8
    })
    .await;
    let before_kill = acked.lock().unwrap().len();
    a.kill().await;
    bases.lock().unwrap().retain(|base| *base == b.base);
    let carried = tokio::time::timeout(Duration::from_secs(60), told.wait_for(|n| *n >= before_kill + 100)).await;
    carried.expect("the survivor carries on after the kill").unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client task");
    }
    assert!(lost.load(Ordering::Relaxed) > 0, "the kill really cut withdrawals off mid-batch");
    let (batches, batched) = (
        metric(&b.base, "countersign_withdrawal_batches_total").await,
        metric(&b.base, "countersign_withdrawals_batched_total").await,
    );
    assert!(batched > batches, "B batched too: {batched} withdrawals in {batches} transactions");

    let mut all = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let d = app
            .ok(
                Some(&t.owner.token),
                "query($o:ID!,$a:String){ organization(id:$o){ requests(workflow:INITIATE_WITHDRAWAL,first:100,after:$a){ nodes{ id status withdrawal{ amount state } } pageInfo{ hasNextPage endCursor } } } }",
                json!({"o": t.org, "a": after}),
            )
            .await;
        let page = &d["organization"]["requests"];
        for r in page["nodes"].as_array().unwrap() {
            assert!(all.insert(r["id"].as_str().unwrap().to_string(), r.clone()).is_none(), "listed twice: {r}");
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(String::from);
    }
    let acked = acked.lock().unwrap().clone();
    for id in &acked {
        assert!(all.contains_key(id), "acknowledged withdrawal {id} was lost");
    }
    assert!(all.len() <= acked.len() + lost.load(Ordering::Relaxed), "only cut-off calls may have committed unseen");
    for r in all.values() {
        assert_eq!(
            (r["status"].as_str(), r["withdrawal"]["state"].as_str()),
            (Some("PENDING_APPROVAL"), Some("HELD")),
            "{r}"
        );
        assert_eq!(r["withdrawal"]["amount"], "1.25", "{r}");
    }
    let held = rust_decimal::Decimal::new(125, 2) * rust_decimal::Decimal::from(all.len());
    let d = app
        .ok(
            Some(&t.owner.token),
            "query($o:ID!){ organization(id:$o){ accounts{ holdings{ asset held } } usage{ layer heldUsd } auditVerification{ valid } } }",
            json!({"o": t.org}),
        )
        .await;
    let org = &d["organization"];
    let usdc = org["accounts"][0]["holdings"].as_array().unwrap().iter().find(|h| h["asset"] == "USDC").unwrap();
    assert_eq!(usdc["held"], held.normalize().to_string(), "{usdc}");
    let usage = org["usage"].as_array().unwrap().iter().find(|u| u["layer"] == "ORGANIZATION").unwrap();
    assert_eq!(usage["heldUsd"], held.normalize().to_string(), "{usage}");
    assert_eq!(org["auditVerification"]["valid"], true);
    b.terminate().await;
}

/// Invitations sent so far, by recipient, with their Message-IDs.
fn deliveries(sink: &SmtpSink) -> HashMap<String, Vec<String>> {
    let mut by_rcpt: HashMap<String, Vec<String>> = HashMap::new();
    for m in sink.messages() {
        let id = m.data.lines().find(|l| l.to_ascii_lowercase().starts_with("message-id:")).unwrap_or("").to_string();
        by_rcpt.entry(m.rcpt_to.join(",")).or_default().push(id);
    }
    by_rcpt
}

/// Polls `check` until it holds: worker processes are other OS processes,
/// whose progress the test can only read from outside (their /metrics, the
/// database). A deadline on a condition, never a guess at a duration.
async fn until<F: std::future::Future<Output = bool>>(what: &str, timeout: Duration, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The sum of the samples of `name` (a metric name, or a name with labels) at `base`/metrics.
async fn metric(base: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_processes_deliver_once_and_survive_a_kill() {
    // The SMTP server takes 300 ms to acknowledge each message, so a worker
    // can be killed between sending and recording that it sent.
    let sink = SmtpSink::start_slow(Duration::from_millis(300)).await;
    let app = spawn_with(Backend::Postgres, |c| {
        c.run_workers = false;
        c.smtp_url = Some(sink.url());
        c.mail_claim_timeout_secs = 2;
        c.db_max_connections = 6;
    })
    .await;
    let owner = app.user("owner@example.com").await;
    let org = app.create_org(&owner, "Acme").await;
    let worker = || Process::start(countersign_exe!(), Role::Worker, &app.worker_config);

    // Two workers, six invitations: each delivered exactly once.
    let (w1, w2) = (worker().await, worker().await);
    for i in 0..6 {
        app.invite(&owner, &org, &format!("first{i}@example.com"), &["READ_ONLY"]).await;
    }
    sink.until("six deliveries", Duration::from_secs(30), |_| (deliveries(&sink).len() == 6).then_some(())).await;
    // Every job finished (each worker's /metrics counts the jobs it ran): no delivery is still to come.
    let delivered = "countersign_jobs_total{job=\"deliver_invitation\",outcome=\"ok\"}";
    let counted = || async { metric(&w1.base, delivered).await + metric(&w2.base, delivered).await };
    until("six jobs counted", Duration::from_secs(30), || async { counted().await >= 6.0 }).await;
    assert_eq!(counted().await, 6.0, "each worker's /metrics counts the jobs it ran");
    assert_eq!(sink.messages().len(), 6, "two workers, one delivery each: {:?}", deliveries(&sink));
    w1.kill().await;
    w2.kill().await;

    // No worker: six more wait in the queue, and the metrics say so.
    for i in 0..6 {
        app.invite(&owner, &org, &format!("second{i}@example.com"), &["READ_ONLY"]).await;
    }
    assert_eq!(metric(&app.base, "countersign_queue_depth").await, 6.0);
    assert_eq!(metric(&app.base, "countersign_mail_backlog{kind=\"invitation\",state=\"QUEUED\"}").await, 6.0);

    // A worker starts, is killed with a message on the wire, and a new one
    // finishes the work.
    let w3 = worker().await;
    sink.until("the next delivery to start", Duration::from_secs(30), |got| (got.len() > 6).then_some(())).await;
    w3.kill().await;
    let states = app
        .ok(
            Some(&owner.token),
            "query($o:ID!){ organization(id:$o){ invitations{ deliveryStatus } } }",
            json!({"o": org}),
        )
        .await;
    let in_flight = states["organization"]["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["deliveryStatus"] == "SENDING")
        .count();
    assert!(in_flight >= 1, "the kill caught a message between sending and recording it");
    let w4 = worker().await;
    // The killed worker's claim expires (2 s here) and the sweep re-queues it.
    // Real time is the point: the worker that takes the job over is another
    // OS process and judges the claim by its own wall clock, which the test
    // cannot move (moving only this server's clock leaves the job to the
    // next minutely sweep).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.run_minutely_jobs().await;
    sink.until("every invitee's message", Duration::from_secs(60), |_| (deliveries(&sink).len() == 12).then_some(()))
        .await;
    // Every message is out; w4 (another process) records each as sent just
    // after, which only the database shows: poll it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let d = app
            .ok(
                Some(&owner.token),
                "query($o:ID!){ organization(id:$o){ invitations{ email deliveryStatus } } }",
                json!({"o": org}),
            )
            .await;
        let invitations = d["organization"]["invitations"].as_array().unwrap().clone();
        assert_eq!(invitations.len(), 12);
        if invitations.iter().all(|i| i["deliveryStatus"] == "SENT") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not every invitation was delivered: {invitations:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(deliveries(&sink).len(), 12, "every invitee got their message");
    // Only what was in flight at the kill went out twice, with the same
    // Message-ID so mail systems drop the copy.
    let twice: Vec<_> = deliveries(&sink).into_iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(twice.len() <= in_flight, "{twice:?}");
    assert!(twice.iter().all(|(_, ids)| ids.len() == 2), "{twice:?}");
    for (_, ids) in &twice {
        assert!(ids.iter().all(|id| id == &ids[0] && !id.is_empty()), "{ids:?}");
    }
    w4.terminate().await;
}
