//! What every e-mail delivery shares: how often to try, how long a claim
//! lasts, how long to wait between attempts.
//!
//! Deliveries are rows in the service's tables (invitations, notifications)
//! moving `QUEUED → SENDING → SENT | FAILED`; a worker claims a row with a
//! conditional update before sending, so concurrent workers never both send.

use crate::keys::MasterKey;
use std::time::Duration;
use workers::Mailer;

/// Attempts before a delivery is marked failed.
pub const MAX_ATTEMPTS: i32 = 5;
/// A `SENDING` claim older than this belonged to a worker that died
/// (the default of `COUNTERSIGN_MAIL_CLAIM_TIMEOUT_SECS`).
pub const CLAIM_TIMEOUT_SECS: i64 = 300;

pub mod status {
    pub const QUEUED: &str = "QUEUED";
    pub const SENDING: &str = "SENDING";
    pub const SENT: &str = "SENT";
    pub const FAILED: &str = "FAILED";
}

/// The wait before attempt `attempts + 1`: `base`, doubling, at most an hour.
pub fn backoff(base: Duration, attempts: i32) -> Duration {
    let factor = 2u32.saturating_pow(u32::try_from(attempts - 1).unwrap_or(0));
    base.saturating_mul(factor).min(Duration::from_secs(3600))
}

/// What the delivery job needs besides the database.
pub struct DeliveryEnv<'a> {
    pub key: &'a MasterKey,
    pub mailer: &'a Mailer,
    pub mail_from: &'a str,
    pub public_url: &'a str,
    /// First retry delay; doubles each attempt.
    pub retry_base: Duration,
    /// A `SENDING` claim older than this belonged to a worker that died.
    pub claim_timeout: chrono::Duration,
}

/// The outcome of one delivery attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Someone else holds it, it was sent already, or it is no longer pending.
    NothingToDo,
    Sent,
    /// Failed; retry after this delay.
    RetryIn(Duration),
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_secs(30);
        assert_eq!(backoff(b, 1), Duration::from_secs(30));
        assert_eq!(backoff(b, 4), Duration::from_secs(240));
        assert_eq!(backoff(b, 40), Duration::from_secs(3600));
    }
}
