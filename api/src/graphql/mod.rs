//! The GraphQL schema: thin resolvers over the services.
//!
//! - `query`, `mutation`: the root operations; each resolver reads the caller
//!   from the context, parses input, calls one service function, wraps the
//!   result in an output type.
//! - `types`: output types built from entity models; `webhooks`: endpoints
//!   and their delivery log.
//! - `error`: the single mapping to `extensions.code`.

pub mod error;
pub(crate) mod guard;
mod loaders;
mod mutation;
mod query;
mod scalars;
mod simulation;
mod subscription;
mod types;
mod webhooks;

use crate::authz::Authz;
use crate::state::AppState;
use async_graphql::{Context, Schema};
use std::net::IpAddr;
use std::sync::Arc;

pub use error::{ApiError, ApiResult};

pub type AppSchema = Schema<query::QueryRoot, mutation::MutationRoot, subscription::SubscriptionRoot>;

/// Nesting deeper than this is refused before execution.
pub const MAX_DEPTH: usize = 12;
/// The depth allowed to a document that asks for nothing but introspection
/// (`__schema`, `__type`, `__typename`): type references nest
/// (`ofType { ofType { … } }`) deeper than any data query, and GraphiQL's
/// own introspection query goes 13 levels down. Still bounded, and the
/// complexity limit applies as to any query.
pub const MAX_INTROSPECTION_DEPTH: usize = 24;

/// Query complexity (fields, with list multipliers) refused above this.
pub const MAX_COMPLEXITY: usize = 2_000;

/// The complexity of a paged list: what one item costs times how many
/// `first` asks for, so that a few large pages cost what they read
/// (`3 × auditLog(first: 500)` is over [`MAX_COMPLEXITY`]).
pub(crate) fn list_complexity(first: i32, child_complexity: usize) -> usize {
    usize::try_from(first.max(1)).unwrap_or(1).saturating_mul(child_complexity)
}

/// Builds the schema; `state` is shared by every request.
pub fn build(state: Option<Arc<AppState>>, introspection: bool) -> AppSchema {
    build_with_depth(state, introspection, MAX_DEPTH)
}

/// The schema that answers introspection-only documents
/// ([`guard::introspection_only`]) under [`MAX_INTROSPECTION_DEPTH`]; none
/// when introspection is off.
pub fn build_for_introspection(state: Option<Arc<AppState>>, introspection: bool) -> Option<AppSchema> {
    introspection.then(|| build_with_depth(state, true, MAX_INTROSPECTION_DEPTH))
}

fn build_with_depth(state: Option<Arc<AppState>>, introspection: bool, depth: usize) -> AppSchema {
    let mut b = Schema::build(query::QueryRoot, mutation::MutationRoot, subscription::SubscriptionRoot)
        .limit_depth(depth)
        .limit_complexity(MAX_COMPLEXITY)
        .extension(guard::GuardFactory { introspection });
    if let Some(state) = state {
        b = b.data(loaders::Loaders::new(state.clone())).data(state);
    }
    if !introspection {
        b = b.disable_introspection();
    }
    b.finish()
}

/// The SDL, as written to `schema.graphql`.
pub fn sdl() -> String {
    build(None, true).sdl()
}

/// The caller's network address, for throttling and API-key IP ranges.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

pub(crate) fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<Arc<AppState>>()
}

pub(crate) fn state_arc(ctx: &Context<'_>) -> Arc<AppState> {
    ctx.data_unchecked::<Arc<AppState>>().clone()
}

pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> &'a loaders::Loaders {
    ctx.data_unchecked::<loaders::Loaders>()
}

pub(crate) fn authz<'a>(ctx: &Context<'a>) -> &'a Authz {
    ctx.data_unchecked::<Arc<Authz>>()
}
