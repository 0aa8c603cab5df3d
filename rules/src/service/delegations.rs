//! Approval delegation: a member lends their APPROVE on one workflow to
//! another member for a bounded period (holiday cover).
//!
//! Creating and revoking a delegation are MANAGE_ACCESS operations, so they
//! are governed, audited and counted in coverage like any access change. The
//! lending itself is resolved in `authz` at the time of each check: a
//! delegation lapses by itself at `valid_until`, ends when its delegator
//! leaves or loses APPROVE, never chains, and approvals made under it record
//! it. It never lets anyone approve their own request: that rule is the
//! request engine's and does not look at where APPROVE came from.

use super::types::Applied;
use super::{ServiceError, ServiceResult, membership};
use crate::access::OrgAccess;
use crate::authz;
use chrono::{DateTime, Duration, Utc};
use domain::{Action, Workflow, new_id};
use entity::delegation;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The longest a delegation may run.
pub const MAX_DAYS: i64 = 90;

/// A delegation as submitted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NewDelegation {
    pub from_member_id: String,
    pub to_member_id: String,
    pub workflow: Workflow,
    pub valid_until: DateTime<Utc>,
}

/// Whether `access` is the delegator of `d` and holds APPROVE on its workflow
/// in their own right: such a member may delegate without MANAGE_ACCESS.
pub fn is_own_approve(access: &OrgAccess, d: &NewDelegation) -> bool {
    access.service.is_none() && access.member_id == d.from_member_id && holds_approve(access, d.workflow)
}

/// APPROVE on `workflow` in the member's own right, not through a delegation.
fn holds_approve(access: &OrgAccess, workflow: Workflow) -> bool {
    access.allows(workflow, Action::Approve, None) && access.approving_under(workflow, None).is_none()
}

/// Checks a delegation against the organisation as it is at `now`.
pub(crate) async fn check<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    d: &NewDelegation,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let from = membership::find_active(db, org_id, &d.from_member_id).await?;
    membership::find_active(db, org_id, &d.to_member_id).await?;
    if d.from_member_id == d.to_member_id {
        return Err(ServiceError::BadInput("toMemberId: a member cannot delegate to themselves".into()));
    }
    if d.valid_until <= now {
        return Err(ServiceError::BadInput("until: must be in the future".into()));
    }
    if d.valid_until > now + Duration::days(MAX_DAYS) {
        return Err(ServiceError::BadInput(format!("until: a delegation runs for at most {MAX_DAYS} days")));
    }
    let own = authz::resolve(db, org_id, &from.user_id, now).await?;
    if !holds_approve(&own, d.workflow) {
        return Err(ServiceError::Forbidden(format!(
            "the delegating member does not hold APPROVE on {} in their own right",
            d.workflow.as_str()
        )));
    }
    Ok(())
}

/// Records a delegation, live from `now` (inside the request's transaction).
pub(crate) async fn create<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    d: &NewDelegation,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    check(db, org_id, d, now).await?;
    let row = delegation::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org_id.to_string()),
        from_member_id: Set(d.from_member_id.clone()),
        to_member_id: Set(d.to_member_id.clone()),
        workflow: Set(d.workflow),
        valid_from: Set(now),
        valid_until: Set(d.valid_until),
        revoked_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(Applied {
        target: Some(row.id.clone()),
        before: None,
        after: Some(
            json!({"delegationId": row.id, "fromMemberId": row.from_member_id, "toMemberId": row.to_member_id, "workflow": row.workflow, "validFrom": row.valid_from, "validUntil": row.valid_until}),
        ),
        ..Applied::default()
    })
}

/// A delegation of the organisation that is not yet revoked.
pub(crate) async fn find_unrevoked<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    id: &str,
) -> ServiceResult<delegation::Model> {
    delegation::Entity::find_by_id(id)
        .filter(delegation::Column::OrgId.eq(org_id))
        .filter(delegation::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("delegation"))
}

/// Ends a delegation at once.
pub(crate) async fn revoke<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    let d = find_unrevoked(db, org_id, id).await?;
    let before = json!({"delegationId": d.id, "validUntil": d.valid_until});
    let mut a: delegation::ActiveModel = d.into();
    a.revoked_at = Set(Some(now));
    let d = a.update(db).await?;
    Ok(Applied {
        target: Some(d.id.clone()),
        before: Some(before),
        after: Some(json!({"delegationId": d.id, "revokedAt": now})),
        ..Applied::default()
    })
}

/// Delegations a member gave (`given`) or received, newest first: to the
/// member themselves, and to whoever may read the audit trail
/// ([`OrgAccess::require_access_view_of`]).
pub async fn of_member<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    member: &entity::member::Model,
    given: bool,
) -> ServiceResult<Vec<delegation::Model>> {
    super::membership::require_own_org(access, member)?;
    access.require_access_view_of(&member.id)?;
    let column = if given { delegation::Column::FromMemberId } else { delegation::Column::ToMemberId };
    Ok(delegation::Entity::find()
        .filter(delegation::Column::OrgId.eq(&access.org_id))
        .filter(column.eq(&member.id))
        .order_by_desc(delegation::Column::CreatedAt)
        .all(db)
        .await?)
}
