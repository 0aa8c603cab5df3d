//! Prometheus metrics, served at `/metrics` by `serve` and `worker`.
//!
//! Two kinds: what this process did (HTTP requests and their latency,
//! GraphQL error codes, jobs run, rate-limit refusals, open WebSockets),
//! counted as it happens; and what the shared database holds (approvals
//! pending, queued mail, queue depth), read at scrape time so that every
//! process reports the same backlog. Each [`Metrics`] has its own registry,
//! so several servers in one test process do not mix their counts.

use crate::domain::{DeliveryStatus, InvitationState, RequestStatus};
use crate::service::ServiceResult;
use crate::service::nonces::NonceCommits;
use crate::service::sequencer::Sequencer;
use entity::{invitation, notification, request};
use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Statement};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MailLabels {
    pub kind: String,
    pub state: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// 1 ms … ~16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// This process's metrics and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: LatencyFamily,
    pub graphql_errors: Family<CodeLabels, Counter>,
    pub jobs: Family<JobLabels, Counter>,
    pub rate_limited: Counter,
    pub ws_open: Gauge,
    /// Subscriptions receiving events now (the WebSocket's watches).
    pub subscriptions_open: Gauge,
    approvals_pending: Gauge,
    mail_backlog: Family<MailLabels, Gauge>,
    queue_depth: Gauge,
    /// Withdrawal batches this process applied, and the withdrawals in them
    /// (mirrors of the sequencer's own counts, brought up to date on render).
    withdrawal_batches: Counter,
    withdrawals_batched: Counter,
    /// Rounds of signed requests' nonces recorded together, and the nonces
    /// accepted in them (mirrors of `NonceCommits`' counts).
    nonce_rounds: Counter,
    nonces_recorded: Counter,
    syncing: std::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("countersign");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests served, by route and status", http_requests.clone());
        let http_duration = LatencyFamily::new_with_constructor(latency_histogram);
        registry.register("http_request_duration_seconds", "HTTP request latency, by route", http_duration.clone());
        let graphql_errors = Family::<CodeLabels, Counter>::default();
        registry.register("graphql_errors", "GraphQL errors returned, by extensions.code", graphql_errors.clone());
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register("jobs", "Background jobs run by this process, by job and outcome", jobs.clone());
        let rate_limited = Counter::default();
        registry.register("rate_limited", "Requests refused by the per-identity rate limit", rate_limited.clone());
        let ws_open = Gauge::default();
        registry.register("websocket_connections", "Authenticated WebSocket connections open", ws_open.clone());
        let subscriptions_open = Gauge::default();
        registry.register(
            "subscriptions",
            "GraphQL subscriptions receiving events on this process",
            subscriptions_open.clone(),
        );
        let approvals_pending = Gauge::default();
        registry.register(
            "approvals_pending",
            "Requests waiting for approval (all organisations)",
            approvals_pending.clone(),
        );
        let mail_backlog = Family::<MailLabels, Gauge>::default();
        registry.register(
            "mail_backlog",
            "E-mails not yet delivered, by kind and delivery state",
            mail_backlog.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register("queue_depth", "Jobs waiting in the mail queue", queue_depth.clone());
        let withdrawal_batches = Counter::default();
        registry.register(
            "withdrawal_batches",
            "Transactions that applied queued withdrawals (one per batch)",
            withdrawal_batches.clone(),
        );
        let withdrawals_batched = Counter::default();
        registry.register("withdrawals_batched", "Withdrawals taken into those batches", withdrawals_batched.clone());
        let nonce_rounds = Counter::default();
        registry.register(
            "nonce_rounds",
            "Rounds in which signed requests' nonces were recorded together",
            nonce_rounds.clone(),
        );
        let nonces_recorded = Counter::default();
        registry.register("nonces_recorded", "Nonces accepted in those rounds", nonces_recorded.clone());
        Self {
            registry,
            http_requests,
            http_duration,
            graphql_errors,
            jobs,
            rate_limited,
            ws_open,
            subscriptions_open,
            approvals_pending,
            mail_backlog,
            queue_depth,
            withdrawal_batches,
            withdrawals_batched,
            nonce_rounds,
            nonces_recorded,
            syncing: std::sync::Mutex::new(()),
        }
    }
}

impl Metrics {
    /// Counts one run of a background job.
    pub fn job(&self, job: &str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.jobs.get_or_create(&JobLabels { job: job.into(), outcome: outcome.into() }).inc();
    }

    /// Reads the shared backlog from the database, then renders everything
    /// in the Prometheus text format.
    pub async fn render<C: ConnectionTrait>(
        &self,
        db: &C,
        sequencer: &Sequencer,
        nonces: &NonceCommits,
    ) -> ServiceResult<String> {
        {
            // Under a lock: two scrapes at once must not both add the same difference.
            let _syncing = self.syncing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (batches, batched) = sequencer.batches();
            self.withdrawal_batches.inc_by(batches.saturating_sub(self.withdrawal_batches.get()));
            self.withdrawals_batched.inc_by(batched.saturating_sub(self.withdrawals_batched.get()));
            let (rounds, recorded) = nonces.rounds();
            self.nonce_rounds.inc_by(rounds.saturating_sub(self.nonce_rounds.get()));
            self.nonces_recorded.inc_by(recorded.saturating_sub(self.nonces_recorded.get()));
        }
        let pending = request::Entity::find()
            .filter(request::Column::Status.eq(RequestStatus::PendingApproval))
            .count(db)
            .await?;
        self.approvals_pending.set(gauge(pending));
        for state in [DeliveryStatus::Queued, DeliveryStatus::Sending] {
            let invitations = invitation::Entity::find()
                .filter(invitation::Column::DeliveryStatus.eq(state))
                .filter(invitation::Column::Status.eq(InvitationState::Pending))
                .count(db)
                .await?;
            let notifications =
                notification::Entity::find().filter(notification::Column::DeliveryStatus.eq(state)).count(db).await?;
            for (kind, n) in [("invitation", invitations), ("notification", notifications)] {
                self.mail_backlog.get_or_create(&MailLabels { kind: kind.into(), state: state.into() }).set(gauge(n));
            }
        }
        let backend = db.get_database_backend();
        let sql = workers::queue::depth_sql(backend == sea_orm::DbBackend::Postgres);
        let row =
            db.query_one_raw(Statement::from_sql_and_values(backend, sql, [workers::queue::MAIL_QUEUE.into()])).await?;
        let depth: i64 = row.map(|r| r.try_get_by_index(0)).transpose()?.unwrap_or(0);
        self.queue_depth.set(depth);
        let mut out = String::new();
        encode(&mut out, &self.registry).map_err(|e| crate::service::ServiceError::internal(e.to_string()))?;
        Ok(out)
    }
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
