//! Key rotation with an overlap, address cooling-off, withdrawal time
//! windows, approval delegation and approver notices.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migration;

/// The name databases recorded when this migration ran (its file was renamed
/// since; `seaql_migrations` keys on this string, so it stays).
impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_beyond"
    }
}

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for (table, column) in [
            ("api_keys", text_null("previous_secret_sealed")),
            ("api_keys", timestamp_with_time_zone_null("previous_valid_until")),
            // Null: usable at once (addresses whitelisted before cooling-off existed).
            ("addresses", timestamp_with_time_zone_null("usable_from")),
            // Null: the deployment's default delay.
            ("organizations", integer_null("address_cooling_off_secs")),
            // JSON (time zone, days, hours, what happens outside); null: any time.
            ("organizations", text_null("withdrawal_window")),
            ("members", boolean("approval_notices").default(true).take()),
            ("approvals", string_len_null("delegation_id", 64)),
        ] {
            let mut column = column;
            m.alter_table(Table::alter().table(table).add_column(&mut column).take()).await?;
        }
        m.create_table(
            Table::create()
                .table("delegations")
                .col(string_len("id", 64).primary_key())
                .col(string_len("org_id", 64))
                .col(string_len("from_member_id", 64))
                .col(string_len("to_member_id", 64))
                .col(string_len("workflow", 32))
                .col(timestamp_with_time_zone("valid_from"))
                .col(timestamp_with_time_zone("valid_until"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_index(Index::create().name("delegations_to").table("delegations").col("to_member_id").take()).await?;
        m.create_index(Index::create().name("delegations_org").table("delegations").col("org_id").take()).await?;
        m.create_table(
            Table::create()
                .table("approver_notices")
                .col(string_len("id", 64).primary_key())
                .col(string_len("org_id", 64))
                .col(string_len("member_id", 64))
                .col(string_len("request_id", 64))
                .col(timestamp_with_time_zone("created_at"))
                // Set when the digest that carried it was queued.
                .col(timestamp_with_time_zone_null("sent_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("approver_notices_unique")
                .table("approver_notices")
                .col("member_id")
                .col("request_id")
                .unique()
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("approver_notices_unsent")
                .table("approver_notices")
                .col("sent_at")
                .col("member_id")
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("approver_notices").take()).await?;
        m.drop_table(Table::drop().table("delegations").take()).await?;
        for (table, column) in [
            ("approvals", "delegation_id"),
            ("members", "approval_notices"),
            ("organizations", "withdrawal_window"),
            ("organizations", "address_cooling_off_secs"),
            ("addresses", "usable_from"),
            ("api_keys", "previous_valid_until"),
            ("api_keys", "previous_secret_sealed"),
        ] {
            m.alter_table(Table::alter().table(table).drop_column(column).take()).await?;
        }
        Ok(())
    }
}
