//! Where an organisation's events are sent (see `rules::service::webhooks`).
use domain::RecordStatus;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub url: String,
    /// Comma-separated `WebhookEvent` names.
    pub events: String,
    /// The signing secret, sealed under the master key (bound to `id`).
    pub secret_sealed: String,
    pub claim_request_id: Option<String>,
    pub secret_claimed: bool,
    /// `ACTIVE` or `REMOVED`.
    pub status: RecordStatus,
    /// The last audit sequence of the organisation turned into deliveries.
    pub cursor: i64,
    pub created_at: DateTimeUtc,
    pub removed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
