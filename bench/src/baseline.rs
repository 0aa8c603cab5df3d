//! The baseline: a bare async-graphql server on the same axum stack, with no
//! authentication, no database and no middleware (and, for reference, the
//! same with a database *floor*: see [`Floor`]).
//!
//! Its schema mirrors the names the scenarios query (`viewer.serviceUser`,
//! `organization.accounts.holdings`, `organization.usage`, `approveRequest`,
//! `requestEvents`) and answers with constants of the same shape and size,
//! so the load generator sends byte-for-byte the same requests to both
//! servers and the ratio isolates what Countersign adds: authentication,
//! authorization, the database and its own code. The POST handler mirrors
//! Countersign's (raw body, `BatchRequest`, `execute_batch`, JSON response);
//! the WebSocket route uses the same `GraphQLWebSocket` and accepts any
//! `connection_init`.

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{BatchRequest, Context, ID, Object, Schema, SimpleObject, Subscription};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::{Stream, StreamExt};
use sea_orm::ConnectionTrait;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

type BareSchema = Schema<Query, Mutation, Subscription>;

/// With a floor, `organization` also does the least database work any
/// authenticated read must: one read round trip on Countersign's own pool
/// and, for `write`, one write transaction under its write discipline (a
/// signed request must durably record its nonce). Comparing Countersign
/// with it shows how much of the gap to the bare server is the database
/// round trips themselves.
pub struct Floor {
    pub db: sea_orm::DatabaseConnection,
    pub write: bool,
    next: AtomicI64,
}

impl Floor {
    /// Connects like Countersign does and creates the floor's scratch table.
    pub async fn connect(url: &str, write: bool) -> anyhow::Result<Self> {
        let db = api::db::connect(url).await?;
        db.execute_unprepared("CREATE TABLE IF NOT EXISTS bench_floor (n BIGINT PRIMARY KEY)").await?;
        Ok(Self { db, write, next: AtomicI64::new(0) })
    }

    async fn touch(&self) -> anyhow::Result<()> {
        self.db.execute_unprepared("SELECT 1").await?;
        if self.write {
            let txn = api::db::begin_write(&self.db).await?;
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            txn.execute_unprepared(&format!("INSERT INTO bench_floor (n) VALUES ({n})")).await?;
            txn.commit().await?;
        }
        Ok(())
    }
}

/// The router: `POST /graphql` and `GET /graphql/ws`, like Countersign's.
pub fn router(floor: Option<Floor>) -> Router {
    let (events, _) = broadcast::channel::<String>(4096);
    let mut schema = Schema::build(Query, Mutation, Subscription).data(events);
    if let Some(floor) = floor {
        schema = schema.data(floor);
    }
    let schema = schema.finish();
    Router::new().route("/graphql", get(ws).post(post)).route("/graphql/ws", get(ws)).with_state(schema)
}

async fn post(State(schema): State<BareSchema>, body: Bytes) -> Response {
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    Json(schema.execute_batch(batch).await).into_response()
}

async fn ws(State(schema): State<BareSchema>, protocol: GraphQLProtocol, upgrade: WebSocketUpgrade) -> Response {
    // The same WebSocket settings as Countersign's (api::http), so the two
    // servers differ only in what they do per event.
    let upgrade = upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(api::http::WS_READ_BUFFER)
        .max_message_size(api::http::MAX_BODY_BYTES)
        .max_frame_size(api::http::MAX_BODY_BYTES);
    upgrade.on_upgrade(move |socket| {
        GraphQLWebSocket::new(socket, schema, protocol)
            .on_connection_init(|_| async { Ok(async_graphql::Data::default()) })
            .serve()
    })
}

pub struct Query;

#[derive(SimpleObject)]
#[graphql(name = "ServiceUser")]
struct BareServiceUser {
    name: String,
}

pub struct Viewer;

#[Object]
impl Viewer {
    async fn service_user(&self) -> Option<BareServiceUser> {
        Some(BareServiceUser { name: "bench-key-0".into() })
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Holding")]
struct BareHolding {
    asset: String,
    amount: String,
    held: String,
    available: String,
    usd_value: String,
}

#[derive(SimpleObject)]
#[graphql(name = "Account")]
struct BareAccount {
    id: ID,
    holdings: Vec<BareHolding>,
}

#[derive(SimpleObject)]
#[graphql(name = "LimitUsage")]
struct BareUsage {
    layer: String,
    subject: String,
    per_transaction_max_usd: Option<String>,
    daily_cap_usd: Option<String>,
    used_today_usd: String,
    held_usd: String,
    remaining_usd: Option<String>,
}

pub struct Organization(ID);

#[Object]
impl Organization {
    async fn id(&self) -> &ID {
        &self.0
    }
    async fn accounts(&self) -> Vec<BareAccount> {
        vec![BareAccount {
            id: ID("00000000-0000-0000-0000-000000000000".into()),
            holdings: vec![BareHolding {
                asset: "USDC".into(),
                amount: "1000000".into(),
                held: "0".into(),
                available: "1000000".into(),
                usd_value: "1000000.00".into(),
            }],
        }]
    }
    async fn usage(&self) -> Vec<BareUsage> {
        let row = |layer: &str, subject: &str| BareUsage {
            layer: layer.into(),
            subject: subject.into(),
            per_transaction_max_usd: Some("5000".into()),
            daily_cap_usd: Some("1000000".into()),
            used_today_usd: "0".into(),
            held_usd: "0".into(),
            remaining_usd: Some("1000000".into()),
        };
        vec![row("ORGANIZATION", &self.0), row("SIGNER", "00000000-0000-0000-0000-000000000001")]
    }
}

#[Object]
impl Query {
    async fn viewer(&self) -> Viewer {
        Viewer
    }
    async fn organization(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Organization>> {
        if let Some(floor) = ctx.data_opt::<Floor>() {
            floor.touch().await.map_err(|e| async_graphql::Error::new(e.to_string()))?;
        }
        Ok(Some(Organization(id)))
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "Request")]
struct BareRequest {
    id: ID,
    status: String,
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Publishes an `APPROVED` event for `request_id` to every subscriber.
    async fn approve_request(&self, ctx: &Context<'_>, request_id: ID) -> BareRequest {
        let _ = ctx.data_unchecked::<broadcast::Sender<String>>().send(request_id.to_string());
        BareRequest { id: request_id, status: "APPROVED".into() }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "RequestEvent")]
struct BareEvent {
    kind: String,
    request: BareRequest,
}

pub struct Subscription;

#[Subscription]
impl Subscription {
    async fn request_events(&self, ctx: &Context<'_>, org_id: ID) -> impl Stream<Item = BareEvent> + use<> {
        let _ = org_id;
        let rx = ctx.data_unchecked::<broadcast::Sender<String>>().subscribe();
        BroadcastStream::new(rx).filter_map(|m| async move {
            m.ok().map(|id| BareEvent {
                kind: "APPROVED".into(),
                request: BareRequest { id: ID(id), status: "APPROVED".into() },
            })
        })
    }
}
