//! An organisation's approval policy for one workflow.
use crate::money::Amount;
use domain::Workflow;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub workflow: Workflow,
    pub required_approvals: i32,
    pub always_require_approval: bool,
    /// Withdrawals above this (USD, decimal text) always wait for approval.
    pub approval_threshold_usd: Option<Amount>,
    /// Once locked, changing or unlocking needs someone else's approval.
    pub locked: bool,
    /// Increments with every change.
    pub version: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
