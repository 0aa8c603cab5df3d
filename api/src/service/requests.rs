//! The request engine: every governed operation becomes a [`request`] row,
//! and its application is audited in the same transaction.
//!
//! Policies and approvals (SPEC §4) are not here yet: an operation submitted
//! by someone holding INITIATE on its workflow completes at once, which is
//! what SPEC §4 prescribes for a workflow without a policy.
//!
//! [`request`]: entity::request

use super::audit::{self, AuditActor, Entry};
use super::operation::{self, OpEnv, Operation};
use super::{ServiceError, ServiceResult};
use crate::authz::OrgAccess;
use crate::db::begin_write;
use crate::domain::{Action, new_id};
use entity::request;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use workers::{DeliverInvitation, JobQueue};

/// Request statuses (SPEC §4).
pub mod status {
    pub const PENDING_APPROVAL: &str = "PENDING_APPROVAL";
    pub const APPROVED: &str = "APPROVED";
    pub const COMPLETED: &str = "COMPLETED";
    pub const REJECTED: &str = "REJECTED";
    pub const CANCELLED: &str = "CANCELLED";
    pub const EXPIRED: &str = "EXPIRED";
    pub const FAILED: &str = "FAILED";
}

/// Submits a governed operation on behalf of a member.
///
/// Refuses unless the caller holds INITIATE on the operation's workflow;
/// refuses bad input before writing anything; otherwise records the request,
/// applies the operation and appends the audit record in one transaction.
pub async fn submit(
    db: &DatabaseConnection,
    env: &OpEnv<'_>,
    queue: &JobQueue,
    access: &OrgAccess,
    op: Operation,
) -> ServiceResult<request::Model> {
    let now = env.now;
    access.require(op.workflow(), Action::Initiate, op.account_id())?;
    let txn = begin_write(db).await?;
    operation::check(&txn, &access.org_id, &op).await?;
    let req = request::ActiveModel {
        id: Set(new_id()),
        org_id: Set(access.org_id.clone()),
        workflow: Set(op.workflow().as_str().into()),
        operation: Set(op.name().into()),
        payload: Set(op.to_json()?),
        requester_kind: Set("USER".into()),
        requester_id: Set(access.user_id.clone()),
        status: Set(status::COMPLETED.into()),
        approvals_required: Set(0),
        reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let applied = operation::apply(&txn, env, &access.org_id, &access.user_id, &op).await?;
    audit::append(
        &txn,
        Entry {
            org_id: &access.org_id,
            actor: AuditActor::user(&access.user_id),
            action: op.name(),
            target: applied.target,
            before: applied.before,
            after: applied.after,
            request_id: Some(req.id.clone()),
        },
        now,
    )
    .await?;
    txn.commit().await?;
    enqueue(queue, applied.jobs).await;
    Ok(req)
}

/// Enqueues jobs after their transaction committed. A failure here loses
/// nothing: the rows they concern are already committed in a state the
/// minutely sweep picks up.
async fn enqueue(queue: &JobQueue, jobs: Vec<DeliverInvitation>) {
    for job in jobs {
        if let Err(e) = queue.deliver_invitation(job.clone(), None).await {
            tracing::warn!(error = %e, ?job, "could not enqueue; the sweep will retry");
        }
    }
}

/// A request of the caller's organisation, if they may VIEW its workflow.
pub async fn get<C: ConnectionTrait>(db: &C, access: &OrgAccess, id: &str) -> ServiceResult<request::Model> {
    let req = find_in_org(db, &access.org_id, id).await?;
    let workflow = crate::domain::Workflow::parse(&req.workflow).map_err(ServiceError::internal)?;
    if !access.allows(workflow, Action::View, None) {
        return Err(ServiceError::NotFound("request"));
    }
    Ok(req)
}

/// A request by id within one organisation; else `NOT_FOUND`.
pub async fn find_in_org<C: ConnectionTrait>(db: &C, org_id: &str, id: &str) -> ServiceResult<request::Model> {
    request::Entity::find_by_id(id)
        .filter(request::Column::OrgId.eq(org_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("request"))
}

/// The organisation a request belongs to, for resolving the caller's access to it.
pub async fn org_of<C: ConnectionTrait>(db: &C, id: &str) -> ServiceResult<String> {
    request::Entity::find_by_id(id).one(db).await?.map(|r| r.org_id).ok_or(ServiceError::NotFound("request"))
}

/// How long a request may wait for approval before it expires (SPEC §4).
pub const DEFAULT_TTL: chrono::Duration = chrono::Duration::hours(72);

/// Expires requests pending longer than `ttl`, each in its own transaction
/// with its audit record. Idempotent: the conditional update means two
/// workers running at once expire each request once.
pub async fn expire_stale(
    db: &DatabaseConnection,
    ttl: chrono::Duration,
    now: chrono::DateTime<chrono::Utc>,
) -> ServiceResult<usize> {
    use sea_orm::{QuerySelect, sea_query::Expr};
    let stale: Vec<(String, String)> = request::Entity::find()
        .select_only()
        .column(request::Column::Id)
        .column(request::Column::OrgId)
        .filter(request::Column::Status.eq(status::PENDING_APPROVAL))
        .filter(request::Column::CreatedAt.lt(now - ttl))
        .limit(500)
        .into_tuple()
        .all(db)
        .await?;
    let mut expired = 0;
    for (id, org_id) in stale {
        let txn = begin_write(db).await?;
        let res = request::Entity::update_many()
            .col_expr(request::Column::Status, Expr::value(status::EXPIRED))
            .col_expr(request::Column::UpdatedAt, Expr::value(now))
            .filter(request::Column::Id.eq(&id))
            .filter(request::Column::Status.eq(status::PENDING_APPROVAL))
            .exec(&txn)
            .await?;
        if res.rows_affected == 1 {
            audit::append(
                &txn,
                Entry {
                    org_id: &org_id,
                    actor: AuditActor::system("request-expiry"),
                    action: "REQUEST_EXPIRED",
                    target: Some(id.clone()),
                    before: Some(serde_json::json!({"status": status::PENDING_APPROVAL})),
                    after: Some(serde_json::json!({"status": status::EXPIRED})),
                    request_id: Some(id.clone()),
                },
                now,
            )
            .await?;
            expired += 1;
        }
        txn.commit().await?;
    }
    Ok(expired)
}
