//! Output types, built from entity models. Fields that need more data load it
//! through the services, with the access the parent was resolved with.

use super::list_complexity;
use super::loaders::{Approvals, Eligible, Keyed, RequestRow};
use super::scalars::{Decimal, Duration};
use super::{ApiResult, authz, loaders, state};
use crate::authz::OrgAccess;
use crate::domain::{
    Action, ActorKind, AlertState, ApiScope, DeliveryStatus, InvitationState, IsoDuration, LimitLayer, MemberStatus,
    RequestStatus, Role, RoleSet, ScopeSet, Workflow,
};
use crate::service::{
    ServiceError, addresses, audit, balance_alerts, delegations, identity, invitations, ledger, limits, membership,
    organization as orgs, policies, requests, service_users, withdrawals,
};
use async_graphql::{
    Context, ID, InputObject, Object, SimpleObject,
    connection::{Connection, Edge},
};
use chrono::{DateTime, Utc};
use entity::{account, audit_record, invitation, ledger_entry, member, organization, policy, request, user};
use std::sync::Arc;

/// A person.
pub struct User(pub user::Model);

/// A person of the organisation `access` is for (a member, requester,
/// approver, inviter or signer), read in one batch with the rest of the
/// answer's people ([`membership::users`]).
pub(crate) async fn person(ctx: &Context<'_>, access: &Arc<OrgAccess>, user_id: &str) -> ApiResult<User> {
    let found = loaders(ctx).users.load_one(Keyed::new(access, user_id.to_string())).await?;
    Ok(User(found.ok_or(ServiceError::NotFound("user"))?))
}

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Personal data: never shown to a service user.
    async fn email(&self, ctx: &Context<'_>) -> ApiResult<&str> {
        authz(ctx).actor.require_person()?;
        Ok(&self.0.email)
    }
    /// Personal data: never shown to a service user.
    async fn name(&self, ctx: &Context<'_>) -> ApiResult<&str> {
        authz(ctx).actor.require_person()?;
        Ok(&self.0.name)
    }
    /// Whether the user has confirmed a TOTP authenticator.
    async fn two_factor_enabled(&self) -> bool {
        self.0.totp_enabled_at.is_some()
    }
}

/// A new session's bearer token, shown once.
#[derive(SimpleObject)]
pub struct AuthPayload {
    pub token: String,
    pub user: User,
}

/// A TOTP secret for an authenticator app.
#[derive(SimpleObject)]
pub struct TotpEnrollment {
    pub secret: String,
    pub otpauth_url: String,
    /// The `otpauthUrl` as a QR code: an SVG document to scan with the app.
    pub qr_svg: String,
}

/// What an invitation link offers ([`invitations::Preview`]).
pub struct InvitationPreview(pub invitations::Preview);

#[Object]
impl InvitationPreview {
    async fn organization_name(&self) -> &str {
        &self.0.organization_name
    }
    /// The address invited: sign up or sign in with it to accept.
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn roles(&self) -> Vec<Role> {
        self.0.roles.to_vec()
    }
    async fn invited_by_name(&self) -> &str {
        &self.0.invited_by_name
    }
    async fn invited_by_email(&self) -> &str {
        &self.0.invited_by_email
    }
    /// `PENDING` until accepted, revoked or past `expiresAt` (then `EXPIRED`).
    async fn status(&self) -> InvitationStatus {
        InvitationStatus::of(self.0.status, self.0.expires_at, self.0.now)
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
}

/// One effective permission.
#[derive(SimpleObject, Clone)]
pub struct Permission {
    pub workflow: Workflow,
    pub action: Action,
    pub account_id: Option<ID>,
}

impl From<crate::domain::Permission> for Permission {
    fn from(p: crate::domain::Permission) -> Self {
        Self { workflow: p.workflow, action: p.action, account_id: p.account_id.map(ID) }
    }
}

/// A membership of one organisation.
pub struct Member(pub member::Model);

#[Object]
impl Member {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<User> {
        // One's own membership (`viewer.memberships`) shows oneself as before
        // the organisation's checks; anyone else is the organisation's data.
        if let crate::authz::Actor::User(me) = &authz(ctx).actor
            && me.user_id == self.0.user_id
        {
            return Ok(User(identity::me(&state(ctx).db, me).await?));
        }
        person(ctx, &self.access(ctx).await?, &self.0.user_id).await
    }
    async fn organization_id(&self) -> ID {
        ID(self.0.org_id.clone())
    }
    async fn roles(&self) -> ApiResult<Vec<Role>> {
        Ok(RoleSet::from_stored(&self.0.roles).map_err(ServiceError::internal)?.to_vec())
    }
    async fn status(&self) -> ApiResult<MemberStatus> {
        Ok(self.0.status)
    }
    async fn is_owner(&self) -> bool {
        self.0.is_owner
    }
    /// The member's own approval threshold (SIGNER layer of `setRiskLimits`):
    /// withdrawals they initiate above it wait for approval; the lower of it
    /// and the organisation's applies. Those who may read usage see it.
    async fn approval_threshold_usd(&self, ctx: &Context<'_>) -> ApiResult<Option<Decimal>> {
        let access = self.access(ctx).await?;
        Ok(limits::signer_threshold(&state(ctx).db, &access, &self.0.user_id).await?.map(Decimal))
    }
    /// Single permissions granted beyond the member's roles (the member
    /// themselves, and those with VIEW on MANAGE_ACCESS).
    async fn grants(&self, ctx: &Context<'_>) -> ApiResult<Vec<Permission>> {
        let access = self.access(ctx).await?;
        membership::grants(&state(ctx).db, &access, &self.0)
            .await?
            .into_iter()
            .map(|g| Ok(Permission { workflow: g.workflow, action: g.action, account_id: g.account_id.map(ID) }))
            .collect()
    }
    async fn joined_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// This member's signer limit and today's usage (UTC day), as `organization.usage` shows it.
    async fn signer_usage(&self, ctx: &Context<'_>) -> ApiResult<LimitUsage> {
        let access = self.access(ctx).await?;
        let st = state(ctx);
        let day = limits::day_of(st.clock.now());
        Ok(LimitUsage(limits::usage(&st.db, &access, LimitLayer::Signer, &self.0.user_id, &day).await?))
    }
    async fn removed_at(&self) -> Option<DateTime<Utc>> {
        self.0.removed_at
    }
    /// Whether this member is e-mailed when a request starts waiting for their approval.
    async fn approval_notices(&self) -> bool {
        self.0.approval_notices
    }
    /// APPROVE this member lent to others, newest first (expired and revoked
    /// included; the member themselves, and those with VIEW on MANAGE_ACCESS).
    async fn delegations_given(&self, ctx: &Context<'_>) -> ApiResult<Vec<Delegation>> {
        let access = self.access(ctx).await?;
        Ok(delegations::of_member(&state(ctx).db, &access, &self.0, true).await?.into_iter().map(Delegation).collect())
    }
    /// APPROVE lent to this member, newest first (expired and revoked
    /// included; the member themselves, and those with VIEW on MANAGE_ACCESS).
    async fn delegations_received(&self, ctx: &Context<'_>) -> ApiResult<Vec<Delegation>> {
        let access = self.access(ctx).await?;
        Ok(delegations::of_member(&state(ctx).db, &access, &self.0, false).await?.into_iter().map(Delegation).collect())
    }
}

impl Member {
    /// The caller's access to the member's organisation, as the `members`
    /// query resolves it (membership, second factor, idle timeout): a Member
    /// reached another way (`viewer.memberships`) is held to the same checks.
    async fn access(&self, ctx: &Context<'_>) -> ApiResult<Arc<OrgAccess>> {
        Ok(authz(ctx).org(&self.0.org_id).await?)
    }
}

/// One member's APPROVE on one workflow, lent to another for a while.
pub struct Delegation(pub entity::delegation::Model);

#[Object]
impl Delegation {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn workflow(&self) -> ApiResult<Workflow> {
        Ok(self.0.workflow)
    }
    /// The member who lent their APPROVE.
    async fn from_member_id(&self) -> ID {
        ID(self.0.from_member_id.clone())
    }
    /// The member who may approve with it.
    async fn to_member_id(&self) -> ID {
        ID(self.0.to_member_id.clone())
    }
    async fn valid_from(&self) -> DateTime<Utc> {
        self.0.valid_from
    }
    /// It lapses by itself at this time.
    async fn valid_until(&self) -> DateTime<Utc> {
        self.0.valid_until
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
    /// Running now: started, not lapsed, not revoked.
    async fn active(&self, ctx: &Context<'_>) -> bool {
        let now = state(ctx).clock.now();
        self.0.revoked_at.is_none() && self.0.valid_from <= now && now < self.0.valid_until
    }
}

/// A segregated balance of an organisation.
pub struct Account {
    pub model: account::Model,
    pub access: Arc<OrgAccess>,
}

#[Object]
impl Account {
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// Balances per asset (members: VIEW on withdrawals; keys: QUERY_FUNDS).
    async fn holdings(&self, ctx: &Context<'_>) -> ApiResult<Vec<Holding>> {
        let st = state(ctx);
        let db = &st.db;
        let (_, org) = authz(ctx).org_and_row(&self.access.org_id).await?;
        let holdings =
            ledger::holdings_cached(db, &st.cache, &self.access, &org, &self.model.id, st.clock.now()).await?;
        // Every asset in one read (a short table) rather than one read per holding.
        let assets: std::collections::HashMap<String, entity::asset::Model> =
            ledger::assets(db).await?.into_iter().map(|a| (a.symbol.clone(), a)).collect();
        let mut out = Vec::new();
        for h in holdings.iter().cloned() {
            let asset = assets.get(&h.asset).cloned().ok_or(ServiceError::NotFound("asset"))?;
            let (amount, held) = (h.amount.0, h.held.0);
            let usd_value = ledger::usd_value(&asset, amount)?;
            let available = crate::domain::money::sub("available", amount, held)?;
            out.push(Holding {
                asset: h.asset,
                amount: Decimal(amount),
                held: Decimal(held),
                available: Decimal(available),
                usd_value: Decimal(usd_value),
            });
        }
        Ok(out)
    }
    /// Ledger entries, newest first (keys: QUERY_LEDGER, clamped to the key's query window).
    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn ledger(
        &self,
        ctx: &Context<'_>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        #[graphql(default = 50, validator(minimum = 1, maximum = 500))] first: i32,
        after: Option<String>,
    ) -> ApiResult<Connection<String, LedgerEntry>> {
        self.history(ctx, ledger::History::Ledger, since, until, first, after).await
    }
    /// Credits from custody, newest first (keys: DEPOSIT, clamped to the key's query window).
    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn deposits(
        &self,
        ctx: &Context<'_>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        #[graphql(default = 50, validator(minimum = 1, maximum = 500))] first: i32,
        after: Option<String>,
    ) -> ApiResult<Connection<String, LedgerEntry>> {
        self.history(ctx, ledger::History::Deposits, since, until, first, after).await
    }
    /// The ledger as CSV, newest first (keys: EXPORT_DATA, clamped to the key's query window).
    async fn ledger_csv(
        &self,
        ctx: &Context<'_>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> ApiResult<String> {
        let (rows, _) = ledger::history(
            &state(ctx).db,
            &self.access,
            &self.model.id,
            ledger::History::Export,
            since,
            until,
            100_000,
            None,
        )
        .await?;
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["id", "at", "asset", "kind", "amount", "balance_after", "reference"])
            .map_err(ServiceError::internal)?;
        for r in rows {
            let (id, at) = (r.id.to_string(), r.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
            w.write_record([
                id.as_str(),
                &at,
                &r.asset,
                r.kind.as_str(),
                &r.amount.to_string(),
                &r.balance_after.to_string(),
                &r.reference,
            ])
            .map_err(ServiceError::internal)?;
        }
        Ok(String::from_utf8(w.into_inner().map_err(ServiceError::internal)?).map_err(ServiceError::internal)?)
    }
}

impl Account {
    async fn history(
        &self,
        ctx: &Context<'_>,
        what: ledger::History,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        first: i32,
        after: Option<String>,
    ) -> ApiResult<Connection<String, LedgerEntry>> {
        let before = after
            .map(|c| c.parse::<i64>().map_err(|_| ServiceError::BadInput("after: not a cursor".into())))
            .transpose()?;
        let (rows, more) =
            ledger::history(&state(ctx).db, &self.access, &self.model.id, what, since, until, first as u64, before)
                .await?;
        let mut conn = Connection::new(before.is_some(), more);
        conn.edges.extend(rows.into_iter().map(|r| Edge::new(r.id.to_string(), LedgerEntry(r))));
        Ok(conn)
    }
}

/// How much of one asset an account holds.
#[derive(SimpleObject)]
pub struct Holding {
    pub asset: String,
    pub amount: Decimal,
    /// Reserved by open withdrawals.
    pub held: Decimal,
    pub available: Decimal,
    /// `amount` at the asset's current USD price (0 while unpriced).
    pub usd_value: Decimal,
}

/// One append-only ledger entry.
pub struct LedgerEntry(pub ledger_entry::Model);

#[Object]
impl LedgerEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn account_id(&self) -> ID {
        ID(self.0.account_id.clone())
    }
    async fn asset(&self) -> &str {
        &self.0.asset
    }
    /// `CREDIT` or `DEBIT`.
    async fn kind(&self) -> &str {
        self.0.kind.as_str()
    }
    async fn amount(&self) -> ApiResult<Decimal> {
        Ok(Decimal(self.0.amount.0))
    }
    async fn balance_after(&self) -> ApiResult<Decimal> {
        Ok(Decimal(self.0.balance_after.0))
    }
    async fn reference(&self) -> &str {
        &self.0.reference
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

/// A supported asset.
pub struct Asset(pub entity::asset::Model);

#[Object]
impl Asset {
    async fn symbol(&self) -> &str {
        &self.0.symbol
    }
    async fn decimals(&self) -> i32 {
        self.0.decimals
    }
    async fn is_stablecoin(&self) -> bool {
        self.0.is_stablecoin
    }
    /// Null until the operator sets a price.
    async fn usd_price(&self) -> ApiResult<Option<Decimal>> {
        Ok(self.0.usd_price.map(|p| Decimal(p.0)))
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// An API-only identity of the organisation.
pub struct ServiceUser(pub entity::service_user::Model);

#[Object]
impl ServiceUser {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// `ACTIVE` or `REMOVED`.
    async fn status(&self) -> &str {
        self.0.status.as_str()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Its keys, newest first (never their secrets): to the service user
    /// itself, and to those with VIEW on MANAGE_ACCESS.
    async fn keys(&self, ctx: &Context<'_>) -> ApiResult<Vec<ApiKey>> {
        let access = authz(ctx).org(&self.0.org_id).await?;
        Ok(service_users::keys(&state(ctx).db, &access, &self.0).await?.into_iter().map(ApiKey).collect())
    }
}

/// An API key's public face: id, settings, last use. The secret is never here.
pub struct ApiKey(pub entity::api_key::Model);

#[Object]
impl ApiKey {
    async fn key_id(&self) -> &str {
        &self.0.key_id
    }
    /// `ACTIVE` or `REVOKED`.
    async fn status(&self) -> &str {
        self.0.status.as_str()
    }
    async fn scopes(&self) -> ApiResult<Vec<ApiScope>> {
        Ok(ScopeSet::from_stored(&self.0.scopes).map_err(ServiceError::internal)?.to_vec())
    }
    async fn account_ids(&self) -> Option<Vec<ID>> {
        self.0.account_ids.as_deref().map(|s| s.split(',').map(|a| ID(a.to_string())).collect())
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    async fn ip_allowlist(&self) -> Option<Vec<String>> {
        self.0.ip_allowlist.as_deref().map(|s| s.split(',').map(str::to_string).collect())
    }
    async fn nonce_window(&self) -> Option<i64> {
        self.0.nonce_window
    }
    async fn allow_websocket(&self) -> bool {
        self.0.allow_websocket
    }
    /// Straight-through payouts: withdrawals by this key that need no
    /// approval settle in the same call, with the service user as executor.
    async fn auto_execute(&self) -> bool {
        self.0.auto_execute
    }
    async fn query_start(&self) -> Option<DateTime<Utc>> {
        self.0.query_start
    }
    async fn query_end(&self) -> Option<DateTime<Utc>> {
        self.0.query_end
    }
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
    async fn last_used_ip(&self) -> Option<&str> {
        self.0.last_used_ip.as_deref()
    }
    /// Until when the secret replaced by the last rotation is still accepted.
    async fn previous_secret_valid_until(&self, ctx: &Context<'_>) -> Option<DateTime<Utc>> {
        self.0.previous_valid_until.filter(|until| *until > state(ctx).clock.now())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
    /// This key's limit and today's usage (UTC day), as `organization.usage` shows it.
    async fn usage(&self, ctx: &Context<'_>) -> ApiResult<LimitUsage> {
        let access = authz(ctx).org(&self.0.org_id).await?;
        let st = state(ctx);
        let day = limits::day_of(st.clock.now());
        Ok(LimitUsage(limits::usage(&st.db, &access, LimitLayer::ApiKey, &self.0.key_id, &day).await?))
    }
}

/// Filters for `Organization.auditLog` and `auditLogCsv`.
#[derive(InputObject, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<ID>,
    pub request_id: Option<ID>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The rules' filter for an optional GraphQL one (a function, not a `From`:
/// both `Option` and `audit::AuditFilter` live outside this crate).
fn audit_filter(f: Option<AuditFilter>) -> audit::AuditFilter {
    let f = f.unwrap_or_default();
    audit::AuditFilter {
        action: f.action,
        actor_id: f.actor_id.map(|i| i.0),
        request_id: f.request_id.map(|i| i.0),
        since: f.since,
        until: f.until,
    }
}

/// One record of the audit trail.
pub struct AuditRecord(pub audit_record::Model);

#[Object]
impl AuditRecord {
    async fn seq(&self) -> i64 {
        self.0.seq
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// `USER`, `SERVICE_USER`, `OPERATOR` or `SYSTEM`.
    async fn actor_kind(&self) -> &str {
        self.0.actor_kind.as_str()
    }
    async fn actor_id(&self) -> ID {
        ID(self.0.actor_id.clone())
    }
    /// Who acted, as people read it: a person's name, a service user's
    /// name, "Platform operator" or "Countersign" (the system).
    async fn actor_name(&self, ctx: &Context<'_>) -> ApiResult<String> {
        Ok(authz(ctx).actor_name(self.0.actor_kind, &self.0.actor_id).await?)
    }
    async fn action(&self) -> &str {
        &self.0.action
    }
    async fn target(&self) -> Option<&str> {
        self.0.target.as_deref()
    }
    /// State before the change, as JSON text.
    async fn before(&self) -> Option<&str> {
        self.0.before.as_deref()
    }
    /// State after the change, as JSON text.
    async fn after(&self) -> Option<&str> {
        self.0.after.as_deref()
    }
    async fn request_id(&self) -> Option<ID> {
        self.0.request_id.clone().map(ID)
    }
    async fn prev_hash(&self) -> &str {
        &self.0.prev_hash
    }
    async fn hash(&self) -> &str {
        &self.0.hash
    }
    /// HMAC-SHA256 link, keyed by the deployment: the database alone cannot recompute it.
    async fn mac(&self) -> &str {
        &self.0.mac
    }
}

/// The result of re-checking an organisation's audit chain.
#[derive(SimpleObject)]
pub struct AuditVerification {
    pub valid: bool,
    pub records: i64,
    pub first_invalid_seq: Option<i64>,
    /// Stored signed checkpoints that hold.
    pub checkpoints: i64,
}

/// An organisation, as seen by one of its members.
pub struct Organization {
    pub model: organization::Model,
    pub access: Arc<OrgAccess>,
}

#[Object]
impl Organization {
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }
    async fn name(&self) -> &str {
        &self.model.name
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// Sessions idle longer than this lose access to the organisation.
    async fn session_idle_timeout_seconds(&self) -> i32 {
        self.model.session_idle_timeout_secs
    }
    /// Whether new withdrawals pause while the balance alert is LOW.
    async fn pause_on_low_balance(&self) -> bool {
        self.model.pause_on_low_balance
    }
    /// When withdrawals may be made; null: at any time.
    async fn withdrawal_window(&self) -> ApiResult<Option<WithdrawalWindow>> {
        let Some(stored) = &self.model.withdrawal_window else { return Ok(None) };
        Ok(Some(WithdrawalWindow(
            crate::domain::WithdrawalWindow::from_stored(stored).map_err(ServiceError::internal)?,
        )))
    }
    /// How long a newly whitelisted address waits before it can receive.
    async fn address_cooling_off(&self, ctx: &Context<'_>) -> Duration {
        let default = state(ctx).config.address_cooling_off_secs;
        Duration(IsoDuration::from_secs(self.model.address_cooling_off_secs.map_or(default, i64::from)))
    }
    /// Accounts (a service user sees those its key may touch).
    async fn accounts(&self, ctx: &Context<'_>) -> ApiResult<Vec<Account>> {
        let st = state(ctx);
        let (_, org) = authz(ctx).org_and_row(&self.access.org_id).await?;
        Ok(orgs::accounts_cached(&st.db, &st.cache, &self.access, &org, st.clock.now())
            .await?
            .into_iter()
            .map(|model| Account { model, access: self.access.clone() })
            .collect())
    }
    /// The stablecoin balance alert (any member; keys: QUERY_FUNDS or WITHDRAW).
    async fn balance_alert(&self, ctx: &Context<'_>) -> ApiResult<BalanceAlert> {
        Ok(BalanceAlert::from(balance_alerts::get(&state(ctx).db, &self.access).await?))
    }
    /// Changes of the balance alert's state, newest first (any member;
    /// keys: QUERY_FUNDS or WITHDRAW).
    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn balance_alert_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50, validator(minimum = 1, maximum = 500))] first: i32,
    ) -> ApiResult<Vec<BalanceAlertChange>> {
        Ok(balance_alerts::history(&state(ctx).db, &self.access, first as u64)
            .await?
            .into_iter()
            .map(BalanceAlertChange)
            .collect())
    }
    /// Whitelisted withdrawal addresses.
    async fn addresses(&self, ctx: &Context<'_>) -> ApiResult<Vec<Address>> {
        Ok(addresses::list(&state(ctx).db, &self.access).await?.into_iter().map(Address).collect())
    }
    /// Whether withdrawals can run: at least one active MAKER, APPROVER and SIGNER.
    async fn treasury_readiness(&self, ctx: &Context<'_>) -> ApiResult<TreasuryReadiness> {
        let r = withdrawals::readiness(&state(ctx).db, &self.access).await?;
        let missing: Vec<Role> = r.iter().filter(|(_, ok)| !ok).map(|(role, _)| *role).collect();
        Ok(TreasuryReadiness { ready: missing.is_empty(), missing_roles: missing })
    }
    /// Risk limits of every layer with today's usage (UTC day): the
    /// organisation, each API key and each signer that has limits (any
    /// member; keys: QUERY_FUNDS or WITHDRAW).
    async fn limits(&self, ctx: &Context<'_>) -> ApiResult<Vec<LimitUsage>> {
        all_usage(ctx, &self.access).await
    }
    /// What settled per limit layer on each of the last `days` UTC days
    /// (today included; at most 35), oldest first, every day present: the
    /// risk officer's outflow chart. Who may read usage may read this.
    async fn outflow_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 30)] days: i32,
    ) -> ApiResult<Vec<OutflowSeries>> {
        let st = state(ctx);
        let series = limits::outflow_history(&st.db, &self.access, st.clock.now(), i64::from(days)).await?;
        Ok(series.into_iter().map(OutflowSeries).collect())
    }
    /// The same as `limits` (usage is part of each entry).
    async fn usage(&self, ctx: &Context<'_>) -> ApiResult<Vec<LimitUsage>> {
        all_usage(ctx, &self.access).await
    }
    /// Where the organisation's events are POSTed, signed (VIEW on MANAGE_ACCESS).
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> ApiResult<Vec<super::webhooks::WebhookEndpoint>> {
        super::webhooks::endpoints(ctx, &self.access).await
    }
    /// Every endpoint's deliveries, newest first, or one endpoint's (VIEW on MANAGE_ACCESS).
    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: Option<ID>,
        #[graphql(default = 50, validator(minimum = 1, maximum = 200))] first: i32,
    ) -> ApiResult<Vec<super::webhooks::WebhookDelivery>> {
        super::webhooks::deliveries(ctx, &self.access, endpoint_id.as_ref().map(|e| e.as_str()), first).await
    }
    /// Service users and their keys (VIEW on MANAGE_ACCESS).
    async fn service_users(&self, ctx: &Context<'_>) -> ApiResult<Vec<ServiceUser>> {
        Ok(service_users::list(&state(ctx).db, &self.access).await?.into_iter().map(ServiceUser).collect())
    }
    /// Members and their roles (any member; never a service user).
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_removed: bool,
    ) -> ApiResult<Vec<Member>> {
        // Each member's `user` comes from one read of them all (the user loader).
        let members = membership::list(&state(ctx).db, &self.access, include_removed).await?;
        Ok(members.into_iter().map(Member).collect())
    }
    /// The caller's own membership.
    async fn viewer_member(&self, ctx: &Context<'_>) -> ApiResult<Member> {
        Ok(Member(membership::viewer(&state(ctx).db, &self.access).await?))
    }
    /// Approval policies, one per governed workflow that has one (any
    /// member; keys: QUERY_FUNDS or WITHDRAW).
    async fn policies(&self, ctx: &Context<'_>) -> ApiResult<Vec<Policy>> {
        Ok(policies::list(&state(ctx).db, &self.access).await?.into_iter().map(Policy).collect())
    }
    /// The request queue: requests of the workflows the caller may view,
    /// and the caller's own, newest first (keys: inside the key's query window).
    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn requests(
        &self,
        ctx: &Context<'_>,
        status: Option<RequestStatus>,
        workflow: Option<Workflow>,
        #[graphql(default = 50, validator(minimum = 1, maximum = 200))] first: i32,
        after: Option<String>,
    ) -> ApiResult<Connection<String, Request>> {
        let after = after.map(|c| parse_request_cursor(&c)).transpose()?;
        let has_previous = after.is_some();
        let q = requests::QueueQuery {
            status: status.map(|s| s.as_str().to_string()),
            workflow,
            first: first as u64,
            after,
        };
        let (rows, more) = requests::queue(&state(ctx).db, &self.access, &q).await?;
        let mut conn = Connection::new(has_previous, more);
        conn.edges.extend(rows.into_iter().map(|r| Edge::new(request_cursor(&r), Request::new(r, &self.access))));
        Ok(conn)
    }
    /// Invitations, newest first (VIEW on MANAGE_ACCESS).
    async fn invitations(&self, ctx: &Context<'_>) -> ApiResult<Vec<Invitation>> {
        let st = state(ctx);
        let now = st.clock.now();
        let access = &self.access;
        Ok(invitations::list(&st.db, access)
            .await?
            .into_iter()
            .map(|model| Invitation { model, now, access: access.clone() })
            .collect())
    }
    /// The actions this organisation's audit trail holds, alphabetically:
    /// the values `AuditFilter.action` can match (VIEW on MANAGE_ACCESS).
    async fn audit_actions(&self, ctx: &Context<'_>) -> ApiResult<Vec<String>> {
        Ok(audit::actions(&state(ctx).db, &self.access).await?)
    }
    /// The audit trail, newest first (VIEW on MANAGE_ACCESS).
    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        #[graphql(default = 50, validator(minimum = 1, maximum = 500))] first: i32,
        after: Option<String>,
    ) -> ApiResult<Connection<String, AuditRecord>> {
        let after_seq = after
            .map(|c| c.parse::<i64>().map_err(|_| ServiceError::BadInput("after: not a cursor".into())))
            .transpose()?;
        let page = audit::page(&state(ctx).db, &self.access, &audit_filter(filter), first as u64, after_seq).await?;
        let mut conn = Connection::new(after_seq.is_some(), page.has_next_page);
        conn.edges.extend(page.records.into_iter().map(|r| Edge::new(r.seq.to_string(), AuditRecord(r))));
        Ok(conn)
    }
    /// The audit trail as CSV, oldest first, with hashes, MACs and signed
    /// checkpoints, for `countersign audit verify` (VIEW on MANAGE_ACCESS).
    async fn audit_log_csv(&self, ctx: &Context<'_>, filter: Option<AuditFilter>) -> ApiResult<String> {
        let st = state(ctx);
        Ok(audit::export_csv(&st.db, &self.access, &audit_filter(filter), st.clock.now()).await?)
    }
    /// The audit trail as JSON, as `auditLogCsv` (VIEW on MANAGE_ACCESS).
    async fn audit_log_json(&self, ctx: &Context<'_>, filter: Option<AuditFilter>) -> ApiResult<String> {
        let st = state(ctx);
        Ok(audit::export_json(&st.db, &self.access, &audit_filter(filter), st.clock.now()).await?)
    }
    /// Recomputes the audit hash chain (VIEW on MANAGE_ACCESS).
    async fn audit_verification(&self, ctx: &Context<'_>) -> ApiResult<AuditVerification> {
        let v = audit::verify(&state(ctx).db, &self.access).await?;
        Ok(AuditVerification {
            valid: v.valid,
            records: v.records,
            first_invalid_seq: v.first_invalid_seq,
            checkpoints: v.checkpoints,
        })
    }
}

/// Who made a request.
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
    /// The access the request was read with.
    pub access: Arc<OrgAccess>,
}

#[Object]
impl Actor {
    /// `USER` or `SERVICE_USER`.
    async fn kind(&self) -> &str {
        self.kind.as_str()
    }
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// As people read it: a person's name, or a service user's name.
    async fn name(&self, ctx: &Context<'_>) -> ApiResult<String> {
        Ok(authz(ctx).actor_name(self.kind, &self.id).await?)
    }
    /// The person, when the actor is a user.
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        if self.kind != ActorKind::User {
            return Ok(None);
        }
        Ok(Some(person(ctx, &self.access, &self.id).await?))
    }
}

/// One approval of a request.
#[derive(SimpleObject)]
pub struct Approval {
    pub approver: Actor,
    pub at: DateTime<Utc>,
    /// The delegation the approver acted under, when their APPROVE was lent.
    pub delegation_id: Option<ID>,
}

/// A governed operation and where it stands, with the access it was read
/// with (its relation fields read through it).
pub struct Request {
    pub model: Arc<request::Model>,
    pub access: Arc<OrgAccess>,
}

impl Request {
    pub fn new(model: request::Model, access: &Arc<OrgAccess>) -> Self {
        Self { model: Arc::new(model), access: access.clone() }
    }

    fn key(&self) -> Keyed<RequestRow> {
        Keyed::new(&self.access, RequestRow(self.model.clone()))
    }

    fn actor(&self, kind: ActorKind, id: &str) -> Actor {
        Actor { kind, id: id.to_string(), access: self.access.clone() }
    }
}

#[Object]
impl Request {
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }
    async fn organization_id(&self) -> ID {
        ID(self.model.org_id.clone())
    }
    async fn workflow(&self) -> ApiResult<Workflow> {
        Ok(self.model.workflow)
    }
    async fn operation(&self) -> &str {
        &self.model.operation
    }
    /// The operation's input, as JSON text.
    async fn payload(&self) -> &str {
        &self.model.payload
    }
    async fn status(&self) -> ApiResult<RequestStatus> {
        Ok(self.model.status)
    }
    async fn requester(&self) -> Actor {
        self.actor(self.model.requester_kind, &self.model.requester_id)
    }
    async fn approvals(&self, ctx: &Context<'_>) -> ApiResult<Vec<Approval>> {
        Ok(loaders(ctx)
            .users
            .load_one(Approvals(self.key()))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|a| Approval {
                approver: self.actor(ActorKind::User, &a.approver_id),
                at: a.at,
                delegation_id: a.delegation_id.map(ID),
            })
            .collect())
    }
    /// Members who may still approve: holders of APPROVE on the workflow,
    /// other than the requester (for a service user's request, also its
    /// creator and the members who obtained its key secrets) and those who
    /// already approved.
    async fn eligible_approvers(&self, ctx: &Context<'_>) -> ApiResult<Vec<User>> {
        let ids = loaders(ctx).users.load_one(Eligible(self.key())).await?.unwrap_or_default();
        let people = ids.iter().map(|id| person(ctx, &self.access, id));
        futures_util::future::try_join_all(people).await
    }
    /// Why the request waits, when there is more to say than "for approvals".
    async fn waiting_reason(&self) -> Option<&str> {
        self.model.waiting_reason.as_deref()
    }
    /// The account the request concerns, if any.
    async fn account_id(&self) -> Option<ID> {
        self.model.account_id.clone().map(ID)
    }
    /// The withdrawal, when the request is one.
    async fn withdrawal(&self, ctx: &Context<'_>) -> ApiResult<Option<Withdrawal>> {
        let mut found = withdrawals::of_requests(&state(ctx).db, &self.access, &[&*self.model]).await?;
        Ok(found.remove(&self.model.id).map(|model| Withdrawal { model, access: self.access.clone() }))
    }
    /// The request's audit records, oldest first (VIEW on MANAGE_ACCESS, as
    /// for the audit log).
    async fn history(&self, ctx: &Context<'_>) -> ApiResult<Vec<AuditRecord>> {
        let records = audit::for_request(&state(ctx).db, &self.access, &self.model.id).await?;
        Ok(records.into_iter().map(AuditRecord).collect())
    }
    async fn approvals_required(&self) -> i32 {
        self.model.approvals_required
    }
    /// The version of the workflow's policy this request was created under
    /// (null: no policy); a later policy change does not alter what it needs.
    async fn policy_version(&self) -> Option<i32> {
        self.model.policy_version
    }
    async fn reason(&self) -> Option<&str> {
        self.model.reason.as_deref()
    }
    /// Who rejected or cancelled it (null while open, and when approvals,
    /// execution or expiry ended it: see `approvals` and `withdrawal`).
    async fn decided_by(&self, ctx: &Context<'_>) -> ApiResult<Option<Actor>> {
        if ![RequestStatus::Rejected, RequestStatus::Cancelled].contains(&self.model.status) {
            return Ok(None);
        }
        let who = audit::decided_by(&state(ctx).db, &self.access, &self.model).await?;
        Ok(who.map(|(kind, id)| self.actor(kind, &id)))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
}

/// A newly issued API key; the secret is shown once.
#[derive(SimpleObject)]
pub struct NewApiKey {
    pub key_id: String,
    pub secret: String,
}

/// What a governed mutation returns.
#[derive(SimpleObject)]
pub struct RequestResult {
    pub request: Request,
    pub api_key: Option<NewApiKey>,
    /// An added webhook endpoint's signing secret, when the request completed at once.
    pub webhook_secret: Option<super::webhooks::NewWebhookSecret>,
}

/// Where an invitation stands.
#[derive(async_graphql::Enum, Copy, Clone, PartialEq, Eq, Debug)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InvitationStatus {
    /// From the stored state; a pending invitation past its expiry is `EXPIRED`.
    fn of(stored: InvitationState, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        match stored {
            InvitationState::Accepted => Self::Accepted,
            InvitationState::Revoked => Self::Revoked,
            InvitationState::Pending if now > expires_at => Self::Expired,
            InvitationState::Pending => Self::Pending,
        }
    }
}

/// An invitation to join the organisation.
pub struct Invitation {
    pub model: invitation::Model,
    /// Expiry is judged against this time.
    pub now: DateTime<Utc>,
    /// The access the invitations were listed with.
    pub access: Arc<OrgAccess>,
}

#[Object]
impl Invitation {
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }
    async fn email(&self) -> &str {
        &self.model.email
    }
    async fn roles(&self) -> ApiResult<Vec<Role>> {
        Ok(RoleSet::from_stored(&self.model.roles).map_err(ServiceError::internal)?.to_vec())
    }
    async fn invited_by(&self, ctx: &Context<'_>) -> ApiResult<User> {
        person(ctx, &self.access, &self.model.invited_by).await
    }
    async fn status(&self) -> InvitationStatus {
        InvitationStatus::of(self.model.status, self.model.expires_at, self.now)
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.model.expires_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    async fn accepted_at(&self) -> Option<DateTime<Utc>> {
        self.model.accepted_at
    }
    async fn delivery_status(&self) -> DeliveryStatus {
        self.model.delivery_status
    }
    async fn delivery_attempts(&self) -> i32 {
        self.model.delivery_attempts
    }
    /// Why the last delivery attempt failed, if it did.
    async fn last_error(&self) -> Option<&str> {
        self.model.last_error.as_deref()
    }
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.model.sent_at
    }
}

/// A workflow's approval policy.
pub struct Policy(pub policy::Model);

#[Object]
impl Policy {
    async fn workflow(&self) -> ApiResult<Workflow> {
        Ok(self.0.workflow)
    }
    async fn required_approvals(&self) -> i32 {
        self.0.required_approvals
    }
    async fn always_require_approval(&self) -> bool {
        self.0.always_require_approval
    }
    async fn approval_threshold_usd(&self) -> ApiResult<Option<Decimal>> {
        Ok(self.0.approval_threshold_usd.map(|t| Decimal(t.0)))
    }
    async fn locked(&self) -> bool {
        self.0.locked
    }
    /// Increments with every change.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// What happened to a request, for subscribers.
#[derive(SimpleObject)]
pub struct RequestEvent {
    pub request: Request,
    /// `CREATED`, `APPROVED`, `COMPLETED`, `REJECTED`, `CANCELLED`, `EXPIRED` or `FAILED`.
    pub kind: String,
}

fn request_cursor(r: &request::Model) -> String {
    format!("{}|{}", r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), r.id)
}

fn parse_request_cursor(c: &str) -> Result<(DateTime<Utc>, String), ServiceError> {
    let bad = || ServiceError::BadInput("after: not a cursor".into());
    let (at, id) = c.split_once('|').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?.with_timezone(&Utc);
    Ok((at, id.to_string()))
}

/// A whitelisted withdrawal address.
pub struct Address(pub entity::address::Model);

#[Object]
impl Address {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn account_id(&self) -> ID {
        ID(self.0.account_id.clone())
    }
    async fn asset(&self) -> &str {
        &self.0.asset
    }
    async fn network(&self) -> &str {
        &self.0.network
    }
    async fn address(&self) -> &str {
        &self.0.address
    }
    async fn label(&self) -> &str {
        &self.0.label
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the address can first receive (the end of its cooling-off).
    async fn usable_from(&self) -> DateTime<Utc> {
        self.0.usable_from.unwrap_or(self.0.created_at)
    }
    /// Still cooling off: withdrawals to it are refused (`ADDRESS_COOLING_OFF`).
    async fn cooling_off(&self, ctx: &Context<'_>) -> bool {
        self.0.usable_from.is_some_and(|from| state(ctx).clock.now() < from)
    }
    /// A valid address of its network, which carries its asset. Addresses
    /// whitelisted before networks were checked may not be: withdrawals to
    /// them are refused (`BAD_INPUT`) until they are replaced.
    async fn valid(&self) -> bool {
        addresses::validity(&self.0).is_ok()
    }
    /// Why the address is not valid (null when it is).
    async fn invalid_reason(&self) -> Option<String> {
        addresses::validity(&self.0).err().map(|e| e.to_string())
    }
}

/// A network withdrawals can go out on (`AddressInput.network` takes its `name`).
pub struct Network(pub domain::Network);

#[Object]
impl Network {
    /// What `AddressInput.network` takes: `ethereum`.
    async fn name(&self) -> &'static str {
        self.0.as_str()
    }
    async fn display_name(&self) -> &'static str {
        self.0.display_name()
    }
    /// How its addresses are written, in words.
    async fn address_format(&self) -> &'static str {
        self.0.address_format().describe()
    }
    /// A valid address of the format, for placeholders.
    async fn address_example(&self) -> &'static str {
        self.0.address_format().example()
    }
    /// The assets it carries: only these can be whitelisted on it.
    async fn assets(&self) -> Vec<NetworkAsset> {
        self.0.assets().iter().map(|a| NetworkAsset { symbol: a.symbol, decimals: a.decimals as i32 }).collect()
    }
}

/// An asset a network carries.
#[derive(SimpleObject)]
pub struct NetworkAsset {
    pub symbol: &'static str,
    /// Decimal places of the asset on this network.
    pub decimals: i32,
}

/// Whether withdrawals can run.
#[derive(SimpleObject)]
pub struct TreasuryReadiness {
    pub ready: bool,
    /// Which of MAKER, APPROVER, SIGNER no active member holds.
    pub missing_roles: Vec<Role>,
}

/// One limit layer's settings and today's usage (USD).
pub struct LimitUsage(pub limits::Usage);

#[Object]
impl LimitUsage {
    async fn layer(&self) -> LimitLayer {
        self.0.layer
    }
    /// The organisation id, the API key's public id, or the signer's user id.
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    /// The subject as people read it: the organisation's name, the key's
    /// service user and public id, or the signer's name.
    async fn subject_name(&self, ctx: &Context<'_>) -> ApiResult<String> {
        Ok(authz(ctx).subject_name(self.0.layer, &self.0.subject).await?)
    }
    async fn per_transaction_max_usd(&self) -> Option<Decimal> {
        self.0.per_transaction_max.map(Decimal)
    }
    async fn daily_cap_usd(&self) -> Option<Decimal> {
        self.0.daily_cap.map(Decimal)
    }
    /// Settled today (UTC).
    async fn used_today_usd(&self) -> Decimal {
        Decimal(self.0.used_today)
    }
    /// Reserved by open withdrawals made today.
    async fn held_usd(&self) -> Decimal {
        Decimal(self.0.held)
    }
    /// Left under the daily cap (null without one).
    async fn remaining_usd(&self) -> Option<Decimal> {
        self.0.remaining.map(Decimal)
    }
    /// SIGNER layer: the member's own approval threshold — withdrawals they
    /// initiate above it wait for approval (the lower of theirs and the
    /// organisation's applies). Null elsewhere and when unset.
    async fn approval_threshold_usd(&self) -> Option<Decimal> {
        self.0.approval_threshold.map(Decimal)
    }
}

/// One limit layer's settled outflow per day.
pub struct OutflowSeries(pub limits::Outflow);

#[Object]
impl OutflowSeries {
    async fn layer(&self) -> LimitLayer {
        self.0.layer
    }
    /// As `LimitUsage.subject`.
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    /// As `LimitUsage.subjectName`.
    async fn subject_name(&self, ctx: &Context<'_>) -> ApiResult<String> {
        Ok(authz(ctx).subject_name(self.0.layer, &self.0.subject).await?)
    }
    /// Oldest first, one entry per UTC day of the window.
    async fn days(&self) -> Vec<DailyOutflow> {
        self.0.days.iter().map(|(day, usd)| DailyOutflow { day: day.clone(), usd: Decimal(*usd) }).collect()
    }
}

/// What settled on one UTC day.
#[derive(SimpleObject)]
pub struct DailyOutflow {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub usd: Decimal,
}

/// The money side of a withdrawal request, with the access its request was read with.
pub struct Withdrawal {
    pub model: entity::withdrawal::Model,
    pub access: Arc<OrgAccess>,
}

#[Object]
impl Withdrawal {
    async fn account_id(&self) -> ID {
        ID(self.model.account_id.clone())
    }
    async fn asset(&self) -> &str {
        &self.model.asset
    }
    async fn amount(&self) -> ApiResult<Decimal> {
        Ok(Decimal(self.model.amount.0))
    }
    /// At the asset's price when the withdrawal was made.
    async fn usd_value(&self) -> ApiResult<Decimal> {
        Ok(Decimal(self.model.usd_value.0))
    }
    async fn address_id(&self) -> ID {
        ID(self.model.address_id.clone())
    }
    /// The destination (its label, network and address), also after it was
    /// removed from the whitelist.
    async fn address(&self, ctx: &Context<'_>) -> ApiResult<Option<Address>> {
        Ok(withdrawals::destination(&state(ctx).db, &self.access, &self.model).await?.map(Address))
    }
    /// Who executed it: a signer, or the service user of a straight-through payout.
    async fn executor(&self, ctx: &Context<'_>) -> ApiResult<Option<Actor>> {
        let who = withdrawals::executor(&state(ctx).db, &self.access, &self.model).await?;
        Ok(who.map(|(kind, id)| Actor { kind, id, access: self.access.clone() }))
    }
    /// `HELD`, `SETTLED` or `RELEASED`.
    async fn state(&self) -> &str {
        self.model.state.as_str()
    }
    async fn settlement_reference(&self) -> Option<&str> {
        self.model.settlement_reference.as_deref()
    }
    async fn executed_by(&self) -> Option<ID> {
        self.model.executed_by.clone().map(ID)
    }
    async fn executed_at(&self) -> Option<DateTime<Utc>> {
        self.model.executed_at
    }
}

async fn all_usage(ctx: &Context<'_>, access: &OrgAccess) -> ApiResult<Vec<LimitUsage>> {
    let st = state(ctx);
    let now = st.clock.now();
    let (_, org) = authz(ctx).org_and_row(&access.org_id).await?;
    let usage = limits::usage_all_cached(&st.db, &st.cache, access, &org, &limits::day_of(now), now).await?;
    Ok(usage.iter().cloned().map(LimitUsage).collect())
}

/// The organisation's stablecoin balance alert.
#[derive(SimpleObject)]
pub struct BalanceAlert {
    pub state: AlertState,
    pub threshold_usd: Option<Decimal>,
    /// The USD value of every stablecoin holding across the organisation's accounts, now.
    pub total_stablecoin_usd: Decimal,
    /// When the state last changed.
    pub changed_at: Option<DateTime<Utc>>,
    /// New withdrawals are refused (`PAUSED_LOW_BALANCE`): the organisation
    /// opted in with `setLowBalancePause` and the state is LOW.
    pub withdrawals_paused: bool,
}

impl From<balance_alerts::AlertView> for BalanceAlert {
    fn from(v: balance_alerts::AlertView) -> Self {
        let mut total = v.total;
        total.rescale(2);
        Self {
            state: v.state,
            threshold_usd: v.threshold.map(Decimal),
            total_stablecoin_usd: Decimal(total),
            changed_at: v.changed_at,
            withdrawals_paused: v.withdrawals_paused,
        }
    }
}

/// One recorded change of the balance alert.
pub struct BalanceAlertChange(pub entity::balance_alert_history::Model);

#[Object]
impl BalanceAlertChange {
    async fn state(&self) -> &str {
        self.0.state.as_str()
    }
    async fn total_stablecoin_usd(&self) -> ApiResult<Decimal> {
        Ok(Decimal(self.0.total_usd.0))
    }
    async fn threshold_usd(&self) -> ApiResult<Option<Decimal>> {
        Ok(self.0.threshold_usd.map(|t| Decimal(t.0)))
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

/// A day of the week.
#[derive(async_graphql::Enum, Copy, Clone, PartialEq, Eq, Debug)]
#[graphql(remote = "chrono::Weekday")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// When the organisation's withdrawals may be made.
pub struct WithdrawalWindow(pub crate::domain::WithdrawalWindow);

#[Object]
impl WithdrawalWindow {
    /// IANA time zone name, e.g. `Europe/Zurich`; days and hours are local to it.
    async fn time_zone(&self) -> String {
        self.0.time_zone.name().to_string()
    }
    async fn days(&self) -> Vec<Weekday> {
        self.0.days.iter().map(|d| Weekday::from(*d)).collect()
    }
    /// Local opening time, `HH:MM` (inclusive).
    async fn opens(&self) -> String {
        self.0.opens.format("%H:%M").to_string()
    }
    /// Local closing time, `HH:MM` (exclusive).
    async fn closes(&self) -> String {
        self.0.closes.format("%H:%M").to_string()
    }
    /// What a withdrawal made outside the window gets.
    async fn outside(&self) -> crate::domain::OutsideWindow {
        self.0.outside
    }
    /// Whether the window is open right now.
    async fn open_now(&self, ctx: &Context<'_>) -> bool {
        self.0.contains(state(ctx).clock.now())
    }
}
