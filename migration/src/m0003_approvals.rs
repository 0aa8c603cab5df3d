//! Policies per workflow, approvals of requests, and what a request waits for.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("policies")
                .col(string_len("id", 64).primary_key())
                .col(string_len("org_id", 64))
                .col(string_len("workflow", 32))
                .col(integer("required_approvals"))
                .col(boolean("always_require_approval"))
                // Money is stored as decimal text: exact on SQLite too (no REAL anywhere).
                .col(string_len_null("approval_threshold_usd", 64))
                .col(boolean("locked"))
                .col(integer("version"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_policies_org_workflow")
                .table("policies")
                .col("org_id")
                .col("workflow")
                .unique()
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("approvals")
                .col(string_len("id", 64).primary_key())
                .col(string_len("request_id", 64))
                .col(string_len("org_id", 64))
                .col(string_len("approver_id", 64))
                .col(timestamp_with_time_zone("at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_approvals_request_approver")
                .table("approvals")
                .col("request_id")
                .col("approver_id")
                .unique()
                .take(),
        )
        .await?;
        // Why a request waits (shown to people), and the account it concerns.
        m.alter_table(Table::alter().table("requests").add_column(text_null("waiting_reason")).take()).await?;
        m.alter_table(Table::alter().table("requests").add_column(string_len_null("account_id", 64)).take()).await?;
        m.create_index(
            Index::create().name("idx_requests_org_created").table("requests").col("org_id").col("created_at").take(),
        )
        .await
    }
}
