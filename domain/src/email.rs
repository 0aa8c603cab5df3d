//! E-mail addresses, compared case-insensitively.

use crate::error::ParseError;

/// A syntactically plausible e-mail address, lower-cased.
///
/// Deliberately modest: one `@`, a non-empty local part, a domain of
/// dot-separated labels, no whitespace or control characters, at most 254
/// bytes (RFC 5321). Deliverability is proven by the invitation link, not here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let bad = |why: &str| ParseError::new("email", why);
        let s = raw.trim().to_lowercase();
        if s.is_empty() || s.len() > 254 {
            return Err(bad("must be 1 to 254 characters"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("must not contain whitespace"));
        }
        let (local, domain) = s.split_once('@').ok_or_else(|| bad("must contain @"))?;
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(bad("must be local@domain"));
        }
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if !labels_ok {
            return Err(bad("domain is not valid"));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_lowercases() {
        assert_eq!(Email::parse(" Alice@Example.COM ").unwrap().as_str(), "alice@example.com");
        assert!(Email::parse("ops@localhost").is_ok());
    }

    #[test]
    fn refuses_malformed() {
        for bad in ["", "alice", "@x.com", "a@", "a@@b.com", "a b@c.com", "a@-b.com", "a@b..com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@x.com", "a".repeat(65))).is_err());
    }
}
