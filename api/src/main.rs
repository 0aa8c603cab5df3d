//! The `countersign` binary: `serve` (default), `worker`, `migrate`, `schema`.

use api::{Application, Config, graphql, startup::shutdown_signal};
use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
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
    /// Run the job workers only.
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
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        print!("{}", graphql::sdl());
        return Ok(());
    }
    let config = Config::load()?;
    init_tracing(config.log_json);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(config).await?;
            app.run_until(shutdown_signal()).await?;
        }
        Command::Worker => {
            api::startup::run_worker_process(config, std::sync::Arc::new(api::clock::SystemClock), shutdown_signal())
                .await?;
        }
        Command::Migrate => {
            let db = api::db::connect(&config.database_url).await?;
            Migrator::up(&db, None).await?;
            tracing::info!("migrations applied");
        }
        Command::Schema => unreachable!("handled above"),
    }
    Ok(())
}
