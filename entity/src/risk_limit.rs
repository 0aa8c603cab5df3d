//! A per-transaction maximum and daily cap (USD, decimal text) for one layer and subject.
use crate::money::Amount;
use domain::LimitLayer;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "risk_limits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub layer: LimitLayer,
    pub subject: String,
    pub per_transaction_max_usd: Option<Amount>,
    pub daily_cap_usd: Option<Amount>,
    /// SIGNER layer only: withdrawals this member initiates above it wait for approval.
    pub approval_threshold_usd: Option<Amount>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
