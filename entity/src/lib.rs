//! sea-orm models of Countersign's tables.
//!
//! Data only: no GraphQL derives, no business rules. Ids are UUID strings
//! (identical on SQLite and PostgreSQL), times are UTC, enum columns are the
//! domain's vocabulary enums (`RequestStatus`, `Workflow`, …: text holding
//! their upper-case names, mapped by `domain`'s `vocabulary!` and nowhere
//! else), and money columns are [`money::Amount`] (exact, stored as decimal
//! text).

pub mod account;
pub mod address;
pub mod api_key;
pub mod api_key_nonce;
pub mod approval;
pub mod approver_notice;
pub mod asset;
pub mod audit_checkpoint;
pub mod audit_record;
pub mod balance_alert;
pub mod balance_alert_history;
pub mod delegation;
pub mod holding;
pub mod invitation;
pub mod ledger_entry;
pub mod limit_counter;
pub mod member;
pub mod money;
pub mod notification;
pub mod organization;
pub mod permission_grant;
pub mod policy;
pub mod recovery_code;
pub mod request;
pub mod risk_limit;
pub mod secret_holder;
pub mod service_user;
pub mod session;
pub mod sign_in_failure;
pub mod user;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod withdrawal;
