//! An organisation's stablecoin balance alert: threshold, state, last computed total (USD, decimal text).
use crate::money::Amount;
use domain::AlertState;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "balance_alerts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: String,
    pub threshold_usd: Option<Amount>,
    pub state: AlertState,
    pub total_usd: Amount,
    pub changed_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
