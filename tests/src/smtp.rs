//! A minimal SMTP server for tests: accepts every message over a real
//! loopback socket and keeps it, so tests can read what the service sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One received message.
#[derive(Clone, Debug)]
pub struct Received {
    pub rcpt_to: Vec<String>,
    pub data: String,
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    messages: Arc<Mutex<Vec<Received>>>,
    /// How many messages arrived so far; changes with each one.
    arrived: tokio::sync::watch::Sender<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Listens on `port` (to bring a "down" server back on the address a service was configured with).
    pub async fn start_on(port: u16) -> Self {
        Self::listen(port, Duration::ZERO).await
    }

    /// A sink that waits `delay` after receiving each message before it
    /// answers `250`, so a sender can be caught (and killed) mid-conversation.
    pub async fn start_slow(delay: Duration) -> Self {
        Self::listen(0, delay).await
    }

    async fn listen(port: u16, delay: Duration) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind SMTP sink");
        let addr = listener.local_addr().expect("addr");
        let messages = Arc::new(Mutex::new(Vec::new()));
        let arrived = tokio::sync::watch::Sender::new(0);
        let (store, count) = (messages.clone(), arrived.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (store, count) = (store.clone(), count.clone());
                tokio::spawn(async move {
                    let _ = session(stream, store, count, delay).await;
                });
            }
        });
        Self { addr, messages, arrived, task }
    }

    /// The `COUNTERSIGN_SMTP_URL` that reaches this sink.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Waits until at least `n` messages arrived (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        self.until(&format!("{n} messages"), timeout, |got| (got.len() >= n).then(|| got.to_vec())).await
    }

    /// `found`'s first answer over the messages received so far, asking
    /// again as each new message arrives (panics after `timeout`).
    pub async fn until<T>(&self, what: &str, timeout: Duration, mut found: impl FnMut(&[Received]) -> Option<T>) -> T {
        let mut arrived = self.arrived.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            arrived.borrow_and_update();
            let got = self.messages();
            if let Some(t) = found(&got) {
                return t;
            }
            if tokio::time::timeout_at(deadline, arrived.changed()).await.is_err() {
                panic!("expected {what} within {timeout:?}, got {} message(s)", got.len());
            }
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(
    stream: TcpStream,
    store: Arc<Mutex<Vec<Received>>>,
    arrived: tokio::sync::watch::Sender<usize>,
    delay: Duration,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut rcpt_to = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            write.write_all(b"250-sink.test\r\n250 8BITMIME\r\n").await?;
        } else if upper.starts_with("MAIL FROM") {
            rcpt_to.clear();
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO") {
            rcpt_to.push(line[8..].trim().trim_matches(|c| c == '<' || c == '>' || c == ':').to_string());
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 end with .\r\n").await?;
            let mut data = String::new();
            while let Some(l) = lines.next_line().await? {
                if l == "." {
                    break;
                }
                data.push_str(l.strip_prefix('.').filter(|_| l.starts_with("..")).unwrap_or(&l));
                data.push('\n');
            }
            if let Ok(mut m) = store.lock() {
                m.push(Received { rcpt_to: std::mem::take(&mut rcpt_to), data });
                arrived.send_replace(m.len());
            }
            // A slow server on purpose (`start_slow`): real time is the point,
            // so a sender can be caught between sending and recording it.
            tokio::time::sleep(delay).await;
            write.write_all(b"250 OK queued\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            break;
        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
            write.write_all(b"250 OK\r\n").await?;
        } else {
            write.write_all(b"502 not implemented\r\n").await?;
        }
    }
    Ok(())
}

/// Undoes quoted-printable soft line breaks and `=3D`, enough to read links
/// in a message the way a mail client would show them.
pub fn decode_qp(message: &str) -> String {
    message.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
}

/// The invitation token in a message (the link `…/invite/<token>`).
pub fn invitation_token(message: &str) -> Option<String> {
    let message = decode_qp(message);
    let start = message.find("/invite/")? + "/invite/".len();
    let token: String =
        message[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    (token.len() == 43).then_some(token)
}

/// A loopback port with nothing listening on it (for "SMTP server down").
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
