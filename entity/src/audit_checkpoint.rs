//! A signed checkpoint of an organisation's audit chain: an Ed25519 signature
//! over (organisation, sequence number, head hash, head MAC, time).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_checkpoints")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: String,
    /// The record the checkpoint vouches for (and, through the chain, all before it).
    pub seq: i64,
    pub at: DateTimeUtc,
    /// That record's `hash` and `mac`.
    pub head_hash: String,
    pub head_mac: String,
    /// Ed25519 signature over the statement, hex (128 characters).
    pub signature: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
