//! Webhook endpoints: where an organisation's events are sent, and which.
//!
//! A [`WebhookUrl`] is an absolute `https://` URL without credentials; plain
//! `http://` parses only for a loopback host and only where the deployment
//! allows it (`COUNTERSIGN_WEBHOOKS_ALLOW_HTTP_LOOPBACK`, for local receivers
//! and tests), so a signature and its payload never cross a network in clear.
//!
//! An endpoint is chosen by an organisation's admin but called by our
//! servers, from inside our network: so it must be a public address
//! ([`is_public`]), never a private, link-local or metadata one (server-side
//! request forgery). The URL's IP literal is checked here; a name is checked
//! again on every send, against the addresses it resolves to then.

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
        let ip = match url.host() {
            Some(url::Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                (d == "localhost" || d.ends_with(".localhost")).then_some(IpAddr::from([127, 0, 0, 1]))
            }
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            None => return Err(bad("must name a host")),
        };
        let loopback = ip.is_some_and(|ip| ip.is_loopback());
        if loopback && !allow_http_loopback {
            return Err(bad("a loopback host is allowed only where the deployment allows local receivers"));
        }
        if let Some(ip) = ip.filter(|ip| !ip.is_loopback() && !is_public(*ip)) {
            return Err(bad(&format!(
                "{ip} is not a public address (private, link-local and reserved ones are refused)"
            )));
        }
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return Err(bad("must use https:// (plain http:// only to a loopback host)")),
            _ => return Err(bad("must be an https:// URL")),
        }
        Ok(Self(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Address ranges that are not the public internet: this host, private
/// networks, link-local (cloud metadata lives at 169.254.169.254), shared
/// carrier NAT, documentation, benchmarking, multicast and reserved ones.
const NOT_PUBLIC: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/3",
    "::/127",
    "64:ff9b::/96",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// Whether `ip` is on the public internet (an IPv4-mapped IPv6 address is
/// judged as the IPv4 address it carries).
pub fn is_public(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    static RANGES: std::sync::LazyLock<Vec<ipnet::IpNet>> =
        std::sync::LazyLock::new(|| NOT_PUBLIC.iter().filter_map(|net| net.parse().ok()).collect());
    !RANGES.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::{WebhookUrl, is_public};

    #[test]
    fn only_public_addresses_are_public() {
        for ip in ["10.1.2.3", "127.0.0.1", "169.254.169.254", "172.31.0.1", "192.168.1.1", "100.64.0.1", "0.0.0.0"]
            .iter()
            .chain(&["::1", "::", "fe80::1", "fd00::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "ff02::1"])
        {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "::ffff:1.1.1.1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn private_and_metadata_hosts_are_refused() {
        for url in [
            "https://10.0.0.5/hook",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00::1]/x",
            "https://[::ffff:192.168.0.1]/x",
            "https://0.0.0.0/x",
        ] {
            assert!(WebhookUrl::parse(url, true).is_err(), "{url}");
        }
        assert!(WebhookUrl::parse("https://127.0.0.1/x", false).is_err(), "loopback needs the setting");
        assert!(WebhookUrl::parse("https://localhost/x", false).is_err(), "loopback needs the setting");
        assert!(WebhookUrl::parse("https://127.0.0.1:8443/x", true).is_ok());
        assert!(WebhookUrl::parse("https://93.184.215.14/x", false).is_ok());
    }

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
