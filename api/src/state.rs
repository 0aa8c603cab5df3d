//! What every request shares: the pool, the clock, the configuration.

use crate::clock::SharedClock;
use crate::config::Config;
use crate::service::identity::SessionPolicy;
use sea_orm::DatabaseConnection;

/// Shared application state (one per process).
pub struct AppState {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub config: Config,
    pub session_policy: SessionPolicy,
    /// Base of links in e-mails, without a trailing slash.
    pub public_url: String,
}

impl AppState {
    pub fn new(db: DatabaseConnection, clock: SharedClock, config: Config, public_url: String) -> Self {
        let session_policy = SessionPolicy {
            idle: chrono::Duration::seconds(config.session_idle_secs),
            max_age: chrono::Duration::seconds(config.session_max_secs),
            throttle_per_email: config.throttle_per_email,
            throttle_per_ip: config.throttle_per_ip,
            throttle_window: chrono::Duration::seconds(config.throttle_window_secs),
        };
        Self { db, clock, config, session_policy, public_url }
    }
}
