//! Members of an organisation: listing, and the facts other rules need.
//! Changes to membership are governed operations (see `operation`).

use super::{ServiceError, ServiceResult};
use crate::access::OrgAccess;
use domain::MemberStatus;
use entity::{member, permission_grant};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

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
        q = q.filter(member::Column::Status.eq(MemberStatus::Active.as_str()));
    }
    Ok(q.order_by_asc(member::Column::CreatedAt).all(db).await?)
}

/// A member of this organisation, active or not; else `NOT_FOUND`.
pub async fn find<C: ConnectionTrait>(db: &C, org_id: &str, member_id: &str) -> ServiceResult<member::Model> {
    member::Entity::find_by_id(member_id)
        .filter(member::Column::OrgId.eq(org_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("member"))
}

/// An active member of this organisation; else `NOT_FOUND`.
pub async fn find_active<C: ConnectionTrait>(db: &C, org_id: &str, member_id: &str) -> ServiceResult<member::Model> {
    let m = find(db, org_id, member_id).await?;
    if m.status != MemberStatus::Active.as_str() {
        return Err(ServiceError::NotFound("member"));
    }
    Ok(m)
}

/// A user's active memberships across organisations.
pub async fn of_user<C: ConnectionTrait>(db: &C, user_id: &str) -> ServiceResult<Vec<member::Model>> {
    Ok(member::Entity::find()
        .filter(member::Column::UserId.eq(user_id))
        .filter(member::Column::Status.eq(MemberStatus::Active.as_str()))
        .order_by_asc(member::Column::CreatedAt)
        .all(db)
        .await?)
}

/// A member's single grants.
pub async fn grants<C: ConnectionTrait>(db: &C, member_id: &str) -> ServiceResult<Vec<permission_grant::Model>> {
    Ok(permission_grant::Entity::find()
        .filter(permission_grant::Column::MemberId.eq(member_id))
        .order_by_asc(permission_grant::Column::CreatedAt)
        .all(db)
        .await?)
}
