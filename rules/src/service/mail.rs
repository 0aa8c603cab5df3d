//! The mail outbox as the job runtime sees it: which outbox table a
//! [`MailJob`] names, one delivery attempt of it, and the sweep over every
//! table. The engine itself is [`delivery`](super::delivery).

use super::ServiceResult;
use super::delivery::{self, Delivery, DeliveryEnv};
use chrono::{DateTime, Utc};
use entity::{invitation, notification};
use sea_orm::ConnectionTrait;
use workers::{DeliverInvitation, DeliverNotification, MailJob};

/// What the job delivers, for logs and the `countersign_jobs_total` label:
/// `deliver_invitation`, `deliver_notification`.
pub fn job_name(job: &MailJob) -> &'static str {
    match job {
        MailJob::Invitation(_) => "deliver_invitation",
        MailJob::Notification(_) => "deliver_notification",
    }
}

/// One delivery attempt of the e-mail `job` names.
pub async fn deliver<C: ConnectionTrait>(
    db: &C,
    env: &DeliveryEnv<'_>,
    job: &MailJob,
    now: DateTime<Utc>,
) -> ServiceResult<Delivery> {
    match job {
        MailJob::Invitation(j) => delivery::deliver::<invitation::Entity, _>(db, env, &j.invitation_id, now).await,
        MailJob::Notification(j) => {
            delivery::deliver::<notification::Entity, _>(db, env, &j.notification_id, now).await
        }
    }
}

/// Every e-mail whose job went missing, in every outbox table (see
/// [`delivery::stuck`]).
pub async fn lost<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    claim_timeout: chrono::Duration,
) -> ServiceResult<Vec<MailJob>> {
    let invitations = delivery::stuck::<invitation::Entity, _>(db, now, claim_timeout).await?;
    let notifications = delivery::stuck::<notification::Entity, _>(db, now, claim_timeout).await?;
    Ok(invitations
        .into_iter()
        .map(|invitation_id| MailJob::Invitation(DeliverInvitation { invitation_id }))
        .chain(
            notifications
                .into_iter()
                .map(|notification_id| MailJob::Notification(DeliverNotification { notification_id })),
        )
        .collect())
}
