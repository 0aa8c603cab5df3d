//! Types the operation dispatcher ([`super::operation`]) and the aggregates
//! share: what applying an operation changed, what applying needs, a newly
//! issued secret. Types only, so an aggregate can return an [`Applied`]
//! without depending on the dispatcher that calls it.

use crate::keys::MasterKey;
use chrono::{DateTime, Utc};
use serde_json::Value;
use workers::MailJob;

/// A newly issued secret, to be shown once.
#[derive(Clone, Debug)]
pub struct NewSecret {
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
    /// A newly issued API-key secret, to show once.
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
