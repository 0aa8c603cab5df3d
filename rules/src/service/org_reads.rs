//! An organisation's settings as one write transaction reads them: once.
//!
//! A withdrawal checks a dozen things that no withdrawal changes — the
//! organisation's window and pause setting, whether MAKER, APPROVER and
//! SIGNER are covered, the account, asset and address it names, the
//! withdrawal policy, the risk limits. The sequencer ([`super::sequencer`])
//! applies up to 64 withdrawals in one transaction; read afresh for each,
//! those settings were half of a batch's statements, each a round trip (on
//! SQLite, a hand-off to the connection's thread and back).
//!
//! So a transaction reads each of them once, through an [`OrgReads`], and
//! every withdrawal it applies reuses what the first one read. That is exact,
//! not a cache that can go stale: every change to these settings appends to
//! the organisation's audit chain, which updates (and so locks) the
//! organisation's row, and a batch holds that row's lock from its start
//! ([`super::sequencer`]); on SQLite a write transaction is the only writer.
//! A lone submission or a dry run uses a fresh one, which only spares it
//! reading the same policy three times.
//!
//! What withdrawals do change — holdings, limit counters, the audit head,
//! the balance alert — is never read through here.

use super::ledger;
use super::limits::{self, LimitLayer};
use super::{ServiceError, ServiceResult, addresses, policies};
use domain::{MemberStatus, Role, RoleSet, Workflow};
use entity::{account, address, asset, member, organization, policy, risk_limit};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use tokio::sync::OnceCell;

/// Settings of one organisation read at most once per transaction (see the
/// module's doc for why that is exact). Use it with one transaction only.
#[derive(Default)]
pub struct OrgReads {
    org: OnceCell<organization::Model>,
    roles_held: OnceCell<[(Role, bool); 3]>,
    policies: Memo<Workflow, Option<policy::Model>>,
    limits: Memo<(LimitLayer, String), Option<risk_limit::Model>>,
    accounts: Memo<String, account::Model>,
    assets: Memo<String, asset::Model>,
    addresses: Memo<String, address::Model>,
}

impl OrgReads {
    /// Reads for a transaction that has already read (and locked) the organisation's row.
    pub fn knowing(org: organization::Model) -> Self {
        Self { org: OnceCell::new_with(Some(org)), ..Self::default() }
    }

    /// The organisation's row. Its settings (window, pause on low balance)
    /// hold for the transaction; its audit head does not (the transaction
    /// moves it): read that through [`super::audit`].
    pub async fn org<C: ConnectionTrait>(&self, db: &C, org_id: &str) -> ServiceResult<&organization::Model> {
        self.org
            .get_or_try_init(|| async {
                organization::Entity::find_by_id(org_id).one(db).await?.ok_or(ServiceError::NotFound("organization"))
            })
            .await
    }

    /// Whether an active member holds each of MAKER, APPROVER and SIGNER.
    pub async fn roles_held<C: ConnectionTrait>(&self, db: &C, org_id: &str) -> ServiceResult<[(Role, bool); 3]> {
        let held = self
            .roles_held
            .get_or_try_init(|| async {
                let members = member::Entity::find()
                    .filter(member::Column::OrgId.eq(org_id))
                    .filter(member::Column::Status.eq(MemberStatus::Active))
                    .all(db)
                    .await?;
                let roles: Vec<RoleSet> = members.iter().filter_map(|m| RoleSet::from_stored(&m.roles).ok()).collect();
                Ok::<_, ServiceError>(
                    [Role::Maker, Role::Approver, Role::Signer].map(|r| (r, roles.iter().any(|s| s.contains(r)))),
                )
            })
            .await?;
        Ok(*held)
    }

    /// The organisation's policy for `workflow`, if it has one.
    pub async fn policy<C: ConnectionTrait>(
        &self,
        db: &C,
        org_id: &str,
        workflow: Workflow,
    ) -> ServiceResult<Option<policy::Model>> {
        self.policies.get(workflow, || policies::find(db, org_id, workflow)).await
    }

    /// The risk limit of `layer` for `subject`, if one is set.
    pub async fn limit<C: ConnectionTrait>(
        &self,
        db: &C,
        org_id: &str,
        layer: LimitLayer,
        subject: &str,
    ) -> ServiceResult<Option<risk_limit::Model>> {
        self.limits.get((layer, subject.to_string()), || limits::find(db, org_id, layer, subject)).await
    }

    /// The organisation's account `id` (`NOT_FOUND` for anyone else's).
    pub async fn account<C: ConnectionTrait>(&self, db: &C, org_id: &str, id: &str) -> ServiceResult<account::Model> {
        self.accounts
            .get(id.to_string(), || async {
                account::Entity::find_by_id(id)
                    .filter(account::Column::OrgId.eq(org_id))
                    .one(db)
                    .await?
                    .ok_or(ServiceError::NotFound("account"))
            })
            .await
    }

    /// A supported asset, by symbol (assets are global; their prices change
    /// by the operator's hand, and a batch is priced as of its first read).
    pub async fn asset<C: ConnectionTrait>(&self, db: &C, symbol: &str) -> ServiceResult<asset::Model> {
        self.assets.get(symbol.to_string(), || ledger::find_asset(db, symbol)).await
    }

    /// The organisation's active whitelisted address `id`.
    pub async fn address<C: ConnectionTrait>(&self, db: &C, org_id: &str, id: &str) -> ServiceResult<address::Model> {
        self.addresses.get(id.to_string(), || addresses::find_active(db, org_id, id)).await
    }
}

/// Values read once by key. Only what was found is kept: a refusal (an
/// unknown account) is read again by the next withdrawal that names it.
struct Memo<K, V>(Mutex<HashMap<K, V>>);

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    async fn get<F: Future<Output = ServiceResult<V>>>(&self, key: K, read: impl FnOnce() -> F) -> ServiceResult<V> {
        if let Some(v) = self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(v.clone());
        }
        // Not held across the read: a transaction's withdrawals run one at a
        // time, so two reads of one key do not race (and would agree if they did).
        let v = read().await?;
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(key, v.clone());
        Ok(v)
    }
}
