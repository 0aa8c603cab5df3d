//! The request engine (SPEC §4): every governed operation becomes a request
//! that either completes at once or waits for approvals, and is applied
//! exactly once, in the transaction that records its outcome and audit.
//!
//! Concurrency: every path that changes a request begins `IMMEDIATE` on
//! SQLite and locks the request row (`FOR UPDATE`) on PostgreSQL before
//! reading its status, so two approvers pressing at once serialize and the
//! second finds the request no longer pending.
//!
//! Every path that decides a request (approve, reject, cancel, execute) first
//! expires it, in its own transaction, if it has waited longer than the TTL,
//! and refuses: the TTL holds to the second, not to the minutely sweep.
//!
//! A service user's requests count as made by its creator and by every member
//! who obtained one of its key secrets ([`made_by`]): none of them approves
//! them, and they are never counted as eligible approvers of them.

pub(crate) use super::approvers::eligible_approvers;
pub(crate) use super::approvers::made_by;
pub use super::approvers::{approvals_of, eligible_of};
use super::audit::{self, AuditActor, Entry};
pub use super::effects::{Effects, Engine, enqueue};
use super::limits::LimitLayer;
use super::operation::{self, Operation};
use super::org_reads::OrgReads;
use super::pending::PendingWrites;
pub(crate) use super::request_rows::{find_in_org, org_of};
use super::service_users::{self, NewSecret};
use super::types::SecretOf;
use super::webhooks;
use super::{ServiceError, ServiceResult, approver_notices, is_unique_violation, withdrawals};
use crate::access::{Actor, OrgAccess};
use crate::authz::{Authz, resolve_all, service_user_access};
use crate::db::{WriteTxn, begin_write};
use crate::events::{EventBus, EventView, RequestEventMsg};
use chrono::{DateTime, Utc};
use domain::{Action, RequestStatus, ThresholdLayer, Workflow, new_id};
use entity::{approval, request};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;
use std::sync::Arc;

/// How a waiting reason marks a change to a locked policy.
const LOCKED_PREFIX: &str = "POLICY_LOCKED";

/// How a waiting reason marks a service user's request.
const SERVICE_USER_PREFIX: &str = "SERVICE_USER";

/// Whether a new request completes at once or waits, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    CompleteNow,
    Wait { approvals: i32, reason: Option<String> },
}

/// How a waiting reason marks a withdrawal above its approval threshold.
const ABOVE_THRESHOLD_PREFIX: &str = "ABOVE_THRESHOLD";

/// The approval threshold that applies to withdrawals `access` initiates:
/// the lower of the organisation's and (for a member) the member's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threshold {
    pub layer: ThresholdLayer,
    pub usd: Decimal,
}

/// The organisation's and the caller's own approval thresholds for withdrawals.
pub async fn withdrawal_thresholds<C: ConnectionTrait>(
    db: &C,
    reads: &OrgReads,
    access: &OrgAccess,
) -> ServiceResult<(Option<Decimal>, Option<Decimal>)> {
    let org = reads
        .policy(db, &access.org_id, Workflow::InitiateWithdrawal)
        .await?
        .and_then(|p| p.approval_threshold_usd)
        .map(entity::money::Amount::value);
    // Service users are not members: the per-operator layer is a member's.
    let own = if access.service.is_some() {
        None
    } else {
        reads
            .limit(db, &access.org_id, LimitLayer::Signer, &access.user_id)
            .await?
            .and_then(|l| l.approval_threshold_usd)
            .map(entity::money::Amount::value)
    };
    Ok((org, own))
}

/// The lower of the two thresholds, and whose it is (the organisation's on a tie).
pub fn governing(org: Option<Decimal>, own: Option<Decimal>) -> Option<Threshold> {
    match (org, own) {
        (Some(o), Some(p)) if p < o => Some(Threshold { layer: ThresholdLayer::Operator, usd: p }),
        (Some(o), _) => Some(Threshold { layer: ThresholdLayer::Organization, usd: o }),
        (None, Some(p)) => Some(Threshold { layer: ThresholdLayer::Operator, usd: p }),
        (None, None) => None,
    }
}

fn above_reason(t: Threshold, usd: Decimal) -> String {
    let whose = match t.layer {
        ThresholdLayer::Organization => "the organisation's",
        ThresholdLayer::Operator => "the initiator's own",
    };
    format!("{ABOVE_THRESHOLD_PREFIX}: {usd} USD is above {whose} approval threshold of {} USD", t.usd)
}

/// SPEC §4's rule, for a member or service user submitting `op`.
///
/// - A change to a locked policy waits for someone else, whoever asks.
/// - A withdrawal made outside the organisation's window, where the window
///   lets it wait rather than refusing it, waits (`outside_window` is the reason).
/// - Withdrawals: see [`decide_withdrawal`].
/// - Any other request of a service user always waits: for the policy's
///   approvals, or for one approval without a policy.
/// - No policy: completes at once (the caller already holds INITIATE).
/// - A policy: EXECUTE completes at once unless `alwaysRequireApproval`;
///   everyone else waits for `requiredApprovals`.
pub async fn decide<C: ConnectionTrait>(
    db: &C,
    reads: &OrgReads,
    access: &OrgAccess,
    op: &Operation,
    usd: Option<Decimal>,
    outside_window: Option<String>,
) -> ServiceResult<Decision> {
    let own_policy = reads.policy(db, &access.org_id, op.workflow()).await?;
    if let Some(reason) = outside_window {
        return Ok(Decision::Wait {
            approvals: own_policy.map_or(1, |p| p.required_approvals.max(1)),
            reason: Some(reason),
        });
    }
    if let Some(changed) = op.changes_policy_of()
        && reads.policy(db, &access.org_id, changed).await?.is_some_and(|p| p.locked)
    {
        return Ok(Decision::Wait {
            approvals: own_policy.map_or(1, |p| p.required_approvals.max(1)),
            reason: Some(format!(
                "{LOCKED_PREFIX}: the {} policy is locked; changing or unlocking it needs approval by someone other than the requester",
                changed.as_str()
            )),
        });
    }
    if let (Operation::Withdraw(_), Some(usd)) = (op, usd) {
        return decide_withdrawal(db, reads, access, own_policy.as_ref(), op.account_id(), usd).await;
    }
    if access.service.is_some() {
        return Ok(Decision::Wait {
            approvals: own_policy.map_or(1, |p| p.required_approvals.max(1)),
            reason: Some(format!(
                "{SERVICE_USER_PREFIX}: a service user's requests always wait for a person's approval"
            )),
        });
    }
    let Some(policy) = own_policy else { return Ok(Decision::CompleteNow) };
    let executes = access.allows(op.workflow(), Action::Execute, op.account_id());
    if executes && !policy.always_require_approval {
        return Ok(Decision::CompleteNow);
    }
    Ok(Decision::Wait { approvals: policy.required_approvals, reason: None })
}

/// The withdrawal rule (SPEC §4; README "Who needs approval when"):
///
/// - `alwaysRequireApproval`: every withdrawal waits.
/// - The governing threshold (the lower of the organisation's and the
///   member's own) decides: above it the withdrawal waits; at or below it no
///   approval is needed (APPROVED, waiting for a signer) — whoever initiated
///   it, a maker without EXECUTE and a service user included.
/// - A member's own threshold only ever adds waiting: without an
///   organisation threshold, at or below it the present rule stays (no
///   policy: at once; a policy: EXECUTE at once, everyone else waits).
/// - A service user with no policy or no organisation threshold waits for
///   one approval (or the policy's).
async fn decide_withdrawal<C: ConnectionTrait>(
    db: &C,
    reads: &OrgReads,
    access: &OrgAccess,
    policy: Option<&entity::policy::Model>,
    account_id: Option<&str>,
    usd: Decimal,
) -> ServiceResult<Decision> {
    let approvals = policy.map_or(1, |p| p.required_approvals.max(1));
    if policy.is_some_and(|p| p.always_require_approval) {
        let reason = access
            .service
            .is_some()
            .then(|| format!("{SERVICE_USER_PREFIX}: the withdrawal policy always requires approval"));
        return Ok(Decision::Wait { approvals, reason });
    }
    let (org, own) = withdrawal_thresholds(db, reads, access).await?;
    if let Some(t) = governing(org, own)
        && usd > t.usd
    {
        return Ok(Decision::Wait { approvals, reason: Some(above_reason(t, usd)) });
    }
    if org.is_some() {
        return Ok(Decision::CompleteNow);
    }
    if access.service.is_some() {
        return Ok(Decision::Wait {
            approvals,
            reason: Some(format!(
                "{SERVICE_USER_PREFIX}: without an approval threshold a service user's withdrawals wait for a person's approval"
            )),
        });
    }
    let Some(policy) = policy else { return Ok(Decision::CompleteNow) };
    if access.allows(Workflow::InitiateWithdrawal, Action::Execute, account_id) {
        return Ok(Decision::CompleteNow);
    }
    Ok(Decision::Wait { approvals: policy.required_approvals, reason: None })
}

fn event(req: &request::Model, kind: &str) -> RequestEventMsg {
    RequestEventMsg {
        org_id: req.org_id.clone(),
        request_id: req.id.clone(),
        workflow: req.workflow,
        kind: kind.to_string(),
    }
}

/// Submits a governed operation on behalf of a member.
///
/// Refuses unless the caller holds INITIATE on the operation's workflow, and
/// refuses bad input before writing anything. A request that completes at
/// once is applied in the same transaction; one that waits is first tried
/// against the current state (and rolled back), so a change that could
/// never apply is refused now rather than after its approvals.
pub async fn submit(engine: &Engine<'_>, access: &OrgAccess, op: Operation) -> ServiceResult<Submitted> {
    op.require_initiate(access)?;
    let txn = begin_write(engine.db).await?;
    let mut pending = PendingWrites::default();
    let (submitted, effects) = submit_in(&txn, engine, access, op, &OrgReads::default(), &mut pending).await?;
    pending.flush(&txn).await?;
    txn.commit().await?;
    engine.after_commit(effects).await;
    Ok(submitted)
}

/// Everything [`submit`] writes, inside `txn`, which the caller commits —
/// or rolls back, as a dry run does ([`super::simulation`]). `reads` is what
/// `txn` has read of the organisation's settings so far (see [`OrgReads`]);
/// what a new withdrawal changes is left in `pending` (see [`PendingWrites`]),
/// which the caller flushes into `txn` before it commits or reads those rows.
pub async fn submit_in(
    txn: &DatabaseTransaction,
    engine: &Engine<'_>,
    access: &OrgAccess,
    op: Operation,
    reads: &OrgReads,
    pending: &mut PendingWrites,
) -> ServiceResult<(Submitted, Effects)> {
    let now = engine.env.now;
    operation::check(txn, &access.org_id, &op, now).await?;
    let id = new_id();
    let (usd, outside_window) = match &op {
        Operation::Withdraw(w) => {
            let opened = withdrawals::open(txn, reads, pending, access, &id, w, now).await?;
            (Some(opened.usd), opened.must_wait)
        }
        _ => (None, None),
    };
    let decision = decide(txn, reads, access, &op, usd, outside_window).await?;
    // Recorded so the request shows which policy governs it; later changes
    // to the policy do not alter what it needs.
    let policy_version = reads.policy(txn, &access.org_id, op.workflow()).await?.map(|p| p.version);
    let (status, approvals, reason) = match (&decision, &op) {
        (Decision::CompleteNow, Operation::Withdraw(_)) => (RequestStatus::Approved, 0, None),
        (Decision::CompleteNow, _) => (RequestStatus::Completed, 0, None),
        (Decision::Wait { approvals, reason }, _) => (RequestStatus::PendingApproval, *approvals, reason.clone()),
    };
    let mut req = request::Model {
        id,
        org_id: access.org_id.clone(),
        workflow: op.workflow(),
        operation: op.name().into(),
        payload: op.to_json()?,
        requester_kind: access.actor_kind(),
        requester_id: access.user_id.clone(),
        status,
        approvals_required: approvals,
        reason: None,
        created_at: now,
        updated_at: now,
        waiting_reason: reason,
        account_id: op.account_id().map(str::to_string),
        policy_version,
    };
    if matches!(op, Operation::Withdraw(_)) {
        // Written with its withdrawal, which refers to it.
        pending.insert_request(req.clone());
    } else {
        req.clone().into_active_model().reset_all().insert(txn).await?;
    }
    let actor = AuditActor::of(access);
    let mut events = vec![event(&req, "CREATED")];
    let mut jobs = Vec::new();
    let mut issued = None;
    let mut alert_changed = false;
    match (decision, &op) {
        (Decision::CompleteNow, Operation::Withdraw(w)) => {
            pending.append_audit(withdrawal_created(&req, actor, usd), now);
            events.push(event(&req, "APPROVED"));
            // Straight-through: a key allowed to settle its own payouts that
            // need no approval does so now, after every limit layer held it.
            let straight = withdrawals::straight_through(txn, access).await?;
            if w.execute || straight {
                // Settling reads what was decided from the database.
                pending.flush(txn).await?;
                let (changed, mail) = if straight {
                    withdrawals::settle_straight_through(txn, access, &req, now).await?
                } else {
                    withdrawals::settle(txn, access, &req, now).await?
                };
                alert_changed = changed;
                jobs = mail;
                let mut a: request::ActiveModel = req.clone().into();
                a.status = Set(RequestStatus::Completed);
                req = a.update(txn).await?;
                events.push(event(&req, "COMPLETED"));
            }
        }
        (Decision::CompleteNow, _) => {
            let applied = operation::apply(txn, &engine.env, &access.org_id, &access.user_id, &op).await?;
            audit_applied(txn, &req, &op, actor, applied.target, applied.before, applied.after, now).await?;
            jobs = applied.jobs;
            alert_changed = applied.alert_changed;
            if let Some(secret) = applied.secret {
                // Shown now, in this response: never again.
                attach_claim(txn, &secret, &req.id, true).await?;
                issued = Some(secret);
            }
            events.push(event(&req, "COMPLETED"));
        }
        (Decision::Wait { .. }, Operation::Withdraw(_)) => {
            pending.append_audit(withdrawal_created(&req, actor, usd), now);
            pending.owe_approvers(req.clone(), now);
        }
        (Decision::Wait { .. }, _) => {
            let trial = txn.begin().await?;
            operation::apply(&trial, &engine.env, &access.org_id, &access.user_id, &op).await?;
            trial.rollback().await?;
            audit::append(
                txn,
                Entry {
                    org_id: &access.org_id,
                    actor,
                    action: "REQUEST_CREATED",
                    target: Some(req.id.clone()),
                    before: None,
                    after: Some(json!({"operation": req.operation, "payload": serde_json::from_str::<serde_json::Value>(&req.payload).unwrap_or_default(), "approvalsRequired": approvals})),
                    request_id: Some(req.id.clone()),
                },
                now,
            )
            .await?;
            approver_notices::owe(txn, &req, now).await?;
        }
    }
    Ok((Submitted { request: req, secret: issued }, Effects::of(jobs, events, alert_changed, &access.org_id)))
}

/// The audit entry of a new withdrawal's request.
fn withdrawal_created(req: &request::Model, actor: AuditActor, usd: Option<Decimal>) -> Entry<'_> {
    let payload: serde_json::Value = serde_json::from_str(&req.payload).unwrap_or_default();
    Entry {
        org_id: &req.org_id,
        actor,
        action: "WITHDRAWAL_REQUESTED",
        target: Some(req.id.clone()),
        before: None,
        after: Some(json!({"withdrawal": payload, "usdValue": usd.map(|u| u.to_string()), "status": req.status})),
        request_id: Some(req.id.clone()),
    }
}

/// Records which request issued `secret`, and whether it was shown already.
async fn attach_claim<C: ConnectionTrait>(
    db: &C,
    secret: &NewSecret,
    request_id: &str,
    shown: bool,
) -> ServiceResult<()> {
    match secret.of {
        SecretOf::ApiKey => service_users::attach_claim(db, &secret.key_id, request_id, shown).await,
        SecretOf::WebhookEndpoint => webhooks::attach_claim(db, &secret.key_id, request_id, shown).await,
    }
}

/// A submitted request, and the API-key or webhook secret it issued if it completed at once.
pub struct Submitted {
    pub request: request::Model,
    /// An API-key or webhook secret issued by a request that completed at once.
    pub secret: Option<NewSecret>,
}

#[allow(clippy::too_many_arguments)]
async fn audit_applied<C: ConnectionTrait>(
    db: &C,
    req: &request::Model,
    op: &Operation,
    actor: AuditActor,
    target: Option<String>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    audit::append(
        db,
        Entry {
            org_id: &req.org_id,
            actor,
            action: op.name(),
            target,
            before,
            after,
            request_id: Some(req.id.clone()),
        },
        now,
    )
    .await?;
    Ok(())
}

/// Loads and locks a request of the caller's organisation for a decision.
async fn lock_visible(txn: &DatabaseTransaction, access: &OrgAccess, id: &str) -> ServiceResult<request::Model> {
    let req = request::Entity::find_by_id(id)
        .filter(request::Column::OrgId.eq(&access.org_id))
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(ServiceError::NotFound("request"))?;
    if !may_view(access, &req)? {
        return Err(ServiceError::NotFound("request"));
    }
    Ok(req)
}

fn require_pending(req: &request::Model) -> ServiceResult<()> {
    if req.status != RequestStatus::PendingApproval {
        return Err(ServiceError::Conflict(format!("the request is {}, no longer pending", req.status)));
    }
    Ok(())
}

/// When a request waiting for approval expires: its creation plus the TTL.
pub fn expires_at(req: &request::Model, ttl: chrono::Duration) -> DateTime<Utc> {
    req.created_at + ttl
}

/// Whether `req` is waiting for approval and its time is up at `now`.
fn is_due(req: &request::Model, ttl: chrono::Duration, now: DateTime<Utc>) -> bool {
    req.status == RequestStatus::PendingApproval && now >= expires_at(req, ttl)
}

/// Hands the transaction back if `req` (locked in it) has not expired; else
/// expires it there — status, released holds, audit record — commits,
/// publishes the event and refuses. Nobody acts on a request past its TTL,
/// whether or not the minutely sweep has run.
async fn refuse_if_expired(txn: WriteTxn, engine: &Engine<'_>, req: &request::Model) -> ServiceResult<WriteTxn> {
    let now = engine.env.now;
    if !is_due(req, engine.ttl, now) {
        return Ok(txn);
    }
    let at = expires_at(req, engine.ttl);
    expire_locked(&txn, req, now).await?;
    txn.commit().await?;
    engine.bus.publish([event(req, "EXPIRED")]);
    Err(ServiceError::Conflict(format!(
        "the request expired at {}: it waited longer than {} s for approval, and is now EXPIRED",
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        engine.ttl.num_seconds()
    )))
}

/// Expires a pending request locked in `db`.
async fn expire_locked<C: ConnectionTrait>(db: &C, req: &request::Model, now: DateTime<Utc>) -> ServiceResult<()> {
    use sea_orm::sea_query::Expr;
    request::Entity::update_many()
        .col_expr(request::Column::Status, Expr::value(RequestStatus::Expired))
        .col_expr(request::Column::UpdatedAt, Expr::value(now))
        .filter(request::Column::Id.eq(&req.id))
        .exec(db)
        .await?;
    record_expiry(db, req, now).await
}

/// What expiring a request does besides its status: releases its holds and
/// records it. The sweep and the deciding paths share it.
async fn record_expiry<C: ConnectionTrait>(db: &C, req: &request::Model, now: DateTime<Utc>) -> ServiceResult<()> {
    withdrawals::release(db, &req.id, now).await?;
    audit::append(
        db,
        Entry {
            org_id: &req.org_id,
            actor: AuditActor::system("request-expiry"),
            action: "REQUEST_EXPIRED",
            target: Some(req.id.clone()),
            before: Some(json!({"status": RequestStatus::PendingApproval})),
            after: Some(json!({"status": RequestStatus::Expired})),
            request_id: Some(req.id.clone()),
        },
        now,
    )
    .await?;
    Ok(())
}

async fn set_status<C: ConnectionTrait>(
    db: &C,
    req: request::Model,
    status: RequestStatus,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> ServiceResult<request::Model> {
    let mut a: request::ActiveModel = req.into();
    a.status = Set(status);
    a.updated_at = Set(now);
    if reason.is_some() {
        a.reason = Set(reason);
    }
    Ok(a.update(db).await?)
}

/// Approves a pending request. Distinct approvers holding APPROVE on the
/// workflow (and account); never the requester, whoever they are. The last
/// approval applies the operation, once; if it can no longer apply, the
/// request becomes FAILED with the reason.
pub async fn approve(engine: &Engine<'_>, access: &OrgAccess, id: &str) -> ServiceResult<request::Model> {
    let now = engine.env.now;
    let txn = begin_write(engine.db).await?;
    let req = lock_visible(&txn, access, id).await?;
    let txn = refuse_if_expired(txn, engine, &req).await?;
    require_pending(&req)?;
    if req.requester_id == access.user_id {
        if req.waiting_reason.as_deref().is_some_and(|r| r.starts_with(LOCKED_PREFIX)) {
            return Err(ServiceError::PolicyLocked(
                "this change to a locked policy needs approval by someone other than its requester, whatever their permissions"
                    .into(),
            ));
        }
        return Err(ServiceError::SelfApproval("nobody approves their own request, the Owner included".into()));
    }
    if made_by(&txn, &req).await?.contains(&access.user_id) {
        return Err(ServiceError::SelfApproval(
            "this request was made by a service user you created or obtained a key secret of, so it counts as your own; \
             nobody approves their own request"
                .into(),
        ));
    }
    let wf = req.workflow;
    access.require(wf, Action::Approve, req.account_id.as_deref())?;
    // An approval made with APPROVE lent by a delegation says so, for the audit trail.
    let under = access.approving_under(wf, req.account_id.as_deref()).cloned();
    approval::ActiveModel {
        id: Set(new_id()),
        request_id: Set(req.id.clone()),
        org_id: Set(req.org_id.clone()),
        approver_id: Set(access.user_id.clone()),
        at: Set(now),
        delegation_id: Set(under.as_ref().map(|d| d.id.clone())),
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            ServiceError::Conflict("you already approved this request".into())
        } else {
            e.into()
        }
    })?;
    let count = approval::Entity::find().filter(approval::Column::RequestId.eq(&req.id)).count(&txn).await?;
    let actor = AuditActor::user(&access.user_id);
    audit::append(
        &txn,
        Entry {
            org_id: &req.org_id,
            actor: actor.clone(),
            action: "REQUEST_APPROVED",
            target: Some(req.id.clone()),
            before: None,
            after: Some(match &under {
                None => json!({"approvals": count, "approvalsRequired": req.approvals_required}),
                Some(d) => json!({
                    "approvals": count,
                    "approvalsRequired": req.approvals_required,
                    "delegation": {"id": d.id, "fromMemberId": d.from_member_id},
                }),
            }),
            request_id: Some(req.id.clone()),
        },
        now,
    )
    .await?;
    let mut events = vec![event(&req, "APPROVED")];
    let mut jobs = Vec::new();
    let mut alert_changed = false;
    let op = Operation::from_json(&req.payload)?;
    let req = if count >= u64::try_from(req.approvals_required).unwrap_or(0) && matches!(op, Operation::Withdraw(_)) {
        // Approved withdrawals wait for a signer; funds and capacity stay held.
        set_status(&txn, req, RequestStatus::Approved, None, now).await?
    } else if count >= u64::try_from(req.approvals_required).unwrap_or(0) {
        let attempt = txn.begin().await?;
        match operation::apply(&attempt, &engine.env, &req.org_id, &req.requester_id, &op).await {
            Ok(applied) => {
                attempt.commit().await?;
                if let Some(secret) = &applied.secret {
                    // The requester claims it once (claimApiKeySecret, claimWebhookSecret).
                    attach_claim(&txn, secret, &req.id, false).await?;
                }
                audit_applied(&txn, &req, &op, actor, applied.target, applied.before, applied.after, now).await?;
                jobs = applied.jobs;
                alert_changed = applied.alert_changed;
                events.push(event(&req, "COMPLETED"));
                set_status(&txn, req, RequestStatus::Completed, None, now).await?
            }
            Err(ServiceError::Internal(e)) => return Err(ServiceError::Internal(e)),
            Err(refusal) => {
                attempt.rollback().await?;
                let reason = refusal.to_string();
                audit::append(
                    &txn,
                    Entry {
                        org_id: &req.org_id,
                        actor: AuditActor::system("request-engine"),
                        action: "REQUEST_FAILED",
                        target: Some(req.id.clone()),
                        before: None,
                        after: Some(json!({"reason": reason})),
                        request_id: Some(req.id.clone()),
                    },
                    now,
                )
                .await?;
                events.push(event(&req, "FAILED"));
                set_status(&txn, req, RequestStatus::Failed, Some(reason), now).await?
            }
        }
    } else {
        set_status(&txn, req, RequestStatus::PendingApproval, None, now).await?
    };
    txn.commit().await?;
    engine.after_commit(Effects::of(jobs, events, alert_changed, &req.org_id)).await;
    Ok(req)
}

/// Executes an APPROVED withdrawal (EXECUTE on withdrawals for its
/// account): the signer's daily cap, then settlement against the ledger.
pub async fn execute(engine: &Engine<'_>, access: &OrgAccess, id: &str) -> ServiceResult<request::Model> {
    let now = engine.env.now;
    let txn = begin_write(engine.db).await?;
    let req = lock_visible(&txn, access, id).await?;
    let txn = refuse_if_expired(txn, engine, &req).await?;
    if req.status != RequestStatus::Approved {
        return Err(ServiceError::Conflict(format!(
            "only APPROVED withdrawals execute; this request is {}",
            req.status
        )));
    }
    access.require(Workflow::InitiateWithdrawal, Action::Execute, req.account_id.as_deref())?;
    if let Some(reason) = withdrawals::unusable_destination(&txn, &req, now).await? {
        // The whitelist changed after approval: nothing settles; the holds go back.
        withdrawals::release(&txn, &req.id, now).await?;
        audit::append(
            &txn,
            Entry {
                org_id: &req.org_id,
                actor: AuditActor::of(access),
                action: "REQUEST_FAILED",
                target: Some(req.id.clone()),
                before: Some(json!({"status": req.status})),
                after: Some(json!({"status": RequestStatus::Failed, "reason": reason})),
                request_id: Some(req.id.clone()),
            },
            now,
        )
        .await?;
        let req = set_status(&txn, req, RequestStatus::Failed, Some(reason), now).await?;
        txn.commit().await?;
        engine.bus.publish([event(&req, "FAILED")]);
        return Ok(req);
    }
    let (alert_changed, jobs) = withdrawals::settle(&txn, access, &req, now).await?;
    let req = set_status(&txn, req, RequestStatus::Completed, None, now).await?;
    txn.commit().await?;
    let mut effects = Effects::mail_and_alert(jobs, alert_changed, &req.org_id);
    effects.events.push(event(&req, "COMPLETED"));
    engine.after_commit(effects).await;
    Ok(req)
}

/// Rejects a pending request — any member who could approve it, except its
/// requester — or an APPROVED withdrawal not yet executed, which any
/// approver or signer may stop.
pub async fn reject(
    engine: &Engine<'_>,
    access: &OrgAccess,
    id: &str,
    reason: Option<String>,
) -> ServiceResult<request::Model> {
    let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
        return Err(ServiceError::BadInput("reason: at most 1000 characters".into()));
    }
    decide_terminal(engine, access, id, RequestStatus::Rejected, reason, |req, access| {
        if req.requester_id == access.user_id {
            return Err(ServiceError::Forbidden("cancel your own request instead of rejecting it".into()));
        }
        let wf = req.workflow;
        let account = req.account_id.as_deref();
        if req.status == RequestStatus::Approved && access.allows(wf, Action::Execute, account) {
            return Ok(());
        }
        access.require(wf, Action::Approve, account)
    })
    .await
}

/// Cancels a pending request, or an APPROVED withdrawal not yet executed: its requester only.
pub async fn cancel(engine: &Engine<'_>, access: &OrgAccess, id: &str) -> ServiceResult<request::Model> {
    decide_terminal(engine, access, id, RequestStatus::Cancelled, None, |req, access| {
        if req.requester_id != access.user_id {
            return Err(ServiceError::Forbidden("only the requester may cancel a request".into()));
        }
        Ok(())
    })
    .await
}

async fn decide_terminal(
    engine: &Engine<'_>,
    access: &OrgAccess,
    id: &str,
    to: RequestStatus,
    reason: Option<String>,
    allowed: impl FnOnce(&request::Model, &OrgAccess) -> ServiceResult<()>,
) -> ServiceResult<request::Model> {
    let now = engine.env.now;
    let txn = begin_write(engine.db).await?;
    let req = lock_visible(&txn, access, id).await?;
    let txn = refuse_if_expired(txn, engine, &req).await?;
    // An approved withdrawal can still be stopped until a signer executes it.
    let stoppable_approved = req.status == RequestStatus::Approved && req.workflow == Workflow::InitiateWithdrawal;
    if !stoppable_approved {
        require_pending(&req)?;
    }
    allowed(&req, access)?;
    withdrawals::release(&txn, &req.id, now).await?;
    audit::append(
        &txn,
        Entry {
            org_id: &req.org_id,
            actor: AuditActor::user(&access.user_id),
            action: if to == RequestStatus::Rejected { "REQUEST_REJECTED" } else { "REQUEST_CANCELLED" },
            target: Some(req.id.clone()),
            before: Some(json!({"status": req.status})),
            after: Some(json!({"status": to, "reason": reason})),
            request_id: Some(req.id.clone()),
        },
        now,
    )
    .await?;
    let req = set_status(&txn, req, to, reason, now).await?;
    txn.commit().await?;
    engine.bus.publish([event(&req, to.as_str())]);
    Ok(req)
}

/// A request of the caller's organisation, if they may VIEW its workflow
/// (or made it) and it was made inside their query window.
pub async fn get<C: ConnectionTrait>(db: &C, access: &OrgAccess, id: &str) -> ServiceResult<request::Model> {
    let req = find_in_org(db, &access.org_id, id).await?;
    if !may_view(access, &req)? || !access.in_query_window(req.created_at) {
        return Err(ServiceError::NotFound("request"));
    }
    Ok(req)
}

/// Members see requests of workflows they may VIEW, and always their own.
fn may_view(access: &OrgAccess, req: &request::Model) -> ServiceResult<bool> {
    access.may_view_request(req)
}

/// The caller's access to the organisation request `id` belongs to, as
/// the request-addressed roots (`request`, `approveRequest`, `execute`, …)
/// resolve it: a request of an organisation the caller is not a member of
/// is `NOT_FOUND`, like the organisation.
pub async fn access_for<C: ConnectionTrait>(db: &C, authz: &Authz, id: &str) -> ServiceResult<Arc<OrgAccess>> {
    let org_id = org_of(db, id).await?;
    authz.org(&org_id).await
}

/// What the event bus's fan-out reads once per event for every subscriber
/// of this process: the request and every active member's access, read
/// after the event was delivered, so a member removed before it is not
/// told of it. Subscribers see it only through [`event_for`].
pub async fn event_view<C: ConnectionTrait>(
    db: &C,
    msg: &RequestEventMsg,
    now: DateTime<Utc>,
) -> ServiceResult<EventView> {
    let request = find_in_org(db, &msg.org_id, &msg.request_id).await?;
    let members = resolve_all(db, &msg.org_id, now).await?;
    Ok(EventView { request, members })
}

/// The event's request for one subscriber, with the access that lets them
/// see it: an active member (or the organisation's own service user) with
/// VIEW on its workflow; anyone else is told nothing.
pub fn event_for(view: &EventView, actor: &Actor) -> Option<(request::Model, Arc<OrgAccess>)> {
    let access = match actor {
        Actor::User(u) => view.members.get(&u.user_id)?.clone(),
        Actor::ServiceUser(su) => service_user_access(su, &view.request.org_id).ok()?,
        _ => return None,
    };
    let wf = view.request.workflow;
    if !access.allows(wf, Action::View, None) {
        return None;
    }
    Some((view.request.clone(), Arc::new(access)))
}

/// Filters and a page position for the request queue.
pub struct QueueQuery {
    pub status: Option<String>,
    pub workflow: Option<Workflow>,
    pub first: u64,
    /// Cursor: `created_at` (RFC 3339) and id of the last request seen.
    pub after: Option<(DateTime<Utc>, String)>,
}

/// Requests of workflows the caller may VIEW, and the caller's own, newest
/// first; a service user's only inside its key's query window.
pub async fn queue<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    q: &QueueQuery,
) -> ServiceResult<(Vec<request::Model>, bool)> {
    use sea_orm::Condition;
    let visible: Vec<&str> = Workflow::ALL
        .iter()
        .filter(|w| access.allows(**w, Action::View, None))
        .filter(|w| q.workflow.is_none_or(|want| want == **w))
        .map(|w| w.as_str())
        .collect();
    let mut sel = request::Entity::find().filter(request::Column::OrgId.eq(&access.org_id)).filter(
        Condition::any()
            .add(request::Column::Workflow.is_in(visible))
            .add(request::Column::RequesterId.eq(access.user_id.as_str())),
    );
    if let Some(w) = q.workflow {
        sel = sel.filter(request::Column::Workflow.eq(w.as_str()));
    }
    let (start, end) = access.query_window();
    if let Some(t) = start {
        sel = sel.filter(request::Column::CreatedAt.gte(t));
    }
    if let Some(t) = end {
        sel = sel.filter(request::Column::CreatedAt.lt(t));
    }
    if let Some(s) = &q.status {
        sel = sel.filter(request::Column::Status.eq(s.as_str()));
    }
    if let Some((at, id)) = &q.after {
        sel =
            sel.filter(Condition::any().add(request::Column::CreatedAt.lt(*at)).add(
                Condition::all().add(request::Column::CreatedAt.eq(*at)).add(request::Column::Id.lt(id.as_str())),
            ));
    }
    let mut rows = sel
        .order_by_desc(request::Column::CreatedAt)
        .order_by_desc(request::Column::Id)
        .limit(q.first + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > q.first;
    rows.truncate(q.first as usize);
    Ok((rows, more))
}

/// How long a request may wait for approval before it expires (SPEC §4).
pub const DEFAULT_TTL: chrono::Duration = chrono::Duration::hours(72);

/// System entry point (the job runtime, every organisation): expires
/// requests pending `ttl` or longer, each in its own transaction
/// with its audit record. Idempotent: the conditional update means two
/// workers running at once expire each request once.
pub async fn expire_stale(
    db: &DatabaseConnection,
    bus: &EventBus,
    ttl: chrono::Duration,
    now: DateTime<Utc>,
) -> ServiceResult<usize> {
    use sea_orm::sea_query::Expr;
    let stale: Vec<String> = request::Entity::find()
        .select_only()
        .column(request::Column::Id)
        .filter(request::Column::Status.eq(RequestStatus::PendingApproval))
        .filter(request::Column::CreatedAt.lte(now - ttl))
        .limit(500)
        .into_tuple()
        .all(db)
        .await?;
    let mut expired = 0;
    for id in stale {
        let txn = begin_write(db).await?;
        let res = request::Entity::update_many()
            .col_expr(request::Column::Status, Expr::value(RequestStatus::Expired))
            .col_expr(request::Column::UpdatedAt, Expr::value(now))
            .filter(request::Column::Id.eq(&id))
            .filter(request::Column::Status.eq(RequestStatus::PendingApproval))
            .exec(&txn)
            .await?;
        let Some(req) = request::Entity::find_by_id(&id).one(&txn).await? else { continue };
        if res.rows_affected == 1 {
            record_expiry(&txn, &req, now).await?;
            txn.commit().await?;
            bus.publish([event(&req, "EXPIRED")]);
            expired += 1;
        }
    }
    Ok(expired)
}

#[cfg(test)]
mod tests {
    use super::{Threshold, ThresholdLayer, governing};
    use rust_decimal::Decimal;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn the_lower_threshold_governs() {
        let org = |v: &str| Some(Threshold { layer: ThresholdLayer::Organization, usd: d(v) });
        let own = |v: &str| Some(Threshold { layer: ThresholdLayer::Operator, usd: d(v) });
        assert_eq!(governing(None, None), None);
        assert_eq!(governing(Some(d("100")), None), org("100"));
        assert_eq!(governing(None, Some(d("40"))), own("40"));
        assert_eq!(governing(Some(d("100")), Some(d("40"))), own("40"));
        assert_eq!(governing(Some(d("100")), Some(d("500"))), org("100"));
        assert_eq!(governing(Some(d("100")), Some(d("100"))), org("100"), "a tie is the organisation's");
    }
}
