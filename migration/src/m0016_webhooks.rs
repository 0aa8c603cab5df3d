//! Signed webhooks (issue 21): an organisation's endpoints and every
//! delivery of an event to one. Events are read from the audit trail (each
//! endpoint keeps the last audit sequence it has considered), so an event is
//! recorded by the very transaction that made the change it reports.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("webhook_endpoints")
                .col(string_len("id", 64).primary_key())
                .col(string_len("org_id", 64))
                .col(string_len("url", 2000))
                // Comma-separated event kinds: REQUEST, BALANCE_ALERT, PERMISSION.
                .col(string_len("events", 200))
                // AES-256-GCM under the master key, bound to the endpoint id.
                .col(text("secret_sealed"))
                // The request that created it, and whether its secret was shown.
                .col(string_len_null("claim_request_id", 64))
                .col(boolean("secret_claimed"))
                .col(string_len("status", 16))
                // The last audit sequence of the organisation turned into deliveries.
                .col(big_integer("cursor"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("removed_at"))
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("webhook_endpoints_org").table("webhook_endpoints").col("org_id").take())
            .await?;
        m.create_table(
            Table::create()
                .table("webhook_deliveries")
                .col(string_len("id", 64).primary_key())
                .col(string_len("endpoint_id", 64))
                .col(string_len("org_id", 64))
                // `evt_` and the audit record's id: the same event keeps its id on every attempt.
                .col(string_len("event_id", 64))
                .col(string_len("event_type", 64))
                .col(text("payload"))
                .col(string_len("status", 16))
                .col(integer("attempts"))
                .col(integer_null("last_status_code"))
                .col(text_null("last_error"))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(timestamp_with_time_zone_null("lease_until"))
                .col(timestamp_with_time_zone_null("delivered_at"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_webhook_deliveries_event")
                .table("webhook_deliveries")
                .col("endpoint_id")
                .col("event_id")
                .unique()
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("webhook_deliveries_due")
                .table("webhook_deliveries")
                .col("status")
                .col("next_attempt_at")
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("webhook_deliveries").take()).await?;
        m.drop_table(Table::drop().table("webhook_endpoints").take()).await?;
        Ok(())
    }
}
