//! Whether a credential that was accepted earlier still holds: for
//! connections that outlive a request (WebSockets), re-checked on every
//! operation, every event delivered and a short tick. Reads only; it does
//! not count as use of the session (see `crate::ws`).

use super::{ServiceError, ServiceResult};
use crate::authz::UserSession;
use crate::service::identity::SessionPolicy;
use chrono::{DateTime, Utc};
use entity::session;
use sea_orm::{ConnectionTrait, EntityTrait};

/// The session `session_id` as it stands at `now`, or `UNAUTHENTICATED` if
/// it was signed out, is older than the maximum age, or idle longer than
/// the deployment allows (an organisation's shorter idle timeout is
/// [`crate::authz::Authz::org`]'s to apply).
pub async fn session<C: ConnectionTrait>(
    db: &C,
    policy: &SessionPolicy,
    session_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<UserSession> {
    let gone = |why: &str| ServiceError::Unauthenticated(format!("session {why}; sign in again"));
    let s = session::Entity::find_by_id(session_id).one(db).await?.ok_or_else(|| gone("not found"))?;
    if s.ended_at.is_some() {
        return Err(gone("signed out"));
    }
    if now - s.created_at > policy.max_age {
        return Err(gone("expired"));
    }
    if now - s.last_used_at > policy.idle {
        return Err(gone("expired (idle)"));
    }
    Ok(UserSession {
        user_id: s.user_id,
        session_id: s.id,
        two_factor_verified: s.two_factor_verified,
        last_used_at: s.last_used_at,
    })
}
