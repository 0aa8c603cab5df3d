//! What the background jobs do: the `workers` runtime calls these, and they
//! call the services.

use crate::service::delivery::Delivery;
use crate::service::{approver_notices, balance_alerts, limits, mail, requests, webhooks};
use crate::state::AppState;
use std::sync::Arc;
use workers::{Handlers, JobError, MailJob};

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
    async fn deliver_mail(&self, job: MailJob) -> Result<(), JobError> {
        self.counted(mail::job_name(&job), async move {
            let st = &self.state;
            if let Delivery::RetryIn(delay) = mail::deliver(&st.db, &st.delivery_env(), &job, st.clock.now()).await? {
                // The retry is a new, delayed job; if enqueueing fails the sweep
                // finds the e-mail queued past its time.
                st.queue.push(job, Some(delay)).await?;
            }
            Ok(())
        })
        .await
    }

    async fn sweep_deliveries(&self) -> Result<(), JobError> {
        self.counted("sweep_deliveries", async move {
            let st = &self.state;
            for job in mail::lost(&st.db, st.clock.now(), st.delivery_env().claim_timeout).await? {
                tracing::info!(?job, "re-enqueueing a delivery whose job went missing");
                st.queue.push(job, None).await?;
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

    async fn prune_limit_counters(&self) -> Result<(), JobError> {
        self.counted("prune_limit_counters", async move {
            // Counters are keyed by UTC day, so a new day starts from zero without
            // this job; it only drops counters older than the outflow history
            // (and than any open withdrawal: requests expire after 72 h), so the
            // table stays small.
            let st = &self.state;
            let dropped = limits::prune(&st.db, st.clock.now(), limits::HISTORY_DAYS).await?;
            if dropped > 0 {
                tracing::info!(dropped, "pruned old daily limit counters");
            }
            // The same daily pass bounds the webhook delivery log.
            let dropped = webhooks::prune(&st.db, st.clock.now()).await?;
            if dropped > 0 {
                tracing::info!(dropped, "pruned settled webhook deliveries past their retention");
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

    async fn deliver_webhooks(&self) -> Result<(), JobError> {
        let st = &self.state;
        // Events first, so a change committed before this run is attempted in it.
        let queued = webhooks::enqueue_events(&st.db, st.clock.now()).await?;
        if queued == 0 && !webhooks::has_due(&st.db, st.clock.now()).await? {
            return Ok(()); // most seconds: not counted as a job, nothing to wait for
        }
        self.counted("deliver_webhooks", async move {
            webhooks::deliver_due(&st.db, &st.key, &st.webhooks, st.webhook_policy(), || st.clock.now()).await?;
            Ok(())
        })
        .await
    }
}
