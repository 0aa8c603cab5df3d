//! A tenant: an organisation with its owner, settings and audit-chain head.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub owner_user_id: String,
    /// Sessions idle longer than this lose access to the organisation.
    pub session_idle_timeout_secs: i32,
    /// Sequence number of the newest audit record (0 when none).
    pub audit_seq: i64,
    /// Hash of the newest audit record; the next record chains to it.
    pub audit_head: String,
    /// MAC of the newest audit record (64 zeros when none).
    pub audit_head_mac: String,
    /// Sequence number of the newest audit record that changed anything but
    /// money (members, roles, grants, delegations, keys, policies, limits…):
    /// the version cached access, keys and accounts are checked against.
    /// Moved by a trigger on `audit_records` (migration `m0017_settings_seq`).
    pub settings_seq: i64,
    pub created_at: DateTimeUtc,
    /// Refuse new withdrawals while the stablecoin balance alert is LOW.
    pub pause_on_low_balance: bool,
    /// Delay before a new address can receive; `None`: the deployment default.
    pub address_cooling_off_secs: Option<i32>,
    /// When withdrawals may be made, as JSON; `None`: at any time.
    pub withdrawal_window: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
