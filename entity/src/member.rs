//! A user's membership of one organisation.
use domain::MemberStatus;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    /// Comma-separated role names, e.g. `MAKER,SIGNER`.
    pub roles: String,
    pub is_owner: bool,
    /// `ACTIVE` or `REMOVED`.
    pub status: MemberStatus,
    pub created_at: DateTimeUtc,
    pub removed_at: Option<DateTimeUtc>,
    /// E-mail this member when a request starts waiting for their approval.
    pub approval_notices: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
