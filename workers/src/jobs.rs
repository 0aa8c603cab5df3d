//! Job payloads. Each is a small serde struct naming what to work on; the
//! state it works on lives in the service's tables, so a stale or duplicate
//! job is harmless.

use serde::{Deserialize, Serialize};

/// Deliver the invitation e-mail for one invitation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliverInvitation {
    pub invitation_id: String,
}

/// Deliver one notification e-mail (see the `notifications` table).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliverNotification {
    pub notification_id: String,
}

/// What the mail queue carries.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind")]
pub enum MailJob {
    Invitation(DeliverInvitation),
    Notification(DeliverNotification),
}
