//! Where things stand: the lifecycle states and kinds the tables store.
//!
//! Each is a [`vocabulary!`] enum, so a column holds one of these names and
//! nothing else reaches the rules: a mistyped status is a compile error, and
//! a stored value outside the list is a read error.

use crate::vocabulary::vocabulary;

vocabulary! {
    /// Where a request stands (SPEC §4).
    pub enum RequestStatus {
        PendingApproval => "PENDING_APPROVAL",
        Approved => "APPROVED",
        Completed => "COMPLETED",
        Rejected => "REJECTED",
        Cancelled => "CANCELLED",
        Expired => "EXPIRED",
        Failed => "FAILED",
    }
}

vocabulary! {
    /// Where an invitation stands as stored; a pending one past its expiry
    /// is shown as expired.
    pub enum InvitationState {
        Pending => "PENDING",
        Accepted => "ACCEPTED",
        Revoked => "REVOKED",
    }
}

vocabulary! {
    /// Where an invitation's e-mail stands.
    pub enum DeliveryStatus {
        Queued => "QUEUED",
        Sending => "SENDING",
        Sent => "SENT",
        Failed => "FAILED",
    }
}

vocabulary! {
    /// Where a withdrawal's funds stand: held while it waits, then settled
    /// (sent) or released (back to the holding).
    pub enum WithdrawalState {
        Held => "HELD",
        Settled => "SETTLED",
        Released => "RELEASED",
    }
}

vocabulary! {
    /// A balance alert's state.
    pub enum AlertState {
        Healthy => "HEALTHY",
        Low => "LOW",
        Unconfigured => "UNCONFIGURED",
    }
}

vocabulary! {
    /// Whether a whitelisted address, a service user or an API key is in
    /// force. Addresses and service users are `REMOVED`; keys are `REVOKED`.
    pub enum RecordStatus {
        Active => "ACTIVE",
        Removed => "REMOVED",
        Revoked => "REVOKED",
    }
}

vocabulary! {
    /// Which way a ledger entry moves an asset.
    pub enum LedgerKind {
        Credit => "CREDIT",
        Debit => "DEBIT",
    }
}

vocabulary! {
    /// Who did something: a person, a service user (through an API key),
    /// the platform operator, or one of Countersign's own jobs.
    pub enum ActorKind {
        User => "USER",
        ServiceUser => "SERVICE_USER",
        Operator => "OPERATOR",
        System => "SYSTEM",
    }
}

vocabulary! {
    /// A limit layer.
    pub enum LimitLayer {
        Organization => "ORGANIZATION",
        ApiKey => "API_KEY",
        Signer => "SIGNER",
    }
}

vocabulary! {
    /// Which layer set the approval threshold that governs a withdrawal.
    pub enum ThresholdLayer {
        /// The withdrawal policy's `approvalThresholdUsd`.
        Organization => "ORGANIZATION",
        /// The initiating member's own threshold (`setRiskLimits` on the SIGNER layer).
        Operator => "OPERATOR",
    }
}

vocabulary! {
    /// Which limit of a layer a withdrawal would break.
    pub enum LimitKind {
        PerTransactionMax => "PER_TRANSACTION_MAX",
        DailyCap => "DAILY_CAP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for s in RequestStatus::ALL {
            assert_eq!(RequestStatus::parse(s.as_str()), Ok(*s));
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::Value::String(s.to_string())));
        }
        assert!(RequestStatus::parse("pending_approval").is_err());
        assert_eq!(ActorKind::parse("SERVICE_USER"), Ok(ActorKind::ServiceUser));
    }
}
