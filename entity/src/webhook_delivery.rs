//! One event's delivery to one endpoint: its attempts and outcome.
use domain::WebhookDeliveryStatus;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub endpoint_id: String,
    pub org_id: String,
    /// `evt_` and the audit record's id; unique per endpoint.
    pub event_id: String,
    pub event_type: String,
    /// The JSON body sent, byte for byte on every attempt.
    pub payload: String,
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTimeUtc,
    /// While `SENDING`: when another worker may take it over.
    pub lease_until: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
