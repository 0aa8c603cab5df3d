//! Straight-through payouts (issue 17): a key the organisation allowed to
//! settle its own withdrawals that need no approval. Off for every key.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("api_keys").add_column(boolean("auto_execute").default(false)).take())
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("api_keys").drop_column("auto_execute").take()).await?;
        Ok(())
    }
}
