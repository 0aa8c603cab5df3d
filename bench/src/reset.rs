//! Scenario 5: the scheduled work over many tenants, called directly through
//! the `api` crate's services (these are jobs, not HTTP requests).
//!
//! - Daily reset: 10,000 organisations with 10 API keys each, every
//!   organisation and key with a counter for today and one 40 days old;
//!   the 00:00 UTC job (`limits::prune`) drops the 110,000 old ones. The
//!   baseline is the one read that finds them (`COUNT(*)` of the same rows).
//! - Balance-alert recompute for the same 10,000 organisations (5 holdings
//!   each, 3 stablecoins), against the one set-based read of every
//!   stablecoin holding that any recompute needs: in the steady state
//!   (nothing moved, what the minutely schedule usually finds) and when
//!   every alert changes state (e.g. after a stablecoin price change).

use crate::report::{Row, Target, ms};
use crate::server::{Backend, Database};
use api::domain::{AlertState, LimitLayer};
use api::service::{balance_alerts, limits};
use chrono::Utc;
use entity::money::Amount;
use entity::{balance_alert, holding, limit_counter, organization};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set};
use std::time::{Duration, Instant};

/// API keys per organisation in the reset scenario.
pub const KEYS_PER_ORG: usize = 10;

/// Seeds `n` organisations, each with an alert at 1000 USD and 5 holdings
/// (3 stablecoins and 2 others), in bulk.
pub async fn seed_orgs(db: &DatabaseConnection, n: usize) -> anyhow::Result<()> {
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
                settings_seq: Set(0),
                audit_head: Set(api::service::audit::GENESIS.into()),
                audit_head_mac: Set(api::service::audit::GENESIS.into()),
                created_at: Set(now),
                pause_on_low_balance: Set(false),
                address_cooling_off_secs: Set(None),
                withdrawal_window: Set(None),
            });
            alerts.push(balance_alert::ActiveModel {
                org_id: Set(org.clone()),
                threshold_usd: Set(Some(Amount(Decimal::from(1000)))),
                state: Set(AlertState::Unconfigured),
                total_usd: Set(Amount::ZERO),
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
                    amount: Set(Amount(Decimal::from(amount))),
                    held: Set(Amount::ZERO),
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

/// Seeds a counter for today and one 40 days old for every organisation and
/// each of its keys.
async fn seed_counters(db: &DatabaseConnection, orgs: usize) -> anyhow::Result<()> {
    let now = Utc::now();
    let days = [limits::day_of(now), limits::day_of(now - chrono::Duration::days(40))];
    let mut rows = Vec::new();
    for i in 0..orgs {
        let org = format!("org-{i:06}");
        let subjects = std::iter::once((LimitLayer::Organization, org.clone()))
            .chain((0..KEYS_PER_ORG).map(|k| (LimitLayer::ApiKey, format!("cs_bench{i:06}k{k:02}"))));
        for (layer, subject) in subjects {
            for day in &days {
                rows.push(limit_counter::ActiveModel {
                    id: Set(api::domain::new_id()),
                    org_id: Set(org.clone()),
                    layer: Set(layer),
                    subject: Set(subject.clone()),
                    day: Set(day.clone()),
                    held_usd: Set(Amount::ZERO),
                    used_usd: Set(Amount(Decimal::new(12550, 2))),
                });
            }
        }
        if rows.len() >= 1000 {
            limit_counter::Entity::insert_many(std::mem::take(&mut rows)).exec(db).await?;
        }
    }
    if !rows.is_empty() {
        limit_counter::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(())
}

async fn timed<F: std::future::Future<Output = anyhow::Result<T>>, T>(f: F) -> anyhow::Result<(Duration, T)> {
    let t = Instant::now();
    let v = f.await?;
    Ok((t.elapsed(), v))
}

fn row(scenario: String, backend: Backend, figure: Duration, baseline: Duration, base_name: &str, note: String) -> Row {
    let ratio = figure.as_secs_f64() / baseline.as_secs_f64().max(1e-9);
    Row {
        scenario,
        database: backend.label().into(),
        figure: ms(figure),
        baseline: format!("{} ({base_name})", ms(baseline)),
        ratio,
        target: Target::None,
        judged: ratio,
        note,
    }
}

/// The balance-alert recompute rows (steady, all change) for `orgs` organisations.
pub async fn alerts(db: &DatabaseConnection, backend: Backend, orgs: usize) -> anyhow::Result<Vec<Row>> {
    // Warm caches, then the baseline: the one set-based read every recompute needs.
    balance_alerts::totals(db, None).await?;
    let (baseline, totals) = timed(async { Ok(balance_alerts::totals(db, None).await?) }).await?;
    anyhow::ensure!(totals.len() == orgs, "expected {orgs} totals, got {}", totals.len());
    // Every alert leaves UNCONFIGURED: state changes with history and audit.
    let (change, (changed, _)) = timed(async { Ok(balance_alerts::recompute_all(db, Utc::now()).await?) }).await?;
    anyhow::ensure!(changed.len() == orgs, "expected {orgs} changes, got {}", changed.len());
    // Nothing moved: the steady state the minutely schedule sees.
    let (steady, (changed, _)) = timed(async { Ok(balance_alerts::recompute_all(db, Utc::now()).await?) }).await?;
    anyhow::ensure!(changed.is_empty(), "steady state changed {} alerts", changed.len());
    Ok(vec![
        row(
            format!("5. balance-alert recompute, steady, {orgs} orgs"),
            backend,
            steady,
            baseline,
            "totals read",
            "ratio is time / baseline time".into(),
        ),
        row(
            format!("5. balance-alert recompute, all {orgs} change"),
            backend,
            change,
            baseline,
            "totals read",
            format!("{:.0} µs per changed organisation", change.as_secs_f64() * 1e6 / orgs as f64),
        ),
    ])
}

/// The daily-reset row for `orgs` organisations (their counters already seeded).
async fn daily_reset(db: &DatabaseConnection, backend: Backend, orgs: usize) -> anyhow::Result<Row> {
    let oldest = limits::day_of(Utc::now() - chrono::Duration::days(35));
    let old = || limit_counter::Entity::find().filter(limit_counter::Column::Day.lt(oldest.as_str()));
    old().count(db).await?;
    let (baseline, found) = timed(async { Ok(old().count(db).await?) }).await?;
    let (reset, dropped) = timed(async { Ok(limits::prune(db, Utc::now(), 35).await?) }).await?;
    let expected = (orgs * (KEYS_PER_ORG + 1)) as u64;
    anyhow::ensure!(dropped == expected && found == expected, "dropped {dropped}, found {found}, expected {expected}");
    Ok(row(
        format!("5. daily reset, {} keys / {orgs} orgs", orgs * KEYS_PER_ORG),
        backend,
        reset,
        baseline,
        "COUNT of the old rows",
        format!("{dropped} old counters dropped"),
    ))
}

/// Runs scenario 5 on one backend: the daily reset, then the alert recompute.
pub async fn run(backend: Backend, orgs: usize, pg_admin: &str, with_reset: bool) -> anyhow::Result<Vec<Row>> {
    let database = Database::create(backend, pg_admin).await?;
    let result = async {
        let db = api::db::connect(&database.url).await?;
        // The recompute appends audit records, which are MACed and checkpointed.
        api::service::audit::install_keys(&api::keys::MasterKey::from_hex(&"42".repeat(32))?)?;
        api::startup::migrate(&db).await?;
        seed_orgs(&db, orgs).await?;
        let mut rows = Vec::new();
        if with_reset {
            seed_counters(&db, orgs).await?;
            rows.push(daily_reset(&db, backend, orgs).await?);
        }
        rows.extend(alerts(&db, backend, orgs).await?);
        db.close().await?;
        Ok(rows)
    }
    .await;
    database.drop_now().await?;
    result
}
