//! Who is calling and what they may do: the resolved-access types and the
//! checks on them ([`OrgAccess::require`] and friends), with no database.
//!
//! Types-only so the rules, the caches and the event bus can name an
//! [`OrgAccess`] without depending on how it is resolved ([`crate::authz`]).

use crate::service::{ServiceError, ServiceResult};
use chrono::{DateTime, Utc};
use domain::{Action, ActorKind, ApiScope, Permission, RoleSet, ScopeSet, Workflow};
use entity::{request, service_user};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A signed-in person, as established from their session token.
#[derive(Clone, Debug)]
pub struct UserSession {
    pub user_id: String,
    pub session_id: String,
    /// This session proved a TOTP code (at sign-in or by `confirmTotp`).
    pub two_factor_verified: bool,
    /// When the session was last used before this request.
    pub last_used_at: DateTime<Utc>,
}

/// A service user, as established from a signed API-key request.
#[derive(Clone, Debug)]
pub struct ServiceUserSession {
    pub service_user_id: String,
    /// The service user as read when the request (or WebSocket) was authenticated.
    pub service_user: Arc<service_user::Model>,
    pub org_id: String,
    /// The public key id the request was signed with.
    pub key_id: String,
    pub scopes: ScopeSet,
    /// Accounts the key may touch; `None` = every account.
    pub account_ids: Option<Vec<String>>,
    /// Ledger and history queries are clamped to this window.
    pub query_start: Option<DateTime<Utc>>,
    pub query_end: Option<DateTime<Utc>>,
}

/// Who is calling.
#[derive(Clone, Debug)]
pub enum Actor {
    Anonymous,
    User(UserSession),
    ServiceUser(ServiceUserSession),
    /// The platform operator (`COUNTERSIGN_OPERATOR_TOKEN`).
    Operator,
}

impl Actor {
    /// The signed-in user, or `UNAUTHENTICATED`.
    pub fn user(&self) -> ServiceResult<&UserSession> {
        match self {
            Actor::User(u) => Ok(u),
            Actor::ServiceUser(_) => {
                Err(ServiceError::Forbidden("service users cannot do this; it is for people".into()))
            }
            _ => Err(ServiceError::Unauthenticated("sign in first".into())),
        }
    }

    /// Members' personal data (e-mails, names) is for people: `FORBIDDEN` to
    /// a service user, whatever its scopes.
    pub fn require_person(&self) -> ServiceResult<()> {
        match self {
            Actor::ServiceUser(_) => {
                Err(ServiceError::Forbidden("service users never read members' personal data".into()))
            }
            _ => Ok(()),
        }
    }

    /// `FORBIDDEN` unless the caller is the platform operator; the
    /// [`Operator`] capability the operator's rules take.
    pub fn require_operator(&self) -> ServiceResult<Operator> {
        match self {
            Actor::Operator => Ok(Operator { _only_by_require_operator: () }),
            Actor::Anonymous => Err(ServiceError::Unauthenticated("operator credential required".into())),
            Actor::User(_) | Actor::ServiceUser(_) => {
                Err(ServiceError::Forbidden("only the platform operator may do this".into()))
            }
        }
    }
}

/// Proof that the caller is the platform operator: only
/// [`Actor::require_operator`] makes one, and the operator's rules
/// (crediting accounts, pricing assets) take it.
#[derive(Debug)]
pub struct Operator {
    _only_by_require_operator: (),
}

/// What one caller may do in one organisation, resolved from the database.
#[derive(Clone, Debug)]
pub struct OrgAccess {
    pub org_id: String,
    /// The caller: a user id, or a service user id when `service` is set.
    pub user_id: String,
    pub member_id: String,
    pub is_owner: bool,
    pub roles: RoleSet,
    /// The effective set: role permissions, single grants, and for the Owner everything.
    pub permissions: BTreeSet<Permission>,
    /// Set when the caller is a service user: its key's scopes and limits.
    pub service: Option<ServiceUserSession>,
    /// APPROVE lent to this member by others, live now; its permissions are in `permissions` too.
    pub delegations: Vec<DelegatedApproval>,
}

/// One live delegation of APPROVE on a workflow to the member.
#[derive(Clone, Debug)]
pub struct DelegatedApproval {
    pub id: String,
    pub workflow: Workflow,
    pub from_member_id: String,
    /// The delegator's own APPROVE permissions on the workflow (with their account scopes).
    pub permissions: Vec<Permission>,
}

/// Whether `p` grants `action` on `workflow` for `account_id` (see [`OrgAccess::allows`]).
fn covers(p: &Permission, workflow: Workflow, action: Action, account_id: Option<&str>) -> bool {
    p.workflow == workflow
        && p.action == action
        && match (account_id, p.account_id.as_deref()) {
            (_, None) => true,
            (None, Some(_)) => true,
            (Some(want), Some(have)) => want == have,
        }
}

impl OrgAccess {
    /// True if the caller may do `action` on `workflow`; with an account, the
    /// permission must cover every account or that one; without, any grant
    /// of the action on the workflow suffices.
    pub fn allows(&self, workflow: Workflow, action: Action, account_id: Option<&str>) -> bool {
        self.permissions.iter().any(|p| covers(p, workflow, action, account_id))
    }

    /// The delegation this member's APPROVE on `workflow` rests on, when they
    /// do not hold it in their own right; approvals record it.
    pub fn approving_under(&self, workflow: Workflow, account_id: Option<&str>) -> Option<&DelegatedApproval> {
        let lent: BTreeSet<&Permission> = self.delegations.iter().flat_map(|d| &d.permissions).collect();
        let own = self
            .permissions
            .iter()
            .filter(|p| !lent.contains(p))
            .any(|p| covers(p, workflow, Action::Approve, account_id));
        if own {
            return None;
        }
        self.delegations.iter().find(|d| d.permissions.iter().any(|p| covers(p, workflow, Action::Approve, account_id)))
    }

    /// `USER` or `SERVICE_USER`, as requests and audit records name the caller.
    pub fn actor_kind(&self) -> ActorKind {
        if self.service.is_some() { ActorKind::ServiceUser } else { ActorKind::User }
    }

    /// Members are governed by workflow permissions; a service user's key
    /// must carry `scope` (SPEC §7).
    pub fn require_scope(&self, scope: ApiScope) -> ServiceResult<()> {
        match &self.service {
            Some(s) if !s.scopes.contains(scope) => {
                Err(ServiceError::Forbidden(format!("this API key lacks the {} scope", scope.as_str())))
            }
            _ => Ok(()),
        }
    }

    /// Whether the caller may touch `account_id` (a key may be limited to some accounts).
    pub fn may_touch_account(&self, account_id: &str) -> bool {
        match self.service.as_ref().and_then(|s| s.account_ids.as_ref()) {
            Some(accounts) => accounts.iter().any(|a| a == account_id),
            None => true,
        }
    }

    /// The member list and what it shows (roles, e-mails, names): any
    /// member; never a service user.
    pub fn require_person(&self) -> ServiceResult<()> {
        if self.service.is_some() {
            return Err(ServiceError::Forbidden("service users never read members or their personal data".into()));
        }
        Ok(())
    }

    /// Policies, limits and their usage, balances: any member; a service
    /// user only when its key carries QUERY_FUNDS or WITHDRAW.
    pub fn require_funds_view(&self) -> ServiceResult<()> {
        match &self.service {
            Some(s) if !s.scopes.contains(ApiScope::QueryFunds) && !s.scopes.contains(ApiScope::Withdraw) => {
                Err(ServiceError::Forbidden("this API key needs the QUERY_FUNDS or WITHDRAW scope".into()))
            }
            _ => Ok(()),
        }
    }

    /// The audit trail, a request's history in it included: VIEW on MANAGE_ACCESS.
    pub fn require_audit_view(&self) -> ServiceResult<()> {
        self.require(Workflow::ManageAccess, Action::View, None)
    }

    /// A member's single grants and delegations: the member themselves, and
    /// whoever may read the audit trail (which records every one of them).
    pub fn require_access_view_of(&self, member_id: &str) -> ServiceResult<()> {
        self.require_person()?;
        if self.member_id == member_id {
            return Ok(());
        }
        self.require_audit_view()
    }

    /// Whether the caller may see `req`: a request of this organisation of a
    /// workflow they may VIEW, or their own.
    pub fn may_view_request(&self, req: &request::Model) -> ServiceResult<bool> {
        let workflow = req.workflow;
        Ok(req.org_id == self.org_id && (req.requester_id == self.user_id || self.allows(workflow, Action::View, None)))
    }

    /// `NOT_FOUND` unless [`may_view_request`](Self::may_view_request): what
    /// a request's relation fields (approvals, approvers, its withdrawal)
    /// ask before reading.
    pub fn require_request(&self, req: &request::Model) -> ServiceResult<()> {
        if self.may_view_request(req)? { Ok(()) } else { Err(ServiceError::NotFound("request")) }
    }

    /// The caller's query window, `[start, end)`: a service user's key's
    /// query start and end (SPEC §7); members have none.
    pub fn query_window(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        self.service.as_ref().map_or((None, None), |s| (s.query_start, s.query_end))
    }

    /// Whether `at` lies inside [`query_window`](Self::query_window).
    pub fn in_query_window(&self, at: DateTime<Utc>) -> bool {
        let (start, end) = self.query_window();
        start.is_none_or(|s| at >= s) && end.is_none_or(|e| at < e)
    }

    /// `FORBIDDEN` unless [`allows`](Self::allows).
    pub fn require(&self, workflow: Workflow, action: Action, account_id: Option<&str>) -> ServiceResult<()> {
        if self.allows(workflow, action, account_id) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!("requires {} on {}", action.as_str(), workflow.as_str())))
        }
    }
}
