//! A governed operation and its lifecycle (see SPEC §4).
use domain::{ActorKind, RequestStatus, Workflow};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub workflow: Workflow,
    /// Operation name, e.g. `SET_MEMBER_ROLES`.
    pub operation: String,
    /// The operation's input as JSON text.
    pub payload: String,
    /// `USER` or `SERVICE_USER`.
    pub requester_kind: ActorKind,
    pub requester_id: String,
    pub status: RequestStatus,
    pub approvals_required: i32,
    pub reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Why the request waits, in words (e.g. a locked policy).
    pub waiting_reason: Option<String>,
    /// The account the request concerns, for account-scoped approvers.
    pub account_id: Option<String>,
    /// The version of the workflow's policy the request was created under
    /// (`None`: no policy); later policy changes do not touch it.
    pub policy_version: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
