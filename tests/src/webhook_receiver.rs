//! A webhook endpoint for tests: a real HTTP server on a loopback port that
//! records every POST and answers as scripted (a status code, or holding the
//! request open so a sender can be killed mid-delivery).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the receiver answers one request.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    Status(u16),
    /// Never answers (the sender times out or dies waiting).
    Hang,
}

/// One POST as it arrived.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub content_type: String,
    pub body: String,
}

impl Delivery {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a webhook body is JSON")
    }

    /// Whether `webhook-signature` holds a valid Standard Webhooks signature
    /// of this delivery under `secret` (`whsec_…`), computed independently of
    /// the server's code.
    pub fn verifies_with(&self, secret: &str) -> bool {
        let key = STANDARD.decode(secret.trim_start_matches("whsec_")).expect("the secret is base64");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key length");
        mac.update(format!("{}.{}.{}", self.id, self.timestamp, self.body).as_bytes());
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        self.signature.split(' ').any(|s| s == expected)
    }
}

struct Shared {
    script: Mutex<VecDeque<Answer>>,
    /// The answer once the script has run out.
    otherwise: Mutex<Answer>,
    received: Mutex<Vec<Delivery>>,
    arrived: tokio::sync::watch::Sender<usize>,
}

/// The running receiver; stops when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let delivery = Delivery {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let otherwise = *shared.otherwise.lock().expect("answer");
    let answer = shared.script.lock().expect("script").pop_front().unwrap_or(otherwise);
    shared.received.lock().expect("received").push(delivery);
    shared.arrived.send_modify(|n| *n += 1);
    match answer {
        Answer::Status(code) => StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Answer::Hang => std::future::pending().await,
    }
}

impl Receiver {
    /// Listens on a free loopback port; answers `script` in order, then 200.
    pub async fn start(script: &[Answer]) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(script.iter().copied().collect()),
            otherwise: Mutex::new(Answer::Status(200)),
            received: Mutex::default(),
            arrived: tokio::sync::watch::Sender::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// The endpoint URL to register.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every POST so far, in arrival order.
    pub fn received(&self) -> Vec<Delivery> {
        self.shared.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Answers `answer` to everything once the script has run out (200 until told otherwise).
    pub fn otherwise(&self, answer: Answer) {
        *self.shared.otherwise.lock().expect("answer") = answer;
    }

    /// Waits until `n` POSTs have arrived (panics after `timeout`).
    pub async fn until(&self, n: usize, timeout: Duration) -> Vec<Delivery> {
        let mut arrived = self.shared.arrived.subscribe();
        let waited = tokio::time::timeout(timeout, arrived.wait_for(|got| *got >= n)).await;
        let got = self.received();
        assert!(waited.is_ok(), "waited {timeout:?} for {n} webhook deliveries, got {}: {got:?}", got.len());
        got
    }
}
