//! Dataloaders for relation fields: `Member.user` (and every other field
//! that shows a person), a request's approvals and its eligible approvers
//! are read in one query per batch instead of one per row.
//!
//! A key carries the access its parent object was resolved with, so a
//! loader only ever reads through a rules function that asks that access
//! first ([`membership::users`], [`requests::approvals_of`],
//! [`requests::eligible_of`]). Keys are batched per access (the same `Arc`),
//! never across callers, and nothing is cached beyond one batch.

use crate::authz::OrgAccess;
use crate::service::{ServiceError, membership, requests};
use crate::state::AppState;
use async_graphql::dataloader::{DataLoader, Loader};
use entity::{approval, request, user};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The loaders, in the schema's data.
pub struct Loaders {
    pub users: DataLoader<Relations>,
}

impl Loaders {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { users: DataLoader::new(Relations { state }, tokio::spawn) }
    }
}

/// Loads every relation key type below.
pub struct Relations {
    state: Arc<AppState>,
}

/// `id`, as the holder of `access` may read it.
#[derive(Clone)]
pub struct Keyed<T> {
    pub access: Arc<OrgAccess>,
    pub id: T,
}

impl<T> Keyed<T> {
    pub fn new(access: &Arc<OrgAccess>, id: T) -> Self {
        Self { access: access.clone(), id }
    }
}

impl<T: PartialEq> PartialEq for Keyed<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.access, &other.access) && self.id == other.id
    }
}

impl<T: Eq> Eq for Keyed<T> {}

impl<T: Hash> Hash for Keyed<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.access).hash(state);
        self.id.hash(state);
    }
}

/// A request row as a key (by id; the row itself goes to the rules).
#[derive(Clone)]
pub struct RequestRow(pub Arc<request::Model>);

impl PartialEq for RequestRow {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for RequestRow {}

impl Hash for RequestRow {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

/// A person by user id.
pub type UserKey = Keyed<String>;
/// A request's approvals.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Approvals(pub Keyed<RequestRow>);
/// A request's eligible approvers (user ids).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Eligible(pub Keyed<RequestRow>);

/// Keys grouped by the access they carry.
fn by_access<K, T>(keys: &[K], keyed: impl Fn(&K) -> &Keyed<T>) -> Vec<(Arc<OrgAccess>, Vec<&K>)> {
    let mut groups: Vec<(Arc<OrgAccess>, Vec<&K>)> = Vec::new();
    for k in keys {
        let access = &keyed(k).access;
        match groups.iter_mut().find(|(a, _)| Arc::ptr_eq(a, access)) {
            Some((_, ks)) => ks.push(k),
            None => groups.push((access.clone(), vec![k])),
        }
    }
    groups
}

type LoadResult<K, V> = Result<HashMap<K, V>, ServiceError>;

impl Loader<UserKey> for Relations {
    type Value = user::Model;
    type Error = ServiceError;

    async fn load(&self, keys: &[UserKey]) -> LoadResult<UserKey, user::Model> {
        let mut out = HashMap::new();
        for (access, ks) in by_access(keys, |k| k) {
            let ids: Vec<String> = ks.iter().map(|k| k.id.clone()).collect();
            let mut found = membership::users(&self.state.db, &access, &ids).await?;
            for k in ks {
                if let Some(u) = found.remove(&k.id) {
                    out.insert(k.clone(), u);
                }
            }
        }
        Ok(out)
    }
}

impl Loader<Approvals> for Relations {
    type Value = Vec<approval::Model>;
    type Error = ServiceError;

    async fn load(&self, keys: &[Approvals]) -> LoadResult<Approvals, Vec<approval::Model>> {
        let mut out = HashMap::new();
        for (access, ks) in by_access(keys, |k| &k.0) {
            let rows: Vec<&request::Model> = ks.iter().map(|k| &*k.0.id.0).collect();
            let mut found = requests::approvals_of(&self.state.db, &access, &rows).await?;
            for k in ks {
                out.insert(k.clone(), found.remove(&k.0.id.0.id).unwrap_or_default());
            }
        }
        Ok(out)
    }
}

impl Loader<Eligible> for Relations {
    type Value = Vec<String>;
    type Error = ServiceError;

    async fn load(&self, keys: &[Eligible]) -> LoadResult<Eligible, Vec<String>> {
        let now = self.state.clock.now();
        let mut out = HashMap::new();
        for (access, ks) in by_access(keys, |k| &k.0) {
            let rows: Vec<&request::Model> = ks.iter().map(|k| &*k.0.id.0).collect();
            let mut found = requests::eligible_of(&self.state.db, &access, &rows, now).await?;
            for k in ks {
                out.insert(k.clone(), found.remove(&k.0.id.0.id).unwrap_or_default());
            }
        }
        Ok(out)
    }
}
