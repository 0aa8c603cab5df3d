//! Building and running the service: `Application::build(config)` connects,
//! migrates and binds; [`Application::run_until`] serves until a shutdown
//! future resolves, then drains in-flight requests.

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::graphql;
use crate::http::{self, Http};
use crate::state::AppState;
use migration::{Migrator, MigratorTrait};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A bound, migrated, ready-to-serve instance.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<AppState>,
    schema: graphql::AppSchema,
}

impl Application {
    /// Builds with the wall clock.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Connects to the database, applies migrations, binds the listener
    /// (port 0 picks a free one) and assembles the schema.
    pub async fn build_with_clock(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let db = crate::db::connect(&config.database_url).await?;
        Migrator::up(&db, None).await?;
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let public_url = config.public_url(addr);
        let introspection = config.introspection;
        let state = Arc::new(AppState::new(db, clock, config, public_url));
        let schema = graphql::build(Some(state.clone()), introspection);
        Ok(Self { listener, addr, state, schema })
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
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let app = http::router(Http { state: self.state.clone(), schema: self.schema });
        tracing::info!(addr = %self.addr, "countersign listening");
        axum::serve(self.listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await?;
        self.state.db.clone().close().await?;
        Ok(())
    }
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
