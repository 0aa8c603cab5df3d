//! `bench`: Countersign's benchmarks. Every figure is reported beside a
//! baseline measured in the same run on the same database, because the
//! machines this runs on are shared and noisy.
//!
//! `cargo run --release -p bench -- alerts` measures the balance-alert
//! recompute for 10,000 organisations with 5 holdings each, on SQLite and on
//! PostgreSQL (`--postgres-url`, default the local server; `--no-postgres`
//! skips it).

use anyhow::Context;
use api::service::balance_alerts;
use chrono::Utc;
use clap::{Parser, Subcommand};
use entity::{balance_alert, holding, organization};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Set};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Balance-alert recompute over many organisations.
    Alerts {
        #[arg(long, default_value_t = 10_000)]
        orgs: usize,
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        postgres_url: String,
        #[arg(long)]
        no_postgres: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().scenario {
        Scenario::Alerts { orgs, postgres_url, no_postgres } => {
            println!("balance-alert recompute: {orgs} organisations × 5 holdings ({} cores)", cores());
            println!(
                "{:<10} {:>12} {:>14} {:>14} {:>10} {:>10}",
                "database", "baseline", "steady", "all change", "steady/b", "change/b"
            );
            let dir = tempfile::tempdir()?;
            let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
            alerts("sqlite", &sqlite, orgs).await?;
            if !no_postgres {
                let url = fresh_postgres(&postgres_url).await.context("PostgreSQL (pass --no-postgres to skip)")?;
                alerts("postgres", &url, orgs).await?;
            }
        }
    }
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

async fn fresh_postgres(admin: &str) -> anyhow::Result<String> {
    let name = format!("cs_bench_{}", uuid::Uuid::new_v4().simple());
    let db = sea_orm::Database::connect(admin).await?;
    db.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
    let (base, _) = admin.rsplit_once('/').context("admin URL needs a database path")?;
    Ok(format!("{base}/{name}"))
}

/// Seeds `n` organisations, each with an alert at 1000 USD and 5 holdings
/// (3 stablecoins and 2 others), in bulk.
async fn seed(db: &DatabaseConnection, n: usize) -> anyhow::Result<()> {
    let now = Utc::now();
    let assets = ["USDC", "USDT", "DAI", "BTC", "ETH"];
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut orgs = Vec::new();
        let mut alerts = Vec::new();
        let mut holdings = Vec::new();
        for i in chunk {
            let org = format!("org-{i:06}");
            orgs.push(organization::ActiveModel {
                id: Set(org.clone()),
                name: Set(format!("Org {i}")),
                owner_user_id: Set("bench".into()),
                session_idle_timeout_secs: Set(1800),
                audit_seq: Set(0),
                audit_head: Set(api::service::audit::GENESIS.into()),
                created_at: Set(now),
            });
            alerts.push(balance_alert::ActiveModel {
                org_id: Set(org.clone()),
                threshold_usd: Set(Some("1000".into())),
                state: Set("UNCONFIGURED".into()),
                total_usd: Set("0".into()),
                changed_at: Set(now),
                updated_at: Set(now),
            });
            for (k, asset) in assets.iter().enumerate() {
                // Half the organisations end up LOW, half HEALTHY.
                let amount = if i % 2 == 0 { 100 * (k + 1) } else { 10 * (k + 1) };
                holdings.push(holding::ActiveModel {
                    id: Set(format!("{org}-{asset}")),
                    org_id: Set(org.clone()),
                    account_id: Set(format!("{org}-acct")),
                    asset: Set((*asset).into()),
                    amount: Set(amount.to_string()),
                    held: Set("0".into()),
                    updated_at: Set(now),
                });
            }
        }
        organization::Entity::insert_many(orgs).exec(db).await?;
        balance_alert::Entity::insert_many(alerts).exec(db).await?;
        holding::Entity::insert_many(holdings).exec(db).await?;
    }
    Ok(())
}

async fn timed<F: std::future::Future<Output = anyhow::Result<T>>, T>(f: F) -> anyhow::Result<(Duration, T)> {
    let t = Instant::now();
    let v = f.await?;
    Ok((t.elapsed(), v))
}

async fn alerts(label: &str, url: &str, n: usize) -> anyhow::Result<()> {
    let db = api::db::connect(url).await?;
    Migrator::up(&db, None).await?;
    seed(&db, n).await?;
    // Warm caches, then the baseline: the one set-based read every recompute needs.
    balance_alerts::totals(&db, None).await?;
    let (baseline, totals) = timed(async { Ok(balance_alerts::totals(&db, None).await?) }).await?;
    anyhow::ensure!(totals.len() == n, "expected {n} totals, got {}", totals.len());
    // Every alert leaves UNCONFIGURED: n state changes, each a transaction with history and audit.
    let (change, (changed, _)) = timed(async { Ok(balance_alerts::recompute_all(&db, Utc::now()).await?) }).await?;
    anyhow::ensure!(changed.len() == n, "expected {n} changes, got {}", changed.len());
    // Nothing moved: the steady state the minutely schedule sees.
    let (steady, (changed, _)) = timed(async { Ok(balance_alerts::recompute_all(&db, Utc::now()).await?) }).await?;
    anyhow::ensure!(changed.is_empty(), "steady state changed {} alerts", changed.len());
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let ratio = |d: Duration| format!("{:.2}", d.as_secs_f64() / baseline.as_secs_f64());
    println!(
        "{label:<10} {:>12} {:>14} {:>14} {:>10} {:>10}",
        ms(baseline),
        ms(steady),
        ms(change),
        ratio(steady),
        ratio(change)
    );
    Ok(())
}
