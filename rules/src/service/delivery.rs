//! The one delivery engine every e-mail goes through: claim, send, record,
//! retry with backoff, give up, and sweep up deliveries whose job was lost.
//!
//! A delivery is a row in an outbox table ([`Outbox`]: invitations and
//! notifications) moving `QUEUED → SENDING → SENT | FAILED`. A worker first
//! *claims* the row with a conditional update, so two workers (or a retry
//! racing a sweep) never both send; the send is recorded right after the
//! SMTP server accepts it, before the queue job is acknowledged. A worker
//! that dies between those two steps leaves a stale `SENDING` claim, which
//! the sweep retries after the claim timeout: that narrow window is the one
//! place a message can go out twice, and it then carries the same
//! `Message-ID`, so mail systems can drop the copy.

use super::{ServiceError, ServiceResult};
use crate::keys::MasterKey;
use chrono::{DateTime, Utc};
use domain::DeliveryStatus;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use std::time::Duration;
use workers::Mailer;

/// Attempts before a delivery is marked failed.
pub const MAX_ATTEMPTS: i32 = 5;
/// A `SENDING` claim older than this belonged to a worker that died
/// (the default of `COUNTERSIGN_MAIL_CLAIM_TIMEOUT_SECS`).
pub const CLAIM_TIMEOUT_SECS: i64 = 300;
/// How many lost deliveries one sweep re-enqueues per table.
const SWEEP_BATCH: u64 = 500;

/// The wait before attempt `attempts + 1`: `base`, doubling, at most an hour.
pub fn backoff(base: Duration, attempts: i32) -> Duration {
    let factor = 2u32.saturating_pow(u32::try_from(attempts - 1).unwrap_or(0));
    base.saturating_mul(factor).min(Duration::from_secs(3600))
}

/// What the delivery job needs besides the database.
pub struct DeliveryEnv<'a> {
    pub key: &'a MasterKey,
    pub mailer: &'a Mailer,
    pub mail_from: &'a str,
    pub public_url: &'a str,
    /// First retry delay; doubles each attempt.
    pub retry_base: Duration,
    /// A `SENDING` claim older than this belonged to a worker that died.
    pub claim_timeout: chrono::Duration,
}

/// The outcome of one delivery attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Someone else holds it, it was sent already, or it is no longer pending.
    NothingToDo,
    Sent,
    /// Failed; retry after this delay.
    RetryIn(Duration),
    Failed,
}

/// The delivery columns every outbox table has, under the same names.
#[derive(Clone, Copy, Debug)]
pub enum DeliveryColumn {
    Id,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedAt,
    LastError,
    SentAt,
}

/// Implements [`Outbox::column`] for an outbox entity module whose delivery
/// columns carry the usual names (`id`, `delivery_status`,
/// `delivery_attempts`, `next_attempt_at`, `delivery_claimed_at`,
/// `last_error`, `sent_at`), as every outbox table's do.
macro_rules! delivery_columns {
    ($entity:ident) => {
        fn column(c: $crate::service::delivery::DeliveryColumn) -> $entity::Column {
            use $crate::service::delivery::DeliveryColumn as D;
            match c {
                D::Id => $entity::Column::Id,
                D::Status => $entity::Column::DeliveryStatus,
                D::Attempts => $entity::Column::DeliveryAttempts,
                D::NextAttemptAt => $entity::Column::NextAttemptAt,
                D::ClaimedAt => $entity::Column::DeliveryClaimedAt,
                D::LastError => $entity::Column::LastError,
                D::SentAt => $entity::Column::SentAt,
            }
        }
    };
}
pub(crate) use delivery_columns;

/// A table whose rows are e-mails to deliver. The engine moves the delivery
/// columns; the table says what else keeps a row deliverable and writes the
/// message.
pub trait Outbox: EntityTrait {
    /// Names the row in logs and metrics: `invitation`, `notification`.
    const KIND: &'static str;

    /// The table's column for `c`.
    fn column(c: DeliveryColumn) -> Self::Column;

    /// Beyond its delivery state, what keeps a row worth sending (an
    /// invitation: still pending). Every row, by default.
    fn deliverable() -> Condition {
        Condition::all()
    }

    /// How many attempts the row has had (this one included, once claimed).
    fn attempts(m: &Self::Model) -> i32;

    /// Narrows the outcome's update to the issue of the row that was sent (an
    /// invitation re-issued meanwhile is a new message, with its own
    /// delivery). The row itself, by default.
    fn same_issue(_m: &Self::Model) -> Condition {
        Condition::all()
    }

    /// The message for a claimed row, and the stem of its outbox file.
    fn compose<C: ConnectionTrait>(
        db: &C,
        env: &DeliveryEnv<'_>,
        m: &Self::Model,
    ) -> impl Future<Output = ServiceResult<(lettre::Message, String)>> + Send;
}

/// One delivery attempt of the row `id` of outbox `O` (the queue job's body).
pub async fn deliver<O, C>(db: &C, env: &DeliveryEnv<'_>, id: &str, now: DateTime<Utc>) -> ServiceResult<Delivery>
where
    O: Outbox,
    O::Model: Sync,
    C: ConnectionTrait,
{
    use DeliveryColumn as D;
    let col = O::column;
    let claim = O::update_many()
        .col_expr(col(D::Status), Expr::value(DeliveryStatus::Sending))
        .col_expr(col(D::ClaimedAt), Expr::value(now))
        .col_expr(col(D::Attempts), Expr::col(col(D::Attempts)).add(1))
        .filter(col(D::Id).eq(id))
        .filter(O::deliverable())
        .filter(
            col(D::Status)
                .eq(DeliveryStatus::Queued)
                .or(col(D::Status).eq(DeliveryStatus::Sending).and(col(D::ClaimedAt).lt(now - env.claim_timeout))),
        )
        .exec(db)
        .await?;
    if claim.rows_affected != 1 {
        return Ok(Delivery::NothingToDo);
    }
    let row = O::find().filter(col(D::Id).eq(id)).one(db).await?.ok_or(ServiceError::NotFound(O::KIND))?;
    let attempts = O::attempts(&row);
    let result = match O::compose(db, env, &row).await {
        Ok((message, file_stem)) => env.mailer.send(message, &file_stem).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    // Only our own claim on this issue of the row is ours to settle.
    let mine = || {
        O::update_many()
            .filter(col(D::Id).eq(id))
            .filter(O::same_issue(&row))
            .filter(col(D::Status).eq(DeliveryStatus::Sending))
    };
    let kind = O::KIND;
    Ok(match result {
        Ok(()) => {
            mine()
                .col_expr(col(D::Status), Expr::value(DeliveryStatus::Sent))
                .col_expr(col(D::SentAt), Expr::value(now))
                .col_expr(col(D::LastError), Expr::value(Option::<String>::None))
                .exec(db)
                .await?;
            tracing::info!(kind, id, "e-mail sent");
            Delivery::Sent
        }
        Err(error) if attempts >= MAX_ATTEMPTS => {
            tracing::warn!(kind, id, attempts, %error, "e-mail failed for good");
            mine()
                .col_expr(col(D::Status), Expr::value(DeliveryStatus::Failed))
                .col_expr(col(D::LastError), Expr::value(error))
                .exec(db)
                .await?;
            Delivery::Failed
        }
        Err(error) => {
            let delay = backoff(env.retry_base, attempts);
            tracing::warn!(kind, id, attempts, %error, ?delay, "e-mail failed; will retry");
            let next = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1));
            mine()
                .col_expr(col(D::Status), Expr::value(DeliveryStatus::Queued))
                .col_expr(col(D::LastError), Expr::value(error))
                .col_expr(col(D::NextAttemptAt), Expr::value(next))
                .exec(db)
                .await?;
            Delivery::RetryIn(delay)
        }
    })
}

/// Deliveries of outbox `O` whose job went missing: queued well past their
/// time (the process died between commit and enqueue, or a killed worker had
/// fetched the job), or claimed by a worker that stopped answering. Both wait
/// the claim timeout; re-enqueueing one whose job is merely late is
/// harmless, since a delivery is claimed by a conditional update.
pub async fn stuck<O: Outbox, C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    claim_timeout: chrono::Duration,
) -> ServiceResult<Vec<String>> {
    use DeliveryColumn as D;
    let col = O::column;
    let cutoff = now - claim_timeout;
    Ok(O::find()
        .select_only()
        .column(col(D::Id))
        .filter(O::deliverable())
        .filter(
            col(D::Status)
                .eq(DeliveryStatus::Queued)
                .and(col(D::NextAttemptAt).lt(cutoff))
                .or(col(D::Status).eq(DeliveryStatus::Sending).and(col(D::ClaimedAt).lt(cutoff))),
        )
        .limit(SWEEP_BATCH)
        .into_tuple::<String>()
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_secs(30);
        assert_eq!(backoff(b, 1), Duration::from_secs(30));
        assert_eq!(backoff(b, 4), Duration::from_secs(240));
        assert_eq!(backoff(b, 40), Duration::from_secs(3600));
    }
}
