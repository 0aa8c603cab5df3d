//! Scenarios 1 and 2: reads over HTTP against the bare baseline.
//!
//! 1. A signed API-key read (`viewer.serviceUser` and the account's
//!    balances), with HMAC verification and the strict nonce check: each
//!    client holds its own key, so its nonces strictly increase.
//! 2. A session read (a member's `organization { usage }`) with a bearer
//!    token.
//!
//! The same request bodies go to the bare server; the figure is Countersign's
//! req/s over the baseline's (target at least 0.5), latencies beside it. A
//! third run, the *floor*, is the bare server doing only the database round
//! trips such a read cannot avoid (see [`crate::baseline::Floor`]).

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

/// The figure and its baseline as one row.
fn row(name: &str, backend: Backend, cs: &Outcome, base: &Outcome) -> Row {
    let ratio = cs.rate() / base.rate().max(1e-9);
    let fmt = |o: &Outcome| {
        format!("{} (p50 {}, p99 {})", per_sec(o.rate(), "req/s"), ms(o.quantile(0.5)), ms(o.quantile(0.99)))
    };
    Row {
        scenario: name.into(),
        database: backend.label().into(),
        figure: fmt(cs),
        baseline: fmt(base),
        ratio,
        target: Target::AtLeast(TARGET_READ),
        judged: ratio,
        note: if cs.refused > 0 { format!("{} refused", cs.refused) } else { String::new() },
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
async fn drive(client: Client, body: Arc<String>, keys: Option<Arc<Keys>>, token: Arc<String>, opts: &Opts) -> Outcome {
    load::measure(opts.clients, opts.warmup(), opts.duration(), move |c, _| {
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
        let measured = drive(client.clone(), body.clone(), keys.clone(), token.clone(), opts).await;
        cs.stop().await;
        let bare = server::baseline().await?;
        let base = drive(Client::new(&bare.base()), body.clone(), keys.clone(), token.clone(), opts).await;
        bare.stop().await;
        let write = matches!(read, Read::Signed);
        let floor = server::floor(&db.url, write).await?;
        let least = drive(Client::new(&floor.base()), body, keys, token, opts).await;
        floor.stop().await;
        let what = if write { "one read and one write transaction" } else { "one read" };
        let mut reference = row(&format!("{name}: floor ({what} per request, nothing else)"), backend, &least, &base);
        reference.target = Target::None;
        Ok(vec![row(name, backend, &measured, &base), reference])
    }
    .await;
    db.drop_now().await?;
    result
}
