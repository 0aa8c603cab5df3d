//! Request events for subscribers.
//!
//! Services publish after their transaction commits; each subscription
//! filters by organisation and re-checks the subscriber's access per event.
//! This bus is in-process (one `serve` process); several processes need a
//! shared channel such as PostgreSQL LISTEN/NOTIFY in front of it.

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Something happened to a request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestEventMsg {
    pub org_id: String,
    pub request_id: String,
    pub workflow: String,
    /// `CREATED`, `APPROVED` (one approval), `COMPLETED`, `REJECTED`,
    /// `CANCELLED`, `EXPIRED` or `FAILED`.
    pub kind: String,
}

/// Fan-out of request and balance-alert events to subscribers in this process.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<RequestEventMsg>,
    /// Organisation ids whose balance alert changed state.
    alerts: broadcast::Sender<String>,
}

impl Default for EventBus {
    fn default() -> Self {
        // A subscriber further behind than this misses events (and is told so
        // by the channel); 4096 covers bursts far beyond a treasury's pace.
        let (tx, _) = broadcast::channel(4096);
        let (alerts, _) = broadcast::channel(4096);
        Self { tx, alerts }
    }
}

impl EventBus {
    pub fn publish(&self, events: impl IntoIterator<Item = RequestEventMsg>) {
        for e in events {
            // No subscribers is not an error.
            let _ = self.tx.send(e);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<RequestEventMsg> {
        self.tx.subscribe()
    }

    /// Announces that `org_id`'s balance alert changed state.
    pub fn publish_alert(&self, org_id: &str) {
        let _ = self.alerts.send(org_id.to_string());
    }

    pub fn subscribe_alerts(&self) -> broadcast::Receiver<String> {
        self.alerts.subscribe()
    }
}
