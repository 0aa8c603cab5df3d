//! The service layer's error: every rule a domain function can refuse on.
//!
//! Each variant corresponds to one stable GraphQL `extensions.code`
//! (see `graphql::error`, the only place that maps them).

use domain::{LimitKind, LimitLayer, Overflow, ParseError};
use rust_decimal::Decimal;
use sea_orm::DbErr;

/// A limit a withdrawal would break and by how much, all in USD: what
/// already counts against the cap (`used` and `held` today; nothing, for a
/// per-transaction maximum), this withdrawal's `amount`, and the true
/// `overshoot` = used + held + amount − cap. Refusals and dry runs report
/// these same figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitBreach {
    pub layer: LimitLayer,
    pub kind: LimitKind,
    pub cap: Decimal,
    pub used: Decimal,
    pub held: Decimal,
    pub amount: Decimal,
    pub overshoot: Decimal,
}

impl LimitBreach {
    /// The USD figures, normalised, by the names a refusal's `extensions`
    /// and a dry run's failure give them.
    pub fn usd_figures(&self) -> [(&'static str, Decimal); 5] {
        [
            ("capUsd", self.cap),
            ("usedUsd", self.used),
            ("heldUsd", self.held),
            ("amountUsd", self.amount),
            ("overshootUsd", self.overshoot),
        ]
        .map(|(name, v)| (name, v.normalize()))
    }
}

impl std::fmt::Display for LimitBreach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (layer, cap, over, amount) =
            (self.layer, self.cap.normalize(), self.overshoot.normalize(), self.amount.normalize());
        match self.kind {
            LimitKind::PerTransactionMax => write!(
                f,
                "{layer} per-transaction maximum of {cap} USD would be exceeded by {over} USD: this withdrawal is {amount} USD"
            ),
            LimitKind::DailyCap => write!(
                f,
                "{layer} daily cap of {cap} USD would be exceeded by {over} USD: {} USD used and {} USD held today, plus this withdrawal of {amount} USD",
                self.used.normalize(),
                self.held.normalize()
            ),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    #[error("authentication required: {0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// Missing or belonging to another organisation: the two are indistinguishable.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("invalid input: {0}")]
    BadInput(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TwoFactorRequired(String),
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: i64 },
    #[error("{0}")]
    SelfApproval(String),
    #[error("{0}")]
    PolicyLocked(String),
    #[error("{0}")]
    Coverage(String),
    #[error("{0}")]
    TreasuryNotReady(String),
    /// Boxed: the figures would make every `Result` of the layer larger.
    #[error("{0}")]
    LimitExceeded(Box<LimitBreach>),
    #[error("{0}")]
    InsufficientFunds(String),
    /// Withdrawals are paused while the balance alert is LOW (opt-in).
    #[error("{0}")]
    PausedLowBalance(String),
    /// Outside the organisation's withdrawal window (time of day, weekday).
    #[error("{0}")]
    OutsideWindow(String),
    /// The address was whitelisted too recently to receive yet.
    #[error("{message}")]
    AddressCoolingOff { usable_from: chrono::DateTime<chrono::Utc>, message: String },
    /// Unexpected failure; the detail is logged, never shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl From<ParseError> for ServiceError {
    fn from(e: ParseError) -> Self {
        ServiceError::BadInput(e.to_string())
    }
}

/// Money arithmetic beyond `Decimal`'s range: the input (or what it would
/// make a total) is refused, naming what overflowed.
impl From<Overflow> for ServiceError {
    fn from(e: Overflow) -> Self {
        ServiceError::BadInput(e.to_string())
    }
}

impl From<DbErr> for ServiceError {
    fn from(e: DbErr) -> Self {
        ServiceError::Internal(format!("database: {e}"))
    }
}

impl ServiceError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

/// True when a database error is a unique-constraint violation, so the caller
/// can turn it into a `CONFLICT` at the query that hit it.
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}
