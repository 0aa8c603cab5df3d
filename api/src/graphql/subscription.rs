//! Root subscriptions (graphql-transport-ws on `/graphql/ws`).

use super::types::{BalanceAlert, Request, RequestEvent};
use super::{ApiError, authz, state_arc};
use crate::authz::{Actor, resolve, service_user_access};
use crate::domain::{Action, Workflow};
use crate::service::{balance_alerts, requests};
use async_graphql::{Context, ID, Subscription};
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Each change of the organisation's balance alert state (members only).
    async fn balance_alert_changed(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
    ) -> Result<impl Stream<Item = BalanceAlert> + use<>, ApiError> {
        let st = state_arc(ctx);
        let access = authz(ctx).org(&org_id).await?;
        let actor = authz(ctx).actor.clone();
        let org_id = access.org_id.clone();
        let rx = st.bus.subscribe_alerts();
        Ok(BroadcastStream::new(rx).filter_map(move |msg| {
            let (st, actor, org_id) = (st.clone(), actor.clone(), org_id.clone());
            async move {
                if msg.ok()? != org_id {
                    return None;
                }
                // Still a member? (Removal stops the stream's events at once.)
                if let Actor::User(u) = &actor {
                    resolve(&st.db, &org_id, &u.user_id).await.ok()?;
                }
                balance_alerts::get(&st.db, &org_id).await.ok().map(BalanceAlert::from)
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
    ) -> Result<impl Stream<Item = RequestEvent> + use<>, ApiError> {
        let st = state_arc(ctx);
        let access = authz(ctx).org(&org_id).await?;
        let actor = authz(ctx).actor.clone();
        let org_id = access.org_id.clone();
        let rx = st.bus.subscribe();
        Ok(BroadcastStream::new(rx).filter_map(move |msg| {
            let (st, actor, org_id) = (st.clone(), actor.clone(), org_id.clone());
            async move {
                let msg = msg.ok()?;
                if msg.org_id != org_id {
                    return None;
                }
                let access = match &actor {
                    Actor::User(u) => resolve(&st.db, &org_id, &u.user_id).await.ok()?,
                    Actor::ServiceUser(su) => service_user_access(su, &org_id).ok()?,
                    _ => return None,
                };
                let wf = Workflow::parse(&msg.workflow).ok()?;
                if !access.allows(wf, Action::View, None) {
                    return None;
                }
                let req = requests::find_in_org(&st.db, &org_id, &msg.request_id).await.ok()?;
                Some(RequestEvent { request: Request(req), kind: msg.kind })
            }
        }))
    }
}
