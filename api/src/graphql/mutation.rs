//! Root mutations.

use super::scalars::{Decimal, Duration};
use super::types::{
    Asset, AuthPayload, LedgerEntry, Member, NewApiKey, Organization, Request, RequestResult, TotpEnrollment, User,
    Weekday,
};
use super::webhooks::{NewWebhookSecret, WebhookDelivery};
use super::{ApiResult, ClientIp, authz, state};
use crate::authz::OrgAccess;
use crate::domain::{
    Action, ApiScope, OutsideWindow, Role, UsdAmount, WebhookEvent, WebhookUrl, WithdrawalWindow, Workflow,
};
use crate::service::addresses::NewAddress;
use crate::service::delegations::NewDelegation;
use crate::service::limits::LimitLayer;
use crate::service::operation::Operation;
use crate::service::service_users::{KeyPatch, KeySettings};
use crate::service::types::{NewSecret, SecretOf};
use crate::service::withdrawals::WithdrawalSpec;
use crate::service::{
    ServiceError, approver_notices, identity, invitations, ledger, organization as orgs, requests, service_users,
    webhooks,
};
use crate::state::AppState;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub struct MutationRoot;

/// APPROVE to lend.
#[derive(InputObject)]
pub struct DelegationInput {
    /// Who lends it; left out: the caller.
    pub from_member_id: Option<ID>,
    pub to_member_id: ID,
    pub workflow: Workflow,
    /// When the delegation lapses by itself.
    pub until: DateTime<Utc>,
}

/// When withdrawals may be made.
#[derive(InputObject)]
pub struct WithdrawalWindowInput {
    /// IANA time zone name, e.g. `Europe/Zurich`.
    pub time_zone: String,
    pub days: Vec<Weekday>,
    /// Local opening time, `HH:MM`.
    pub opens: String,
    /// Local closing time, `HH:MM` (`24:00` for the end of the day).
    pub closes: String,
    #[graphql(default_with = "OutsideWindow::Refuse")]
    pub outside: OutsideWindow,
}

/// A workflow's approval policy.
#[derive(InputObject)]
pub struct PolicyInput {
    pub required_approvals: i32,
    pub always_require_approval: bool,
    /// Withdrawals above this USD amount always wait for approval.
    pub approval_threshold_usd: Option<Decimal>,
}

/// A new service user and its first key (SPEC §7).
#[derive(InputObject)]
pub struct ServiceUserInput {
    pub name: String,
    pub scopes: Vec<ApiScope>,
    /// Accounts the key may touch; omit for every account.
    pub account_ids: Option<Vec<ID>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Addresses and CIDR ranges, IPv4 or IPv6; omit for anywhere.
    pub ip_allowlist: Option<Vec<String>>,
    pub nonce_window: Option<i64>,
    pub allow_websocket: Option<bool>,
    pub query_start: Option<DateTime<Utc>>,
    pub query_end: Option<DateTime<Utc>>,
}

impl ServiceUserInput {
    fn settings(&self) -> KeySettings {
        KeySettings {
            scopes: self.scopes.clone(),
            account_ids: self.account_ids.as_ref().map(|v| v.iter().map(|i| i.0.clone()).collect()),
            expires_at: self.expires_at,
            ip_allowlist: self.ip_allowlist.clone(),
            nonce_window: self.nonce_window,
            allow_websocket: self.allow_websocket.unwrap_or(false),
            query_start: self.query_start,
            query_end: self.query_end,
        }
    }
}

/// A change to a key: an omitted field keeps its value, an explicit null clears it.
#[derive(InputObject, Default)]
pub struct ApiKeyPatch {
    pub scopes: Option<Vec<ApiScope>>,
    pub account_ids: MaybeUndefined<Vec<ID>>,
    pub expires_at: MaybeUndefined<DateTime<Utc>>,
    pub ip_allowlist: MaybeUndefined<Vec<String>>,
    pub nonce_window: MaybeUndefined<i64>,
    pub allow_websocket: Option<bool>,
    pub query_start: MaybeUndefined<DateTime<Utc>>,
    pub query_end: MaybeUndefined<DateTime<Utc>>,
    /// Straight-through payouts: the key settles its own withdrawals that
    /// need no approval in the same call. Refused unless the key has both a
    /// per-transaction maximum and a daily cap; a MANAGE_ACCESS operation
    /// under its policy like every key change.
    pub auto_execute: Option<bool>,
}

fn tri<T>(v: MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(x) => Some(Some(x)),
    }
}

/// A USD input as the operation holds it: parsed here, so a bad amount is
/// refused before anything is submitted, naming its field.
fn usd(field: &'static str, v: Option<Decimal>) -> Result<Option<UsdAmount>, ServiceError> {
    Ok(v.map(|d| UsdAmount::parse(field, d.0)).transpose()?)
}

/// [`usd`] for a patch field: absent keeps, `null` clears.
fn patch(field: &'static str, v: MaybeUndefined<Decimal>) -> Result<Option<Option<UsdAmount>>, ServiceError> {
    tri(v).map(|o| usd(field, o)).transpose()
}

impl From<ApiKeyPatch> for KeyPatch {
    fn from(p: ApiKeyPatch) -> Self {
        KeyPatch {
            scopes: p.scopes,
            account_ids: tri(p.account_ids).map(|o| o.map(|v| v.into_iter().map(|i| i.0).collect())),
            expires_at: tri(p.expires_at),
            ip_allowlist: tri(p.ip_allowlist),
            nonce_window: tri(p.nonce_window),
            allow_websocket: p.allow_websocket,
            query_start: tri(p.query_start),
            query_end: tri(p.query_end),
            auto_execute: p.auto_execute,
        }
    }
}

/// A withdrawal address to whitelist.
#[derive(InputObject)]
pub struct AddressInput {
    pub account_id: ID,
    pub asset: String,
    pub network: String,
    pub address: String,
    pub label: String,
}

/// A withdrawal.
#[derive(InputObject)]
pub struct WithdrawalInput {
    pub account_id: ID,
    pub asset: String,
    pub amount: Decimal,
    pub address_id: ID,
    /// Execute in the same call when no approval is needed (needs EXECUTE).
    /// A key with `autoExecute` settles such withdrawals without it.
    pub execute: Option<bool>,
}

impl From<WithdrawalInput> for WithdrawalSpec {
    fn from(input: WithdrawalInput) -> Self {
        WithdrawalSpec {
            account_id: input.account_id.0,
            asset: input.asset,
            amount: input.amount.0,
            address_id: input.address_id.0,
            execute: input.execute.unwrap_or(false),
        }
    }
}

/// Limits of one layer: an omitted value keeps its setting, `null` clears it.
#[derive(InputObject)]
pub struct RiskLimitsPatch {
    pub layer: LimitLayer,
    /// The key, for the API_KEY layer.
    pub api_key_id: Option<String>,
    /// The signer, for the SIGNER layer.
    pub member_id: Option<ID>,
    pub per_transaction_max_usd: MaybeUndefined<Decimal>,
    pub daily_cap_usd: MaybeUndefined<Decimal>,
    /// SIGNER layer only: withdrawals this member initiates above it wait for
    /// approval, even when the organisation's (lower wins) would let them through.
    pub approval_threshold_usd: MaybeUndefined<Decimal>,
}

/// The caller's access to the organisation a request belongs to.
async fn request_access<'a>(ctx: &Context<'a>, request_id: &str) -> ApiResult<(&'a AppState, Arc<OrgAccess>)> {
    let st = state(ctx);
    Ok((st, requests::access_for(&st.db, authz(ctx), request_id).await?))
}

impl MutationRoot {
    async fn submit(&self, ctx: &Context<'_>, org_id: &ID, op: Operation) -> ApiResult<RequestResult> {
        let st = state(ctx);
        let access = authz(ctx).org(org_id).await?;
        let done = st.sequencer.submit(&st.engine(), &access, op).await?;
        let (mut api_key, mut webhook_secret) = (None, None);
        match done.secret {
            Some(NewSecret { of: SecretOf::ApiKey, key_id, secret }) => api_key = Some(NewApiKey { key_id, secret }),
            Some(NewSecret { of: SecretOf::WebhookEndpoint, key_id, secret }) => {
                webhook_secret = Some(NewWebhookSecret { endpoint_id: ID(key_id), secret })
            }
            None => {}
        }
        Ok(RequestResult { request: Request::new(done.request, &access), api_key, webhook_secret })
    }
}

#[Object]
impl MutationRoot {
    /// Creates an account and signs in (enrol TOTP next).
    async fn sign_up(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        name: String,
    ) -> ApiResult<AuthPayload> {
        let st = state(ctx);
        let s = identity::sign_up(&st.db, &email, &password, &name, st.clock.now()).await?;
        Ok(AuthPayload { token: s.token, user: User(s.user) })
    }

    /// Signs in; `totp` is required once the user has enrolled.
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        totp: Option<String>,
        #[graphql(desc = "In place of `totp`: one of the account's recovery codes; each signs in once.")]
        recovery_code: Option<String>,
    ) -> ApiResult<AuthPayload> {
        let st = state(ctx);
        let ip = ctx.data_unchecked::<ClientIp>().0;
        let second = match (totp.as_deref(), recovery_code.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(ServiceError::BadInput("give a TOTP code or a recovery code, not both".into()).into());
            }
            (Some(code), None) => Some(identity::SecondFactor::Totp(code)),
            (None, Some(code)) => Some(identity::SecondFactor::RecoveryCode(code)),
            (None, None) => None,
        };
        let s = identity::sign_in(&st.db, &st.key, &st.session_policy, &email, &password, second, ip, st.clock.now())
            .await?;
        Ok(AuthPayload { token: s.token, user: User(s.user) })
    }

    /// Ends the calling session.
    async fn sign_out(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let st = state(ctx);
        identity::sign_out(&st.db, authz(ctx).actor.user()?, st.clock.now()).await?;
        Ok(true)
    }

    /// Starts TOTP enrolment: a secret for an authenticator app.
    async fn enroll_totp(&self, ctx: &Context<'_>) -> ApiResult<TotpEnrollment> {
        let st = state(ctx);
        let e = identity::enroll_totp(&st.db, &st.key, authz(ctx).actor.user()?).await?;
        let qr_svg = identity::qr_svg(&e.otpauth_url)?;
        Ok(TotpEnrollment { secret: e.secret, otpauth_url: e.otpauth_url, qr_svg })
    }

    /// Confirms enrolment with a current code, on the session that called
    /// `enrollTotp` (`FORBIDDEN` elsewhere): it becomes two-factor verified and
    /// the account's other sessions that are not are signed out. Five wrong
    /// codes per 15 minutes (with `signIn`'s), then `RATE_LIMITED`.
    async fn confirm_totp(&self, ctx: &Context<'_>, code: String) -> ApiResult<bool> {
        let st = state(ctx);
        identity::confirm_totp(&st.db, &st.key, &st.session_policy, authz(ctx).actor.user()?, &code, st.clock.now())
            .await?;
        Ok(true)
    }

    /// Issues ten one-time recovery codes, replacing any earlier set: each
    /// signs in once in place of a TOTP code (`signIn(recoveryCode:)`). Shown
    /// only in this answer. Needs a two-factor verified session.
    async fn generate_recovery_codes(&self, ctx: &Context<'_>) -> ApiResult<Vec<String>> {
        let st = state(ctx);
        Ok(identity::generate_recovery_codes(&st.db, authz(ctx).actor.user()?, st.clock.now()).await?)
    }

    /// Creates an organisation; the caller becomes its Owner.
    async fn create_organization(&self, ctx: &Context<'_>, name: String) -> ApiResult<Organization> {
        let st = state(ctx);
        let who = authz(ctx).actor.user()?;
        let model = orgs::create(&st.db, who, &name, st.clock.now()).await?;
        let access = std::sync::Arc::new(crate::authz::resolve(&st.db, &model.id, &who.user_id, st.clock.now()).await?);
        Ok(Organization { model, access })
    }

    /// Accepts an invitation from its e-mailed link; the caller must be signed
    /// in with the invited e-mail address.
    async fn accept_invitation(&self, ctx: &Context<'_>, token: String) -> ApiResult<Member> {
        let st = state(ctx);
        let m = invitations::accept(&st.db, authz(ctx).actor.user()?, &token, st.clock.now()).await?;
        Ok(Member(m))
    }

    /// Invites someone by e-mail with the given roles (MANAGE_ACCESS). The
    /// e-mail goes out through the job worker; inviting the same address
    /// again replaces the earlier link.
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        email: String,
        roles: Vec<Role>,
    ) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::InviteMember { email, roles }).await
    }

    /// Revokes a pending invitation (MANAGE_ACCESS); its link stops working.
    async fn revoke_invitation(&self, ctx: &Context<'_>, org_id: ID, invitation_id: ID) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::RevokeInvitation { invitation_id: invitation_id.0 }).await
    }

    /// Sets a workflow's approval policy (MANAGE_POLICIES). A locked policy
    /// changes only with someone else's approval.
    async fn set_policy(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        workflow: Workflow,
        input: PolicyInput,
    ) -> ApiResult<RequestResult> {
        let op = Operation::SetPolicy {
            workflow,
            required_approvals: input.required_approvals,
            always_require_approval: input.always_require_approval,
            approval_threshold_usd: usd("approvalThresholdUsd", input.approval_threshold_usd)?,
        };
        self.submit(ctx, &org_id, op).await
    }

    /// Locks a workflow's policy (MANAGE_POLICIES): from then on, changing or
    /// unlocking it needs approval by someone other than the requester.
    async fn lock_policy(&self, ctx: &Context<'_>, org_id: ID, workflow: Workflow) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::LockPolicy { workflow }).await
    }

    /// Unlocks a locked policy; always waits for someone else's approval.
    async fn unlock_policy(&self, ctx: &Context<'_>, org_id: ID, workflow: Workflow) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::UnlockPolicy { workflow }).await
    }

    /// Creates a service user and its first API key (MANAGE_ACCESS). The
    /// secret is in `apiKey` when this completes at once; otherwise the
    /// requester claims it once with `claimApiKeySecret` after approval.
    async fn create_service_user(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        input: ServiceUserInput,
    ) -> ApiResult<RequestResult> {
        let op = Operation::CreateServiceUser { name: input.name.clone(), settings: input.settings() };
        self.submit(ctx, &org_id, op).await
    }

    /// Adds a key to a service user (MANAGE_ACCESS); `name` is ignored.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        service_user_id: ID,
        input: ServiceUserInput,
    ) -> ApiResult<RequestResult> {
        let op = Operation::CreateApiKey { service_user_id: service_user_id.0, settings: input.settings() };
        self.submit(ctx, &org_id, op).await
    }

    /// Changes a key's settings (MANAGE_ACCESS).
    async fn update_api_key(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        key_id: ID,
        input: ApiKeyPatch,
    ) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::UpdateApiKey { key_id: key_id.0, patch: input.into() }).await
    }

    /// Issues a new secret (MANAGE_ACCESS). The old one stays valid for
    /// `grace` (at most `P1D`) so clients can switch without an outage, or is
    /// refused at once without it; `revokeApiKey` still cuts both at once.
    async fn rotate_api_key(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        key_id: ID,
        grace: Option<Duration>,
    ) -> ApiResult<RequestResult> {
        let grace_secs = grace.map_or(0, |g| g.0.secs());
        self.submit(ctx, &org_id, Operation::RotateApiKey { key_id: key_id.0, grace_secs }).await
    }

    /// Revokes a key (MANAGE_ACCESS).
    async fn revoke_api_key(&self, ctx: &Context<'_>, org_id: ID, key_id: ID) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::RevokeApiKey { key_id: key_id.0 }).await
    }

    /// Removes a service user and revokes its keys (MANAGE_ACCESS).
    async fn remove_service_user(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        service_user_id: ID,
    ) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::RemoveServiceUser { service_user_id: service_user_id.0 }).await
    }

    /// Reveals, once, the secret that an approved request of the caller's created or rotated.
    async fn claim_api_key_secret(&self, ctx: &Context<'_>, request_id: ID) -> ApiResult<NewApiKey> {
        let (st, access) = request_access(ctx, &request_id).await?;
        let k = service_users::claim(&st.db, &st.key, &access, &request_id, st.clock.now()).await?;
        Ok(NewApiKey { key_id: k.key_id, secret: k.secret })
    }

    /// Sends the organisation's events of `events` kinds to `url`, signed
    /// (MANAGE_ACCESS). `url` is `https://` (plain `http://` only to a
    /// loopback host, where the deployment allows it). The signing secret is
    /// in `webhookSecret` when this completes at once; otherwise the
    /// requester claims it once with `claimWebhookSecret` after approval.
    async fn add_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        url: String,
        events: Vec<WebhookEvent>,
    ) -> ApiResult<RequestResult> {
        // Who may not add one learns nothing, not even whether the URL would parse.
        authz(ctx).org(&org_id).await?.require(Workflow::ManageAccess, Action::Initiate, None)?;
        let allow_http_loopback = state(ctx).config.webhooks_allow_http_loopback;
        let url = WebhookUrl::parse(&url, allow_http_loopback).map_err(ServiceError::from)?;
        self.submit(ctx, &org_id, Operation::AddWebhookEndpoint { url: url.as_str().to_string(), events }).await
    }

    /// Stops sending events to an endpoint (MANAGE_ACCESS).
    async fn remove_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        endpoint_id: ID,
    ) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::RemoveWebhookEndpoint { endpoint_id: endpoint_id.0 }).await
    }

    /// Reveals, once, the signing secret of the endpoint an approved request of the caller's added.
    async fn claim_webhook_secret(&self, ctx: &Context<'_>, request_id: ID) -> ApiResult<NewWebhookSecret> {
        let (st, access) = request_access(ctx, &request_id).await?;
        let s = webhooks::claim_secret(&st.db, &st.key, &access, &request_id, st.clock.now()).await?;
        Ok(NewWebhookSecret { endpoint_id: ID(s.key_id), secret: s.secret })
    }

    /// Sends a FAILED delivery (or one waiting for its retry) again now
    /// (INITIATE on MANAGE_ACCESS). A delivered event is never sent twice
    /// (`CONFLICT`).
    async fn redeliver_webhook(&self, ctx: &Context<'_>, org_id: ID, delivery_id: ID) -> ApiResult<WebhookDelivery> {
        let st = state(ctx);
        let access = authz(ctx).org(&org_id).await?;
        Ok(WebhookDelivery(webhooks::redeliver(&st.db, &access, &delivery_id, st.clock.now()).await?))
    }

    /// Records a credit from custody (platform operator only).
    async fn credit_account(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        asset: String,
        amount: Decimal,
        reference: String,
    ) -> ApiResult<LedgerEntry> {
        let st = state(ctx);
        let operator = authz(ctx).actor.require_operator()?;
        Ok(LedgerEntry(ledger::credit(&st.engine(), &operator, &account_id, &asset, amount.0, &reference).await?))
    }

    /// Sets an asset's USD price (platform operator only).
    async fn set_asset_price(&self, ctx: &Context<'_>, asset: String, usd_price: Decimal) -> ApiResult<Asset> {
        let st = state(ctx);
        let operator = authz(ctx).actor.require_operator()?;
        Ok(Asset(ledger::set_price(&st.engine(), &operator, &asset, usd_price.0).await?))
    }

    /// Whitelists a withdrawal address (MANAGE_ADDRESSES).
    async fn add_address(&self, ctx: &Context<'_>, org_id: ID, input: AddressInput) -> ApiResult<RequestResult> {
        let op = Operation::AddAddress(NewAddress {
            account_id: input.account_id.0,
            asset: input.asset,
            network: input.network,
            address: input.address,
            label: input.label,
        });
        self.submit(ctx, &org_id, op).await
    }

    /// Removes a whitelisted address (MANAGE_ADDRESSES).
    async fn remove_address(&self, ctx: &Context<'_>, org_id: ID, address_id: ID) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::RemoveAddress { address_id: address_id.0 }).await
    }

    /// Sets risk limits of the organisation, an API key or a signer (MANAGE_POLICIES).
    async fn set_risk_limits(&self, ctx: &Context<'_>, org_id: ID, input: RiskLimitsPatch) -> ApiResult<RequestResult> {
        let subject = match input.layer {
            LimitLayer::Organization => input.api_key_id.or(input.member_id.map(|m| m.0)),
            LimitLayer::ApiKey => input.api_key_id,
            LimitLayer::Signer => input.member_id.map(|m| m.0),
        };
        let op = Operation::SetRiskLimits {
            layer: input.layer,
            subject,
            per_transaction_max_usd: patch("perTransactionMaxUsd", input.per_transaction_max_usd)?,
            daily_cap_usd: patch("dailyCapUsd", input.daily_cap_usd)?,
            approval_threshold_usd: patch("approvalThresholdUsd", input.approval_threshold_usd)?,
        };
        self.submit(ctx, &org_id, op).await
    }

    /// Requests a withdrawal to a whitelisted address (INITIATE on withdrawals; keys: WITHDRAW).
    ///
    /// Who needs approval (README "Who needs approval when"): with the
    /// withdrawal policy's `approvalThresholdUsd`, at or below the lower of it
    /// and the initiator's own threshold (SIGNER layer of `setRiskLimits`) no
    /// approval is needed — `APPROVED`, waiting for a signer — whoever
    /// initiates, makers and service users included; above it the withdrawal
    /// waits for `requiredApprovals`; `alwaysRequireApproval` makes every one
    /// wait. Without a threshold: EXECUTE holders complete, everyone else
    /// waits, and a service user waits for one approval. With `execute: true`
    /// a member holding EXECUTE settles one that needs no approval now; a key
    /// with `autoExecute` (and both its caps) always does (straight-through).
    async fn withdraw(&self, ctx: &Context<'_>, org_id: ID, input: WithdrawalInput) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::Withdraw(input.into())).await
    }

    /// Sets the stablecoin balance alert threshold (MANAGE_POLICIES); `null`
    /// clears it (UNCONFIGURED).
    async fn set_balance_alert(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        threshold_usd: Option<Decimal>,
    ) -> ApiResult<RequestResult> {
        let threshold_usd = usd("thresholdUsd", threshold_usd)?;
        self.submit(ctx, &org_id, Operation::SetBalanceAlert { threshold_usd }).await
    }

    /// Opts in to (or out of) pausing new withdrawals while the stablecoin
    /// balance alert is LOW (MANAGE_POLICIES); refused withdrawals get
    /// `PAUSED_LOW_BALANCE`, and pausing and resuming are audited.
    async fn set_low_balance_pause(&self, ctx: &Context<'_>, org_id: ID, enabled: bool) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::SetLowBalancePause { enabled }).await
    }

    /// Sets how long addresses whitelisted from now on must wait before they
    /// can receive (MANAGE_POLICIES; at most `P30D`, `PT0S` for none).
    async fn set_address_cooling_off(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        delay: Duration,
    ) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::SetAddressCoolingOff { delay_secs: delay.0.secs() }).await
    }

    /// Restricts withdrawals to weekdays and hours in a time zone
    /// (MANAGE_POLICIES); `input: null` lifts the restriction. Outside the
    /// window a withdrawal is refused (`OUTSIDE_WINDOW`) or, with
    /// `outside: REQUIRE_APPROVAL`, waits for approval.
    async fn set_withdrawal_window(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        input: Option<WithdrawalWindowInput>,
    ) -> ApiResult<RequestResult> {
        // Who may not ask learns nothing about their input: authorize, then parse.
        let op = Operation::SetWithdrawalWindow { window: None };
        op.require_initiate(&*authz(ctx).org(&org_id).await?)?;
        let window = input
            .map(|w| {
                let days: Vec<chrono::Weekday> = w.days.into_iter().map(Into::into).collect();
                WithdrawalWindow::parse(&w.time_zone, &days, &w.opens, &w.closes, w.outside)
            })
            .transpose()?;
        self.submit(ctx, &org_id, Operation::SetWithdrawalWindow { window }).await
    }

    /// Lends APPROVE on one workflow to another member until `until` (at most
    /// 90 days; holiday cover). A MANAGE_ACCESS operation, which a member may
    /// also ask for to lend their own APPROVE (`fromMemberId` left out means
    /// the caller). The delegate counts as an approver while it runs, never
    /// for their own requests, and their approvals record the delegation.
    async fn delegate_approval(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        input: DelegationInput,
    ) -> ApiResult<RequestResult> {
        let access = authz(ctx).org(&org_id).await?;
        let delegation = NewDelegation {
            from_member_id: input.from_member_id.map_or_else(|| access.member_id.clone(), |m| m.0),
            to_member_id: input.to_member_id.0,
            workflow: input.workflow,
            valid_until: input.until,
        };
        self.submit(ctx, &org_id, Operation::DelegateApproval(delegation)).await
    }

    /// Ends a delegation at once (MANAGE_ACCESS).
    async fn revoke_delegation(&self, ctx: &Context<'_>, org_id: ID, delegation_id: ID) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::RevokeDelegation { delegation_id: delegation_id.0 }).await
    }

    /// Turns the caller's own approver e-mails in this organisation on or off.
    async fn set_approval_notices(&self, ctx: &Context<'_>, org_id: ID, enabled: bool) -> ApiResult<Member> {
        let st = state(ctx);
        let access = authz(ctx).org(&org_id).await?;
        Ok(Member(approver_notices::set_for_self(&st.db, &access, enabled, st.clock.now()).await?))
    }

    /// Executes an APPROVED withdrawal (EXECUTE on withdrawals: a signer).
    async fn execute(&self, ctx: &Context<'_>, request_id: ID) -> ApiResult<Request> {
        let (st, access) = request_access(ctx, &request_id).await?;
        Ok(Request::new(requests::execute(&st.engine(), &access, &request_id).await?, &access))
    }

    /// Approves a pending request (APPROVE on its workflow; never one's own).
    async fn approve_request(&self, ctx: &Context<'_>, request_id: ID) -> ApiResult<Request> {
        let (st, access) = request_access(ctx, &request_id).await?;
        Ok(Request::new(requests::approve(&st.engine(), &access, &request_id).await?, &access))
    }

    /// Rejects a pending request (any approver but its requester).
    async fn reject_request(&self, ctx: &Context<'_>, request_id: ID, reason: Option<String>) -> ApiResult<Request> {
        let (st, access) = request_access(ctx, &request_id).await?;
        Ok(Request::new(requests::reject(&st.engine(), &access, &request_id, reason).await?, &access))
    }

    /// Cancels one's own pending request.
    async fn cancel_request(&self, ctx: &Context<'_>, request_id: ID) -> ApiResult<Request> {
        let (st, access) = request_access(ctx, &request_id).await?;
        Ok(Request::new(requests::cancel(&st.engine(), &access, &request_id).await?, &access))
    }

    /// Removes a member (MANAGE_ACCESS). The Owner cannot be removed.
    async fn remove_member(&self, ctx: &Context<'_>, org_id: ID, member_id: ID) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::RemoveMember { member_id: member_id.0 }).await
    }

    /// Replaces a member's roles (MANAGE_ACCESS).
    async fn set_member_roles(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        member_id: ID,
        roles: Vec<Role>,
    ) -> ApiResult<RequestResult> {
        self.submit(ctx, &org_id, Operation::SetMemberRoles { member_id: member_id.0, roles }).await
    }

    /// Grants a single permission, optionally on one account (MANAGE_ACCESS).
    async fn grant_permission(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        member_id: ID,
        workflow: Workflow,
        action: Action,
        account_id: Option<ID>,
    ) -> ApiResult<RequestResult> {
        let op = Operation::GrantPermission {
            member_id: member_id.0,
            workflow,
            action,
            account_id: account_id.map(|a| a.0),
        };
        self.submit(ctx, &org_id, op).await
    }

    /// Revokes a single permission granted earlier (MANAGE_ACCESS).
    async fn revoke_permission(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        member_id: ID,
        workflow: Workflow,
        action: Action,
        account_id: Option<ID>,
    ) -> ApiResult<RequestResult> {
        let op = Operation::RevokePermission {
            member_id: member_id.0,
            workflow,
            action,
            account_id: account_id.map(|a| a.0),
        };
        self.submit(ctx, &org_id, op).await
    }
}
