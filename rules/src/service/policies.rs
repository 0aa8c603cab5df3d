//! Approval policies per workflow, and approver coverage (SPEC §4).

use super::types::Applied;
use super::{ServiceError, ServiceResult};
use crate::access::OrgAccess;
use crate::authz::resolve_all;
use chrono::{DateTime, Utc};
use domain::{Action, UsdAmount, Workflow, new_id};
use entity::policy;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// Most approvals a policy may require.
pub const MAX_REQUIRED_APPROVALS: i32 = 20;

/// A policy as submitted: parsed and checked.
#[derive(Clone, Debug)]
pub struct PolicySpec {
    pub required_approvals: i32,
    pub always_require_approval: bool,
    pub approval_threshold_usd: Option<UsdAmount>,
}

impl PolicySpec {
    pub fn parse(
        workflow: Workflow,
        required_approvals: i32,
        always_require_approval: bool,
        approval_threshold_usd: Option<UsdAmount>,
    ) -> ServiceResult<Self> {
        if !(1..=MAX_REQUIRED_APPROVALS).contains(&required_approvals) {
            return Err(ServiceError::BadInput(format!("requiredApprovals: must be 1 to {MAX_REQUIRED_APPROVALS}")));
        }
        let threshold = approval_threshold_usd;
        if threshold.is_some() && workflow != Workflow::InitiateWithdrawal {
            return Err(ServiceError::BadInput("approvalThresholdUsd: only withdrawals have a threshold".into()));
        }
        Ok(Self { required_approvals, always_require_approval, approval_threshold_usd: threshold })
    }
}

/// The organisation's policy for a workflow, if any.
pub(crate) async fn find<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    workflow: Workflow,
) -> ServiceResult<Option<policy::Model>> {
    Ok(policy::Entity::find()
        .filter(policy::Column::OrgId.eq(org_id))
        .filter(policy::Column::Workflow.eq(workflow.as_str()))
        .one(db)
        .await?)
}

/// Every policy of the organisation (any member may read them; a service
/// user with QUERY_FUNDS or WITHDRAW).
pub async fn list<C: ConnectionTrait>(db: &C, access: &OrgAccess) -> ServiceResult<Vec<policy::Model>> {
    access.require_funds_view()?;
    Ok(policy::Entity::find()
        .filter(policy::Column::OrgId.eq(&access.org_id))
        .order_by_asc(policy::Column::Workflow)
        .all(db)
        .await?)
}

fn policy_json(p: &policy::Model) -> serde_json::Value {
    json!({
        "workflow": p.workflow,
        "requiredApprovals": p.required_approvals,
        "alwaysRequireApproval": p.always_require_approval,
        "approvalThresholdUsd": p.approval_threshold_usd,
        "locked": p.locked,
        "version": p.version,
    })
}

/// Creates or replaces a workflow's policy (a locked policy stays locked).
pub(crate) async fn set<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    workflow: Workflow,
    spec: &PolicySpec,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    let threshold = spec.approval_threshold_usd.map(|t| entity::money::Amount(t.value()));
    let (before, after) = match find(db, org_id, workflow).await? {
        Some(p) => {
            let before = policy_json(&p);
            let version = p.version + 1;
            let mut a: policy::ActiveModel = p.into();
            a.required_approvals = Set(spec.required_approvals);
            a.always_require_approval = Set(spec.always_require_approval);
            a.approval_threshold_usd = Set(threshold);
            a.version = Set(version);
            a.updated_at = Set(now);
            (Some(before), a.update(db).await?)
        }
        None => {
            let p = policy::ActiveModel {
                id: Set(new_id()),
                org_id: Set(org_id.to_string()),
                workflow: Set(workflow),
                required_approvals: Set(spec.required_approvals),
                always_require_approval: Set(spec.always_require_approval),
                approval_threshold_usd: Set(threshold),
                locked: Set(false),
                version: Set(1),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
            (None, p)
        }
    };
    Ok(Applied {
        target: Some(workflow.as_str().into()),
        before,
        after: Some(policy_json(&after)),
        jobs: vec![],
        secret: None,
        alert_changed: false,
    })
}

/// Locks or unlocks an existing policy.
pub(crate) async fn set_locked<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    workflow: Workflow,
    locked: bool,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    let p = find(db, org_id, workflow).await?.ok_or(ServiceError::NotFound("policy"))?;
    if p.locked == locked {
        return Err(ServiceError::Conflict(format!(
            "the {} policy is already {}",
            workflow.as_str(),
            if locked { "locked" } else { "unlocked" }
        )));
    }
    let before = policy_json(&p);
    let version = p.version + 1;
    let mut a: policy::ActiveModel = p.into();
    a.locked = Set(locked);
    a.version = Set(version);
    a.updated_at = Set(now);
    let after = a.update(db).await?;
    Ok(Applied {
        target: Some(workflow.as_str().into()),
        before: Some(before),
        after: Some(policy_json(&after)),
        jobs: vec![],
        secret: None,
        alert_changed: false,
    })
}

/// What approver coverage is counted for: a workflow with a policy, or the
/// withdrawals of one service user that may withdraw (they always wait for
/// approval, by people it does not count as).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Covered {
    Workflow(Workflow),
    /// A service user's id.
    ServiceUser(String),
}

/// Per covered thing: (eligible approvers, required approvals).
pub type Coverage = BTreeMap<Covered, (usize, i32)>;

/// Counts, for every workflow that has a policy, the active members who hold
/// APPROVE on it, leaving out `excluding_user` (the requester of a change);
/// and for every service user that may withdraw, the withdrawal approvers
/// who are not among the members its requests count as made by (its creator
/// and its secret holders), against the withdrawal policy's requirement (1
/// without a policy). A change that makes someone a holder (a rotation, a
/// new key) thus counts them out of the "after" side only.
pub(crate) async fn coverage<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    excluding_user: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Coverage> {
    let approvers = approvers(db, org_id, now).await?;
    let mut out = Coverage::new();
    let mut withdrawals_need = 1;
    for p in policy::Entity::find().filter(policy::Column::OrgId.eq(org_id)).all(db).await? {
        let wf = p.workflow;
        let eligible =
            approvers.get(&wf).map_or(0, |users| users.iter().filter(|u| u.as_str() != excluding_user).count());
        if wf == Workflow::InitiateWithdrawal {
            withdrawals_need = p.required_approvals.max(1);
        }
        out.insert(Covered::Workflow(wf), (eligible, p.required_approvals));
    }
    let withdrawal_approvers = approvers.get(&Workflow::InitiateWithdrawal);
    for (service_user, principals) in super::service_users::withdrawing_principals(db, org_id).await? {
        // Its withdrawals are requested by the service user, not by the
        // change's requester: who is left out is whom it counts as.
        let eligible =
            withdrawal_approvers.map_or(0, |users| users.iter().filter(|u| !principals.contains(*u)).count());
        out.insert(Covered::ServiceUser(service_user), (eligible, withdrawals_need));
    }
    Ok(out)
}

/// For each workflow, the users (active members) holding APPROVE on it at
/// `now`, in their own right or through a live delegation.
pub(crate) async fn approvers<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<BTreeMap<Workflow, BTreeSet<String>>> {
    let mut out: BTreeMap<Workflow, BTreeSet<String>> = BTreeMap::new();
    for (user_id, access) in resolve_all(db, org_id, now).await? {
        for p in &access.permissions {
            if p.action == Action::Approve {
                out.entry(p.workflow).or_default().insert(user_id.clone());
            }
        }
    }
    Ok(out)
}

/// Refuses a change that leaves some workflow with fewer eligible approvers
/// than its policy requires, where the change made it worse (fewer approvers
/// or a higher requirement than before).
pub fn check_coverage(before: &Coverage, after: &Coverage) -> ServiceResult<()> {
    for (wf, (eligible, required)) in after {
        let (eligible_before, required_before) = before.get(wf).copied().unwrap_or((usize::MAX, 0));
        let short = (*eligible as i64) < i64::from(*required);
        if short && (*eligible < eligible_before || *required > required_before) {
            return Err(ServiceError::Coverage(match wf {
                Covered::Workflow(wf) => format!(
                    "{} would have {} eligible approver(s) besides the requester, fewer than the {} its policy requires",
                    wf.as_str(),
                    eligible,
                    required
                ),
                Covered::ServiceUser(id) => format!(
                    "withdrawals by service user {id} would have {eligible} eligible approver(s) besides its creator \
                     and the members who obtained its key secrets, fewer than the {required} they need"
                ),
            }));
        }
    }
    Ok(())
}
