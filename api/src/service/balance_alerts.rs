//! Stablecoin balance alerts (SPEC §6): an organisation's threshold on the
//! total USD value of its stablecoin holdings, and the state it puts the
//! organisation in — `HEALTHY`, `LOW` or `UNCONFIGURED`.
//!
//! The state is recomputed inside the transactions that move it (credits,
//! settlements, the threshold itself), so it never lags a committed balance;
//! price changes and the minutely schedule recompute every organisation from
//! one set-based read. A change of state is recorded (history and audit),
//! e-mailed to the organisation's ADMIN members when it turns LOW, and
//! published to `balanceAlertChanged` subscribers after commit.

use super::audit::{self, AuditActor, Entry};
use super::ledger::{dec, text};
use super::notifications;
use super::operation::Applied;
use super::{ServiceError, ServiceResult};
use crate::db::begin_write;
use crate::domain::{MemberStatus, Role, RoleSet, UsdAmount};
use chrono::{DateTime, Utc};
use entity::{balance_alert, balance_alert_history, member, organization, user};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, Set, Statement,
};
use serde_json::json;
use std::collections::HashMap;
use workers::MailJob;

pub mod state {
    pub const HEALTHY: &str = "HEALTHY";
    pub const LOW: &str = "LOW";
    pub const UNCONFIGURED: &str = "UNCONFIGURED";
}

/// `LOW` strictly below the threshold; equal is `HEALTHY`.
pub fn classify(threshold: Option<Decimal>, total: Decimal) -> &'static str {
    match threshold {
        None => state::UNCONFIGURED,
        Some(t) if total < t => state::LOW,
        Some(_) => state::HEALTHY,
    }
}

/// Total USD value of stablecoin holdings per organisation (of one, or of
/// all): a single query, summed exactly in `Decimal`.
pub async fn totals<C: ConnectionTrait>(db: &C, org_id: Option<&str>) -> ServiceResult<HashMap<String, Decimal>> {
    let backend = db.get_database_backend();
    let p = |n: usize| if backend == DbBackend::Postgres { format!("${n}") } else { "?".to_string() };
    let mut sql = format!(
        "SELECT h.org_id, h.amount, a.usd_price FROM holdings h JOIN assets a ON a.symbol = h.asset \
         WHERE a.is_stablecoin = {}",
        p(1)
    );
    let mut values: Vec<sea_orm::Value> = vec![true.into()];
    if let Some(org) = org_id {
        sql.push_str(&format!(" AND h.org_id = {}", p(2)));
        values.push(org.into());
    }
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    let mut out: HashMap<String, Decimal> = HashMap::new();
    for r in rows {
        let org: String = r.try_get("", "org_id")?;
        let amount: String = r.try_get("", "amount")?;
        let price: Option<String> = r.try_get("", "usd_price")?;
        let usd = match price {
            Some(p) => dec(&amount)? * dec(&p)?,
            None => Decimal::ZERO,
        };
        *out.entry(org).or_default() += usd;
    }
    Ok(out)
}

/// Recomputes one organisation's alert inside the caller's write transaction.
/// Returns the notification jobs to enqueue and whether the state changed.
pub async fn recompute_org<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<(bool, Vec<MailJob>)> {
    let Some(alert) = balance_alert::Entity::find_by_id(org_id).lock_exclusive().one(db).await? else {
        return Ok((false, vec![]));
    };
    let total = totals(db, Some(org_id)).await?.remove(org_id).unwrap_or_default();
    let threshold = alert.threshold_usd.as_deref().map(dec).transpose()?;
    let new_state = classify(threshold, total);
    if new_state == alert.state {
        if dec(&alert.total_usd)? != total {
            let mut a: balance_alert::ActiveModel = alert.into();
            a.total_usd = Set(text(total));
            a.updated_at = Set(now);
            a.update(db).await?;
        }
        return Ok((false, vec![]));
    }
    let before = json!({"state": alert.state, "totalUsd": alert.total_usd, "thresholdUsd": alert.threshold_usd});
    let mut a: balance_alert::ActiveModel = alert.clone().into();
    a.state = Set(new_state.into());
    a.total_usd = Set(text(total));
    a.changed_at = Set(now);
    a.updated_at = Set(now);
    a.update(db).await?;
    balance_alert_history::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        org_id: Set(org_id.to_string()),
        state: Set(new_state.into()),
        total_usd: Set(text(total)),
        threshold_usd: Set(alert.threshold_usd.clone()),
        at: Set(now),
    }
    .insert(db)
    .await?;
    audit::append(
        db,
        Entry {
            org_id,
            actor: AuditActor::system("balance-alert"),
            action: "BALANCE_ALERT_CHANGED",
            target: Some(org_id.to_string()),
            before: Some(before),
            after: Some(json!({"state": new_state, "totalUsd": text(total), "thresholdUsd": alert.threshold_usd})),
            request_id: None,
        },
        now,
    )
    .await?;
    let mut jobs = Vec::new();
    if new_state == state::LOW {
        let org =
            organization::Entity::find_by_id(org_id).one(db).await?.ok_or(ServiceError::NotFound("organization"))?;
        for to in admin_emails(db, org_id).await? {
            let body = format!(
                "The stablecoin balance of {} is LOW: {} USD, below the alert threshold of {} USD.\n\n\
                 This e-mail goes to the organisation's administrators once per change to LOW.\n",
                org.name,
                text(total),
                alert.threshold_usd.as_deref().unwrap_or("?"),
            );
            let subject = format!("Countersign: {} stablecoin balance is LOW", org.name);
            jobs.push(MailJob::Notification(notifications::queue(db, org_id, &to, &subject, &body, now).await?));
        }
    }
    Ok((true, jobs))
}

async fn admin_emails<C: ConnectionTrait>(db: &C, org_id: &str) -> ServiceResult<Vec<String>> {
    let members = member::Entity::find()
        .filter(member::Column::OrgId.eq(org_id))
        .filter(member::Column::Status.eq(MemberStatus::Active.as_str()))
        .all(db)
        .await?;
    let mut out = Vec::new();
    for m in members {
        if RoleSet::from_stored(&m.roles).is_ok_and(|r| r.contains(Role::Admin))
            && let Some(u) = user::Entity::find_by_id(&m.user_id).one(db).await?
        {
            out.push(u.email);
        }
    }
    Ok(out)
}

/// Sets (or, with `None`, clears) the threshold and recomputes the state in
/// the same transaction (a MANAGE_POLICIES operation).
pub async fn set<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    threshold: &Option<String>,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    let threshold = threshold.as_deref().map(UsdAmount::from_stored).transpose()?.map(UsdAmount::to_stored);
    let existing = balance_alert::Entity::find_by_id(org_id).one(db).await?;
    let before = existing.as_ref().map(|a| json!({"thresholdUsd": a.threshold_usd, "state": a.state}));
    match existing {
        Some(a) => {
            let mut am: balance_alert::ActiveModel = a.into();
            am.threshold_usd = Set(threshold.clone());
            am.updated_at = Set(now);
            am.update(db).await?;
        }
        None => {
            balance_alert::ActiveModel {
                org_id: Set(org_id.to_string()),
                threshold_usd: Set(threshold.clone()),
                state: Set(state::UNCONFIGURED.into()),
                total_usd: Set("0".into()),
                changed_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
        }
    }
    let (changed, jobs) = recompute_org(db, org_id, now).await?;
    Ok(Applied {
        target: Some(org_id.to_string()),
        before,
        after: Some(json!({"thresholdUsd": threshold})),
        jobs,
        secret: None,
        alert_changed: changed,
    })
}

/// Recomputes every organisation that has an alert: one read of all alerts
/// and one of all stablecoin totals; a write transaction only where the state
/// or the total moved. Returns the organisations whose state changed, and
/// the notification jobs to enqueue.
pub async fn recompute_all(db: &DatabaseConnection, now: DateTime<Utc>) -> ServiceResult<(Vec<String>, Vec<MailJob>)> {
    let alerts = balance_alert::Entity::find().all(db).await?;
    let totals = totals(db, None).await?;
    let mut moved = Vec::new();
    for a in alerts {
        let total = totals.get(&a.org_id).copied().unwrap_or_default();
        let threshold = a.threshold_usd.as_deref().map(dec).transpose()?;
        if classify(threshold, total) != a.state || dec(&a.total_usd)? != total {
            moved.push(a.org_id);
        }
    }
    // Organisations are independent; grouping them bounds the commits (and
    // fsyncs) when many move at once, e.g. after a stablecoin price change.
    let (mut changed, mut jobs) = (Vec::new(), Vec::new());
    for group in moved.chunks(RECOMPUTE_BATCH) {
        let txn = begin_write(db).await?;
        for org_id in group {
            let (did_change, more) = recompute_org(&txn, org_id, now).await?;
            if did_change {
                changed.push(org_id.clone());
            }
            jobs.extend(more);
        }
        txn.commit().await?;
    }
    Ok((changed, jobs))
}

/// Organisations recomputed per transaction by [`recompute_all`].
const RECOMPUTE_BATCH: usize = 200;

/// What `organization.balanceAlert` shows: the stored state, with the total computed now.
pub struct AlertView {
    pub threshold: Option<Decimal>,
    pub state: String,
    pub total: Decimal,
    pub changed_at: Option<DateTime<Utc>>,
}

/// The organisation's alert (any member may see it).
pub async fn get<C: ConnectionTrait>(db: &C, org_id: &str) -> ServiceResult<AlertView> {
    let total = totals(db, Some(org_id)).await?.remove(org_id).unwrap_or_default();
    let a = balance_alert::Entity::find_by_id(org_id).one(db).await?;
    Ok(match a {
        Some(a) => AlertView {
            threshold: a.threshold_usd.as_deref().map(dec).transpose()?,
            state: a.state,
            total,
            changed_at: Some(a.changed_at),
        },
        None => AlertView { threshold: None, state: state::UNCONFIGURED.into(), total, changed_at: None },
    })
}

/// Recorded changes, newest first.
pub async fn history<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    first: u64,
) -> ServiceResult<Vec<balance_alert_history::Model>> {
    use sea_orm::QueryOrder;
    Ok(balance_alert_history::Entity::find()
        .filter(balance_alert_history::Column::OrgId.eq(org_id))
        .order_by_desc(balance_alert_history::Column::Id)
        .limit(first)
        .all(db)
        .await?)
}
