//! API-key vocabulary: scopes, IP ranges, nonces, signatures (SPEC §2, §7).

use crate::error::ParseError;
use crate::vocabulary::vocabulary;
use ipnet::IpNet;
use std::collections::BTreeSet;
use std::net::IpAddr;

vocabulary! {
    /// What a key may do (SPEC §7). Trading and earn scopes are stored and shown
    /// but gate nothing: Countersign has no trading or earn engine.
    pub enum ApiScope {
        QueryFunds => "QUERY_FUNDS",
        Earn => "EARN",
        Deposit => "DEPOSIT",
        Withdraw => "WITHDRAW",
        QueryOpenOrders => "QUERY_OPEN_ORDERS",
        QueryClosedOrders => "QUERY_CLOSED_ORDERS",
        CreateModifyOrders => "CREATE_MODIFY_ORDERS",
        CancelCloseOrders => "CANCEL_CLOSE_ORDERS",
        QueryLedger => "QUERY_LEDGER",
        ExportData => "EXPORT_DATA",
    }
}

/// A key's scopes, stored as `A,B`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ScopeSet(BTreeSet<ApiScope>);

impl ScopeSet {
    pub fn from_input(scopes: &[ApiScope]) -> Self {
        Self(scopes.iter().copied().collect())
    }

    pub fn from_stored(s: &str) -> Result<Self, ParseError> {
        s.split(',').filter(|p| !p.is_empty()).map(ApiScope::parse).collect::<Result<_, _>>().map(Self)
    }

    pub fn to_stored(&self) -> String {
        self.0.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
    }

    pub fn contains(&self, s: ApiScope) -> bool {
        self.0.contains(&s)
    }

    pub fn to_vec(&self) -> Vec<ApiScope> {
        self.0.iter().copied().collect()
    }
}

/// An IP allow-list: addresses and CIDR ranges, IPv4 and IPv6.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IpAllowList(Vec<IpNet>);

impl IpAllowList {
    /// Parses entries like `203.0.113.7`, `10.0.0.0/8`, `2001:db8::/32`.
    pub fn parse(entries: &[String]) -> Result<Self, ParseError> {
        if entries.len() > 100 {
            return Err(ParseError::new("ipAllowlist", "at most 100 entries"));
        }
        entries
            .iter()
            .map(|e| {
                let e = e.trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map(|n| unmapped(n).trunc())
                    .map_err(|_| ParseError::new("ipAllowlist", format!("{e:?} is not an address or CIDR range")))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn from_stored(s: &str) -> Result<Self, ParseError> {
        let entries: Vec<String> = s.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect();
        Self::parse(&entries)
    }

    pub fn to_stored(&self) -> String {
        self.0.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",")
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(|n| n.to_string()).collect()
    }

    /// Whether `ip` is inside any entry. An IPv4-mapped IPv6 peer
    /// (`::ffff:a.b.c.d`, as a dual-stack socket reports IPv4 clients)
    /// counts as the IPv4 address, and an IPv4 peer also matches an IPv6
    /// range that holds its mapped form (`::/0`, `::ffff:0:0/96`).
    pub fn allows(&self, ip: IpAddr) -> bool {
        let (v4, mapped) = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), ip),
                None => (ip, ip),
            },
            IpAddr::V4(v4) => (ip, IpAddr::V6(v4.to_ipv6_mapped())),
        };
        self.0.iter().any(|n| n.contains(&v4) || n.contains(&mapped))
    }
}

/// An IPv4-mapped IPv6 range (`::ffff:127.0.0.1`, `::ffff:10.0.0.0/104`)
/// as the IPv4 range it maps (`127.0.0.1/32`, `10.0.0.0/8`); any other
/// range as written. Entries are kept in this form, so a mapped entry and
/// its IPv4 spelling are one entry.
fn unmapped(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        other => other,
    }
}

/// A request nonce: an unsigned 64-bit integer in decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Nonce(pub u64);

impl Nonce {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new("X-Api-Nonce", "must be an unsigned 64-bit decimal integer"));
        }
        s.parse::<u64>().map(Self).map_err(|_| ParseError::new("X-Api-Nonce", "must fit in 64 bits"))
    }

    /// Order-preserving map into `i64` for storage (flip the sign bit).
    pub fn to_stored(self) -> i64 {
        (self.0 ^ (1 << 63)) as i64
    }

    pub fn from_stored(v: i64) -> Self {
        Self((v as u64) ^ (1 << 63))
    }
}

/// An HMAC-SHA256 signature: 64 lowercase hex characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature(pub [u8; 32]);

impl Signature {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(ParseError::new("X-Api-Signature", "must be 64 lowercase hex characters"));
        }
        let bytes = hex::decode(s).map_err(|_| ParseError::new("X-Api-Signature", "not hex"))?;
        Ok(Self(bytes.try_into().map_err(|_| ParseError::new("X-Api-Signature", "wrong length"))?))
    }
}

/// A public key id: `cs_` and 22 URL-safe characters.
pub fn is_key_id(s: &str) -> bool {
    s.len() == 25 && s.starts_with("cs_") && s[3..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_match_v4_v6_and_ranges() {
        let l = IpAllowList::parse(&["203.0.113.7".into(), "10.0.0.0/8".into(), "2001:db8::/32".into()]).unwrap();
        assert!(l.allows("203.0.113.7".parse().unwrap()));
        assert!(!l.allows("203.0.113.8".parse().unwrap()));
        assert!(l.allows("10.200.1.1".parse().unwrap()));
        assert!(l.allows("2001:db8:1::5".parse().unwrap()));
        assert!(l.allows("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!l.allows("2001:db9::1".parse().unwrap()));
        assert_eq!(IpAllowList::from_stored(&l.to_stored()).unwrap(), l);
        assert!(IpAllowList::parse(&["10.0.0.0/33".into()]).is_err());
        // IPv4-mapped entries are stored and matched as IPv4, and both peer spellings match.
        let mapped = IpAllowList::parse(&["::ffff:127.0.0.1".into(), "::ffff:10.0.0.0/104".into()]).unwrap();
        assert_eq!(mapped.entries(), ["127.0.0.1/32", "10.0.0.0/8"]);
        for peer in ["127.0.0.1", "::ffff:127.0.0.1", "10.1.2.3", "::ffff:10.1.2.3"] {
            assert!(mapped.allows(peer.parse().unwrap()), "{peer}");
        }
        assert!(!mapped.allows("127.0.0.2".parse().unwrap()));
        assert!(!mapped.allows("::1".parse().unwrap()));
        let all_v6 = IpAllowList::parse(&["::/0".into()]).unwrap();
        assert!(all_v6.allows("192.0.2.1".parse().unwrap()), "::/0 holds every mapped IPv4 address");
        assert!(IpAllowList::parse(&["example.com".into()]).is_err());
    }

    #[test]
    fn nonces_keep_their_order_in_storage() {
        let ns = [0u64, 1, 41, 1 << 62, (1 << 63) - 1, 1 << 63, u64::MAX];
        for w in ns.windows(2) {
            assert!(Nonce(w[0]).to_stored() < Nonce(w[1]).to_stored());
            assert_eq!(Nonce::from_stored(Nonce(w[1]).to_stored()), Nonce(w[1]));
        }
        assert!(Nonce::parse("18446744073709551616").is_err());
        assert!(Nonce::parse("-1").is_err());
        assert!(Nonce::parse("1e3").is_err());
        assert_eq!(Nonce::parse("18446744073709551615").unwrap(), Nonce(u64::MAX));
    }

    #[test]
    fn signatures_and_key_ids() {
        assert!(Signature::parse(&"ab".repeat(32)).is_ok());
        assert!(Signature::parse(&"AB".repeat(32)).is_err());
        assert!(Signature::parse("abc").is_err());
        assert!(is_key_id("cs_abcdefghijklmnopqrstuv"));
        assert!(!is_key_id("cs_short"));
        assert_eq!(ApiScope::parse("QUERY_LEDGER").unwrap(), ApiScope::QueryLedger);
        let s = ScopeSet::from_input(&[ApiScope::Withdraw, ApiScope::QueryFunds]);
        assert_eq!(ScopeSet::from_stored(&s.to_stored()).unwrap(), s);
    }
}
