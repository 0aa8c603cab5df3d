//! Countersign's rules: everything that decides what may happen and makes it
//! happen in the database, with no GraphQL and no HTTP (`api` is the edge).
//!
//! - [`authz`]: the single place that resolves who may do what.
//! - [`service`]: one module per aggregate; functions take a connection, the
//!   caller's resolved access and parsed input.
//! - [`cache`]: per-process caches keyed by an organisation's audit version.
//! - [`events`]: the in-process bus of request events for subscriptions.
//! - [`db`], [`keys`], [`secrets`]: write transactions, the master key, secret tokens.

pub mod access;
pub mod authz;
pub mod cache;
pub mod db;
pub mod events;
pub mod keys;
pub mod secrets;
pub mod service;
