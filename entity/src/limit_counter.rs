//! Capacity held and used by one layer and subject on one UTC day (USD, decimal text).
use crate::money::Amount;
use domain::LimitLayer;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "limit_counters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub layer: LimitLayer,
    pub subject: String,
    pub day: String,
    pub held_usd: Amount,
    pub used_usd: Amount,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
