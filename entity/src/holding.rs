//! How much of one asset one account holds, and how much of it open withdrawals hold.
use crate::money::Amount;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "holdings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub account_id: String,
    pub asset: String,
    /// The balance.
    pub amount: Amount,
    /// Reserved by open withdrawals.
    pub held: Amount,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
