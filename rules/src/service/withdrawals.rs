//! Withdrawals (SPEC §5): Maker → Approver → Signer, against whitelisted
//! addresses and available balances, within three layers of risk limits.
//!
//! [`open`] runs inside the request's creation transaction: readiness,
//! whitelist, available balance, then limits (organisation, then API key),
//! holding funds and capacity. [`release`] undoes the holds when a request
//! ends without settling; [`execute`] settles an APPROVED withdrawal against
//! the ledger, checking the signer's own cap.

use super::audit::{self, AuditActor, Entry};
use super::ledger;
use super::limits::{self, LimitLayer};
use super::org_reads::OrgReads;
use super::pending::PendingWrites;
use super::{ServiceError, ServiceResult, addresses, balance_alerts};
use crate::access::OrgAccess;
use chrono::{DateTime, Utc};
use domain::{Action, ActorKind, ApiScope, LedgerKind, RecordStatus, Role, WithdrawalState, Workflow};
use domain::{MAX_USD, OutsideWindow, WithdrawalWindow, money};
use entity::money::Amount;
use entity::{account, holding, ledger_entry, organization, request, withdrawal};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use workers::MailJob;

/// A withdrawal as submitted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WithdrawalSpec {
    pub account_id: String,
    pub asset: String,
    #[serde(with = "domain::money::plain_text")]
    pub amount: Decimal,
    pub address_id: String,
    /// Execute in the same call when no approval is needed (needs EXECUTE).
    pub execute: bool,
}

/// Which of MAKER, APPROVER and SIGNER the organisation's active members cover.
pub async fn readiness<C: ConnectionTrait>(db: &C, access: &OrgAccess) -> ServiceResult<[(Role, bool); 3]> {
    OrgReads::default().roles_held(db, &access.org_id).await
}

/// Refusal when the organisation lacks an active MAKER, APPROVER or SIGNER.
async fn not_ready<C: ConnectionTrait>(db: &C, reads: &OrgReads, org_id: &str) -> ServiceResult<Option<ServiceError>> {
    let held = reads.roles_held(db, org_id).await?;
    let missing: Vec<&str> = held.iter().filter(|(_, ok)| !ok).map(|(r, _)| r.as_str()).collect();
    Ok((!missing.is_empty()).then(|| {
        ServiceError::TreasuryNotReady(format!(
            "withdrawals need at least one active member holding each of MAKER, APPROVER and SIGNER; missing: {}",
            missing.join(", ")
        ))
    }))
}

/// How the organisation's withdrawal window judges a withdrawal made now.
enum WindowVerdict {
    /// No window, or inside it.
    Open,
    /// Outside, and the window refuses (`OUTSIDE_WINDOW`).
    Refused(ServiceError),
    /// Outside, and the window lets it wait for approval instead; the waiting reason.
    MustWait(String),
}

/// Judges a withdrawal made at `now` against the organisation's window.
fn window_verdict(org: &organization::Model, now: DateTime<Utc>) -> ServiceResult<WindowVerdict> {
    let Some(stored) = &org.withdrawal_window else { return Ok(WindowVerdict::Open) };
    let window = WithdrawalWindow::from_stored(stored).map_err(ServiceError::internal)?;
    if window.contains(now) {
        return Ok(WindowVerdict::Open);
    }
    Ok(match window.outside {
        OutsideWindow::Refuse => WindowVerdict::Refused(ServiceError::OutsideWindow(format!(
            "withdrawals may be made only within the organisation's window ({})",
            window.describe()
        ))),
        OutsideWindow::RequireApproval => WindowVerdict::MustWait(format!(
            "{OUTSIDE_WINDOW_PREFIX}: made outside the withdrawal window ({}), so it waits for approval",
            window.describe()
        )),
    })
}

/// How a waiting reason marks a withdrawal made outside the window.
const OUTSIDE_WINDOW_PREFIX: &str = "OUTSIDE_WINDOW";

/// What a withdrawal names, resolved and validated: the account, the asset
/// and its price, the amount in the asset's precision, the address.
struct Target {
    account: account::Model,
    asset: String,
    amount: Decimal,
    price: Decimal,
    address: entity::address::Model,
}

async fn target<C: ConnectionTrait>(
    db: &C,
    reads: &OrgReads,
    access: &OrgAccess,
    w: &WithdrawalSpec,
) -> ServiceResult<Target> {
    let account = reads.account(db, &access.org_id, &w.account_id).await?;
    let asset = reads.asset(db, &w.asset).await?;
    let amount = ledger::parse_amount(&asset, w.amount)?;
    let price = asset
        .usd_price
        .map(Amount::value)
        .ok_or_else(|| ServiceError::BadInput(format!("asset: {} has no USD price yet", asset.symbol)))?;
    let addr = reads.address(db, &access.org_id, &w.address_id).await?;
    if addr.account_id != account.id || addr.asset != asset.symbol {
        return Err(ServiceError::BadInput("addressId: whitelisted for another account or asset".into()));
    }
    if let Some(e) = addresses::unusable(&addr) {
        return Err(e);
    }
    Ok(Target { account, asset: asset.symbol, amount, price, address: addr })
}

/// The USD value of a withdrawal, at most [`MAX_USD`]: limit counters add
/// these up, and the bound keeps a day's sums inside `Decimal`.
fn withdrawal_usd(t: &Target) -> ServiceResult<Decimal> {
    let usd = money::mul("amount", t.amount, t.price)?;
    if usd > MAX_USD {
        return Err(ServiceError::BadInput(format!(
            "amount: worth {usd} USD, more than one withdrawal may be ({MAX_USD} USD)"
        )));
    }
    Ok(usd)
}

fn short_of_funds(t: &Target, balance: Decimal, held: Decimal) -> Option<ServiceError> {
    let available = match money::sub("available", balance, held) {
        Ok(a) => a,
        Err(e) => return Some(e.into()),
    };
    (available < t.amount).then(|| {
        ServiceError::InsufficientFunds(format!(
            "available {} {} (balance {} less {} held by open withdrawals) is less than {}",
            available, t.asset, balance, held, t.amount
        ))
    })
}

/// Every reason [`open`] would refuse this withdrawal now — not only the
/// first — for dry runs. Reads without locking; `open` decides for real.
pub async fn assess<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    w: &WithdrawalSpec,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<ServiceError>> {
    let mut failures = Vec::new();
    if let Err(e) = access.require_scope(ApiScope::Withdraw) {
        failures.push(e);
    }
    if !access.may_touch_account(&w.account_id) {
        failures.push(ServiceError::NotFound("account"));
        return Ok(failures);
    }
    let reads = OrgReads::default();
    failures.extend(not_ready(db, &reads, &access.org_id).await?);
    let org = reads.org(db, &access.org_id).await?;
    if let Some(reason) = balance_alerts::paused_given(db, org).await? {
        failures.push(ServiceError::PausedLowBalance(reason));
    }
    if let WindowVerdict::Refused(e) = window_verdict(org, now)? {
        failures.push(e);
    }
    let t = match target(db, &reads, access, w).await {
        Ok(t) => t,
        Err(e @ ServiceError::Internal(_)) => return Err(e),
        Err(e) => {
            // Nothing further can be judged about an unknown account, asset or address.
            failures.push(e);
            return Ok(failures);
        }
    };
    let h = holding::Entity::find()
        .filter(holding::Column::AccountId.eq(&t.account.id))
        .filter(holding::Column::Asset.eq(&t.asset))
        .one(db)
        .await?;
    let (balance, held) = match &h {
        Some(h) => (h.amount.0, h.held.0),
        None => (Decimal::ZERO, Decimal::ZERO),
    };
    failures.extend(addresses::still_cooling(&t.address, now));
    failures.extend(short_of_funds(&t, balance, held));
    let usd = match withdrawal_usd(&t) {
        Ok(usd) => usd,
        Err(e) => {
            failures.push(e);
            return Ok(failures);
        }
    };
    let day = limits::day_of(now);
    // The signer's cap applies at execution, which may never come now (the
    // request may wait); the dry run's real submission meets it if it does.
    let mut layers = vec![(LimitLayer::Organization, access.org_id.clone())];
    layers.extend(access.service.as_ref().map(|s| (LimitLayer::ApiKey, s.key_id.clone())));
    for (layer, subject) in layers {
        failures.extend(limits::check(db, &access.org_id, layer, &subject, &day, usd).await?);
    }
    Ok(failures)
}

/// A withdrawal [`open`] accepted.
pub struct Opened {
    /// Its USD value at the asset's current price.
    pub usd: Decimal,
    /// Made outside a window that lets it wait: why it must wait for approval.
    pub must_wait: Option<String>,
}

/// Checks everything about a new withdrawal and reserves funds and capacity:
/// decided against, and recorded in, `pending`, which the request's
/// transaction writes before it commits.
pub async fn open<C: ConnectionTrait>(
    db: &C,
    reads: &OrgReads,
    pending: &mut PendingWrites,
    access: &OrgAccess,
    request_id: &str,
    w: &WithdrawalSpec,
    now: DateTime<Utc>,
) -> ServiceResult<Opened> {
    access.require_scope(ApiScope::Withdraw)?;
    if !access.may_touch_account(&w.account_id) {
        return Err(ServiceError::NotFound("account"));
    }
    if let Some(e) = not_ready(db, reads, &access.org_id).await? {
        return Err(e);
    }
    let org = reads.org(db, &access.org_id).await?;
    if let Some(reason) = balance_alerts::paused_given(db, org).await? {
        return Err(ServiceError::PausedLowBalance(reason));
    }
    let must_wait = match window_verdict(org, now)? {
        WindowVerdict::Open => None,
        WindowVerdict::Refused(e) => return Err(e),
        WindowVerdict::MustWait(reason) => Some(reason),
    };
    let t = target(db, reads, access, w).await?;
    if let Some(e) = addresses::still_cooling(&t.address, now) {
        return Err(e);
    }
    let h = pending.holding(db, &t.account.id, &t.asset).await?;
    let (balance, held) = h.as_ref().map_or((Decimal::ZERO, Decimal::ZERO), |h| (h.amount.0, h.held.0));
    if let Some(e) = short_of_funds(&t, balance, held) {
        return Err(e);
    }
    let Some(mut h) = h else { return Err(ServiceError::internal("funds without a holding")) };
    let usd = withdrawal_usd(&t)?;
    let Target { account: acct, asset, amount, address, .. } = t;
    let address_id = address.id;
    let day = limits::day_of(now);
    let key_id = access.service.as_ref().map(|s| s.key_id.clone());
    let mut layers = vec![(LimitLayer::Organization, access.org_id.as_str())];
    layers.extend(key_id.as_deref().map(|k| (LimitLayer::ApiKey, k)));
    let mut reserved = Vec::with_capacity(layers.len());
    for (layer, subject) in layers {
        let limit = reads.limit(db, &access.org_id, layer, subject).await?;
        let mut c = pending.counter(db, &access.org_id, layer, subject, &day).await?;
        limits::reserve_on(&mut c, limit.as_ref(), usd, false)?;
        reserved.push(c);
    }
    // Every layer held it: now it counts.
    reserved.into_iter().for_each(|c| pending.set_counter(c));
    h.held = Amount(money::add("amount", held, amount)?);
    h.updated_at = now;
    pending.set_holding(h);
    pending.insert_withdrawal(withdrawal::ActiveModel {
        request_id: Set(request_id.to_string()),
        org_id: Set(access.org_id.clone()),
        account_id: Set(acct.id),
        asset: Set(asset),
        amount: Set(Amount(amount)),
        usd_value: Set(Amount(usd)),
        address_id: Set(address_id),
        limit_day: Set(day),
        api_key_id: Set(key_id),
        state: Set(WithdrawalState::Held),
        settlement_reference: Set(None),
        executed_by: Set(None),
        executed_at: Set(None),
    });
    Ok(Opened { usd, must_wait })
}

async fn held_withdrawal<C: ConnectionTrait>(db: &C, request_id: &str) -> ServiceResult<Option<withdrawal::Model>> {
    Ok(withdrawal::Entity::find_by_id(request_id)
        .filter(withdrawal::Column::State.eq(WithdrawalState::Held))
        .one(db)
        .await?)
}

/// Moves the capacity holds off `held` (into `used` when `consumed`).
async fn settle_holds<C: ConnectionTrait>(db: &C, w: &withdrawal::Model, consumed: bool) -> ServiceResult<()> {
    let usd = w.usd_value.0;
    limits::settle(db, &w.org_id, LimitLayer::Organization, &w.org_id, &w.limit_day, usd, consumed).await?;
    if let Some(k) = &w.api_key_id {
        limits::settle(db, &w.org_id, LimitLayer::ApiKey, k, &w.limit_day, usd, consumed).await?;
    }
    Ok(())
}

/// Releases funds and capacity of a withdrawal that ended without settling
/// (rejected, cancelled, expired, failed). A no-op for other requests.
pub(crate) async fn release<C: ConnectionTrait>(db: &C, request_id: &str, now: DateTime<Utc>) -> ServiceResult<()> {
    let Some(w) = held_withdrawal(db, request_id).await? else { return Ok(()) };
    let acct = account::Entity::find_by_id(&w.account_id).one(db).await?.ok_or(ServiceError::NotFound("account"))?;
    let h = ledger::locked_holding(db, &acct, &w.asset, now).await?;
    let held = h.held.0;
    let mut hm: holding::ActiveModel = h.into();
    hm.held = Set(Amount(money::sub("held", held, w.amount.0)?.max(Decimal::ZERO)));
    hm.updated_at = Set(now);
    hm.update(db).await?;
    settle_holds(db, &w, false).await?;
    let mut wm: withdrawal::ActiveModel = w.into();
    wm.state = Set(WithdrawalState::Released);
    wm.update(db).await?;
    Ok(())
}

/// Why an approved withdrawal can no longer settle to its address, if it
/// cannot: the address was removed from the whitelist (or is cooling off)
/// since the withdrawal was made, or is not a valid address of its network. Locks the address row, so a removal
/// cannot slip in between this check and the settlement that follows it in
/// the same transaction.
pub async fn unusable_destination<C: ConnectionTrait>(
    db: &C,
    req: &request::Model,
    now: DateTime<Utc>,
) -> ServiceResult<Option<String>> {
    let Some(w) = held_withdrawal(db, &req.id).await? else { return Ok(None) };
    let address = entity::address::Entity::find_by_id(&w.address_id)
        .filter(entity::address::Column::OrgId.eq(&w.org_id))
        .lock_exclusive()
        .one(db)
        .await?;
    Ok(match address {
        None => Some("the destination address no longer exists".into()),
        Some(a) if a.status != RecordStatus::Active => Some(format!(
            "the destination address {} ({}) was removed from the whitelist after the withdrawal was made",
            a.label, a.address
        )),
        Some(a) => addresses::unusable(&a).or_else(|| addresses::still_cooling(&a, now)).map(|e| e.to_string()),
    })
}

/// Settles an APPROVED withdrawal: the signer's cap, the debit, the ledger
/// entry and the settlement reference, and the balance alert it may move.
/// Inside the caller's transaction, with the request row already locked and
/// its status checked. Returns whether the alert changed, and mail to send.
pub async fn settle<C: ConnectionTrait>(
    db: &C,
    signer: &OrgAccess,
    req: &request::Model,
    now: DateTime<Utc>,
) -> ServiceResult<(bool, Vec<MailJob>)> {
    signer.require(Workflow::InitiateWithdrawal, Action::Execute, req.account_id.as_deref())?;
    settle_by(db, signer, req, now, false).await
}

/// Whether the calling service user's key settles its own withdrawals that
/// need no approval (straight-through): `autoExecute` on, and — checked
/// again here, whatever changed since it was turned on — both key caps set.
pub async fn straight_through<C: ConnectionTrait>(db: &C, access: &OrgAccess) -> ServiceResult<bool> {
    let Some(s) = &access.service else { return Ok(false) };
    let key = entity::api_key::Entity::find()
        .filter(entity::api_key::Column::KeyId.eq(&s.key_id))
        .filter(entity::api_key::Column::OrgId.eq(&access.org_id))
        .one(db)
        .await?;
    if !key.is_some_and(|k| k.auto_execute) {
        return Ok(false);
    }
    super::service_users::has_both_caps(db, &access.org_id, &s.key_id).await
}

/// Settles, straight through, a withdrawal the calling service user just
/// made and that needed no approval, recording the service user as
/// executor. The caller has established [`straight_through`] in the same
/// transaction. Its limits (organisation, key) were held when it was made;
/// a service user is no signer, so no signer layer applies.
pub async fn settle_straight_through<C: ConnectionTrait>(
    db: &C,
    service: &OrgAccess,
    req: &request::Model,
    now: DateTime<Utc>,
) -> ServiceResult<(bool, Vec<MailJob>)> {
    if service.service.is_none() || req.requester_id != service.user_id {
        return Err(ServiceError::Forbidden("this key does not settle its withdrawals straight through".into()));
    }
    settle_by(db, service, req, now, true).await
}

async fn settle_by<C: ConnectionTrait>(
    db: &C,
    signer: &OrgAccess,
    req: &request::Model,
    now: DateTime<Utc>,
    straight_through: bool,
) -> ServiceResult<(bool, Vec<MailJob>)> {
    let w = held_withdrawal(db, &req.id)
        .await?
        .ok_or_else(|| ServiceError::Conflict("this request has no withdrawal to execute".into()))?;
    let usd = w.usd_value.0;
    if !straight_through {
        limits::reserve(db, &w.org_id, LimitLayer::Signer, &signer.user_id, &limits::day_of(now), usd, true).await?;
    }
    let acct = account::Entity::find_by_id(&w.account_id).one(db).await?.ok_or(ServiceError::NotFound("account"))?;
    let h = ledger::locked_holding(db, &acct, &w.asset, now).await?;
    let amount = w.amount.0;
    let (balance, held) = (money::sub("balance", h.amount.0, amount)?, money::sub("held", h.held.0, amount)?);
    if balance < Decimal::ZERO || held < Decimal::ZERO {
        return Err(ServiceError::internal(format!("holding of {} would go negative settling {}", w.asset, req.id)));
    }
    let mut hm: holding::ActiveModel = h.into();
    hm.amount = Set(Amount(balance));
    hm.held = Set(Amount(held));
    hm.updated_at = Set(now);
    hm.update(db).await?;
    let reference = format!("stl_{}", domain::new_id().replace('-', ""));
    ledger_entry::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        org_id: Set(w.org_id.clone()),
        account_id: Set(w.account_id.clone()),
        asset: Set(w.asset.clone()),
        kind: Set(LedgerKind::Debit),
        amount: Set(Amount(amount)),
        balance_after: Set(Amount(balance)),
        reference: Set(reference.clone()),
        request_id: Set(Some(req.id.clone())),
        at: Set(now),
    }
    .insert(db)
    .await?;
    settle_holds(db, &w, true).await?;
    audit::append(
        db,
        Entry {
            org_id: &w.org_id,
            actor: AuditActor::of(signer),
            action: "WITHDRAWAL_EXECUTED",
            target: Some(req.id.clone()),
            before: None,
            after: Some(json!({"asset": w.asset, "amount": w.amount, "usdValue": w.usd_value, "settlementReference": reference, "straightThrough": straight_through})),
            request_id: Some(req.id.clone()),
        },
        now,
    )
    .await?;
    let mut wm: withdrawal::ActiveModel = w.into();
    wm.state = Set(WithdrawalState::Settled);
    wm.settlement_reference = Set(Some(reference.clone()));
    wm.executed_by = Set(Some(signer.user_id.clone()));
    wm.executed_at = Set(Some(now));
    let w = wm.update(db).await?;
    balance_alerts::recompute_org(db, &w.org_id, now).await
}

/// The withdrawal behind a request, if it is one.
pub(crate) async fn of_request<C: ConnectionTrait>(
    db: &C,
    request_id: &str,
) -> ServiceResult<Option<withdrawal::Model>> {
    Ok(withdrawal::Entity::find_by_id(request_id).one(db).await?)
}

/// The withdrawals of requests the caller may see, by request id, in one query.
pub async fn of_requests<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    reqs: &[&request::Model],
) -> ServiceResult<std::collections::HashMap<String, withdrawal::Model>> {
    for r in reqs {
        access.require_request(r)?;
    }
    if reqs.is_empty() {
        return Ok(Default::default());
    }
    Ok(withdrawal::Entity::find()
        .filter(withdrawal::Column::RequestId.is_in(reqs.iter().map(|r| r.id.as_str())))
        .filter(withdrawal::Column::OrgId.eq(&access.org_id))
        .all(db)
        .await?
        .into_iter()
        .map(|w| (w.request_id.clone(), w))
        .collect())
}

/// The `NOT_FOUND` a withdrawal of another organisation gets.
fn require_own(access: &OrgAccess, w: &withdrawal::Model) -> ServiceResult<()> {
    if w.org_id != access.org_id {
        return Err(ServiceError::NotFound("withdrawal"));
    }
    Ok(())
}

/// Where a withdrawal went, also after the address left the whitelist.
pub async fn destination<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    w: &withdrawal::Model,
) -> ServiceResult<Option<entity::address::Model>> {
    require_own(access, w)?;
    addresses::destination(db, &access.org_id, &w.address_id).await
}

/// Who executed a withdrawal: `(USER or SERVICE_USER, id)`.
pub async fn executor<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    w: &withdrawal::Model,
) -> ServiceResult<Option<(ActorKind, String)>> {
    require_own(access, w)?;
    let Some(id) = &w.executed_by else { return Ok(None) };
    Ok(Some((super::names::executor_kind(db, id).await?, id.clone())))
}
