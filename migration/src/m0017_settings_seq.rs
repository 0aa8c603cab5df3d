//! The organisation's settings version (issue 20): the audit sequence number
//! of its newest record that was not money moving, so that caches of access,
//! keys and accounts outlive the withdrawals that move `audit_seq`.
//!
//! The database keeps it, with a trigger on `audit_records`, rather than the
//! code that appends: every writer moves it, a process of an earlier release
//! still running beside newer ones during a rolling upgrade included (its
//! role changes must invalidate the newer processes' caches too).

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Actions that move money, or a request through its life, or follow from
/// balances (an alert's state), and change nothing a member's access, an API
/// key or the account list is made of. A request's *effect* is recorded
/// under its operation's own name (an executed role change as
/// `SET_MEMBER_ROLES`), so it is not among them; neither is pausing
/// withdrawals, nor any action added later, until a migration says otherwise.
const MONEY_ACTIONS: &[&str] = &[
    "REQUEST_CREATED",
    "WITHDRAWAL_REQUESTED",
    "REQUEST_APPROVED",
    "REQUEST_REJECTED",
    "REQUEST_CANCELLED",
    "REQUEST_EXPIRED",
    "REQUEST_FAILED",
    "WITHDRAW",
    "WITHDRAWAL_EXECUTED",
    "ACCOUNT_CREDITED",
    // A price move recomputes thousands of organisations' alerts at once.
    "BALANCE_ALERT_CHANGED",
];

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("organizations").add_column(big_integer("settings_seq").default(0)).take())
            .await?;
        let db = m.get_connection();
        // Every record so far may have changed settings: the newest is the version.
        db.execute_unprepared("UPDATE organizations SET settings_seq = audit_seq").await?;
        let money = MONEY_ACTIONS.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ");
        let moves = "UPDATE organizations SET settings_seq = NEW.seq WHERE id = NEW.org_id AND settings_seq < NEW.seq";
        match db.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "CREATE FUNCTION countersign_move_settings_seq() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN {moves}; RETURN NULL; END $$"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER audit_records_move_settings_seq AFTER INSERT ON audit_records FOR EACH ROW \
                     WHEN (NEW.action NOT IN ({money})) EXECUTE FUNCTION countersign_move_settings_seq()"
                ))
                .await?;
            }
            _ => {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER audit_records_move_settings_seq AFTER INSERT ON audit_records \
                     WHEN NEW.action NOT IN ({money}) BEGIN {moves}; END"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP TRIGGER IF EXISTS audit_records_move_settings_seq ON audit_records").await?;
            db.execute_unprepared("DROP FUNCTION IF EXISTS countersign_move_settings_seq()").await?;
        } else {
            db.execute_unprepared("DROP TRIGGER IF EXISTS audit_records_move_settings_seq").await?;
        }
        m.alter_table(Table::alter().table("organizations").drop_column("settings_seq").take()).await?;
        Ok(())
    }
}
