//! The `countersign` command line: `serve` (default), `worker`, `migrate`,
//! `schema`, and `audit public-key` / `audit verify` for the signed audit trail.
//!
//! It lives in the library so that the end-to-end tests can build the very
//! same binary (`tests/src/bin/countersign-e2e.rs`) and kill it with SIGKILL.

use crate::{Application, Config, graphql, startup};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "countersign",
    version,
    about = "Governance for crypto and stablecoin treasuries",
    after_help = crate::config::settings_help()
)]
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
    /// The signed audit trail: print the verification key, verify an export.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print the Ed25519 key that verifies audit checkpoints, as 64 hex
    /// characters (derived from the master key, so it reads the configuration).
    PublicKey,
    /// Verify an exported trail (the CSV of `auditLogCsv` or the JSON of
    /// `auditLogJson`) offline; exits non-zero naming the first bad record.
    Verify {
        /// The export file.
        export: std::path::PathBuf,
        /// The verification key, 64 hex characters (`countersign audit public-key`).
        #[arg(long)]
        public_key: String,
    },
}

/// `countersign audit verify`: needs no configuration, database or master key.
fn verify_export(export: &std::path::Path, public_key: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(export).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", export.display()))?;
    match crate::service::audit_offline::verify_text(&text, public_key) {
        Ok(v) => {
            println!(
                "ok: organization {}, records {} to {} ({}), {} signed checkpoint(s) verified",
                v.org_id, v.first_seq, v.last_seq, v.records, v.checkpoints
            );
            Ok(())
        }
        Err(failure) => anyhow::bail!("audit export does not verify: {failure}"),
    }
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().flatten_event(true).with_current_span(true).init();
    } else {
        // Colours only for a person at a terminal; a file or a log collector gets plain text.
        builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())).init();
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
    if let Command::Audit(AuditCommand::Verify { export, public_key }) = &command {
        return verify_export(export, public_key);
    }
    let config = Config::load()?;
    if let Command::Audit(AuditCommand::PublicKey) = command {
        // No logging set up: stdout carries the key alone.
        let key = crate::keys::MasterKey::load_or_create(config.master_key.as_deref(), &config.database_url)?;
        println!("{}", crate::service::audit::public_key_hex(&key));
        return Ok(());
    }
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
            let key = crate::keys::MasterKey::load_or_create(config.master_key.as_deref(), &config.database_url)?;
            crate::service::audit::install_keys(&key)?;
            startup::migrate(&db).await?;
            tracing::info!("migrations applied");
        }
        Command::Schema | Command::Audit(_) => {}
    }
    Ok(())
}
