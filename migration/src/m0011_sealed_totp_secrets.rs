//! TOTP secrets sealed under the master key, and the session that started
//! enrolment (issue 16).
//!
//! The master key lives in configuration, not in the database, so this step
//! cannot seal the secrets already stored in `users.totp_secret`: it adds
//! `totp_secret_sealed`, and the application seals every plain row at
//! start-up (clearing the plain column in the same statement) and, should an
//! older process still write one, on first use.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [text_null("totp_secret_sealed"), string_len_null("totp_enrolling_session_id", 64)] {
            let mut column = column;
            m.alter_table(Table::alter().table("users").add_column(&mut column).take()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in ["totp_enrolling_session_id", "totp_secret_sealed"] {
            m.alter_table(Table::alter().table("users").drop_column(column).take()).await?;
        }
        Ok(())
    }
}
