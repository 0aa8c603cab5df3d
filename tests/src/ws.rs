//! A graphql-transport-ws client for tests, over a real WebSocket.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct WsClient {
    socket: Socket,
}

/// What a connection attempt ended with.
#[derive(Debug)]
pub enum Handshake {
    Acked(Box<WsClient>),
    /// The server closed the connection (code, reason).
    Refused(u16, String),
}

impl WsClient {
    /// Connects and completes `connection_init`; panics if refused.
    pub async fn connect(base: &str, init_payload: Value) -> Self {
        match Self::try_connect(base, init_payload).await {
            Handshake::Acked(c) => *c,
            Handshake::Refused(code, reason) => panic!("WebSocket refused: {code} {reason}"),
        }
    }

    pub async fn try_connect(base: &str, init_payload: Value) -> Handshake {
        let url = format!("{}/graphql/ws", base.replacen("http", "ws", 1));
        let mut req = url.into_client_request().expect("ws request");
        req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
        let (mut socket, _) = tokio_tungstenite::connect_async(req).await.expect("ws connect");
        let init = json!({"type": "connection_init", "payload": init_payload});
        socket.send(Message::Text(init.to_string().into())).await.expect("send init");
        loop {
            match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).expect("json");
                    if v["type"] == "connection_ack" {
                        return Handshake::Acked(Box::new(WsClient { socket }));
                    }
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    let (code, reason) =
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((0, String::new()));
                    return Handshake::Refused(code, reason);
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => return Handshake::Refused(0, e.to_string()),
                Ok(None) => return Handshake::Refused(0, "closed".into()),
                Err(_) => panic!("no connection_ack within 5 s"),
            }
        }
    }

    /// Starts a subscription with the given id.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let msg = json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}});
        self.socket.send(Message::Text(msg.to_string().into())).await.expect("send subscribe");
    }

    /// The next `next`/`error` message's payload, or `None` after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(tokio::time::Instant::now())?;
            match tokio::time::timeout(left, self.socket.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).expect("json");
                    match v["type"].as_str() {
                        Some("next") => return Some(v["payload"].clone()),
                        Some("error") => return Some(json!({"errors": v["payload"]})),
                        Some("ping") => {
                            let _ = self.socket.send(Message::Text(json!({"type": "pong"}).to_string().into())).await;
                        }
                        _ => {}
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => return None,
            }
        }
    }
}

/// How a connection ended, as [`WsClient::until_closed`] saw it.
#[derive(Debug)]
pub struct Closed {
    /// The close frame's code and reason; `None` if the connection was still open at the deadline.
    pub close: Option<(u16, String)>,
    /// Every `next` / `error` payload that arrived before the close.
    pub delivered: Vec<Value>,
    /// When the close frame arrived.
    pub at: tokio::time::Instant,
}

impl WsClient {
    /// Sends one text message as it is (for messages no well-behaved client sends).
    pub async fn send_raw(&mut self, text: String) {
        let _ = self.socket.send(Message::text(text)).await;
    }

    /// Reads until the server closes the connection or `timeout` passes.
    pub async fn until_closed(&mut self, timeout: Duration) -> Closed {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delivered = Vec::new();
        loop {
            let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now()) else {
                return Closed { close: None, delivered, at: tokio::time::Instant::now() };
            };
            match tokio::time::timeout(left, self.socket.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).expect("json");
                    match v["type"].as_str() {
                        Some("next") => delivered.push(v["payload"].clone()),
                        Some("error") => delivered.push(json!({"errors": v["payload"]})),
                        _ => {}
                    }
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    let close = frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((0, String::new()));
                    return Closed { close: Some(close), delivered, at: tokio::time::Instant::now() };
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => {
                    return Closed { close: Some((0, e.to_string())), delivered, at: tokio::time::Instant::now() };
                }
                Ok(None) => {
                    return Closed { close: Some((0, "ended".into())), delivered, at: tokio::time::Instant::now() };
                }
                Err(_) => return Closed { close: None, delivered, at: tokio::time::Instant::now() },
            }
        }
    }

    /// Runs a query or mutation over the socket (a `subscribe` that answers
    /// once) and returns its payload, or `None` if nothing came within `timeout`.
    pub async fn query(&mut self, id: &str, query: &str, variables: Value, timeout: Duration) -> Option<Value> {
        self.subscribe(id, query, variables).await;
        self.next(timeout).await
    }
}

impl std::fmt::Debug for WsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsClient")
    }
}
