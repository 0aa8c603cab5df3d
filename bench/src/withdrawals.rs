//! Scenario 3: withdrawal creation under contention.
//!
//! 64 clients (one maker's session) create 1 USDC withdrawals in one
//! organisation as fast as they can: every one of them locks the same daily
//! counter row, the same holding row and the organisation's audit-chain
//! head. The figure is accepted withdrawals per second; the baseline is the
//! physical limit of a hot counter row on the same database:
//!
//! - PostgreSQL: `pgbench` running `UPDATE … SET v = v + 1 WHERE id = 1`
//!   from 64 clients on the same server (a fresh table in the run's fresh
//!   database);
//! - SQLite: the same single-row UPDATE, one `BEGIN IMMEDIATE` transaction
//!   each, from 64 tasks through the service's own pool settings.
//!
//! `withdrawals-two-servers` (3b, PostgreSQL) spreads the same clients
//! over two servers on the one database: their batches serialize on the
//! same row locks.
//!
//! After the timed run the cap is lowered to 200 USD above what is held and
//! the 64 clients race again: exactly 200 more must be accepted, and
//! `held ≤ cap` must hold (it is checked, and the row says so).

use crate::load::{self, Outcome};
use crate::report::{Row, Target, ms, per_sec};
use crate::server::{self, Backend, Database};
use crate::setup::{self, Client, Treasury};
use crate::{Opts, TARGET_CONTENTION};
use anyhow::Context;
use sea_orm::ConnectionTrait;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Concurrent clients, as the issue fixes them.
pub const CLIENTS: usize = 64;

const WITHDRAW: &str = "mutation($o:ID!,$i:WithdrawalInput!){ withdraw(orgId:$o,input:$i){ request{ id status } } }";

async fn org_usage(client: &Client, t: &Treasury) -> anyhow::Result<(f64, f64)> {
    let d = client
        .ok(
            Some(&t.owner.token),
            "query($o:ID!){ organization(id:$o){ usage{ layer heldUsd dailyCapUsd } } }",
            json!({"o": t.org}),
        )
        .await?;
    let u = d["organization"]["usage"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["layer"] == "ORGANIZATION"))
        .context("organisation usage")?;
    let num = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<f64>().ok()).unwrap_or(f64::NAN);
    Ok((num(&u["heldUsd"]), num(&u["dailyCapUsd"])))
}

/// The 64 clients, client `c` sending to `servers[c % servers.len()]`.
async fn race(servers: &[Client], t: &Treasury, warmup: Duration, duration: Duration) -> (Outcome, u64) {
    let body = Arc::new(
        json!({"query": WITHDRAW, "variables": {"o": t.org, "i": {"accountId": t.account, "asset": "USDC", "amount": "1", "addressId": t.usdc_address}}})
            .to_string(),
    );
    let (servers, token) = (Arc::new(servers.to_vec()), Arc::new(t.maker.token.clone()));
    let send = move |c: usize, _| {
        let (client, body, token) = (servers[c % servers.len()].clone(), body.clone(), token.clone());
        async move { client.post_raw(client.bearer(&token, &body)).await }
    };
    let send = Arc::new(send);
    let s = send.clone();
    let warm = load::run(CLIENTS, warmup, move |c, q| s(c, q)).await;
    let measured = load::run(CLIENTS, duration, move |c, q| send(c, q)).await;
    (measured, warm.ok)
}

/// `tps = …` from pgbench's output.
fn pgbench_tps(out: &str) -> Option<f64> {
    out.lines().find_map(|l| l.trim().strip_prefix("tps = ")?.split_whitespace().next()?.parse().ok())
}

/// (user, host, port) of a `postgres://user@host:port/db` URL.
fn pg_parts(url: &str) -> (String, String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let (user, hostport) = authority.rsplit_once('@').unwrap_or(("postgres", authority));
    let user = user.split(':').next().unwrap_or("postgres");
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    (user.into(), host.into(), port.into())
}

/// The hot-row baseline on `db` for `duration`: transactions per second.
async fn hot_row(db: &Database, opts: &Opts) -> anyhow::Result<(f64, String)> {
    let conn = api::db::connect(&db.url).await?;
    conn.execute_unprepared("CREATE TABLE bench_counter (id INTEGER PRIMARY KEY, v BIGINT NOT NULL)").await?;
    conn.execute_unprepared("INSERT INTO bench_counter (id, v) VALUES (1, 0)").await?;
    let result = match db.backend {
        Backend::Postgres => {
            conn.clone().close().await?;
            let script = db.dir.path().join("hot_row.sql");
            std::fs::write(&script, "UPDATE bench_counter SET v = v + 1 WHERE id = 1;\n")?;
            let (user, host, port) = pg_parts(&opts.postgres_url);
            let secs = opts.duration().as_secs().max(1).to_string();
            let clients = CLIENTS.to_string();
            let out = tokio::process::Command::new(&opts.pgbench)
                .args(["-n", "-c", &clients, "-j", "2", "-T", &secs, "-f"])
                .arg(&script)
                .args(["-h", &host, "-p", &port, "-U", &user, db.pg_name().context("database name")?])
                .output()
                .await
                .with_context(|| format!("running {}", opts.pgbench))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let tps = pgbench_tps(&text)
                .with_context(|| format!("no tps in pgbench output: {text}{}", String::from_utf8_lossy(&out.stderr)))?;
            (tps, format!("pgbench {} UPDATE/s", per_sec(tps, "").trim()))
        }
        Backend::Sqlite => {
            let o = load::measure(CLIENTS, opts.warmup(), opts.duration(), move |_, _| {
                let conn = conn.clone();
                async move {
                    let txn = api::db::begin_write(&conn).await?;
                    txn.execute_unprepared("UPDATE bench_counter SET v = v + 1 WHERE id = 1").await?;
                    txn.commit().await?;
                    Ok(true)
                }
            })
            .await;
            (o.rate(), format!("{} single-row UPDATE txn/s", per_sec(o.rate(), "").trim()))
        }
    };
    Ok(result)
}

/// Runs the contention scenario on one backend, with the 64 clients spread
/// over `servers` Countersign servers on the one database (each with its
/// own runtime, pool, caches and withdrawal sequencer, as separate `serve`
/// processes have; the bench starts them in its own process).
pub async fn run(backend: Backend, opts: &Opts, servers: usize) -> anyhow::Result<Row> {
    let db = Database::create(backend, &opts.postgres_url).await?;
    let result = async {
        let mut config = server::config(&db);
        // 64 clients: room for each to hold a connection.
        config.db_max_connections = config.db_max_connections.max((CLIENTS / servers) as u32);
        let mut running = Vec::new();
        for _ in 0..servers {
            running.push(server::countersign(config.clone()).await?);
        }
        let state = running[0].state.clone().expect("state");
        let clients: Vec<Client> = running.iter().map(|cs| Client::new(&cs.base())).collect();
        let client = clients[0].clone();
        let t = setup::treasury(&client, &state.db).await?;
        setup::set_limits(
            &client,
            &t,
            json!({"layer": "ORGANIZATION", "perTransactionMaxUsd": "5000", "dailyCapUsd": "900000"}),
        )
        .await?;
        let (measured, warm_ok) = race(&clients, &t, opts.warmup(), opts.duration()).await;
        let (held, _) = org_usage(&client, &t).await?;
        let accepted = (warm_ok + measured.ok) as f64;
        anyhow::ensure!((held - accepted).abs() < 1e-9, "held {held} USD after {accepted} accepted 1 USD withdrawals");
        // The cap itself under the same race: exactly 200 more fit.
        let cap = held + 200.0;
        setup::set_limits(&client, &t, json!({"layer": "ORGANIZATION", "dailyCapUsd": format!("{cap}")})).await?;
        let (last, warm_last) = race(&clients, &t, Duration::ZERO, Duration::from_secs(2)).await;
        let (held_after, cap_after) = org_usage(&client, &t).await?;
        let invariant = held_after <= cap_after && (warm_last + last.ok) == 200 && held_after == cap;
        for cs in running {
            cs.stop().await;
        }
        let (tps, baseline) = hot_row(&db, opts).await?;
        let ratio = measured.rate() / tps.max(1e-9);
        Ok(Row {
            scenario: if servers == 1 {
                "3. withdrawals, 64 clients, one cap".into()
            } else {
                format!("3b. withdrawals, 64 clients, one cap, {servers} servers")
            },
            database: backend.label().into(),
            figure: format!(
                "{} (p50 {}, p99 {})",
                per_sec(measured.rate(), "accepted/s"),
                ms(measured.quantile(0.5)),
                ms(measured.quantile(0.99))
            ),
            baseline,
            ratio,
            target: Target::AtLeast(TARGET_CONTENTION),
            judged: if invariant { ratio } else { f64::NEG_INFINITY },
            note: format!(
                "held {held_after} ≤ cap {cap_after}: {}; {} of 200 accepted at the cap",
                if invariant { "ok" } else { "VIOLATED" },
                warm_last + last.ok
            ),
        })
    }
    .await;
    db.drop_now().await?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pgbench_and_urls() {
        let out = "number of transactions actually processed: 100\nlatency average = 1.0 ms\ntps = 4321.123 (without initial connection time)\n";
        assert_eq!(pgbench_tps(out), Some(4321.123));
        assert_eq!(
            pg_parts("postgres://postgres@127.0.0.1:5432/postgres"),
            ("postgres".into(), "127.0.0.1".into(), "5432".into())
        );
        assert_eq!(pg_parts("postgres://u:pw@db/x"), ("u".into(), "db".into(), "5432".into()));
    }
}
