//! The servers under test and their databases.
//!
//! Both the Countersign server and the bare baseline run **in this process,
//! each on its own multi-threaded tokio runtime on its own OS thread**, and
//! the load generator runs on the bench's main runtime. Separate runtimes
//! keep the load generator's tasks off the server's scheduler (as a child
//! process would), while running in-process lets the bench seed state with
//! the `api` crate and needs no path to a built binary. Both servers are
//! started the same way, so a ratio compares the servers and nothing else;
//! both share the machine's cores with the load generator, as a loopback
//! benchmark on one machine must.
//!
//! Each PostgreSQL run gets a freshly created database, dropped afterwards;
//! each SQLite run a file in a temporary directory.

use anyhow::Context;
use api::Config;
use api::state::AppState;
use sea_orm::ConnectionTrait;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// Worker threads of each server runtime (the machine's cores).
fn server_threads() -> usize {
    crate::cores()
}

/// The operator credential the bench's servers accept.
pub const OPERATOR: &str = "bench-operator-token";

/// Which database a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// A fresh database for one run; PostgreSQL ones are dropped by [`Database::drop_now`].
pub struct Database {
    pub backend: Backend,
    pub url: String,
    /// For PostgreSQL: the admin URL and the database name.
    pg: Option<(String, String)>,
    pub dir: tempfile::TempDir,
}

impl Database {
    pub async fn create(backend: Backend, pg_admin: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
                Ok(Self { backend, url, pg: None, dir })
            }
            Backend::Postgres => {
                let name = format!("cs_bench_{}", uuid::Uuid::new_v4().simple());
                let admin = sea_orm::Database::connect(pg_admin)
                    .await
                    .with_context(|| format!("PostgreSQL at {pg_admin} (pass --no-postgres to skip)"))?;
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
                admin.close().await?;
                let (base, _) = pg_admin.rsplit_once('/').context("the PostgreSQL URL needs a database path")?;
                Ok(Self { backend, url: format!("{base}/{name}"), pg: Some((pg_admin.to_string(), name)), dir })
            }
        }
    }

    /// The PostgreSQL database name (for pgbench).
    pub fn pg_name(&self) -> Option<&str> {
        self.pg.as_ref().map(|(_, n)| n.as_str())
    }

    /// Drops a PostgreSQL database (connections are closed by force).
    pub async fn drop_now(self) -> anyhow::Result<()> {
        if let Some((admin, name)) = &self.pg {
            let db = sea_orm::Database::connect(admin.as_str()).await?;
            db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
            db.close().await?;
        }
        Ok(())
    }
}

/// The configuration the bench runs Countersign with: no rate limit, room
/// for many WebSockets per identity, workers off (nothing measured needs them).
pub fn config(db: &Database) -> Config {
    Config {
        database_url: db.url.clone(),
        bind: "127.0.0.1:0".parse().expect("addr"),
        worker_bind: "127.0.0.1:0".parse().expect("addr"),
        outbox_dir: db.dir.path().join("outbox"),
        operator_token: Some(OPERATOR.into()),
        master_key: Some("42".repeat(32)),
        rate_limit_per_minute: 0,
        ws_max_per_identity: 100_000,
        run_workers: false,
        // The withdrawal scenario whitelists an address and withdraws at once.
        address_cooling_off_secs: 0,
        ..Config::default()
    }
}

/// A server running on its own runtime and thread.
pub struct Running {
    pub addr: SocketAddr,
    /// Countersign's shared state (None for the baseline).
    pub state: Option<Arc<AppState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server, lets it drain and joins its thread.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

type Started = anyhow::Result<(SocketAddr, Option<Arc<AppState>>)>;

/// Runs `serve` on a new runtime on a new thread; `serve` reports its
/// address on the first channel and serves until the second resolves.
async fn spawn_server<F, Fut>(name: &str, serve: F) -> anyhow::Result<Running>
where
    F: FnOnce(tokio::sync::oneshot::Sender<Started>, tokio::sync::oneshot::Receiver<()>) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(server_threads())
            .thread_name("server-worker")
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(serve(ready_tx, stop_rx));
    })?;
    let (addr, state) = ready_rx.await.context("the server thread died")??;
    Ok(Running { addr, state, stop: Some(stop_tx), thread: Some(thread) })
}

/// Starts Countersign (the real `Application`) on `config`.
pub async fn countersign(config: Config) -> anyhow::Result<Running> {
    spawn_server("countersign", move |ready, stop| async move {
        match api::Application::build(config).await {
            Ok(app) => {
                let _ = ready.send(Ok((app.addr(), Some(app.state()))));
                if let Err(e) = app
                    .run_until(async {
                        let _ = stop.await;
                    })
                    .await
                {
                    eprintln!("countersign stopped with an error: {e:#}");
                }
            }
            Err(e) => {
                let _ = ready.send(Err(e));
            }
        }
    })
    .await
}

/// Starts the bare async-graphql-on-axum baseline server.
pub async fn baseline() -> anyhow::Result<Running> {
    baseline_with_floor(None).await
}

/// The baseline, doing the database floor's work on `url` per read (see
/// [`crate::baseline::Floor`]); `write` adds a write transaction.
pub async fn floor(url: &str, write: bool) -> anyhow::Result<Running> {
    baseline_with_floor(Some((url.to_string(), write))).await
}

async fn baseline_with_floor(floor: Option<(String, bool)>) -> anyhow::Result<Running> {
    spawn_server("baseline", move |ready, stop| async move {
        // Connected on the server's own runtime, like Countersign's pool.
        let floor = match floor {
            Some((url, write)) => match crate::baseline::Floor::connect(&url, write).await {
                Ok(f) => Some(f),
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            },
            None => None,
        };
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e.into()));
                return;
            }
        };
        let addr = listener.local_addr().expect("bound address");
        let _ = ready.send(Ok((addr, None)));
        let app = crate::baseline::router(floor);
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async {
                let _ = stop.await;
            })
            .await;
    })
    .await
}
