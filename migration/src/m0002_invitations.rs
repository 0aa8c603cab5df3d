//! Invitations and the delivery state of their e-mails.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("invitations")
                .col(string_len("id", 64).primary_key())
                .col(string_len("org_id", 64))
                .col(string_len("email", 320))
                .col(string_len("roles", 200))
                .col(string_len("invited_by", 64))
                .col(string_len("token_nonce", 64))
                .col(string_len_uniq("token_hash", 64))
                .col(string_len("status", 16))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("accepted_at"))
                .col(string_len("delivery_status", 16))
                .col(integer("delivery_attempts"))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(timestamp_with_time_zone_null("delivery_claimed_at"))
                .col(text_null("last_error"))
                .col(timestamp_with_time_zone_null("sent_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_invitations_org_email").table("invitations").col("org_id").col("email").take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_invitations_delivery")
                .table("invitations")
                .col("delivery_status")
                .col("next_attempt_at")
                .take(),
        )
        .await
    }
}
