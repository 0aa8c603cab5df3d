//! Service users, their API keys (secrets encrypted), and used nonces.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("service_users")
                .col(string_len("id", 64).primary_key())
                .col(string_len("org_id", 64))
                .col(string_len("name", 200))
                .col(string_len("status", 16))
                .col(string_len("created_by", 64))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("idx_service_users_org").table("service_users").col("org_id").take())
            .await?;
        m.create_table(
            Table::create()
                .table("api_keys")
                .col(string_len("id", 64).primary_key())
                .col(string_len_uniq("key_id", 64))
                .col(string_len("org_id", 64))
                .col(string_len("service_user_id", 64))
                .col(string_len("status", 16))
                .col(string_len("scopes", 400))
                .col(text_null("account_ids"))
                .col(timestamp_with_time_zone_null("expires_at"))
                .col(text_null("ip_allowlist"))
                .col(big_integer_null("nonce_window"))
                .col(boolean("allow_websocket"))
                .col(timestamp_with_time_zone_null("query_start"))
                .col(timestamp_with_time_zone_null("query_end"))
                .col(text("secret_sealed"))
                .col(string_len_null("claim_request_id", 64))
                .col(boolean("secret_claimed"))
                // u64 nonces stored order-preserving in i64 (sign bit flipped).
                .col(big_integer("highest_nonce"))
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(string_len_null("last_used_ip", 64))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_api_keys_service_user").table("api_keys").col("service_user_id").take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("api_key_nonces")
                .col(string_len("key_id", 64))
                .col(big_integer("nonce"))
                .col(timestamp_with_time_zone("at"))
                .primary_key(Index::create().col("key_id").col("nonce"))
                .take(),
        )
        .await
    }
}
