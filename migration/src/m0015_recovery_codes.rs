//! One-time recovery codes (issue 18): each signs in once in place of a TOTP
//! code, for a person who lost their authenticator. Only digests are kept.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("recovery_codes")
                .col(string_len("id", 64).primary_key())
                .col(string_len("user_id", 64))
                // SHA-256 of the normalised code (high-entropy, so unsalted).
                .col(string_len("code_hash", 64).unique_key())
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("used_at"))
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("recovery_codes_user").table("recovery_codes").col("user_id").take())
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("recovery_codes").take()).await?;
        Ok(())
    }
}
