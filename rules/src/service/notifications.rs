//! Notification e-mails through the transactional outbox: a row written in
//! the same transaction as the event it reports, a job enqueued after
//! commit, and a claimed send by the [`delivery`](super::delivery) engine.

use super::ServiceResult;
use super::delivery::{DeliveryEnv, Outbox, delivery_columns};
use chrono::{DateTime, Utc};
use domain::{DeliveryStatus, new_id};
use entity::notification;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use workers::DeliverNotification;

/// Records a notification to send; returns the job to enqueue after commit.
pub(crate) async fn queue<C: ConnectionTrait>(
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
        delivery_status: Set(DeliveryStatus::Queued),
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

impl Outbox for notification::Entity {
    const KIND: &'static str = "notification";

    delivery_columns!(notification);

    fn attempts(n: &notification::Model) -> i32 {
        n.delivery_attempts
    }

    async fn compose<C: ConnectionTrait>(
        _db: &C,
        env: &DeliveryEnv<'_>,
        n: &notification::Model,
    ) -> ServiceResult<(lettre::Message, String)> {
        let message = lettre::Message::builder()
            .from(env.mail_from.parse().map_err(|e| super::ServiceError::internal(format!("mail_from: {e}")))?)
            .to(n.to_email.parse().map_err(|e| super::ServiceError::internal(format!("recipient: {e}")))?)
            .subject(n.subject.clone())
            .message_id(Some(format!("<notification-{}@countersign>", n.id)))
            .body(n.body.clone())
            .map_err(super::ServiceError::internal)?;
        Ok((message, format!("notification-{}", n.id)))
    }
}
