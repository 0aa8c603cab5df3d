//! Scalars of our own: each wraps a domain type, so a value that reaches a
//! resolver has already been parsed (and a bad one is `BAD_INPUT`).
//! [`Decimal`] is ours too, so money is never read through floating point.

use crate::domain::{IsoDuration, is_plain_decimal};
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// An ISO 8601 duration of days, hours, minutes and seconds: `PT2H`, `PT30M`, `P1D`.
#[derive(Clone, Copy, Debug)]
pub struct Duration(pub IsoDuration);

#[Scalar(name = "Duration")]
impl ScalarType for Duration {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => IsoDuration::parse("duration", s).map(Duration).map_err(InputValueError::custom),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_iso())
    }
}

/// Money and other exact quantities: a `rust_decimal::Decimal` that is only
/// ever read from a [plain decimal](is_plain_decimal) string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Decimal(pub rust_decimal::Decimal);

impl From<rust_decimal::Decimal> for Decimal {
    fn from(d: rust_decimal::Decimal) -> Self {
        Decimal(d)
    }
}

/// Why `value` is not an exact decimal, or `None` when it is one.
fn inexact(value: &Value) -> Option<&'static str> {
    match value {
        Value::String(s) if is_plain_decimal(s) => None,
        Value::String(_) => Some("a Decimal is written as digits with an optional sign and point, e.g. \"1250.50\""),
        Value::Number(_) => Some("send Decimal values as strings; JSON numbers are not exact"),
        _ => Some("a Decimal is a string"),
    }
}

/// An exact decimal number, written as a string: digits with an optional
/// leading `-` and decimal point, e.g. `"1250.50"`, at most 28 significant
/// digits. JSON numbers, exponents, separators and padding are refused
/// (`BAD_INPUT`): a JSON number passes through floating point and is not exact.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        if let Some(why) = inexact(&value) {
            return Err(InputValueError::custom(why));
        }
        match &value {
            Value::String(s) => s.parse().map(Decimal).map_err(InputValueError::custom),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    /// Checked while the document is validated, so a document with an
    /// inexact `Decimal` anywhere (variable, input-object field, literal,
    /// variable default) is refused before any of it runs.
    fn is_valid(value: &Value) -> bool {
        inexact(value).is_none()
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_strings_only() {
        let ok = |v: Value| <Decimal as ScalarType>::parse(v).map(|d| d.0.to_string()).ok();
        for plain in ["0", "10", "-5", "1250.50", "0.000001", "007"] {
            assert!(<Decimal as ScalarType>::is_valid(&Value::from(plain)), "{plain}");
        }
        for loose in
            ["", "1e3", "0x10", "1,000", " 10", "10 ", "NaN", "Infinity", "+1", "1.", ".5", "1_000", "1.2.3", "-"]
        {
            assert_eq!(ok(Value::from(loose)), None, "{loose}");
        }
        assert_eq!(ok(Value::from("1250.50")), Some("1250.50".into()));
        assert_eq!(ok(Value::from("-0.000001")), Some("-0.000001".into()));
        for bad in [
            Value::from(10),
            Value::from(0.1),
            Value::from("1e3"),
            Value::from(" 1"),
            Value::from("12345678901234567890123456789"),
            Value::Boolean(true),
            Value::List(vec![Value::from("1")]),
        ] {
            assert!(!<Decimal as ScalarType>::is_valid(&bad), "{bad}");
            assert_eq!(ok(bad.clone()), None, "{bad}");
        }
        let number = <Decimal as ScalarType>::parse(Value::from(10)).unwrap_err().into_server_error(Default::default());
        assert!(number.message.contains("JSON numbers are not exact"), "{}", number.message);
        // Output as async-graphql's own Decimal wrote it: the string, scale kept.
        assert_eq!(Decimal("1250.50".parse().unwrap()).to_value(), Value::from("1250.50"));
    }
}
