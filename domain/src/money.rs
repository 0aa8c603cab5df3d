//! Amounts of money. `Decimal` everywhere, never floating point; stored as
//! decimal text so SQLite keeps them exact too. Money is accepted as text in
//! one form only, [`is_plain_decimal`].
//!
//! `Decimal` holds at most 2^96 − 1 (about 7.9 × 10^28) and panics when an
//! operator overflows, so every quantity is bounded where it is parsed and
//! every product or sum of money goes through [`mul`], [`add`], [`sub`] or
//! [`sum`], which answer [`Overflow`] instead:
//!
//! - a USD price is at most [`MAX_PRICE_USD`] (10^11) with at most
//!   [`PRICE_DECIMALS`] (8) decimal places;
//! - an amount of an asset, and any holding's balance, is at most
//!   [`MAX_AMOUNT`] (10^15 units);
//! - so a holding's USD value is at most 10^26, and still carries its
//!   cents (10^28 < 7.9 × 10^28); an account's four stablecoin holdings add
//!   up to at most 4 × 10^26, cents included;
//! - a USD amount (limits, thresholds, a withdrawal's value) is at most
//!   [`MAX_USD`] (10^18), so a day's limit counters stay in range for more
//!   than 7.9 × 10^10 withdrawals.

use crate::error::ParseError;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A non-negative US-dollar amount with at most 2 decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UsdAmount(Decimal);

/// Larger than any treasury; refusing beyond it keeps arithmetic far from overflow.
pub const MAX_USD: Decimal = Decimal::from_parts(0xA764_0000, 0x0DE0_B6B3, 0, false, 0); // 10^18

/// The highest USD price of one unit of an asset.
pub const MAX_PRICE_USD: Decimal = Decimal::from_parts(0x4876_E800, 0x17, 0, false, 0); // 10^11

/// Decimal places a USD price may have.
pub const PRICE_DECIMALS: u32 = 8;

/// The most of one asset an amount (a credit, a withdrawal) or a holding's balance may be.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0); // 10^15

/// A product or sum of money that does not fit `Decimal`: refused, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}: the result is beyond the largest exact decimal (about 7.9e28)")]
pub struct Overflow(pub &'static str);

/// `a × b`, or [`Overflow`] naming `what`.
pub fn mul(what: &'static str, a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_mul(b).ok_or(Overflow(what))
}

/// `a + b`, or [`Overflow`] naming `what`.
pub fn add(what: &'static str, a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_add(b).ok_or(Overflow(what))
}

/// `a − b`, or [`Overflow`] naming `what`.
pub fn sub(what: &'static str, a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_sub(b).ok_or(Overflow(what))
}

/// The sum of `values`, or [`Overflow`] naming `what`.
pub fn sum(what: &'static str, values: impl IntoIterator<Item = Decimal>) -> Result<Decimal, Overflow> {
    values.into_iter().try_fold(Decimal::ZERO, |acc, v| add(what, acc, v))
}

/// A USD price per unit of an asset: positive, at most [`MAX_PRICE_USD`],
/// at most [`PRICE_DECIMALS`] decimal places.
pub fn parse_price(field: &'static str, value: Decimal) -> Result<Decimal, ParseError> {
    let p = value.normalize();
    if p <= Decimal::ZERO {
        return Err(ParseError::new(field, "must be positive"));
    }
    if p.scale() > PRICE_DECIMALS {
        return Err(ParseError::new(field, format!("at most {PRICE_DECIMALS} decimal places")));
    }
    if p > MAX_PRICE_USD {
        return Err(ParseError::new(field, format!("at most {MAX_PRICE_USD} USD (10^11)")));
    }
    Ok(p)
}

/// A positive amount of an asset with `decimals` decimal places, at most [`MAX_AMOUNT`].
pub fn parse_amount(field: &'static str, symbol: &str, decimals: u32, value: Decimal) -> Result<Decimal, ParseError> {
    let a = value.normalize();
    if a <= Decimal::ZERO {
        return Err(ParseError::new(field, "must be positive"));
    }
    if a.scale() > decimals {
        return Err(ParseError::new(field, format!("{symbol} has at most {decimals} decimal places")));
    }
    if a > MAX_AMOUNT {
        return Err(ParseError::new(field, format!("at most {MAX_AMOUNT} (10^15) {symbol}")));
    }
    Ok(a)
}

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
            return Err(ParseError::new(field, format!("at most {MAX_USD} USD (10^18)")));
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

/// In an operation's payload a USD amount is its decimal text; reading one
/// back (a stored payload, or a dry run's free-form operation) parses it as
/// strictly as input: plain decimal text, cents at most, bounded.
impl Serialize for UsdAmount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UsdAmount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        UsdAmount::from_stored(&text).map_err(|e| de::Error::custom(format!("a USD amount: {}", e.reason)))
    }
}

/// Serde for an exact `Decimal` held as plain decimal text (`"1250.50"`,
/// scale kept), for payload fields whose bounds depend on more than the text
/// (an asset's amount: its precision is the asset's). Anything but
/// [plain decimal](is_plain_decimal) text is refused, as at input.
pub mod plain_text {
    use crate::money::is_plain_decimal;
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(v: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let text = String::deserialize(d)?;
        let bad = || de::Error::custom(format!("{text:?} is not a plain decimal such as \"1250.50\""));
        if !is_plain_decimal(&text) {
            return Err(bad());
        }
        text.parse().map_err(|_| bad())
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
        assert_eq!(MAX_PRICE_USD, d("100000000000"));
        assert_eq!(MAX_AMOUNT, d("1000000000000000"));
        let a = UsdAmount::parse("x", d("10.25")).unwrap();
        assert_eq!(UsdAmount::from_stored(&a.to_stored()).unwrap(), a);
        for loose in ["1_0", "1e3", " 1", "+1", "1.", ".5", "NaN"] {
            assert!(UsdAmount::from_stored(loose).is_err(), "{loose}");
        }
    }

    #[test]
    fn bounds_keep_money_arithmetic_in_range() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        // The largest price times the largest amount, with the most decimals either may have.
        let price = MAX_PRICE_USD - d("0.00000001");
        let amount = MAX_AMOUNT - d("0.000000000001");
        assert!(mul("x", price, amount).is_ok());
        assert!(sum("x", std::iter::repeat_n(mul("x", MAX_PRICE_USD, MAX_AMOUNT).unwrap(), 79)).is_ok());
        // The largest value keeps its cents, and so do four of them added up.
        let mut four = sum("x", std::iter::repeat_n(mul("x", MAX_PRICE_USD, MAX_AMOUNT).unwrap(), 4)).unwrap();
        four.rescale(2);
        assert_eq!(four.to_string(), "400000000000000000000000000.00");
        assert_eq!(mul("usdValue", Decimal::MAX, d("2")), Err(Overflow("usdValue")));
        assert!(add("x", Decimal::MAX, d("1")).is_err());
        assert!(sub("x", Decimal::MIN, d("1")).is_err());
        assert!(
            parse_price("usdPrice", d("99999999999999999999")).unwrap_err().to_string().contains("100000000000 USD")
        );
        assert!(parse_price("usdPrice", d("0.000000001")).is_err());
        assert!(parse_price("usdPrice", d("0")).is_err());
        assert_eq!(parse_price("usdPrice", d("100000000000")).unwrap(), MAX_PRICE_USD);
        assert!(parse_price("usdPrice", d("100000000000.00000001")).is_err());
        assert!(parse_amount("amount", "BTC", 8, d("1000000000000000.00000001")).is_err());
        assert!(parse_amount("amount", "BTC", 8, d("0.000000001")).is_err());
        assert!(parse_amount("amount", "BTC", 8, d("1000000000000000")).is_ok());
    }
}
