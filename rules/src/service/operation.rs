//! Governed operations: what a request asks to change, and how it is applied.
//!
//! An [`Operation`] is stored as the request's JSON payload. [`check`]
//! validates it when the request is made; [`apply`] re-validates and performs
//! it, inside the transaction that marks the request done, because the world
//! may have changed while it waited for approval.

use super::addresses::{self, NewAddress};
use super::balance_alerts;
use super::delegations::{self, NewDelegation};
use super::limits::{self, LimitLayer};
use super::policies::{self, PolicySpec};
use super::service_users::{self, KeyPatch, KeySettings};
pub use super::types::{Applied, OpEnv};
use super::withdrawals::WithdrawalSpec;
use super::{ServiceError, ServiceResult, invitations, is_unique_violation, membership, organization, webhooks};
use chrono::{DateTime, Utc};
use domain::{
    Action, DisplayName, Email, MemberStatus, Role, RoleSet, UsdAmount, WebhookEvent, WithdrawalWindow, Workflow,
    new_id,
};
use entity::{member, permission_grant};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A change someone asks for; one variant per governed operation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "operation", rename_all = "SCREAMING_SNAKE_CASE", rename_all_fields = "camelCase")]
pub enum Operation {
    InviteMember {
        email: String,
        roles: Vec<Role>,
    },
    RevokeInvitation {
        invitation_id: String,
    },
    RemoveMember {
        member_id: String,
    },
    SetMemberRoles {
        member_id: String,
        roles: Vec<Role>,
    },
    GrantPermission {
        member_id: String,
        workflow: Workflow,
        action: Action,
        account_id: Option<String>,
    },
    RevokePermission {
        member_id: String,
        workflow: Workflow,
        action: Action,
        account_id: Option<String>,
    },
    SetPolicy {
        workflow: Workflow,
        required_approvals: i32,
        always_require_approval: bool,
        approval_threshold_usd: Option<UsdAmount>,
    },
    LockPolicy {
        workflow: Workflow,
    },
    UnlockPolicy {
        workflow: Workflow,
    },
    CreateServiceUser {
        name: String,
        settings: KeySettings,
    },
    CreateApiKey {
        service_user_id: String,
        settings: KeySettings,
    },
    UpdateApiKey {
        key_id: String,
        patch: KeyPatch,
    },
    RotateApiKey {
        key_id: String,
        /// How long the replaced secret stays valid (0 = refused at once).
        #[serde(default)]
        grace_secs: i64,
    },
    RevokeApiKey {
        key_id: String,
    },
    RemoveServiceUser {
        service_user_id: String,
    },
    AddAddress(NewAddress),
    RemoveAddress {
        address_id: String,
    },
    SetRiskLimits {
        layer: LimitLayer,
        /// The API key's public id or the signer's member id; none for the organisation.
        subject: Option<String>,
        #[serde(default, deserialize_with = "service_users::some", skip_serializing_if = "Option::is_none")]
        per_transaction_max_usd: Option<Option<UsdAmount>>,
        #[serde(default, deserialize_with = "service_users::some", skip_serializing_if = "Option::is_none")]
        daily_cap_usd: Option<Option<UsdAmount>>,
        /// SIGNER layer only: the member's own approval threshold for withdrawals.
        #[serde(default, deserialize_with = "service_users::some", skip_serializing_if = "Option::is_none")]
        approval_threshold_usd: Option<Option<UsdAmount>>,
    },
    Withdraw(WithdrawalSpec),
    SetBalanceAlert {
        /// `None` clears the alert (UNCONFIGURED).
        threshold_usd: Option<UsdAmount>,
    },
    /// Pause new withdrawals while the balance alert is LOW (or stop doing so).
    SetLowBalancePause {
        enabled: bool,
    },
    /// How long addresses whitelisted from now on wait before they can receive.
    SetAddressCoolingOff {
        delay_secs: i64,
    },
    /// When withdrawals may be made; `None` lifts the restriction.
    SetWithdrawalWindow {
        window: Option<WithdrawalWindow>,
    },
    /// Lend a member's APPROVE on one workflow to another member for a while.
    DelegateApproval(NewDelegation),
    /// Send the organisation's events of these kinds to `url`, signed.
    AddWebhookEndpoint {
        url: String,
        events: Vec<WebhookEvent>,
    },
    RemoveWebhookEndpoint {
        endpoint_id: String,
    },
    RevokeDelegation {
        delegation_id: String,
    },
}

impl Operation {
    /// The workflow that governs this operation.
    pub fn workflow(&self) -> Workflow {
        match self {
            Operation::InviteMember { .. }
            | Operation::RevokeInvitation { .. }
            | Operation::RemoveMember { .. }
            | Operation::SetMemberRoles { .. }
            | Operation::GrantPermission { .. }
            | Operation::RevokePermission { .. }
            | Operation::CreateServiceUser { .. }
            | Operation::CreateApiKey { .. }
            | Operation::UpdateApiKey { .. }
            | Operation::RotateApiKey { .. }
            | Operation::RevokeApiKey { .. }
            | Operation::RemoveServiceUser { .. }
            | Operation::DelegateApproval(_)
            | Operation::RevokeDelegation { .. }
            | Operation::AddWebhookEndpoint { .. }
            | Operation::RemoveWebhookEndpoint { .. } => Workflow::ManageAccess,
            Operation::SetPolicy { .. }
            | Operation::LockPolicy { .. }
            | Operation::UnlockPolicy { .. }
            | Operation::SetRiskLimits { .. }
            | Operation::SetBalanceAlert { .. }
            | Operation::SetLowBalancePause { .. }
            | Operation::SetAddressCoolingOff { .. }
            | Operation::SetWithdrawalWindow { .. } => Workflow::ManagePolicies,
            Operation::AddAddress(_) | Operation::RemoveAddress { .. } => Workflow::ManageAddresses,
            Operation::Withdraw(_) => Workflow::InitiateWithdrawal,
        }
    }

    /// The stored operation name, e.g. `SET_MEMBER_ROLES`.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::InviteMember { .. } => "INVITE_MEMBER",
            Operation::RevokeInvitation { .. } => "REVOKE_INVITATION",
            Operation::RemoveMember { .. } => "REMOVE_MEMBER",
            Operation::SetMemberRoles { .. } => "SET_MEMBER_ROLES",
            Operation::GrantPermission { .. } => "GRANT_PERMISSION",
            Operation::RevokePermission { .. } => "REVOKE_PERMISSION",
            Operation::SetPolicy { .. } => "SET_POLICY",
            Operation::CreateServiceUser { .. } => "CREATE_SERVICE_USER",
            Operation::CreateApiKey { .. } => "CREATE_API_KEY",
            Operation::UpdateApiKey { .. } => "UPDATE_API_KEY",
            Operation::RotateApiKey { .. } => "ROTATE_API_KEY",
            Operation::RevokeApiKey { .. } => "REVOKE_API_KEY",
            Operation::RemoveServiceUser { .. } => "REMOVE_SERVICE_USER",
            Operation::LockPolicy { .. } => "LOCK_POLICY",
            Operation::AddAddress(_) => "ADD_ADDRESS",
            Operation::RemoveAddress { .. } => "REMOVE_ADDRESS",
            Operation::SetRiskLimits { .. } => "SET_RISK_LIMITS",
            Operation::Withdraw(_) => "WITHDRAW",
            Operation::SetBalanceAlert { .. } => "SET_BALANCE_ALERT",
            Operation::SetLowBalancePause { .. } => "SET_LOW_BALANCE_PAUSE",
            Operation::SetAddressCoolingOff { .. } => "SET_ADDRESS_COOLING_OFF",
            Operation::SetWithdrawalWindow { .. } => "SET_WITHDRAWAL_WINDOW",
            Operation::DelegateApproval(_) => "DELEGATE_APPROVAL",
            Operation::RevokeDelegation { .. } => "REVOKE_DELEGATION",
            Operation::UnlockPolicy { .. } => "UNLOCK_POLICY",
            Operation::AddWebhookEndpoint { .. } => "ADD_WEBHOOK_ENDPOINT",
            Operation::RemoveWebhookEndpoint { .. } => "REMOVE_WEBHOOK_ENDPOINT",
        }
    }

    /// The account the operation concerns, for account-scoped permissions.
    pub fn account_id(&self) -> Option<&str> {
        match self {
            Operation::AddAddress(a) => Some(&a.account_id),
            Operation::Withdraw(w) => Some(&w.account_id),
            _ => None,
        }
    }

    /// The workflow whose *locked* policy this operation changes, if it does:
    /// such changes always wait for someone else's approval (SPEC §4).
    pub fn changes_policy_of(&self) -> Option<Workflow> {
        match self {
            Operation::SetPolicy { workflow, .. } | Operation::UnlockPolicy { workflow } => Some(*workflow),
            _ => None,
        }
    }

    /// Refuses unless `access` may ask for this: INITIATE on its workflow,
    /// or — for lending one's own APPROVE — holding that APPROVE oneself.
    pub fn require_initiate(&self, access: &crate::access::OrgAccess) -> ServiceResult<()> {
        if let Operation::DelegateApproval(d) = self
            && delegations::is_own_approve(access, d)
        {
            return Ok(());
        }
        access.require(self.workflow(), Action::Initiate, self.account_id())
    }

    pub fn to_json(&self) -> ServiceResult<String> {
        serde_json::to_string(self).map_err(ServiceError::internal)
    }

    pub fn from_json(s: &str) -> ServiceResult<Self> {
        serde_json::from_str(s).map_err(ServiceError::internal)
    }
}

/// Validates an operation against the current state (at `now`) without changing it.
pub(crate) async fn check<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    op: &Operation,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    match op {
        Operation::InviteMember { email, roles } => {
            RoleSet::from_input(roles)?;
            invitations::check_invite(db, org_id, &Email::parse(email)?).await?;
        }
        Operation::RevokeInvitation { invitation_id } => {
            invitations::find_pending(db, org_id, invitation_id).await?;
        }
        Operation::RemoveMember { member_id } => {
            let m = membership::find_active(db, org_id, member_id).await?;
            if m.is_owner {
                return Err(ServiceError::Forbidden("the Owner cannot be removed".into()));
            }
        }
        Operation::SetMemberRoles { member_id, roles } => {
            RoleSet::from_input(roles)?;
            membership::find_active(db, org_id, member_id).await?;
        }
        Operation::SetPolicy { workflow, required_approvals, always_require_approval, approval_threshold_usd } => {
            PolicySpec::parse(*workflow, *required_approvals, *always_require_approval, *approval_threshold_usd)?;
        }
        Operation::LockPolicy { workflow } | Operation::UnlockPolicy { workflow } => {
            policies::find(db, org_id, *workflow).await?.ok_or(ServiceError::NotFound("policy"))?;
        }
        Operation::CreateServiceUser { name, settings } => {
            DisplayName::parse("name", name)?;
            service_users::check_expiry(settings.expires_at, now)?;
            service_users::check_settings(db, org_id, settings).await?;
        }
        Operation::CreateApiKey { service_user_id, settings } => {
            service_users::check_expiry(settings.expires_at, now)?;
            service_users::find_active_user(db, org_id, service_user_id).await?;
            service_users::check_settings(db, org_id, settings).await?;
        }
        Operation::RotateApiKey { key_id, grace_secs } => {
            service_users::rotation_grace(*grace_secs)?;
            service_users::find_active_key(db, org_id, key_id).await?;
        }
        Operation::UpdateApiKey { key_id, patch } => {
            service_users::check_expiry(patch.expires_at.flatten(), now)?;
            service_users::find_active_key(db, org_id, key_id).await?;
            if patch.auto_execute == Some(true) {
                service_users::require_caps_for_auto_execute(db, org_id, key_id).await?;
            }
        }
        Operation::RevokeApiKey { key_id } => {
            service_users::find_active_key(db, org_id, key_id).await?;
        }
        Operation::RemoveServiceUser { service_user_id } => {
            service_users::find_active_user(db, org_id, service_user_id).await?;
        }
        Operation::AddAddress(a) => {
            addresses::check(db, org_id, a).await?;
        }
        Operation::RemoveAddress { address_id } => {
            addresses::find_active(db, org_id, address_id).await?;
        }
        Operation::SetRiskLimits { layer, subject, .. } => {
            limit_subject(db, org_id, *layer, subject.as_deref()).await?;
        }
        Operation::SetBalanceAlert { .. } => {}
        Operation::SetLowBalancePause { .. } => {}
        Operation::SetAddressCoolingOff { delay_secs } => {
            addresses::cooling_off(*delay_secs)?;
        }
        Operation::SetWithdrawalWindow { .. } => {}
        Operation::DelegateApproval(d) => {
            membership::find_active(db, org_id, &d.from_member_id).await?;
            membership::find_active(db, org_id, &d.to_member_id).await?;
        }
        Operation::RevokeDelegation { delegation_id } => {
            delegations::find_unrevoked(db, org_id, delegation_id).await?;
        }
        // The amount is exact by type; its bounds are the asset's, checked when it is made.
        Operation::Withdraw(_) => {}
        Operation::AddWebhookEndpoint { url, events } => webhooks::check_new(url, events)?,
        Operation::RemoveWebhookEndpoint { endpoint_id } => {
            webhooks::find_active(db, org_id, endpoint_id).await?;
        }
        Operation::GrantPermission { member_id, account_id, .. }
        | Operation::RevokePermission { member_id, account_id, .. } => {
            membership::find_active(db, org_id, member_id).await?;
            if let Some(a) = account_id {
                organization::require_account(db, org_id, a).await?;
            }
        }
    }
    Ok(())
}

/// The counter subject of a limit layer: the organisation's id, an active
/// API key's public id, or an active member's user id (signers).
async fn limit_subject<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    layer: LimitLayer,
    subject: Option<&str>,
) -> ServiceResult<String> {
    match (layer, subject) {
        (LimitLayer::Organization, None) => Ok(org_id.to_string()),
        (LimitLayer::ApiKey, Some(key_id)) => Ok(service_users::find_active_key(db, org_id, key_id).await?.key_id),
        (LimitLayer::Signer, Some(member_id)) => Ok(membership::find_active(db, org_id, member_id).await?.user_id),
        (LimitLayer::Organization, Some(_)) => {
            Err(ServiceError::BadInput("the organisation layer takes no apiKeyId or memberId".into()))
        }
        (LimitLayer::ApiKey, None) => Err(ServiceError::BadInput("apiKeyId: required for the API_KEY layer".into())),
        (LimitLayer::Signer, None) => Err(ServiceError::BadInput("memberId: required for the SIGNER layer".into())),
    }
}

fn member_json(m: &member::Model) -> Value {
    json!({"memberId": m.id, "userId": m.user_id, "roles": m.roles, "status": m.status})
}

fn grant_filter(
    member_id: &str,
    workflow: Workflow,
    action: Action,
    account_id: &Option<String>,
) -> sea_orm::Select<permission_grant::Entity> {
    let q = permission_grant::Entity::find()
        .filter(permission_grant::Column::MemberId.eq(member_id))
        .filter(permission_grant::Column::Workflow.eq(workflow.as_str()))
        .filter(permission_grant::Column::Action.eq(action.as_str()));
    match account_id {
        Some(a) => q.filter(permission_grant::Column::AccountId.eq(a.as_str())),
        None => q.filter(permission_grant::Column::AccountId.is_null()),
    }
}

/// Performs the operation; call inside the write transaction that completes
/// its request. Refuses (`COVERAGE`) a change that would leave a workflow
/// with too few eligible approvers besides the requester.
pub(crate) async fn apply<C: ConnectionTrait>(
    db: &C,
    env: &OpEnv<'_>,
    org_id: &str,
    requester_id: &str,
    op: &Operation,
) -> ServiceResult<Applied> {
    let governs_people = matches!(op.workflow(), Workflow::ManageAccess | Workflow::ManagePolicies);
    let before = if governs_people { Some(policies::coverage(db, org_id, requester_id, env.now).await?) } else { None };
    let applied = perform(db, env, org_id, requester_id, op).await?;
    if let Some(before) = before {
        let after = policies::coverage(db, org_id, requester_id, env.now).await?;
        policies::check_coverage(&before, &after)?;
    }
    Ok(applied)
}

async fn perform<C: ConnectionTrait>(
    db: &C,
    env: &OpEnv<'_>,
    org_id: &str,
    requester_id: &str,
    op: &Operation,
) -> ServiceResult<Applied> {
    let now = env.now;
    check(db, org_id, op, now).await?;
    match op {
        Operation::InviteMember { email, roles } => {
            let (email, roles) = (Email::parse(email)?, RoleSet::from_input(roles)?);
            invitations::invite(db, org_id, requester_id, &email, &roles, env.key, now).await
        }
        Operation::RevokeInvitation { invitation_id } => invitations::revoke(db, org_id, invitation_id).await,
        Operation::SetPolicy { workflow, required_approvals, always_require_approval, approval_threshold_usd } => {
            let spec =
                PolicySpec::parse(*workflow, *required_approvals, *always_require_approval, *approval_threshold_usd)?;
            policies::set(db, org_id, *workflow, &spec, now).await
        }
        Operation::LockPolicy { workflow } => policies::set_locked(db, org_id, *workflow, true, now).await,
        Operation::AddAddress(a) => addresses::add(db, org_id, a, env.cooling_off_default, now).await,
        Operation::SetAddressCoolingOff { delay_secs } => {
            addresses::set_cooling_off(db, org_id, addresses::cooling_off(*delay_secs)?).await
        }
        Operation::DelegateApproval(d) => delegations::create(db, org_id, d, now).await,
        Operation::RevokeDelegation { delegation_id } => delegations::revoke(db, org_id, delegation_id, now).await,
        Operation::AddWebhookEndpoint { url, events } => webhooks::add(db, env.key, org_id, url, events, now).await,
        Operation::RemoveWebhookEndpoint { endpoint_id } => webhooks::remove(db, org_id, endpoint_id, now).await,
        Operation::SetWithdrawalWindow { window } => {
            organization::set_withdrawal_window(db, org_id, window.as_ref()).await
        }
        Operation::RemoveAddress { address_id } => addresses::remove(db, org_id, address_id).await,
        Operation::SetRiskLimits { layer, subject, per_transaction_max_usd, daily_cap_usd, approval_threshold_usd } => {
            let subject = limit_subject(db, org_id, *layer, subject.as_deref()).await?;
            limits::set(
                db,
                org_id,
                *layer,
                &subject,
                *per_transaction_max_usd,
                *daily_cap_usd,
                *approval_threshold_usd,
                now,
            )
            .await
        }
        Operation::Withdraw(_) => Err(ServiceError::internal("withdrawals settle through execute, not apply")),
        Operation::SetBalanceAlert { threshold_usd } => balance_alerts::set(db, org_id, *threshold_usd, now).await,
        Operation::SetLowBalancePause { enabled } => balance_alerts::set_pause(db, org_id, *enabled).await,
        Operation::CreateServiceUser { name, settings } => {
            service_users::create(db, env.key, org_id, requester_id, name, settings, now).await
        }
        Operation::CreateApiKey { service_user_id, settings } => {
            service_users::add_key(db, env.key, org_id, requester_id, service_user_id, settings, now).await
        }
        Operation::UpdateApiKey { key_id, patch } => service_users::update_key(db, org_id, key_id, patch).await,
        Operation::RotateApiKey { key_id, grace_secs } => {
            let grace = service_users::rotation_grace(*grace_secs)?;
            service_users::rotate_key(db, env.key, org_id, requester_id, key_id, grace, now).await
        }
        Operation::RevokeApiKey { key_id } => service_users::revoke_key(db, org_id, key_id, now).await,
        Operation::RemoveServiceUser { service_user_id } => {
            service_users::remove(db, org_id, service_user_id, now).await
        }
        Operation::UnlockPolicy { workflow } => policies::set_locked(db, org_id, *workflow, false, now).await,
        Operation::RemoveMember { member_id } => {
            let m = membership::find_active(db, org_id, member_id).await?;
            let before = member_json(&m);
            let mut active: member::ActiveModel = m.into();
            active.status = Set(MemberStatus::Removed);
            active.removed_at = Set(Some(now));
            let m = active.update(db).await?;
            Ok(Applied {
                target: Some(member_id.clone()),
                before: Some(before),
                after: Some(member_json(&m)),
                jobs: vec![],
                secret: None,
                alert_changed: false,
            })
        }
        Operation::SetMemberRoles { member_id, roles } => {
            let roles = RoleSet::from_input(roles)?;
            let m = membership::find_active(db, org_id, member_id).await?;
            let before = member_json(&m);
            let mut active: member::ActiveModel = m.into();
            active.roles = Set(roles.to_stored());
            let m = active.update(db).await?;
            Ok(Applied {
                target: Some(member_id.clone()),
                before: Some(before),
                after: Some(member_json(&m)),
                jobs: vec![],
                secret: None,
                alert_changed: false,
            })
        }
        Operation::GrantPermission { member_id, workflow, action, account_id } => {
            let existing = grant_filter(member_id, *workflow, *action, account_id).one(db).await?;
            if existing.is_some() {
                return Err(ServiceError::Conflict("the member already holds this grant".into()));
            }
            permission_grant::ActiveModel {
                id: Set(new_id()),
                org_id: Set(org_id.to_string()),
                member_id: Set(member_id.clone()),
                workflow: Set(*workflow),
                action: Set(*action),
                account_id: Set(account_id.clone()),
                created_at: Set(now),
            }
            .insert(db)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) { ServiceError::Conflict("duplicate grant".into()) } else { e.into() }
            })?;
            let grant = json!({"workflow": workflow, "action": action, "accountId": account_id});
            Ok(Applied {
                target: Some(member_id.clone()),
                before: None,
                after: Some(grant),
                jobs: vec![],
                secret: None,
                alert_changed: false,
            })
        }
        Operation::RevokePermission { member_id, workflow, action, account_id } => {
            let existing = grant_filter(member_id, *workflow, *action, account_id)
                .one(db)
                .await?
                .ok_or(ServiceError::NotFound("grant"))?;
            permission_grant::Entity::delete_by_id(existing.id).exec(db).await?;
            let grant = json!({"workflow": workflow, "action": action, "accountId": account_id});
            Ok(Applied {
                target: Some(member_id.clone()),
                before: Some(grant),
                after: None,
                jobs: vec![],
                secret: None,
                alert_changed: false,
            })
        }
    }
}
