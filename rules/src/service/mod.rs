//! Domain services: the rules. One module per aggregate; each function takes a
//! connection, the caller's resolved access and parsed input, and returns a
//! model or a [`ServiceError`].
//!
//! The modules form no cycle. What several aggregates share sits in leaves
//! without rules of their own: [`types`] (what applying an operation changed
//! and needs), [`effects`] (after-commit jobs and events), [`limit_layer`],
//! [`request_rows`] and [`approvers`] (request statuses and lookups),
//! [`delivery`] (the one engine every e-mail goes through; [`mail`] says
//! which outbox table a job names). The dispatcher ([`operation`]) and the engine
//! ([`requests`]) sit on top.

pub mod addresses;
pub mod approver_notices;
pub mod approvers;
pub mod audit;
pub mod audit_offline;
pub mod balance_alerts;
pub mod delegations;
pub mod delivery;
pub mod effects;
mod error;
pub mod identity;
pub mod invitations;
pub mod ledger;
pub mod limit_layer;
pub mod limits;
pub mod liveness;
pub mod mail;
pub mod membership;
pub mod names;
pub mod notifications;
pub mod operation;
pub mod organization;
pub mod policies;
pub mod request_rows;
pub mod requests;
pub mod service_users;
pub mod signing;
pub mod simulation;
pub mod types;
pub mod withdrawals;

pub use error::{ServiceError, ServiceResult, is_unique_violation};
