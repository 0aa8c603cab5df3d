//! Real `countersign` processes, for tests that need to kill one.
//!
//! The binary is this package's `countersign-e2e` (the same code as
//! `countersign`, see `src/bin/`); integration tests pass its path with
//! [`countersign_exe!`]. A process is configured through `COUNTERSIGN_*`
//! variables exactly as in production, logs JSON lines (which the harness
//! reads to learn the port it bound), and can be killed with SIGKILL.

use api::Config;
use serde_json::Value;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The path of the `countersign-e2e` binary (only integration tests know it).
#[macro_export]
macro_rules! countersign_exe {
    () => {
        env!("CARGO_BIN_EXE_countersign-e2e")
    };
}

/// What a process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Serve,
    Worker,
}

/// A running `countersign serve` or `countersign worker`.
pub struct Process {
    child: Child,
    pub role: Role,
    /// The API (serve) or the operations endpoints (worker).
    pub addr: SocketAddr,
    pub base: String,
    /// Every log line it printed so far, parsed.
    pub logs: Arc<Mutex<Vec<Value>>>,
}

/// `config` as the `COUNTERSIGN_*` environment a deployment would set.
pub fn environment(config: &Config) -> Vec<(String, String)> {
    let Value::Object(fields) = serde_json::to_value(config).expect("config serialises") else {
        unreachable!("Config is a struct")
    };
    fields
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (format!("COUNTERSIGN_{}", k.to_uppercase()), v)
        })
        .collect()
}

impl Process {
    /// Starts `exe` in `role` with `config` (its bind addresses should use
    /// port 0) and waits until it reports its address and is ready.
    pub async fn start(exe: &str, role: Role, config: &Config) -> Process {
        let mut config = config.clone();
        config.bind = "127.0.0.1:0".parse().expect("addr");
        config.worker_bind = "127.0.0.1:0".parse().expect("addr");
        config.log_json = true;
        let mut child = Command::new(exe)
            .arg(match role {
                Role::Serve => "serve",
                Role::Worker => "worker",
            })
            .env_remove("COUNTERSIGN_CONFIG")
            .envs(environment(&config))
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start countersign");
        let stdout = child.stdout.take().expect("stdout");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel::<SocketAddr>();
        let store = logs.clone();
        tokio::spawn(async move {
            let mut addr_tx = Some(addr_tx);
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let parsed: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
                let addr = parsed["addr"].as_str().and_then(|a| a.parse().ok());
                if let (Some(addr), Some(tx)) = (addr, addr_tx.take_if(|_| listening(&parsed))) {
                    let _ = tx.send(addr);
                }
                if let Ok(mut logs) = store.lock() {
                    logs.push(parsed);
                }
            }
        });
        let addr = tokio::time::timeout(Duration::from_secs(60), addr_rx)
            .await
            .expect("process reported its address within 60 s")
            .expect("process exited before listening");
        let process = Process { child, role, addr, base: format!("http://{addr}"), logs };
        process.wait_ready().await;
        process
    }

    /// Polls `/readyz` until it answers 200. The process is another OS
    /// process, observable only from outside; it logs that it listens once
    /// its database and event listener are up, so the first answer is
    /// usually 200 and the retry rarely runs.
    pub async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{:?} process at {} never became ready", self.role, self.base);
    }

    /// SIGKILL: no shutdown, no draining, no flushing.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("send SIGKILL");
        let status = self.child.wait().await.expect("reap");
        assert!(!status.success(), "a killed process does not exit cleanly");
    }

    /// SIGTERM, then waits for a graceful exit.
    pub async fn terminate(mut self) {
        let pid = self.child.id().expect("running");
        let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("exits within 30 s of SIGTERM")
            .expect("reap");
        assert!(status.success(), "graceful exit: {status}");
    }
}

fn listening(line: &Value) -> bool {
    let message = line["message"].as_str().or_else(|| line["fields"]["message"].as_str()).unwrap_or_default();
    message.contains("listening") || message.contains("serving")
}
