//! Stablecoin balance alerts, their history, and notification e-mails.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("balance_alerts")
                .col(string_len("org_id", 64).primary_key())
                .col(string_len_null("threshold_usd", 64))
                // HEALTHY, LOW or UNCONFIGURED.
                .col(string_len("state", 16))
                .col(string_len("total_usd", 64))
                .col(timestamp_with_time_zone("changed_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("balance_alert_history")
                .col(big_pk_auto("id"))
                .col(string_len("org_id", 64))
                .col(string_len("state", 16))
                .col(string_len("total_usd", 64))
                .col(string_len_null("threshold_usd", 64))
                .col(timestamp_with_time_zone("at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_alert_history_org").table("balance_alert_history").col("org_id").take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("notifications")
                .col(string_len("id", 64).primary_key())
                .col(string_len("org_id", 64))
                .col(string_len("to_email", 320))
                .col(string_len("subject", 300))
                .col(text("body"))
                .col(string_len("delivery_status", 16))
                .col(integer("delivery_attempts"))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(timestamp_with_time_zone_null("delivery_claimed_at"))
                .col(text_null("last_error"))
                .col(timestamp_with_time_zone_null("sent_at"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_notifications_delivery")
                .table("notifications")
                .col("delivery_status")
                .col("next_attempt_at")
                .take(),
        )
        .await
    }
}
