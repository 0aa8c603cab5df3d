//! Abuse limits per identity: a request rate (a token bucket per user, API
//! key, operator, or — for anonymous callers — client IP) and a cap on open
//! WebSocket connections.
//!
//! Both live in this process's memory, so behind N `serve` processes an
//! identity gets N times the configured rate; that keeps the hot path off
//! the database, and the database-backed limits that matter for money
//! (risk limits, sign-in throttling) are shared. Rate windows run on the
//! monotonic side of the application's clock ([`crate::clock::Clock::instant`]):
//! they are about real seconds, not the business day, and a test moves them
//! by moving its clock instead of sleeping.

use crate::authz::Actor;
use crate::clock::SharedClock;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use prometheus_client::metrics::gauge::Gauge;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Who a limit is counted against.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum Identity {
    User(String),
    ApiKey(String),
    Operator,
    Ip(IpAddr),
}

impl Identity {
    pub fn of(actor: &Actor, peer: IpAddr) -> Self {
        match actor {
            Actor::User(s) => Identity::User(s.user_id.clone()),
            Actor::ServiceUser(s) => Identity::ApiKey(s.key_id.clone()),
            Actor::Operator => Identity::Operator,
            Actor::Anonymous => Identity::Ip(peer),
        }
    }
}

/// The application clock's monotonic side, as governor reads time.
#[derive(Clone)]
struct RateClock {
    clock: SharedClock,
    start: std::time::Instant,
}

impl Clock for RateClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.clock.instant().saturating_duration_since(self.start))
    }
}

/// The per-process rate limiter and WebSocket slot table.
pub struct Limiter {
    rate: Option<RateLimiter<Identity, DashMapStateStore<Identity>, RateClock, NoOpMiddleware<Nanos>>>,
    ws_max: usize,
    ws_open: Mutex<HashMap<Identity, usize>>,
    ws_gauge: Gauge,
    /// How many WebSocket slots were given back so far (for awaiting a release).
    ws_released: tokio::sync::watch::Sender<u64>,
}

impl Limiter {
    /// `per_minute` requests a minute after a burst of `burst`; 0 turns rate limiting off.
    pub fn new(per_minute: u32, burst: u32, ws_max: usize, ws_gauge: Gauge, clock: SharedClock) -> Self {
        let clock = RateClock { start: clock.instant(), clock };
        let rate = NonZeroU32::new(per_minute).map(|per_minute| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            RateLimiter::dashmap_with_clock(Quota::per_minute(per_minute).allow_burst(burst), clock)
        });
        let ws_released = tokio::sync::watch::Sender::new(0);
        Self { rate, ws_max, ws_open: Mutex::new(HashMap::new()), ws_gauge, ws_released }
    }

    /// Takes one request from `id`'s allowance, or says how long until the next one is allowed.
    pub fn check(&self, id: &Identity) -> Result<(), Duration> {
        let Some(rate) = &self.rate else { return Ok(()) };
        rate.check_key(id).map_err(|not_until| not_until.wait_time_from(rate.clock().now()))
    }

    /// Claims one of `id`'s WebSocket slots; the slot is released when dropped.
    pub fn open_ws(self: &Arc<Self>, id: Identity) -> Option<WsSlot> {
        let mut open = self.ws_open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(id.clone()).or_insert(0);
        if *n >= self.ws_max {
            return None;
        }
        *n += 1;
        self.ws_gauge.inc();
        Some(WsSlot { limiter: self.clone(), id })
    }

    /// Changes each time a WebSocket slot is given back.
    pub fn ws_releases(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ws_released.subscribe()
    }

    /// Drops the buckets of identities that have been quiet long enough to
    /// be full again, so the table does not grow without bound.
    pub fn forget_idle(&self) {
        if let Some(rate) = &self.rate {
            rate.retain_recent();
            rate.shrink_to_fit();
        }
    }
}

/// One open WebSocket, counted against its identity until dropped.
pub struct WsSlot {
    limiter: Arc<Limiter>,
    id: Identity,
}

impl Drop for WsSlot {
    fn drop(&mut self) {
        let mut open = self.limiter.ws_open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.id);
            }
        }
        drop(open);
        self.limiter.ws_gauge.dec();
        self.limiter.ws_released.send_modify(|n| *n += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{OffsetClock, SystemClock};

    #[test]
    fn burst_then_refusal_with_a_wait() {
        let l = Limiter::new(60, 3, 1, Gauge::default(), Arc::new(SystemClock));
        let id = Identity::Operator;
        for _ in 0..3 {
            assert!(l.check(&id).is_ok());
        }
        let wait = l.check(&id).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(l.check(&Identity::Ip([127, 0, 0, 1].into())).is_ok(), "other identities are not affected");
    }

    #[test]
    fn the_allowance_refills_as_the_clock_moves() {
        let clock = OffsetClock::new();
        let l = Limiter::new(60, 1, 1, Gauge::default(), clock.clone());
        let id = Identity::Operator;
        assert!(l.check(&id).is_ok());
        assert!(l.check(&id).is_err(), "the burst of one is spent");
        clock.advance(chrono::Duration::seconds(1));
        assert!(l.check(&id).is_ok(), "one more a second");
        clock.advance(chrono::Duration::days(-1));
        assert!(l.check(&id).is_err(), "moving the business clock back does not refill it");
    }

    #[test]
    fn websocket_slots_are_returned_on_drop() {
        let l = Arc::new(Limiter::new(0, 0, 2, Gauge::default(), Arc::new(SystemClock)));
        let id = Identity::User("u".into());
        let a = l.open_ws(id.clone()).unwrap();
        let _b = l.open_ws(id.clone()).unwrap();
        assert!(l.open_ws(id.clone()).is_none());
        drop(a);
        let _c = l.open_ws(id).expect("the dropped slot is free again");
        assert_eq!(l.ws_gauge.get(), 2);
    }
}
