//! Dry runs in the schema: `simulateWithdrawal` and `simulate` answer what a
//! governed operation would do, from one [`simulation::Simulation`].

use super::ApiResult;
use super::error::code;
use super::scalars::Decimal;
use super::types::{LimitUsage, User, person};
use crate::authz::OrgAccess;
use crate::domain::RequestStatus;
use crate::service::{ServiceError, simulation};
use async_graphql::{Context, Enum, Object, SimpleObject};
use std::sync::Arc;

/// What the real call would do.
#[derive(Enum, Copy, Clone, PartialEq, Eq, Debug)]
pub enum SimulatedOutcome {
    /// It would be refused; `failures` says why.
    Refused,
    /// It would take effect at once (a withdrawal: APPROVED for a signer, or
    /// COMPLETED with `execute` or straight through for an `autoExecute` key).
    CompletesNow,
    /// It would wait for `approvalsRequired` approvals from `eligibleApprovers`.
    WaitsForApproval,
}

/// One check that refuses the operation, as the real call would report it.
#[derive(SimpleObject)]
pub struct SimulatedFailure {
    /// The `extensions.code` the real call would return.
    pub code: String,
    pub message: String,
    /// For `LIMIT_EXCEEDED`: the limit layer.
    pub layer: Option<String>,
    /// For `LIMIT_EXCEEDED`, the figures the real refusal's `extensions`
    /// carry: `PER_TRANSACTION_MAX` or `DAILY_CAP`.
    pub limit: Option<String>,
    /// The cap, in USD.
    pub cap_usd: Option<Decimal>,
    /// What already counts against the cap today (zero for a per-transaction maximum).
    pub used_usd: Option<Decimal>,
    pub held_usd: Option<Decimal>,
    /// This withdrawal's USD value.
    pub amount_usd: Option<Decimal>,
    /// usedUsd + heldUsd + amountUsd − capUsd.
    pub overshoot_usd: Option<Decimal>,
}

impl From<&ServiceError> for SimulatedFailure {
    fn from(e: &ServiceError) -> Self {
        let message = match e {
            ServiceError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        let mut f = Self {
            code: code(e).to_string(),
            message,
            layer: None,
            limit: None,
            cap_usd: None,
            used_usd: None,
            held_usd: None,
            amount_usd: None,
            overshoot_usd: None,
        };
        if let ServiceError::LimitExceeded(b) = e {
            // The figures of the real refusal's `extensions` (`error::limit_figures`).
            let [cap, used, held, amount, over] = b.usd_figures().map(|(_, v)| Some(Decimal(v)));
            f.layer = Some(b.layer.to_string());
            f.limit = Some(b.kind.as_str().to_string());
            (f.cap_usd, f.used_usd, f.held_usd, f.amount_usd, f.overshoot_usd) = (cap, used, held, amount, over);
        }
        f
    }
}

/// Which approval threshold decided a withdrawal: the lower of the
/// organisation's (the withdrawal policy's `approvalThresholdUsd`) and the
/// initiator's own (SIGNER layer of `setRiskLimits`).
#[derive(SimpleObject)]
pub struct DecidingThreshold {
    /// `ORGANIZATION` or `OPERATOR`.
    pub layer: String,
    pub threshold_usd: Decimal,
    /// The withdrawal's USD value at the current price.
    pub usd_value: Decimal,
    /// Above it the withdrawal waits for approval; at or below it, it needs
    /// none (unless `alwaysRequireApproval`, or it is made outside the window).
    pub above: bool,
}

/// The answer of a dry run; nothing was written.
pub struct Simulation {
    pub sim: simulation::Simulation,
    /// The access it was simulated with.
    pub access: Arc<OrgAccess>,
}

#[Object]
impl Simulation {
    async fn outcome(&self) -> SimulatedOutcome {
        match &self.sim.request {
            None => SimulatedOutcome::Refused,
            Some(r) if r.status == RequestStatus::PendingApproval => SimulatedOutcome::WaitsForApproval,
            Some(_) => SimulatedOutcome::CompletesNow,
        }
    }
    /// Every check that refuses it now (empty unless `outcome` is REFUSED).
    async fn failures(&self) -> Vec<SimulatedFailure> {
        self.sim.failures.iter().map(SimulatedFailure::from).collect()
    }
    /// The status the request would have (null when refused).
    async fn status(&self) -> Option<&str> {
        self.sim.request.as_ref().map(|r| r.status.as_str())
    }
    async fn approvals_required(&self) -> i32 {
        self.sim.request.as_ref().map_or(0, |r| r.approvals_required)
    }
    async fn waiting_reason(&self) -> Option<&str> {
        self.sim.request.as_ref().and_then(|r| r.waiting_reason.as_deref())
    }
    /// The policy version that would govern it.
    async fn policy_version(&self) -> Option<i32> {
        self.sim.request.as_ref().and_then(|r| r.policy_version)
    }
    /// Who could approve it, when it would wait.
    async fn eligible_approvers(&self, ctx: &Context<'_>) -> ApiResult<Vec<User>> {
        let people = self.sim.eligible_approvers.iter().map(|id| person(ctx, &self.access, id));
        futures_util::future::try_join_all(people).await
    }
    /// For a withdrawal, the approval threshold that governs it (null when
    /// none applies: then the policy's other rules decide; see `waitingReason`).
    async fn deciding_threshold(&self) -> Option<DecidingThreshold> {
        self.sim.threshold.map(|(t, usd)| DecidingThreshold {
            layer: t.layer.as_str().to_string(),
            threshold_usd: Decimal(t.usd),
            usd_value: Decimal(usd),
            above: usd > t.usd,
        })
    }
    /// Each limit layer's figures as they would be afterwards (today, UTC).
    async fn usage_after(&self) -> Vec<LimitUsage> {
        self.sim.usage_after.iter().cloned().map(LimitUsage).collect()
    }
}
