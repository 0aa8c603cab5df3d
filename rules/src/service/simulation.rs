//! Dry runs: what a governed operation would do, without doing it.
//!
//! A dry run first lists every check that refuses the operation now (for a
//! withdrawal each one — readiness, pause, funds, every limit layer — not
//! only the first). When none does, it runs the real submission
//! ([`requests::submit_in`]) inside a transaction that is rolled back, so the
//! answer — completes at once, or waits for N approvals from whom, and the
//! usage each limit layer would have afterwards — is the real call's by
//! construction. On SQLite that transaction holds the write lock briefly,
//! like any write.

use super::limits::{self, Usage};
use super::operation::Operation;
use super::org_reads::OrgReads;
use super::pending::PendingWrites;
use super::requests::{self, Engine};
use super::{ServiceError, ServiceResult, withdrawals};
use crate::access::OrgAccess;
use crate::db::begin_write;
use domain::RequestStatus;
use entity::request;
use rust_decimal::Decimal;
use sea_orm::TransactionTrait;

/// The answer of a dry run.
pub struct Simulation {
    /// Every check that refuses the operation; empty when it would go ahead.
    pub failures: Vec<ServiceError>,
    /// The request the real call would create, when it would go ahead.
    pub request: Option<request::Model>,
    /// Who could approve it, when it would wait.
    pub eligible_approvers: Vec<String>,
    /// Each limit layer's figures as they would be afterwards (as they are, when refused).
    pub usage_after: Vec<Usage>,
    /// For a withdrawal: the approval threshold that governs it (the lower of
    /// the organisation's and the initiator's own), and its USD value.
    pub threshold: Option<(requests::Threshold, Decimal)>,
}

/// Answers what submitting `op` would do now, writing nothing.
pub async fn simulate(engine: &Engine<'_>, access: &OrgAccess, op: Operation) -> ServiceResult<Simulation> {
    let now = engine.env.now;
    let mut failures = Vec::new();
    if let Err(e) = op.require_initiate(access) {
        failures.push(e);
    }
    if let Operation::Withdraw(w) = &op {
        failures.extend(withdrawals::assess(engine.db, access, w, now).await?);
    }
    let day = limits::day_of(now);
    let txn = begin_write(engine.db).await?;
    let mut simulation = Simulation {
        failures,
        request: None,
        eligible_approvers: Vec::new(),
        usage_after: Vec::new(),
        threshold: None,
    };
    if simulation.failures.is_empty() {
        // The real thing, in a savepoint we always undo.
        let trial = txn.begin().await?;
        let reads = OrgReads::default();
        let mut pending = PendingWrites::default();
        let submitted = match requests::submit_in(&trial, engine, access, op, &reads, &mut pending).await {
            Ok((submitted, _effects)) => pending.flush(&trial).await.map(|()| submitted),
            Err(e) => Err(e),
        };
        match submitted {
            Ok(submitted) => {
                if submitted.request.status == RequestStatus::PendingApproval {
                    simulation.eligible_approvers =
                        requests::eligible_approvers(&trial, &submitted.request, engine.env.now).await?;
                }
                simulation.usage_after = limits::usage_all(&trial, &access.org_id, &day).await?;
                if let Some(w) = withdrawals::of_request(&trial, &submitted.request.id).await? {
                    let (org, own) = requests::withdrawal_thresholds(&trial, &reads, access).await?;
                    let usd = w.usd_value.0;
                    simulation.threshold = requests::governing(org, own).map(|t| (t, usd));
                }
                simulation.request = Some(submitted.request);
            }
            Err(e @ ServiceError::Internal(_)) => return Err(e),
            Err(e) => simulation.failures.push(e),
        }
        trial.rollback().await?;
    }
    // Refused, it shows usage as it is: only to those who may read usage.
    if simulation.request.is_none() && access.require_funds_view().is_ok() {
        simulation.usage_after = limits::usage_all(&txn, &access.org_id, &day).await?;
    }
    txn.rollback().await?;
    Ok(simulation)
}
