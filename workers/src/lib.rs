//! The background-job runtime.
//!
//! This crate knows *how* jobs run (apalis queues in the service's own
//! database, cron schedules, the mail transport) but not *what* they do: that
//! is the `rules` crate's, and `api` implements [`Handlers`] by calling it and
//! hands it to [`runtime::run`]. So the crate graph stays `api → rules →
//! workers`, never the other way round.
//!
//! # Layout
//! - [`jobs`]: job payloads (serde structs stored in the queue).
//! - [`queue`]: [`JobQueue`], how the API enqueues work.
//! - [`mailer`]: SMTP via lettre, or `.eml` files in an outbox directory.
//! - [`runtime`]: the apalis monitor with the queue workers and schedules.
//! - [`webhook_sender`]: the HTTP POST of a signed webhook delivery.

pub mod jobs;
pub mod mailer;
pub mod queue;
pub mod runtime;
pub mod webhook_sender;

pub use jobs::{DeliverInvitation, DeliverNotification, MailJob};
pub use mailer::Mailer;
pub use queue::JobQueue;
pub use webhook_sender::WebhookSender;

/// A job failed; apalis logs it and the job's own retry rules apply.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

/// What the jobs do; implemented by the `api` crate.
#[async_trait::async_trait]
pub trait Handlers: Send + Sync + 'static {
    /// Sends the e-mail a job names (idempotent: a sent e-mail is not sent again).
    async fn deliver_mail(&self, job: MailJob) -> Result<(), JobError>;
    /// Every minute: re-enqueues deliveries whose job was lost (crash between
    /// commit and enqueue, or a worker that died mid-send).
    async fn sweep_deliveries(&self) -> Result<(), JobError>;
    /// Every minute: expires requests pending longer than allowed.
    async fn expire_requests(&self) -> Result<(), JobError>;
    /// At 00:00 UTC: drops daily limit counters too old to matter, and
    /// settled webhook deliveries past their retention. Counters are keyed
    /// by UTC day, so a new day starts from zero without this job; that is
    /// why a late or missed run is harmless.
    async fn prune_limit_counters(&self) -> Result<(), JobError>;
    /// Every minute: recomputes every organisation's balance alert.
    async fn recompute_balance_alerts(&self) -> Result<(), JobError>;
    /// Every minute: e-mails each approver one digest of the requests that
    /// started waiting for them (at most one per approver per minute).
    async fn send_approver_digests(&self) -> Result<(), JobError>;
    /// Every second: turns new audit records into webhook deliveries and
    /// sends those that are due (first attempts, retries, lapsed leases).
    async fn deliver_webhooks(&self) -> Result<(), JobError>;
}
