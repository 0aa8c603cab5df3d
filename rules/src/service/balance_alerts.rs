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
use super::notifications;
pub use super::types::AlertView;
use super::types::Applied;
use super::{ServiceError, ServiceResult};
use crate::access::{Actor, OrgAccess};
use crate::bulk::{UpdateByKey, update_by_key};
use crate::db::begin_write;
use crate::events::AlertEventView;
use chrono::{DateTime, Utc};
use domain::{AlertState, MemberStatus, Role, RoleSet, UsdAmount, money};
use entity::money::Amount;
use entity::{balance_alert, balance_alert_history, member, organization, user};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement, Value,
};
use serde_json::json;
use std::collections::HashMap;
use workers::MailJob;

/// `LOW` strictly below the threshold; equal is `HEALTHY`.
pub fn classify(threshold: Option<Decimal>, total: Decimal) -> AlertState {
    match threshold {
        None => AlertState::Unconfigured,
        Some(t) if total < t => AlertState::Low,
        Some(_) => AlertState::Healthy,
    }
}

/// System read (the job runtime and the rules; no caller's access): total
/// USD value of stablecoin holdings per organisation (of one, or of all): a single query, summed exactly in `Decimal`.
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
    let mut out: HashMap<String, Decimal> = HashMap::new();
    add_holdings(db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?, &mut out)?;
    Ok(out)
}

/// Adds each `(org_id, amount, usd_price)` row's USD value to its
/// organisation's total; an unpriced stablecoin counts for nothing.
fn add_holdings(rows: Vec<sea_orm::QueryResult>, out: &mut HashMap<String, Decimal>) -> ServiceResult<()> {
    for r in rows {
        let org: String = r.try_get("", "org_id")?;
        let amount: Amount = r.try_get("", "amount")?;
        let price: Option<Amount> = r.try_get("", "usd_price")?;
        let usd = match price {
            Some(p) => money::mul("totalStablecoinUsd", amount.0, p.0)?,
            None => Decimal::ZERO,
        };
        let total = out.entry(org).or_default();
        *total = money::add("totalStablecoinUsd", *total, usd)?;
    }
    Ok(())
}

/// Recomputes one organisation's alert inside the caller's write transaction
/// (the one that moved its balance), as the batch recompute does a group's.
/// Returns whether the state changed and the notification jobs to enqueue.
pub(crate) async fn recompute_org<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<(bool, Vec<MailJob>)> {
    let (changed, jobs) = recompute_group(db, &[org_id.to_string()], now).await?;
    Ok((!changed.is_empty(), jobs))
}

/// Why new withdrawals are refused right now, if the organisation pauses
/// them while its balance alert is LOW and it is.
pub(crate) async fn paused<C: ConnectionTrait>(db: &C, org_id: &str) -> ServiceResult<Option<String>> {
    let org = organization::Entity::find_by_id(org_id).one(db).await?.ok_or(ServiceError::NotFound("organization"))?;
    paused_given(db, &org).await
}

/// [`paused`], given the organisation's row (its setting; the alert's state is read now).
pub(crate) async fn paused_given<C: ConnectionTrait>(
    db: &C,
    org: &organization::Model,
) -> ServiceResult<Option<String>> {
    if !org.pause_on_low_balance {
        return Ok(None);
    }
    let alert = balance_alert::Entity::find_by_id(&org.id).one(db).await?;
    Ok(alert.filter(|a| a.state == AlertState::Low).map(|a| {
        format!(
            "withdrawals are paused while the stablecoin balance ({} USD) is below the alert threshold ({} USD)",
            a.total_usd,
            a.threshold_usd.map_or("?".to_string(), |t| t.to_string())
        )
    }))
}

/// Turns the pause-on-LOW setting on or off (a MANAGE_POLICIES operation).
pub(crate) async fn set_pause<C: ConnectionTrait>(db: &C, org_id: &str, enabled: bool) -> ServiceResult<Applied> {
    let org = organization::Entity::find_by_id(org_id).one(db).await?.ok_or(ServiceError::NotFound("organization"))?;
    let before = json!({"pauseOnLowBalance": org.pause_on_low_balance});
    let mut o: organization::ActiveModel = org.into();
    o.pause_on_low_balance = Set(enabled);
    o.update(db).await?;
    Ok(Applied {
        target: Some(org_id.to_string()),
        before: Some(before),
        after: Some(json!({"pauseOnLowBalance": enabled})),
        ..Applied::default()
    })
}

/// Sets (or, with `None`, clears) the threshold and recomputes the state in
/// the same transaction (a MANAGE_POLICIES operation).
pub(crate) async fn set<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    threshold: Option<UsdAmount>,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    let threshold = threshold.map(|t| Amount(t.value()));
    let existing = balance_alert::Entity::find_by_id(org_id).one(db).await?;
    let before = existing.as_ref().map(|a| json!({"thresholdUsd": a.threshold_usd, "state": a.state}));
    match existing {
        Some(a) => {
            let mut am: balance_alert::ActiveModel = a.into();
            am.threshold_usd = Set(threshold);
            am.updated_at = Set(now);
            am.update(db).await?;
        }
        None => {
            balance_alert::ActiveModel {
                org_id: Set(org_id.to_string()),
                threshold_usd: Set(threshold),
                state: Set(AlertState::Unconfigured),
                total_usd: Set(Amount::ZERO),
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

/// System entry point (the job runtime): recomputes every organisation that has an alert: one read of all alerts
/// and one of all stablecoin totals; a write transaction only where the state
/// or the total moved. Returns the organisations whose state changed, and
/// the notification jobs to enqueue.
pub async fn recompute_all(db: &DatabaseConnection, now: DateTime<Utc>) -> ServiceResult<(Vec<String>, Vec<MailJob>)> {
    let alerts = balance_alert::Entity::find().all(db).await?;
    let totals = totals(db, None).await?;
    let mut moved = Vec::new();
    for a in alerts {
        let total = totals.get(&a.org_id).copied().unwrap_or_default();
        let threshold = a.threshold_usd.map(Amount::value);
        if classify(threshold, total) != a.state || a.total_usd.0 != total {
            moved.push(a.org_id);
        }
    }
    // Organisations are independent; grouping them bounds the commits (and
    // fsyncs) when many move at once, e.g. after a stablecoin price change.
    let (mut changed, mut jobs) = (Vec::new(), Vec::new());
    for group in moved.chunks(RECOMPUTE_BATCH) {
        let txn = begin_write(db).await?;
        let (did_change, more) = recompute_group(&txn, group, now).await?;
        txn.commit().await?;
        changed.extend(did_change);
        jobs.extend(more);
    }
    Ok((changed, jobs))
}

/// Recomputes a group of organisations' alerts inside one write
/// transaction, with set-based reads and writes: the alerts locked and the
/// totals read in one query each, history and audit records inserted in
/// bulk. Returns the organisations whose state changed and the mail to send.
async fn recompute_group<C: ConnectionTrait>(
    db: &C,
    group: &[String],
    now: DateTime<Utc>,
) -> ServiceResult<(Vec<String>, Vec<MailJob>)> {
    let alerts = balance_alert::Entity::find()
        .filter(balance_alert::Column::OrgId.is_in(group.iter().map(String::as_str)))
        .order_by_asc(balance_alert::Column::OrgId)
        .lock_exclusive()
        .all(db)
        .await?;
    let totals = totals_of(db, group).await?;
    let (mut changed, mut history, mut entries) = (Vec::new(), Vec::new(), Vec::new());
    // Rows to write: (org, total) where only the total moved; (org, state, total) where the state did.
    let (mut totals_moved, mut states_moved): (Vec<Vec<Value>>, Vec<Vec<Value>>) = (Vec::new(), Vec::new());
    for alert in alerts {
        let org_id = alert.org_id.clone();
        let total = totals.get(&org_id).copied().unwrap_or_default();
        let threshold = alert.threshold_usd.map(Amount::value);
        let new_state = classify(threshold, total);
        if new_state == alert.state {
            if alert.total_usd.0 != total {
                totals_moved.push(vec![org_id.into(), Amount(total).into()]);
            }
            continue;
        }
        let before = json!({"state": alert.state, "totalUsd": alert.total_usd, "thresholdUsd": alert.threshold_usd});
        let after =
            json!({"state": new_state, "totalUsd": Amount(total).to_stored(), "thresholdUsd": alert.threshold_usd});
        history.push(balance_alert_history::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            org_id: Set(org_id.clone()),
            state: Set(new_state),
            total_usd: Set(Amount(total)),
            threshold_usd: Set(alert.threshold_usd),
            at: Set(now),
        });
        states_moved.push(vec![org_id.clone().into(), new_state.into(), Amount(total).into()]);
        entries.push((org_id.clone(), before, after));
        changed.push((org_id, new_state, total));
    }
    let table = "balance_alerts";
    let at = || Value::from(now);
    let totals_update =
        UpdateByKey { table, key: "org_id", columns: &["total_usd"], constants: vec![("updated_at", at())] };
    update_by_key(db, &totals_update, totals_moved).await?;
    let states_update = UpdateByKey {
        table,
        key: "org_id",
        columns: &["state", "total_usd"],
        constants: vec![("changed_at", at()), ("updated_at", at())],
    };
    update_by_key(db, &states_update, states_moved).await?;
    for chunk in history.chunks(audit::BATCH_IDS) {
        balance_alert_history::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    // Organisations that pause withdrawals while LOW: entering or leaving
    // LOW pauses or resumes them, and that is audited too.
    let pausing: std::collections::HashSet<String> = organization::Entity::find()
        .filter(organization::Column::Id.is_in(changed.iter().map(|(o, _, _)| o.as_str())))
        .filter(organization::Column::PauseOnLowBalance.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|o| o.id)
        .collect();
    let mut records: Vec<Entry> = Vec::new();
    for (org_id, before, after) in &entries {
        records.push(Entry {
            org_id,
            actor: AuditActor::system("balance-alert"),
            action: "BALANCE_ALERT_CHANGED",
            target: Some(org_id.clone()),
            before: Some(before.clone()),
            after: Some(after.clone()),
            request_id: None,
        });
        let (was_low, is_low) =
            (before["state"] == AlertState::Low.as_str(), after["state"] == AlertState::Low.as_str());
        if pausing.contains(org_id) && was_low != is_low {
            records.push(Entry {
                org_id,
                actor: AuditActor::system("balance-alert"),
                action: if is_low { "WITHDRAWALS_PAUSED" } else { "WITHDRAWALS_RESUMED" },
                target: Some(org_id.clone()),
                before: Some(json!({"withdrawalsPaused": was_low})),
                after: Some(json!({"withdrawalsPaused": is_low, "alertState": after["state"]})),
                request_id: None,
            });
        }
    }
    audit::append_many(db, records, now).await?;
    let low: Vec<&str> = changed.iter().filter(|(_, s, _)| *s == AlertState::Low).map(|(o, _, _)| o.as_str()).collect();
    let mut jobs = Vec::new();
    if !low.is_empty() {
        let names: HashMap<String, String> = organization::Entity::find()
            .filter(organization::Column::Id.is_in(low.iter().copied()))
            .all(db)
            .await?
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect();
        let admins = admin_emails_of(db, &low).await?;
        for (org_id, _, total) in changed.iter().filter(|(_, s, _)| *s == AlertState::Low) {
            let name = names.get(org_id).ok_or(ServiceError::NotFound("organization"))?;
            let threshold = entries
                .iter()
                .find(|(o, _, _)| o == org_id)
                .and_then(|(_, _, after)| after["thresholdUsd"].as_str().map(str::to_string));
            for to in admins.get(org_id).into_iter().flatten() {
                let (subject, body) = low_mail(name, *total, threshold.as_deref());
                jobs.push(MailJob::Notification(notifications::queue(db, org_id, to, &subject, &body, now).await?));
            }
        }
    }
    Ok((changed.into_iter().map(|(o, _, _)| o).collect(), jobs))
}

/// The LOW e-mail's subject and body.
fn low_mail(org_name: &str, total: Decimal, threshold: Option<&str>) -> (String, String) {
    let body = format!(
        "The stablecoin balance of {} is LOW: {} USD, below the alert threshold of {} USD.\n\n\
         This e-mail goes to the organisation's administrators once per change to LOW.\n",
        org_name,
        Amount(total).to_stored(),
        threshold.unwrap_or("?"),
    );
    (format!("Countersign: {org_name} stablecoin balance is LOW"), body)
}

/// Stablecoin totals of a set of organisations, in one query per 500.
async fn totals_of<C: ConnectionTrait>(db: &C, orgs: &[String]) -> ServiceResult<HashMap<String, Decimal>> {
    let backend = db.get_database_backend();
    let mut out = HashMap::new();
    for chunk in orgs.chunks(audit::BATCH_IDS) {
        let p = |n: usize| if backend == DbBackend::Postgres { format!("${n}") } else { "?".to_string() };
        let list: Vec<String> = (0..chunk.len()).map(|i| p(i + 2)).collect();
        let sql = format!(
            "SELECT h.org_id, h.amount, a.usd_price FROM holdings h JOIN assets a ON a.symbol = h.asset \
             WHERE a.is_stablecoin = {} AND h.org_id IN ({})",
            p(1),
            list.join(", ")
        );
        let mut values: Vec<sea_orm::Value> = vec![true.into()];
        values.extend(chunk.iter().map(|o| sea_orm::Value::from(o.as_str())));
        add_holdings(db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?, &mut out)?;
    }
    Ok(out)
}

/// E-mail addresses of the ADMIN members of each organisation, in two queries.
async fn admin_emails_of<C: ConnectionTrait>(db: &C, orgs: &[&str]) -> ServiceResult<HashMap<String, Vec<String>>> {
    let members: Vec<member::Model> = member::Entity::find()
        .filter(member::Column::OrgId.is_in(orgs.iter().copied()))
        .filter(member::Column::Status.eq(MemberStatus::Active))
        .order_by_asc(member::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .filter(|m| RoleSet::from_stored(&m.roles).is_ok_and(|r| r.contains(Role::Admin)))
        .collect();
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if members.is_empty() {
        return Ok(out);
    }
    let emails: HashMap<String, String> = user::Entity::find()
        .filter(user::Column::Id.is_in(members.iter().map(|m| m.user_id.as_str())))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    for m in members {
        if let Some(e) = emails.get(&m.user_id) {
            out.entry(m.org_id).or_default().push(e.clone());
        }
    }
    Ok(out)
}

/// Organisations recomputed per transaction by [`recompute_all`]: one
/// set-based statement's worth ([`audit::BATCH_IDS`]), so each transaction
/// is a handful of statements however many organisations move.
const RECOMPUTE_BATCH: usize = audit::BATCH_IDS;

/// The organisation's alert: any member; a key with QUERY_FUNDS or
/// WITHDRAW ([`OrgAccess::require_funds_view`]).
pub async fn get<C: ConnectionTrait>(db: &C, access: &OrgAccess) -> ServiceResult<AlertView> {
    access.require_funds_view()?;
    read(db, &access.org_id).await
}

/// A balance-alert change as every subscriber of its organisation receives
/// it, read once per event (a few hundred subscribers each reading the
/// alert and their own access would queue for the pool): the alert, and the
/// active members' access to decide who may see it.
pub async fn event_view<C: ConnectionTrait>(db: &C, org_id: &str, now: DateTime<Utc>) -> ServiceResult<AlertEventView> {
    let members = crate::authz::resolve_all(db, org_id, now).await?;
    Ok(AlertEventView { alert: read(db, org_id).await?, members })
}

/// The alert for one subscriber: a member now ([`get`]'s rule, read from
/// the event's view), or a service user of the organisation with a key that
/// may see funds.
pub fn event_for(view: &AlertEventView, actor: &Actor, org_id: &str) -> Option<AlertView> {
    let seen = match actor {
        Actor::User(u) => view.members.get(&u.user_id)?.require_funds_view(),
        Actor::ServiceUser(su) => crate::authz::service_user_access(su, org_id).ok()?.require_funds_view(),
        _ => return None,
    };
    seen.ok().map(|()| view.alert.clone())
}

async fn read<C: ConnectionTrait>(db: &C, org_id: &str) -> ServiceResult<AlertView> {
    let total = totals(db, Some(org_id)).await?.remove(org_id).unwrap_or_default();
    let a = balance_alert::Entity::find_by_id(org_id).one(db).await?;
    let withdrawals_paused = paused(db, org_id).await?.is_some();
    Ok(match a {
        Some(a) => AlertView {
            threshold: a.threshold_usd.map(Amount::value),
            state: a.state,
            total,
            changed_at: Some(a.changed_at),
            withdrawals_paused,
        },
        None => {
            AlertView { threshold: None, state: AlertState::Unconfigured, total, changed_at: None, withdrawals_paused }
        }
    })
}

/// Recorded changes, newest first.
pub async fn history<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    first: u64,
) -> ServiceResult<Vec<balance_alert_history::Model>> {
    use sea_orm::QueryOrder;
    access.require_funds_view()?;
    let org_id = access.org_id.as_str();
    Ok(balance_alert_history::Entity::find()
        .filter(balance_alert_history::Column::OrgId.eq(org_id))
        .order_by_desc(balance_alert_history::Column::Id)
        .limit(first)
        .all(db)
        .await?)
}
