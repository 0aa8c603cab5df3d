//! Approver notices: when a request starts waiting, every member who may
//! approve it is told by e-mail — what, who asked, how much, and a link —
//! unless they opted out.
//!
//! A notice is a row owed to a member, written in the transaction that makes
//! the request wait. A minutely job folds each member's owed notices into one
//! digest, at most one per member per [`DIGEST_INTERVAL_SECS`], and hands it
//! to the notification outbox (claimed, retried, idempotent delivery). The
//! member's row is locked while their digest is composed, so two workers
//! cannot both send one.

use super::approvers;
use super::audit::{self, AuditActor, Entry};
use super::{ServiceError, ServiceResult, addresses, names, notifications};
use crate::access::OrgAccess;
use crate::db::begin_write;
use chrono::{DateTime, Duration, Utc};
use domain::{ActorKind, MemberStatus, RequestStatus, new_id};
use entity::{account, approver_notice, member, organization, request, service_user, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use workers::MailJob;

/// The shortest time between two digests to one member.
pub const DIGEST_INTERVAL_SECS: i64 = 60;

/// Owes a notice to every member who may approve `req` and wants notices.
/// Call in the transaction that makes the request wait.
pub async fn owe<C: ConnectionTrait>(db: &C, req: &request::Model, now: DateTime<Utc>) -> ServiceResult<()> {
    let approvers = approvers::eligible_approvers(db, req, now).await?;
    if approvers.is_empty() {
        return Ok(());
    }
    let members = member::Entity::find()
        .filter(member::Column::OrgId.eq(&req.org_id))
        .filter(member::Column::UserId.is_in(approvers))
        .filter(member::Column::Status.eq(MemberStatus::Active))
        .filter(member::Column::ApprovalNotices.eq(true))
        .all(db)
        .await?;
    if members.is_empty() {
        return Ok(());
    }
    let rows = members.into_iter().map(|m| approver_notice::ActiveModel {
        id: Set(new_id()),
        org_id: Set(req.org_id.clone()),
        member_id: Set(m.id),
        request_id: Set(req.id.clone()),
        created_at: Set(now),
        sent_at: Set(None),
    });
    approver_notice::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// System entry point (the job runtime, every organisation): sends every
/// digest that is due; returns the mail jobs to enqueue.
pub async fn send_due(db: &DatabaseConnection, public_url: &str, now: DateTime<Utc>) -> ServiceResult<Vec<MailJob>> {
    let owed: Vec<String> = approver_notice::Entity::find()
        .select_only()
        .column(approver_notice::Column::MemberId)
        .filter(approver_notice::Column::SentAt.is_null())
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let mut jobs = Vec::new();
    for member_id in owed {
        jobs.extend(send_digest(db, public_url, &member_id, now).await?);
    }
    Ok(jobs)
}

/// One member's digest, if one is due: in one transaction, under the member's lock.
async fn send_digest(
    db: &DatabaseConnection,
    public_url: &str,
    member_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Option<MailJob>> {
    let txn = begin_write(db).await?;
    let Some(m) = member::Entity::find_by_id(member_id).lock_exclusive().one(&txn).await? else {
        return Ok(None);
    };
    let last = approver_notice::Entity::find()
        .filter(approver_notice::Column::MemberId.eq(member_id))
        .filter(approver_notice::Column::SentAt.is_not_null())
        .order_by_desc(approver_notice::Column::SentAt)
        .one(&txn)
        .await?;
    if last.and_then(|n| n.sent_at).is_some_and(|at| now - at < Duration::seconds(DIGEST_INTERVAL_SECS)) {
        return Ok(None);
    }
    let owed = approver_notice::Entity::find()
        .filter(approver_notice::Column::MemberId.eq(member_id))
        .filter(approver_notice::Column::SentAt.is_null())
        .order_by_asc(approver_notice::Column::CreatedAt)
        .all(&txn)
        .await?;
    if owed.is_empty() {
        return Ok(None);
    }
    approver_notice::Entity::update_many()
        .col_expr(approver_notice::Column::SentAt, Expr::value(now))
        .filter(approver_notice::Column::Id.is_in(owed.iter().map(|n| n.id.clone())))
        .exec(&txn)
        .await?;
    // Only requests that still wait for this member are worth an e-mail.
    let mut waiting = Vec::new();
    for n in &owed {
        if let Some(req) = request::Entity::find_by_id(&n.request_id).one(&txn).await?
            && req.status == RequestStatus::PendingApproval
            && approvers::eligible_approvers(&txn, &req, now).await?.contains(&m.user_id)
        {
            waiting.push(req);
        }
    }
    let wants = m.status == MemberStatus::Active && m.approval_notices;
    let to = user::Entity::find_by_id(&m.user_id).one(&txn).await?;
    let org = organization::Entity::find_by_id(&m.org_id).one(&txn).await?;
    let (Some(to), Some(org), true, false) = (to, org, wants, waiting.is_empty()) else {
        txn.commit().await?;
        return Ok(None);
    };
    let mut lines = Vec::new();
    for req in &waiting {
        lines.push(describe(&txn, req, public_url).await?);
    }
    let subject = match waiting.len() {
        1 => format!("[{}] a request waits for your approval", org.name),
        n => format!("[{}] {n} requests wait for your approval", org.name),
    };
    let body = format!(
        "These requests in {} wait for your approval:\n\n{}\n\nYou receive these notices because you may approve them; \
         turn them off with setApprovalNotices(enabled: false).\n",
        org.name,
        lines.join("\n\n")
    );
    let job = notifications::queue(&txn, &m.org_id, &to.email, &subject, &body, now).await?;
    txn.commit().await?;
    Ok(Some(MailJob::Notification(job)))
}

/// One request in a digest: what, who asked, how much, and where to act on it.
async fn describe<C: ConnectionTrait>(db: &C, req: &request::Model, public_url: &str) -> ServiceResult<String> {
    let who = match req.requester_kind {
        ActorKind::ServiceUser => service_user::Entity::find_by_id(&req.requester_id)
            .one(db)
            .await?
            .map_or_else(|| "a service user".to_string(), |s| format!("service user {}", s.name)),
        _ => user::Entity::find_by_id(&req.requester_id)
            .one(db)
            .await?
            .map_or_else(|| "a member".to_string(), |u| format!("{} <{}>", names::person(&u), u.email)),
    };
    let payload: Value = serde_json::from_str(&req.payload).unwrap_or_default();
    let how_much = match (payload["amount"].as_str(), payload["asset"].as_str()) {
        (Some(amount), Some(asset)) => format!("\n  Amount: {amount} {asset}"),
        _ => String::new(),
    };
    // Where the money goes and from which account, by name rather than id.
    let mut lines = String::new();
    if let Some(id) = payload["addressId"].as_str()
        && let Some(a) = addresses::destination(db, &req.org_id, id).await?
    {
        lines.push_str(&format!("\n  To: {} ({} {})", a.label, a.network, a.address));
    }
    if let Some(id) = payload["accountId"].as_str()
        && let Some(a) = account::Entity::find_by_id(id).one(db).await?.filter(|a| a.org_id == req.org_id)
    {
        lines.push_str(&format!("\n  From account: {}", a.name));
    }
    let mut details: BTreeMap<&str, &Value> = BTreeMap::new();
    if let Value::Object(fields) = &payload {
        for (k, v) in fields {
            if !matches!(k.as_str(), "operation" | "amount" | "asset" | "addressId" | "accountId") {
                details.insert(k, v);
            }
        }
    }
    let details = if details.is_empty() {
        String::new()
    } else {
        format!("\n  Details: {}", serde_json::to_string(&details).unwrap_or_default())
    };
    Ok(format!(
        "- {} (workflow {}), requested by {who} at {}{how_much}{lines}{details}\n  Needs {} approval(s). Review it at {public_url}/requests/{}",
        req.operation,
        req.workflow,
        req.created_at.format("%Y-%m-%d %H:%M UTC"),
        req.approvals_required,
        req.id,
    ))
}

/// Turns the caller's own approver notices on or off in one organisation (audited).
pub async fn set_for_self(
    db: &DatabaseConnection,
    access: &OrgAccess,
    enabled: bool,
    now: DateTime<Utc>,
) -> ServiceResult<member::Model> {
    if access.service.is_some() {
        return Err(ServiceError::Forbidden("service users receive no approver notices".into()));
    }
    let txn = begin_write(db).await?;
    let m = member::Entity::find_by_id(&access.member_id).one(&txn).await?.ok_or(ServiceError::NotFound("member"))?;
    let before = m.approval_notices;
    let mut a: member::ActiveModel = m.into();
    a.approval_notices = Set(enabled);
    let m = a.update(&txn).await?;
    audit::append(
        &txn,
        Entry {
            org_id: &access.org_id,
            actor: AuditActor::of(access),
            action: "APPROVAL_NOTICES_SET",
            target: Some(m.id.clone()),
            before: Some(json!({"approvalNotices": before})),
            after: Some(json!({"approvalNotices": enabled})),
            request_id: None,
        },
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(m)
}
