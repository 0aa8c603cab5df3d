//! What a transaction's new withdrawals have decided, written at its end.
//!
//! A new withdrawal changes three hot rows — the holding it draws on, the
//! day's limit counters, the organisation's audit head — and inserts three
//! (the request, the withdrawal, its audit record). Written one statement at
//! a time, a batch of 64 ([`super::sequencer`]) was some 700 round trips
//! under the organisation's locks. Here the hot rows are read (and locked)
//! once, kept as running totals that each withdrawal decides against, and
//! written once by [`PendingWrites::flush`], with the new rows in multi-row
//! inserts and the audit records appended in order in one go.
//!
//! A withdrawal that is refused leaves no trace: the sequencer takes a
//! [`Mark`] before it and [`PendingWrites::rewind`]s to it. Only a limit
//! counter for a new day may be created at zero before the refusal (it is
//! inserted and locked when first needed, so that every process serialises
//! on it; a zero counter reads as none).
//!
//! Whatever reads these tables from the database within the transaction —
//! settling a withdrawal at once, a dry run's usage — must call
//! [`PendingWrites::flush`] first, which also forgets the totals, as later
//! writes may move them.

use super::audit::{self, AuditActor, Entry};
use super::limits::{self, LimitLayer};
use super::{ServiceResult, approver_notices};
use chrono::{DateTime, Utc};
use entity::{holding, limit_counter, request, withdrawal};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel};
use std::collections::HashMap;

/// Rows per multi-row insert: a request has 15 columns, so 200 rows stay far
/// below SQLite's bound-parameter limit.
const ROWS_PER_INSERT: usize = 200;

/// Decided, not yet written (see the module's doc). One transaction's only.
#[derive(Default)]
pub struct PendingWrites {
    totals: Totals,
    requests: Vec<request::Model>,
    withdrawals: Vec<withdrawal::ActiveModel>,
    audit: Vec<AuditRow>,
    /// Waiting requests whose approvers are owed a notice, once the request is written.
    owed: Vec<(request::Model, DateTime<Utc>)>,
}

/// The hot rows as read under their locks, with what was decided since.
#[derive(Clone, Default)]
struct Totals {
    holdings: HashMap<(String, String), Row<holding::Model>>,
    counters: HashMap<(LimitLayer, String, String), Row<limit_counter::Model>>,
}

#[derive(Clone)]
struct Row<M> {
    model: M,
    changed: bool,
}

/// An audit entry and the time it is recorded at.
struct AuditRow {
    org_id: String,
    actor: AuditActor,
    action: String,
    target: Option<String>,
    after: Option<serde_json::Value>,
    request_id: Option<String>,
    at: DateTime<Utc>,
}

/// Where to [`PendingWrites::rewind`] to.
pub struct Mark {
    totals: Totals,
    requests: usize,
    withdrawals: usize,
    audit: usize,
    owed: usize,
}

impl PendingWrites {
    /// The holding of `asset` on `account_id`, as this transaction has left it;
    /// `None` when the account has never held it. Locked when first read.
    pub async fn holding<C: ConnectionTrait>(
        &mut self,
        db: &C,
        account_id: &str,
        asset: &str,
    ) -> ServiceResult<Option<holding::Model>> {
        let key = (account_id.to_string(), asset.to_string());
        if let Some(row) = self.totals.holdings.get(&key) {
            return Ok(Some(row.model.clone()));
        }
        let Some(h) = super::ledger::holding_locked(db, account_id, asset).await? else { return Ok(None) };
        self.totals.holdings.insert(key, Row { model: h.clone(), changed: false });
        Ok(Some(h))
    }

    /// Records `h` (read through [`Self::holding`]) as the holding now stands.
    pub fn set_holding(&mut self, h: holding::Model) {
        self.totals.holdings.insert((h.account_id.clone(), h.asset.clone()), Row { model: h, changed: true });
    }

    /// The day's counter of (layer, subject), as this transaction has left it.
    pub async fn counter<C: ConnectionTrait>(
        &mut self,
        db: &C,
        org_id: &str,
        layer: LimitLayer,
        subject: &str,
        day: &str,
    ) -> ServiceResult<limit_counter::Model> {
        let key = (layer, subject.to_string(), day.to_string());
        if let Some(row) = self.totals.counters.get(&key) {
            return Ok(row.model.clone());
        }
        let c = limits::counter(db, org_id, layer, subject, day).await?;
        self.totals.counters.insert(key, Row { model: c.clone(), changed: false });
        Ok(c)
    }

    /// Records `c` (read through [`Self::counter`]) as the counter now stands.
    pub fn set_counter(&mut self, c: limit_counter::Model) {
        self.totals.counters.insert((c.layer, c.subject.clone(), c.day.clone()), Row { model: c, changed: true });
    }

    pub fn insert_request(&mut self, r: request::Model) {
        self.requests.push(r);
    }

    pub fn insert_withdrawal(&mut self, w: withdrawal::ActiveModel) {
        self.withdrawals.push(w);
    }

    /// Appends `entry` to its organisation's chain, at `at`, in order with the others.
    pub fn append_audit(&mut self, entry: Entry<'_>, at: DateTime<Utc>) {
        debug_assert!(entry.before.is_none(), "new withdrawals audit no before-state");
        self.audit.push(AuditRow {
            org_id: entry.org_id.to_string(),
            actor: entry.actor,
            action: entry.action.to_string(),
            target: entry.target,
            after: entry.after,
            request_id: entry.request_id,
            at,
        });
    }

    /// Owes `req`'s eligible approvers a notice (after `req` is written).
    pub fn owe_approvers(&mut self, req: request::Model, at: DateTime<Utc>) {
        self.owed.push((req, at));
    }

    pub fn mark(&self) -> Mark {
        Mark {
            totals: self.totals.clone(),
            requests: self.requests.len(),
            withdrawals: self.withdrawals.len(),
            audit: self.audit.len(),
            owed: self.owed.len(),
        }
    }

    /// Undoes everything decided since `mark` was taken.
    pub fn rewind(&mut self, mark: Mark) {
        self.totals = mark.totals;
        self.requests.truncate(mark.requests);
        self.withdrawals.truncate(mark.withdrawals);
        self.audit.truncate(mark.audit);
        self.owed.truncate(mark.owed);
    }

    /// Writes everything decided, in the order the foreign keys need
    /// (requests, then their withdrawals, audit records and notices), and
    /// forgets the totals: this transaction may now move those rows itself.
    pub async fn flush<C: ConnectionTrait>(&mut self, db: &C) -> ServiceResult<()> {
        let totals = std::mem::take(&mut self.totals);
        for row in totals.holdings.into_values().filter(|r| r.changed) {
            row.model.into_active_model().reset_all().update(db).await?;
        }
        for row in totals.counters.into_values().filter(|r| r.changed) {
            row.model.into_active_model().reset_all().update(db).await?;
        }
        let requests = std::mem::take(&mut self.requests);
        for chunk in requests.chunks(ROWS_PER_INSERT) {
            let rows = chunk.iter().map(|r| r.clone().into_active_model().reset_all());
            request::Entity::insert_many(rows).exec_without_returning(db).await?;
        }
        let withdrawals = std::mem::take(&mut self.withdrawals);
        let mut withdrawals = withdrawals.into_iter().peekable();
        while withdrawals.peek().is_some() {
            let chunk: Vec<_> = withdrawals.by_ref().take(ROWS_PER_INSERT).collect();
            withdrawal::Entity::insert_many(chunk).exec_without_returning(db).await?;
        }
        let rows = std::mem::take(&mut self.audit);
        let entries = rows.iter().map(|r| {
            let entry = Entry {
                org_id: &r.org_id,
                actor: r.actor.clone(),
                action: &r.action,
                target: r.target.clone(),
                before: None,
                after: r.after.clone(),
                request_id: r.request_id.clone(),
            };
            (entry, r.at)
        });
        audit::append_many_at(db, entries.collect()).await?;
        for (req, at) in std::mem::take(&mut self.owed) {
            approver_notices::owe(db, &req, at).await?;
        }
        Ok(())
    }
}
