//! The job queue, stored in the service's own database (apalis-sqlite or
//! apalis-postgres), so enqueued work survives restarts and is shared by
//! every `serve` and `worker` process.

use crate::jobs::MailJob;
use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("job queue database: {0}")]
    Database(#[from] sea_orm::sqlx::Error),
    #[error("job queue setup: {0}")]
    Setup(String),
    #[error("enqueueing a job: {0}")]
    Push(String),
}

/// Handle for enqueueing jobs; cheap to clone.
#[derive(Clone)]
pub enum JobQueue {
    Sqlite(SqliteStorage<MailJob>),
    Postgres(PostgresStorage<MailJob>),
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobQueue::Sqlite(_) => "JobQueue::Sqlite",
            JobQueue::Postgres(_) => "JobQueue::Postgres",
        })
    }
}

/// The queue name of e-mail deliveries (stable across releases).
pub const MAIL_QUEUE: &str = "countersign.mail";

/// Jobs of our queue waiting to run, as one SQL query over apalis's tables
/// (for the `countersign_queue_depth` gauge); `$1` / `?` is the queue name.
pub fn depth_sql(postgres: bool) -> &'static str {
    if postgres {
        "SELECT COUNT(*) FROM apalis.jobs WHERE job_type = $1 AND status = 'Pending'"
    } else {
        "SELECT COUNT(*) FROM Jobs WHERE job_type = ? AND status = 'Pending'"
    }
}

impl JobQueue {
    /// Opens the queue's own small pool on `database_url` and creates the
    /// queue tables if needed.
    ///
    /// The pool is separate from the API's on purpose: apalis tunes its
    /// SQLite connections for throughput (`synchronous = OFF`), which must not
    /// leak into the connections that write the ledger and audit trail.
    pub async fn connect(database_url: &str) -> Result<Self, QueueError> {
        if database_url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(database_url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(30));
            let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await?;
            SqliteStorage::setup(&pool).await.map_err(|e| QueueError::Setup(e.to_string()))?;
            let config = apalis_sqlite::Config::default().queue(MAIL_QUEUE);
            Ok(JobQueue::Sqlite(SqliteStorage::new(&pool).with_config(config)))
        } else {
            let pool = PgPoolOptions::new().max_connections(4).connect(database_url).await?;
            PostgresStorage::setup(&pool).await.map_err(|e| QueueError::Setup(e.to_string()))?;
            let config = apalis_postgres::Config::default().queue(MAIL_QUEUE);
            Ok(JobQueue::Postgres(PostgresStorage::new(&pool).with_config(config)))
        }
    }

    /// Enqueues one e-mail's delivery, to run after `delay` if given.
    pub async fn push(&self, job: MailJob, delay: Option<Duration>) -> Result<(), QueueError> {
        let mut task = TaskBuilder::new(job);
        if let Some(d) = delay {
            task = task.run_after(d);
        }
        let task = task.build();
        match self.clone() {
            JobQueue::Sqlite(mut s) => s.push_task(task).await.map_err(|e| QueueError::Push(e.to_string())),
            JobQueue::Postgres(mut s) => s.push_task(task).await.map_err(|e| QueueError::Push(e.to_string())),
        }
    }
}
