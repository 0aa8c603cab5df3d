//! Requests remember the policy version they were created under; an
//! organisation may opt in to pausing withdrawals while its balance alert is LOW.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Null: no policy governed the request's workflow when it was made.
        m.alter_table(Table::alter().table("requests").add_column(integer_null("policy_version")).take()).await?;
        m.alter_table(
            Table::alter().table("organizations").add_column(boolean("pause_on_low_balance").default(false)).take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("organizations").drop_column("pause_on_low_balance").take()).await?;
        m.alter_table(Table::alter().table("requests").drop_column("policy_version").take()).await?;
        Ok(())
    }
}
