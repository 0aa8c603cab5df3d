//! Scenario 4: approval event fan-out to 1,000 WebSocket subscribers.
//!
//! 1,000 members of one organisation (1,000 distinct people, each with their
//! own session) subscribe to `requestEvents` over graphql-transport-ws. Each
//! round, the maker creates a withdrawal that waits for one approval; once
//! every subscriber has its `CREATED` event, the clock starts and the
//! approver calls `approveRequest`; the round's figure is the time until the
//! last subscriber has received the `APPROVED` event. p50 and p99 are over
//! rounds (target, issue 20: p99 under 100 ms).
//!
//! The baseline is the same measurement against the bare server, whose
//! `approveRequest` publishes straight to a broadcast channel that its
//! subscription streams: the cost of 1,000 WebSockets and this client alone.

use crate::load::quantile;
use crate::report::{Row, Target, ms};
use crate::server::{self, Backend, Database};
use crate::setup::{self, Client};
use crate::{Opts, TARGET_FANOUT_P99};
use anyhow::{Context, bail};
use api::domain::Role;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

const SUBSCRIBE: &str = "subscription($o:ID!){ requestEvents(orgId:$o){ kind request{ id status } } }";

/// What a subscriber saw: (request id, kind, when).
type Seen = (String, String, Instant);

/// Connects, initialises with `init`, subscribes, and forwards events to `tx`.
async fn subscriber(base: &str, init: Value, org: &str, tx: mpsc::UnboundedSender<Seen>) -> anyhow::Result<()> {
    let url = format!("{}/graphql/ws", base.replacen("http", "ws", 1));
    let mut req = url.into_client_request()?;
    req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
    let (mut socket, _) = tokio_tungstenite::connect_async(req).await?;
    socket.send(Message::Text(json!({"type": "connection_init", "payload": init}).to_string().into())).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.contains("connection_ack") => break,
            Ok(Some(Ok(Message::Text(_)))) => continue,
            other => bail!("no connection_ack: {other:?}"),
        }
    }
    let sub = json!({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE, "variables": {"o": org}}});
    socket.send(Message::Text(sub.to_string().into())).await?;
    tokio::spawn(async move {
        while let Some(Ok(msg)) = socket.next().await {
            if let Message::Close(frame) = &msg {
                // 1001 is the server stopping at the end of the run.
                if !frame.as_ref().is_some_and(|f| f.code == CloseCode::Away) {
                    eprintln!("  a subscriber's socket was closed: {frame:?}");
                }
                break;
            }
            let Message::Text(t) = msg else { continue };
            let at = Instant::now();
            let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
            match v["type"].as_str() {
                Some("next") => {
                    let e = &v["payload"]["data"]["requestEvents"];
                    let id = e["request"]["id"].as_str().unwrap_or_default().to_string();
                    let kind = e["kind"].as_str().unwrap_or_default().to_string();
                    if tx.send((id, kind, at)).is_err() {
                        break;
                    }
                }
                Some("ping") => {
                    let _ = socket.send(Message::Text(json!({"type": "pong"}).to_string().into())).await;
                }
                Some("error") => {
                    eprintln!("  a subscription was refused: {}", v["payload"]);
                    break;
                }
                Some("complete") => break,
                _ => {}
            }
        }
    });
    Ok(())
}

/// Opens `inits.len()` subscribers, 50 connection attempts at a time.
async fn subscribe_all(base: &str, org: &str, inits: Vec<Value>) -> anyhow::Result<mpsc::UnboundedReceiver<Seen>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(inits)
        .map(|init| subscriber(base, init, org, tx.clone()))
        .buffer_unordered(50)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(rx)
}

/// Waits until the server counts `n` subscriptions receiving events
/// (`countersign_subscriptions` on /metrics): a subscribe message is only
/// sent, not yet registered, when the client's write returns, and an event
/// published before registration is not that subscription's to see.
async fn subscriptions_live(http: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let text = http.get(format!("{base}/metrics")).send().await?.text().await?;
        let live = text
            .lines()
            .filter(|l| l.starts_with("countersign_subscriptions"))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .sum::<f64>();
        if live >= n as f64 {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "only {live} of {n} subscriptions registered within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `n` subscribers have seen `kind` for `id`; returns the latest arrival.
async fn await_all(rx: &mut mpsc::UnboundedReceiver<Seen>, id: &str, kind: &str, n: usize) -> anyhow::Result<Instant> {
    let mut count = 0;
    let mut last = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count < n {
        let (seen_id, seen_kind, at) = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .with_context(|| format!("only {count} of {n} subscribers saw {kind} within 30 s"))?
            .context("subscribers gone")?;
        if seen_id == id && seen_kind == kind {
            count += 1;
            last = last.max(at);
        }
    }
    Ok(last)
}

/// Per-round latencies: from `approveRequest` to the last subscriber's event.
async fn rounds_countersign(backend: Backend, opts: &Opts) -> anyhow::Result<Vec<Duration>> {
    let db = Database::create(backend, &opts.postgres_url).await?;
    let result = async {
        let cs = server::countersign(server::config(&db)).await?;
        let state = cs.state.clone().expect("state");
        let client = Client::new(&cs.base());
        let t = setup::treasury(&client, &state.db).await?;
        // The watchers join straight in the database, which leaves the
        // organisation's version (what cached access is checked against)
        // as it was; the policy change below moves it, as any governed
        // change does, so no process answers from access read before they joined.
        let watchers = setup::people(&state.db, "watcher", opts.subscribers).await?;
        setup::join(&state.db, &t.org, &watchers, &[Role::ReadOnly]).await?;
        let d = client
            .ok(
                Some(&t.owner.token),
                "mutation($o:ID!){ setPolicy(orgId:$o,workflow:INITIATE_WITHDRAWAL,input:{requiredApprovals:1,alwaysRequireApproval:false}){ request{ status } } }",
                json!({"o": t.org}),
            )
            .await?;
        anyhow::ensure!(d["setPolicy"]["request"]["status"] == "COMPLETED", "policy: {d}");
        let inits = watchers.iter().map(|p| json!({"token": p.token})).collect();
        let mut rx = subscribe_all(&cs.base(), &t.org, inits).await?;
        subscriptions_live(&client.http, &cs.base(), opts.subscribers).await?;
        let withdraw = json!({"o": t.org, "i": {"accountId": t.account, "asset": "USDC", "amount": "1", "addressId": t.usdc_address}});
        let mut out = Vec::new();
        // The first round warms up and is not counted.
        for round in 0..=opts.rounds {
            let d = client
                .ok(
                    Some(&t.maker.token),
                    "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status } } }",
                    withdraw.clone(),
                )
                .await?;
            let id = d["withdraw"]["request"]["id"].as_str().context("request id")?.to_string();
            anyhow::ensure!(d["withdraw"]["request"]["status"] == "PENDING_APPROVAL", "{d}");
            await_all(&mut rx, &id, "CREATED", opts.subscribers).await?;
            let t0 = Instant::now();
            client
                .ok(
                    Some(&t.approver.token),
                    "mutation($r:ID!){ approveRequest(requestId:$r){ id status } }",
                    json!({"r": id}),
                )
                .await?;
            let last = await_all(&mut rx, &id, "APPROVED", opts.subscribers).await?;
            if round > 0 {
                out.push(last - t0);
            }
        }
        drop(rx);
        cs.stop().await;
        Ok(out)
    }
    .await;
    db.drop_now().await?;
    result
}

async fn rounds_baseline(opts: &Opts) -> anyhow::Result<Vec<Duration>> {
    let bare = server::baseline().await?;
    let client = Client::new(&bare.base());
    let inits = (0..opts.subscribers).map(|_| json!({})).collect();
    let mut rx = subscribe_all(&bare.base(), "org", inits).await?;
    let mut out = Vec::new();
    for round in 0..=opts.rounds {
        let id = format!("round-{round}");
        // Let the previous round's stragglers settle, as the CREATED wait does above.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t0 = Instant::now();
        client.ok(None, "mutation($r:ID!){ approveRequest(requestId:$r){ id status } }", json!({"r": id})).await?;
        let last = await_all(&mut rx, &id, "APPROVED", opts.subscribers).await?;
        if round > 0 {
            out.push(last - t0);
        }
    }
    drop(rx);
    bare.stop().await;
    Ok(out)
}

/// Runs the fan-out scenario on one backend.
pub async fn run(backend: Backend, opts: &Opts) -> anyhow::Result<Row> {
    let mut cs = rounds_countersign(backend, opts).await?;
    let mut base = rounds_baseline(opts).await?;
    cs.sort_unstable();
    base.sort_unstable();
    let (p50, p99) = (quantile(&cs, 0.5), quantile(&cs, 0.99));
    let (b50, b99) = (quantile(&base, 0.5), quantile(&base, 0.99));
    Ok(Row {
        scenario: format!("4. approval fan-out, {} subscribers", opts.subscribers),
        database: backend.label().into(),
        figure: format!("p50 {}, p99 {}", ms(p50), ms(p99)),
        baseline: format!("p50 {}, p99 {}", ms(b50), ms(b99)),
        ratio: p99.as_secs_f64() / b99.as_secs_f64().max(1e-9),
        target: Target::Below(TARGET_FANOUT_P99),
        judged: p99.as_secs_f64(),
        note: format!("{} rounds; ratio is p99 / baseline p99", cs.len()),
    })
}
