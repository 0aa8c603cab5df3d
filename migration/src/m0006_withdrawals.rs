//! Whitelisted addresses, withdrawals, risk limits and their daily counters.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("addresses")
                .col(string_len("id", 64).primary_key())
                .col(string_len("org_id", 64))
                .col(string_len("account_id", 64))
                .col(string_len("asset", 16))
                .col(string_len("network", 64))
                .col(string_len("address", 200))
                .col(string_len("label", 200))
                .col(string_len("status", 16))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("idx_addresses_account").table("addresses").col("account_id").take())
            .await?;
        m.create_table(
            Table::create()
                .table("withdrawals")
                .col(string_len("request_id", 64).primary_key())
                .col(string_len("org_id", 64))
                .col(string_len("account_id", 64))
                .col(string_len("asset", 16))
                .col(string_len("amount", 64))
                .col(string_len("usd_value", 64))
                .col(string_len("address_id", 64))
                // The UTC day whose counters hold this withdrawal's capacity.
                .col(string_len("limit_day", 10))
                .col(string_len_null("api_key_id", 64))
                // HELD (capacity and funds reserved), SETTLED or RELEASED.
                .col(string_len("state", 16))
                .col(string_len_null("settlement_reference", 64))
                .col(string_len_null("executed_by", 64))
                .col(timestamp_with_time_zone_null("executed_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("risk_limits")
                .col(string_len("id", 64).primary_key())
                .col(string_len("org_id", 64))
                // ORGANIZATION, API_KEY or SIGNER; subject is the org id, the public key id or the user id.
                .col(string_len("layer", 16))
                .col(string_len("subject", 64))
                .col(string_len_null("per_transaction_max_usd", 64))
                .col(string_len_null("daily_cap_usd", 64))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_risk_limits_layer_subject")
                .table("risk_limits")
                .col("org_id")
                .col("layer")
                .col("subject")
                .unique()
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("limit_counters")
                .col(string_len("id", 64).primary_key())
                .col(string_len("org_id", 64))
                .col(string_len("layer", 16))
                .col(string_len("subject", 64))
                .col(string_len("day", 10))
                .col(string_len("held_usd", 64))
                .col(string_len("used_usd", 64))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_limit_counters")
                .table("limit_counters")
                .col("layer")
                .col("subject")
                .col("day")
                .unique()
                .take(),
        )
        .await
    }
}
