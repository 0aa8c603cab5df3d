//! The injectable source of "now".
//!
//! Every rule that depends on time (session expiry, TOTP steps, daily limit
//! counters, request expiry) reads it from a [`Clock`], so tests can jump
//! across UTC midnight or past an idle timeout without sleeping.
//!
//! Intervals measured in real seconds (the rate limiter's windows, a
//! WebSocket's deadlines) read [`Clock::instant`], the monotonic side of the
//! same clock: the process's monotonic clock, which a test clock moves
//! forward with each jump. [`Clock::jumps`] lets a deadline check run as
//! soon as a test moves the clock instead of on its next tick.

use chrono::{DateTime, Duration, DurationRound, Utc};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A source of the current UTC time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Monotonic time, for intervals in real seconds. Never goes back.
    fn instant(&self) -> std::time::Instant {
        std::time::Instant::now()
    }

    /// Changes each time the clock jumps (a test clock being moved); `None`
    /// for a clock that only flows, like the wall clock.
    fn jumps(&self) -> Option<watch::Receiver<()>> {
        None
    }
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
///
/// Its monotonic side ([`Clock::instant`]) moves with every jump forward
/// and ignores jumps back, so it stays monotonic.
#[derive(Debug)]
pub struct OffsetClock {
    offsets: Mutex<Offsets>,
    jumped: watch::Sender<()>,
}

#[derive(Debug, Default)]
struct Offsets {
    /// Added to the wall clock.
    wall: Duration,
    /// The sum of the jumps forward, added to the monotonic clock.
    forward: std::time::Duration,
}

impl Default for OffsetClock {
    fn default() -> Self {
        Self { offsets: Mutex::default(), jumped: watch::Sender::new(()) }
    }
}

impl OffsetClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn shift(&self, to: impl FnOnce(Duration) -> Duration) {
        {
            let mut offsets = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
            let before = offsets.wall;
            offsets.wall = to(before);
            if let Ok(forward) = (offsets.wall - before).to_std() {
                offsets.forward += forward;
            }
        }
        self.jumped.send_replace(());
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        self.shift(|offset| offset + by);
    }

    /// Jumps so that `now()` is `at` (and keeps flowing from there).
    pub fn set(&self, at: DateTime<Utc>) {
        self.shift(|_| at - Utc::now());
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = self.offsets.lock().unwrap_or_else(|e| e.into_inner()).wall;
        db_precision(Utc::now() + offset)
    }

    fn instant(&self) -> std::time::Instant {
        let forward = self.offsets.lock().unwrap_or_else(|e| e.into_inner()).forward;
        std::time::Instant::now() + forward
    }

    fn jumps(&self) -> Option<watch::Receiver<()>> {
        Some(self.jumped.subscribe())
    }
}
