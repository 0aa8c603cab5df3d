//! Database connection and the transaction discipline.
//!
//! SQLite (the embedded default) allows one writer at a time; a write
//! transaction that starts as a reader and upgrades later can fail with
//! `SQLITE_BUSY` instead of waiting. So every write transaction begins
//! `IMMEDIATE` ([`begin_write`]), taking the write lock up front and making
//! read-modify-write sequences atomic. On PostgreSQL the same code takes row
//! locks (`SELECT … FOR UPDATE`, which the SQLite query builder omits).

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
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
        opts.max_connections(8).min_connections(1).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
        });
    } else {
        opts.max_connections(pg_pool.max(2)).min_connections(1);
    }
    Database::connect(opts).await
}

/// Begins a transaction that will write: `BEGIN IMMEDIATE` on SQLite, a plain
/// `BEGIN` on PostgreSQL (where writers lock rows instead).
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    })
    .await
}

/// True when `url` names a PostgreSQL database.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres:") || url.starts_with("postgresql:")
}
