//! Accepting signed requests' nonces by group commit.
//!
//! Every accepted nonce is recorded before its request is answered, so a
//! replay is refused by every process and after any restart (SPEC §2). One
//! transaction per nonce would make each signed read a write of its own; so
//! nonces queue here, in this process, and one task records whatever has
//! queued in one statement per round (PostgreSQL) or one write transaction
//! (SQLite), for every key at once. A round starts as soon as the previous
//! one commits: a lone request waits for nothing but its own round, and
//! under load each round carries every request that arrived during the last.
//!
//! The semantics are those of one nonce at a time. A round takes at most one
//! nonce per key (a key's later nonces wait for the next round, in the order
//! they came), so each key's check — strictly above the highest accepted, or
//! an unused one within the key's window — sees every nonce accepted before
//! it. A nonce is answered only after its round commits; if the round fails,
//! every request in it is refused with the error and none was accepted.
//!
//! Across processes (PostgreSQL) rounds lock the key rows they touch in key
//! order, so two processes' rounds cannot deadlock, and the row lock decides
//! between them as it did for single nonces.

use super::{ServiceError, ServiceResult};
use crate::db::begin_write;
use chrono::{DateTime, Utc};
use domain::Nonce;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

/// Nonces one round records at most (a bound on the statement's size).
pub const ROUND: usize = 256;

/// One nonce waiting for its round.
struct Pending {
    /// The key's row id (`api_keys.id`).
    key_row: String,
    nonce: Nonce,
    at: DateTime<Utc>,
    reply: oneshot::Sender<ServiceResult<()>>,
}

/// This process's queue of nonces to record.
pub struct NonceCommits {
    db: DatabaseConnection,
    /// Nonces waiting; `Some` exactly while a task is recording rounds (the
    /// task sets it back to `None` when it finds nothing queued).
    queue: Mutex<Option<Vec<Pending>>>,
    /// Rounds committed, and nonces recorded in them (for tests and metrics).
    rounds: AtomicU64,
    recorded: AtomicU64,
}

impl NonceCommits {
    pub fn new(db: DatabaseConnection) -> Arc<Self> {
        Arc::new(Self { db, queue: Mutex::new(None), rounds: AtomicU64::new(0), recorded: AtomicU64::new(0) })
    }

    /// Rounds recorded so far, and the nonces accepted in them.
    pub fn rounds(&self) -> (u64, u64) {
        (self.rounds.load(Ordering::Relaxed), self.recorded.load(Ordering::Relaxed))
    }

    /// Accepts `nonce` for the key whose row is `key_row` once it is durably
    /// recorded; `UNAUTHENTICATED` when it was used already or is too old.
    pub async fn accept(self: &Arc<Self>, key_row: &str, nonce: Nonce, at: DateTime<Utc>) -> ServiceResult<()> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending { key_row: key_row.to_string(), nonce, at, reply };
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let start = queue.is_none();
            queue.get_or_insert_with(Vec::new).push(pending);
            start
        };
        if start {
            // A task of its own: a caller that goes away must not take the
            // others' round with it.
            tokio::spawn(self.clone().record_rounds());
        }
        answer.await.unwrap_or_else(|_| Err(ServiceError::internal("the nonce's round was abandoned")))
    }

    /// Records rounds until nothing is queued.
    async fn record_rounds(self: Arc<Self>) {
        let mut turn = Recording { commits: &self, unfinished: true };
        loop {
            let round = {
                let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(waiting) = queue.as_mut() else { return };
                if waiting.is_empty() {
                    // In the same critical section as the look: a nonce
                    // queued after it starts the next task.
                    *queue = None;
                    turn.unfinished = false;
                    return;
                }
                take_round(waiting)
            };
            let keys: Vec<(&str, Nonce, DateTime<Utc>)> =
                round.iter().map(|p| (p.key_row.as_str(), p.nonce, p.at)).collect();
            match record(&self.db, &keys).await {
                Ok(accepted) => {
                    self.rounds.fetch_add(1, Ordering::Relaxed);
                    self.recorded.fetch_add(accepted.len() as u64, Ordering::Relaxed);
                    for p in round {
                        let verdict = if accepted.contains(&p.key_row) { Ok(()) } else { Err(stale()) };
                        let _ = p.reply.send(verdict);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, nonces = round.len(), "a round of nonces did not commit");
                    for p in round {
                        let _ = p.reply.send(Err(ServiceError::internal(&e)));
                    }
                }
            }
        }
    }
}

fn stale() -> ServiceError {
    ServiceError::Unauthenticated("API key request refused: nonce already used or too old".into())
}

/// The next round: the first waiting nonce of each key, at most [`ROUND`];
/// the rest stay queued in their order.
fn take_round(waiting: &mut Vec<Pending>) -> Vec<Pending> {
    let mut keys = HashSet::new();
    let (mut round, mut left) = (Vec::new(), Vec::new());
    for p in waiting.drain(..) {
        if round.len() < ROUND && keys.insert(p.key_row.clone()) {
            round.push(p);
        } else {
            left.push(p);
        }
    }
    *waiting = left;
    round
}

/// Records one round (one nonce per key) and returns the keys whose nonce
/// was accepted. Committed before it returns.
async fn record(db: &DatabaseConnection, round: &[(&str, Nonce, DateTime<Utc>)]) -> ServiceResult<BTreeSet<String>> {
    let mut values: Vec<Value> = Vec::with_capacity(round.len() * 3);
    if db.get_database_backend() == DbBackend::Postgres {
        let rows: Vec<String> = round
            .iter()
            .enumerate()
            .map(|(i, (key, nonce, at))| {
                values.extend([(*key).into(), nonce.to_stored().into(), (*at).into()]);
                format!("(${}::text, ${}::bigint, ${}::timestamptz)", 3 * i + 1, 3 * i + 2, 3 * i + 3)
            })
            .collect();
        // `locked` takes the key rows in key order before the update
        // touches them (a row the update reaches is one `locked` returned).
        let sql = format!(
            "WITH input (key_id, nonce, at) AS (VALUES {}), \
             locked AS (SELECT k.id FROM api_keys k WHERE k.id IN (SELECT key_id FROM input) ORDER BY k.id FOR UPDATE), \
             raised AS (UPDATE api_keys k SET highest_nonce = GREATEST(k.highest_nonce, i.nonce) \
               FROM input i, locked l WHERE k.id = i.key_id AND l.id = k.id AND {} \
               RETURNING k.id AS key_id, i.nonce, i.at) \
             INSERT INTO api_key_nonces (key_id, nonce, at) SELECT key_id, nonce, at FROM raised \
             ON CONFLICT DO NOTHING RETURNING key_id",
            rows.join(", "),
            admits("k.highest_nonce", "k.nonce_window", "i.nonce")
        );
        let accepted = db.query_all_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await?;
        return accepted.iter().map(|r| r.try_get::<String>("", "key_id").map_err(ServiceError::from)).collect();
    }
    let txn = begin_write(db).await?;
    let rows: Vec<&str> = round
        .iter()
        .map(|(key, nonce, _)| {
            values.extend([(*key).into(), nonce.to_stored().into()]);
            "(?, ?)"
        })
        .collect();
    let raise = format!(
        "UPDATE api_keys SET highest_nonce = MAX(api_keys.highest_nonce, i.nonce) \
         FROM (SELECT column1 AS key_id, column2 AS nonce FROM (VALUES {})) AS i \
         WHERE api_keys.id = i.key_id AND {} RETURNING api_keys.id AS key_id",
        rows.join(", "),
        admits("api_keys.highest_nonce", "api_keys.nonce_window", "i.nonce")
    );
    let raised: BTreeSet<String> = txn
        .query_all_raw(Statement::from_sql_and_values(DbBackend::Sqlite, raise, values))
        .await?
        .iter()
        .map(|r| r.try_get::<String>("", "key_id"))
        .collect::<Result<_, _>>()?;
    let mut accepted = BTreeSet::new();
    let raised: Vec<&(&str, Nonce, DateTime<Utc>)> = round.iter().filter(|(k, ..)| raised.contains(*k)).collect();
    if !raised.is_empty() {
        let mut values: Vec<Value> = Vec::with_capacity(raised.len() * 3);
        let rows: Vec<&str> = raised
            .iter()
            .map(|(key, nonce, at)| {
                values.extend([(*key).into(), nonce.to_stored().into(), (*at).into()]);
                "(?, ?, ?)"
            })
            .collect();
        // A window's nonce that was used already raises nothing but is
        // refused here: it is in the table (the primary key decides).
        let insert = format!(
            "INSERT INTO api_key_nonces (key_id, nonce, at) VALUES {} ON CONFLICT DO NOTHING RETURNING key_id",
            rows.join(", ")
        );
        for r in txn.query_all_raw(Statement::from_sql_and_values(DbBackend::Sqlite, insert, values)).await? {
            accepted.insert(r.try_get::<String>("", "key_id")?);
        }
    }
    txn.commit().await?;
    Ok(accepted)
}

/// The condition under which a key row accepts a nonce: strictly above the
/// highest accepted, or within the key's window below it (the difference is
/// taken as NUMERIC: stored nonces span the whole i64 range).
fn admits(highest: &str, window: &str, nonce: &str) -> String {
    format!("({nonce} > {highest} OR ({window} IS NOT NULL AND CAST({highest} AS NUMERIC) - {nonce} < {window}))")
}

/// Ends a task's turn if it stops before the queue is empty (a panic): the
/// next nonce starts a new task, and those queued are answered with an
/// error (their senders drop) rather than left waiting.
struct Recording<'a> {
    commits: &'a NonceCommits,
    unfinished: bool,
}

impl Drop for Recording<'_> {
    fn drop(&mut self) {
        if self.unfinished {
            *self.commits.queue.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }
}
