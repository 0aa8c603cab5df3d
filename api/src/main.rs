//! The `countersign` binary; see [`api::cli`].

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    api::cli::main().await
}
