//! Scalars of our own: each wraps a domain type, so a value that reaches a
//! resolver has already been parsed (and a bad one is `BAD_INPUT`).

use crate::domain::IsoDuration;
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
