//! A member who obtained (or was issued, to claim) one of a service user's key secrets.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "secret_holders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub service_user_id: String,
    /// The key's public id.
    pub key_id: String,
    /// The member's user id.
    pub user_id: String,
    /// The operation that issued the secret to them (`CREATE_SERVICE_USER`, …) or `CLAIMED`.
    pub how: String,
    pub request_id: Option<String>,
    pub obtained_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
