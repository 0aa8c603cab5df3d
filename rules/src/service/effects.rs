//! After-commit effects: the mail jobs to enqueue and the events to publish
//! once a transaction has committed, and the [`Engine`] handle that carries
//! the queue and the bus to the rules that need them.

use super::types::OpEnv;
use crate::events::{EventBus, RequestEventMsg};
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

/// What a committed transaction still has to do: mail to enqueue, request
/// events and balance-alert changes to publish. Collected while the
/// transaction runs and handed to [`Engine::after_commit`] once it has
/// committed, so nothing is announced that did not happen.
#[derive(Debug, Default)]
pub struct Effects {
    pub jobs: Vec<MailJob>,
    pub events: Vec<RequestEventMsg>,
    /// Organisations whose balance alert changed.
    pub alerts: Vec<String>,
}

impl Effects {
    /// Mail jobs, and the organisation whose alert changed if it did.
    pub fn mail_and_alert(jobs: Vec<MailJob>, alert_changed: bool, org_id: &str) -> Self {
        Self::of(jobs, Vec::new(), alert_changed, org_id)
    }

    /// Mail jobs, request events, and the organisation whose alert changed if it did.
    pub fn of(jobs: Vec<MailJob>, events: Vec<RequestEventMsg>, alert_changed: bool, org_id: &str) -> Self {
        Self { jobs, events, alerts: if alert_changed { vec![org_id.to_string()] } else { Vec::new() } }
    }
}

impl Engine<'_> {
    /// Carries out a committed transaction's [`Effects`].
    pub async fn after_commit(&self, effects: Effects) {
        enqueue(self.queue, effects.jobs).await;
        self.bus.publish(effects.events);
        for org_id in &effects.alerts {
            self.bus.publish_alert(org_id);
        }
    }
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
