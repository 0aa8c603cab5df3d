//! Display names of actors and limit subjects: people read names, not ids,
//! in the console, the audit export and e-mails; ids stay beside them as
//! secondary detail. A [`NameBook`] remembers what it has looked up, so a
//! page of audit records costs one read per distinct actor.

use super::ServiceResult;
use domain::{ActorKind, LimitLayer};
use entity::{api_key, organization, service_user, user};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;

/// The system's own actor (sweeps, jobs) as people read it.
pub const SYSTEM: &str = "Countersign";
/// The platform operator as people read it.
pub const OPERATOR: &str = "Platform operator";

/// Names looked up so far, by (kind, id).
#[derive(Default)]
pub struct NameBook {
    known: HashMap<(ActorKind, String), String>,
}

impl NameBook {
    /// Who acted: a person's name (their e-mail if they gave none), a
    /// service user's name, the operator or the system. Someone since
    /// deleted reads as "a member" / "a service user".
    pub async fn actor<C: ConnectionTrait>(&mut self, db: &C, kind: ActorKind, id: &str) -> ServiceResult<String> {
        let key = (kind, id.to_string());
        if let Some(name) = self.known.get(&key) {
            return Ok(name.clone());
        }
        let name = actor_name(db, kind, id).await?;
        self.known.insert(key, name.clone());
        Ok(name)
    }
}

/// One actor's display name (see [`NameBook::actor`]).
pub async fn actor_name<C: ConnectionTrait>(db: &C, kind: ActorKind, id: &str) -> ServiceResult<String> {
    Ok(match kind {
        ActorKind::User => {
            user::Entity::find_by_id(id).one(db).await?.map_or_else(|| "a member".into(), |u| person(&u))
        }
        ActorKind::ServiceUser => {
            service_user::Entity::find_by_id(id).one(db).await?.map_or_else(|| "a service user".into(), |s| s.name)
        }
        ActorKind::Operator => OPERATOR.into(),
        ActorKind::System => SYSTEM.into(),
    })
}

/// The actor kind of a withdrawal's executor: a signer (`USER`), or the
/// service user of a straight-through payout (`SERVICE_USER`).
pub(crate) async fn executor_kind<C: ConnectionTrait>(db: &C, id: &str) -> ServiceResult<ActorKind> {
    Ok(if user::Entity::find_by_id(id).one(db).await?.is_some() { ActorKind::User } else { ActorKind::ServiceUser })
}

/// A person as they appear to others: their name, or their e-mail without one.
pub fn person(u: &user::Model) -> String {
    if u.name.trim().is_empty() { u.email.clone() } else { u.name.clone() }
}

/// What a limit layer's subject is called: the organisation's name, the
/// key's service user and public id, or the signer's name.
pub async fn subject_name<C: ConnectionTrait>(db: &C, layer: LimitLayer, subject: &str) -> ServiceResult<String> {
    Ok(match layer {
        LimitLayer::Organization => {
            organization::Entity::find_by_id(subject).one(db).await?.map_or_else(|| subject.to_string(), |o| o.name)
        }
        LimitLayer::Signer => {
            user::Entity::find_by_id(subject).one(db).await?.map_or_else(|| "a member".into(), |u| person(&u))
        }
        LimitLayer::ApiKey => {
            let key = api_key::Entity::find().filter(api_key::Column::KeyId.eq(subject)).one(db).await?;
            let owner = match &key {
                Some(k) => service_user::Entity::find_by_id(&k.service_user_id).one(db).await?.map(|s| s.name),
                None => None,
            };
            format!("{} · key {subject}", owner.unwrap_or_else(|| "a service user".into()))
        }
    })
}
