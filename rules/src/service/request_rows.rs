//! The request row's vocabulary (its statuses) and the plain lookups of a
//! request, in a leaf module: the aggregates a request touches can find one
//! without depending on the engine in [`super::requests`].

use super::{ServiceError, ServiceResult};
use entity::request;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

/// Request statuses (SPEC §4).
pub mod status {
    pub const PENDING_APPROVAL: &str = "PENDING_APPROVAL";
    pub const APPROVED: &str = "APPROVED";
    pub const COMPLETED: &str = "COMPLETED";
    pub const REJECTED: &str = "REJECTED";
    pub const CANCELLED: &str = "CANCELLED";
    pub const EXPIRED: &str = "EXPIRED";
    pub const FAILED: &str = "FAILED";
}

/// A request by id within one organisation; else `NOT_FOUND`.
pub(crate) async fn find_in_org<C: ConnectionTrait>(db: &C, org_id: &str, id: &str) -> ServiceResult<request::Model> {
    request::Entity::find_by_id(id)
        .filter(request::Column::OrgId.eq(org_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("request"))
}

/// The organisation a request belongs to, for resolving the caller's access to it.
pub(crate) async fn org_of<C: ConnectionTrait>(db: &C, id: &str) -> ServiceResult<String> {
    request::Entity::find_by_id(id).one(db).await?.map(|r| r.org_id).ok_or(ServiceError::NotFound("request"))
}
