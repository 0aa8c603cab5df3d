//! One member's APPROVE on one workflow, lent to another member for a while.
use domain::Workflow;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delegations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub from_member_id: String,
    pub to_member_id: String,
    pub workflow: Workflow,
    pub valid_from: DateTimeUtc,
    /// The delegation lapses by itself at this time.
    pub valid_until: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
