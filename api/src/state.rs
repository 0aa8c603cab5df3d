//! What every request shares: the pool, the clock, the configuration.

use crate::authz::{Actor, Authz};
use crate::cache::Caches;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::events::EventBus;
use crate::keys::MasterKey;
use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::service::delivery::DeliveryEnv;
use crate::service::identity::SessionPolicy;
use crate::service::nonces::NonceCommits;
use crate::service::operation::OpEnv;
use crate::service::requests::Engine;
use crate::service::sequencer::Sequencer;
use crate::service::webhooks::SendPolicy;
use crate::session_checks::SessionChecks;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tokio::sync::watch;
use workers::{JobQueue, Mailer, WebhookSender};

/// Shared application state (one per process).
pub struct AppState {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub config: Config,
    pub session_policy: SessionPolicy,
    /// Base of links in e-mails, without a trailing slash.
    pub public_url: String,
    pub key: MasterKey,
    /// Where the API enqueues background work.
    pub queue: JobQueue,
    pub mailer: Mailer,
    /// Request and balance-alert events (shared by every process on PostgreSQL).
    pub bus: EventBus,
    pub metrics: Arc<Metrics>,
    /// Per-identity request rate and WebSocket caps.
    pub limiter: Arc<Limiter>,
    /// Resolved access and key material, reused while the organisation's version holds.
    pub cache: Arc<Caches>,
    /// What a caller in this process can wait for instead of guessing a time.
    pub signals: Signals,
    /// Open WebSockets' session checks, read in batches.
    pub session_checks: Arc<SessionChecks>,
    /// Set when the server shuts down. Every open WebSocket holds a
    /// receiver, closes with 1001 when it is set and drops the receiver, so
    /// shutdown can wait for them before the pool closes (mini-redis's pattern).
    pub stopping: watch::Sender<bool>,
    /// New withdrawals, applied in per-organisation batches.
    pub sequencer: Arc<Sequencer>,
    /// Signed requests' nonces, recorded by group commit.
    pub nonces: Arc<NonceCommits>,
    /// Posts webhook deliveries (the workers').
    pub webhooks: WebhookSender,
}

/// Counters that move when something this process does has happened, so a
/// caller (the end-to-end tests) can await the moment rather than sleep.
/// Each is a running count since the process started.
#[derive(Clone, Debug)]
pub struct Signals {
    /// Subscriptions registered with the event bus (after which they receive every event published).
    pub subscriptions: watch::Sender<u64>,
    /// Background jobs this process finished (successfully or not), after their effects were recorded.
    pub jobs_finished: watch::Sender<u64>,
}

impl Default for Signals {
    fn default() -> Self {
        Self { subscriptions: watch::Sender::new(0), jobs_finished: watch::Sender::new(0) }
    }
}

impl Signals {
    pub(crate) fn bump(counter: &watch::Sender<u64>) {
        counter.send_modify(|n| *n += 1);
    }
}

impl AppState {
    /// Tells every open WebSocket to close and waits (up to `patience`) until they have.
    pub async fn close_websockets(&self, patience: std::time::Duration) {
        self.stopping.send_replace(true);
        if tokio::time::timeout(patience, self.stopping.closed()).await.is_err() {
            tracing::warn!(open = self.stopping.receiver_count(), "WebSockets still open at shutdown");
        }
    }

    /// What governed operations need, at the current time.
    pub fn op_env(&self) -> OpEnv<'_> {
        OpEnv { now: self.clock.now(), key: &self.key, cooling_off_default: self.config.address_cooling_off_secs }
    }

    /// Per-request authorization for `actor`, at the current time.
    pub fn authz(&self, actor: Actor) -> Authz {
        Authz::new(actor, self.db.clone(), self.cache.clone(), self.clock.now())
    }

    /// The request engine, at the current time.
    pub fn engine(&self) -> Engine<'_> {
        Engine {
            db: &self.db,
            env: self.op_env(),
            queue: &self.queue,
            bus: &self.bus,
            ttl: chrono::Duration::seconds(self.config.request_ttl_secs),
        }
    }

    /// What this deployment allows a webhook delivery.
    pub fn webhook_policy(&self) -> SendPolicy {
        SendPolicy {
            allow_http_loopback: self.config.webhooks_allow_http_loopback,
            lease: chrono::Duration::seconds(self.config.webhook_lease_secs.max(1)),
        }
    }

    /// What invitation delivery needs.
    pub fn delivery_env(&self) -> DeliveryEnv<'_> {
        DeliveryEnv {
            key: &self.key,
            mailer: &self.mailer,
            mail_from: &self.config.mail_from,
            public_url: &self.public_url,
            retry_base: std::time::Duration::from_millis(self.config.mail_retry_base_ms),
            claim_timeout: chrono::Duration::seconds(self.config.mail_claim_timeout_secs),
        }
    }
}

impl From<&Config> for SessionPolicy {
    fn from(config: &Config) -> Self {
        SessionPolicy {
            idle: chrono::Duration::seconds(config.session_idle_secs),
            max_age: chrono::Duration::seconds(config.session_max_secs),
            throttle_per_email: config.throttle_per_email,
            throttle_per_ip: config.throttle_per_ip,
            throttle_window: chrono::Duration::seconds(config.throttle_window_secs),
        }
    }
}
