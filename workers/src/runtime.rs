//! The worker runtime: one apalis [`Monitor`] running the invitation queue
//! worker and the schedules, until a shutdown future resolves.
//!
//! Several processes may run this at once against one database: queue jobs
//! are locked by one worker each, and every scheduled job is idempotent, so
//! two processes ticking at the same minute do the work once in effect.

use crate::queue::JobQueue;
use crate::{Handlers, JobError, MailJob};
use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// How often a queue worker looks for new jobs pushed by other processes.
const POLL: Duration = Duration::from_millis(200);

/// Every minute, at second 0 (sec min hour day-of-month month day-of-week).
const MINUTELY: &str = "0 * * * * *";
/// Every second (webhook deliveries: first attempts should not wait a minute).
const EVERY_SECOND: &str = "* * * * * *";
/// 00:00:00 UTC every day.
const DAILY_UTC_MIDNIGHT: &str = "0 0 0 * * *";

/// Wakes a queue worker every `every`, so it notices jobs pushed by other
/// processes.
///
/// apalis's own `IntervalStrategy` replaces its timer when it fires without
/// polling the new one, so no waker is registered for the next tick; a
/// worker whose fetch then parks can sleep until the 30 s heartbeat. This
/// strategy always leaves a polled timer behind (see `PollStrategy`'s contract).
struct EveryInterval {
    every: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl EveryInterval {
    fn new(every: Duration) -> Self {
        Self { every, sleep: Box::pin(tokio::time::sleep(every)) }
    }
}

impl PollStrategy for EveryInterval {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        while self.sleep.as_mut().poll(cx).is_ready() {
            fired = true;
            let next = tokio::time::Instant::now() + self.every;
            self.sleep.as_mut().reset(next);
        }
        if fired { Poll::Ready(Some(())) } else { Poll::Pending }
    }
}

async fn deliver(job: MailJob, handlers: Data<Arc<dyn Handlers>>) -> Result<(), JobError> {
    handlers.deliver_mail(job).await
}

async fn minutely(_tick: Tick, handlers: Data<Arc<dyn Handlers>>) -> Result<(), JobError> {
    // Each step is independent; one failing must not starve the others.
    let mut first_error = None;
    for (name, res) in [
        ("sweep_deliveries", handlers.sweep_deliveries().await),
        ("expire_requests", handlers.expire_requests().await),
        ("recompute_balance_alerts", handlers.recompute_balance_alerts().await),
        ("send_approver_digests", handlers.send_approver_digests().await),
    ] {
        if let Err(e) = res {
            tracing::error!(job = name, error = %e, "scheduled job failed");
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn webhooks(_tick: Tick, handlers: Data<Arc<dyn Handlers>>) -> Result<(), JobError> {
    handlers.deliver_webhooks().await
}

async fn daily(_tick: Tick, handlers: Data<Arc<dyn Handlers>>) -> Result<(), JobError> {
    handlers.prune_limit_counters().await
}

/// Runs the queue workers and schedules until `shutdown` resolves; in-flight
/// jobs are given `grace` to finish.
pub async fn run(
    queue: JobQueue,
    handlers: Arc<dyn Handlers>,
    worker_name: String,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), JobError> {
    let minutely_schedule = cron::Schedule::from_str(MINUTELY)?;
    let daily_schedule = cron::Schedule::from_str(DAILY_UTC_MIDNIGHT)?;
    let webhook_schedule = cron::Schedule::from_str(EVERY_SECOND)?;
    // A worker whose backend errored (say the database was briefly
    // unreachable) is restarted rather than left dead.
    let mut monitor = Monitor::new().shutdown_timeout(Duration::from_secs(20)).should_restart(|worker, error| {
        tracing::warn!(worker = worker.name(), %error, "worker stopped with an error; restarting");
        true
    });
    {
        let (handlers, name) = (handlers.clone(), format!("{worker_name}.mail"));
        monitor = match queue {
            JobQueue::Sqlite(storage) => monitor.register(move |_| {
                WorkerBuilder::new(name.clone())
                    .backend(storage.clone().poll_with_strategy(EveryInterval::new(POLL)))
                    .data(handlers.clone())
                    .build(deliver)
            }),
            JobQueue::Postgres(storage) => monitor.register(move |_| {
                WorkerBuilder::new(name.clone())
                    .backend(storage.clone().poll_with_strategy(EveryInterval::new(POLL)))
                    .data(handlers.clone())
                    .build(deliver)
            }),
        };
    }
    {
        let (handlers, name) = (handlers.clone(), format!("{worker_name}.minutely"));
        monitor = monitor.register(move |_| {
            WorkerBuilder::new(name.clone())
                .backend(CronScheduler::new(minutely_schedule.clone()))
                .data(handlers.clone())
                .build(minutely)
        });
    }
    {
        let (handlers, name) = (handlers.clone(), format!("{worker_name}.webhooks"));
        monitor = monitor.register(move |_| {
            WorkerBuilder::new(name.clone())
                .backend(CronScheduler::new(webhook_schedule.clone()))
                .data(handlers.clone())
                .build(webhooks)
        });
    }
    {
        let (handlers, name) = (handlers.clone(), format!("{worker_name}.daily"));
        monitor = monitor.register(move |_| {
            WorkerBuilder::new(name.clone())
                .backend(CronScheduler::new(daily_schedule.clone()))
                .data(handlers.clone())
                .build(daily)
        });
    }
    monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await?;
    Ok(())
}
