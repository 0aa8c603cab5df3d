//! A withdrawal's money-side state (the request row holds its lifecycle).
use crate::money::Amount;
use domain::WithdrawalState;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "withdrawals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_id: String,
    pub org_id: String,
    pub account_id: String,
    pub asset: String,
    pub amount: Amount,
    pub usd_value: Amount,
    pub address_id: String,
    pub limit_day: String,
    pub api_key_id: Option<String>,
    pub state: WithdrawalState,
    pub settlement_reference: Option<String>,
    pub executed_by: Option<String>,
    pub executed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
