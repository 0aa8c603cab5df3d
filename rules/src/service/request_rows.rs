//! The plain lookups of a request (its statuses are `domain::RequestStatus`),
//! in a leaf module: the aggregates a request touches can find one
//! without depending on the engine in [`super::requests`].

use super::{ServiceError, ServiceResult};
use crate::access::OrgAccess;
use entity::request;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

/// A request by id within one organisation; else `NOT_FOUND`.
pub(crate) async fn find_in_org<C: ConnectionTrait>(db: &C, org_id: &str, id: &str) -> ServiceResult<request::Model> {
    request::Entity::find_by_id(id)
        .filter(request::Column::OrgId.eq(org_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("request"))
}

/// A request the caller made, in their organisation; anyone else's is
/// `NOT_FOUND` too, so a claim tells nothing about other people's requests.
pub(crate) async fn find_own<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    id: &str,
) -> ServiceResult<request::Model> {
    let req = find_in_org(db, &access.org_id, id).await?;
    if req.requester_id != access.user_id {
        return Err(ServiceError::NotFound("request"));
    }
    Ok(req)
}

/// The organisation a request belongs to, for resolving the caller's access to it.
pub(crate) async fn org_of<C: ConnectionTrait>(db: &C, id: &str) -> ServiceResult<String> {
    request::Entity::find_by_id(id).one(db).await?.map(|r| r.org_id).ok_or(ServiceError::NotFound("request"))
}
