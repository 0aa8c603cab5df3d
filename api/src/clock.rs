//! The injectable source of "now".
//!
//! Every rule that depends on time (session expiry, TOTP steps, daily limit
//! counters, request expiry) reads it from a [`Clock`], so tests can jump
//! across UTC midnight or past an idle timeout without sleeping.

use chrono::{DateTime, Duration, DurationRound, Utc};
use std::sync::{Arc, Mutex};

/// A source of the current UTC time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// Shared handle to the application's clock.
pub type SharedClock = Arc<dyn Clock>;

/// Truncates to microseconds, the precision both SQLite text and PostgreSQL
/// `timestamptz` keep, so a time read back equals the time written (the audit
/// hash chain depends on it).
pub fn db_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::microseconds(1)).unwrap_or(t)
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        db_precision(Utc::now())
    }
}

/// The wall clock shifted by an adjustable offset: time still flows (so
/// timeouts and ordering behave naturally) but tests can jump ahead.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset: Mutex<Duration>,
}

impl OffsetClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *offset += by;
    }

    /// Jumps so that `now()` is `at` (and keeps flowing from there).
    pub fn set(&self, at: DateTime<Utc>) {
        let mut offset = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *offset = at - Utc::now();
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        db_precision(Utc::now() + offset)
    }
}
