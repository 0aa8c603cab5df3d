//! Members of an organisation: listing, and the facts other rules need.
//! Changes to membership are governed operations (see `operation`).

use super::{ServiceError, ServiceResult};
use crate::access::{OrgAccess, UserSession};
use domain::MemberStatus;
use entity::{member, permission_grant, user};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};
use std::collections::HashMap;

/// Members of the organisation (active first, then removed), oldest first.
/// Any member may see who else is a member; a service user may not.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    include_removed: bool,
) -> ServiceResult<Vec<member::Model>> {
    access.require_person()?;
    let mut q = member::Entity::find().filter(member::Column::OrgId.eq(&access.org_id));
    if !include_removed {
        q = q.filter(member::Column::Status.eq(MemberStatus::Active));
    }
    Ok(q.order_by_asc(member::Column::CreatedAt).all(db).await?)
}

/// A member of this organisation, active or not; else `NOT_FOUND`.
pub(crate) async fn find<C: ConnectionTrait>(db: &C, org_id: &str, member_id: &str) -> ServiceResult<member::Model> {
    member::Entity::find_by_id(member_id)
        .filter(member::Column::OrgId.eq(org_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("member"))
}

/// An active member of this organisation; else `NOT_FOUND`.
pub(crate) async fn find_active<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    member_id: &str,
) -> ServiceResult<member::Model> {
    let m = find(db, org_id, member_id).await?;
    if m.status != MemberStatus::Active {
        return Err(ServiceError::NotFound("member"));
    }
    Ok(m)
}

/// The caller's own membership of the organisation; a service user has
/// none (`NOT_FOUND`).
pub async fn viewer<C: ConnectionTrait>(db: &C, access: &OrgAccess) -> ServiceResult<member::Model> {
    find(db, &access.org_id, &access.member_id).await
}

/// The signed-in person's active memberships across organisations.
pub async fn of_user<C: ConnectionTrait>(db: &C, who: &UserSession) -> ServiceResult<Vec<member::Model>> {
    Ok(member::Entity::find()
        .filter(member::Column::UserId.eq(&who.user_id))
        .filter(member::Column::Status.eq(MemberStatus::Active))
        .order_by_asc(member::Column::CreatedAt)
        .all(db)
        .await?)
}

/// A member's single grants: to the member themselves, and to whoever may
/// read the audit trail ([`OrgAccess::require_access_view_of`]).
pub async fn grants<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    member: &member::Model,
) -> ServiceResult<Vec<permission_grant::Model>> {
    require_own_org(access, member)?;
    access.require_access_view_of(&member.id)?;
    Ok(permission_grant::Entity::find()
        .filter(permission_grant::Column::MemberId.eq(&member.id))
        .order_by_asc(permission_grant::Column::CreatedAt)
        .all(db)
        .await?)
}

/// `NOT_FOUND` unless `member` belongs to the organisation `access` is for.
pub(crate) fn require_own_org(access: &OrgAccess, member: &member::Model) -> ServiceResult<()> {
    if member.org_id != access.org_id {
        return Err(ServiceError::NotFound("member"));
    }
    Ok(())
}

/// The people behind `ids` who are or were members of the organisation
/// (members, requesters, approvers, inviters, signers), by id, in one
/// query; anyone else is left out. Their e-mails and names stay personal
/// data ([`crate::access::Actor::require_person`]).
pub async fn users<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    ids: &[String],
) -> ServiceResult<HashMap<String, user::Model>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let members = member::Entity::find()
        .select_only()
        .column(member::Column::UserId)
        .filter(member::Column::OrgId.eq(&access.org_id))
        .filter(member::Column::UserId.is_in(ids.iter().map(String::as_str)))
        .into_query();
    Ok(user::Entity::find()
        .filter(user::Column::Id.in_subquery(members))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect())
}
