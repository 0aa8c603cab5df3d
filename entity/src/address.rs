//! A whitelisted withdrawal address.
use domain::RecordStatus;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "addresses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub account_id: String,
    pub asset: String,
    pub network: String,
    pub address: String,
    pub label: String,
    pub status: RecordStatus,
    pub created_at: DateTimeUtc,
    /// Withdrawals to it are refused before this (cooling-off); `None`: at once.
    pub usable_from: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
