//! The audit trail: append-only, hash-chained per organisation (SPEC §9).
//!
//! [`append`] runs inside the caller's transaction, so a state change and its
//! record commit together or not at all. Appends to one organisation are
//! serialized by locking the organisation row (PostgreSQL `FOR UPDATE`; on
//! SQLite the `BEGIN IMMEDIATE` write transaction already excludes others),
//! which keeps the chain linear under concurrency.

use super::{ServiceError, ServiceResult};
use crate::authz::OrgAccess;
use crate::domain::{Action, Workflow};
use chrono::{DateTime, SecondsFormat, Utc};
use entity::{audit_record, organization};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use sha2::{Digest, Sha256};

/// The hash a chain starts from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who performed an audited action.
#[derive(Clone, Debug)]
pub struct AuditActor {
    /// `USER`, `SERVICE_USER`, `OPERATOR` or `SYSTEM`.
    pub kind: &'static str,
    pub id: String,
}

impl AuditActor {
    pub fn user(user_id: &str) -> Self {
        Self { kind: "USER", id: user_id.to_string() }
    }

    /// The caller behind an organisation access (member or service user).
    pub fn of(access: &OrgAccess) -> Self {
        Self { kind: access.actor_kind(), id: access.user_id.clone() }
    }

    pub fn system(job: &str) -> Self {
        Self { kind: "SYSTEM", id: job.to_string() }
    }
}

/// One record to append.
#[derive(Clone, Debug)]
pub struct Entry<'a> {
    pub org_id: &'a str,
    pub actor: AuditActor,
    pub action: &'a str,
    pub target: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
}

/// The fields the hash covers, in a fixed order with unambiguous separators.
fn compute_hash(prev_hash: &str, r: &audit_record::Model) -> String {
    let mut h = Sha256::new();
    let fields: [&str; 10] = [
        &r.org_id,
        &r.seq.to_string(),
        &r.actor_kind,
        &r.actor_id,
        &r.action,
        r.target.as_deref().unwrap_or(""),
        r.before.as_deref().unwrap_or(""),
        r.after.as_deref().unwrap_or(""),
        r.request_id.as_deref().unwrap_or(""),
        &r.at.to_rfc3339_opts(SecondsFormat::Micros, true),
    ];
    h.update(prev_hash.as_bytes());
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The record that follows the chain head (`seq`, `head`) with `entry`, hashed.
fn chained(entry: Entry<'_>, seq: i64, head: &str, now: DateTime<Utc>) -> audit_record::Model {
    let mut record = audit_record::Model {
        id: 0,
        org_id: entry.org_id.to_string(),
        seq: seq + 1,
        actor_kind: entry.actor.kind.to_string(),
        actor_id: entry.actor.id,
        action: entry.action.to_string(),
        target: entry.target,
        before: entry.before.map(|v| v.to_string()),
        after: entry.after.map(|v| v.to_string()),
        request_id: entry.request_id,
        at: now,
        prev_hash: head.to_string(),
        hash: String::new(),
    };
    record.hash = compute_hash(head, &record);
    record
}

/// A record ready to insert: every column set but the database-assigned id.
fn insertable(record: audit_record::Model) -> audit_record::ActiveModel {
    let mut active = record.into_active_model().reset_all();
    active.id = sea_orm::ActiveValue::NotSet;
    active
}

/// Appends `entry` to its organisation's chain inside the caller's transaction.
pub async fn append<C: ConnectionTrait>(
    db: &C,
    entry: Entry<'_>,
    now: DateTime<Utc>,
) -> ServiceResult<audit_record::Model> {
    let org = organization::Entity::find_by_id(entry.org_id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("organization"))?;
    let record = chained(entry, org.audit_seq, &org.audit_head, now);
    let inserted = insertable(record.clone()).insert(db).await?;
    let mut org: organization::ActiveModel = org.into();
    org.audit_seq = Set(record.seq);
    org.audit_head = Set(record.hash);
    org.update(db).await?;
    Ok(inserted)
}

/// Appends many entries (of one or many organisations) inside the caller's
/// transaction, as [`append`] would one after another, in three round trips
/// plus one update per organisation: lock the organisations, insert every
/// record, move each chain's head. For the batch jobs.
pub async fn append_many<C: ConnectionTrait>(db: &C, entries: Vec<Entry<'_>>, now: DateTime<Utc>) -> ServiceResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<&str> = entries.iter().map(|e| e.org_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut heads: std::collections::HashMap<String, (i64, String)> = std::collections::HashMap::new();
    for chunk in ids.chunks(BATCH_IDS) {
        for org in organization::Entity::find()
            .filter(organization::Column::Id.is_in(chunk.iter().copied()))
            .order_by_asc(organization::Column::Id)
            .lock_exclusive()
            .all(db)
            .await?
        {
            heads.insert(org.id, (org.audit_seq, org.audit_head));
        }
    }
    let mut rows = Vec::with_capacity(entries.len());
    for entry in entries {
        let (seq, head) = heads.get_mut(entry.org_id).ok_or(ServiceError::NotFound("organization"))?;
        let record = chained(entry, *seq, head, now);
        *seq = record.seq;
        *head = record.hash.clone();
        rows.push(insertable(record));
    }
    // 13 columns a row: well under SQLite's bound-parameter limit per statement.
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(BATCH_IDS).collect();
        audit_record::Entity::insert_many(chunk).exec_without_returning(db).await?;
    }
    for (org_id, (seq, head)) in heads {
        organization::Entity::update_many()
            .col_expr(organization::Column::AuditSeq, sea_orm::sea_query::Expr::value(seq))
            .col_expr(organization::Column::AuditHead, sea_orm::sea_query::Expr::value(head))
            .filter(organization::Column::Id.eq(org_id))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Ids per `IN (…)` list and rows per multi-row insert in batch work.
pub const BATCH_IDS: usize = 500;

/// Filters for reading the trail.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub request_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

fn filtered(org_id: &str, f: &AuditFilter) -> sea_orm::Select<audit_record::Entity> {
    let mut q = audit_record::Entity::find().filter(audit_record::Column::OrgId.eq(org_id));
    if let Some(a) = &f.action {
        q = q.filter(audit_record::Column::Action.eq(a.as_str()));
    }
    if let Some(a) = &f.actor_id {
        q = q.filter(audit_record::Column::ActorId.eq(a.as_str()));
    }
    if let Some(r) = &f.request_id {
        q = q.filter(audit_record::Column::RequestId.eq(r.as_str()));
    }
    if let Some(t) = f.since {
        q = q.filter(audit_record::Column::At.gte(t));
    }
    if let Some(t) = f.until {
        q = q.filter(audit_record::Column::At.lt(t));
    }
    q
}

/// A page of the trail, newest first.
pub struct AuditPage {
    pub records: Vec<audit_record::Model>,
    pub has_next_page: bool,
}

/// Reads the trail, newest first, `first` records after the cursor `after_seq`
/// (records with a lower sequence number). Requires VIEW on MANAGE_ACCESS.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    filter: &AuditFilter,
    first: u64,
    after_seq: Option<i64>,
) -> ServiceResult<AuditPage> {
    access.require(Workflow::ManageAccess, Action::View, None)?;
    let mut q = filtered(&access.org_id, filter);
    if let Some(seq) = after_seq {
        q = q.filter(audit_record::Column::Seq.lt(seq));
    }
    let mut records = q.order_by_desc(audit_record::Column::Seq).limit(first + 1).all(db).await?;
    let has_next_page = records.len() as u64 > first;
    records.truncate(first as usize);
    Ok(AuditPage { records, has_next_page })
}

/// The most records one CSV export returns.
pub const EXPORT_MAX: u64 = 100_000;

/// The trail as CSV, oldest first, with the chain hashes so the export can be
/// verified offline.
pub async fn export_csv<C: ConnectionTrait>(db: &C, access: &OrgAccess, filter: &AuditFilter) -> ServiceResult<String> {
    access.require(Workflow::ManageAccess, Action::View, None)?;
    let records =
        filtered(&access.org_id, filter).order_by_asc(audit_record::Column::Seq).limit(EXPORT_MAX).all(db).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "seq",
        "at",
        "actor_kind",
        "actor_id",
        "action",
        "target",
        "request_id",
        "before",
        "after",
        "prev_hash",
        "hash",
    ];
    w.write_record(header).map_err(ServiceError::internal)?;
    for r in records {
        let at = r.at.to_rfc3339_opts(SecondsFormat::Micros, true);
        let seq = r.seq.to_string();
        w.write_record([
            seq.as_str(),
            at.as_str(),
            &r.actor_kind,
            &r.actor_id,
            &r.action,
            r.target.as_deref().unwrap_or(""),
            r.request_id.as_deref().unwrap_or(""),
            r.before.as_deref().unwrap_or(""),
            r.after.as_deref().unwrap_or(""),
            &r.prev_hash,
            &r.hash,
        ])
        .map_err(ServiceError::internal)?;
    }
    let bytes = w.into_inner().map_err(ServiceError::internal)?;
    String::from_utf8(bytes).map_err(ServiceError::internal)
}

/// The outcome of re-checking a chain.
#[derive(Clone, Debug)]
pub struct Verification {
    pub valid: bool,
    pub records: i64,
    /// The first record whose hash or link does not match, if any.
    pub first_invalid_seq: Option<i64>,
}

/// Recomputes every hash of the organisation's chain and checks the links and
/// the head kept on the organisation. Requires VIEW on MANAGE_ACCESS.
pub async fn verify<C: ConnectionTrait>(db: &C, access: &OrgAccess) -> ServiceResult<Verification> {
    access.require(Workflow::ManageAccess, Action::View, None)?;
    let org = organization::Entity::find_by_id(&access.org_id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("organization"))?;
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 1;
    let mut pages = audit_record::Entity::find()
        .filter(audit_record::Column::OrgId.eq(&access.org_id))
        .order_by_asc(audit_record::Column::Seq)
        .paginate(db, 1000);
    while let Some(batch) = pages.fetch_and_next().await? {
        for r in batch {
            if r.seq != expected_seq || r.prev_hash != prev || compute_hash(&prev, &r) != r.hash {
                return Ok(Verification {
                    valid: false,
                    records: expected_seq - 1,
                    first_invalid_seq: Some(expected_seq),
                });
            }
            prev = r.hash;
            expected_seq += 1;
        }
    }
    let count = expected_seq - 1;
    if count != org.audit_seq || prev != org.audit_head {
        // Records were deleted from the end of the chain.
        return Ok(Verification { valid: false, records: count, first_invalid_seq: Some(expected_seq) });
    }
    Ok(Verification { valid: true, records: count, first_invalid_seq: None })
}

/// The audit records of one request, oldest first: for those who may read
/// the audit trail, within the caller's query window.
pub async fn for_request<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    request_id: &str,
) -> ServiceResult<Vec<audit_record::Model>> {
    access.require_audit_view()?;
    let mut q = audit_record::Entity::find()
        .filter(audit_record::Column::OrgId.eq(&access.org_id))
        .filter(audit_record::Column::RequestId.eq(request_id));
    let (start, end) = access.query_window();
    if let Some(t) = start {
        q = q.filter(audit_record::Column::At.gte(t));
    }
    if let Some(t) = end {
        q = q.filter(audit_record::Column::At.lt(t));
    }
    Ok(q.order_by_asc(audit_record::Column::Seq).all(db).await?)
}
