//! Countersign's rules: everything that decides what may happen and makes it
//! happen in the database, with no GraphQL and no HTTP (`api` is the edge).
//!
//! - [`access`]: who is calling and what they may do (types and checks only);
//!   [`authz`]: the single place that resolves it.
//! - [`service`]: one module per aggregate; functions take a connection, the
//!   caller's resolved access and parsed input.
//!
//! Depends on `domain`, `entity` and `workers` (job types), never on `api`.
//! The module graph has no cycle (`tools/module-cycles.py` checks): shared
//! types sit in types-only leaves, so a dependency always points down.
//! - [`cache`]: per-process caches keyed by an organisation's audit version.
//! - [`events`]: the in-process bus of request events for subscriptions.
//! - [`db`], [`bulk`], [`keys`], [`secrets`]: write transactions, set-based updates, the master key, secret tokens.

pub mod access;
pub mod authz;
pub mod bulk;
pub mod cache;
pub mod db;
pub mod events;
pub mod keys;
pub mod secrets;
pub mod service;
