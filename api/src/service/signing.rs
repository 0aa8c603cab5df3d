//! Authenticating signed API-key requests (SPEC §2).
//!
//! Order of checks, cheapest and least revealing first: well-formed headers,
//! a live key of a live service user, expiry, WebSocket permission, the IP
//! allow-list, the HMAC over `nonce + "\n" + body` (constant time), and only
//! then the nonce, so a request refused for any other reason consumes none.
//! During a rotation's grace period the replaced secret verifies too.

use super::service_users::status;
use super::{ServiceError, ServiceResult, is_unique_violation};
use crate::authz::ServiceUserSession;
use crate::db::begin_write;
use crate::domain::{IpAllowList, Nonce, ScopeSet, Signature, is_key_id};
use crate::keys::MasterKey;
use chrono::{DateTime, Duration, Utc};
use entity::{api_key, api_key_nonce, service_user};
use hmac::{Hmac, Mac};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set};
use sha2::Sha256;
use std::net::IpAddr;

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

/// Verifies a signed request and consumes its nonce; returns the service user's session.
pub async fn authenticate(
    db: &DatabaseConnection,
    key: &MasterKey,
    req: Signed<'_>,
    now: DateTime<Utc>,
) -> ServiceResult<ServiceUserSession> {
    if !is_key_id(req.key_id) {
        return Err(refused("malformed key id"));
    }
    let nonce = Nonce::parse(req.nonce).map_err(|e| refused(&e.to_string()))?;
    let signature = Signature::parse(req.signature).map_err(|e| refused(&e.to_string()))?;
    let k = api_key::Entity::find()
        .filter(api_key::Column::KeyId.eq(req.key_id))
        .filter(api_key::Column::Status.eq(status::ACTIVE))
        .one(db)
        .await?
        .ok_or_else(|| refused("unknown or revoked key"))?;
    let su = service_user::Entity::find_by_id(&k.service_user_id)
        .filter(service_user::Column::Status.eq(status::ACTIVE))
        .one(db)
        .await?
        .ok_or_else(|| refused("unknown or revoked key"))?;
    if k.expires_at.is_some_and(|at| now >= at) {
        return Err(refused("the key has expired"));
    }
    if req.websocket && !k.allow_websocket {
        return Err(ServiceError::Forbidden("this API key may not open WebSocket connections".into()));
    }
    if let Some(list) = &k.ip_allowlist {
        let list = IpAllowList::from_stored(list).map_err(ServiceError::internal)?;
        if !list.allows(req.peer) {
            return Err(ServiceError::Forbidden(format!("this API key may not be used from {}", req.peer)));
        }
    }
    // The current secret, or during a rotation's grace the one it replaced.
    let previous = match (&k.previous_secret_sealed, k.previous_valid_until) {
        (Some(sealed), Some(until)) if now < until => Some(sealed),
        _ => None,
    };
    let mut verified = false;
    for sealed in std::iter::once(&k.secret_sealed).chain(previous) {
        let secret =
            key.open_cached(&k.key_id, sealed).ok_or_else(|| ServiceError::internal("cannot open sealed secret"))?;
        if signed_by(&secret, &req, &signature)? {
            verified = true;
            break;
        }
    }
    if !verified {
        return Err(refused("bad signature"));
    }
    consume_nonce(db, &k, nonce, now).await?;
    if k.last_used_at.is_none_or(|t| now - t > Duration::seconds(5))
        || k.last_used_ip.as_deref() != Some(&req.peer.to_string())
    {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .col_expr(api_key::Column::LastUsedIp, Expr::value(req.peer.to_string()))
            .filter(api_key::Column::Id.eq(&k.id))
            .exec(db)
            .await?;
    }
    Ok(ServiceUserSession {
        service_user_id: su.id,
        org_id: k.org_id,
        key_id: k.key_id,
        scopes: ScopeSet::from_stored(&k.scopes).map_err(ServiceError::internal)?,
        account_ids: k.account_ids.map(|s| s.split(',').map(str::to_string).collect()),
        query_start: k.query_start,
        query_end: k.query_end,
    })
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
/// accepted (one conditional update); with a window W any unused nonce above
/// `highest - W` passes. Recording nonces in both modes means turning a window
/// on later cannot make an already-used nonce acceptable again.
async fn consume_nonce(
    db: &DatabaseConnection,
    k: &api_key::Model,
    nonce: Nonce,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let stale = || refused("nonce already used or too old");
    let txn = begin_write(db).await?;
    let current = api_key::Entity::find_by_id(&k.id).lock_exclusive().one(&txn).await?.ok_or_else(stale)?;
    let highest = Nonce::from_stored(current.highest_nonce);
    let window = current.nonce_window.and_then(|w| u64::try_from(w).ok());
    let acceptable = match window {
        None => nonce > highest,
        Some(w) => nonce.0 > highest.0.saturating_sub(w),
    };
    if !acceptable {
        return Err(stale());
    }
    api_key_nonce::ActiveModel { key_id: Set(k.id.clone()), nonce: Set(nonce.to_stored()), at: Set(now) }
        .insert(&txn)
        .await
        .map_err(|e| if is_unique_violation(&e) { stale() } else { ServiceError::from(e) })?;
    if nonce > highest {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::HighestNonce, Expr::value(nonce.to_stored()))
            .filter(api_key::Column::Id.eq(&k.id))
            .exec(&txn)
            .await?;
        // Nonces this far below the highest can never be accepted again, even
        // under the widest window; forget them now and then.
        if nonce.0.is_multiple_of(64) {
            let floor = Nonce(nonce.0.saturating_sub(super::service_users::MAX_NONCE_WINDOW as u64));
            api_key_nonce::Entity::delete_many()
                .filter(api_key_nonce::Column::KeyId.eq(&k.id))
                .filter(api_key_nonce::Column::Nonce.lt(floor.to_stored()))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}
