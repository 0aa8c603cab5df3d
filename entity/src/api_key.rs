//! An API key of a service user: public id, sealed secret, settings, replay state.
use domain::RecordStatus;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Public key id, `cs_…`.
    #[sea_orm(unique)]
    pub key_id: String,
    pub org_id: String,
    pub service_user_id: String,
    /// `ACTIVE` or `REVOKED`.
    pub status: RecordStatus,
    /// Comma-separated scope names.
    pub scopes: String,
    /// Comma-separated account ids the key may touch; `None` = every account.
    pub account_ids: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    /// Comma-separated addresses and CIDR ranges; `None` = anywhere.
    pub ip_allowlist: Option<String>,
    pub nonce_window: Option<i64>,
    pub allow_websocket: bool,
    pub query_start: Option<DateTimeUtc>,
    pub query_end: Option<DateTimeUtc>,
    /// AES-256-GCM under the master key: base64(nonce ‖ ciphertext).
    pub secret_sealed: String,
    /// The request whose requester may claim the secret once.
    pub claim_request_id: Option<String>,
    pub secret_claimed: bool,
    /// Highest accepted nonce, order-preserving u64 → i64 (sign bit flipped).
    pub highest_nonce: i64,
    pub last_used_at: Option<DateTimeUtc>,
    pub last_used_ip: Option<String>,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    /// The secret a rotation replaced, still accepted until `previous_valid_until`.
    pub previous_secret_sealed: Option<String>,
    pub previous_valid_until: Option<DateTimeUtc>,
    /// Straight-through: the key settles its own withdrawals that need no
    /// approval. Only while it has both a per-transaction maximum and a daily cap.
    pub auto_execute: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
