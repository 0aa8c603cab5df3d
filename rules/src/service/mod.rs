//! Domain services: the rules. One module per aggregate; each function takes a
//! connection, the caller's resolved access and parsed input, and returns a
//! model or a [`ServiceError`].
//!
//! The modules form no cycle. What several aggregates share sits in leaves
//! without rules of their own: [`types`] (what applying an operation changed
//! and needs), [`effects`] (after-commit jobs and events),
//! [`request_rows`] and [`approvers`] (request lookups),
//! [`delivery`] (the one engine every e-mail goes through; [`mail`] says
//! which outbox table a job names). The dispatcher ([`operation`]) and the engine
//! ([`requests`]) sit on top, and [`sequencer`] above them applies new
//! withdrawals in per-organisation batches.
//!
//! # Who may call what
//!
//! Every function here that reads or writes an organisation's data and is
//! `pub` takes the caller's [`OrgAccess`](crate::access::OrgAccess) and asks
//! it first, relation reads included (a member's grants, a request's
//! approvals, the people behind a list: [`membership::users`]). Helpers that
//! take a bare organisation id are `pub(crate)`: only the rules call them,
//! after a check. The other entry points say in their signature why they
//! need no access:
//!
//! - personal: the caller's own account and session take the
//!   [`UserSession`](crate::access::UserSession) (sign-out, TOTP, recovery
//!   codes, [`identity::me`], [`membership::of_user`]); signing up and in
//!   and an invitation's preview (its token is the capability) take none;
//! - operator: [`ledger::credit`] and [`ledger::set_price`] take the
//!   [`Operator`](crate::access::Operator) capability, which only
//!   `Actor::require_operator` makes;
//! - authentication: [`identity::authenticate`], [`signing`], [`liveness`]
//!   establish the caller and so come before any access;
//! - system: the job runtime's entry points, run by the platform for every
//!   organisation, never on a caller's behalf — [`requests::expire_stale`],
//!   [`limits::prune`], [`balance_alerts::recompute_all`] (and the
//!   [`balance_alerts::totals`] it reads), [`approver_notices::send_due`],
//!   the mail deliveries and sweeps ([`mail::deliver`], [`mail::lost`]),
//!   and the event bus's fan-out read [`requests::event_view`] (each
//!   subscriber then sees only what [`requests::event_for`] allows), and
//!   the webhook fan-out and deliveries ([`webhooks::enqueue_events`], [`webhooks::has_due`],
//!   [`webhooks::deliver_due`], [`webhooks::prune`]).

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
pub mod limits;
pub mod liveness;
pub mod mail;
pub mod membership;
pub mod names;
pub mod nonces;
pub mod notifications;
pub mod operation;
pub mod org_reads;
pub mod organization;
pub mod pending;
pub mod policies;
pub mod request_rows;
pub mod requests;
pub mod sequencer;
pub mod service_users;
pub mod signing;
pub mod simulation;
pub mod types;
pub mod webhooks;
pub mod withdrawals;

pub use error::{LimitBreach, ServiceError, ServiceResult, is_unique_violation};
