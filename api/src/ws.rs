//! Open WebSockets held to the rules every HTTP request meets.
//!
//! A WebSocket authenticates once, in `connection_init`, and may then live
//! for hours; on its own it would outlive a sign-out, an idle timeout, a
//! revoked or rotated key or a removed member. So each connection keeps the
//! credential it authenticated with ([`WsConnection`]) and re-validates it
//!
//! - on every operation the client starts (`subscribe`), which also takes
//!   one unit from the caller's rate allowance, like each HTTP operation;
//! - before every response or event is delivered, so nothing reaches a
//!   client whose credential no longer holds;
//! - and on a short tick ([`TICK`]), so a quiet connection is closed within
//!   a second too; and at once when the clock jumps (a test moving it,
//!   [`crate::clock::Clock::jumps`]).
//!
//! The checks read the database (the session or key row, and for each
//! organisation an open subscription watches, the organisation's row and the
//! membership; a session's checks are read in batches with every other
//! connection's, [`crate::session_checks`]), so they hold
//! across processes: a sign-out through one `serve` closes a socket held by
//! another. A credential that no longer holds closes the socket with 4401
//! (signed out, expired, idle, key revoked, expired or rotated past its
//! grace) or 4403 (the caller lives but may no longer use this connection: a
//! removed member, a key no longer allowed on WebSockets or from this
//! address). A check that cannot reach the database closes with 1011: the
//! client reconnects, and nothing is delivered unchecked. A server that
//! shuts down closes every socket with 1001 first ([`crate::state::AppState::stopping`]).
//!
//! **What counts as use of a session.** Only operations the client starts
//! refresh the session's last use (as an HTTP request would). Events pushed
//! to the client and protocol pings do not: an unattended console with a
//! live subscription is signed out after the idle timeout like an
//! unattended browser tab.

use crate::authz::{Actor, Authz};
use crate::graphql::{ApiError, AppSchema};
use crate::limiter::Identity;
use crate::service::{ServiceError, identity, liveness, signing};
use crate::state::AppState;
use async_graphql::{Data, Executor, Pos, Request, Response};
use futures_util::stream::{self, BoxStream, StreamExt};
use std::any::TypeId;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// How often an open connection's credential is re-checked when nothing happens on it.
pub const TICK: Duration = Duration::from_millis(500);
/// Close code: the credential no longer authenticates anyone.
pub const UNAUTHENTICATED: u16 = 4401;
/// Close code: the caller still exists but may no longer use this connection.
pub const FORBIDDEN: u16 = 4403;
/// Close code: the credential could not be checked (RFC 6455 "internal error").
pub const INTERNAL: u16 = 1011;
/// Close code: the server is shutting down (RFC 6455 "going away"); reconnect.
pub const GOING_AWAY: u16 = 1001;

/// Why the server closes a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: String,
}

impl Close {
    /// What every open socket is told when the server stops.
    pub fn going_away() -> Self {
        Close { code: GOING_AWAY, reason: "the server is shutting down; reconnect".into() }
    }

    fn of(e: &ServiceError) -> Self {
        let code = match e {
            ServiceError::Unauthenticated(_) | ServiceError::TwoFactorRequired(_) => UNAUTHENTICATED,
            ServiceError::Forbidden(_) | ServiceError::NotFound(_) => FORBIDDEN,
            _ => INTERNAL,
        };
        let reason = match e {
            ServiceError::Internal(detail) => {
                tracing::warn!(error = %detail, "could not re-check a WebSocket's credential; closing it");
                "cannot verify the connection's credential".to_string()
            }
            ServiceError::NotFound(_) => "no longer a member of an organisation this connection watches".to_string(),
            other => other.to_string(),
        };
        // A close frame's reason is at most 123 bytes.
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        Close { code, reason: reason[..end].to_string() }
    }
}

/// What a connection authenticated with, kept to check it again.
pub enum Credential {
    /// A session bearer token (re-authenticated on each operation).
    Session { token: String },
    /// An API key, and the sealed secret its `connection_init` was signed with.
    Key { key_id: String, secret_sealed: String },
    /// The operator token, which lives as long as the configuration.
    Operator,
}

/// One open WebSocket's credential, the organisations its subscriptions
/// watch, and the signal that closes it.
pub struct WsConnection {
    state: Arc<AppState>,
    peer: IpAddr,
    credential: Credential,
    /// The caller as last authenticated.
    actor: Mutex<Actor>,
    /// Organisations watched by open subscriptions, with how many watch each.
    watched: Mutex<HashMap<String, usize>>,
    close: watch::Sender<Option<Close>>,
}

impl WsConnection {
    pub fn new(
        state: Arc<AppState>,
        peer: IpAddr,
        credential: Credential,
        actor: Actor,
        close: watch::Sender<Option<Close>>,
    ) -> Self {
        Self { state, peer, credential, actor: Mutex::new(actor), watched: Mutex::default(), close }
    }

    /// Closes the connection (the first reason given wins).
    fn close_with(&self, close: Close) -> Close {
        let mut first = close.clone();
        self.close.send_if_modified(|c| match c {
            Some(existing) => {
                first = existing.clone();
                false
            }
            None => {
                *c = Some(close);
                true
            }
        });
        first
    }

    /// Re-validates the credential without counting as use; closes the
    /// connection and says why if it no longer holds.
    pub async fn check(&self) -> Result<(), Close> {
        if let Some(c) = self.close.borrow().clone() {
            return Err(c);
        }
        let now = self.state.clock.now();
        let verdict = match &self.credential {
            Credential::Operator => Ok(()),
            Credential::Key { key_id, secret_sealed } => {
                signing::still_valid(&self.state.db, &self.state.cache, key_id, secret_sealed, self.peer, now).await
            }
            Credential::Session { .. } => {
                let session_id = match &*self.actor.lock().unwrap_or_else(PoisonError::into_inner) {
                    Actor::User(u) => u.session_id.clone(),
                    _ => String::new(),
                };
                let orgs = self.watched.lock().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect();
                // Batched with every other connection's check (an event is
                // checked for all its subscribers at once).
                self.state.session_checks.check(liveness::Watch { session_id, orgs }).await
            }
        };
        verdict.map_err(|e| self.close_with(Close::of(&e)))
    }

    /// The caller's access to every organisation an open subscription
    /// watches, as [`Authz::org`] decides it for an HTTP request now
    /// (membership, second factor, the organisation's idle timeout).
    async fn check_watched(&self, actor: Actor) -> Result<(), ServiceError> {
        let orgs: Vec<String> = self.watched.lock().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect();
        if orgs.is_empty() {
            return Ok(());
        }
        let authz = self.state.authz(actor);
        for org in orgs {
            authz.org(&org).await?;
        }
        Ok(())
    }

    /// Starts an operation: re-authenticates the caller (for a session this
    /// is a use, as an HTTP request is), re-checks what the connection
    /// watches, and takes one unit of the caller's rate allowance. Gives the
    /// operation's own authorization, at the current time; or the answer to
    /// send instead (rate limited); or `None` when the connection is closing.
    async fn begin(&self) -> Result<Arc<Authz>, Option<Response>> {
        let now = self.state.clock.now();
        let actor = match &self.credential {
            Credential::Session { token } => {
                let live = async {
                    let user = identity::authenticate(&self.state.db, &self.state.session_policy, token, now)
                        .await?
                        .ok_or_else(|| {
                            ServiceError::Unauthenticated("session signed out or expired; sign in again".into())
                        })?;
                    let actor = Actor::User(user);
                    self.check_watched(actor.clone()).await?;
                    Ok::<_, ServiceError>(actor)
                };
                match live.await {
                    Ok(actor) => actor,
                    Err(e) => {
                        self.close_with(Close::of(&e));
                        return Err(None);
                    }
                }
            }
            Credential::Key { .. } | Credential::Operator => {
                self.check().await.map_err(|_| None)?;
                self.actor.lock().unwrap_or_else(PoisonError::into_inner).clone()
            }
        };
        *self.actor.lock().unwrap_or_else(PoisonError::into_inner) = actor.clone();
        if let Err(wait) = self.state.limiter.check(&Identity::of(&actor, self.peer)) {
            self.state.metrics.rate_limited.inc();
            let secs = i64::try_from(wait.as_secs()).unwrap_or(i64::MAX).saturating_add(1);
            let e: async_graphql::Error = ApiError(ServiceError::RateLimited { retry_after_secs: secs }).into();
            return Err(Some(Response::from_errors(vec![e.into_server_error(Pos::default())])));
        }
        Ok(Arc::new(self.state.authz(actor)))
    }

    /// Registers that a subscription watches `org_id` until the returned
    /// guard is dropped. Subscriptions call this once they receive from the
    /// event bus, so it also counts [`Signals::subscriptions`](crate::state::Signals).
    pub fn watch(self: &Arc<Self>, org_id: &str) -> Watching {
        *self.watched.lock().unwrap_or_else(PoisonError::into_inner).entry(org_id.to_string()).or_insert(0) += 1;
        crate::state::Signals::bump(&self.state.signals.subscriptions);
        let open = self.state.metrics.subscriptions_open.clone();
        open.inc();
        Watching { conn: Arc::downgrade(self), org_id: org_id.to_string(), open }
    }
}

/// A subscription's watch on an organisation; released when dropped.
pub struct Watching {
    conn: Weak<WsConnection>,
    org_id: String,
    /// The `countersign_subscriptions` gauge, released with the watch even
    /// when the connection has gone first.
    open: prometheus_client::metrics::gauge::Gauge,
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.open.dec();
        let Some(conn) = self.conn.upgrade() else { return };
        let mut watched = conn.watched.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = watched.get_mut(&self.org_id) {
            *n -= 1;
            if *n == 0 {
                watched.remove(&self.org_id);
            }
        }
    }
}

/// The schema as a WebSocket runs it: each operation begins with
/// [`WsConnection::begin`] and each response waits for
/// [`WsConnection::check`]; a response whose check fails is never sent (the
/// connection is closing).
#[derive(Clone)]
pub struct WsExecutor(pub AppSchema);

/// The connection stored in a WebSocket's session data by `connection_init`.
fn connection_of(data: Option<&Arc<Data>>) -> Option<Arc<WsConnection>> {
    data?.get(&TypeId::of::<Arc<WsConnection>>())?.downcast_ref::<Arc<WsConnection>>().cloned()
}

impl Executor for WsExecutor {
    fn execute(&self, request: Request) -> impl Future<Output = Response> + Send {
        let schema = self.0.clone();
        async move { schema.execute(request).await }
    }

    fn execute_stream(&self, request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let Some(conn) = connection_of(session_data.as_ref()) else {
            // No connection: connection_init never succeeded; nothing runs.
            return stream::empty().boxed();
        };
        let schema = self.0.clone();
        let session_data = session_data.unwrap_or_default();
        stream::once(async move {
            match conn.begin().await {
                Ok(authz) => schema
                    .execute_stream_with_session_data(request.data(authz), session_data)
                    .then(move |response| {
                        let conn = conn.clone();
                        async move {
                            if conn.check().await.is_err() {
                                // Withheld; the connection is being closed.
                                std::future::pending::<()>().await;
                            }
                            response
                        }
                    })
                    .boxed(),
                Err(Some(answer)) => stream::once(async move { answer }).boxed(),
                Err(None) => stream::pending().boxed(),
            }
        })
        .flatten()
        .boxed()
    }
}
