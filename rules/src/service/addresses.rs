//! Whitelisted withdrawal addresses (MANAGE_ADDRESSES operations).
//!
//! A new address cools off before it can receive (the organisation's delay,
//! or the deployment's, 24 h by default): a whitelisting slipped in by a
//! compromised account cannot be drained into at once, and there is time to
//! notice it in the audit trail.
//!
//! An address is whitelisted only when it is valid on its network and the
//! network carries its asset ([`domain::ChainAddress`]); it is stored in its
//! canonical spelling, and duplicates are found by comparing canonical
//! forms, so one address cannot be whitelisted twice in two spellings. Rows
//! from before networks were checked may be invalid: [`validity`] says so,
//! and they cannot receive ([`unusable`]) until replaced.

use super::types::Applied;
use super::{ServiceError, ServiceResult, ledger, organization};
use crate::access::OrgAccess;
use chrono::{DateTime, Utc};
use domain::{Action, ChainAddress, DisplayName, IsoDuration, Network, ParseError, RecordStatus, Workflow, new_id};
use entity::{account, address, organization as org_entity};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// An address as submitted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NewAddress {
    pub account_id: String,
    pub asset: String,
    pub network: String,
    pub address: String,
    pub label: String,
}

/// Validates an address against the organisation and its network; returns
/// it normalised (the network's name, the address's canonical spelling).
pub(crate) async fn check<C: ConnectionTrait>(db: &C, org_id: &str, a: &NewAddress) -> ServiceResult<NewAddress> {
    organization::require_account(db, org_id, &a.account_id).await?;
    let asset = ledger::find_asset(db, &a.asset).await?;
    let network = Network::from_input(&a.network)?;
    network.asset(&asset.symbol)?;
    let address = ChainAddress::parse(network, &a.address)?;
    let n = NewAddress {
        account_id: a.account_id.clone(),
        asset: asset.symbol,
        network: network.as_str().to_string(),
        address: address.into_inner(),
        label: DisplayName::parse("label", &a.label)?.into_inner(),
    };
    // Rows stored before addresses were canonical may be spelled otherwise:
    // compare what they mean, not how they are written.
    let same_account_asset = address::Entity::find()
        .filter(address::Column::AccountId.eq(&n.account_id))
        .filter(address::Column::Asset.eq(&n.asset))
        .filter(address::Column::Status.eq(RecordStatus::Active))
        .all(db)
        .await?;
    let dup = same_account_asset.iter().any(|row| {
        Network::from_input(&row.network).is_ok_and(|net| net == network)
            && ChainAddress::parse(network, &row.address).map_or(row.address == n.address, |c| c.as_str() == n.address)
    });
    if dup {
        return Err(ServiceError::Conflict("this address is already whitelisted for the account and asset".into()));
    }
    Ok(n)
}

/// Whether a stored address is valid: a known network that carries its
/// asset, and an address that parses on it. Rows whitelisted before these
/// checks existed may not be.
pub fn validity(a: &address::Model) -> Result<ChainAddress, ParseError> {
    let network = Network::from_input(&a.network)?;
    network.asset(&a.asset)?;
    ChainAddress::parse(network, &a.address)
}

/// The refusal of a withdrawal to an address that is not valid on its
/// network: it must be replaced by a corrected one first.
pub fn unusable(a: &address::Model) -> Option<ServiceError> {
    validity(a).err().map(|e| {
        ServiceError::BadInput(format!(
            "addressId: {} ({} on {}) is not a valid address ({e}); whitelist a corrected address and remove this one",
            a.label, a.address, a.network
        ))
    })
}

/// The longest cooling-off an organisation may set.
pub const MAX_COOLING_OFF_SECS: i64 = 30 * 24 * 3600;

/// A cooling-off delay: none up to [`MAX_COOLING_OFF_SECS`].
pub fn cooling_off(secs: i64) -> ServiceResult<IsoDuration> {
    if secs < 0 {
        return Err(ServiceError::BadInput("delay: must not be negative".into()));
    }
    Ok(IsoDuration::from_secs(secs).at_most("delay", IsoDuration::from_secs(MAX_COOLING_OFF_SECS), "30 days")?)
}

/// The delay addresses whitelisted now wait: the organisation's, or `default_secs`.
pub(crate) async fn cooling_off_of<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    default_secs: i64,
) -> ServiceResult<IsoDuration> {
    let org = org_entity::Entity::find_by_id(org_id).one(db).await?.ok_or(ServiceError::NotFound("organization"))?;
    Ok(IsoDuration::from_secs(org.address_cooling_off_secs.map_or(default_secs, i64::from)))
}

/// Sets the organisation's cooling-off for addresses whitelisted from now on
/// (a MANAGE_POLICIES operation); addresses already cooling keep their time.
pub(crate) async fn set_cooling_off<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    delay: IsoDuration,
) -> ServiceResult<Applied> {
    let org = org_entity::Entity::find_by_id(org_id).one(db).await?.ok_or(ServiceError::NotFound("organization"))?;
    let before =
        json!({"addressCoolingOff": org.address_cooling_off_secs.map(|s| IsoDuration::from_secs(s.into()).to_iso())});
    let mut o: org_entity::ActiveModel = org.into();
    o.address_cooling_off_secs = Set(Some(i32::try_from(delay.secs()).map_err(ServiceError::internal)?));
    o.update(db).await?;
    Ok(Applied {
        target: Some(org_id.to_string()),
        before: Some(before),
        after: Some(json!({"addressCoolingOff": delay.to_iso()})),
        ..Applied::default()
    })
}

/// `ADDRESS_COOLING_OFF` while `a` is still cooling off at `now`.
pub fn still_cooling(a: &address::Model, now: DateTime<Utc>) -> Option<ServiceError> {
    let from = a.usable_from.filter(|from| now < *from)?;
    Some(ServiceError::AddressCoolingOff {
        usable_from: from,
        message: format!(
            "address {} was whitelisted recently and can receive from {}",
            a.label,
            from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    })
}

pub(crate) async fn add<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    a: &NewAddress,
    default_cooling_off_secs: i64,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    // Concurrent whitelistings to one account take turns (PostgreSQL; SQLite
    // writers already do), so the duplicate check in `check` holds.
    account::Entity::find_by_id(&a.account_id)
        .filter(account::Column::OrgId.eq(org_id))
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("account"))?;
    let n = check(db, org_id, a).await?;
    let delay = cooling_off_of(db, org_id, default_cooling_off_secs).await?;
    // No delay: usable at once, whatever any other process's clock says.
    let usable_from = (delay.secs() > 0).then(|| now + delay.to_chrono());
    let row = address::ActiveModel {
        id: Set(new_id()),
        org_id: Set(org_id.to_string()),
        account_id: Set(n.account_id.clone()),
        asset: Set(n.asset.clone()),
        network: Set(n.network.clone()),
        address: Set(n.address.clone()),
        label: Set(n.label.clone()),
        status: Set(RecordStatus::Active),
        created_at: Set(now),
        usable_from: Set(usable_from),
    }
    .insert(db)
    .await?;
    let mut after = json!(n);
    after["usableFrom"] = json!(usable_from);
    Ok(Applied {
        target: Some(row.id.clone()),
        before: None,
        after: Some(after),
        jobs: vec![],
        secret: None,
        alert_changed: false,
    })
}

pub(crate) async fn find_active<C: ConnectionTrait>(db: &C, org_id: &str, id: &str) -> ServiceResult<address::Model> {
    address::Entity::find_by_id(id)
        .filter(address::Column::OrgId.eq(org_id))
        .filter(address::Column::Status.eq(RecordStatus::Active))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("address"))
}

/// A withdrawal's destination, whatever its status now (a removed address
/// still names where money went).
pub(crate) async fn destination<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    id: &str,
) -> ServiceResult<Option<address::Model>> {
    Ok(address::Entity::find_by_id(id).one(db).await?.filter(|a| a.org_id == org_id))
}

pub(crate) async fn remove<C: ConnectionTrait>(db: &C, org_id: &str, id: &str) -> ServiceResult<Applied> {
    let a = find_active(db, org_id, id).await?;
    let before = json!({"address": a.address, "asset": a.asset, "network": a.network, "label": a.label});
    let mut am: address::ActiveModel = a.into();
    am.status = Set(RecordStatus::Removed);
    let a = am.update(db).await?;
    Ok(Applied {
        target: Some(a.id),
        before: Some(before),
        after: None,
        jobs: vec![],
        secret: None,
        alert_changed: false,
    })
}

/// Active addresses the caller may see (VIEW on MANAGE_ADDRESSES or on withdrawals).
pub async fn list<C: ConnectionTrait>(db: &C, access: &OrgAccess) -> ServiceResult<Vec<address::Model>> {
    if !access.allows(Workflow::ManageAddresses, Action::View, None)
        && !access.allows(Workflow::InitiateWithdrawal, Action::View, None)
    {
        return Err(ServiceError::Forbidden("requires VIEW on MANAGE_ADDRESSES".into()));
    }
    Ok(address::Entity::find()
        .filter(address::Column::OrgId.eq(&access.org_id))
        .filter(address::Column::Status.eq(RecordStatus::Active))
        .order_by_asc(address::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .filter(|a| access.may_touch_account(&a.account_id))
        .collect())
}
