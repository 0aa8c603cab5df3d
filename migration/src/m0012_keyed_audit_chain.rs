//! The keyed audit chain and its signed checkpoints (issue 16, item 16).
//!
//! `audit_records.mac` holds each record's HMAC-SHA256 link and
//! `organizations.audit_head_mac` the newest one; both start empty here,
//! because a migration has no master key. The process that applies this step
//! seals the records that exist at that moment right after it
//! (`api::service::audit::upgrade`); an empty MAC is never accepted by
//! verification afterwards. `audit_checkpoints` keeps the Ed25519-signed
//! statements (organisation, sequence number, head hash and MAC, time).

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for (table, column) in [
            ("audit_records", string_len("mac", 64).default("").take()),
            ("organizations", string_len("audit_head_mac", 64).default("").take()),
        ] {
            let mut column = column;
            m.alter_table(Table::alter().table(table).add_column(&mut column).take()).await?;
        }
        m.create_table(
            Table::create()
                .table("audit_checkpoints")
                .col(big_pk_auto("id"))
                .col(string_len("org_id", 64))
                .col(big_integer("seq"))
                .col(timestamp_with_time_zone("at"))
                .col(string_len("head_hash", 64))
                .col(string_len("head_mac", 64))
                // Ed25519 over the statement (`api::service::audit::statement`), hex.
                .col(string_len("signature", 128))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("audit_checkpoints_org_seq")
                .table("audit_checkpoints")
                .col("org_id")
                .col("seq")
                .unique()
                .take(),
        )
        .await?;
        Ok(())
    }
}
