//! Amounts of money. `Decimal` everywhere, never floating point; stored as
//! decimal text so SQLite keeps them exact too. Money is accepted as text in
//! one form only, [`is_plain_decimal`].

use super::ParseError;
use rust_decimal::Decimal;

/// A non-negative US-dollar amount with at most 2 decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UsdAmount(Decimal);

/// Larger than any treasury; refusing beyond it keeps arithmetic far from overflow.
const MAX_USD: Decimal = Decimal::from_parts(0xA764_0000, 0x0DE0_B6B3, 0, false, 0); // 10^18

impl UsdAmount {
    pub fn parse(field: &'static str, value: Decimal) -> Result<Self, ParseError> {
        let v = value.normalize();
        if v.is_sign_negative() && !v.is_zero() {
            return Err(ParseError::new(field, "must not be negative"));
        }
        if v.scale() > 2 {
            return Err(ParseError::new(field, "at most 2 decimal places (cents)"));
        }
        if v > MAX_USD {
            return Err(ParseError::new(field, "is too large"));
        }
        Ok(Self(v.abs()))
    }

    /// From decimal text: a stored value (written by [`to_stored`](Self::to_stored))
    /// or an operation's payload. Only [plain decimals](is_plain_decimal).
    pub fn from_stored(s: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::new("amount", "not a plain decimal such as \"1250.50\"");
        if !is_plain_decimal(s) {
            return Err(bad());
        }
        Self::parse("amount", s.parse().map_err(|_| bad())?)
    }

    pub fn to_stored(self) -> String {
        self.0.to_string()
    }

    pub fn value(self) -> Decimal {
        self.0
    }
}

/// `-?digits[.digits]` with at most 28 significant digits (what `Decimal`
/// holds exactly): no exponent, `+`, separators, padding, NaN or infinity.
pub fn is_plain_decimal(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    !int.is_empty()
        && digits(int)
        && digits(frac)
        && frac.is_empty() != body.contains('.')
        && int.trim_start_matches('0').len() + frac.len() <= 28
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn parses_cents_and_refuses_the_rest() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(UsdAmount::parse("x", d("1250.50")).unwrap().to_stored(), "1250.5");
        assert_eq!(UsdAmount::parse("x", d("0")).unwrap().to_stored(), "0");
        assert!(UsdAmount::parse("x", d("-1")).is_err());
        assert!(UsdAmount::parse("x", d("0.001")).is_err());
        assert!(UsdAmount::parse("x", d("1.100")).is_ok(), "trailing zeros are not precision");
        assert!(UsdAmount::parse("x", d("1000000000000000001")).is_err());
        assert_eq!(MAX_USD, d("1000000000000000000"));
        let a = UsdAmount::parse("x", d("10.25")).unwrap();
        assert_eq!(UsdAmount::from_stored(&a.to_stored()).unwrap(), a);
        for loose in ["1_0", "1e3", " 1", "+1", "1.", ".5", "NaN"] {
            assert!(UsdAmount::from_stored(loose).is_err(), "{loose}");
        }
    }
}
