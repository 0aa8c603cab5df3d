//! Countersign's schema, as sea-orm-migration steps that run on SQLite and PostgreSQL.
//!
//! Migrations are append-only: never edit one that has shipped, add a new step;
//! never change a step's name either (see `recorded_names_never_change`).

use sea_orm_migration::async_trait::async_trait;
pub use sea_orm_migration::prelude::*;

mod m0001_foundation;
mod m0002_invitations;
mod m0003_approvals;
mod m0004_service_users;
mod m0005_ledger;
mod m0006_withdrawals;
mod m0007_balance_alerts;
mod m0008_policy_versions_and_pause;
mod m0009_rotation_cooling_off_windows_delegation;
mod m0010_api_key_secret_holders;
mod m0011_sealed_totp_secrets;
mod m0012_keyed_audit_chain;
mod m0013_operator_approval_threshold;
mod m0014_api_key_auto_execute;
mod m0015_recovery_codes;
mod m0016_webhooks;
mod m0017_settings_seq;

/// Applies every step in order; `countersign migrate` and `serve` call `Migrator::up`.
pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_foundation::Migration),
            Box::new(m0002_invitations::Migration),
            Box::new(m0003_approvals::Migration),
            Box::new(m0004_service_users::Migration),
            Box::new(m0005_ledger::Migration),
            Box::new(m0006_withdrawals::Migration),
            Box::new(m0007_balance_alerts::Migration),
            Box::new(m0008_policy_versions_and_pause::Migration),
            Box::new(m0009_rotation_cooling_off_windows_delegation::Migration),
            Box::new(m0010_api_key_secret_holders::Migration),
            Box::new(m0011_sealed_totp_secrets::Migration),
            Box::new(m0012_keyed_audit_chain::Migration),
            Box::new(m0013_operator_approval_threshold::Migration),
            Box::new(m0014_api_key_auto_execute::Migration),
            Box::new(m0015_recovery_codes::Migration),
            Box::new(m0016_webhooks::Migration),
            Box::new(m0017_settings_seq::Migration),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `seaql_migrations` keys applied steps by name: a renamed step would run
    /// again on every existing database. Files may be renamed; names may not.
    #[test]
    fn recorded_names_never_change() {
        let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_string()).collect();
        assert_eq!(
            names,
            [
                "m0001_foundation",
                "m0002_invitations",
                "m0003_approvals",
                "m0004_service_users",
                "m0005_ledger",
                "m0006_withdrawals",
                "m0007_balance_alerts",
                "m0008_policy_versions_and_pause",
                "m0009_beyond",
                "m0010_api_key_secret_holders",
                "m0011_sealed_totp_secrets",
                "m0012_keyed_audit_chain",
                "m0013_operator_approval_threshold",
                "m0014_api_key_auto_execute",
                "m0015_recovery_codes",
                "m0016_webhooks",
                "m0017_settings_seq",
            ]
        );
    }
}
