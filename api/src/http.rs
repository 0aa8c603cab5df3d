//! HTTP routes: GraphQL over HTTP and WebSocket, and health.
//!
//! The GraphQL POST handler reads the raw body itself (rather than through
//! the async-graphql-axum extractor) so that the body-size limit applies and
//! so that signed API-key requests can be verified over the exact bytes sent.

use crate::authz::{Actor, Authz};
use crate::graphql::{AppSchema, ClientIp, error::ensure_codes};
use crate::secrets;
use crate::service::{ServiceError, ServiceResult, identity, signing};
use crate::state::AppState;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{BatchRequest, Data};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::ConnectionTrait;
use std::net::SocketAddr;
use std::sync::Arc;

/// Requests with larger bodies are refused (SPEC §1).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Http {
    pub state: Arc<AppState>,
    pub schema: AppSchema,
}

pub fn router(http: Http) -> Router {
    Router::new()
        .route("/graphql", get(graphql_ws).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(http)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// Establishes who is calling from a bearer credential: the operator token,
/// a live session, or nobody.
pub async fn actor_for_token(state: &AppState, token: Option<&str>) -> ServiceResult<Actor> {
    let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(Actor::Anonymous) };
    if let Some(op) = &state.config.operator_token
        && secrets::constant_time_eq(op.as_bytes(), token.as_bytes())
    {
        return Ok(Actor::Operator);
    }
    Ok(identity::authenticate(&state.db, &state.session_policy, token, state.clock.now())
        .await?
        .map_or(Actor::Anonymous, Actor::User))
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
        ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let code = gql.extensions.as_ref().and_then(|x| x.get("code")).map(|c| c.to_string().trim_matches('"').to_string());
    error_response(status, code.as_deref().unwrap_or("INTERNAL"), &gql.message)
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    (status, Json(body)).into_response()
}

async fn graphql_post(
    State(http): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error_response(StatusCode::BAD_REQUEST, "BAD_INPUT", &format!("invalid GraphQL request: {e}"));
        }
    };
    let actor = if let Some(key_id) = header(&headers, "x-api-key") {
        let signed = signing::Signed {
            key_id,
            nonce: header(&headers, "x-api-nonce").unwrap_or_default(),
            signature: header(&headers, "x-api-signature").unwrap_or_default(),
            body: &body,
            websocket: false,
            peer: peer.ip(),
        };
        signing::authenticate(&http.state.db, &http.state.key, signed, http.state.clock.now())
            .await
            .map(Actor::ServiceUser)
    } else {
        actor_for_token(&http.state, bearer(&headers)).await
    };
    let actor = match actor {
        Ok(a) => a,
        Err(e) => return refusal(e),
    };
    let authz = Arc::new(Authz::new(actor, http.state.db.clone(), http.state.clock.now()));
    let batch = match batch {
        BatchRequest::Single(r) => BatchRequest::Single(r.data(authz).data(ClientIp(peer.ip()))),
        BatchRequest::Batch(rs) => {
            BatchRequest::Batch(rs.into_iter().map(|r| r.data(authz.clone()).data(ClientIp(peer.ip()))).collect())
        }
    };
    let mut response = http.schema.execute_batch(batch).await;
    match &mut response {
        async_graphql::BatchResponse::Single(r) => ensure_codes(r),
        async_graphql::BatchResponse::Batch(rs) => rs.iter_mut().for_each(ensure_codes),
    }
    Json(response).into_response()
}

/// Credentials a WebSocket client sends in `connection_init`: a session
/// token, or an API key with a nonce and a signature over the nonce alone.
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
    upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| async move {
        let state = http.state.clone();
        GraphQLWebSocket::new(socket, http.schema.clone(), protocol)
            .on_connection_init(move |payload| async move {
                let init: ConnectionInit = serde_json::from_value(payload).unwrap_or_default();
                let actor = if let Some(key_id) = &init.api_key {
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
                    signing::authenticate(&state.db, &state.key, signed, state.clock.now())
                        .await
                        .map(Actor::ServiceUser)
                        .map_err(|e| async_graphql::Error::new(e.to_string()))?
                } else {
                    let token = init.token.or_else(|| {
                        init.authorization.and_then(|a| a.strip_prefix("Bearer ").map(|t| t.trim().to_string()))
                    });
                    actor_for_token(&state, token.as_deref())
                        .await
                        .map_err(|_| async_graphql::Error::new("internal error"))?
                };
                if matches!(actor, Actor::Anonymous) {
                    return Err(async_graphql::Error::new("authentication required"));
                }
                let mut data = Data::default();
                data.insert(Arc::new(Authz::new(actor, state.db.clone(), state.clock.now())));
                data.insert(ClientIp(peer.ip()));
                Ok(data)
            })
            .serve()
            .await
    })
}

/// 200 when the database answers, 503 otherwise.
async fn healthz(State(http): State<Http>) -> impl IntoResponse {
    match http.state.db.execute_unprepared("SELECT 1").await {
        Ok(_) => (StatusCode::OK, "ok"),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
