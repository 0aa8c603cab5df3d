//! Whether a credential that was accepted earlier still holds: for
//! connections that outlive a request (WebSockets), re-checked on every
//! operation, every event delivered and a short tick. Reads only; it does
//! not count as use of the session (see `api::ws`).

use super::audit::BATCH_IDS;
use super::identity::{self, SessionPolicy};
use super::{ServiceError, ServiceResult};
use crate::authz;
use chrono::{DateTime, Utc};
use entity::{organization, session};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::collections::{BTreeSet, HashMap};

/// One open connection's session and the organisations its subscriptions watch.
#[derive(Clone, Debug)]
pub struct Watch {
    pub session_id: String,
    pub orgs: Vec<String>,
}

/// Whether each connection's session still holds at `now` ([`identity::ended`]:
/// signed out, too old, idle longer than the deployment allows), and for each organisation a
/// connection watches what [`crate::authz::Authz::org`] demands of it
/// (an existing organisation, active membership, a verified second factor,
/// the organisation's idle timeout), each connection answered as those would.
///
/// Why batched: one event reaches every subscriber of an organisation at
/// the same moment, and each delivery is checked first; a few hundred
/// connections each reading their own rows would queue for the pool and time
/// out. Read here, any number of connections cost three queries a
/// [`BATCH_IDS`] of them. The rows are read after every check in the batch
/// was asked for, so each answer is as fresh as one of its own.
pub async fn sessions_watching<C: ConnectionTrait>(
    db: &C,
    policy: &SessionPolicy,
    watches: &[Watch],
    now: DateTime<Utc>,
) -> ServiceResult<Vec<ServiceResult<()>>> {
    let mut verdicts = Vec::with_capacity(watches.len());
    for chunk in watches.chunks(BATCH_IDS) {
        let ids: BTreeSet<&str> = chunk.iter().map(|w| w.session_id.as_str()).collect();
        let sessions: HashMap<String, session::Model> = session::Entity::find()
            .filter(session::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let org_ids: Vec<String> =
            chunk.iter().flat_map(|w| w.orgs.iter().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
        let orgs: HashMap<String, organization::Model> = if org_ids.is_empty() {
            HashMap::new()
        } else {
            organization::Entity::find()
                .filter(organization::Column::Id.is_in(org_ids.iter().cloned()))
                .all(db)
                .await?
                .into_iter()
                .map(|o| (o.id.clone(), o))
                .collect()
        };
        let users: Vec<String> =
            sessions.values().map(|s| s.user_id.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let members = authz::active_memberships(db, &org_ids, &users).await?;
        verdicts.extend(chunk.iter().map(|w| {
            let gone = |why: &str| ServiceError::Unauthenticated(format!("session {why}; sign in again"));
            let s = sessions.get(&w.session_id).ok_or_else(|| gone("not found"))?;
            if let Some(why) = identity::ended(s, policy, now) {
                return Err(gone(why));
            }
            let user = identity::user_session(s.clone());
            for org_id in &w.orgs {
                let org = orgs.get(org_id).ok_or(ServiceError::NotFound("organization"))?;
                if !members.contains(&(org_id.clone(), user.user_id.clone())) {
                    return Err(ServiceError::NotFound("organization"));
                }
                authz::session_admitted(&user, org, now)?;
            }
            Ok(())
        }));
    }
    Ok(verdicts)
}
