//! `bench`: Countersign's benchmarks. Every figure is reported beside a
//! baseline measured in the same run on the same machine, because the
//! machines this runs on are shared and noisy. BENCHMARKS.md describes the
//! method and the latest figures.
//!
//! `cargo run --release -p bench -- all` runs every scenario on SQLite and
//! on PostgreSQL (`--postgres-url`, default the local server; `--no-postgres`
//! skips it) and prints one table. Each scenario also has its own command:
//! `signed`, `session`, `withdrawals`, `fanout`, `reset`, and `alerts` (the
//! balance-alert recompute alone).

mod baseline;
mod fanout;
mod load;
mod reads;
mod report;
mod reset;
mod server;
mod setup;
mod withdrawals;

use clap::{Args, Parser, Subcommand};
use report::Row;
use server::Backend;
use std::time::Duration;

/// Scenario 1 and 2 target (issue 20): at least this fraction of the
/// one-read floor's req/s.
pub const TARGET_READ: f64 = 0.9;
/// Scenario 3 target (issue 20): at least the hot-row UPDATE rate.
pub const TARGET_CONTENTION: f64 = 1.0;
/// Scenario 4 target: the last subscriber's event within this, at p99.
pub const TARGET_FANOUT_P99: Duration = Duration::from_millis(100);

#[derive(Parser)]
#[command(about = "Countersign benchmarks against same-run baselines")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    #[command(flatten)]
    opts: Opts,
}

/// Settings every scenario shares.
#[derive(Args, Clone, Debug)]
pub struct Opts {
    /// The PostgreSQL server to create (and drop) fresh databases on.
    #[arg(long, global = true, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Skip PostgreSQL.
    #[arg(long, global = true)]
    pub no_postgres: bool,
    /// Skip SQLite.
    #[arg(long, global = true)]
    pub no_sqlite: bool,
    /// Seconds each measured load run lasts.
    #[arg(long, global = true, default_value_t = 5)]
    pub seconds: u64,
    /// Seconds of warm-up before each measured run (discarded).
    #[arg(long, global = true, default_value_t = 1)]
    pub warmup_seconds: u64,
    /// Concurrent clients for the read scenarios.
    #[arg(long, global = true, default_value_t = 16)]
    pub clients: usize,
    /// WebSocket subscribers in the fan-out scenario.
    #[arg(long, global = true, default_value_t = 1000)]
    pub subscribers: usize,
    /// Measured approval rounds in the fan-out scenario.
    #[arg(long, global = true, default_value_t = 30)]
    pub rounds: usize,
    /// Organisations in the reset and alert scenarios.
    #[arg(long, global = true, default_value_t = 10_000)]
    pub orgs: usize,
    /// The pgbench binary.
    #[arg(long, global = true, default_value = "pgbench")]
    pub pgbench: String,
}

impl Opts {
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.seconds)
    }
    pub fn warmup(&self) -> Duration {
        Duration::from_secs(self.warmup_seconds)
    }
    fn backends(&self) -> Vec<Backend> {
        let mut v = Vec::new();
        if !self.no_sqlite {
            v.push(Backend::Sqlite);
        }
        if !self.no_postgres {
            v.push(Backend::Postgres);
        }
        v
    }
}

#[derive(Subcommand, Clone, Copy)]
enum Scenario {
    /// Every scenario, one table.
    All,
    /// 1. Signed API-key reads vs the bare server.
    Signed,
    /// 2. Session reads (organization { usage }) vs the bare server.
    Session,
    /// 3. Withdrawal creation, 64 clients, one daily cap, vs a hot-row UPDATE.
    Withdrawals,
    /// 3b. The same, the clients spread over two servers on one PostgreSQL database.
    WithdrawalsTwoServers,
    /// 4. Approval fan-out to WebSocket subscribers.
    Fanout,
    /// 5. Daily reset and balance-alert recompute over many organisations.
    Reset,
    /// The balance-alert recompute alone (part of `reset`).
    Alerts,
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

async fn run(scenario: Scenario, backend: Backend, opts: &Opts) -> anyhow::Result<Vec<Row>> {
    Ok(match scenario {
        Scenario::Signed => reads::run(reads::Read::Signed, backend, opts).await?,
        Scenario::Session => reads::run(reads::Read::Session, backend, opts).await?,
        Scenario::Withdrawals => vec![withdrawals::run(backend, opts, 1).await?],
        Scenario::WithdrawalsTwoServers => match backend {
            Backend::Postgres => vec![withdrawals::run(backend, opts, 2).await?],
            // One SQLite file is one process's (README): nothing to measure.
            Backend::Sqlite => Vec::new(),
        },
        Scenario::Fanout => vec![fanout::run(backend, opts).await?],
        Scenario::Reset => reset::run(backend, opts.orgs, &opts.postgres_url, true).await?,
        Scenario::Alerts => reset::run(backend, opts.orgs, &opts.postgres_url, false).await?,
        Scenario::All => unreachable!("expanded by main"),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let scenarios = match cli.scenario {
        Scenario::All => {
            vec![
                Scenario::Signed,
                Scenario::Session,
                Scenario::Withdrawals,
                Scenario::WithdrawalsTwoServers,
                Scenario::Fanout,
                Scenario::Reset,
            ]
        }
        s => vec![s],
    };
    eprintln!(
        "countersign bench: {} cores, {} s runs after {} s warm-up, {} read clients",
        cores(),
        cli.opts.seconds,
        cli.opts.warmup_seconds,
        cli.opts.clients
    );
    let mut rows = Vec::new();
    let mut failed = false;
    for scenario in scenarios {
        for backend in cli.opts.backends() {
            match run(scenario, backend, &cli.opts).await {
                Ok(rs) => {
                    rs.iter().for_each(report::progress);
                    rows.extend(rs);
                }
                Err(e) => {
                    eprintln!("  {} failed: {e:#}", backend.label());
                    failed = true;
                }
            }
        }
    }
    println!("\n{} cores (std::thread::available_parallelism)", cores());
    report::print(&rows);
    anyhow::ensure!(!failed, "a scenario could not run (see above)");
    Ok(())
}
