//! The `countersign` binary, built again (as `countersign-e2e`, so its file
//! does not collide with the real one) inside the `tests` package so that
//! end-to-end tests can start real processes (`CARGO_BIN_EXE_countersign-e2e`)
//! and kill them. Same code as `api/src/main.rs`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    api::cli::main().await
}
