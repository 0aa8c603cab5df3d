//! Building and running the service: `Application::build(config)` connects,
//! migrates and binds; [`Application::run_until`] serves until a shutdown
//! future resolves, then drains in-flight requests.

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::events::EventBus;
use crate::graphql;
use crate::http::{self, Http};
use crate::jobs::ApiHandlers;
use crate::keys::MasterKey;
use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::service::identity::SessionPolicy;
use crate::service::nonces::NonceCommits;
use crate::service::sequencer::Sequencer;
use crate::session_checks::SessionChecks;
use crate::state::{AppState, Signals};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, TransactionTrait};
use std::future::Future;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use workers::{JobQueue, Mailer};

/// A bound, migrated, ready-to-serve instance.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<AppState>,
    schema: graphql::AppSchema,
    introspection_schema: Option<graphql::AppSchema>,
}

impl Application {
    /// Builds with the wall clock.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Connects to the database, applies migrations, binds the listener
    /// (port 0 picks a free one) and assembles the schema.
    pub async fn build_with_clock(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let public_url = config.public_url(addr);
        let introspection = config.introspection;
        let state = Arc::new(open_state(config, clock, public_url).await?);
        let schema = graphql::build(Some(state.clone()), introspection);
        let introspection_schema = graphql::build_for_introspection(Some(state.clone()), introspection);
        Ok(Self { listener, addr, state, schema, introspection_schema })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets
    /// in-flight requests finish.
    ///
    /// With `run_workers` set (the embedded default) the job workers run in
    /// this process too, and stop with it.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let app = http::router(Http {
            state: self.state.clone(),
            schema: self.schema,
            introspection_schema: self.introspection_schema,
        });
        tracing::info!(addr = %self.addr, "countersign listening");
        let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let workers = self.state.config.run_workers.then(|| {
            let mut stop = stop_tx.subscribe();
            tokio::spawn(run_workers(self.state.clone(), async move {
                let _ = stop.recv().await;
            }))
        });
        let limiter = self.state.limiter.clone();
        let housekeeping = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                limiter.forget_idle();
            }
        });
        let served = axum::serve(self.listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        // Upgraded connections are not the HTTP server's to drain.
        self.state.close_websockets(std::time::Duration::from_secs(5)).await;
        housekeeping.abort();
        let _ = stop_tx.send(());
        if let Some(w) = workers {
            match w.await {
                Ok(Err(e)) => tracing::error!(error = %e, "job workers stopped with an error"),
                Err(e) => tracing::error!(error = %e, "job workers panicked"),
                Ok(Ok(())) => {}
            }
        }
        self.state.db.clone().close().await?;
        served?;
        Ok(())
    }
}

/// Connects, migrates, and assembles the shared state (also used by `worker`).
pub async fn open_state(config: Config, clock: SharedClock, public_url: String) -> anyhow::Result<AppState> {
    let db = crate::db::connect_with(&config.database_url, config.db_max_connections).await?;
    let key = MasterKey::load_or_create(config.master_key.as_deref(), &config.database_url)?;
    crate::service::audit::install_keys(&key)?;
    migrate(&db).await?;
    // Migration m0011 cannot seal TOTP secrets (the key is not in the database).
    let sealed = crate::service::identity::seal_plain_totp_secrets(&db, &key).await?;
    if sealed > 0 {
        tracing::info!(sealed, "sealed TOTP secrets stored in plain text");
    }
    let queue = JobQueue::connect(&config.database_url).await?;
    let mailer = Mailer::new(config.smtp_url.as_deref(), config.outbox_dir.clone())?;
    match &mailer {
        Mailer::Smtp(_) => tracing::info!("mail goes to the configured SMTP server"),
        Mailer::Outbox(dir) => {
            tracing::info!(outbox = %dir.display(), "no SMTP server configured; mail is written to the outbox")
        }
    }
    let bus = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => EventBus::postgres(db.get_postgres_connection_pool().clone()).await?,
        _ => EventBus::default(),
    };
    let session_policy = SessionPolicy::from(&config);
    let metrics = Arc::new(Metrics::default());
    let limiter = Arc::new(Limiter::new(
        config.rate_limit_per_minute,
        config.rate_limit_burst,
        config.ws_max_per_identity,
        metrics.ws_open.clone(),
        clock.clone(),
    ));
    let cache = Default::default();
    let signals = Default::default();
    let session_checks = SessionChecks::new(db.clone(), session_policy.clone(), clock.clone());
    let sequencer = Sequencer::new(
        db.clone(),
        key.clone(),
        queue.clone(),
        bus.clone(),
        chrono::Duration::seconds(config.request_ttl_secs),
        config.address_cooling_off_secs,
    );
    let nonces = NonceCommits::new(db.clone());
    let webhooks = workers::WebhookSender::new(config.webhooks_allow_http_loopback)?;
    Ok(AppState {
        db,
        clock,
        config,
        session_policy,
        public_url,
        key,
        queue,
        mailer,
        bus,
        metrics,
        limiter,
        cache,
        signals,
        session_checks,
        stopping: tokio::sync::watch::Sender::new(false),
        sequencer,
        nonces,
        webhooks,
    })
}

/// Applies pending migrations. On PostgreSQL several processes may start at
/// once, so they take turns under an advisory lock held by the migration's
/// transaction. The process that applies the keyed audit chain's migration
/// seals the existing records right after it (on PostgreSQL in the same
/// transaction), with the keys [`crate::service::audit::install_keys`] set.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        let upgrade = seals_audit_chain(db).await?;
        Migrator::up(db, None).await?;
        if upgrade {
            let txn = db.begin().await?;
            crate::service::audit::upgrade(&txn).await?;
            txn.commit().await?;
        }
        return Ok(());
    }
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")).await?;
    let upgrade = seals_audit_chain(&txn).await?;
    Migrator::up(&txn, None).await?;
    if upgrade {
        crate::service::audit::upgrade(&txn).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Whether this run applies the migration that introduces the keyed audit chain.
async fn seals_audit_chain<C: sea_orm::ConnectionTrait>(db: &C) -> anyhow::Result<bool> {
    Ok(Migrator::get_pending_migrations(db).await?.iter().any(|m| m.name() == "m0012_keyed_audit_chain"))
}

/// The advisory-lock key migrations serialise on ("cs-migr" in ASCII).
const MIGRATION_LOCK: i64 = 0x0063_732d_6d69_6772;

/// Runs the job workers on `state` until `shutdown` resolves.
pub async fn run_workers(
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let name = format!("countersign-{}-{}", std::process::id(), &crate::domain::new_id()[..8]);
    tracing::info!(worker = %name, "job workers starting");
    let handlers = Arc::new(ApiHandlers { state: state.clone() });
    workers::runtime::run(state.queue.clone(), handlers, name, shutdown).await.map_err(|e| anyhow::anyhow!(e))?;
    tracing::info!("job workers stopped");
    Ok(())
}

/// `countersign worker`: the job workers alone, until `shutdown`.
pub async fn run_worker_process(
    config: Config,
    clock: SharedClock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_worker_process_with(config, clock, Signals::default(), shutdown).await
}

/// [`run_worker_process`], counting what it does on `signals` (a test
/// passes its server's, to await the jobs a worker runtime finishes).
pub async fn run_worker_process_with(
    config: Config,
    clock: SharedClock,
    signals: Signals,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.worker_bind).await?;
    let public_url = config.public_url(config.bind);
    let state = Arc::new(AppState { signals, ..open_state(config, clock, public_url).await? });
    tracing::info!(addr = %listener.local_addr()?, "worker serving /livez, /readyz and /metrics");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ops = tokio::spawn(
        axum::serve(listener, http::ops_router(state.clone()).into_make_service())
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .into_future(),
    );
    let ran = run_workers(state.clone(), shutdown).await;
    let _ = stop_tx.send(());
    let _ = ops.await;
    state.db.clone().close().await?;
    ran
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
