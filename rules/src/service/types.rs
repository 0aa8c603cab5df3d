//! Types the operation dispatcher ([`super::operation`]) and the aggregates
//! share: what applying an operation changed, what applying needs, a newly
//! issued secret, the balance alert and a limit layer's usage as read. Types only, so an aggregate can return an [`Applied`]
//! without depending on the dispatcher that calls it.

use crate::keys::MasterKey;
use chrono::{DateTime, Utc};
use domain::{AlertState, LimitLayer};
use rust_decimal::Decimal;
use serde_json::Value;
use workers::MailJob;

/// What a newly issued secret belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretOf {
    /// An API key's signing secret (`key_id` is the key's public id).
    ApiKey,
    /// A webhook endpoint's signing secret (`key_id` is the endpoint's id).
    WebhookEndpoint,
}

/// A newly issued secret, to be shown once.
#[derive(Clone, Debug)]
pub struct NewSecret {
    pub of: SecretOf,
    pub key_id: String,
    pub secret: String,
}

/// What applying an operation changed, for the audit record, and the jobs to
/// enqueue once it has committed.
#[derive(Default)]
pub struct Applied {
    pub target: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub jobs: Vec<MailJob>,
    /// A newly issued API-key or webhook secret, to show once.
    pub secret: Option<NewSecret>,
    /// The organisation's balance alert changed state (publish after commit).
    pub alert_changed: bool,
}

/// What applying operations needs besides the database.
pub struct OpEnv<'a> {
    pub now: DateTime<Utc>,
    pub key: &'a MasterKey,
    /// The deployment's address cooling-off, for organisations without their own (seconds).
    pub cooling_off_default: i64,
}

/// What `organization.balanceAlert` shows: the stored state, with the total computed now.
#[derive(Clone, Debug)]
pub struct AlertView {
    pub threshold: Option<Decimal>,
    pub state: AlertState,
    pub total: Decimal,
    pub changed_at: Option<DateTime<Utc>>,
    /// New withdrawals are refused now (the organisation opted in and the state is LOW).
    pub withdrawals_paused: bool,
}

/// A layer's settings and today's figures.
#[derive(Clone, Debug)]
pub struct Usage {
    pub layer: LimitLayer,
    pub subject: String,
    pub per_transaction_max: Option<Decimal>,
    pub daily_cap: Option<Decimal>,
    pub used_today: Decimal,
    pub held: Decimal,
    /// `None` when there is no daily cap.
    pub remaining: Option<Decimal>,
    /// SIGNER layer: the member's own approval threshold for withdrawals they initiate.
    pub approval_threshold: Option<Decimal>,
}
