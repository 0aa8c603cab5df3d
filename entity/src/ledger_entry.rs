//! One append-only ledger entry (a credit from custody, a settled debit, …).
use crate::money::Amount;
use domain::LedgerKind;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: String,
    pub account_id: String,
    pub asset: String,
    /// `CREDIT` or `DEBIT`.
    pub kind: LedgerKind,
    /// Positive.
    pub amount: Amount,
    /// The holding after this entry.
    pub balance_after: Amount,
    /// Custody's reference (credits) or the settlement reference (debits); unique per account and kind.
    pub reference: String,
    pub request_id: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
