//! Risk limits (SPEC §5): per-transaction maximum and daily cap, in USD, for
//! three layers — the organisation, an API key, a signer — and their daily
//! counters.
//!
//! A counter belongs to one (layer, subject, UTC day). Capacity is *held* on
//! the counter of the day a withdrawal is made, *released* if it never
//! settles, and *used* when it does; so a counter of an earlier day never
//! counts against today, whether or not the reset job has run. Every change
//! runs in the caller's write transaction with the counter row locked
//! (`FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite): concurrent
//! withdrawals serialize on it and `held + used` never passes the cap.

use super::types::Applied;
pub use super::types::Usage;
use super::{LimitBreach, ServiceError, ServiceResult};
use crate::access::OrgAccess;
use crate::cache::Caches;
use chrono::{DateTime, Utc};
pub use domain::LimitLayer;
use domain::{LimitKind, UsdAmount, money, new_id};
use entity::money::Amount;
use entity::{limit_counter, organization, risk_limit};
use rust_decimal::Decimal;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect, Set,
};
use serde_json::json;
use std::sync::Arc;

/// The UTC day a time falls on, as counters key it.
pub fn day_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

pub(crate) async fn find<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    layer: LimitLayer,
    subject: &str,
) -> ServiceResult<Option<risk_limit::Model>> {
    Ok(risk_limit::Entity::find()
        .filter(risk_limit::Column::OrgId.eq(org_id))
        .filter(risk_limit::Column::Layer.eq(layer))
        .filter(risk_limit::Column::Subject.eq(subject))
        .one(db)
        .await?)
}

/// Every configured limit of the organisation.
pub(crate) async fn all<C: ConnectionTrait>(db: &C, org_id: &str) -> ServiceResult<Vec<risk_limit::Model>> {
    Ok(risk_limit::Entity::find().filter(risk_limit::Column::OrgId.eq(org_id)).all(db).await?)
}

/// A patch value as a column holds it: absent, cleared, or an amount.
fn column(v: Option<Option<UsdAmount>>) -> Option<Option<Amount>> {
    v.map(|o| o.map(|a| Amount(a.value())))
}

/// Sets a layer's limits: an omitted value keeps its setting, `null` clears it.
/// An API key that settles straight through keeps both its caps.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn set<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    layer: LimitLayer,
    subject: &str,
    per_tx: Option<Option<UsdAmount>>,
    daily: Option<Option<UsdAmount>>,
    approval_threshold: Option<Option<UsdAmount>>,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    let (per_tx, daily, approval_threshold) = (column(per_tx), column(daily), column(approval_threshold));
    if approval_threshold.as_ref().is_some_and(Option::is_some) && layer != LimitLayer::Signer {
        return Err(ServiceError::BadInput(
            "approvalThresholdUsd: only the SIGNER (per-operator) layer has an approval threshold; the organisation's is the withdrawal policy's".into(),
        ));
    }
    let existing = find(db, org_id, layer, subject).await?;
    let before = existing.as_ref().map(row_json);
    let row = match existing {
        Some(r) => {
            let mut a: risk_limit::ActiveModel = r.into();
            if let Some(v) = per_tx {
                a.per_transaction_max_usd = Set(v);
            }
            if let Some(v) = daily {
                a.daily_cap_usd = Set(v);
            }
            if let Some(v) = approval_threshold {
                a.approval_threshold_usd = Set(v);
            }
            a.updated_at = Set(now);
            a.update(db).await?
        }
        None => {
            risk_limit::ActiveModel {
                id: Set(new_id()),
                org_id: Set(org_id.to_string()),
                layer: Set(layer),
                subject: Set(subject.to_string()),
                per_transaction_max_usd: Set(per_tx.flatten()),
                daily_cap_usd: Set(daily.flatten()),
                approval_threshold_usd: Set(approval_threshold.flatten()),
                updated_at: Set(now),
            }
            .insert(db)
            .await?
        }
    };
    if layer == LimitLayer::ApiKey && (row.per_transaction_max_usd.is_none() || row.daily_cap_usd.is_none()) {
        let straight_through = entity::api_key::Entity::find()
            .filter(entity::api_key::Column::KeyId.eq(subject))
            .one(db)
            .await?
            .is_some_and(|k| k.auto_execute);
        if straight_through {
            return Err(ServiceError::Conflict(
                "this key settles payouts straight through (autoExecute): it keeps both its per-transaction maximum and its daily cap; turn autoExecute off first".into(),
            ));
        }
    }
    Ok(Applied {
        target: Some(format!("{}:{}", layer.as_str(), subject)),
        before,
        after: Some(row_json(&row)),
        jobs: vec![],
        secret: None,
        alert_changed: false,
    })
}

fn row_json(r: &risk_limit::Model) -> serde_json::Value {
    json!({
        "perTransactionMaxUsd": r.per_transaction_max_usd,
        "dailyCapUsd": r.daily_cap_usd,
        "approvalThresholdUsd": r.approval_threshold_usd,
    })
}

/// The counter of (layer, subject, day), created at zero if missing, locked.
/// Read first: after the day's first withdrawal it exists, and the insert
/// (which concurrent first withdrawals of a day race on) is skipped.
pub(crate) async fn counter<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    layer: LimitLayer,
    subject: &str,
    day: &str,
) -> ServiceResult<limit_counter::Model> {
    let locked = || {
        limit_counter::Entity::find()
            .filter(limit_counter::Column::Layer.eq(layer))
            .filter(limit_counter::Column::Subject.eq(subject))
            .filter(limit_counter::Column::Day.eq(day))
            .lock_exclusive()
            .one(db)
    };
    if let Some(c) = locked().await? {
        return Ok(c);
    }
    let fresh = limit_counter::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org_id.to_string()),
        layer: Set(layer),
        subject: Set(subject.to_string()),
        day: Set(day.to_string()),
        held_usd: Set(Amount::ZERO),
        used_usd: Set(Amount::ZERO),
    };
    limit_counter::Entity::insert(fresh)
        .on_conflict(
            OnConflict::columns([
                limit_counter::Column::Layer,
                limit_counter::Column::Subject,
                limit_counter::Column::Day,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    locked().await?.ok_or_else(|| ServiceError::internal("limit counter vanished"))
}

/// The breach of `kind` of `cap` by a withdrawal of `usd` on top of `used`
/// and `held`, if it does not fit.
fn breach(
    layer: LimitLayer,
    kind: LimitKind,
    cap: Decimal,
    used: Decimal,
    held: Decimal,
    usd: Decimal,
) -> ServiceResult<()> {
    let total = money::add("usd", money::add("usd", used, held)?, usd)?;
    if total <= cap {
        return Ok(());
    }
    Err(ServiceError::LimitExceeded(Box::new(LimitBreach {
        layer,
        kind,
        cap,
        used,
        held,
        amount: usd,
        overshoot: money::sub("usd", total, cap)?,
    })))
}

/// Whether `usd` fits a per-transaction maximum (nothing else counts against it).
fn fits_per_tx(layer: LimitLayer, max: Option<Decimal>, usd: Decimal) -> ServiceResult<()> {
    match max {
        Some(max) => breach(layer, LimitKind::PerTransactionMax, max, Decimal::ZERO, Decimal::ZERO, usd),
        None => Ok(()),
    }
}

/// Whether `usd` more fits a daily cap of which `used` and `held` are gone already.
fn fits_daily(
    layer: LimitLayer,
    cap: Option<Decimal>,
    used: Decimal,
    held: Decimal,
    usd: Decimal,
) -> ServiceResult<()> {
    match cap {
        Some(cap) => breach(layer, LimitKind::DailyCap, cap, used, held, usd),
        None => Ok(()),
    }
}

/// Checks the layer's limits for `usd` and, if they hold, reserves it on the
/// day's counter (`use_now` moves it straight to used: the signer layer,
/// checked at execution).
pub(crate) async fn reserve<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    layer: LimitLayer,
    subject: &str,
    day: &str,
    usd: Decimal,
    use_now: bool,
) -> ServiceResult<()> {
    let limit = find(db, org_id, layer, subject).await?;
    let mut c = counter(db, org_id, layer, subject, day).await?;
    reserve_on(&mut c, limit.as_ref(), usd, use_now)?;
    c.into_active_model().reset_all().update(db).await?;
    Ok(())
}

/// Checks `usd` against `limit` (the layer's, for the counter's subject) on
/// top of counter `c` and, if it fits, adds it: to `held`, or to `used` when
/// `use_now`. `c` is unchanged when it does not fit.
pub(crate) fn reserve_on(
    c: &mut limit_counter::Model,
    limit: Option<&risk_limit::Model>,
    usd: Decimal,
    use_now: bool,
) -> ServiceResult<()> {
    let per_tx = limit.and_then(|l| l.per_transaction_max_usd).map(Amount::value);
    let daily = limit.and_then(|l| l.daily_cap_usd).map(Amount::value);
    fits_per_tx(c.layer, per_tx, usd)?;
    let (held, used) = (c.held_usd.0, c.used_usd.0);
    fits_daily(c.layer, daily, used, held, usd)?;
    if use_now {
        c.used_usd = Amount(money::add("usd", used, usd)?);
    } else {
        c.held_usd = Amount(money::add("usd", held, usd)?);
    }
    Ok(())
}

/// Every objection [`reserve`] would have now — the per-transaction maximum
/// and the daily cap each — without reserving or locking (for dry runs; the
/// real reservation checks again under the counter's lock).
pub(crate) async fn check<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    layer: LimitLayer,
    subject: &str,
    day: &str,
    usd: Decimal,
) -> ServiceResult<Vec<ServiceError>> {
    let u = usage_in(db, org_id, layer, subject, day).await?;
    Ok([fits_per_tx(layer, u.per_transaction_max, usd), fits_daily(layer, u.daily_cap, u.used_today, u.held, usd)]
        .into_iter()
        .filter_map(Result::err)
        .collect())
}

/// Moves a reservation off `held`: into `used` when it settled, or away when it was released.
pub(crate) async fn settle<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    layer: LimitLayer,
    subject: &str,
    day: &str,
    usd: Decimal,
    consumed: bool,
) -> ServiceResult<()> {
    let c = counter(db, org_id, layer, subject, day).await?;
    let (held, used) = (c.held_usd.0, c.used_usd.0);
    let mut a: limit_counter::ActiveModel = c.into();
    a.held_usd = Set(Amount(money::sub("usd", held, usd)?.max(Decimal::ZERO)));
    if consumed {
        a.used_usd = Set(Amount(money::add("usd", used, usd)?));
    }
    a.update(db).await?;
    Ok(())
}

/// A member's own approval threshold (the SIGNER layer), for those who may
/// read usage ([`OrgAccess::require_funds_view`]).
pub async fn signer_threshold<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    user_id: &str,
) -> ServiceResult<Option<Decimal>> {
    access.require_funds_view()?;
    let l = find(db, &access.org_id, LimitLayer::Signer, user_id).await?;
    Ok(l.and_then(|l| l.approval_threshold_usd).map(|t| t.0))
}

/// Usage of one layer and subject on `day` (read without locking).
pub async fn usage<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    layer: LimitLayer,
    subject: &str,
    day: &str,
) -> ServiceResult<Usage> {
    access.require_funds_view()?;
    usage_in(db, &access.org_id, layer, subject, day).await
}

/// [`usage`] for the rules, after their own check.
pub(crate) async fn usage_in<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    layer: LimitLayer,
    subject: &str,
    day: &str,
) -> ServiceResult<Usage> {
    let limit = find(db, org_id, layer, subject).await?;
    let counter = limit_counter::Entity::find()
        .filter(limit_counter::Column::Layer.eq(layer))
        .filter(limit_counter::Column::Subject.eq(subject))
        .filter(limit_counter::Column::Day.eq(day))
        .one(db)
        .await?;
    usage_from(layer, subject, limit.as_ref(), counter.as_ref())
}

/// A layer's usage from its limit row and its counter for the day (either may be missing).
fn usage_from(
    layer: LimitLayer,
    subject: &str,
    limit: Option<&risk_limit::Model>,
    counter: Option<&limit_counter::Model>,
) -> ServiceResult<Usage> {
    let per_tx = limit.and_then(|l| l.per_transaction_max_usd).map(Amount::value);
    let daily = limit.and_then(|l| l.daily_cap_usd).map(Amount::value);
    let approval_threshold = limit.and_then(|l| l.approval_threshold_usd).map(Amount::value);
    let (held, used) = match counter {
        Some(c) => (c.held_usd.0, c.used_usd.0),
        None => (Decimal::ZERO, Decimal::ZERO),
    };
    let taken = money::add("usage", held, used)?;
    Ok(Usage {
        layer,
        subject: subject.to_string(),
        per_transaction_max: per_tx,
        daily_cap: daily,
        used_today: used,
        held,
        remaining: daily.map(|cap| money::sub("usage", cap, taken)).transpose()?.map(|r| r.max(Decimal::ZERO)),
        approval_threshold,
    })
}

/// Usage of every layer of the organisation on `day`, as [`usage`] gives
/// each: the organisation's own first (limited or not), then every other
/// layer and subject that has limits, in the order [`all`] lists them. Two
/// queries instead of two per layer.
pub(crate) async fn usage_all<C: ConnectionTrait>(db: &C, org_id: &str, day: &str) -> ServiceResult<Vec<Usage>> {
    usage_with(db, org_id, day, &all(db, org_id).await?).await
}

/// [`usage_all`], from `cache` while the organisation is at the version it
/// was read at (setting a limit, and every hold, settlement and release of
/// a withdrawal, is an audited change; see [`crate::cache`]). `org` must
/// have been read before anything else this request reads.
pub async fn usage_all_cached<C: ConnectionTrait>(
    db: &C,
    cache: &Caches,
    access: &OrgAccess,
    org: &organization::Model,
    day: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Arc<Vec<Usage>>> {
    access.require_funds_view()?;
    if org.id != access.org_id {
        return Err(ServiceError::NotFound("organization"));
    }
    cache
        .usage
        .get_or_fill((org.id.clone(), day.to_string()), org.audit_seq, now, || async {
            Ok::<_, ServiceError>((usage_all(db, &org.id, day).await?, None))
        })
        .await
}

/// Usage of every layer, given the organisation's limits.
async fn usage_with<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    day: &str,
    limits: &[risk_limit::Model],
) -> ServiceResult<Vec<Usage>> {
    let mut subjects: Vec<&str> = limits.iter().map(|l| l.subject.as_str()).collect();
    subjects.push(org_id);
    let counters = limit_counter::Entity::find()
        .filter(limit_counter::Column::Day.eq(day))
        .filter(limit_counter::Column::Subject.is_in(subjects))
        .all(db)
        .await?;
    let one = |layer: LimitLayer, subject: &str, limit: Option<&risk_limit::Model>| {
        let counter = counters.iter().find(|c| c.layer == layer && c.subject == subject);
        usage_from(layer, subject, limit, counter)
    };
    let own = limits.iter().find(|l| l.layer == LimitLayer::Organization && l.subject == org_id);
    let mut out = vec![one(LimitLayer::Organization, org_id, own)?];
    for l in limits {
        let layer = l.layer;
        if layer != LimitLayer::Organization {
            out.push(one(layer, &l.subject, Some(l))?);
        }
    }
    Ok(out)
}

/// Days of outflow history kept and served: the daily reset keeps counters
/// this long (see `jobs.rs`), a little over the 30 days a chart shows.
pub const HISTORY_DAYS: i64 = 35;

/// One limit layer's settled outflow, day by day (USD).
#[derive(Clone, Debug)]
pub struct Outflow {
    pub layer: LimitLayer,
    pub subject: String,
    /// Every UTC day of the window, oldest first, with what settled that day.
    pub days: Vec<(String, Decimal)>,
}

/// What settled per layer and subject on each of the last `days` UTC days
/// (today included, at most [`HISTORY_DAYS`]), from the daily counters. The
/// organisation's own layer is always there, even with nothing settled.
pub async fn outflow_history<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    now: DateTime<Utc>,
    days: i64,
) -> ServiceResult<Vec<Outflow>> {
    access.require_funds_view()?;
    let org_id = access.org_id.as_str();
    let days = days.clamp(1, HISTORY_DAYS);
    let window: Vec<String> = (0..days).rev().map(|back| day_of(now - chrono::Duration::days(back))).collect();
    let first = window.first().cloned().unwrap_or_default();
    let rows = limit_counter::Entity::find()
        .filter(limit_counter::Column::OrgId.eq(org_id))
        .filter(limit_counter::Column::Day.gte(first))
        .all(db)
        .await?;
    let mut series: std::collections::BTreeMap<(LimitLayer, String), std::collections::HashMap<String, Decimal>> =
        Default::default();
    series.entry((LimitLayer::Organization, org_id.to_string())).or_default();
    for r in rows {
        let used = r.used_usd.0;
        let day = series.entry((r.layer, r.subject)).or_default().entry(r.day).or_default();
        *day = money::add("daily outflow", *day, used)?;
    }
    Ok(series
        .into_iter()
        .map(|((layer, subject), by_day)| Outflow {
            layer,
            subject,
            days: window.iter().map(|d| (d.clone(), by_day.get(d).copied().unwrap_or_default())).collect(),
        })
        .collect())
}

/// System entry point (the job runtime), the daily reset: counters of past days count for nothing already (they
/// are keyed by day); this drops those older than `keep_days` so the table
/// stays small. Idempotent.
pub async fn prune<C: ConnectionTrait>(db: &C, now: DateTime<Utc>, keep_days: i64) -> ServiceResult<u64> {
    let oldest = day_of(now - chrono::Duration::days(keep_days));
    let res = limit_counter::Entity::delete_many().filter(limit_counter::Column::Day.lt(oldest)).exec(db).await?;
    Ok(res.rows_affected)
}
