//! Where e-mail goes: an SMTP server (lettre), or `.eml` files in an outbox
//! directory when none is configured (the embedded default).

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("SMTP configuration: {0}")]
    Config(String),
    #[error("SMTP delivery: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("writing to the outbox: {0}")]
    Io(#[from] std::io::Error),
}

/// A configured mail transport.
#[derive(Clone)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp(_) => f.write_str("Mailer::Smtp"),
            Mailer::Outbox(p) => write!(f, "Mailer::Outbox({})", p.display()),
        }
    }
}

impl Mailer {
    /// SMTP when `smtp_url` is set (lettre URL form, e.g. `smtp://host:25`),
    /// else files under `outbox`.
    pub fn new(smtp_url: Option<&str>, outbox: PathBuf) -> Result<Self, MailError> {
        match smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| MailError::Config(e.to_string()))?
                    .timeout(Some(Duration::from_secs(15)))
                    .build();
                Ok(Mailer::Smtp(transport))
            }
            None => Ok(Mailer::Outbox(outbox)),
        }
    }

    /// Sends `message`. In outbox mode the file is named by `file_stem`, so
    /// writing the same message twice replaces rather than duplicates it.
    pub async fn send(&self, message: Message, file_stem: &str) -> Result<(), MailError> {
        match self {
            Mailer::Smtp(t) => {
                t.send(message).await?;
            }
            Mailer::Outbox(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                let tmp = dir.join(format!(".{file_stem}.tmp"));
                tokio::fs::write(&tmp, message.formatted()).await?;
                tokio::fs::rename(&tmp, dir.join(format!("{file_stem}.eml"))).await?;
            }
        }
        Ok(())
    }
}
