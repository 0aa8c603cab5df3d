//! Webhook endpoints: where an organisation's events are sent, and which.
//!
//! A [`WebhookUrl`] is an absolute `https://` URL without credentials; plain
//! `http://` parses only for a loopback host and only where the deployment
//! allows it (`COUNTERSIGN_WEBHOOKS_ALLOW_HTTP_LOOPBACK`, for local receivers
//! and tests), so a signature and its payload never cross a network in clear.

use crate::error::ParseError;
use crate::vocabulary::vocabulary;
use std::net::IpAddr;

vocabulary! {
    /// The kinds of event an endpoint subscribes to.
    pub enum WebhookEvent {
        /// A request was created, approved, rejected, cancelled, expired,
        /// failed or completed; a withdrawal was requested or executed.
        Request => "REQUEST",
        /// The organisation's stablecoin balance alert changed state.
        BalanceAlert => "BALANCE_ALERT",
        /// Who may do what changed: roles, grants, members, delegations,
        /// service users and their keys.
        Permission => "PERMISSION",
    }
}

vocabulary! {
    /// Where one delivery of an event to an endpoint stands.
    pub enum WebhookDeliveryStatus {
        /// Waiting for its (next) attempt.
        Pending => "PENDING",
        /// A worker is sending it now (until its lease runs out).
        Sending => "SENDING",
        /// The endpoint answered 2xx: never sent again.
        Delivered => "DELIVERED",
        /// Every attempt failed; `redeliverWebhook` queues it again.
        Failed => "FAILED",
    }
}

/// The longest URL an endpoint may have.
pub const MAX_URL_LEN: usize = 2000;

/// An endpoint's address, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Parses `s`; `allow_http_loopback` admits `http://` to a loopback host.
    pub fn parse(s: &str, allow_http_loopback: bool) -> Result<Self, ParseError> {
        let bad = |why: &str| ParseError::new("url", why.to_string());
        let s = s.trim();
        if s.len() > MAX_URL_LEN {
            return Err(bad("at most 2000 characters"));
        }
        let url = url::Url::parse(s).map_err(|e| bad(&format!("not an absolute URL ({e})")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not carry credentials; the payload is signed instead"));
        }
        if url.fragment().is_some() {
            return Err(bad("must not have a #fragment"));
        }
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            None => return Err(bad("must name a host")),
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback && allow_http_loopback => {}
            "http" if loopback => {
                return Err(bad("plain http:// is allowed only to a loopback host where the deployment allows it"));
            }
            "http" => return Err(bad("must use https:// (plain http:// only to a loopback host)")),
            _ => return Err(bad("must be an https:// URL")),
        }
        Ok(Self(url.to_string()))
    }

    /// An already-stored URL (it parsed when the endpoint was added).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::WebhookUrl;

    #[test]
    fn https_anywhere_http_only_to_loopback_when_allowed() {
        assert!(WebhookUrl::parse("https://hooks.example.com/countersign", false).is_ok());
        assert!(WebhookUrl::parse("http://hooks.example.com/x", true).is_err());
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/x", false).is_err());
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/x", true).is_ok());
        assert!(WebhookUrl::parse("http://[::1]:9000/x", true).is_ok());
        assert!(WebhookUrl::parse("http://localhost/x", true).is_ok());
        assert!(WebhookUrl::parse("https://user:pw@example.com/", false).is_err());
        assert!(WebhookUrl::parse("ftp://example.com/", false).is_err());
        assert!(WebhookUrl::parse("/relative", false).is_err());
        assert!(WebhookUrl::parse(&format!("https://example.com/{}", "a".repeat(2000)), false).is_err());
    }
}
