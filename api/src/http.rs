//! HTTP routes: GraphQL over HTTP and WebSocket, and the operations routes
//! (liveness, readiness, Prometheus metrics).
//!
//! The GraphQL handlers read the raw body (or, for GET, the raw query
//! string) themselves rather than through the async-graphql-axum extractor,
//! so that the body-size limit applies and signed API-key requests are
//! verified over the exact bytes sent; media types and status codes are
//! [`crate::graphql_http`]'s.
//!
//! Abuse protection lives here, at the edge: a per-identity request rate
//! (429 `RATE_LIMITED` with `Retry-After`), a cap on WebSockets per identity,
//! a deadline on every request including its body (408), and a deadline on
//! a WebSocket's `connection_init`, so slow or silent clients cannot hold
//! connections open for free.

use crate::authz::Actor;
use crate::graphql::{AppSchema, ClientIp, error::ensure_codes};
use crate::graphql_http::{self, GetRefusal, MediaType};
use crate::limiter::Identity;
use crate::metrics::{CodeLabels, HttpLabels, Metrics, RouteLabels};
use crate::secrets;
use crate::service::{ServiceError, ServiceResult, identity, signing};
use crate::state::AppState;
use crate::ws::{self, Credential, WsConnection, WsExecutor};
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{BatchRequest, Data};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message};
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use entity::organization;
use futures_util::{SinkExt, StreamExt};
use sea_orm::ConnectionTrait;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

/// Requests with larger bodies are refused (SPEC §1).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A WebSocket's read buffer. tungstenite zeroes the whole buffer before
/// every read, so at its 128 KiB default an event's fan-out to a thousand
/// sockets spent more time in `memset` than in everything else it did; the
/// client's messages are small (a larger one still arrives, in more reads).
pub const WS_READ_BUFFER: usize = 8 * 1024;

#[derive(Clone)]
pub struct Http {
    pub state: Arc<AppState>,
    pub schema: AppSchema,
    /// Answers documents that ask for nothing but introspection (see
    /// [`crate::graphql::MAX_INTROSPECTION_DEPTH`]); none when it is off.
    pub introspection_schema: Option<AppSchema>,
}

/// The API: GraphQL over HTTP and WebSocket, plus [`ops_router`].
pub fn router(http: Http) -> Router {
    let state = http.state.clone();
    let deadline = Duration::from_secs(state.config.request_timeout_secs);
    let routes = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(http)
        .merge(ops_router(state.clone()))
        .merge(crate::console::router(state.config.console_dir.clone()));
    catch_panics(routes)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, deadline))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), track))
        // One access-log line per request (method, path, status, latency),
        // inside a span that the request's own log lines carry.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(LatencyUnit::Micros)),
        )
}

/// What every process serves, `worker` included: `/livez` (the process
/// answers), `/readyz` and `/healthz` (it can do its work: the database
/// answers and, on PostgreSQL, the event listener is connected) and
/// `/metrics` (Prometheus text format).
pub fn ops_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/healthz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Counts each request and its latency by route and status.
async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.http_duration.get_or_create(&RouteLabels { route: route.clone() }).observe(started.elapsed().as_secs_f64());
    metrics.http_requests.get_or_create(&HttpLabels { route, status: response.status().as_u16() }).inc();
    response
}

/// The bearer token; `None` without an `Authorization` header. Any other
/// header value is malformed: `UNAUTHENTICATED`, not an anonymous caller.
fn bearer(headers: &HeaderMap) -> ServiceResult<Option<&str>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| Some(token.trim()))
        .ok_or_else(|| ServiceError::Unauthenticated("the Authorization header must be `Bearer <token>`".into()))
}

/// Establishes who is calling from a bearer credential: the operator token,
/// a live session, or nobody (no credential at all). A credential that names
/// no live session — malformed, unknown, ended, idle or too old — is
/// `UNAUTHENTICATED`, never an anonymous caller, so a client learns that its
/// token is stale instead of silently seeing less.
pub async fn actor_for_token(state: &AppState, token: Option<&str>) -> ServiceResult<Actor> {
    Ok(actor_and_orgs_for_token(state, token).await?.0)
}

/// [`actor_for_token`], and the rows of the person's organisations read in
/// the same query ([`identity::authenticate_with_orgs`]), for the request
/// to reuse.
async fn actor_and_orgs_for_token(
    state: &AppState,
    token: Option<&str>,
) -> ServiceResult<(Actor, Vec<Arc<organization::Model>>)> {
    let Some(token) = token else { return Ok((Actor::Anonymous, Vec::new())) };
    if let Some(op) = &state.config.operator_token
        && secrets::constant_time_eq(op.as_bytes(), token.as_bytes())
    {
        return Ok((Actor::Operator, Vec::new()));
    }
    let (user, orgs) = identity::authenticate_with_orgs(&state.db, &state.session_policy, token, state.clock.now())
        .await?
        .ok_or_else(|| {
            ServiceError::Unauthenticated("the session token is invalid, ended or expired; sign in again".into())
        })?;
    Ok((Actor::User(user), orgs.into_iter().map(Arc::new).collect()))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An authentication failure before GraphQL runs, in GraphQL's error shape.
fn refusal(e: ServiceError) -> Response {
    let gql: async_graphql::Error = crate::graphql::ApiError(e.clone()).into();
    let status = match e {
        ServiceError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
        ServiceError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let extensions = gql.extensions.as_ref().map(|x| serde_json::to_value(x).unwrap_or_default());
    let body = serde_json::json!({"errors": [{"message": gql.message, "extensions": extensions}]});
    let mut response = (status, Json(body)).into_response();
    if let ServiceError::RateLimited { retry_after_secs } = e {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
    }
    response
}

/// Turns a panic in any route into [`panic_response`] (inside the timeout,
/// metrics and access log, which see a 500).
fn catch_panics(routes: Router) -> Router {
    routes.layer(CatchPanicLayer::custom(panic_response))
}

/// A request whose handler panicked: logged, and answered 500 `INTERNAL` in
/// GraphQL's error shape (no detail), so the process, the client's
/// connection and every other request carry on.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = %detail, "request handler panicked");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error")
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    (status, Json(body)).into_response()
}

/// Takes one request from the caller's allowance, or refuses with the wait.
fn rate_limit(state: &AppState, actor: &Actor, peer: SocketAddr) -> ServiceResult<()> {
    state.limiter.check(&Identity::of(actor, peer.ip())).map_err(|wait| {
        state.metrics.rate_limited.inc();
        ServiceError::RateLimited { retry_after_secs: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX) + 1 }
    })
}

/// The answer to one operation refused before it ran.
fn refused_operation(e: &ServiceError) -> async_graphql::Response {
    let gql: async_graphql::Error = crate::graphql::ApiError(e.clone()).into();
    async_graphql::Response::from_errors(vec![gql.into_server_error(async_graphql::Pos::default())])
}

/// GraphQL by POST: a JSON body holding one operation or a batch.
async fn graphql_post(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let media = MediaType::accepted(&headers);
    // Everything below is refused before anything is authenticated or
    // counted (no nonce consumed).
    if !graphql_http::is_json_body(&headers) {
        let message = "send GraphQL requests as Content-Type: application/json";
        return media.stamp(error_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, "BAD_INPUT", message));
    }
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            let message = format!("invalid GraphQL request: {e}");
            return media.stamp(error_response(StatusCode::BAD_REQUEST, "BAD_INPUT", &message));
        }
    };
    let max_batch = http.state.config.max_batch;
    let refused = match &batch {
        BatchRequest::Single(r) if r.query.is_empty() => Some(graphql_http::missing_query()),
        BatchRequest::Batch(rs) if rs.iter().any(|r| r.query.is_empty()) => Some(graphql_http::missing_query()),
        BatchRequest::Batch(rs) if rs.len() > max_batch => {
            Some(format!("a batch holds at most {max_batch} operations; this one has {}", rs.len()))
        }
        _ => None,
    };
    if let Some(message) = refused {
        return media.stamp(error_response(StatusCode::BAD_REQUEST, "BAD_INPUT", &message));
    }
    media.stamp(execute(&http, peer, &headers, &body, batch, media).await)
}

/// GraphQL by GET: a WebSocket upgrade (as on `/graphql/ws`), or a query
/// in the URL (`query`, `operationName`, `variables`). A signed API-key GET
/// signs the URL's query string where a POST signs its body.
async fn graphql_get(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let upgrading = parts.headers.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if upgrading {
        use axum::extract::FromRequestParts;
        let protocol = GraphQLProtocol::from_request_parts(&mut parts, &http).await;
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &http).await;
        return match (protocol, upgrade) {
            (Ok(protocol), Ok(upgrade)) => graphql_ws(State(http), ConnectInfo(peer), protocol, upgrade).await,
            (Err(e), _) => e.into_response(),
            (_, Err(e)) => e.into_response(),
        };
    }
    let media = MediaType::accepted(&parts.headers);
    let raw = parts.uri.query().unwrap_or("");
    let request = match graphql_http::get_request(raw) {
        Ok(r) => r,
        Err(GetRefusal::BadInput(message)) => {
            return media.stamp(error_response(StatusCode::BAD_REQUEST, "BAD_INPUT", &message));
        }
        Err(GetRefusal::NotARead) => {
            let message = "GET runs queries only; send mutations by POST";
            let mut response = error_response(StatusCode::METHOD_NOT_ALLOWED, "BAD_INPUT", message);
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return media.stamp(response);
        }
    };
    let mut response = execute(&http, peer, &parts.headers, raw.as_bytes(), BatchRequest::Single(request), media).await;
    // What a GET answers is one caller's data: no cache may keep it.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    media.stamp(response)
}

/// Authenticates the caller (a session token, or an API key's signature
/// over `signed`), charges the rate limit and runs `batch`.
async fn execute(
    http: &Http,
    peer: SocketAddr,
    headers: &HeaderMap,
    signed: &[u8],
    batch: BatchRequest,
    media: MediaType,
) -> Response {
    let actor = if let Some(key_id) = header(headers, "x-api-key") {
        let signed = signing::Signed {
            key_id,
            nonce: header(headers, "x-api-nonce").unwrap_or_default(),
            signature: header(headers, "x-api-signature").unwrap_or_default(),
            body: signed,
            websocket: false,
            peer: peer.ip(),
        };
        signing::authenticate(
            &http.state.db,
            &http.state.key,
            &http.state.cache,
            &http.state.nonces,
            signed,
            http.state.clock.now(),
        )
        .await
        .map(|a| (Actor::ServiceUser(a.session), vec![a.org]))
    } else {
        let resolved = match bearer(headers) {
            Ok(token) => actor_and_orgs_for_token(&http.state, token).await,
            Err(e) => Err(e),
        };
        // A stale or malformed token is charged to the client IP, as an
        // anonymous caller would be, before it is refused.
        if matches!(resolved, Err(ServiceError::Unauthenticated(_)))
            && let Err(limited) = rate_limit(&http.state, &Actor::Anonymous, peer)
        {
            return refusal(limited);
        }
        resolved
    };
    let (actor, orgs) = match actor {
        Ok(a) => a,
        Err(e) => return refusal(e),
    };
    // Every operation takes one unit of the caller's allowance, each batch
    // entry included; entries beyond it are answered RATE_LIMITED unrun.
    let (batch, refused) = match batch {
        BatchRequest::Single(r) => match rate_limit(&http.state, &actor, peer) {
            Ok(()) => (BatchRequest::Single(r), Vec::new()),
            Err(e) => return refusal(e),
        },
        BatchRequest::Batch(rs) => {
            let (mut admitted, mut refused) = (Vec::new(), Vec::new());
            for (i, r) in rs.into_iter().enumerate() {
                match rate_limit(&http.state, &actor, peer) {
                    Ok(()) => admitted.push(r),
                    Err(e) => refused.push((i, e)),
                }
            }
            if admitted.is_empty()
                && let Some((_, ServiceError::RateLimited { retry_after_secs })) = refused.first()
            {
                let retry = HeaderValue::from((*retry_after_secs).max(1));
                let answers: Vec<async_graphql::Response> = refused.iter().map(|(_, e)| refused_operation(e)).collect();
                return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, retry)], Json(answers)).into_response();
            }
            (BatchRequest::Batch(admitted), refused)
        }
    };
    let authz = http.state.authz(actor);
    for org in orgs {
        authz.remember_org(org);
    }
    let authz = Arc::new(authz);
    let batch = match batch {
        BatchRequest::Single(r) => BatchRequest::Single(r.data(authz).data(ClientIp(peer.ip()))),
        BatchRequest::Batch(rs) => {
            BatchRequest::Batch(rs.into_iter().map(|r| r.data(authz.clone()).data(ClientIp(peer.ip()))).collect())
        }
    };
    // GraphiQL's introspection nests deeper than data queries may.
    let schema = match (&batch, &http.introspection_schema) {
        (BatchRequest::Single(r), Some(deep)) if crate::graphql::guard::introspection_only(&r.query) => deep,
        _ => &http.schema,
    };
    let mut response = schema.execute_batch(batch).await;
    if let async_graphql::BatchResponse::Batch(answers) = &mut response {
        for (i, e) in refused {
            answers.insert(i.min(answers.len()), refused_operation(&e));
        }
    }
    let responses = match &mut response {
        async_graphql::BatchResponse::Single(r) => std::slice::from_mut(r),
        async_graphql::BatchResponse::Batch(rs) => rs.as_mut_slice(),
    };
    for r in responses {
        ensure_codes(r);
        for e in &r.errors {
            let code = e.extensions.as_ref().and_then(|x| x.get("code")).map(|c| c.to_string());
            let code = code.unwrap_or_default().trim_matches('"').to_string();
            http.state.metrics.graphql_errors.get_or_create(&CodeLabels { code }).inc();
        }
    }
    media.respond(response)
}

/// Credentials a WebSocket client sends in `connection_init`: a session
/// token, or an API key with a nonce and a signature over `nonce + "\n"`
/// (a signed request with an empty body).
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConnectionInit {
    token: Option<String>,
    api_key: Option<String>,
    nonce: Option<serde_json::Value>,
    signature: Option<String>,
    #[serde(rename = "Authorization", alias = "authorization")]
    authorization: Option<String>,
}

async fn graphql_ws(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let upgrade = upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(WS_READ_BUFFER)
        .max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES);
    upgrade.on_upgrade(move |socket| async move {
        let state = http.state.clone();
        let init_deadline = Duration::from_secs(state.config.ws_init_timeout_secs);
        // Deadlines read the application's clock (monotonic side), so a test
        // that moves its clock sees them pass without waiting.
        let clock = state.clock.clone();
        let init_by = clock.instant() + init_deadline;
        let mut jumps = clock.jumps();
        // Held until the socket is closed: shutdown waits for every one.
        let mut stopping = state.stopping.subscribe();
        // Seen at once if the server began stopping before this socket subscribed.
        stopping.mark_changed();
        let initialised = Arc::new(AtomicBool::new(false));
        let init_seen = initialised.clone();
        // The connection's credential, once `connection_init` establishes it,
        // and the signal that closes the socket when it stops holding (crate::ws).
        let connection: Arc<OnceLock<Arc<WsConnection>>> = Arc::default();
        let connection_set = connection.clone();
        let (close_tx, mut close_rx) = watch::channel::<Option<ws::Close>>(None);
        // Outgoing messages pass through a channel so that a close can be sent on the same socket.
        let (mut socket_tx, socket_rx) = socket.split();
        let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
        let out = futures_util::sink::unfold(out_tx, |tx, msg: Message| async move { tx.send(msg).await.map(|()| tx) });
        let serve = GraphQLWebSocket::new_with_pair(out, socket_rx, WsExecutor(http.schema.clone()), protocol)
            .on_connection_init(move |payload| async move {
                init_seen.store(true, Ordering::Release);
                let init: ConnectionInit = serde_json::from_value(payload).unwrap_or_default();
                let (actor, credential) = if let Some(key_id) = &init.api_key {
                    let nonce = match &init.nonce {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    let signed = signing::Signed {
                        key_id,
                        nonce: &nonce,
                        signature: init.signature.as_deref().unwrap_or_default(),
                        body: b"",
                        websocket: true,
                        peer: peer.ip(),
                    };
                    let a = signing::authenticate(
                        &state.db,
                        &state.key,
                        &state.cache,
                        &state.nonces,
                        signed,
                        state.clock.now(),
                    )
                    .await
                    .map_err(|e| async_graphql::Error::new(e.to_string()))?;
                    let credential = Credential::Key { key_id: key_id.clone(), secret_sealed: a.secret_sealed };
                    (Actor::ServiceUser(a.session), credential)
                } else {
                    let token = init.token.or_else(|| {
                        init.authorization.and_then(|a| a.strip_prefix("Bearer ").map(|t| t.trim().to_string()))
                    });
                    let actor = actor_for_token(&state, token.as_deref()).await.map_err(|e| match e {
                        ServiceError::Unauthenticated(m) => async_graphql::Error::new(format!("UNAUTHENTICATED: {m}")),
                        _ => async_graphql::Error::new("internal error"),
                    })?;
                    let credential = match &actor {
                        Actor::Operator => Credential::Operator,
                        _ => Credential::Session { token: token.unwrap_or_default() },
                    };
                    (actor, credential)
                };
                if matches!(actor, Actor::Anonymous) {
                    return Err(async_graphql::Error::new("authentication required"));
                }
                let slot = state.limiter.open_ws(Identity::of(&actor, peer.ip())).ok_or_else(|| {
                    async_graphql::Error::new("RATE_LIMITED: too many WebSocket connections for this identity")
                })?;
                let conn = Arc::new(WsConnection::new(state.clone(), peer.ip(), credential, actor.clone(), close_tx));
                let _ = connection_set.set(conn.clone());
                let mut data = Data::default();
                // Each operation brings its own, current Authz (crate::ws); this one is a fallback.
                data.insert(Arc::new(state.authz(actor)));
                data.insert(ClientIp(peer.ip()));
                data.insert(conn);
                // Held for as long as the connection lives.
                data.insert(slot);
                Ok(data)
            })
            .serve();
        let mut serve = std::pin::pin!(serve);
        let mut serving = true;
        let mut watching = true;
        // A client that never sends `connection_init` is dropped.
        let silent = tokio::time::sleep(init_deadline);
        let mut silent = std::pin::pin!(silent);
        let mut tick = tokio::time::interval(ws::TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let close = loop {
            tokio::select! {
                biased;
                changed = close_rx.changed(), if watching => match changed {
                    Ok(()) => if let Some(c) = close_rx.borrow().clone() { break Some(c) },
                    // No connection was established (a refused connection_init).
                    Err(_) => watching = false,
                },
                msg = out_rx.recv() => match msg {
                    Some(msg) => if socket_tx.send(msg).await.is_err() { break None },
                    // The protocol ended and everything it sent is out.
                    None => break None,
                },
                () = &mut serve, if serving => serving = false,
                // The server is shutting down: say so before the pool closes.
                changed = stopping.changed() => if changed.is_err() || *stopping.borrow_and_update() {
                    break Some(ws::Close::going_away());
                },
                _ = tick.tick() => {
                    if !initialised.load(Ordering::Acquire) && clock.instant() >= init_by {
                        tracing::debug!(%peer, "WebSocket closed: no connection_init in time");
                        break None;
                    }
                    if let Some(conn) = connection.get() && let Err(c) = conn.check().await {
                        break Some(c);
                    }
                },
                // The clock jumped (a test moved it): re-check now rather than on the next tick.
                () = jumped(&mut jumps) => {
                    if !initialised.load(Ordering::Acquire) && clock.instant() >= init_by {
                        tracing::debug!(%peer, "WebSocket closed: no connection_init in time");
                        break None;
                    }
                    if let Some(conn) = connection.get() && let Err(c) = conn.check().await {
                        break Some(c);
                    }
                },
                () = &mut silent, if !initialised.load(Ordering::Acquire) => {
                    tracing::debug!(%peer, "WebSocket closed: no connection_init in time");
                    break None;
                }
            }
        };
        if let Some(ws::Close { code, reason }) = close {
            tracing::info!(%peer, code, %reason, "WebSocket closed by the server");
            let _ = socket_tx.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
        }
    })
}

/// Resolves when the clock jumps; never for a clock that only flows.
async fn jumped(jumps: &mut Option<watch::Receiver<()>>) {
    if let Some(rx) = jumps.as_mut()
        && rx.changed().await.is_ok()
    {
        return;
    }
    *jumps = None;
    std::future::pending::<()>().await;
}

/// 200 when the database answers and the event listener is connected, 503 otherwise.
async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if let Err(e) = state.db.execute_unprepared("SELECT 1").await {
        tracing::warn!(error = %e, "readiness: database unreachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable");
    }
    if !state.bus.is_connected() {
        return (StatusCode::SERVICE_UNAVAILABLE, "event listener disconnected");
    }
    (StatusCode::OK, "ok")
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match state.metrics.render(&state.db, &state.sequencer, &state.nonces).await {
        Ok(text) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: could not read the backlog");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::post;
    use tower::ServiceExt;

    /// No panic is reachable through the API once money arithmetic is
    /// checked, so the guard is shown on a route that panics on purpose.
    #[tokio::test]
    async fn a_panic_becomes_internal_and_the_router_serves_on() {
        let routes = Router::new().route(
            "/graphql",
            post(|body: Bytes| async move {
                assert!(body.as_ref() != b"panic", "handler panicked on purpose");
                "ok"
            }),
        );
        let app = catch_panics(routes);
        let call = |body: &'static str| {
            let app = app.clone();
            async move {
                let res = app.oneshot(Request::post("/graphql").body(Body::from(body)).unwrap()).await.unwrap();
                let status = res.status();
                let bytes = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
                (status, bytes)
            }
        };
        let (status, body) = call("panic").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"errors": [{"message": "internal error", "extensions": {"code": "INTERNAL"}}]})
        );
        assert_eq!(call("hello").await, (StatusCode::OK, Bytes::from_static(b"ok")));
    }
}
