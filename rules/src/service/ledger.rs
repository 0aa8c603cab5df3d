//! Assets, holdings and the append-only ledger (SPEC §6): custody credits
//! from the operator, and reads gated by workflow permissions (members) or
//! key scopes (service users), with service users' history clamped to their
//! key's query window.

use super::audit::{self, AuditActor, Entry};
use super::effects::{self, Engine};
use super::{ServiceError, ServiceResult, balance_alerts, is_unique_violation, organization};
use crate::access::{Operator, OrgAccess};
use crate::cache::Caches;
use crate::db::begin_write;
use chrono::{DateTime, Utc};
use domain::{Action, ActorKind, ApiScope, LedgerKind, MAX_AMOUNT, Workflow, money, new_id};
use entity::money::Amount;
use entity::{account, asset, holding, ledger_entry};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;
use std::sync::Arc;

/// Every supported asset.
pub async fn assets<C: ConnectionTrait>(db: &C) -> ServiceResult<Vec<asset::Model>> {
    Ok(asset::Entity::find().order_by_asc(asset::Column::Symbol).all(db).await?)
}

pub async fn find_asset<C: ConnectionTrait>(db: &C, symbol: &str) -> ServiceResult<asset::Model> {
    asset::Entity::find_by_id(symbol.trim().to_uppercase()).one(db).await?.ok_or(ServiceError::NotFound("asset"))
}

/// A positive amount of `asset`, with no more decimal places than it has,
/// at most [`MAX_AMOUNT`](domain::MAX_AMOUNT).
pub fn parse_amount(asset: &asset::Model, amount: Decimal) -> ServiceResult<Decimal> {
    let decimals = u32::try_from(asset.decimals).unwrap_or(0);
    Ok(domain::parse_amount("amount", &asset.symbol, decimals, amount)?)
}

/// Sets an asset's USD price (the platform operator's). Every organisation's balance alert
/// is recomputed right after, from one set-based read (and again by the
/// minutely schedule, should this process stop in between).
pub async fn set_price(engine: &Engine<'_>, _: &Operator, symbol: &str, price: Decimal) -> ServiceResult<asset::Model> {
    let (db, now) = (engine.db, engine.env.now);
    let p = domain::parse_price("usdPrice", price)?;
    let a = find_asset(db, symbol).await?;
    let txn = begin_write(db).await?;
    let mut am: asset::ActiveModel = a.into();
    am.usd_price = Set(Some(Amount(p)));
    am.updated_at = Set(now);
    let asset = am.update(&txn).await?;
    if asset.is_stablecoin {
        // A price that would put some organisation's stablecoin total beyond
        // exact arithmetic is refused before it is committed.
        balance_alerts::totals(&txn, None).await?;
    }
    txn.commit().await?;
    if asset.is_stablecoin {
        let (alerts, jobs) = balance_alerts::recompute_all(db, now).await?;
        engine.after_commit(effects::Effects { jobs, events: Vec::new(), alerts }).await;
    }
    Ok(asset)
}

/// Records a credit from custody (the platform operator's): the ledger entry and the holding change
/// commit together, with an audit record. A reference is accepted once per
/// account (custody may redeliver).
pub async fn credit(
    engine: &Engine<'_>,
    _: &Operator,
    account_id: &str,
    symbol: &str,
    amount: Decimal,
    reference: &str,
) -> ServiceResult<ledger_entry::Model> {
    let (db, now) = (engine.db, engine.env.now);
    let reference = reference.trim();
    if reference.is_empty() || reference.len() > 200 {
        return Err(ServiceError::BadInput("reference: 1 to 200 characters".into()));
    }
    let asset = find_asset(db, symbol).await?;
    let amount = parse_amount(&asset, amount)?;
    let txn = begin_write(db).await?;
    let acct = account::Entity::find_by_id(account_id).one(&txn).await?.ok_or(ServiceError::NotFound("account"))?;
    let h = locked_holding(&txn, &acct, &asset.symbol, now).await?;
    let balance = money::add("amount", h.amount.0, amount)?;
    if balance > MAX_AMOUNT {
        return Err(ServiceError::BadInput(format!(
            "amount: the balance would be {balance} {}, above the most an account may hold ({MAX_AMOUNT})",
            asset.symbol
        )));
    }
    let mut hm: holding::ActiveModel = h.into();
    hm.amount = Set(Amount(balance));
    hm.updated_at = Set(now);
    hm.update(&txn).await?;
    let entry = ledger_entry::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        org_id: Set(acct.org_id.clone()),
        account_id: Set(acct.id.clone()),
        asset: Set(asset.symbol.clone()),
        kind: Set(LedgerKind::Credit),
        amount: Set(Amount(amount)),
        balance_after: Set(Amount(balance)),
        reference: Set(reference.to_string()),
        request_id: Set(None),
        at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            ServiceError::Conflict(format!("credit {reference:?} was already recorded for this account"))
        } else {
            e.into()
        }
    })?;
    audit::append(
        &txn,
        Entry {
            org_id: &acct.org_id,
            actor: AuditActor { kind: ActorKind::Operator, id: "operator".into() },
            action: "ACCOUNT_CREDITED",
            target: Some(acct.id.clone()),
            before: None,
            after: Some(json!({"asset": asset.symbol, "amount": amount.to_string(), "reference": reference, "balance": balance.to_string()})),
            request_id: None,
        },
        now,
    )
    .await?;
    let (alert_changed, jobs) = balance_alerts::recompute_org(&txn, &acct.org_id, now).await?;
    txn.commit().await?;
    engine.after_commit(effects::Effects::mail_and_alert(jobs, alert_changed, &acct.org_id)).await;
    Ok(entry)
}

/// The holding row of (account, asset), created empty if missing, locked for update.
pub async fn locked_holding<C: ConnectionTrait>(
    db: &C,
    acct: &account::Model,
    symbol: &str,
    now: DateTime<Utc>,
) -> ServiceResult<holding::Model> {
    if let Some(h) = holding_locked(db, &acct.id, symbol).await? {
        return Ok(h);
    }
    holding::ActiveModel {
        id: Set(new_id()),
        org_id: Set(acct.org_id.clone()),
        account_id: Set(acct.id.clone()),
        asset: Set(symbol.to_string()),
        amount: Set(Amount::ZERO),
        held: Set(Amount::ZERO),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    holding_locked(db, &acct.id, symbol).await?.ok_or_else(|| ServiceError::internal("holding vanished"))
}

/// The holding of `symbol` on `account_id`, locked, if the account has one.
pub(crate) async fn holding_locked<C: ConnectionTrait>(
    db: &C,
    account_id: &str,
    symbol: &str,
) -> ServiceResult<Option<holding::Model>> {
    Ok(holding::Entity::find()
        .filter(holding::Column::AccountId.eq(account_id))
        .filter(holding::Column::Asset.eq(symbol))
        .lock_exclusive()
        .one(db)
        .await?)
}

/// May the caller read balances of `account_id`? Members: VIEW on
/// withdrawals; service users: the QUERY_FUNDS scope and the account on their key.
fn require_read(access: &OrgAccess, account_id: &str, scope: ApiScope) -> ServiceResult<()> {
    if access.service.is_some() {
        access.require_scope(scope)?;
        if !access.may_touch_account(account_id) {
            return Err(ServiceError::NotFound("account"));
        }
        return Ok(());
    }
    access.require(Workflow::InitiateWithdrawal, Action::View, Some(account_id))
}

/// The caller's view of an account's holdings.
pub async fn holdings<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    account_id: &str,
) -> ServiceResult<Vec<holding::Model>> {
    organization::require_account(db, &access.org_id, account_id).await?;
    require_read(access, account_id, ApiScope::QueryFunds)?;
    Ok(holding::Entity::find()
        .filter(holding::Column::AccountId.eq(account_id))
        .order_by_asc(holding::Column::Asset)
        .all(db)
        .await?)
}

/// [`holdings`], from `cache` while the organisation is at the version they
/// were read at (see [`crate::cache`]); `org` must have been read before
/// anything else this request reads.
pub async fn holdings_cached<C: ConnectionTrait>(
    db: &C,
    cache: &Caches,
    access: &OrgAccess,
    org: &entity::organization::Model,
    account_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Arc<Vec<holding::Model>>> {
    if org.id != access.org_id {
        return Err(ServiceError::NotFound("organization"));
    }
    require_read(access, account_id, ApiScope::QueryFunds)?;
    cache
        .holdings
        .get_or_fill(account_id.to_string(), org.audit_seq, now, || async {
            Ok::<_, ServiceError>((holdings(db, access, account_id).await?, None))
        })
        .await
}

/// Which history a query asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum History {
    /// Every entry (QUERY_LEDGER for service users).
    Ledger,
    /// Credits only (DEPOSIT for service users).
    Deposits,
    /// Every entry, for an export (EXPORT_DATA for service users).
    Export,
}

/// Ledger entries of an account, newest first, within `[since, until)`;
/// a service user's range is clamped to its key's query window.
#[allow(clippy::too_many_arguments)]
pub async fn history<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    account_id: &str,
    what: History,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    first: u64,
    before_id: Option<i64>,
) -> ServiceResult<(Vec<ledger_entry::Model>, bool)> {
    organization::require_account(db, &access.org_id, account_id).await?;
    let scope = match what {
        History::Ledger => ApiScope::QueryLedger,
        History::Deposits => ApiScope::Deposit,
        History::Export => ApiScope::ExportData,
    };
    require_read(access, account_id, scope)?;
    // Clamped to a key's query window, as every history a key reads is.
    let (start, end) = access.query_window();
    let since = [since, start].into_iter().flatten().max();
    let until = [until, end].into_iter().flatten().min();
    let mut q = ledger_entry::Entity::find().filter(ledger_entry::Column::AccountId.eq(account_id));
    if what == History::Deposits {
        q = q.filter(ledger_entry::Column::Kind.eq(LedgerKind::Credit));
    }
    if let Some(t) = since {
        q = q.filter(ledger_entry::Column::At.gte(t));
    }
    if let Some(t) = until {
        q = q.filter(ledger_entry::Column::At.lt(t));
    }
    if let Some(id) = before_id {
        q = q.filter(ledger_entry::Column::Id.lt(id));
    }
    let mut rows = q.order_by_desc(ledger_entry::Column::Id).limit(first + 1).all(db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

/// USD value of `amount` of an asset, in cents (zero while unpriced).
pub fn usd_value(asset: &asset::Model, amount: Decimal) -> ServiceResult<Decimal> {
    let mut v = match &asset.usd_price {
        Some(p) => money::mul("usdValue", p.0, amount)?.round_dp(2),
        None => Decimal::ZERO,
    };
    v.rescale(2);
    Ok(v)
}
