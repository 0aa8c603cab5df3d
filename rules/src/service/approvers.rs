//! Who may still approve a request: who it counts as made by (SPEC §4),
//! the approvals it has, and the eligible approvers left. Read-only, so the
//! approver notices can ask without depending on the engine
//! ([`super::requests`]).

use super::{ServiceResult, policies, service_users};
use crate::access::OrgAccess;
use chrono::{DateTime, Utc};
use domain::{ActorKind, RequestStatus};
use entity::{approval, request};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::{BTreeSet, HashMap};

/// The members a request counts as made by: its requester, and for a
/// service user's request its creator and every member who obtained one of
/// its key secrets (SPEC §4). None of them may approve it.
pub async fn made_by<C: ConnectionTrait>(db: &C, req: &request::Model) -> ServiceResult<BTreeSet<String>> {
    let mut out = BTreeSet::from([req.requester_id.clone()]);
    if req.requester_kind == ActorKind::ServiceUser {
        out.extend(service_users::principals(db, &req.requester_id).await?);
    }
    Ok(out)
}

/// Approvals of a request, oldest first.
pub(crate) async fn approvals<C: ConnectionTrait>(db: &C, request_id: &str) -> ServiceResult<Vec<approval::Model>> {
    Ok(approval::Entity::find()
        .filter(approval::Column::RequestId.eq(request_id))
        .order_by_asc(approval::Column::At)
        .all(db)
        .await?)
}

/// Users who may still approve a pending request: holders of APPROVE on its
/// workflow whom it does not count as made by ([`made_by`]) and who have not
/// approved yet.
pub(crate) async fn eligible_approvers<C: ConnectionTrait>(
    db: &C,
    req: &request::Model,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<String>> {
    if req.status != RequestStatus::PendingApproval {
        return Ok(Vec::new());
    }
    let wf = req.workflow;
    let done: Vec<String> = approvals(db, &req.id).await?.into_iter().map(|a| a.approver_id).collect();
    let made_by = made_by(db, req).await?;
    let all = policies::approvers(db, &req.org_id, now).await?;
    Ok(all
        .get(&wf)
        .map(|users| users.iter().filter(|u| !made_by.contains(*u) && !done.contains(u)).cloned().collect())
        .unwrap_or_default())
}

/// The approvals of requests the caller may see
/// ([`OrgAccess::require_request`]), oldest first, by request id, in one query.
pub async fn approvals_of<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    reqs: &[&request::Model],
) -> ServiceResult<HashMap<String, Vec<approval::Model>>> {
    for r in reqs {
        access.require_request(r)?;
    }
    let mut out: HashMap<String, Vec<approval::Model>> = reqs.iter().map(|r| (r.id.clone(), Vec::new())).collect();
    if reqs.is_empty() {
        return Ok(out);
    }
    for a in approval::Entity::find()
        .filter(approval::Column::RequestId.is_in(reqs.iter().map(|r| r.id.as_str())))
        .order_by_asc(approval::Column::At)
        .all(db)
        .await?
    {
        out.entry(a.request_id.clone()).or_default().push(a);
    }
    Ok(out)
}

/// [`eligible_approvers`] of requests the caller may see, by request id:
/// the organisation's approvers resolved once for all of them.
pub async fn eligible_of<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    reqs: &[&request::Model],
    now: DateTime<Utc>,
) -> ServiceResult<HashMap<String, Vec<String>>> {
    for r in reqs {
        access.require_request(r)?;
    }
    let mut out: HashMap<String, Vec<String>> = reqs.iter().map(|r| (r.id.clone(), Vec::new())).collect();
    let pending: Vec<&request::Model> =
        reqs.iter().copied().filter(|r| r.status == RequestStatus::PendingApproval).collect();
    if pending.is_empty() {
        return Ok(out);
    }
    let done = approvals_of(db, access, &pending).await?;
    let all = policies::approvers(db, &access.org_id, now).await?;
    for req in pending {
        let wf = req.workflow;
        let made_by = made_by(db, req).await?;
        let done: Vec<&str> = done.get(&req.id).into_iter().flatten().map(|a| a.approver_id.as_str()).collect();
        let eligible = all
            .get(&wf)
            .map(|users| {
                users.iter().filter(|u| !made_by.contains(*u) && !done.contains(&u.as_str())).cloned().collect()
            })
            .unwrap_or_default();
        out.insert(req.id.clone(), eligible);
    }
    Ok(out)
}
