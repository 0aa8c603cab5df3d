//! The organisation's settings version (issue 20): the audit sequence number
//! of its newest change that was not money moving, so that caches of access,
//! keys and accounts outlive the withdrawals that move `audit_seq`.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("organizations").add_column(big_integer("settings_seq").default(0)).take())
            .await?;
        // Every record so far may have changed settings: the newest is the version.
        m.get_connection().execute_unprepared("UPDATE organizations SET settings_seq = audit_seq").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("organizations").drop_column("settings_seq").take()).await?;
        Ok(())
    }
}
