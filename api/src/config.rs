//! Configuration: defaults, then an optional TOML file (`countersign.toml`
//! in the working directory, or the file `COUNTERSIGN_CONFIG` names), then
//! `COUNTERSIGN_*` environment variables. [`SETTINGS`] describes each one
//! for `countersign --help` and `countersign.example.toml`.

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf};

/// Everything the service reads at start-up.
#[derive(Clone, Serialize, Deserialize)]
pub struct Config {
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// PostgreSQL connections this process may hold (SQLite uses a fixed few).
    pub db_max_connections: u32,
    /// Listen address; port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// Where `countersign worker` serves `/livez`, `/readyz` and `/metrics`.
    pub worker_bind: SocketAddr,
    /// Base of links in e-mails; defaults to `http://<bind>`.
    pub public_url: Option<String>,
    /// `smtp://host:port`; unset writes mail to `outbox_dir`.
    pub smtp_url: Option<String>,
    pub mail_from: String,
    /// Where mail goes when no SMTP server is configured.
    pub outbox_dir: PathBuf,
    /// Hex of 32 bytes; encrypts secrets at rest.
    pub master_key: Option<String>,
    /// Bearer credential of the platform operator; unset refuses operator calls.
    pub operator_token: Option<String>,
    /// Sessions unused this long expire (seconds).
    pub session_idle_secs: i64,
    /// Sessions expire this long after sign-in, used or not (seconds).
    pub session_max_secs: i64,
    /// Wrong passwords tolerated per e-mail within `throttle_window_secs`.
    pub throttle_per_email: u64,
    /// Wrong passwords tolerated per client IP within `throttle_window_secs`.
    pub throttle_per_ip: u64,
    pub throttle_window_secs: i64,
    /// Run the job workers inside `serve` (the embedded default).
    pub run_workers: bool,
    /// First retry delay of a failed e-mail (milliseconds); doubles per attempt.
    pub mail_retry_base_ms: u64,
    /// Pending requests expire after this many seconds (SPEC §4: 72 h).
    pub request_ttl_secs: i64,
    /// Serve GraphQL introspection (turn off in production if wanted).
    pub introspection: bool,
    /// Serve the console from this folder, read on every request, instead of
    /// the copy compiled into the binary: for working on `api/console/`.
    pub console_dir: Option<PathBuf>,
    /// Emit logs as JSON lines.
    pub log_json: bool,
    /// A `SENDING` e-mail claim older than this belonged to a worker that died (seconds).
    pub mail_claim_timeout_secs: i64,
    /// GraphQL requests each identity (user, API key, operator; anonymous
    /// callers per IP) may make per minute, per process; 0 turns it off.
    pub rate_limit_per_minute: u32,
    /// Requests an identity may make at once before the per-minute rate applies.
    pub rate_limit_burst: u32,
    /// Open WebSocket connections allowed per identity, per process.
    pub ws_max_per_identity: usize,
    /// Operations one HTTP request may batch; more is `BAD_INPUT`.
    pub max_batch: usize,
    /// A request (body included) that takes longer than this is cut off with 408 (seconds).
    pub request_timeout_secs: u64,
    /// A WebSocket that has not sent `connection_init` within this is closed (seconds).
    pub ws_init_timeout_secs: u64,
    /// How long a newly whitelisted address waits before it can receive,
    /// unless the organisation sets its own delay (seconds; default 24 h).
    pub address_cooling_off_secs: i64,
    /// Webhook endpoints may be plain `http://` to a loopback host (local
    /// receivers, tests); otherwise every endpoint is `https://`.
    pub webhooks_allow_http_loopback: bool,
    /// A webhook attempt in flight longer than this belonged to a worker
    /// that died, and another worker sends it again (seconds; above the
    /// 10-second attempt timeout, or a slow attempt may be sent twice).
    pub webhook_lease_secs: i64,
}

impl std::fmt::Debug for Config {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("bind", &self.bind)
            .field("public_url", &self.public_url)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("mail_from", &self.mail_from)
            .field("outbox_dir", &self.outbox_dir)
            .field("master_key", &self.master_key.as_ref().map(|_| "<set>"))
            .field("operator_token", &self.operator_token.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &url[..scheme], &url[at..]),
        _ => url.to_string(),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://countersign.db?mode=rwc".into(),
            db_max_connections: crate::db::DEFAULT_PG_POOL,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            worker_bind: SocketAddr::from(([127, 0, 0, 1], 8081)),
            public_url: None,
            smtp_url: None,
            mail_from: "countersign@localhost".into(),
            outbox_dir: PathBuf::from("outbox"),
            master_key: None,
            operator_token: None,
            session_idle_secs: 30 * 60,
            session_max_secs: 12 * 3600,
            throttle_per_email: 5,
            throttle_per_ip: 20,
            throttle_window_secs: 15 * 60,
            run_workers: true,
            mail_retry_base_ms: 30_000,
            request_ttl_secs: 72 * 3600,
            introspection: true,
            console_dir: None,
            log_json: false,
            mail_claim_timeout_secs: crate::service::delivery::CLAIM_TIMEOUT_SECS,
            rate_limit_per_minute: 1200,
            rate_limit_burst: 200,
            ws_max_per_identity: 32,
            max_batch: 10,
            request_timeout_secs: 30,
            ws_init_timeout_secs: 10,
            address_cooling_off_secs: 24 * 3600,
            webhooks_allow_http_loopback: false,
            webhook_lease_secs: 60,
        }
    }
}

impl Config {
    /// Defaults, then the TOML file — the one `COUNTERSIGN_CONFIG` names
    /// (which must exist), else `countersign.toml` if there is one — then
    /// the environment.
    pub fn load() -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match std::env::var("COUNTERSIGN_CONFIG") {
            Ok(path) if !std::path::Path::new(&path).is_file() => {
                return Err(Box::new(format!("COUNTERSIGN_CONFIG names {path}, which is not a file").into()));
            }
            Ok(path) => figment = figment.merge(Toml::file_exact(path)),
            Err(_) if std::path::Path::new(DEFAULT_FILE).is_file() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_FILE))
            }
            Err(_) => {}
        }
        figment.merge(Env::prefixed("COUNTERSIGN_").ignore(&["config"])).extract().map_err(Box::new)
    }

    /// The base URL for links in e-mails.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{bound}")).trim_end_matches('/').to_string()
    }
}

/// The configuration file read from the working directory when
/// `COUNTERSIGN_CONFIG` does not name one.
pub const DEFAULT_FILE: &str = "countersign.toml";

/// Every setting, as the TOML key (the environment variable is
/// `COUNTERSIGN_` and the key in capitals) and what it does. A test keeps it
/// equal to [`Config`]'s fields.
pub const SETTINGS: &[(&str, &str)] = &[
    ("database_url", "sqlite://… or postgres://…"),
    ("db_max_connections", "PostgreSQL connections this process may hold (SQLite uses a fixed few)"),
    ("bind", "listen address of serve; port 0 picks a free port"),
    ("worker_bind", "where `countersign worker` serves /livez, /readyz and /metrics"),
    ("public_url", "base of links in e-mails; unset: http://<bind>"),
    ("smtp_url", "smtp://host:port or smtps://user:password@host:465; unset writes mail to outbox_dir"),
    ("mail_from", "sender address of every e-mail"),
    ("outbox_dir", "where mail goes as .eml files when smtp_url is unset"),
    (
        "master_key",
        "64 hex characters; encrypts secrets at rest and keys the audit chain; unset: generated once into \
         <sqlite file>.master.key (./countersign.master.key with PostgreSQL: set it so every process shares it)",
    ),
    ("operator_token", "bearer credential of the platform operator; unset refuses operator calls"),
    ("session_idle_secs", "sessions unused this long expire"),
    ("session_max_secs", "sessions expire this long after sign-in, used or not"),
    ("throttle_per_email", "wrong passwords tolerated per e-mail within throttle_window_secs"),
    ("throttle_per_ip", "wrong passwords tolerated per client IP within throttle_window_secs"),
    ("throttle_window_secs", "the window of both sign-in throttles"),
    ("run_workers", "run the job workers inside serve (the embedded default)"),
    ("mail_retry_base_ms", "first retry delay of a failed e-mail; doubles per attempt"),
    ("request_ttl_secs", "pending requests expire after this long"),
    ("introspection", "serve GraphQL introspection"),
    ("console_dir", "serve the console from this folder instead of the binary's copy (for working on it)"),
    ("log_json", "logs as JSON lines"),
    ("mail_claim_timeout_secs", "a SENDING e-mail claim older than this belonged to a worker that died"),
    ("rate_limit_per_minute", "GraphQL requests per identity per minute, per process; 0 turns it off"),
    ("rate_limit_burst", "requests an identity may make at once before the per-minute rate applies"),
    ("ws_max_per_identity", "open WebSockets per identity, per process"),
    ("max_batch", "operations one HTTP request may batch"),
    ("request_timeout_secs", "a request (body included) taking longer is cut off with 408"),
    ("ws_init_timeout_secs", "a WebSocket that has not sent connection_init within this is closed"),
    (
        "address_cooling_off_secs",
        "how long a newly whitelisted address waits before it can receive, unless the organisation sets its own",
    ),
    (
        "webhooks_allow_http_loopback",
        "let webhook endpoints be plain http:// to a loopback host (local receivers); otherwise https:// only",
    ),
    (
        "webhook_lease_secs",
        "a webhook attempt in flight longer than this belonged to a worker that died and is sent again; keep it \
         above the 10 s attempt timeout",
    ),
];

/// The settings with their environment variables and defaults, for `--help`.
pub fn settings_help() -> String {
    let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
    let mut out = format!(
        "Settings (environment variable, default), read from {DEFAULT_FILE} or the file COUNTERSIGN_CONFIG names, \
         then the environment:\n"
    );
    for (key, what) in SETTINGS {
        let default = match &defaults[key] {
            serde_json::Value::Null => "unset".to_string(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!("  COUNTERSIGN_{:<28} {default}\n      {what}\n", key.to_uppercase()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of `Config` is described, and nothing else is.
    #[test]
    fn every_setting_is_described() {
        let fields: Vec<String> = match serde_json::to_value(Config::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let mut described: Vec<String> = SETTINGS.iter().map(|(k, _)| k.to_string()).collect();
        let mut fields = fields;
        fields.sort();
        described.sort();
        assert_eq!(fields, described);
        let help = settings_help();
        assert!(
            help.contains("COUNTERSIGN_DATABASE_URL") && help.contains("sqlite://countersign.db?mode=rwc"),
            "{help}"
        );
    }

    /// The example file names every setting and, uncommented, is a valid configuration.
    #[test]
    fn the_example_file_is_complete_and_valid() {
        let example = include_str!("../../countersign.example.toml");
        for (key, _) in SETTINGS {
            assert!(example.contains(&format!("{key} =")), "countersign.example.toml lacks {key}");
        }
        let uncommented: String = example
            .lines()
            .map(|l| l.strip_prefix("# ").filter(|l| l.contains(" = ")).unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let parsed: Result<Config, _> =
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(&uncommented)).extract();
        assert!(parsed.is_ok(), "{parsed:?}");
    }
}
