//! Service users and their API keys: creation, settings, rotation,
//! revocation, and the one-time reveal of secrets (SPEC §2, §7).
//!
//! A secret is 32 random bytes shown once as base64url text; clients use that
//! text's ASCII bytes as the HMAC key. It is stored sealed under the master
//! key (the server must recompute signatures) and revealed exactly once: in
//! the mutation's payload when the change completes at once, otherwise to the
//! requester through `claimApiKeySecret` after approval.
//!
//! Whoever a secret is issued to is recorded as one of its service user's
//! holders ([`secret_holder`]) in the transaction that issues it, and again
//! when they claim it: a service user's requests count as made by its
//! creator and by every holder (SPEC §4), so none of them approves them.

use super::limits::{self, LimitLayer};
pub use super::types::NewSecret;
use super::types::{Applied, SecretOf};
use super::{ServiceError, ServiceResult, organization};
use crate::access::OrgAccess;
use crate::keys::MasterKey;
use crate::secrets;
use chrono::{DateTime, Utc};
use domain::{ApiScope, DisplayName, IpAllowList, IsoDuration, Nonce, RecordStatus, ScopeSet, new_id};
use entity::{api_key, secret_holder, service_user};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

/// The largest nonce window a key may have.
pub const MAX_NONCE_WINDOW: i64 = 1_000_000;

/// Key settings as submitted (stored in the request payload).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeySettings {
    pub scopes: Vec<ApiScope>,
    pub account_ids: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub ip_allowlist: Option<Vec<String>>,
    pub nonce_window: Option<i64>,
    pub allow_websocket: bool,
    pub query_start: Option<DateTime<Utc>>,
    pub query_end: Option<DateTime<Utc>>,
}

/// Deserializes a present field (even `null`) as `Some`, so an absent field
/// (`None`) differs from an explicit null (`Some(None)`).
pub(crate) fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// A change to a key's settings: an absent field keeps its value, an
/// explicit `null` clears it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<ApiScope>>,
    #[serde(default, deserialize_with = "some", skip_serializing_if = "Option::is_none")]
    pub account_ids: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "some", skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "some", skip_serializing_if = "Option::is_none")]
    pub ip_allowlist: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "some", skip_serializing_if = "Option::is_none")]
    pub nonce_window: Option<Option<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_websocket: Option<bool>,
    #[serde(default, deserialize_with = "some", skip_serializing_if = "Option::is_none")]
    pub query_start: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "some", skip_serializing_if = "Option::is_none")]
    pub query_end: Option<Option<DateTime<Utc>>>,
    /// Straight-through payouts; turning it on needs both key caps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_execute: Option<bool>,
}

impl KeyPatch {
    /// The settings after this patch.
    pub fn apply_to(&self, mut s: KeySettings) -> KeySettings {
        if let Some(v) = &self.scopes {
            s.scopes = v.clone();
        }
        if let Some(v) = &self.account_ids {
            s.account_ids = v.clone();
        }
        if let Some(v) = self.expires_at {
            s.expires_at = v;
        }
        if let Some(v) = &self.ip_allowlist {
            s.ip_allowlist = v.clone();
        }
        if let Some(v) = self.nonce_window {
            s.nonce_window = v;
        }
        if let Some(v) = self.allow_websocket {
            s.allow_websocket = v;
        }
        if let Some(v) = self.query_start {
            s.query_start = v;
        }
        if let Some(v) = self.query_end {
            s.query_end = v;
        }
        s
    }
}

/// Checks settings against the organisation (accounts exist, ranges parse, windows make sense).
pub(crate) async fn check_settings<C: ConnectionTrait>(db: &C, org_id: &str, s: &KeySettings) -> ServiceResult<()> {
    if s.scopes.is_empty() {
        return Err(ServiceError::BadInput("scopes: at least one scope".into()));
    }
    if let Some(accounts) = &s.account_ids {
        if accounts.is_empty() {
            return Err(ServiceError::BadInput("accountIds: empty; omit it for every account".into()));
        }
        for a in accounts {
            organization::require_account(db, org_id, a).await?;
        }
    }
    if let Some(ips) = &s.ip_allowlist {
        IpAllowList::parse(ips)?;
    }
    if let Some(w) = s.nonce_window
        && !(1..=MAX_NONCE_WINDOW).contains(&w)
    {
        return Err(ServiceError::BadInput(format!("nonceWindow: must be 1 to {MAX_NONCE_WINDOW}")));
    }
    if let (Some(a), Some(b)) = (s.query_start, s.query_end)
        && a >= b
    {
        return Err(ServiceError::BadInput("queryEnd: must be after queryStart".into()));
    }
    Ok(())
}

/// `BAD_INPUT` for an expiry that is not in the future: a key born expired
/// is a mistake, and nothing is written for it.
pub fn check_expiry(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> ServiceResult<()> {
    match expires_at {
        Some(at) if at <= now => Err(ServiceError::BadInput(format!(
            "expiresAt: {} is not in the future",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))),
        _ => Ok(()),
    }
}

/// Records that `user_id` obtained (or may claim) a secret of `service_user_id`'s key.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_holder<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    service_user_id: &str,
    key_id: &str,
    user_id: &str,
    how: &str,
    request_id: Option<&str>,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    secret_holder::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org_id.to_string()),
        service_user_id: Set(service_user_id.to_string()),
        key_id: Set(key_id.to_string()),
        user_id: Set(user_id.to_string()),
        how: Set(how.to_string()),
        request_id: Set(request_id.map(str::to_string)),
        obtained_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The members a service user's requests count as made by: its creator and
/// everyone who obtained one of its key secrets (SPEC §4).
pub(crate) async fn principals<C: ConnectionTrait>(
    db: &C,
    service_user_id: &str,
) -> ServiceResult<std::collections::BTreeSet<String>> {
    use sea_orm::QuerySelect;
    let mut out: std::collections::BTreeSet<String> = secret_holder::Entity::find()
        .select_only()
        .column(secret_holder::Column::UserId)
        .filter(secret_holder::Column::ServiceUserId.eq(service_user_id))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    if let Some(su) = service_user::Entity::find_by_id(service_user_id).one(db).await? {
        out.insert(su.created_by);
    }
    Ok(out)
}

/// Active service users of the organisation whose active keys may withdraw,
/// with their principals: for approver coverage of their withdrawals.
pub(crate) async fn withdrawing_principals<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
) -> ServiceResult<Vec<(String, std::collections::BTreeSet<String>)>> {
    let keys = api_key::Entity::find()
        .filter(api_key::Column::OrgId.eq(org_id))
        .filter(api_key::Column::Status.eq(RecordStatus::Active))
        .all(db)
        .await?;
    let mut users: Vec<String> = keys
        .iter()
        .filter(|k| ScopeSet::from_stored(&k.scopes).is_ok_and(|s| s.contains(ApiScope::Withdraw)))
        .map(|k| k.service_user_id.clone())
        .collect();
    users.sort_unstable();
    users.dedup();
    let mut out = Vec::new();
    for id in users {
        match find_active_user(db, org_id, &id).await {
            Ok(_) => {
                let p = principals(db, &id).await?;
                out.push((id, p));
            }
            Err(ServiceError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn settings_of(k: &api_key::Model) -> ServiceResult<KeySettings> {
    Ok(KeySettings {
        scopes: ScopeSet::from_stored(&k.scopes).map_err(ServiceError::internal)?.to_vec(),
        account_ids: k.account_ids.as_deref().map(|s| s.split(',').map(str::to_string).collect()),
        expires_at: k.expires_at,
        ip_allowlist: k
            .ip_allowlist
            .as_deref()
            .map(|s| IpAllowList::from_stored(s).map(|l| l.entries()))
            .transpose()
            .map_err(ServiceError::internal)?,
        nonce_window: k.nonce_window,
        allow_websocket: k.allow_websocket,
        query_start: k.query_start,
        query_end: k.query_end,
    })
}

fn write_settings(a: &mut api_key::ActiveModel, s: &KeySettings) -> ServiceResult<()> {
    a.scopes = Set(ScopeSet::from_input(&s.scopes).to_stored());
    a.account_ids = Set(s.account_ids.as_ref().map(|v| v.join(",")));
    a.expires_at = Set(s.expires_at);
    a.ip_allowlist = Set(s.ip_allowlist.as_deref().map(IpAllowList::parse).transpose()?.map(|l| l.to_stored()));
    a.nonce_window = Set(s.nonce_window);
    a.allow_websocket = Set(s.allow_websocket);
    a.query_start = Set(s.query_start);
    a.query_end = Set(s.query_end);
    Ok(())
}

/// What the audit trail records of a key: settings, never the secret.
fn key_json(k: &api_key::Model) -> serde_json::Value {
    json!({
        "keyId": k.key_id, "serviceUserId": k.service_user_id, "status": k.status, "scopes": k.scopes,
        "accountIds": k.account_ids, "expiresAt": k.expires_at, "ipAllowlist": k.ip_allowlist,
        "nonceWindow": k.nonce_window, "allowWebsocket": k.allow_websocket,
        "queryStart": k.query_start, "queryEnd": k.query_end, "autoExecute": k.auto_execute,
    })
}

/// Issues a key for a service user; returns the key and its secret.
async fn issue<C: ConnectionTrait>(
    db: &C,
    key: &MasterKey,
    org_id: &str,
    service_user_id: &str,
    settings: &KeySettings,
    now: DateTime<Utc>,
) -> ServiceResult<(api_key::Model, NewSecret)> {
    let key_id = format!("cs_{}", secrets::random_text(16));
    let secret = secrets::random_text(32);
    let mut a = api_key::ActiveModel {
        id: Set(new_id()),
        key_id: Set(key_id.clone()),
        org_id: Set(org_id.to_string()),
        service_user_id: Set(service_user_id.to_string()),
        status: Set(RecordStatus::Active),
        secret_sealed: Set(key.seal(&key_id, secret.as_bytes())),
        claim_request_id: Set(None),
        secret_claimed: Set(false),
        highest_nonce: Set(Nonce(0).to_stored()),
        last_used_at: Set(None),
        last_used_ip: Set(None),
        created_at: Set(now),
        revoked_at: Set(None),
        auto_execute: Set(false),
        ..Default::default()
    };
    write_settings(&mut a, settings)?;
    let model = a.insert(db).await?;
    Ok((model, NewSecret { of: SecretOf::ApiKey, key_id, secret }))
}

/// Creates a service user and its first key.
pub(crate) async fn create<C: ConnectionTrait>(
    db: &C,
    key: &MasterKey,
    org_id: &str,
    created_by: &str,
    name: &str,
    settings: &KeySettings,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    let name = DisplayName::parse("name", name)?.into_inner();
    check_settings(db, org_id, settings).await?;
    let su = service_user::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org_id.to_string()),
        name: Set(name.clone()),
        status: Set(RecordStatus::Active),
        created_by: Set(created_by.to_string()),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    let (k, secret) = issue(db, key, org_id, &su.id, settings, now).await?;
    record_holder(db, org_id, &su.id, &k.key_id, created_by, "CREATE_SERVICE_USER", None, now).await?;
    Ok(Applied {
        target: Some(su.id.clone()),
        before: None,
        after: Some(json!({"serviceUserId": su.id, "name": name, "key": key_json(&k)})),
        jobs: vec![],
        secret: Some(secret),
        alert_changed: false,
    })
}

/// Adds another key to a service user; its secret goes to `requester_id`.
pub(crate) async fn add_key<C: ConnectionTrait>(
    db: &C,
    key: &MasterKey,
    org_id: &str,
    requester_id: &str,
    service_user_id: &str,
    settings: &KeySettings,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    find_active_user(db, org_id, service_user_id).await?;
    check_settings(db, org_id, settings).await?;
    let (k, secret) = issue(db, key, org_id, service_user_id, settings, now).await?;
    record_holder(db, org_id, service_user_id, &k.key_id, requester_id, "CREATE_API_KEY", None, now).await?;
    Ok(Applied {
        target: Some(k.key_id.clone()),
        before: None,
        after: Some(key_json(&k)),
        jobs: vec![],
        secret: Some(secret),
        alert_changed: false,
    })
}

/// Changes a key's settings (omitted fields kept, explicit nulls cleared).
pub(crate) async fn update_key<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    key_id: &str,
    patch: &KeyPatch,
) -> ServiceResult<Applied> {
    let k = find_active_key(db, org_id, key_id).await?;
    let before = key_json(&k);
    let settings = patch.apply_to(settings_of(&k)?);
    check_settings(db, org_id, &settings).await?;
    if patch.auto_execute == Some(true) {
        require_caps_for_auto_execute(db, org_id, key_id).await?;
    }
    let mut a: api_key::ActiveModel = k.into();
    write_settings(&mut a, &settings)?;
    if let Some(on) = patch.auto_execute {
        a.auto_execute = Set(on);
    }
    let k = a.update(db).await?;
    Ok(Applied {
        target: Some(k.key_id.clone()),
        before: Some(before),
        after: Some(key_json(&k)),
        jobs: vec![],
        secret: None,
        alert_changed: false,
    })
}

/// Whether the key's own limits bound straight-through payouts: both a
/// per-transaction maximum and a daily cap.
pub(crate) async fn has_both_caps<C: ConnectionTrait>(db: &C, org_id: &str, key_id: &str) -> ServiceResult<bool> {
    let l = limits::find(db, org_id, LimitLayer::ApiKey, key_id).await?;
    Ok(l.is_some_and(|l| l.per_transaction_max_usd.is_some() && l.daily_cap_usd.is_some()))
}

/// Refuses `autoExecute` on a key without both caps: a machine that settles
/// alone must be bounded per payout and per day by its own limits.
pub(crate) async fn require_caps_for_auto_execute<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    key_id: &str,
) -> ServiceResult<()> {
    if !has_both_caps(db, org_id, key_id).await? {
        return Err(ServiceError::BadInput(
            "autoExecute: the key needs both a per-transaction maximum and a daily cap (setRiskLimits on the API_KEY layer) first".into(),
        ));
    }
    Ok(())
}

/// The longest a replaced secret may stay valid after a rotation.
pub const MAX_ROTATION_GRACE_SECS: i64 = 24 * 3600;

/// A rotation's overlap: from none up to [`MAX_ROTATION_GRACE_SECS`].
pub fn rotation_grace(secs: i64) -> ServiceResult<IsoDuration> {
    if secs < 0 {
        return Err(ServiceError::BadInput("grace: must not be negative".into()));
    }
    Ok(IsoDuration::from_secs(secs).at_most("grace", IsoDuration::from_secs(MAX_ROTATION_GRACE_SECS), "24 hours")?)
}

/// Issues a new secret for a key, to `requester_id`. The old one stays
/// valid for `grace` (so clients can roll over without an outage), or is
/// refused at once.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn rotate_key<C: ConnectionTrait>(
    db: &C,
    key: &MasterKey,
    org_id: &str,
    requester_id: &str,
    key_id: &str,
    grace: IsoDuration,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    let k = find_active_key(db, org_id, key_id).await?;
    record_holder(db, org_id, &k.service_user_id, key_id, requester_id, "ROTATE_API_KEY", None, now).await?;
    let secret = secrets::random_text(32);
    let previous_until = (grace.secs() > 0).then(|| now + grace.to_chrono());
    let old_sealed = k.secret_sealed.clone();
    let mut a: api_key::ActiveModel = k.into();
    a.secret_sealed = Set(key.seal(key_id, secret.as_bytes()));
    a.previous_secret_sealed = Set(previous_until.map(|_| old_sealed));
    a.previous_valid_until = Set(previous_until);
    a.claim_request_id = Set(None);
    a.secret_claimed = Set(false);
    let k = a.update(db).await?;
    Ok(Applied {
        target: Some(k.key_id.clone()),
        before: None,
        after: Some(
            json!({"keyId": k.key_id, "rotated": true, "grace": grace.to_iso(), "previousValidUntil": previous_until}),
        ),
        jobs: vec![],
        secret: Some(NewSecret { of: SecretOf::ApiKey, key_id: k.key_id, secret }),
        alert_changed: false,
    })
}

/// Revokes a key at once.
pub(crate) async fn revoke_key<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    key_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    let k = find_active_key(db, org_id, key_id).await?;
    let before = key_json(&k);
    let mut a: api_key::ActiveModel = k.into();
    a.status = Set(RecordStatus::Revoked);
    a.revoked_at = Set(Some(now));
    // Revocation cuts a rotated-out secret too, whatever its grace.
    a.previous_secret_sealed = Set(None);
    a.previous_valid_until = Set(None);
    let k = a.update(db).await?;
    Ok(Applied {
        target: Some(k.key_id.clone()),
        before: Some(before),
        after: Some(key_json(&k)),
        jobs: vec![],
        secret: None,
        alert_changed: false,
    })
}

/// Removes a service user and revokes all its keys.
pub(crate) async fn remove<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    service_user_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    let su = find_active_user(db, org_id, service_user_id).await?;
    use sea_orm::sea_query::Expr;
    api_key::Entity::update_many()
        .col_expr(api_key::Column::Status, Expr::value(RecordStatus::Revoked))
        .col_expr(api_key::Column::RevokedAt, Expr::value(now))
        .filter(api_key::Column::ServiceUserId.eq(&su.id))
        .filter(api_key::Column::Status.eq(RecordStatus::Active))
        .exec(db)
        .await?;
    let mut a: service_user::ActiveModel = su.into();
    a.status = Set(RecordStatus::Removed);
    let su = a.update(db).await?;
    Ok(Applied {
        target: Some(su.id.clone()),
        before: None,
        after: Some(json!({"status": su.status})),
        jobs: vec![],
        secret: None,
        alert_changed: false,
    })
}

/// Records which request's requester may claim a key's new secret, and whether it was already shown.
pub(crate) async fn attach_claim<C: ConnectionTrait>(
    db: &C,
    key_id: &str,
    request_id: &str,
    shown: bool,
) -> ServiceResult<()> {
    use sea_orm::sea_query::Expr;
    api_key::Entity::update_many()
        .col_expr(api_key::Column::ClaimRequestId, Expr::value(request_id))
        .col_expr(api_key::Column::SecretClaimed, Expr::value(shown))
        .filter(api_key::Column::KeyId.eq(key_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Reveals, once, the secret a completed request created or rotated, to
/// that request's requester. The reveal, the record of who obtained it and
/// its audit record commit together.
pub async fn claim(
    db: &sea_orm::DatabaseConnection,
    key: &MasterKey,
    access: &OrgAccess,
    request_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<NewSecret> {
    use super::audit::{self, AuditActor, Entry};
    use sea_orm::sea_query::Expr;
    let txn = crate::db::begin_write(db).await?;
    super::request_rows::find_own(&txn, access, request_id).await?;
    let k = api_key::Entity::find()
        .filter(api_key::Column::ClaimRequestId.eq(request_id))
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::Conflict("this request has no secret to claim (yet)".into()))?;
    let res = api_key::Entity::update_many()
        .col_expr(api_key::Column::SecretClaimed, Expr::value(true))
        .filter(api_key::Column::Id.eq(&k.id))
        .filter(api_key::Column::SecretClaimed.eq(false))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(ServiceError::Conflict("the secret was already shown; rotate the key for a new one".into()));
    }
    let secret =
        key.open(&k.key_id, &k.secret_sealed).ok_or_else(|| ServiceError::internal("cannot open sealed secret"))?;
    let secret = String::from_utf8(secret).map_err(ServiceError::internal)?;
    record_holder(
        &txn,
        &access.org_id,
        &k.service_user_id,
        &k.key_id,
        &access.user_id,
        "CLAIMED",
        Some(request_id),
        now,
    )
    .await?;
    audit::append(
        &txn,
        Entry {
            org_id: &access.org_id,
            actor: AuditActor::of(access),
            action: "API_KEY_SECRET_CLAIMED",
            target: Some(k.key_id.clone()),
            before: None,
            after: Some(json!({"keyId": k.key_id, "serviceUserId": k.service_user_id})),
            request_id: Some(request_id.to_string()),
        },
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(NewSecret { of: SecretOf::ApiKey, key_id: k.key_id, secret })
}

pub(crate) async fn find_active_user<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    id: &str,
) -> ServiceResult<service_user::Model> {
    service_user::Entity::find_by_id(id)
        .filter(service_user::Column::OrgId.eq(org_id))
        .filter(service_user::Column::Status.eq(RecordStatus::Active))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("service user"))
}

pub(crate) async fn find_active_key<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    key_id: &str,
) -> ServiceResult<api_key::Model> {
    api_key::Entity::find()
        .filter(api_key::Column::KeyId.eq(key_id))
        .filter(api_key::Column::OrgId.eq(org_id))
        .filter(api_key::Column::Status.eq(RecordStatus::Active))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("API key"))
}

/// Service users of the organisation (VIEW on MANAGE_ACCESS).
pub async fn list<C: ConnectionTrait>(db: &C, access: &OrgAccess) -> ServiceResult<Vec<service_user::Model>> {
    access.require(domain::Workflow::ManageAccess, domain::Action::View, None)?;
    Ok(service_user::Entity::find()
        .filter(service_user::Column::OrgId.eq(&access.org_id))
        .order_by_asc(service_user::Column::CreatedAt)
        .all(db)
        .await?)
}

/// A service user's keys, newest first (never their secrets): to the
/// service user itself, and to those with VIEW on MANAGE_ACCESS.
pub async fn keys<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    su: &service_user::Model,
) -> ServiceResult<Vec<api_key::Model>> {
    if su.org_id != access.org_id {
        return Err(ServiceError::NotFound("service user"));
    }
    if access.service.as_ref().is_none_or(|s| s.service_user_id != su.id) {
        access.require(domain::Workflow::ManageAccess, domain::Action::View, None)?;
    }
    Ok(api_key::Entity::find()
        .filter(api_key::Column::ServiceUserId.eq(&su.id))
        .order_by_desc(api_key::Column::CreatedAt)
        .all(db)
        .await?)
}
