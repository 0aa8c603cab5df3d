//! Who obtained a service user's key secrets (issue 16): a service user's
//! requests count as made by its creator and by every member who obtained
//! one of its secrets, so none of them may approve those requests.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("secret_holders")
                .col(string_len("id", 64).primary_key())
                .col(string_len("org_id", 64))
                .col(string_len("service_user_id", 64))
                // The public key id (`cs_…`).
                .col(string_len("key_id", 64))
                .col(string_len("user_id", 64))
                // How: the operation that issued the secret to them, or CLAIMED.
                .col(string_len("how", 32))
                .col(string_len_null("request_id", 64))
                .col(timestamp_with_time_zone("obtained_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("secret_holders_service_user").table("secret_holders").col("service_user_id").take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("secret_holders").take()).await?;
        Ok(())
    }
}
