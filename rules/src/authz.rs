//! The authorization choke point.
//!
//! Who is calling is decided once per HTTP request or WebSocket connection
//! ([`Actor`]); what they may do in an organisation is resolved at most once
//! per request per organisation ([`Authz::org`]) from their membership, roles
//! and single grants, and handed to services as an [`OrgAccess`]. Services
//! take an `OrgAccess` (or an `Actor`) and ask it before doing anything, so a
//! resolver cannot reach data without passing through here.
//!
//! A member's permissions include APPROVE lent to them by a live delegation
//! ([`DelegatedApproval`]): while it runs, they count as an approver of the
//! workflow everywhere approvers are counted (coverage, eligible approvers).
//!
//! Another organisation's data is `NOT_FOUND`: a non-member cannot tell an
//! organisation that exists from one that does not.

pub use crate::access::{Actor, DelegatedApproval, OrgAccess, ServiceUserSession, UserSession};
use crate::cache::Caches;
use crate::service::{ServiceError, ServiceResult, names};
use chrono::{DateTime, Utc};
use domain::{Action, ActorKind, ApiScope, LimitLayer, MemberStatus, Permission, RoleSet, Workflow};
use entity::{delegation, member, organization, permission_grant};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::Mutex;

/// The effective permissions of a member: the union of their roles' and
/// grants' permissions (permissions are additive); the Owner has all.
pub fn effective_permissions(is_owner: bool, roles: &RoleSet, grants: &[Permission]) -> BTreeSet<Permission> {
    if is_owner {
        return Workflow::ALL.iter().flat_map(|w| Action::ALL.iter().map(|a| Permission::everywhere(*w, *a))).collect();
    }
    let mut set: BTreeSet<Permission> = roles.iter().flat_map(|r| r.permissions()).collect();
    for g in grants {
        // A grant on one account adds nothing if the same permission already covers all.
        if !set.contains(&Permission::everywhere(g.workflow, g.action)) {
            set.insert(g.clone());
        }
    }
    set
}

/// Loads a user's active membership, grants and live delegations to them,
/// and resolves their access at `now`. Not a member (or removed) → `NOT_FOUND`.
pub async fn resolve<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<OrgAccess> {
    let m = member::Entity::find()
        .filter(member::Column::OrgId.eq(org_id))
        .filter(member::Column::UserId.eq(user_id))
        .filter(member::Column::Status.eq(MemberStatus::Active))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("organization"))?;
    let grants = permission_grant::Entity::find().filter(permission_grant::Column::MemberId.eq(&m.id)).all(db).await?;
    let member_id = m.id.clone();
    let access = access_of(m, grants)?;
    let mut lent = delegations_to(db, org_id, Some(&member_id), now).await?;
    Ok(with_delegations(access, lent.remove(&member_id).unwrap_or_default()))
}

/// [`resolve`], and the instant the answer stops being true by the clock
/// alone: the next start or end of a delegation to the member. Changes made
/// by people show in the organisation's version instead ([`crate::cache`]).
async fn resolve_until<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<(OrgAccess, Option<DateTime<Utc>>)> {
    let access = resolve(db, org_id, user_id, now).await?;
    let until = delegation::Entity::find()
        .filter(delegation::Column::OrgId.eq(org_id))
        .filter(delegation::Column::ToMemberId.eq(&access.member_id))
        .filter(delegation::Column::RevokedAt.is_null())
        .filter(delegation::Column::ValidUntil.gt(now))
        .all(db)
        .await?
        .into_iter()
        .map(|d| if d.valid_from > now { d.valid_from } else { d.valid_until })
        .min();
    Ok((access, until))
}

/// Live delegations in `org_id` (to one member, or to all), keyed by the
/// delegate's member id. A delegation lends only what its delegator holds in
/// their own right while still an active member: removing the delegator or
/// their APPROVE ends it, and it never chains.
async fn delegations_to<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    to_member: Option<&str>,
    now: DateTime<Utc>,
) -> ServiceResult<HashMap<String, Vec<DelegatedApproval>>> {
    let mut q = delegation::Entity::find()
        .filter(delegation::Column::OrgId.eq(org_id))
        .filter(delegation::Column::RevokedAt.is_null())
        .filter(delegation::Column::ValidFrom.lte(now))
        .filter(delegation::Column::ValidUntil.gt(now));
    if let Some(to) = to_member {
        q = q.filter(delegation::Column::ToMemberId.eq(to));
    }
    let rows = q.all(db).await?;
    let mut out: HashMap<String, Vec<DelegatedApproval>> = HashMap::new();
    if rows.is_empty() {
        return Ok(out);
    }
    let from: BTreeSet<&str> = rows.iter().map(|d| d.from_member_id.as_str()).collect();
    let delegators = member::Entity::find()
        .filter(member::Column::Id.is_in(from.iter().copied()))
        .filter(member::Column::Status.eq(MemberStatus::Active))
        .all(db)
        .await?;
    let mut grants: HashMap<String, Vec<permission_grant::Model>> = HashMap::new();
    for g in permission_grant::Entity::find()
        .filter(permission_grant::Column::MemberId.is_in(from.iter().copied()))
        .all(db)
        .await?
    {
        grants.entry(g.member_id.clone()).or_default().push(g);
    }
    let mut own: HashMap<String, OrgAccess> = HashMap::new();
    for m in delegators {
        let g = grants.remove(&m.id).unwrap_or_default();
        own.insert(m.id.clone(), access_of(m, g)?);
    }
    for d in rows {
        let workflow = d.workflow;
        let Some(delegator) = own.get(&d.from_member_id) else { continue };
        let permissions: Vec<Permission> = delegator
            .permissions
            .iter()
            .filter(|p| p.workflow == workflow && p.action == Action::Approve)
            .cloned()
            .collect();
        if !permissions.is_empty() {
            out.entry(d.to_member_id.clone()).or_default().push(DelegatedApproval {
                id: d.id,
                workflow,
                from_member_id: d.from_member_id,
                permissions,
            });
        }
    }
    Ok(out)
}

fn with_delegations(mut access: OrgAccess, lent: Vec<DelegatedApproval>) -> OrgAccess {
    for d in &lent {
        access.permissions.extend(d.permissions.iter().cloned());
    }
    access.delegations = lent;
    access
}

/// A member's access from their row and their grants' rows.
fn access_of(m: member::Model, grants: Vec<permission_grant::Model>) -> ServiceResult<OrgAccess> {
    let grants = grants
        .into_iter()
        .map(|g| Ok(Permission { workflow: g.workflow, action: g.action, account_id: g.account_id }))
        .collect::<ServiceResult<Vec<_>>>()?;
    let roles = RoleSet::from_stored(&m.roles).map_err(ServiceError::internal)?;
    Ok(OrgAccess {
        service: None,
        delegations: Vec::new(),
        permissions: effective_permissions(m.is_owner, &roles, &grants),
        org_id: m.org_id,
        user_id: m.user_id,
        member_id: m.id,
        is_owner: m.is_owner,
        roles,
    })
}

/// [`resolve`] for every active member of `org_id` at once, by user id, in
/// a few queries: for work that must check many members at the same moment
/// (delivering one event to every subscriber, counting approvers).
pub async fn resolve_all<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<HashMap<String, OrgAccess>> {
    let active = || {
        member::Entity::find()
            .filter(member::Column::OrgId.eq(org_id))
            .filter(member::Column::Status.eq(MemberStatus::Active))
    };
    let members = active().all(db).await?;
    let mut grants: HashMap<String, Vec<permission_grant::Model>> = HashMap::new();
    let ids = active().select_only().column(member::Column::Id).into_query();
    for g in
        permission_grant::Entity::find().filter(permission_grant::Column::MemberId.in_subquery(ids)).all(db).await?
    {
        grants.entry(g.member_id.clone()).or_default().push(g);
    }
    let mut lent = delegations_to(db, org_id, None, now).await?;
    members
        .into_iter()
        .map(|m| {
            let own = grants.remove(&m.id).unwrap_or_default();
            let delegated = lent.remove(&m.id).unwrap_or_default();
            Ok((m.user_id.clone(), with_delegations(access_of(m, own)?, delegated)))
        })
        .collect()
}

/// What an organisation asks of a member's session beyond membership: a
/// verified second factor (`TWO_FACTOR_REQUIRED`), and use within the
/// organisation's idle timeout (`UNAUTHENTICATED`).
pub fn session_admitted(user: &UserSession, org: &organization::Model, now: DateTime<Utc>) -> ServiceResult<()> {
    if !user.two_factor_verified {
        return Err(ServiceError::TwoFactorRequired(
            "this organisation requires two-factor authentication: enrol with enrollTotp and confirmTotp, \
             or sign in with a TOTP code"
                .into(),
        ));
    }
    let idle = chrono::Duration::seconds(i64::from(org.session_idle_timeout_secs));
    if now - user.last_used_at > idle {
        return Err(ServiceError::Unauthenticated("session expired (idle); sign in again".into()));
    }
    Ok(())
}

/// Which of `users` are active members of which of `orgs`, in one query:
/// the membership [`resolve`] requires, for many callers at once.
pub async fn active_memberships<C: ConnectionTrait>(
    db: &C,
    orgs: &[String],
    users: &[String],
) -> ServiceResult<BTreeSet<(String, String)>> {
    if orgs.is_empty() || users.is_empty() {
        return Ok(BTreeSet::new());
    }
    let rows = member::Entity::find()
        .filter(member::Column::OrgId.is_in(orgs.iter().cloned()))
        .filter(member::Column::UserId.is_in(users.iter().cloned()))
        .filter(member::Column::Status.eq(MemberStatus::Active))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|m| (m.org_id, m.user_id)).collect())
}

/// Per-request authorization state: the actor and the organisations resolved so far.
pub struct Authz {
    pub actor: Actor,
    db: DatabaseConnection,
    now: DateTime<Utc>,
    /// Access read in earlier requests, reused while the organisation's version holds.
    cache: Arc<Caches>,
    resolved: Mutex<HashMap<String, Resolved>>,
    /// Organisation rows already read for this request (see [`Authz::remember_org`]).
    rows: std::sync::Mutex<HashMap<String, Arc<organization::Model>>>,
    /// Display names looked up for this request ([`Authz::actor_name`]).
    names: Mutex<names::NameBook>,
}

/// One organisation's access and row, as this request resolved them.
type Resolved = (Arc<OrgAccess>, Arc<organization::Model>);

impl Authz {
    pub fn new(actor: Actor, db: DatabaseConnection, cache: Arc<Caches>, now: DateTime<Utc>) -> Self {
        Self {
            actor,
            db,
            now,
            cache,
            resolved: Mutex::new(HashMap::new()),
            rows: Default::default(),
            names: Default::default(),
        }
    }

    /// Keeps an organisation row this request has already read (signed
    /// requests read their key's organisation to authenticate), so that
    /// resolving the organisation does not read it again.
    pub fn remember_org(&self, row: Arc<organization::Model>) {
        if let Ok(mut rows) = self.rows.lock() {
            rows.insert(row.id.clone(), row);
        }
    }

    /// Who acted, as people read it ([`names::actor_name`]), remembered for
    /// this request. A service user reads people as "a member": names are
    /// members' personal data ([`Actor::require_person`]).
    pub async fn actor_name(&self, kind: ActorKind, id: &str) -> ServiceResult<String> {
        if matches!(self.actor, Actor::ServiceUser(_)) && kind == ActorKind::User {
            return Ok("a member".into());
        }
        self.names.lock().await.actor(&self.db, kind, id).await
    }

    /// What a limit layer's subject is called ([`names::subject_name`]); a
    /// signer reads as "a member" to a service user.
    pub async fn subject_name(&self, layer: LimitLayer, subject: &str) -> ServiceResult<String> {
        if matches!(self.actor, Actor::ServiceUser(_)) && layer == LimitLayer::Signer {
            return Ok("a member".into());
        }
        names::subject_name(&self.db, layer, subject).await
    }

    /// The caller's access to `org_id`, resolved once per request.
    ///
    /// Refuses anonymous callers (`UNAUTHENTICATED`), non-members
    /// (`NOT_FOUND`), sessions without a verified second factor
    /// (`TWO_FACTOR_REQUIRED`), and sessions idle longer than the
    /// organisation allows (`UNAUTHENTICATED`).
    pub async fn org(&self, org_id: &str) -> ServiceResult<Arc<OrgAccess>> {
        if let Actor::ServiceUser(su) = &self.actor {
            return service_user_access(su, org_id).map(Arc::new);
        }
        Ok(self.org_and_row(org_id).await?.0)
    }

    /// [`Authz::org`] and the organisation's row as this request read it.
    pub async fn org_and_row(&self, org_id: &str) -> ServiceResult<Resolved> {
        if let Actor::ServiceUser(su) = &self.actor {
            let access = Arc::new(service_user_access(su, org_id)?);
            return Ok((access, self.org_row(org_id).await?));
        }
        let user = self.actor.user()?;
        let mut resolved = self.resolved.lock().await;
        if let Some(r) = resolved.get(org_id) {
            return Ok(r.clone());
        }
        // The version first, then what is cached against it (see crate::cache).
        let org = self.org_row(org_id).await?;
        let key = (org_id.to_string(), user.user_id.clone());
        let access = self
            .cache
            .access
            .get_or_fill(key, org.settings_seq, self.now, || resolve_until(&self.db, org_id, &user.user_id, self.now))
            .await?;
        session_admitted(user, &org, self.now)?;
        resolved.insert(org_id.to_string(), (access.clone(), org.clone()));
        Ok((access, org))
    }

    /// The organisation's row, read at most once per request.
    async fn org_row(&self, org_id: &str) -> ServiceResult<Arc<organization::Model>> {
        if let Some(row) = self.rows.lock().ok().and_then(|rows| rows.get(org_id).cloned()) {
            return Ok(row);
        }
        let row = organization::Entity::find_by_id(org_id)
            .one(&self.db)
            .await?
            .map(Arc::new)
            .ok_or(ServiceError::NotFound("organization"))?;
        self.remember_org(row.clone());
        Ok(row)
    }
}

/// A service user's access: only its own organisation; VIEW and INITIATE on
/// withdrawals with the WITHDRAW scope, on the key's accounts. Never APPROVE
/// or EXECUTE, never MANAGE_ACCESS or MANAGE_POLICIES (SPEC §2).
pub fn service_user_access(su: &ServiceUserSession, org_id: &str) -> ServiceResult<OrgAccess> {
    if su.org_id != org_id {
        return Err(ServiceError::NotFound("organization"));
    }
    let mut permissions = BTreeSet::new();
    if su.scopes.contains(ApiScope::Withdraw) {
        for action in [Action::View, Action::Initiate] {
            match &su.account_ids {
                None => {
                    permissions.insert(Permission::everywhere(Workflow::InitiateWithdrawal, action));
                }
                Some(accounts) => permissions.extend(accounts.iter().map(|a| Permission {
                    workflow: Workflow::InitiateWithdrawal,
                    action,
                    account_id: Some(a.clone()),
                })),
            }
        }
    }
    Ok(OrgAccess {
        org_id: org_id.to_string(),
        user_id: su.service_user_id.clone(),
        member_id: String::new(),
        is_owner: false,
        roles: RoleSet::default(),
        permissions,
        service: Some(su.clone()),
        delegations: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use Workflow::*;
    use domain::Role;

    fn perms(roles: &[Role]) -> BTreeSet<(Workflow, Action)> {
        effective_permissions(false, &RoleSet::from_input(roles).unwrap(), &[])
            .into_iter()
            .map(|p| (p.workflow, p.action))
            .collect()
    }

    /// SPEC §3's role table, row by row.
    #[test]
    fn role_table() {
        let admin = perms(&[Role::Admin]);
        for w in [ManageAccess, ManagePolicies, ManageAddresses] {
            for a in Action::ALL {
                assert!(admin.contains(&(w, *a)));
            }
        }
        assert!(admin.contains(&(InitiateWithdrawal, View)));
        assert!(!admin.contains(&(InitiateWithdrawal, Initiate)));
        assert_eq!(admin.len(), 13);

        let maker = perms(&[Role::Maker]);
        assert_eq!(
            maker,
            [
                (InitiateWithdrawal, View),
                (InitiateWithdrawal, Initiate),
                (ManageAddresses, View),
                (ManageAddresses, Initiate)
            ]
            .into_iter()
            .collect()
        );
        let approver = perms(&[Role::Approver]);
        assert_eq!(
            approver,
            [
                (InitiateWithdrawal, View),
                (InitiateWithdrawal, Approve),
                (ManageAddresses, View),
                (ManageAddresses, Approve)
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(
            perms(&[Role::Signer]),
            [(InitiateWithdrawal, View), (InitiateWithdrawal, Execute)].into_iter().collect()
        );
        let all_view: BTreeSet<_> = Workflow::ALL.iter().map(|w| (*w, View)).collect();
        assert_eq!(perms(&[Role::Reviewer]), all_view);
        assert_eq!(perms(&[Role::ReadOnly]), all_view);
        // Additive: MAKER + SIGNER can both initiate and execute withdrawals.
        let both = perms(&[Role::Maker, Role::Signer]);
        assert!(both.contains(&(InitiateWithdrawal, Initiate)) && both.contains(&(InitiateWithdrawal, Execute)));
    }

    #[test]
    fn account_scoped_grants() {
        let grant = Permission { workflow: InitiateWithdrawal, action: Initiate, account_id: Some("acc-1".into()) };
        let access = OrgAccess {
            org_id: "o".into(),
            user_id: "u".into(),
            member_id: "m".into(),
            is_owner: false,
            roles: RoleSet::from_input(&[Role::ReadOnly]).unwrap(),
            service: None,
            delegations: Vec::new(),
            permissions: effective_permissions(false, &RoleSet::from_input(&[Role::ReadOnly]).unwrap(), &[grant]),
        };
        assert!(access.allows(InitiateWithdrawal, Initiate, Some("acc-1")));
        assert!(!access.allows(InitiateWithdrawal, Initiate, Some("acc-2")));
        assert!(access.require(ManageAccess, Initiate, None).is_err());
    }

    #[test]
    fn owner_has_everything() {
        let all = effective_permissions(true, &RoleSet::default(), &[]);
        assert_eq!(all.len(), Workflow::ALL.len() * Action::ALL.len());
    }
}
