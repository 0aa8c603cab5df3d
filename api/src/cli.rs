//! The `countersign` command line: `serve` (default), `worker`, `migrate`,
//! `schema`.
//!
//! It lives in the library so that the end-to-end tests can build the very
//! same binary (`tests/src/bin/countersign-e2e.rs`) and kill it with SIGKILL.

use crate::{Application, Config, graphql, startup};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "countersign", version, about = "Governance for crypto and stablecoin treasuries")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the GraphQL API (and, by default, the job workers).
    Serve,
    /// Run the job workers only (with `/metrics` and health on the bind address).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().flatten_event(true).with_current_span(true).init();
    } else {
        builder.init();
    }
}

/// Parses the command line and runs the chosen command to completion.
pub async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Schema = command {
        print!("{}", graphql::sdl());
        return Ok(());
    }
    let config = Config::load()?;
    init_tracing(config.log_json);
    match command {
        Command::Serve => {
            let app = Application::build(config).await?;
            app.run_until(startup::shutdown_signal()).await?;
        }
        Command::Worker => {
            startup::run_worker_process(
                config,
                std::sync::Arc::new(crate::clock::SystemClock),
                startup::shutdown_signal(),
            )
            .await?;
        }
        Command::Migrate => {
            let db = crate::db::connect_with(&config.database_url, config.db_max_connections).await?;
            startup::migrate(&db).await?;
            tracing::info!("migrations applied");
        }
        Command::Schema => {}
    }
    Ok(())
}
