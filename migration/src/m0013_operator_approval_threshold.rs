//! Per-operator approval thresholds (issue 17): beside a signer's daily cap,
//! the USD value above which withdrawals that member initiates wait for
//! approval, even when the organisation's threshold would let them through.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table("risk_limits").add_column(string_len_null("approval_threshold_usd", 64)).take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("risk_limits").drop_column("approval_threshold_usd").take()).await?;
        Ok(())
    }
}
