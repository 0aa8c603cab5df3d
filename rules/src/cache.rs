//! Per-process caches of what an organisation's requests read again and
//! again, kept correct by the organisation's version rather than by expiry.
//!
//! Every state change in an organisation appends a record to its audit
//! chain in the same transaction, which advances `organizations.audit_seq`
//! (SPEC: every state change and its audit record commit together). That
//! sequence is therefore the organisation's version: whatever was read from
//! the database *after* the organisation row showed sequence `v` is still
//! current while the row still shows `v`. A request reads the organisation
//! row once — it needs it anyway, for the session idle timeout — and reuses
//! a member's resolved access, an API key's material, the organisation's
//! limit usage, accounts or holdings only if they were read at the version
//! it now sees. A role, grant, delegation, key or service user changed by
//! any process shows as a new version on the next request of every process,
//! because the check is made against the database.
//!
//! Fill order matters: read the version first, then the rows. A change that
//! commits in between leaves an entry stamped with the old version, which
//! the next request (seeing the new one) ignores and replaces.
//!
//! Two versions, because most changes are money moving. `audit_seq` moves
//! with every record; `settings_seq` only with those that change anything
//! but money: the database moves it for every record except those of a
//! request's life, a withdrawal, a credit and a balance alert's state (a
//! trigger, migration `m0017_settings_seq`, so writers of every release keep
//! it). A member's access, an API key's material and the account list are
//! made of settings alone, so they are checked against `settings_seq` and
//! outlive the withdrawals of a payroll run; holdings and limit usage move
//! with money and are checked against `audit_seq`.
//!
//! The one thing a version cannot see is the clock: a delegation starts or
//! lapses on its own, so an entry may also carry the instant it stops being
//! true (`until`).

use crate::access::OrgAccess;
use crate::service::types::Usage;
use chrono::{DateTime, Utc};
use entity::{account, api_key, holding, service_user};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Entries kept per cache before it starts over (a bound on memory, far
/// above the members and keys one process serves).
const CAPACITY: usize = 50_000;

struct Entry<T> {
    version: i64,
    until: Option<DateTime<Utc>>,
    value: Arc<T>,
}

/// Values stamped with the organisation version they were read at.
pub struct VersionCache<K, T> {
    entries: Mutex<HashMap<K, Entry<T>>>,
}

impl<K: Eq + Hash, T> Default for VersionCache<K, T> {
    fn default() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash, T> VersionCache<K, T> {
    /// The value read at `version` (unless it has since lapsed at `now`), or
    /// else what `fill` reads — only after the caller read `version` — stored
    /// against it with the instant it lapses, if any.
    pub async fn get_or_fill<E, Fut>(
        &self,
        key: K,
        version: i64,
        now: DateTime<Utc>,
        fill: impl FnOnce() -> Fut,
    ) -> Result<Arc<T>, E>
    where
        Fut: Future<Output = Result<(T, Option<DateTime<Utc>>), E>>,
    {
        if let Some(value) = self.get(&key, version, now) {
            return Ok(value);
        }
        let (value, until) = fill().await?;
        Ok(self.put(key, version, until, value))
    }

    /// The value read at `version`, unless it has since lapsed at `now`.
    fn get(&self, key: &K, version: i64, now: DateTime<Utc>) -> Option<Arc<T>> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(key)?;
        (e.version == version && e.until.is_none_or(|until| now < until)).then(|| e.value.clone())
    }

    /// Whatever is cached under `key`, at any version (for facts that never
    /// change, such as the organisation an API key belongs to).
    pub fn peek(&self, key: &K) -> Option<Arc<T>> {
        self.entries.lock().ok()?.get(key).map(|e| e.value.clone())
    }

    /// Stores a value read after the organisation row showed `version`.
    fn put(&self, key: K, version: i64, until: Option<DateTime<Utc>>, value: T) -> Arc<T> {
        let value = Arc::new(value);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(key, Entry { version, until, value: value.clone() });
        }
        value
    }
}

/// An API key and its service user, as authentication needs them.
#[derive(Debug)]
pub struct KeyMaterial {
    pub key: api_key::Model,
    pub service_user: Arc<service_user::Model>,
}

/// The caches one process keeps.
#[derive(Default)]
pub struct Caches {
    /// A member's resolved access, by (organisation, user), at `settings_seq`.
    pub access: VersionCache<(String, String), OrgAccess>,
    /// API keys by public key id, at `settings_seq`.
    pub keys: VersionCache<String, KeyMaterial>,
    /// Every limit layer's settings and figures, by (organisation, UTC day).
    /// Figures move only with a withdrawal's hold, settlement or release,
    /// each an audited change of the organisation like a limit's setting.
    pub usage: VersionCache<(String, String), Vec<Usage>>,
    /// An organisation's accounts, by organisation, at `settings_seq`.
    pub accounts: VersionCache<String, Vec<account::Model>>,
    /// An account's holdings, by account: they move only by a credit, a
    /// withdrawal's hold, settlement or release, each an audited change.
    pub holdings: VersionCache<String, Vec<holding::Model>>,
    /// When and from where this process last recorded each key's use.
    key_uses: Mutex<HashMap<String, (DateTime<Utc>, IpAddr)>>,
}

impl Caches {
    /// Whether to record an API key's use now: the first use this process
    /// sees, a new address, or more than five seconds after the last one it
    /// recorded (a write on every request would make every read a write).
    pub fn record_key_use(&self, key_id: &str, now: DateTime<Utc>, peer: IpAddr) -> bool {
        let Ok(mut uses) = self.key_uses.lock() else { return true };
        let due = uses.get(key_id).is_none_or(|(at, ip)| *ip != peer || now - *at > chrono::Duration::seconds(5));
        if due {
            if uses.len() >= CAPACITY {
                uses.clear();
            }
            uses.insert(key_id.to_string(), (now, peer));
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::VersionCache;
    use chrono::{Duration, Utc};

    #[test]
    fn a_value_serves_only_its_version_and_until_it_lapses() {
        let cache: VersionCache<&str, u32> = VersionCache::default();
        let now = Utc::now();
        cache.put("k", 7, Some(now + Duration::seconds(10)), 1);
        assert_eq!(cache.get(&"k", 7, now).as_deref(), Some(&1));
        assert_eq!(cache.get(&"k", 8, now), None, "a newer version of the organisation");
        assert_eq!(cache.get(&"k", 7, now + Duration::seconds(10)), None, "lapsed");
        assert_eq!(cache.peek(&"k").as_deref(), Some(&1));
        cache.put("k", 8, None, 2);
        assert_eq!(cache.get(&"k", 8, now + Duration::days(365)).as_deref(), Some(&2));
    }
}
