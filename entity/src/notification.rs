//! A notification e-mail and the state of its delivery (the transactional outbox).
use domain::DeliveryStatus;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub to_email: String,
    pub subject: String,
    pub body: String,
    pub delivery_status: DeliveryStatus,
    pub delivery_attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub delivery_claimed_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
