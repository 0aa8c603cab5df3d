//! Money as the tables store it: normalised decimal text. The two
//! conversions every aggregate needs, in a leaf module of their own.

use super::{ServiceError, ServiceResult};
use rust_decimal::Decimal;

/// Decimal text as stored: normalised, so `0.00` and `0` read the same.
pub fn text(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Parses stored decimal text (written by this module).
pub fn dec(s: &str) -> ServiceResult<Decimal> {
    s.parse().map_err(|_| ServiceError::internal(format!("stored amount {s:?} is not a decimal")))
}
