//! Request and balance-alert events for subscribers.
//!
//! Services publish after their transaction commits; each subscription
//! filters by organisation and re-checks the subscriber's access per event.
//!
//! On SQLite (one process) events fan out in memory. On PostgreSQL every
//! process may have subscribers, so events travel through `NOTIFY` on one
//! channel and every process — the publisher included — delivers what its
//! `LISTEN` connection receives: an event reaches subscribers of any `serve`
//! process, in the order it was published.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{broadcast, mpsc};

/// The PostgreSQL channel events travel on.
pub const CHANNEL: &str = "countersign_events";

/// Something happened to a request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestEventMsg {
    pub org_id: String,
    pub request_id: String,
    pub workflow: domain::Workflow,
    /// `CREATED`, `APPROVED` (one approval), `COMPLETED`, `REJECTED`,
    /// `CANCELLED`, `EXPIRED` or `FAILED`.
    pub kind: String,
}

/// A request event as this process hands it to its subscribers: every
/// subscriber receives the same `Arc`, so what the first of them loads to
/// render the event (the request, and the organisation's members' access)
/// is shared by the rest instead of being loaded once per subscriber.
#[derive(Debug)]
pub struct Delivered {
    pub msg: RequestEventMsg,
    /// Filled once, by the first subscriber that needs it; `None` if loading failed.
    pub view: tokio::sync::OnceCell<Option<Arc<EventView>>>,
}

/// What rendering one event needs, read once after it was delivered.
#[derive(Debug)]
pub struct EventView {
    pub request: entity::request::Model,
    /// Active members' access to the event's organisation, by user id.
    pub members: std::collections::HashMap<String, crate::access::OrgAccess>,
}

/// A balance-alert change as this process hands it to its subscribers,
/// shared as [`Delivered`] is.
#[derive(Debug)]
pub struct AlertDelivered {
    pub org_id: String,
    /// Filled once, by the first subscriber that needs it; `None` if loading failed.
    pub view: tokio::sync::OnceCell<Option<Arc<AlertEventView>>>,
}

/// What rendering one balance-alert change needs, read once after it was delivered.
#[derive(Debug)]
pub struct AlertEventView {
    pub alert: crate::service::types::AlertView,
    /// Active members' access to the organisation, by user id.
    pub members: std::collections::HashMap<String, crate::access::OrgAccess>,
}

/// What crosses process boundaries.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type")]
enum Wire {
    Request(RequestEventMsg),
    Alert { org_id: String },
}

/// An event as it travels on [`CHANNEL`]: `seq` only keeps one
/// statement's payloads distinct (see [`EventBus::postgres`]). Flattened, so
/// the payload is the event's own JSON with one more field.
#[derive(Serialize, Deserialize)]
struct Envelope {
    #[serde(default)]
    seq: u64,
    #[serde(flatten)]
    event: Wire,
}

/// Events one `NOTIFY` statement sends at most (each payload is under
/// PostgreSQL's 8,000-byte limit; this bounds the statement).
const NOTIFY_BATCH: usize = 256;

/// Fan-out of request and balance-alert events to subscribers.
#[derive(Clone)]
pub struct EventBus {
    requests: broadcast::Sender<Arc<Delivered>>,
    /// Organisations whose balance alert changed state.
    alerts: broadcast::Sender<Arc<AlertDelivered>>,
    /// Set on PostgreSQL: events go out through `NOTIFY`, in order.
    outbound: Option<mpsc::UnboundedSender<Wire>>,
    /// Whether events from other processes can reach us (readiness).
    connected: Arc<AtomicBool>,
}

impl Default for EventBus {
    /// An in-process bus.
    fn default() -> Self {
        // A subscriber further behind than this misses events (and is told so
        // by the channel); 4096 covers bursts far beyond a treasury's pace.
        let (requests, _) = broadcast::channel(4096);
        let (alerts, _) = broadcast::channel(4096);
        Self { requests, alerts, outbound: None, connected: Arc::new(AtomicBool::new(true)) }
    }
}

impl EventBus {
    /// A bus shared by every process on this PostgreSQL database: one task
    /// `LISTEN`s and delivers locally, one sends `NOTIFY` for what is
    /// published here. Both end when the pool closes.
    pub async fn postgres(pool: sea_orm::sqlx::PgPool) -> Result<Self, sea_orm::sqlx::Error> {
        use sea_orm::sqlx::postgres::PgListener;
        let mut bus = Self::default();
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let local = bus.clone();
        let listen_pool = pool.clone();
        tokio::spawn(async move {
            loop {
                let received = listener.recv().await;
                local.connected.store(received.is_ok(), Ordering::Release);
                match received {
                    Ok(n) => match serde_json::from_str::<Envelope>(n.payload()) {
                        Ok(e) => local.deliver(e.event),
                        Err(e) => tracing::warn!(error = %e, "ignoring a malformed event"),
                    },
                    Err(_) if listen_pool.is_closed() => break,
                    Err(e) => {
                        // PgListener reconnects on the next recv; events sent
                        // meanwhile are lost to this process's subscribers.
                        tracing::warn!(error = %e, "event listener lost its connection; reconnecting");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                }
            }
        });
        let (tx, mut rx) = mpsc::unbounded_channel::<Wire>();
        tokio::spawn(async move {
            // One statement for whatever has queued since the last one went
            // out: a burst of withdrawals' events costs one round trip, not
            // one each. Each payload carries this task's running number, as
            // PostgreSQL folds identical notifications of one transaction
            // into one (two approvals of one request would otherwise be one
            // event).
            let mut seq: u64 = 0;
            let mut queued = Vec::with_capacity(NOTIFY_BATCH);
            while rx.recv_many(&mut queued, NOTIFY_BATCH).await > 0 {
                let payloads: Vec<String> = queued
                    .drain(..)
                    .filter_map(|event| {
                        seq += 1;
                        serde_json::to_string(&Envelope { seq, event }).ok()
                    })
                    .collect();
                // `unnest` yields the array in order, and one transaction's
                // notifications are delivered in the order they were sent.
                let sent = sea_orm::sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
                    .bind(CHANNEL)
                    .bind(&payloads)
                    .execute(&pool)
                    .await;
                if let Err(e) = sent {
                    if pool.is_closed() {
                        break;
                    }
                    tracing::warn!(error = %e, events = payloads.len(), "could not publish events");
                }
            }
        });
        bus.outbound = Some(tx);
        Ok(bus)
    }

    /// False while the PostgreSQL listener is reconnecting (events from
    /// other processes are being missed); always true in memory.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    fn deliver(&self, w: Wire) {
        // No subscribers is not an error.
        match w {
            Wire::Request(msg) => {
                let _ = self.requests.send(Arc::new(Delivered { msg, view: tokio::sync::OnceCell::new() }));
            }
            Wire::Alert { org_id } => {
                let _ = self.alerts.send(Arc::new(AlertDelivered { org_id, view: tokio::sync::OnceCell::new() }));
            }
        }
    }

    fn send(&self, w: Wire) {
        match &self.outbound {
            Some(out) => {
                let _ = out.send(w);
            }
            None => self.deliver(w),
        }
    }

    pub fn publish(&self, events: impl IntoIterator<Item = RequestEventMsg>) {
        for e in events {
            self.send(Wire::Request(e));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Delivered>> {
        self.requests.subscribe()
    }

    /// Announces that `org_id`'s balance alert changed state.
    pub fn publish_alert(&self, org_id: &str) {
        self.send(Wire::Alert { org_id: org_id.to_string() });
    }

    pub fn subscribe_alerts(&self) -> broadcast::Receiver<Arc<AlertDelivered>> {
        self.alerts.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_travels_as_its_own_json_with_a_sequence_number() {
        let event = Wire::Request(RequestEventMsg {
            org_id: "org-1".into(),
            request_id: "req-1".into(),
            workflow: domain::Workflow::InitiateWithdrawal,
            kind: "APPROVED".into(),
        });
        let payload = serde_json::to_string(&Envelope { seq: 7, event: event.clone() }).unwrap();
        let back: Envelope = serde_json::from_str(&payload).unwrap();
        assert_eq!((back.seq, back.event), (7, event.clone()));
        // What a process of the previous release sends (no number) is still read.
        let bare: Envelope = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(bare.event, event);
        let alert: Envelope = serde_json::from_str(r#"{"seq":1,"type":"Alert","org_id":"org-2"}"#).unwrap();
        assert_eq!(alert.event, Wire::Alert { org_id: "org-2".into() });
    }
}
