//! New withdrawals of one organisation, applied in batches.
//!
//! Every withdrawal locks its organisation's hot rows — the holding it draws
//! on, the day's limit counters, the audit chain's head — from its first
//! check to its commit. Submitted one transaction each, 64 parallel payouts
//! queue on those locks (and on PostgreSQL each pays a commit of its own), so
//! a payroll run waits seconds per payout.
//!
//! So withdrawals of one organisation queue here, in this process, and one
//! task takes what has queued (up to [`BATCH`]) and applies it in order in
//! one write transaction: first it locks every holding the batch draws on, in
//! one order, and the organisation's row; then it decides each withdrawal
//! with the same rules as a lone submission ([`requests::submit_in`]),
//! against the running totals the earlier ones left. The organisation's
//! settings (policy, limits, window, whitelist) are read once for the whole
//! batch ([`OrgReads`]): the lock on its row, which every change to them
//! takes, keeps them as read. What the withdrawals change is kept in memory
//! ([`PendingWrites`]) and written once, before the commit: hot rows updated
//! once, new rows in multi-row inserts, audit records appended in order. A
//! refused withdrawal is rewound out of it: it writes nothing and fails
//! nothing else. (One that settles at once runs in a savepoint of its own,
//! after what is pending is written.) The batch commits once; only then does
//! each caller get its own answer and are its mail and events sent. If the
//! commit fails, none of the batch happened and every caller whose
//! withdrawal was in it is told so.
//!
//! Across processes (PostgreSQL) batches serialize on the same row locks a
//! lone withdrawal takes, so every invariant holds with several `serve`
//! processes. Holdings are locked up front, sorted, because a batch holds
//! the organisation's counters while its later withdrawals reach their
//! holdings: a lone transaction elsewhere that held one of those holdings
//! and waited for the counters would otherwise deadlock with it.
//!
//! Other operations go straight to [`requests::submit`].

use super::effects::{Effects, Engine};
use super::limits::{self, LimitLayer};
use super::operation::Operation;
use super::org_reads::OrgReads;
use super::pending::PendingWrites;
use super::requests::{self, Submitted};
use super::types::OpEnv;
use super::{ServiceError, ServiceResult};
use crate::access::OrgAccess;
use crate::db::{WriteTxn, begin_write};
use crate::events::EventBus;
use crate::keys::MasterKey;
use chrono::{DateTime, Utc};
use entity::organization;
use sea_orm::{DatabaseConnection, EntityTrait, QuerySelect, TransactionTrait};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;
use workers::JobQueue;

/// Withdrawals one transaction applies at most (a bound on how long a batch
/// holds its locks, and on how long the last of it waits for its answer).
pub const BATCH: usize = 64;

/// One queued withdrawal and where its answer goes.
struct Queued {
    access: OrgAccess,
    op: Operation,
    now: DateTime<Utc>,
    reply: Reply,
}

/// A withdrawal its savepoint applied, answered once the batch commits.
type Done = (Reply, Submitted, Effects, DateTime<Utc>);
type Reply = oneshot::Sender<ServiceResult<Submitted>>;

/// This process's withdrawal queues, one per organisation, and what
/// applying them needs (owned: the task outlives the request that started it).
pub struct Sequencer {
    db: DatabaseConnection,
    key: MasterKey,
    queue: JobQueue,
    bus: EventBus,
    ttl: chrono::Duration,
    cooling_off_default: i64,
    /// Queued withdrawals by organisation. An organisation has an entry
    /// exactly while a task is applying its batches (the task removes it
    /// when it finds the queue empty).
    orgs: Mutex<HashMap<String, Vec<Queued>>>,
    /// Batches begun, and withdrawals taken into them (for tests and metrics).
    batches: AtomicU64,
    batched: AtomicU64,
}

impl Sequencer {
    pub fn new(
        db: DatabaseConnection,
        key: MasterKey,
        queue: JobQueue,
        bus: EventBus,
        ttl: chrono::Duration,
        cooling_off_default: i64,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            key,
            queue,
            bus,
            ttl,
            cooling_off_default,
            orgs: Mutex::default(),
            batches: AtomicU64::new(0),
            batched: AtomicU64::new(0),
        })
    }

    /// Batches begun so far, and the withdrawals taken into them.
    pub fn batches(&self) -> (u64, u64) {
        (self.batches.load(Ordering::Relaxed), self.batched.load(Ordering::Relaxed))
    }

    /// Submits `op` as [`requests::submit`] does; a new withdrawal joins its
    /// organisation's next batch.
    pub async fn submit(
        self: &Arc<Self>,
        engine: &Engine<'_>,
        access: &OrgAccess,
        op: Operation,
    ) -> ServiceResult<Submitted> {
        if !matches!(op, Operation::Withdraw(_)) {
            return requests::submit(engine, access, op).await;
        }
        op.require_initiate(access)?;
        let (reply, answer) = oneshot::channel();
        let org_id = access.org_id.clone();
        let start = {
            let mut orgs = self.orgs.lock().unwrap_or_else(PoisonError::into_inner);
            let start = !orgs.contains_key(&org_id);
            orgs.entry(org_id.clone()).or_default().push(Queued {
                access: access.clone(),
                op,
                now: engine.env.now,
                reply,
            });
            start
        };
        if start {
            // A task of its own: a caller that goes away (its client hung up)
            // must not take the others' batch with it.
            tokio::spawn(self.clone().apply_batches(org_id));
        }
        answer.await.unwrap_or_else(|_| Err(ServiceError::internal("the withdrawal's batch was abandoned")))
    }

    /// Applies `org_id`'s queue, a batch at a time, until it is empty.
    async fn apply_batches(self: Arc<Self>, org_id: String) {
        let mut turn = Applying { sequencer: &self, org_id: &org_id, unfinished: true };
        loop {
            let batch: Vec<Queued> = {
                let mut orgs = self.orgs.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(q) = orgs.get_mut(&org_id) else { return };
                if q.is_empty() {
                    // In the same critical section as the look: a withdrawal
                    // queued after it starts the next task.
                    orgs.remove(&org_id);
                    turn.unfinished = false;
                    return;
                }
                let n = q.len().min(BATCH);
                q.drain(..n).collect()
            };
            self.apply(batch).await;
        }
    }

    /// The engine a queued withdrawal runs with: its own request's time, never
    /// earlier than the one before it in the batch (the audit chain is in order).
    fn engine(&self, now: DateTime<Utc>) -> Engine<'_> {
        Engine {
            db: &self.db,
            env: OpEnv { now, key: &self.key, cooling_off_default: self.cooling_off_default },
            queue: &self.queue,
            bus: &self.bus,
            ttl: self.ttl,
        }
    }

    async fn apply(&self, batch: Vec<Queued>) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batched.fetch_add(batch.len() as u64, Ordering::Relaxed);
        let (txn, reads, mut pending) = match self.begin(&batch).await {
            Ok(begun) => begun,
            Err(e) => {
                for q in batch {
                    let _ = q.reply.send(Err(ServiceError::internal(&e)));
                }
                return;
            }
        };
        let mut applied: Vec<Done> = Vec::new();
        let mut broken: Option<ServiceError> = None;
        let mut at = DateTime::<Utc>::MIN_UTC;
        for q in batch {
            if let Some(e) = &broken {
                let _ = q.reply.send(Err(ServiceError::internal(e)));
                continue;
            }
            at = at.max(q.now);
            let engine = self.engine(at);
            match one(&txn, &engine, &reads, &mut pending, &q.access, q.op).await {
                Ok(Ok((submitted, effects))) => applied.push((q.reply, submitted, effects, at)),
                // Refused: it left nothing behind, the batch goes on.
                Ok(Err(refused)) => {
                    let _ = q.reply.send(Err(refused));
                }
                // What was pending could not be written, or a savepoint could
                // not be made or undone: the transaction is in no state to commit.
                Err(e) => {
                    let _ = q.reply.send(Err(ServiceError::internal(&e)));
                    broken = Some(ServiceError::internal(&e));
                }
            }
        }
        if broken.is_none()
            && let Err(e) = pending.flush(&*txn).await
        {
            broken = Some(e);
        }
        let committed = match broken {
            Some(e) => {
                let _ = txn.rollback().await;
                Err(e)
            }
            None => txn.commit().await.map_err(ServiceError::from),
        };
        match committed {
            Ok(()) => {
                for (reply, submitted, effects, at) in applied {
                    self.engine(at).after_commit(effects).await;
                    let _ = reply.send(Ok(submitted));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, withdrawals = applied.len(), "a withdrawal batch did not commit");
                for (reply, ..) in applied {
                    let _ = reply.send(Err(ServiceError::internal(&e)));
                }
            }
        }
    }

    /// Begins the batch's transaction and locks, in this order, every holding
    /// it draws on (sorted), the day's limit counters it reserves on (sorted),
    /// and the organisation's row: the order a lone withdrawal or settlement
    /// takes them in (holding, counters, then the audit head on that row), so
    /// no transaction elsewhere can hold one of them while waiting for another.
    /// Gives the batch's reads of the organisation's settings, starting with
    /// that row, and its pending writes, starting with those rows.
    async fn begin(&self, batch: &[Queued]) -> ServiceResult<(WriteTxn, OrgReads, PendingWrites)> {
        let txn = begin_write(&self.db).await?;
        let org_id = batch.first().map(|q| q.access.org_id.as_str()).unwrap_or_default();
        let mut drawn = BTreeSet::new();
        let mut counters = BTreeSet::new();
        let mut at = DateTime::<Utc>::MIN_UTC;
        for q in batch {
            let Operation::Withdraw(w) = &q.op else { continue };
            drawn.insert((w.account_id.as_str(), w.asset.as_str()));
            // The day each will count on (times only move forward in a batch).
            at = at.max(q.now);
            let day = limits::day_of(at);
            counters.insert((LimitLayer::Organization, org_id, day.clone()));
            if let Some(s) = &q.access.service {
                counters.insert((LimitLayer::ApiKey, s.key_id.as_str(), day));
            }
        }
        let mut pending = PendingWrites::default();
        for (account_id, asset) in drawn {
            pending.holding(&*txn, account_id, asset).await?;
        }
        for (layer, subject, day) in counters {
            pending.counter(&*txn, org_id, layer, subject, &day).await?;
        }
        let org = organization::Entity::find_by_id(org_id)
            .lock_exclusive()
            .one(&*txn)
            .await?
            .ok_or(ServiceError::NotFound("organization"))?;
        Ok((txn, OrgReads::knowing(org), pending))
    }
}

/// One withdrawal of a batch: `Ok(Ok(..))` applied, `Ok(Err(..))` refused
/// (it left nothing behind), `Err(..)` the transaction is in no state to go on.
///
/// Most are decided against `pending` alone and leave their writes there
/// (undone by rewinding it when refused). One that settles at once writes
/// to the database itself, so what is pending is written first and it runs
/// in a savepoint of its own.
async fn one(
    txn: &WriteTxn,
    engine: &Engine<'_>,
    reads: &OrgReads,
    pending: &mut PendingWrites,
    access: &OrgAccess,
    op: Operation,
) -> ServiceResult<ServiceResult<(Submitted, Effects)>> {
    if !settles_at_once(&op, access) {
        let mark = pending.mark();
        let done = requests::submit_in(txn, engine, access, op, reads, pending).await;
        if done.is_err() {
            pending.rewind(mark);
        }
        return Ok(done);
    }
    pending.flush(&**txn).await?;
    let savepoint = txn.begin().await?;
    let mut own = PendingWrites::default();
    let done = match requests::submit_in(&savepoint, engine, access, op, reads, &mut own).await {
        Ok(done) => own.flush(&savepoint).await.map(|()| done),
        Err(refused) => Err(refused),
    };
    match done {
        Ok(done) => {
            savepoint.commit().await?;
            Ok(Ok(done))
        }
        Err(refused) => {
            savepoint.rollback().await?;
            Ok(Err(refused))
        }
    }
}

/// Whether a new withdrawal may settle in the call that makes it: asked to
/// (`execute`), or made by a service user, whose key may settle its payouts
/// straight through. Settling reads and moves the rows [`PendingWrites`] holds.
fn settles_at_once(op: &Operation, access: &OrgAccess) -> bool {
    match op {
        Operation::Withdraw(w) => w.execute || access.service.is_some(),
        _ => true,
    }
}

/// Ends a task's turn on its organisation's queue if it stops before the
/// queue is empty (a panic): the next withdrawal starts a new task, and the
/// ones it had not taken are answered with an error (their senders drop)
/// rather than left waiting.
struct Applying<'a> {
    sequencer: &'a Sequencer,
    org_id: &'a str,
    unfinished: bool,
}

impl Drop for Applying<'_> {
    fn drop(&mut self) {
        if self.unfinished {
            self.sequencer.orgs.lock().unwrap_or_else(PoisonError::into_inner).remove(self.org_id);
        }
    }
}
