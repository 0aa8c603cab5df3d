//! After-commit effects: the mail jobs to enqueue and the events to publish
//! once a transaction has committed, and the [`Engine`] handle that carries
//! the queue and the bus to the rules that need them.

use super::types::OpEnv;
use crate::events::EventBus;
use sea_orm::DatabaseConnection;
use workers::{JobQueue, MailJob};

/// What the engine needs besides the database and the caller.
pub struct Engine<'a> {
    pub db: &'a DatabaseConnection,
    pub env: OpEnv<'a>,
    pub queue: &'a JobQueue,
    pub bus: &'a EventBus,
    /// How long a request may wait for approval (`COUNTERSIGN_REQUEST_TTL_SECS`).
    pub ttl: chrono::Duration,
}

/// Enqueues jobs after their transaction committed. A failure here loses
/// nothing: the rows they concern are already committed in a state the
/// minutely sweep picks up.
pub async fn enqueue(queue: &JobQueue, jobs: Vec<MailJob>) {
    for job in jobs {
        if let Err(e) = queue.push(job.clone(), None).await {
            tracing::warn!(error = %e, ?job, "could not enqueue; the sweep will retry");
        }
    }
}
