//! The HTTP side of webhook deliveries: one POST, its status code or why
//! there was none. What is sent, signed and recorded is the rules'
//! (`rules::service::webhooks`); this only carries it.
//!
//! An endpoint's name is resolved on every connection by [`PublicOnly`],
//! which drops every address that is not on the public internet, so a name
//! that resolves (or is re-pointed, DNS rebinding) to a private or metadata
//! address is never connected to.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long one attempt may take, connection included, before it counts as failed.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// What an attempt came to: the endpoint's status code, or the transport's error.
pub type Attempt = Result<u16, String>;

/// Posts signed webhook bodies.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
}

/// Resolves names to their public addresses only (and loopback ones, where
/// the deployment allows local receivers).
struct PublicOnly {
    allow_loopback: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let usable: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| domain::is_public(a.ip()) || (allow_loopback && a.ip().is_loopback()))
                .collect();
            if usable.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}

impl WebhookSender {
    /// `allow_loopback`: whether a name may resolve to this host (local receivers).
    pub fn new(allow_loopback: bool) -> Result<Self, reqwest::Error> {
        // No redirects: a 3xx is an answer, not an instruction to send the
        // payload (and its signature) somewhere else. No proxy from the
        // environment: the address checks are about where we connect.
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnly { allow_loopback }))
            .user_agent(concat!("Countersign-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    /// POSTs `body` as JSON with `headers` to `url`.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: String) -> Attempt {
        let mut request = self.client.post(url).header("content-type", "application/json").body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        match request.send().await {
            // The body is not read: only the status counts, and a receiver's
            // answer is not ours to store.
            Ok(response) => Ok(response.status().as_u16()),
            Err(e) => Err(error_chain(&e)),
        }
    }
}

/// What went wrong, one line: the error's causes (reqwest's own message
/// omits them and repeats the URL, which the log shows beside it anyway).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let first = e.source().unwrap_or(e);
    let mut text = first.to_string();
    let mut source = first.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::WebhookSender;

    /// A name that resolves only to loopback is never connected to unless
    /// the deployment allows local receivers.
    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_not_connected_to() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let refused = WebhookSender::new(false).unwrap();
        let outcome = refused.post(&format!("http://localhost:{port}/x"), &[], "{}".into()).await;
        let error = outcome.expect_err("not connected");
        assert!(error.contains("no public address"), "{error}");
    }
}
