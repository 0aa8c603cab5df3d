//! Scenarios 1 and 2: reads over HTTP against the bare baseline.
//!
//! 1. A signed API-key read (`viewer.serviceUser` and the account's
//!    balances), with HMAC verification and the strict nonce check: each
//!    client holds its own key, so its nonces strictly increase.
//! 2. A session read (a member's `organization { usage }`) with a bearer
//!    token.
//!
//! The same request bodies go to the bare server and to the *floor*, the
//! bare server doing one database read per request and nothing else (see
//! [`crate::baseline::Floor`]). Each read is judged by its req/s over the
//! floor's (issue 20: at least 0.9; a signed read's nonce write is recorded
//! by group commit and should cost next to nothing), with its ratio to the
//! bare server and one client's latencies beside it; the signed read is
//! also shown against a floor of one read and one write transaction.

use crate::load::{self, Outcome};
use crate::report::{Row, Target, ms, per_sec};
use crate::server::{self, Backend, Database};
use crate::setup::{self, ApiKey, Client};
use crate::{Opts, TARGET_READ};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const SIGNED_QUERY: &str = "query($o:ID!){ viewer{ serviceUser{ name } } organization(id:$o){ accounts{ id holdings{ asset amount held available usdValue } } } }";
const SESSION_QUERY: &str = "query($o:ID!){ organization(id:$o){ usage{ layer subject perTransactionMaxUsd dailyCapUsd usedTodayUsd heldUsd remainingUsd } } }";

/// Which read.
#[derive(Clone, Copy, Debug)]
pub enum Read {
    Signed,
    Session,
}

/// `cs` judged against `against` (its floor: the target is a fraction of it),
/// with its ratio to the bare server in the note.
fn row(name: &str, backend: Backend, cs: &Outcome, against: &Outcome, bare: &Outcome) -> Row {
    let ratio = cs.rate() / against.rate().max(1e-9);
    let mut note = format!("{:.2} of the bare server", cs.rate() / bare.rate().max(1e-9));
    if cs.refused > 0 {
        note.push_str(&format!("; {} refused", cs.refused));
    }
    Row {
        scenario: name.into(),
        database: backend.label().into(),
        figure: rate_and_latency(cs),
        baseline: rate_and_latency(against),
        ratio,
        target: Target::AtLeast(TARGET_READ),
        judged: ratio,
        note,
    }
}

fn rate_and_latency(o: &Outcome) -> String {
    format!("{} (p50 {}, p99 {})", per_sec(o.rate(), "req/s"), ms(o.quantile(0.5)), ms(o.quantile(0.99)))
}

/// A floor, or one client's latencies, reported beside a reference.
fn reported(name: &str, backend: Backend, o: &Outcome, reference: &Outcome) -> Row {
    let ratio = o.rate() / reference.rate().max(1e-9);
    Row {
        scenario: name.into(),
        database: backend.label().into(),
        figure: rate_and_latency(o),
        baseline: rate_and_latency(reference),
        ratio,
        target: Target::None,
        judged: ratio,
        note: String::new(),
    }
}

/// One API key per client, each with the next nonce to use: nonces strictly
/// increase per key across the warm-up, the measured run and the baseline.
struct Keys(Vec<(ApiKey, AtomicU64)>);

impl Keys {
    fn request(&self, client: &Client, c: usize, body: &str) -> reqwest::RequestBuilder {
        let (key, next) = &self.0[c];
        client.signed(key, next.fetch_add(1, Ordering::Relaxed), body)
    }
}

/// Sends the body to the server; signed with the client's key when `keys` is set.
async fn drive(
    clients: usize,
    client: Client,
    body: Arc<String>,
    keys: Option<Arc<Keys>>,
    token: Arc<String>,
    opts: &Opts,
) -> Outcome {
    load::measure(clients, opts.warmup(), opts.duration(), move |c, _| {
        let (client, body, keys, token) = (client.clone(), body.clone(), keys.clone(), token.clone());
        async move {
            let req = match &keys {
                Some(keys) => keys.request(&client, c, &body),
                None => client.bearer(&token, &body),
            };
            client.post_raw(req).await
        }
    })
    .await
}

/// Runs one read scenario on one backend.
pub async fn run(read: Read, backend: Backend, opts: &Opts) -> anyhow::Result<Vec<Row>> {
    let db = Database::create(backend, &opts.postgres_url).await?;
    let result = async {
        let cs = server::countersign(server::config(&db)).await?;
        let state = cs.state.clone().expect("state");
        let client = Client::new(&cs.base());
        let t = setup::treasury(&client, &state.db).await?;
        // Usage lists the organisation and each limited signer.
        setup::set_limits(
            &client,
            &t,
            json!({"layer": "ORGANIZATION", "perTransactionMaxUsd": "5000", "dailyCapUsd": "1000000"}),
        )
        .await?;
        setup::set_limits(
            &client,
            &t,
            json!({"layer": "SIGNER", "memberId": t.signer_member, "dailyCapUsd": "100000"}),
        )
        .await?;
        let (name, query, keys, token) = match read {
            Read::Signed => {
                let keys = setup::api_keys(&client, &t, opts.clients, json!(["QUERY_FUNDS"])).await?;
                let keys = Keys(keys.into_iter().map(|k| (k, AtomicU64::new(1))).collect());
                ("1. signed API-key read", SIGNED_QUERY, Some(Arc::new(keys)), String::new())
            }
            Read::Session => ("2. session read (usage)", SESSION_QUERY, None, t.owner.token.clone()),
        };
        let body = Arc::new(json!({"query": query, "variables": {"o": t.org}}).to_string());
        // A correctness check before timing anything.
        let probe = match &keys {
            Some(k) => client.post_raw(k.request(&client, 0, &body)).await?,
            None => client.post_raw(client.bearer(&token, &body)).await?,
        };
        anyhow::ensure!(probe, "{name}: the probe request failed");
        let token = Arc::new(token);
        let n = opts.clients;
        let measured = drive(n, client.clone(), body.clone(), keys.clone(), token.clone(), opts).await;
        let alone = drive(1, client.clone(), body.clone(), keys.clone(), token.clone(), opts).await;
        cs.stop().await;
        let bare = server::baseline().await?;
        let bare_client = Client::new(&bare.base());
        let base = drive(n, bare_client.clone(), body.clone(), keys.clone(), token.clone(), opts).await;
        let base_alone = drive(1, bare_client, body.clone(), keys.clone(), token.clone(), opts).await;
        bare.stop().await;
        // Every read is judged against the one-read floor: a signed read's
        // nonce is recorded by group commit, which should amortise it away.
        let floor = server::floor(&db.url, false).await?;
        let one_read = drive(n, Client::new(&floor.base()), body.clone(), keys.clone(), token.clone(), opts).await;
        floor.stop().await;
        let mut rows = vec![
            row(name, backend, &measured, &one_read, &base),
            reported(&format!("{name}: 1 client (vs the bare server, 1 client)"), backend, &alone, &base_alone),
            reported(&format!("{name}: floor, one read per request (vs the bare server)"), backend, &one_read, &base),
        ];
        if matches!(read, Read::Signed) {
            let floor = server::floor(&db.url, true).await?;
            let write = drive(n, Client::new(&floor.base()), body, keys, token, opts).await;
            floor.stop().await;
            let what = "floor, one read and one write transaction per request (vs the bare server)";
            rows.push(reported(&format!("{name}: {what}"), backend, &write, &base));
        }
        Ok(rows)
    }
    .await;
    db.drop_now().await?;
    result
}
