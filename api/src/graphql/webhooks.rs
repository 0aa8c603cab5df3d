//! Webhook endpoints and their delivery log, as GraphQL types (the rules are
//! `rules::service::webhooks`).

use super::{ApiResult, list_complexity, state};
use crate::authz::OrgAccess;
use crate::domain::{WebhookDeliveryStatus, WebhookEvent};
use crate::service::webhooks;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{webhook_delivery, webhook_endpoint};
use std::sync::Arc;

/// The most deliveries one page shows.
pub const MAX_DELIVERIES: i32 = 200;

/// A newly added endpoint's signing secret (`whsec_…`), shown once.
#[derive(SimpleObject)]
pub struct NewWebhookSecret {
    pub endpoint_id: ID,
    pub secret: String,
}

/// Where the organisation's events of the chosen kinds are POSTed, signed.
pub struct WebhookEndpoint {
    pub model: webhook_endpoint::Model,
    pub access: Arc<OrgAccess>,
}

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }
    async fn url(&self) -> &str {
        &self.model.url
    }
    async fn events(&self) -> Vec<WebhookEvent> {
        webhooks::events_of(&self.model)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// This endpoint's deliveries, newest first.
    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50, validator(minimum = 1, maximum = 200))] first: i32,
    ) -> ApiResult<Vec<WebhookDelivery>> {
        deliveries(ctx, &self.access, Some(&self.model.id), first).await
    }
}

/// One event's delivery to one endpoint.
pub struct WebhookDelivery(pub webhook_delivery::Model);

#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn endpoint_id(&self) -> ID {
        ID(self.0.endpoint_id.clone())
    }
    /// The `webhook-id` header: the same on every attempt of this event.
    async fn event_id(&self) -> &str {
        &self.0.event_id
    }
    /// `request.created`, `permission.changed`, `balance_alert.changed`, …
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    async fn status(&self) -> WebhookDeliveryStatus {
        self.0.status
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// The status code of the last answer, if the endpoint answered.
    async fn last_status_code(&self) -> Option<i32> {
        self.0.last_status_code
    }
    /// Why the last attempt failed (a transport error or the status code).
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// When the next attempt is due (while `PENDING`).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == WebhookDeliveryStatus::Pending).then_some(self.0.next_attempt_at)
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The JSON body, exactly as sent on every attempt.
    async fn payload(&self) -> &str {
        &self.0.payload
    }
}

/// The organisation's active endpoints.
pub async fn endpoints(ctx: &Context<'_>, access: &Arc<OrgAccess>) -> ApiResult<Vec<WebhookEndpoint>> {
    let list = webhooks::list(&state(ctx).db, access).await?;
    Ok(list.into_iter().map(|model| WebhookEndpoint { model, access: access.clone() }).collect())
}

/// The delivery log, newest first: every endpoint's, or one's.
pub async fn deliveries(
    ctx: &Context<'_>,
    access: &OrgAccess,
    endpoint_id: Option<&str>,
    first: i32,
) -> ApiResult<Vec<WebhookDelivery>> {
    let first = u64::try_from(first.clamp(1, MAX_DELIVERIES)).unwrap_or(1);
    let rows = webhooks::deliveries(&state(ctx).db, access, endpoint_id, first).await?;
    Ok(rows.into_iter().map(WebhookDelivery).collect())
}
