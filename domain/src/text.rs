//! Bounded human text: display names and passwords.

use crate::error::ParseError;

/// A person's or organisation's display name: 1–200 characters, trimmed, no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        let len = s.chars().count();
        if len == 0 || len > 200 {
            return Err(ParseError::new(field, "must be 1 to 200 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(ParseError::new(field, "must not contain control characters"));
        }
        Ok(Self(s.to_string()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A new password: 12–256 characters. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let len = raw.chars().count();
        if !(12..=256).contains(&len) {
            return Err(ParseError::new("password", "must be 12 to 256 characters"));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded() {
        assert!(DisplayName::parse("name", "  ").is_err());
        assert!(DisplayName::parse("name", &"x".repeat(201)).is_err());
        assert!(DisplayName::parse("name", "a\u{0}b").is_err());
        assert_eq!(DisplayName::parse("name", " Acme ").unwrap().into_inner(), "Acme");
    }

    #[test]
    fn passwords_are_bounded_and_hidden() {
        assert!(Password::parse("short").is_err());
        let p = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
