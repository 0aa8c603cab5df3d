//! The one mapping from service errors to GraphQL errors.
//!
//! Every error a client sees carries `extensions.code`, one of [`CODES`].
//! Internal errors are logged with their detail and shown without it.

use crate::service::{LimitBreach, ServiceError};
use async_graphql::{ErrorExtensions, Response};

/// The stable error codes of SPEC §10; a test pins this list.
pub const CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_INPUT",
    "CONFLICT",
    "LIMIT_EXCEEDED",
    "INSUFFICIENT_FUNDS",
    "TREASURY_NOT_READY",
    "SELF_APPROVAL",
    "POLICY_LOCKED",
    "COVERAGE",
    "TWO_FACTOR_REQUIRED",
    "RATE_LIMITED",
    "OUTSIDE_WINDOW",
    "PAUSED_LOW_BALANCE",
    "ADDRESS_COOLING_OFF",
    "INTERNAL",
];

/// A resolver's error. It deliberately does not implement `Display`, so it
/// cannot slip through async-graphql's blanket conversion and lose its code:
/// the only way out is the `From` impl below.
#[derive(Debug, Clone)]
pub struct ApiError(pub ServiceError);

/// What resolvers return.
pub type ApiResult<T> = Result<T, ApiError>;

impl<E: Into<ServiceError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

/// The stable `extensions.code` of a service error (SPEC §10).
pub fn code(e: &ServiceError) -> &'static str {
    use ServiceError::*;
    match e {
        Unauthenticated(_) => "UNAUTHENTICATED",
        Forbidden(_) => "FORBIDDEN",
        NotFound(_) => "NOT_FOUND",
        BadInput(_) => "BAD_INPUT",
        Conflict(_) => "CONFLICT",
        TwoFactorRequired(_) => "TWO_FACTOR_REQUIRED",
        RateLimited { .. } => "RATE_LIMITED",
        SelfApproval(_) => "SELF_APPROVAL",
        PolicyLocked(_) => "POLICY_LOCKED",
        Coverage(_) => "COVERAGE",
        TreasuryNotReady(_) => "TREASURY_NOT_READY",
        PausedLowBalance(_) => "PAUSED_LOW_BALANCE",
        OutsideWindow(_) => "OUTSIDE_WINDOW",
        AddressCoolingOff { .. } => "ADDRESS_COOLING_OFF",
        LimitExceeded { .. } => "LIMIT_EXCEEDED",
        InsufficientFunds(_) => "INSUFFICIENT_FUNDS",
        Internal(_) => "INTERNAL",
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(ApiError(e): ApiError) -> Self {
        use ServiceError::*;
        let code = code(&e);
        let message = match &e {
            Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code);
            match &e {
                RateLimited { retry_after_secs } => ext.set("retryAfterSeconds", *retry_after_secs),
                LimitExceeded(b) => {
                    for (key, value) in limit_figures(b) {
                        ext.set(key, value);
                    }
                }
                AddressCoolingOff { usable_from, .. } => ext.set("usableFrom", usable_from.to_rfc3339()),
                _ => {}
            }
        })
    }
}

/// A limit refusal's figures as `extensions` carries them — and as
/// `simulateWithdrawal`'s failures do, from this same list: the layer, which
/// limit, and the USD figures as plain decimal strings, where
/// `overshootUsd` = `usedUsd` + `heldUsd` + `amountUsd` − `capUsd`.
pub fn limit_figures(b: &LimitBreach) -> Vec<(&'static str, String)> {
    let names = [("layer", b.layer.to_string()), ("limit", b.kind.as_str().to_string())];
    names.into_iter().chain(b.usd_figures().map(|(name, v)| (name, v.to_string()))).collect()
}

/// Gives every error in a response a code: errors that never reached a
/// resolver (syntax, validation, unknown enum values, depth or complexity
/// limits, bad variables) are the client's: `BAD_INPUT`.
pub fn ensure_codes(response: &mut Response) {
    for err in &mut response.errors {
        let has_code = err.extensions.as_ref().is_some_and(|x| x.get("code").is_some());
        if !has_code {
            err.extensions.get_or_insert_with(Default::default).set("code", "BAD_INPUT");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_spec() {
        assert_eq!(CODES.len(), 17);
        let e: async_graphql::Error = ApiError(ServiceError::Internal("db password is hunter2".into())).into();
        assert_eq!(e.message, "internal error");
        let e: async_graphql::Error = ApiError(ServiceError::RateLimited { retry_after_secs: 9 }).into();
        let ext = e.extensions.unwrap();
        assert_eq!(ext.get("code"), Some(&async_graphql::Value::from("RATE_LIMITED")));
        assert_eq!(ext.get("retryAfterSeconds"), Some(&async_graphql::Value::from(9)));
    }
}
