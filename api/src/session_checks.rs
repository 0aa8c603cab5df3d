//! Open WebSockets' session checks, answered together.
//!
//! Every event an organisation's subscribers receive is checked against each
//! subscriber's credential before it is delivered ([`crate::ws`]), and each
//! connection is checked again on a short tick. One event therefore asks for
//! as many checks at once as the organisation has open subscriptions; run one
//! by one they would queue for the database pool (and, beyond a few dozen
//! subscribers, time out and close every socket with 1011).
//!
//! So checks queue here, and one task answers everything queued with
//! [`liveness::sessions_watching`] (three queries per batch), then whatever
//! queued meanwhile, until nothing waits. A check asked for while a batch is
//! being read waits for the next one: every answer comes from rows read after
//! it was asked for, so batching never makes a check staler.

use crate::clock::SharedClock;
use crate::service::identity::SessionPolicy;
use crate::service::liveness::{self, Watch};
use crate::service::{ServiceError, ServiceResult};
use sea_orm::DatabaseConnection;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

type Waiting = (Watch, oneshot::Sender<ServiceResult<()>>);

/// The queue of session checks waiting for the next batch.
pub struct SessionChecks {
    db: DatabaseConnection,
    policy: SessionPolicy,
    clock: SharedClock,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    /// Whether a task is reading batches (it takes what queues until none waits).
    reading: bool,
}

impl SessionChecks {
    pub fn new(db: DatabaseConnection, policy: SessionPolicy, clock: SharedClock) -> Arc<Self> {
        Arc::new(Self { db, policy, clock, queue: Mutex::default() })
    }

    /// Whether `watch.session_id` still holds, and its member may still watch
    /// `watch.orgs`, as of a read made after this call.
    pub async fn check(self: &Arc<Self>, watch: Watch) -> ServiceResult<()> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            q.waiting.push((watch, tx));
            !std::mem::replace(&mut q.reading, true)
        };
        if start {
            // A task of its own, so a caller that goes away (its socket
            // closed) never strands the others' answers.
            tokio::spawn(self.clone().read_batches());
        }
        rx.await.unwrap_or_else(|_| Err(ServiceError::internal("the session check was dropped")))
    }

    async fn read_batches(self: Arc<Self>) {
        let mut turn = Reading { checks: &self, unfinished: true };
        loop {
            let batch = {
                let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                if q.waiting.is_empty() {
                    // In the same critical section as the look: a check queued
                    // after it starts the next task.
                    q.reading = false;
                    turn.unfinished = false;
                    return;
                }
                std::mem::take(&mut q.waiting)
            };
            let (watches, replies): (Vec<Watch>, Vec<_>) = batch.into_iter().unzip();
            let now = self.clock.now();
            match liveness::sessions_watching(&self.db, &self.policy, &watches, now).await {
                Ok(verdicts) => {
                    for (reply, verdict) in replies.into_iter().zip(verdicts) {
                        let _ = reply.send(verdict);
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(ServiceError::internal(&e)));
                    }
                }
            }
        }
    }
}

/// Ends a reading task's turn if it stops before the queue is empty (a
/// panic): the next check starts a new task, and the checks this one had not
/// taken are answered with an error (their senders drop) rather than left
/// waiting.
struct Reading<'a> {
    checks: &'a SessionChecks,
    unfinished: bool,
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        if self.unfinished {
            let mut q = self.checks.queue.lock().unwrap_or_else(PoisonError::into_inner);
            q.reading = false;
            q.waiting.clear();
        }
    }
}
