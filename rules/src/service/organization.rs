//! Organisations and their accounts.

use super::audit::{self, AuditActor, Entry, GENESIS};
use super::types::Applied;
use super::{ServiceError, ServiceResult};
use crate::access::{OrgAccess, UserSession};
use crate::cache::Caches;
use crate::db::begin_write;
use chrono::{DateTime, Utc};
use domain::{DisplayName, MemberStatus, Role, RoleSet, WithdrawalWindow, new_id};
use entity::{account, member, organization};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;

/// Default idle timeout of an organisation's sessions (SPEC §2).
pub const DEFAULT_IDLE_SECS: i32 = 30 * 60;

/// Creates an organisation with a default account; the caller becomes its
/// Owner (with the ADMIN role). One transaction, audited.
pub async fn create(
    db: &DatabaseConnection,
    who: &UserSession,
    name: &str,
    now: DateTime<Utc>,
) -> ServiceResult<organization::Model> {
    let name = DisplayName::parse("name", name)?.into_inner();
    let txn = begin_write(db).await?;
    let org = organization::ActiveModel {
        id: Set(new_id()),
        name: Set(name.clone()),
        owner_user_id: Set(who.user_id.clone()),
        session_idle_timeout_secs: Set(DEFAULT_IDLE_SECS),
        audit_seq: Set(0),
        settings_seq: Set(0),
        audit_head: Set(GENESIS.to_string()),
        audit_head_mac: Set(GENESIS.to_string()),
        created_at: Set(now),
        pause_on_low_balance: Set(false),
        address_cooling_off_secs: Set(None),
        withdrawal_window: Set(None),
    }
    .insert(&txn)
    .await?;
    let acct = account::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org.id.clone()),
        name: Set("Main".into()),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let owner = member::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org.id.clone()),
        user_id: Set(who.user_id.clone()),
        roles: Set(RoleSet::from_input(&[Role::Admin])?.to_stored()),
        is_owner: Set(true),
        status: Set(MemberStatus::Active),
        created_at: Set(now),
        removed_at: Set(None),
        approval_notices: Set(true),
    }
    .insert(&txn)
    .await?;
    audit::append(
        &txn,
        Entry {
            org_id: &org.id,
            actor: AuditActor::user(&who.user_id),
            action: "ORGANIZATION_CREATED",
            target: Some(org.id.clone()),
            before: None,
            after: Some(json!({"name": name, "ownerMemberId": owner.id, "defaultAccountId": acct.id})),
            request_id: None,
        },
        now,
    )
    .await?;
    let org =
        organization::Entity::find_by_id(&org.id).one(&txn).await?.ok_or(ServiceError::NotFound("organization"))?;
    txn.commit().await?;
    Ok(org)
}

/// The organisation's accounts, oldest first. Any member may list them; a
/// service user sees those its key may touch.
/// [`accounts`], from `cache` while the organisation is at the version they
/// were read at (see [`crate::cache`]); `org` must have been read before
/// anything else this request reads.
pub async fn accounts_cached<C: ConnectionTrait>(
    db: &C,
    cache: &Caches,
    access: &OrgAccess,
    org: &organization::Model,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<account::Model>> {
    if org.id != access.org_id {
        return Err(ServiceError::NotFound("organization"));
    }
    let all = cache
        .accounts
        .get_or_fill(org.id.clone(), org.settings_seq, now, || async {
            let all = account::Entity::find()
                .filter(account::Column::OrgId.eq(&org.id))
                .order_by_asc(account::Column::CreatedAt)
                .all(db)
                .await?;
            Ok::<_, ServiceError>((all, None))
        })
        .await?;
    Ok(all.iter().filter(|a| access.may_touch_account(&a.id)).cloned().collect())
}

pub async fn accounts<C: ConnectionTrait>(db: &C, access: &OrgAccess) -> ServiceResult<Vec<account::Model>> {
    Ok(account::Entity::find()
        .filter(account::Column::OrgId.eq(&access.org_id))
        .order_by_asc(account::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .filter(|a| access.may_touch_account(&a.id))
        .collect())
}

/// `NOT_FOUND` unless `account_id` is an account of this organisation.
pub(crate) async fn require_account<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    account_id: &str,
) -> ServiceResult<account::Model> {
    account::Entity::find_by_id(account_id)
        .filter(account::Column::OrgId.eq(org_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("account"))
}

/// Restricts withdrawals to a window of weekdays and hours, or lifts the
/// restriction with `None` (a MANAGE_POLICIES operation).
pub(crate) async fn set_withdrawal_window<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    window: Option<&WithdrawalWindow>,
) -> ServiceResult<Applied> {
    let org = organization::Entity::find_by_id(org_id).one(db).await?.ok_or(ServiceError::NotFound("organization"))?;
    let stored = |s: &Option<String>| s.as_deref().and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
    let before = json!({"withdrawalWindow": stored(&org.withdrawal_window)});
    let mut o: organization::ActiveModel = org.into();
    let window = window.map(WithdrawalWindow::to_stored);
    o.withdrawal_window = Set(window.clone());
    o.update(db).await?;
    Ok(Applied {
        target: Some(org_id.to_string()),
        before: Some(before),
        after: Some(json!({"withdrawalWindow": stored(&window)})),
        ..Applied::default()
    })
}
