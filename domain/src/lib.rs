//! Countersign's domain vocabulary: types that parse rather than validate.
//! Once a value of one of these types exists it is well-formed, so the rules
//! never re-check input shape. Also the role and permission table (`rbac`)
//! and the networks withdrawals go out on, with their addresses (`network`).
//!
//! No GraphQL and no database: the `graphql` feature (turned on by `api`
//! only) derives `async_graphql::Enum` on the vocabulary enums, and the `db`
//! feature (turned on by `entity` only) makes them text column types.

mod vocabulary;

mod api_key;
mod duration;
mod email;
mod error;
mod id;
pub mod money;
mod network;
mod rbac;
mod status;
mod text;
mod webhook;
mod window;

#[cfg(test)]
mod proptests;

pub use api_key::{ApiScope, IpAllowList, Nonce, ScopeSet, Signature, is_key_id};
pub use duration::IsoDuration;
pub use email::Email;
pub use error::ParseError;
pub use id::new_id;
pub use money::{MAX_AMOUNT, MAX_PRICE_USD, MAX_USD, Overflow, UsdAmount, is_plain_decimal, parse_amount, parse_price};
pub use network::{AddressFormat, ChainAddress, Network, NetworkAsset};
pub use rbac::{Action, MemberStatus, Permission, Role, RoleSet, Workflow};
pub use status::{
    ActorKind, AlertState, DeliveryStatus, InvitationState, LedgerKind, LimitKind, LimitLayer, RecordStatus,
    RequestStatus, ThresholdLayer, WithdrawalState,
};
pub use text::{DisplayName, Password};
pub use webhook::{WebhookDeliveryStatus, WebhookEvent, WebhookUrl, is_public};
pub use window::{OutsideWindow, WithdrawalWindow};
