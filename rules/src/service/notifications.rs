//! Notification e-mails through the transactional outbox: a row written in
//! the same transaction as the event it reports, a job enqueued after commit,
//! a claimed send (see `delivery`).

use super::delivery::{self, Delivery, DeliveryEnv, MAX_ATTEMPTS, status};
use super::{ServiceError, ServiceResult};
use chrono::{DateTime, Duration, Utc};
use domain::new_id;
use entity::notification;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set,
};
use workers::DeliverNotification;

/// Records a notification to send; returns the job to enqueue after commit.
pub async fn queue<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    to: &str,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> ServiceResult<DeliverNotification> {
    let n = notification::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org_id.to_string()),
        to_email: Set(to.to_string()),
        subject: Set(subject.to_string()),
        body: Set(body.to_string()),
        delivery_status: Set(status::QUEUED.into()),
        delivery_attempts: Set(0),
        next_attempt_at: Set(now),
        delivery_claimed_at: Set(None),
        last_error: Set(None),
        sent_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(DeliverNotification { notification_id: n.id })
}

/// One delivery attempt (the queue job's body).
pub async fn deliver(
    db: &DatabaseConnection,
    env: &DeliveryEnv<'_>,
    id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Delivery> {
    let claim = notification::Entity::update_many()
        .col_expr(notification::Column::DeliveryStatus, Expr::value(status::SENDING))
        .col_expr(notification::Column::DeliveryClaimedAt, Expr::value(now))
        .col_expr(notification::Column::DeliveryAttempts, Expr::col(notification::Column::DeliveryAttempts).add(1))
        .filter(notification::Column::Id.eq(id))
        .filter(
            notification::Column::DeliveryStatus.eq(status::QUEUED).or(notification::Column::DeliveryStatus
                .eq(status::SENDING)
                .and(notification::Column::DeliveryClaimedAt.lt(now - env.claim_timeout))),
        )
        .exec(db)
        .await?;
    if claim.rows_affected != 1 {
        return Ok(Delivery::NothingToDo);
    }
    let n = notification::Entity::find_by_id(id).one(db).await?.ok_or(ServiceError::NotFound("notification"))?;
    let message = lettre::Message::builder()
        .from(env.mail_from.parse().map_err(|e| ServiceError::internal(format!("mail_from: {e}")))?)
        .to(n.to_email.parse().map_err(|e| ServiceError::internal(format!("recipient: {e}")))?)
        .subject(n.subject.clone())
        .message_id(Some(format!("<notification-{}@countersign>", n.id)))
        .body(n.body.clone())
        .map_err(ServiceError::internal)?;
    let result = env.mailer.send(message, &format!("notification-{}", n.id)).await.map_err(|e| e.to_string());
    let mine = || {
        notification::Entity::update_many()
            .filter(notification::Column::Id.eq(&n.id))
            .filter(notification::Column::DeliveryStatus.eq(status::SENDING))
    };
    Ok(match result {
        Ok(()) => {
            mine()
                .col_expr(notification::Column::DeliveryStatus, Expr::value(status::SENT))
                .col_expr(notification::Column::SentAt, Expr::value(now))
                .exec(db)
                .await?;
            Delivery::Sent
        }
        Err(error) if n.delivery_attempts >= MAX_ATTEMPTS => {
            mine()
                .col_expr(notification::Column::DeliveryStatus, Expr::value(status::FAILED))
                .col_expr(notification::Column::LastError, Expr::value(error))
                .exec(db)
                .await?;
            Delivery::Failed
        }
        Err(error) => {
            let delay = delivery::backoff(env.retry_base, n.delivery_attempts);
            mine()
                .col_expr(notification::Column::DeliveryStatus, Expr::value(status::QUEUED))
                .col_expr(notification::Column::LastError, Expr::value(error))
                .col_expr(
                    notification::Column::NextAttemptAt,
                    Expr::value(now + Duration::from_std(delay).unwrap_or(Duration::hours(1))),
                )
                .exec(db)
                .await?;
            Delivery::RetryIn(delay)
        }
    })
}

/// Notifications whose job went missing (see `invitations::stuck_deliveries`).
pub async fn stuck<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    claim_timeout: chrono::Duration,
) -> ServiceResult<Vec<String>> {
    Ok(notification::Entity::find()
        .select_only()
        .column(notification::Column::Id)
        .filter(
            notification::Column::DeliveryStatus
                .eq(status::QUEUED)
                .and(notification::Column::NextAttemptAt.lt(now - claim_timeout))
                .or(notification::Column::DeliveryStatus
                    .eq(status::SENDING)
                    .and(notification::Column::DeliveryClaimedAt.lt(now - claim_timeout))),
        )
        .limit(500)
        .into_tuple::<String>()
        .all(db)
        .await?)
}
