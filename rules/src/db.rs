//! Database connection and the transaction discipline.
//!
//! SQLite (the embedded default) allows one writer at a time; a write
//! transaction that starts as a reader and upgrades later can fail with
//! `SQLITE_BUSY` instead of waiting. So every write transaction begins
//! `IMMEDIATE` ([`begin_write`]), taking the write lock up front and making
//! read-modify-write sequences atomic. On PostgreSQL the same code takes row
//! locks (`SELECT … FOR UPDATE`, which the SQLite query builder omits).
//!
//! Writers of one process also queue for their turn *before* asking SQLite
//! for the lock ([`WriteTxn`]): SQLite's busy handler waits by sleeping
//! (1 ms, 2 ms, 5 ms … 100 ms between tries), so writers racing for the lock
//! idle far longer than the few hundred microseconds a write transaction
//! holds it. An async queue hands the turn over the moment it is released;
//! the busy handler remains for writers in other processes.

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// PostgreSQL connections per process unless configured
/// (`COUNTERSIGN_DB_MAX_CONNECTIONS`): every `serve` and `worker` process
/// holds up to this many, and together they must stay under the server's
/// `max_connections` (100 by default).
pub const DEFAULT_PG_POOL: u32 = 32;

/// Opens the pool with the default size; see [`connect_with`].
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, DEFAULT_PG_POOL).await
}

/// Opens the pool (`pg_pool` connections at most on PostgreSQL); on SQLite
/// also turns on WAL and foreign-key checks.
///
/// Waiting for a connection gives up after 10 s, well inside the request
/// deadline, so an exhausted pool or a full server answers with an error
/// rather than a timeout.
pub async fn connect_with(url: &str, pg_pool: u32) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false).connect_timeout(Duration::from_secs(10)).acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // A handful of connections: readers run beside the single writer (WAL);
        // a writer waits up to 30 s for the lock instead of failing.
        opts.max_connections(8)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
            })
            .map_sqlx_sqlite_pool_opts(|pool| pool.after_connect(|conn, _| Box::pin(stable_plans(conn))));
    } else {
        opts.max_connections(pg_pool.max(2)).min_connections(1);
    }
    Database::connect(opts).await
}

/// Turns on SQLite's query planner stability guarantee for `conn`.
///
/// Why: SQLite (3.51) treats a `LIMIT ?` as the number bound to it when it
/// plans, and so marks the statement to be planned again whenever that
/// parameter is bound. sea-orm binds every `LIMIT` (each `.one()` is `LIMIT
/// ?`), so without this each execution of such a statement was parsed and
/// planned afresh: an eighth of the CPU of the withdrawal bench. With the
/// guarantee a statement keeps the plan it was prepared with, whatever is
/// bound; no plan of ours depends on a bound value.
async fn stable_plans(conn: &mut sea_orm::sqlx::SqliteConnection) -> Result<(), sea_orm::sqlx::Error> {
    use libsqlite3_sys::{SQLITE_DBCONFIG_ENABLE_QPSG, SQLITE_OK, sqlite3_db_config};
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    let mut now_on: std::ffi::c_int = 0;
    // SAFETY: `db` is this connection's open handle, held locked for the
    // call; ENABLE_QPSG takes an int (1: on) and a pointer to an int that
    // receives the setting afterwards, both valid for the call.
    let rc = unsafe { sqlite3_db_config(db.as_ptr(), SQLITE_DBCONFIG_ENABLE_QPSG, 1 as std::ffi::c_int, &mut now_on) };
    if rc != SQLITE_OK || now_on != 1 {
        return Err(sea_orm::sqlx::Error::Configuration(
            format!("SQLite refused the query planner stability guarantee (rc {rc})").into(),
        ));
    }
    Ok(())
}

/// Begins a transaction that will write: `BEGIN IMMEDIATE` on SQLite, after
/// this process's turn to write; a plain `BEGIN` on PostgreSQL (where
/// writers lock rows instead).
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    let turn = match db.get_database_backend() {
        DbBackend::Sqlite => Some(writer_turns(db).lock_owned().await),
        _ => None,
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        })
        .await?;
    Ok(WriteTxn { txn, _turn: turn })
}

/// The queue of this process's writers to one SQLite file.
fn writer_turns(db: &DatabaseConnection) -> Arc<tokio::sync::Mutex<()>> {
    static TURNS: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = LazyLock::new(Default::default);
    let file = db.get_sqlite_connection_pool().connect_options().get_filename().to_path_buf();
    let mut turns = TURNS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    turns.entry(file).or_default().clone()
}

/// A write transaction from [`begin_write`]; on SQLite it holds the
/// process's turn to write until it commits or is dropped (rolled back).
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

/// Statements run inside the transaction.
#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }
    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }
    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }
    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// True when `url` names a PostgreSQL database.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres:") || url.starts_with("postgresql:")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection of an SQLite pool keeps its plans whatever is bound
    /// ([`stable_plans`]), the first one and those opened later.
    #[tokio::test]
    async fn sqlite_connections_keep_their_plans() {
        use libsqlite3_sys::{SQLITE_DBCONFIG_ENABLE_QPSG, sqlite3_db_config};
        let file = std::env::temp_dir().join(format!("countersign-qpsg-{}.db", std::process::id()));
        let db = connect(&format!("sqlite:{}?mode=rwc", file.display())).await.unwrap();
        let pool = db.get_sqlite_connection_pool();
        let (mut first, mut second) = (pool.acquire().await.unwrap(), pool.acquire().await.unwrap());
        for conn in [&mut first, &mut second] {
            let mut handle = conn.lock_handle().await.unwrap();
            let mut on: std::ffi::c_int = 0;
            // SAFETY: as in `stable_plans`; -1 reads the setting without changing it.
            unsafe { sqlite3_db_config(handle.as_raw_handle().as_ptr(), SQLITE_DBCONFIG_ENABLE_QPSG, -1, &mut on) };
            assert_eq!(on, 1);
        }
        drop((first, second));
        db.close().await.unwrap();
        let _ = std::fs::remove_file(&file);
    }
}
