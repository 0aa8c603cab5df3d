//! One entry of an organisation's append-only, hash-chained audit trail.
use domain::ActorKind;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_records")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: String,
    /// 1, 2, 3, … within the organisation; the chain order.
    pub seq: i64,
    /// `USER`, `SERVICE_USER`, `OPERATOR` or `SYSTEM`.
    pub actor_kind: ActorKind,
    pub actor_id: String,
    pub action: String,
    pub target: Option<String>,
    /// JSON text of the state before and after, when the action has one.
    pub before: Option<String>,
    pub after: Option<String>,
    pub request_id: Option<String>,
    pub at: DateTimeUtc,
    /// `hash` of the previous record (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this record's fields, hex.
    pub hash: String,
    /// HMAC-SHA256 (key derived from the master key) over the previous
    /// record's `mac` and this `hash`, hex; empty only for a record written
    /// before the keyed chain and never sealed, which verification refuses.
    pub mac: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
