//! Root subscriptions (graphql-transport-ws on `/graphql/ws`).
//!
//! A subscriber that falls so far behind that the bus drops events for it
//! (a slow or stalled client) gets one error and the end of its stream
//! instead of a silent gap: a treasury console that missed an approval would
//! show a wrong queue, one that is told can re-read and subscribe again.

use super::types::{BalanceAlert, Request, RequestEvent};
use super::{ApiError, authz, state_arc};
use crate::events::{AlertEventView, EventView};
use crate::service::{ServiceError, balance_alerts, requests};
use crate::state::AppState;
use crate::ws::{Watching, WsConnection};
use async_graphql::{Context, ID, Subscription};
use futures_util::{Stream, StreamExt, future};
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// The bus's messages for one subscriber, ending after an error if the
/// subscriber lagged and messages were dropped.
fn ending_when_behind<T: Clone + Send + 'static>(
    rx: broadcast::Receiver<T>,
) -> impl Stream<Item = Result<T, ApiError>> {
    BroadcastStream::new(rx).scan(false, |ended, msg| {
        if *ended {
            return future::ready(None);
        }
        future::ready(Some(msg.map_err(|BroadcastStreamRecvError::Lagged(missed)| {
            *ended = true;
            tracing::warn!(missed, "a subscriber fell behind; ending its subscription");
            ApiError(ServiceError::Conflict(format!(
                "this subscription fell {missed} events behind and was ended; re-read and subscribe again"
            )))
        })))
    })
}

/// [`requests::event_view`], read once per event for all of this process's subscribers.
async fn event_view(st: &AppState, msg: &crate::events::RequestEventMsg) -> Option<Arc<EventView>> {
    requests::event_view(&st.db, msg, st.clock.now()).await.ok().map(Arc::new)
}

/// [`balance_alerts::event_view`], read once per change for all of this process's subscribers.
async fn alert_view(st: &AppState, org_id: &str) -> Option<Arc<AlertEventView>> {
    balance_alerts::event_view(&st.db, org_id, st.clock.now()).await.ok().map(Arc::new)
}

/// On a WebSocket, the subscriber's access to `org_id` is re-checked for as
/// long as the subscription lives, and the socket closed when it ends
/// (see [`crate::ws`]). Called once the subscription receives from the bus,
/// so the registration it signals means events published from now on reach it.
fn watch(ctx: &Context<'_>, org_id: &str) -> Option<Watching> {
    ctx.data_opt::<Arc<WsConnection>>().map(|c| c.watch(org_id))
}

pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Each change of the organisation's balance alert state (members only).
    async fn balance_alert_changed(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
    ) -> Result<impl Stream<Item = Result<BalanceAlert, ApiError>> + use<>, ApiError> {
        let st = state_arc(ctx);
        let access = authz(ctx).org(&org_id).await?;
        access.require_funds_view()?;
        let actor = authz(ctx).actor.clone();
        let org_id = access.org_id.clone();
        let rx = st.bus.subscribe_alerts();
        let watching = watch(ctx, &org_id);
        Ok(ending_when_behind(rx).filter_map(move |delivered| {
            let _held = &watching;
            let (st, actor, org_id) = (st.clone(), actor.clone(), org_id.clone());
            async move {
                let delivered = match delivered {
                    Ok(d) => d,
                    Err(e) => return Some(Err(e)),
                };
                if delivered.org_id != org_id {
                    return None;
                }
                // Read once per event for all of this process's subscribers;
                // a member removed since subscribing is not in it.
                let view = delivered.view.get_or_init(|| alert_view(&st, &org_id)).await.clone()?;
                balance_alerts::event_for(&view, &actor, &org_id).map(|a| Ok(BalanceAlert::from(a)))
            }
        }))
    }

    /// Every creation and status change of the organisation's requests whose
    /// workflow the subscriber may VIEW. Access is re-checked for each event,
    /// so a member who is removed or loses VIEW stops receiving at once.
    async fn request_events(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
    ) -> Result<impl Stream<Item = Result<RequestEvent, ApiError>> + use<>, ApiError> {
        let st = state_arc(ctx);
        let access = authz(ctx).org(&org_id).await?;
        let actor = authz(ctx).actor.clone();
        let org_id = access.org_id.clone();
        let rx = st.bus.subscribe();
        let watching = watch(ctx, &org_id);
        Ok(ending_when_behind(rx).filter_map(move |delivered| {
            let _held = &watching;
            let (st, actor, org_id) = (st.clone(), actor.clone(), org_id.clone());
            async move {
                let delivered = match delivered {
                    Ok(d) => d,
                    Err(e) => return Some(Err(e)),
                };
                let msg = &delivered.msg;
                if msg.org_id != org_id {
                    return None;
                }
                // Read once per event for all of this process's subscribers.
                let view = delivered.view.get_or_init(|| event_view(&st, msg)).await.clone()?;
                let (request, access) = requests::event_for(&view, &actor)?;
                Some(Ok(RequestEvent { request: Request::new(request, &access), kind: msg.kind.clone() }))
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_and_ended() {
        let (tx, rx) = broadcast::channel(2);
        let mut stream = Box::pin(ending_when_behind(rx));
        tx.send(1).unwrap();
        assert_eq!(stream.next().await.map(|r| r.ok()), Some(Some(1)));
        for n in 2..=6 {
            tx.send(n).unwrap();
        }
        assert!(matches!(stream.next().await, Some(Err(_))), "the gap is reported");
        assert!(stream.next().await.is_none(), "and the stream ends");
    }
}
