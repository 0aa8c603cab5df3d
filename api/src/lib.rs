//! Countersign: governance for crypto and stablecoin treasuries.
//!
//! # Layout
//! - [`domain`]: parsed newtypes and the role table; values that exist are valid.
//! - [`service`]: the rules, one module per aggregate; functions take a
//!   connection, the caller's resolved access and parsed input.
//! - [`authz`]: the single place that decides who may do what.
//! - [`graphql`]: the schema, thin resolvers, output types, the one error mapping.
//! - [`events`]: request events for subscriptions.
//! - [`http`]: routes (GraphQL over HTTP and WebSocket, health, metrics); [`console`]: the web console.
//! - [`ws`]: open WebSockets re-validated on every operation, event and tick.
//! - [`startup`]: `Application::build(config)` and graceful shutdown.
//! - [`jobs`]: what background jobs do (the `workers` crate runs them).
//! - [`cli`]: the `countersign` command line.
//! - [`metrics`], [`limiter`]: Prometheus metrics; per-identity rate limits and WebSocket caps.
//! - [`clock`], [`config`], [`db`], [`keys`], [`secrets`]: plumbing.

pub mod cli;
pub mod clock;
pub mod config;
pub use domain;
pub use rules::{authz, cache, db, events, keys, secrets, service};
pub mod console;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod limiter;
pub mod metrics;
pub mod startup;
pub mod state;
pub mod ws;

pub use config::Config;
pub use startup::Application;
