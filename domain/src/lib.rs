//! Countersign's domain vocabulary: types that parse rather than validate.
//! Once a value of one of these types exists it is well-formed, so the rules
//! never re-check input shape. Also the role and permission table (`rbac`).
//!
//! No GraphQL and no database: the `graphql` feature (turned on by `api`
//! only) derives `async_graphql::Enum` on the vocabulary enums.

mod api_key;
mod duration;
mod email;
pub mod money;
mod rbac;
mod text;
mod window;

#[cfg(test)]
mod proptests;

pub use api_key::{ApiScope, IpAllowList, Nonce, ScopeSet, Signature, is_key_id};
pub use duration::IsoDuration;
pub use email::Email;
pub use money::{MAX_AMOUNT, MAX_PRICE_USD, MAX_USD, Overflow, UsdAmount, is_plain_decimal, parse_amount, parse_price};
pub use rbac::{Action, MemberStatus, Permission, Role, RoleSet, Workflow};
pub use text::{DisplayName, Password};
pub use window::{OutsideWindow, WithdrawalWindow};

/// Why a piece of input was refused; becomes `BAD_INPUT` with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ParseError {
    pub field: &'static str,
    pub reason: String,
}

impl ParseError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

/// A fresh random id (UUID v4 text).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
