//! An invitation to join an organisation, and the state of its e-mail.
use domain::{DeliveryStatus, InvitationState};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    /// Lower-cased.
    pub email: String,
    /// Comma-separated role names granted on acceptance.
    pub roles: String,
    pub invited_by: String,
    /// Random per issue of the link; the token is derived from it and the
    /// master key, so neither the token nor anything that yields it is stored.
    pub token_nonce: String,
    /// SHA-256 of the token in the link.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// `PENDING`, `ACCEPTED` or `REVOKED` (expiry is derived from `expires_at`).
    pub status: InvitationState,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub accepted_at: Option<DateTimeUtc>,
    /// `QUEUED`, `SENDING`, `SENT` or `FAILED`.
    pub delivery_status: DeliveryStatus,
    pub delivery_attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub delivery_claimed_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
