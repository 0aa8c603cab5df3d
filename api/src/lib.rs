//! Countersign: governance for crypto and stablecoin treasuries. This crate
//! is the edge: GraphQL, HTTP and WebSocket, the web console, the command
//! line, configuration and startup. The rules live in the `rules` crate and
//! the parsed vocabulary in `domain`; both are re-exported here under their
//! old paths (`api::service`, `api::authz`, `api::domain`, …).
//!
//! # Layout
//! - [`graphql`]: the schema, thin resolvers, output types, the one error mapping.
//! - [`http`]: routes (GraphQL over HTTP and WebSocket, health, metrics); [`console`]: the web console.
//! - [`ws`]: open WebSockets re-validated on every operation, event and tick.
//! - [`startup`]: `Application::build(config)` and graceful shutdown; [`state`]: what handlers share.
//! - [`jobs`]: what background jobs do (the `workers` crate runs them).
//! - [`cli`]: the `countersign` command line.
//! - [`metrics`], [`limiter`]: Prometheus metrics; per-identity rate limits and WebSocket caps.
//! - [`clock`], [`config`]: the injectable clock; configuration.

pub mod cli;
pub mod clock;
pub mod config;
pub use domain;
pub use rules::{authz, cache, db, events, keys, secrets, service};
pub mod console;
pub mod graphql;
pub mod graphql_http;
pub mod http;
pub mod jobs;
pub mod limiter;
pub mod metrics;
pub mod session_checks;
pub mod startup;
pub mod state;
pub mod ws;

pub use config::Config;
pub use startup::Application;
