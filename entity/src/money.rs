//! Money columns. An [`Amount`] is an exact `Decimal` that the tables hold
//! as normalised decimal text (`1250.50` is stored as `"1250.5"`, `0.00` as
//! `"0"`): sea-orm reads a `Decimal` column from SQLite through `f64`, which
//! is not exact, so money never uses it. Text that does not parse is a read
//! error (`DbErr`), never a panic.

use rust_decimal::Decimal;
use sea_orm::DeriveValueType;
use std::fmt;
use std::str::FromStr;

/// An exact amount of money (an asset's units or US dollars) in a column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, DeriveValueType)]
#[sea_orm(value_type = "String", from_str = "Amount::from_stored", to_str = "Amount::to_stored")]
pub struct Amount(pub Decimal);

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// The text a column holds: normalised, so `0.00` and `0` are stored alike.
    pub fn to_stored(&self) -> String {
        self.0.normalize().to_string()
    }

    /// Stored text, as written by [`to_stored`](Self::to_stored) (or by the text helpers before it).
    pub fn from_stored(s: &str) -> Result<Self, rust_decimal::Error> {
        Decimal::from_str(s).map(Amount)
    }

    pub fn value(self) -> Decimal {
        self.0
    }
}

/// As read: `Decimal`'s own text, scale kept (what the column holds).
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Decimal> for Amount {
    fn from(d: Decimal) -> Self {
        Amount(d)
    }
}

impl From<Amount> for Decimal {
    fn from(a: Amount) -> Self {
        a.0
    }
}

/// In JSON (audit records, events) an amount is the string the column holds.
impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Value;
    use sea_orm::sea_query::{Nullable, ValueType};

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// What the text helpers (`money_text::text`) wrote: `d.normalize().to_string()`.
    fn old_text(d: Decimal) -> String {
        d.normalize().to_string()
    }

    #[test]
    fn writes_what_the_text_helpers_wrote() {
        for (v, stored) in [
            ("1250.50", "1250.5"),
            ("0.00", "0"),
            ("0", "0"),
            ("-0.0", "0"),
            ("1000", "1000"),
            ("0.000001", "0.000001"),
            ("1000000000000000", "1000000000000000"),
        ] {
            assert_eq!(Amount(d(v)).to_stored(), stored, "{v}");
            assert_eq!(Amount(d(v)).to_stored(), old_text(d(v)), "{v}");
            assert_eq!(Value::from(Amount(d(v))), Value::String(Some(stored.to_string())), "{v}");
        }
        assert_eq!(<Amount as Nullable>::null(), Value::String(None));
    }

    #[test]
    fn reads_stored_text_exactly_and_refuses_the_rest() {
        let read = |s: &str| <Amount as ValueType>::try_from(Value::String(Some(s.to_string())));
        assert_eq!(read("1250.5").unwrap(), Amount(d("1250.5")));
        // Beyond f64's precision: read exactly.
        assert_eq!(read("1234567890123.123456789012").unwrap().to_string(), "1234567890123.123456789012");
        // Legacy text keeps its scale when shown.
        assert_eq!(read("1250.50").unwrap().to_string(), "1250.50");
        assert!(read("ten").is_err());
        assert!(read("").is_err());
        assert_eq!(serde_json::to_value(Amount(d("10.5"))).unwrap(), serde_json::json!("10.5"));
    }
}
