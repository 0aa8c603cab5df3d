//! Whether a credential that was accepted earlier still holds: for
//! connections that outlive a request (WebSockets), re-checked on every
//! operation, every event delivered and a short tick. Reads only; it does
//! not count as use of the session (see `api::ws`).

use super::identity::{self, SessionPolicy};
use super::{ServiceError, ServiceResult};
use crate::access::UserSession;
use chrono::{DateTime, Utc};
use entity::session;
use sea_orm::{ConnectionTrait, EntityTrait};

/// The session `session_id` as it stands at `now`, or `UNAUTHENTICATED` if
/// it no longer holds ([`identity::ended`]: signed out, too old, idle longer
/// than the deployment allows; an organisation's shorter idle timeout is
/// [`crate::authz::Authz::org`]'s to apply).
pub async fn session<C: ConnectionTrait>(
    db: &C,
    policy: &SessionPolicy,
    session_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<UserSession> {
    let gone = |why: &str| ServiceError::Unauthenticated(format!("session {why}; sign in again"));
    let s = session::Entity::find_by_id(session_id).one(db).await?.ok_or_else(|| gone("not found"))?;
    if let Some(why) = identity::ended(&s, policy, now) {
        return Err(gone(why));
    }
    Ok(identity::user_session(s))
}
