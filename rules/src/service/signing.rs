//! Authenticating signed API-key requests (SPEC §2).
//!
//! Order of checks, cheapest and least revealing first: well-formed headers,
//! a live key of a live service user, expiry, WebSocket permission, the IP
//! allow-list, the HMAC over `nonce + "\n" + body` (constant time), and only
//! then the nonce, so a request refused for any other reason consumes none.
//! During a rotation's grace period the replaced secret verifies too.

use super::nonces::NonceCommits;
use super::{ServiceError, ServiceResult};
use crate::access::ServiceUserSession;
use crate::cache::{Caches, KeyMaterial};
use crate::keys::MasterKey;
use chrono::{DateTime, Utc};
use domain::{IpAllowList, Nonce, RecordStatus, ScopeSet, Signature, is_key_id};
use entity::{api_key, api_key_nonce, organization, service_user};
use hmac::{Hmac, Mac};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::Sha256;
use std::net::IpAddr;
use std::sync::Arc;

/// The signed parts of a request.
pub struct Signed<'a> {
    pub key_id: &'a str,
    pub nonce: &'a str,
    pub signature: &'a str,
    /// What was signed after the nonce line: the raw body (HTTP) or nothing (WebSocket).
    pub body: &'a [u8],
    /// The request arrives over a WebSocket.
    pub websocket: bool,
    pub peer: IpAddr,
}

fn refused(why: &str) -> ServiceError {
    ServiceError::Unauthenticated(format!("API key request refused: {why}"))
}

/// A verified request: who signed it, and their organisation's row as read
/// to check the key (the request reuses it rather than reading it again).
pub struct Authenticated {
    pub session: ServiceUserSession,
    pub org: Arc<organization::Model>,
    /// The sealed secret the signature verified with (the current one, or
    /// during a rotation's grace the one it replaced): a long-lived
    /// connection stays open only while this secret is still accepted.
    pub secret_sealed: String,
}

/// Verifies a signed request and consumes its nonce; returns the service user's session.
pub async fn authenticate(
    db: &DatabaseConnection,
    key: &MasterKey,
    cache: &Caches,
    nonces: &Arc<NonceCommits>,
    req: Signed<'_>,
    now: DateTime<Utc>,
) -> ServiceResult<Authenticated> {
    if !is_key_id(req.key_id) {
        return Err(refused("malformed key id"));
    }
    let nonce = Nonce::parse(req.nonce).map_err(|e| refused(&e.to_string()))?;
    let signature = Signature::parse(req.signature).map_err(|e| refused(&e.to_string()))?;
    let (material, org) = key_material(db, cache, req.key_id, now).await?;
    let (k, su) = (&material.key, &material.service_user);
    unexpired(k, now)?;
    admits(k, req.websocket, req.peer)?;
    let mut verified = None;
    for sealed in accepted_secrets(k, now) {
        let secret =
            key.open_cached(&k.key_id, sealed).ok_or_else(|| ServiceError::internal("cannot open sealed secret"))?;
        if signed_by(&secret, &req, &signature)? {
            verified = Some(sealed.clone());
            break;
        }
    }
    let Some(secret_sealed) = verified else {
        return Err(refused("bad signature"));
    };
    consume_nonce(db, nonces, &k.id, nonce, now).await?;
    if cache.record_key_use(&k.key_id, now, req.peer) {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .col_expr(api_key::Column::LastUsedIp, Expr::value(req.peer.to_canonical().to_string()))
            .filter(api_key::Column::Id.eq(&k.id))
            .exec(db)
            .await?;
    }
    let session = ServiceUserSession {
        service_user_id: su.id.clone(),
        service_user: su.clone(),
        org_id: k.org_id.clone(),
        key_id: k.key_id.clone(),
        scopes: ScopeSet::from_stored(&k.scopes).map_err(ServiceError::internal)?,
        account_ids: k.account_ids.as_ref().map(|s| s.split(',').map(str::to_string).collect()),
        query_start: k.query_start,
        query_end: k.query_end,
    };
    Ok(Authenticated { session, org, secret_sealed })
}

/// Whether a connection authenticated earlier with `secret_sealed` of
/// `key_id` may go on: the key is still active and unexpired, its service
/// user active, the secret still accepted (current, or the replaced one
/// within its grace), and the WebSocket permission and IP allow-list still
/// admit `peer`. `UNAUTHENTICATED` when the credential is gone, `FORBIDDEN`
/// when it lives but no longer admits this connection. Consumes no nonce.
pub async fn still_valid(
    db: &DatabaseConnection,
    cache: &Caches,
    key_id: &str,
    secret_sealed: &str,
    peer: IpAddr,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let (material, _) = key_material(db, cache, key_id, now).await?;
    let k = &material.key;
    unexpired(k, now)?;
    if !accepted_secrets(k, now).any(|sealed| sealed == secret_sealed) {
        return Err(refused("the secret this connection signed with is no longer accepted"));
    }
    admits(k, true, peer)
}

/// Refuses a key past its expiry (`UNAUTHENTICATED`).
fn unexpired(k: &api_key::Model, now: DateTime<Utc>) -> ServiceResult<()> {
    if k.expires_at.is_some_and(|at| now >= at) {
        return Err(refused("the key has expired"));
    }
    Ok(())
}

/// Refuses (`FORBIDDEN`) a connection the key's settings do not admit: a
/// WebSocket when the key may not open one, a peer outside its IP allow-list.
fn admits(k: &api_key::Model, websocket: bool, peer: IpAddr) -> ServiceResult<()> {
    if websocket && !k.allow_websocket {
        return Err(ServiceError::Forbidden("this API key may not open WebSocket connections".into()));
    }
    if let Some(list) = &k.ip_allowlist {
        let list = IpAllowList::from_stored(list).map_err(ServiceError::internal)?;
        if !list.allows(peer) {
            return Err(ServiceError::Forbidden(format!("this API key may not be used from {peer}")));
        }
    }
    Ok(())
}

/// The sealed secrets a signature may verify with at `now`: the current
/// one, and during a rotation's grace the one it replaced.
fn accepted_secrets(k: &api_key::Model, now: DateTime<Utc>) -> impl Iterator<Item = &String> {
    let previous = match (&k.previous_secret_sealed, k.previous_valid_until) {
        (Some(sealed), Some(until)) if now < until => Some(sealed),
        _ => None,
    };
    std::iter::once(&k.secret_sealed).chain(previous)
}

/// A live key of a live service user, and the key's organisation row: from
/// the cache while the organisation's version is the one it was read at
/// (revoking, rotating or changing a key, or removing its service user, is
/// an audited change of the organisation), else from the database.
async fn key_material(
    db: &DatabaseConnection,
    cache: &Caches,
    key_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<(Arc<KeyMaterial>, Arc<organization::Model>)> {
    let unknown = || refused("unknown or revoked key");
    let find_key = || async {
        api_key::Entity::find()
            .filter(api_key::Column::KeyId.eq(key_id))
            .filter(api_key::Column::Status.eq(RecordStatus::Active))
            .one(db)
            .await?
            .ok_or_else(unknown)
    };
    // A key never changes organisation, so a stale entry still names it.
    let org_id = match cache.keys.peek(&key_id.to_string()) {
        Some(m) => m.key.org_id.clone(),
        None => find_key().await?.org_id,
    };
    // The version first, then the rows cached against it (see crate::cache).
    let org = organization::Entity::find_by_id(&org_id).one(db).await?.map(Arc::new).ok_or_else(unknown)?;
    let material = cache
        .keys
        .get_or_fill(key_id.to_string(), org.settings_seq, now, || async {
            let key = find_key().await?;
            let service_user = service_user::Entity::find_by_id(&key.service_user_id)
                .filter(service_user::Column::Status.eq(RecordStatus::Active))
                .one(db)
                .await?
                .map(Arc::new)
                .ok_or_else(unknown)?;
            Ok::<_, ServiceError>((KeyMaterial { key, service_user }, None))
        })
        .await?;
    Ok((material, org))
}

/// Whether `signature` is the HMAC-SHA256 of the request under `secret` (constant time).
fn signed_by(secret: &[u8], req: &Signed<'_>, signature: &Signature) -> ServiceResult<bool> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(ServiceError::internal)?;
    mac.update(req.nonce.trim().as_bytes());
    mac.update(b"\n");
    mac.update(req.body);
    Ok(mac.verify_slice(&signature.0).is_ok())
}

/// Accepts a nonce once. Every accepted nonce is recorded (the primary key
/// decides races), and without a window it must also exceed the highest
/// accepted; with a window W any unused nonce above `highest - W` passes.
/// Recording nonces in both modes means turning a window on later cannot
/// make an already-used nonce acceptable again. Recorded by group commit
/// with every other request's nonce ([`NonceCommits`]).
async fn consume_nonce(
    db: &DatabaseConnection,
    nonces: &Arc<NonceCommits>,
    key_row: &str,
    nonce: Nonce,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    nonces.accept(key_row, nonce, now).await?;
    // Nonces this far below the highest can never be accepted again, even
    // under the widest window; forget them now and then.
    if nonce.0.is_multiple_of(64) {
        let floor = Nonce(nonce.0.saturating_sub(super::service_users::MAX_NONCE_WINDOW as u64));
        api_key_nonce::Entity::delete_many()
            .filter(api_key_nonce::Column::KeyId.eq(key_row))
            .filter(api_key_nonce::Column::Nonce.lt(floor.to_stored()))
            .exec(db)
            .await?;
    }
    Ok(())
}
