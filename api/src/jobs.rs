//! What the background jobs do: the `workers` runtime calls these, and they
//! call the services.

use crate::service::{approver_notices, balance_alerts, invitations, limits, notifications, requests};
use crate::state::AppState;
use std::sync::Arc;
use workers::{DeliverInvitation, DeliverNotification, Handlers, JobError};

/// The API's implementation of the job handlers.
pub struct ApiHandlers {
    pub state: Arc<AppState>,
}

impl ApiHandlers {
    /// Runs one job, counting it in the metrics by name and outcome.
    async fn counted(&self, job: &str, run: impl Future<Output = Result<(), JobError>>) -> Result<(), JobError> {
        let result = run.await;
        self.state.metrics.job(job, result.is_ok());
        crate::state::Signals::bump(&self.state.signals.jobs_finished);
        result
    }
}

#[async_trait::async_trait]
impl Handlers for ApiHandlers {
    async fn deliver_invitation(&self, job: DeliverInvitation) -> Result<(), JobError> {
        self.counted("deliver_invitation", async move {
            let st = &self.state;
            let outcome = invitations::deliver(&st.db, &st.delivery_env(), &job.invitation_id, st.clock.now()).await?;
            if let invitations::Delivery::RetryIn(delay) = outcome {
                // The retry is a new, delayed job; if enqueueing fails the sweep
                // finds the invitation queued past its time.
                st.queue.deliver_invitation(job, Some(delay)).await?;
            }
            Ok(())
        })
        .await
    }

    async fn deliver_notification(&self, job: DeliverNotification) -> Result<(), JobError> {
        self.counted("deliver_notification", async move {
            let st = &self.state;
            let outcome =
                notifications::deliver(&st.db, &st.delivery_env(), &job.notification_id, st.clock.now()).await?;
            if let invitations::Delivery::RetryIn(delay) = outcome {
                st.queue.deliver_notification(job, Some(delay)).await?;
            }
            Ok(())
        })
        .await
    }

    async fn sweep_deliveries(&self) -> Result<(), JobError> {
        self.counted("sweep_deliveries", async move {
            let st = &self.state;
            let now = st.clock.now();
            for invitation_id in invitations::stuck_deliveries(&st.db, now, st.delivery_env().claim_timeout).await? {
                tracing::info!(invitation = %invitation_id, "re-enqueueing a delivery whose job went missing");
                st.queue.deliver_invitation(DeliverInvitation { invitation_id }, None).await?;
            }
            for notification_id in notifications::stuck(&st.db, now, st.delivery_env().claim_timeout).await? {
                tracing::info!(notification = %notification_id, "re-enqueueing a notification whose job went missing");
                st.queue.deliver_notification(DeliverNotification { notification_id }, None).await?;
            }
            Ok(())
        })
        .await
    }

    async fn expire_requests(&self) -> Result<(), JobError> {
        self.counted("expire_requests", async move {
            let st = &self.state;
            let ttl = chrono::Duration::seconds(st.config.request_ttl_secs);
            let n = requests::expire_stale(&st.db, &st.bus, ttl, st.clock.now()).await?;
            if n > 0 {
                tracing::info!(expired = n, "expired pending requests");
            }
            Ok(())
        })
        .await
    }

    async fn reset_daily_counters(&self) -> Result<(), JobError> {
        self.counted("reset_daily_counters", async move {
            // Counters are keyed by UTC day, so a new day starts from zero without
            // this job; it only drops counters no open withdrawal can still touch
            // (requests expire after 72 h) so the table stays small.
            let st = &self.state;
            let dropped = limits::prune(&st.db, st.clock.now(), limits::HISTORY_DAYS).await?;
            if dropped > 0 {
                tracing::info!(dropped, "pruned old daily limit counters");
            }
            Ok(())
        })
        .await
    }

    async fn recompute_balance_alerts(&self) -> Result<(), JobError> {
        self.counted("recompute_balance_alerts", async move {
            let st = &self.state;
            let (changed, jobs) = balance_alerts::recompute_all(&st.db, st.clock.now()).await?;
            requests::enqueue(&st.queue, jobs).await;
            for org in &changed {
                st.bus.publish_alert(org);
            }
            Ok(())
        })
        .await
    }

    async fn send_approver_digests(&self) -> Result<(), JobError> {
        self.counted("send_approver_digests", async move {
            let st = &self.state;
            let jobs = approver_notices::send_due(&st.db, &st.public_url, st.clock.now()).await?;
            requests::enqueue(&st.queue, jobs).await;
            Ok(())
        })
        .await
    }
}
