//! Signed webhooks: an organisation's events POSTed to its endpoints.
//!
//! **Where events come from.** Every state change appends to its
//! organisation's audit trail in the same transaction, so the trail is the
//! outbox: an endpoint keeps the last audit sequence it has considered
//! (`cursor`), and [`enqueue_events`] turns the records after it into one
//! delivery row per event the endpoint subscribes to. Nothing that committed
//! can be missed, and nothing that rolled back is sent.
//!
//! **Delivery.** At least once, in the [Standard Webhooks] format: the
//! headers `webhook-id` (the event's id, the same on every attempt),
//! `webhook-timestamp` (Unix seconds) and `webhook-signature`
//! (`v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`, keyed with the
//! endpoint's secret, `whsec_` + base64, shown once). A worker takes a due
//! delivery under a lease ([`SendPolicy::lease`]), so a worker that dies mid-send leaves
//! it to another once the lease runs out; a 2xx marks it delivered, and a
//! delivered event is never sent to that endpoint again. Failures retry with
//! exponential backoff ([`backoff`]) up to [`MAX_ATTEMPTS`], then the
//! delivery is FAILED until someone calls `redeliverWebhook`.
//!
//! Payloads are thin (what happened, to what, by which kind of actor): a
//! receiver reads the details through the API with its own credentials.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

use super::audit::{self, AuditActor, Entry};
use super::types::{Applied, NewSecret, SecretOf};
use super::{ServiceError, ServiceResult};
use crate::access::OrgAccess;
use crate::db::begin_write;
use crate::keys::MasterKey;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use domain::{Action, RecordStatus, WebhookDeliveryStatus, WebhookEvent, WebhookUrl, Workflow, new_id};
use entity::{audit_record, organization, webhook_delivery, webhook_endpoint};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use sha2::Sha256;
use workers::WebhookSender;

/// Attempts before a delivery is FAILED (about 21 minutes of retries).
pub const MAX_ATTEMPTS: i32 = 8;
/// Deliveries one run sends at most; the rest wait for the next second.
const PER_RUN: u64 = 50;
/// Audit records one run turns into deliveries per endpoint at most.
const RECORDS_PER_RUN: u64 = 500;
/// How long a settled delivery (DELIVERED or FAILED) stays in the log; the
/// audit trail keeps the change itself for good.
pub const LOG_RETENTION_DAYS: i64 = 30;

/// The wait after failed attempt `n` (1-based): 10 s, 20 s, 40 s, … 640 s.
pub fn backoff(attempts: i32) -> Duration {
    Duration::seconds(10 << attempts.clamp(1, MAX_ATTEMPTS).saturating_sub(1))
}

/// The context an endpoint's secret is sealed under, binding it to its row.
fn context(endpoint_id: &str) -> String {
    format!("webhook:{endpoint_id}")
}

/// Event kinds as stored: distinct, in a fixed order.
fn events_text(events: &[WebhookEvent]) -> ServiceResult<String> {
    let mut names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return Err(ServiceError::BadInput("events: choose at least one of REQUEST, BALANCE_ALERT, PERMISSION".into()));
    }
    Ok(names.join(","))
}

/// The kinds an endpoint stored as [`events_text`].
pub fn events_of(e: &webhook_endpoint::Model) -> Vec<WebhookEvent> {
    e.events.split(',').filter_map(|n| WebhookEvent::parse(n).ok()).collect()
}

/// Checks an endpoint to add (when it is requested and again when applied).
pub(crate) fn check_new(url: &str, events: &[WebhookEvent]) -> ServiceResult<()> {
    // Whether plain http:// to loopback is allowed is the deployment's
    // setting, checked by the API before the request is made and by the
    // worker before every send; here the URL must at least be one of those.
    WebhookUrl::parse(url, true)?;
    events_text(events)?;
    Ok(())
}

/// Applies `ADD_WEBHOOK_ENDPOINT`: the endpoint, its sealed secret (shown
/// once), and a cursor at the organisation's present, so it receives events
/// from now on.
pub(crate) async fn add<C: ConnectionTrait>(
    db: &C,
    key: &MasterKey,
    org_id: &str,
    url: &str,
    events: &[WebhookEvent],
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    let url = WebhookUrl::parse(url, true)?;
    let events = events_text(events)?;
    let org = organization::Entity::find_by_id(org_id).one(db).await?.ok_or(ServiceError::NotFound("organization"))?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("whsec_{}", STANDARD.encode(bytes));
    let id = new_id();
    webhook_endpoint::ActiveModel {
        id: Set(id.clone()),
        org_id: Set(org_id.to_string()),
        url: Set(url.as_str().to_string()),
        events: Set(events.clone()),
        secret_sealed: Set(key.seal(&context(&id), secret.as_bytes())),
        claim_request_id: Set(None),
        secret_claimed: Set(false),
        status: Set(RecordStatus::Active),
        cursor: Set(org.audit_seq),
        created_at: Set(now),
        removed_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(Applied {
        target: Some(id.clone()),
        after: Some(json!({"url": url.as_str(), "events": events})),
        secret: Some(NewSecret { of: SecretOf::WebhookEndpoint, key_id: id, secret }),
        ..Applied::default()
    })
}

/// An active endpoint of `org_id` (`NOT_FOUND` otherwise, another
/// organisation's included).
pub(crate) async fn find_active<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    endpoint_id: &str,
) -> ServiceResult<webhook_endpoint::Model> {
    webhook_endpoint::Entity::find_by_id(endpoint_id)
        .filter(webhook_endpoint::Column::OrgId.eq(org_id))
        .filter(webhook_endpoint::Column::Status.eq(RecordStatus::Active))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("webhook endpoint"))
}

/// Applies `REMOVE_WEBHOOK_ENDPOINT`: no event is sent to it after this.
pub(crate) async fn remove<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    endpoint_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    let e = find_active(db, org_id, endpoint_id).await?;
    let before = json!({"url": e.url, "events": e.events});
    let mut a: webhook_endpoint::ActiveModel = e.into();
    a.status = Set(RecordStatus::Removed);
    a.removed_at = Set(Some(now));
    a.update(db).await?;
    // What was still to be sent never will be; the log says why.
    webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::Status, Expr::value(WebhookDeliveryStatus::Failed))
        .col_expr(webhook_delivery::Column::LastError, Expr::value("the endpoint was removed"))
        .col_expr(webhook_delivery::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
        .filter(
            webhook_delivery::Column::Status.is_in([WebhookDeliveryStatus::Pending, WebhookDeliveryStatus::Sending]),
        )
        .exec(db)
        .await?;
    Ok(Applied { target: Some(endpoint_id.to_string()), before: Some(before), ..Applied::default() })
}

/// Records which request issued an endpoint's secret, and whether it was shown already.
pub(crate) async fn attach_claim<C: ConnectionTrait>(
    db: &C,
    endpoint_id: &str,
    request_id: &str,
    shown: bool,
) -> ServiceResult<()> {
    webhook_endpoint::Entity::update_many()
        .col_expr(webhook_endpoint::Column::ClaimRequestId, Expr::value(request_id))
        .col_expr(webhook_endpoint::Column::SecretClaimed, Expr::value(shown))
        .filter(webhook_endpoint::Column::Id.eq(endpoint_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Reveals, once, the signing secret of the endpoint a completed request of
/// the caller's added; the reveal and its audit record commit together.
pub async fn claim_secret(
    db: &DatabaseConnection,
    key: &MasterKey,
    access: &OrgAccess,
    request_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<NewSecret> {
    let txn = begin_write(db).await?;
    super::request_rows::find_own(&*txn, access, request_id).await?;
    let e = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::ClaimRequestId.eq(request_id))
        .filter(webhook_endpoint::Column::OrgId.eq(&access.org_id))
        .one(&*txn)
        .await?
        .ok_or_else(|| ServiceError::Conflict("this request has no webhook secret to claim (yet)".into()))?;
    let res = webhook_endpoint::Entity::update_many()
        .col_expr(webhook_endpoint::Column::SecretClaimed, Expr::value(true))
        .filter(webhook_endpoint::Column::Id.eq(&e.id))
        .filter(webhook_endpoint::Column::SecretClaimed.eq(false))
        .exec(&*txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(ServiceError::Conflict("the secret was already shown; add a new endpoint for a new one".into()));
    }
    let secret = open_secret(key, &e)?;
    audit::append(
        &*txn,
        Entry {
            org_id: &access.org_id,
            actor: AuditActor::of(access),
            action: "WEBHOOK_SECRET_CLAIMED",
            target: Some(e.id.clone()),
            before: None,
            after: None,
            request_id: Some(request_id.to_string()),
        },
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(NewSecret { of: SecretOf::WebhookEndpoint, key_id: e.id, secret })
}

fn open_secret(key: &MasterKey, e: &webhook_endpoint::Model) -> ServiceResult<String> {
    let plain = key
        .open(&context(&e.id), &e.secret_sealed)
        .ok_or_else(|| ServiceError::internal("cannot open sealed secret"))?;
    String::from_utf8(plain).map_err(ServiceError::internal)
}

/// The organisation's active endpoints (VIEW on MANAGE_ACCESS).
pub async fn list<C: ConnectionTrait>(db: &C, access: &OrgAccess) -> ServiceResult<Vec<webhook_endpoint::Model>> {
    access.require(Workflow::ManageAccess, Action::View, None)?;
    Ok(webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::OrgId.eq(&access.org_id))
        .filter(webhook_endpoint::Column::Status.eq(RecordStatus::Active))
        .order_by_asc(webhook_endpoint::Column::CreatedAt)
        .all(db)
        .await?)
}

/// The delivery log, newest first: every endpoint's, or one's (VIEW on MANAGE_ACCESS).
pub async fn deliveries<C: ConnectionTrait>(
    db: &C,
    access: &OrgAccess,
    endpoint_id: Option<&str>,
    first: u64,
) -> ServiceResult<Vec<webhook_delivery::Model>> {
    access.require(Workflow::ManageAccess, Action::View, None)?;
    let mut q = webhook_delivery::Entity::find().filter(webhook_delivery::Column::OrgId.eq(&access.org_id));
    if let Some(e) = endpoint_id {
        q = q.filter(webhook_delivery::Column::EndpointId.eq(e));
    }
    Ok(q.order_by_desc(webhook_delivery::Column::CreatedAt)
        .order_by_desc(webhook_delivery::Column::EventId)
        .limit(first)
        .all(db)
        .await?)
}

/// Queues a delivery again now (INITIATE on MANAGE_ACCESS): a FAILED one,
/// or a PENDING one waiting for its retry. A DELIVERED event is never sent
/// again (`CONFLICT`); neither is one of a removed endpoint.
pub async fn redeliver(
    db: &DatabaseConnection,
    access: &OrgAccess,
    delivery_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<webhook_delivery::Model> {
    access.require(Workflow::ManageAccess, Action::Initiate, None)?;
    let txn = begin_write(db).await?;
    let d = webhook_delivery::Entity::find_by_id(delivery_id)
        .filter(webhook_delivery::Column::OrgId.eq(&access.org_id))
        .one(&*txn)
        .await?
        .ok_or(ServiceError::NotFound("webhook delivery"))?;
    find_active(&*txn, &access.org_id, &d.endpoint_id).await?;
    match d.status {
        WebhookDeliveryStatus::Delivered => {
            return Err(ServiceError::Conflict("this event was delivered; it is not sent twice".into()));
        }
        WebhookDeliveryStatus::Sending => {
            return Err(ServiceError::Conflict("this delivery is being attempted now".into()));
        }
        WebhookDeliveryStatus::Pending | WebhookDeliveryStatus::Failed => {}
    }
    let before = d.status;
    let res = webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::Status, Expr::value(WebhookDeliveryStatus::Pending))
        .col_expr(webhook_delivery::Column::Attempts, Expr::value(0))
        .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
        .filter(webhook_delivery::Column::Id.eq(&d.id))
        .filter(webhook_delivery::Column::Status.eq(before))
        .exec(&*txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(ServiceError::Conflict("the delivery changed meanwhile; look again".into()));
    }
    audit::append(
        &*txn,
        Entry {
            org_id: &access.org_id,
            actor: AuditActor::of(access),
            action: "WEBHOOK_REDELIVERED",
            target: Some(d.id.clone()),
            before: Some(json!({"status": before.as_str(), "attempts": d.attempts})),
            after: Some(json!({"status": "PENDING", "eventId": d.event_id})),
            request_id: None,
        },
        now,
    )
    .await?;
    txn.commit().await?;
    webhook_delivery::Entity::find_by_id(delivery_id).one(db).await?.ok_or(ServiceError::NotFound("webhook delivery"))
}

/// Which event an audit record is, if any: the kinds of subscription that
/// receive it, and its type. A permission change made by a request is both
/// a permission change and that request's completion.
fn event_of(r: &audit_record::Model) -> Option<(&'static [WebhookEvent], String)> {
    const PERMISSION: &[&str] = &[
        "SET_MEMBER_ROLES",
        "GRANT_PERMISSION",
        "REVOKE_PERMISSION",
        "REMOVE_MEMBER",
        "INVITATION_ACCEPTED",
        "DELEGATE_APPROVAL",
        "REVOKE_DELEGATION",
        "CREATE_SERVICE_USER",
        "CREATE_API_KEY",
        "UPDATE_API_KEY",
        "ROTATE_API_KEY",
        "REVOKE_API_KEY",
        "REMOVE_SERVICE_USER",
    ];
    const REQUEST: &[WebhookEvent] = &[WebhookEvent::Request];
    let a = r.action.as_str();
    if a == "BALANCE_ALERT_CHANGED" {
        Some((&[WebhookEvent::BalanceAlert], "balance_alert.changed".into()))
    } else if PERMISSION.contains(&a) {
        let kinds: &[WebhookEvent] = if r.request_id.is_some() {
            &[WebhookEvent::Permission, WebhookEvent::Request]
        } else {
            &[WebhookEvent::Permission]
        };
        Some((kinds, "permission.changed".into()))
    } else if let Some(what) = a.strip_prefix("REQUEST_") {
        Some((REQUEST, format!("request.{}", what.to_lowercase())))
    } else if let Some(what) = a.strip_prefix("WITHDRAWAL_") {
        Some((REQUEST, format!("withdrawal.{}", what.to_lowercase())))
    } else if r.request_id.is_some() && !a.ends_with("_CLAIMED") {
        // A governed operation applied: its request completed.
        Some((REQUEST, "request.completed".into()))
    } else {
        None
    }
}

/// The body sent for an event: what happened, to what, by which kind of actor.
fn payload(r: &audit_record::Model, event_type: &str) -> String {
    json!({
        "type": event_type,
        "timestamp": r.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": {
            "organizationId": r.org_id,
            "sequence": r.seq,
            "action": r.action,
            "target": r.target,
            "requestId": r.request_id,
            "actorKind": r.actor_kind.as_str(),
        }
    })
    .to_string()
}

/// System entry point (the job runtime): turns every active endpoint's new
/// audit records into deliveries, advancing its cursor in the same
/// transaction. Idempotent: an event is one row per endpoint (unique).
pub async fn enqueue_events(db: &DatabaseConnection, now: DateTime<Utc>) -> ServiceResult<u64> {
    // One indexed look for every endpoint: most have nothing new most seconds.
    let behind = Expr::cust(
        "webhook_endpoints.cursor < (SELECT o.audit_seq FROM organizations o WHERE o.id = webhook_endpoints.org_id)",
    );
    let endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Status.eq(RecordStatus::Active))
        .filter(behind)
        .all(db)
        .await?;
    let mut queued = 0;
    for e in endpoints {
        tracing::debug!(endpoint = %e.id, cursor = e.cursor, "an endpoint has audit records to consider");
        let txn = begin_write(db).await?;
        let records = audit_record::Entity::find()
            .filter(audit_record::Column::OrgId.eq(&e.org_id))
            .filter(audit_record::Column::Seq.gt(e.cursor))
            .order_by_asc(audit_record::Column::Seq)
            .limit(RECORDS_PER_RUN)
            .all(&*txn)
            .await?;
        let Some(last) = records.last().map(|r| r.seq) else { continue };
        let wanted = events_of(&e);
        let rows: Vec<webhook_delivery::ActiveModel> = records
            .iter()
            .filter_map(|r| {
                event_of(r).filter(|(kinds, _)| kinds.iter().any(|k| wanted.contains(k))).map(|(_, t)| (r, t))
            })
            .map(|(r, event_type)| webhook_delivery::ActiveModel {
                id: Set(new_id()),
                endpoint_id: Set(e.id.clone()),
                org_id: Set(e.org_id.clone()),
                event_id: Set(format!("evt_{}", r.id)),
                payload: Set(payload(r, &event_type)),
                event_type: Set(event_type),
                status: Set(WebhookDeliveryStatus::Pending),
                attempts: Set(0),
                last_status_code: Set(None),
                last_error: Set(None),
                next_attempt_at: Set(now),
                lease_until: Set(None),
                delivered_at: Set(None),
                created_at: Set(now),
            })
            .collect();
        tracing::debug!(endpoint = %e.id, records = records.len(), deliveries = rows.len(), last, "queueing webhook deliveries");
        queued += rows.len() as u64;
        if !rows.is_empty() {
            webhook_delivery::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([webhook_delivery::Column::EndpointId, webhook_delivery::Column::EventId])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&*txn)
                .await?;
        }
        // Conditional on the cursor read: a process that got here first
        // already queued these (the unique key made ours no-ops).
        webhook_endpoint::Entity::update_many()
            .col_expr(webhook_endpoint::Column::Cursor, Expr::value(last))
            .filter(webhook_endpoint::Column::Id.eq(&e.id))
            .filter(webhook_endpoint::Column::Cursor.lt(last))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
    }
    Ok(queued)
}

/// System entry point (the daily job): drops settled deliveries older than
/// [`LOG_RETENTION_DAYS`], so the log stays bounded. An event is not queued
/// again once its row is gone: its endpoint's cursor has passed it.
pub async fn prune(db: &DatabaseConnection, now: DateTime<Utc>) -> ServiceResult<u64> {
    let settled = [WebhookDeliveryStatus::Delivered, WebhookDeliveryStatus::Failed];
    let res = webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::Status.is_in(settled))
        .filter(webhook_delivery::Column::CreatedAt.lt(now - Duration::days(LOG_RETENTION_DAYS)))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// What the deployment allows a delivery.
#[derive(Clone, Copy, Debug)]
pub struct SendPolicy {
    /// Plain `http://` to a loopback host (`COUNTERSIGN_WEBHOOKS_ALLOW_HTTP_LOOPBACK`).
    pub allow_http_loopback: bool,
    /// How long one attempt may be in flight before another worker may take
    /// it over (`COUNTERSIGN_WEBHOOK_LEASE_SECS`).
    pub lease: Duration,
}

/// The Standard Webhooks signature header value for one attempt.
pub fn signature(secret: &str, event_id: &str, timestamp: i64, body: &str) -> ServiceResult<String> {
    let key = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD.decode(key).map_err(ServiceError::internal)?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).map_err(ServiceError::internal)?;
    mac.update(format!("{event_id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// Deliveries due at `at`: waiting for an attempt whose time has come, or
/// being sent by a worker whose lease ran out (it died or hung).
fn due_at(at: DateTime<Utc>) -> Condition {
    let waiting = Condition::all()
        .add(webhook_delivery::Column::Status.eq(WebhookDeliveryStatus::Pending))
        .add(webhook_delivery::Column::NextAttemptAt.lte(at));
    let lapsed = Condition::all()
        .add(webhook_delivery::Column::Status.eq(WebhookDeliveryStatus::Sending))
        .add(webhook_delivery::Column::LeaseUntil.lt(at));
    Condition::any().add(waiting).add(lapsed)
}

/// Whether any delivery is due at `now` (a cheap look before a run).
pub async fn has_due(db: &DatabaseConnection, now: DateTime<Utc>) -> ServiceResult<bool> {
    Ok(webhook_delivery::Entity::find().filter(due_at(now)).limit(1).one(db).await?.is_some())
}

/// Takes `d` for one attempt if it is still due (or its lease ran out):
/// whether this caller got it.
async fn take(
    db: &DatabaseConnection,
    d: &webhook_delivery::Model,
    lease: Duration,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    use sea_orm::sea_query::ExprTrait;
    let res = webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::Status, Expr::value(WebhookDeliveryStatus::Sending))
        .col_expr(webhook_delivery::Column::LeaseUntil, Expr::value(now + lease))
        .col_expr(webhook_delivery::Column::Attempts, Expr::col(webhook_delivery::Column::Attempts).add(1))
        .filter(webhook_delivery::Column::Id.eq(&d.id))
        .filter(webhook_delivery::Column::Attempts.eq(d.attempts))
        .filter(due_at(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Records one attempt's outcome, if this attempt still holds the lease.
async fn settle(
    db: &DatabaseConnection,
    d: &webhook_delivery::Model,
    attempts: i32,
    outcome: &workers::webhook_sender::Attempt,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let (code, error) = match outcome {
        Ok(code) => (Some(i32::from(*code)), None),
        Err(e) => (None, Some(e.chars().take(500).collect::<String>())),
    };
    let delivered = code.is_some_and(|c| (200..300).contains(&c));
    let (status, next) = if delivered {
        (WebhookDeliveryStatus::Delivered, now)
    } else if attempts >= MAX_ATTEMPTS {
        (WebhookDeliveryStatus::Failed, now)
    } else {
        (WebhookDeliveryStatus::Pending, now + backoff(attempts))
    };
    let error = error.or_else(|| code.filter(|_| !delivered).map(|c| format!("the endpoint answered HTTP {c}")));
    webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::Status, Expr::value(status))
        .col_expr(webhook_delivery::Column::LastStatusCode, Expr::value(code))
        .col_expr(webhook_delivery::Column::LastError, Expr::value(error))
        .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(next))
        .col_expr(webhook_delivery::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(webhook_delivery::Column::DeliveredAt, Expr::value(delivered.then_some(now)))
        .filter(webhook_delivery::Column::Id.eq(&d.id))
        .filter(webhook_delivery::Column::Status.eq(WebhookDeliveryStatus::Sending))
        .filter(webhook_delivery::Column::Attempts.eq(attempts))
        .exec(db)
        .await?;
    Ok(())
}

/// Attempts sent at once by one run (a slow endpoint holds up only its own).
const SENDING_AT_ONCE: usize = 16;

/// System entry point (the job runtime): sends every due delivery (up to
/// [`PER_RUN`], [`SENDING_AT_ONCE`] at a time) and records each outcome;
/// returns how many were delivered.
pub async fn deliver_due(
    db: &DatabaseConnection,
    key: &MasterKey,
    sender: &WebhookSender,
    policy: SendPolicy,
    now: impl Fn() -> DateTime<Utc>,
) -> ServiceResult<u64> {
    use futures_util::{StreamExt, TryStreamExt};
    let candidates = webhook_delivery::Entity::find()
        .filter(due_at(now()))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .limit(PER_RUN)
        .all(db)
        .await?;
    let now = &now;
    futures_util::stream::iter(candidates)
        .map(|d| attempt(db, key, sender, policy, d, now))
        .buffer_unordered(SENDING_AT_ONCE)
        .try_fold(0, |n, delivered| async move { Ok(n + u64::from(delivered)) })
        .await
}

/// One attempt of `d`, if this worker gets it: whether it was delivered.
async fn attempt(
    db: &DatabaseConnection,
    key: &MasterKey,
    sender: &WebhookSender,
    policy: SendPolicy,
    d: webhook_delivery::Model,
    now: &impl Fn() -> DateTime<Utc>,
) -> ServiceResult<bool> {
    let at = now();
    let Some(e) = webhook_endpoint::Entity::find_by_id(&d.endpoint_id)
        .filter(webhook_endpoint::Column::Status.eq(RecordStatus::Active))
        .one(db)
        .await?
    else {
        return Ok(false); // removed meanwhile: nothing more is sent to it
    };
    if !take(db, &d, policy.lease, at).await? {
        return Ok(false); // another worker has it
    }
    let attempts = d.attempts + 1;
    let outcome = match WebhookUrl::parse(&e.url, policy.allow_http_loopback) {
        Err(refused) => Err(format!("not sent: {refused}")),
        Ok(url) => {
            let timestamp = at.timestamp();
            // A secret that cannot be opened is this attempt's failure, recorded
            // like any other, so the delivery still ends FAILED rather than
            // being taken again and again.
            match open_secret(key, &e).and_then(|secret| signature(&secret, &d.event_id, timestamp, &d.payload)) {
                Err(why) => Err(format!("not sent: cannot sign ({why})")),
                Ok(signed) => {
                    let headers = [
                        ("webhook-id", d.event_id.clone()),
                        ("webhook-timestamp", timestamp.to_string()),
                        ("webhook-signature", signed),
                    ];
                    sender.post(url.as_str(), &headers, d.payload.clone()).await
                }
            }
        }
    };
    let delivered = matches!(outcome, Ok(c) if (200..300).contains(&c));
    if !delivered {
        tracing::info!(delivery = %d.id, endpoint = %e.id, attempts, ?outcome, "a webhook attempt failed");
    }
    settle(db, &d, attempts, &outcome, now()).await?;
    Ok(delivered)
}

#[cfg(test)]
mod tests {
    use super::{backoff, signature};

    #[test]
    fn backoff_doubles_from_ten_seconds() {
        let secs: Vec<i64> = (1..=8).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 320, 640, 1280]);
    }

    /// The example from the Standard Webhooks specification's test vectors.
    #[test]
    fn signs_as_standard_webhooks_does() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let sig = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
