//! Root queries.

use super::mutation::WithdrawalInput;
use super::simulation::Simulation;
use super::types::{Asset, InvitationPreview, Member, Network, Organization, Permission, Request, ServiceUser, User};
use super::{ApiResult, authz, state};
use crate::authz::Actor;
use crate::domain;
use crate::service::operation::Operation;
use crate::service::{ServiceError, simulation};
use crate::service::{identity, invitations, ledger, membership, requests};
use async_graphql::{Context, ID, Json, Object};

pub struct QueryRoot;

/// The caller.
pub struct Viewer;

#[Object]
impl Viewer {
    /// The signed-in person; null for anonymous and operator callers.
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        match &authz(ctx).actor {
            Actor::User(u) => Ok(Some(User(identity::me(&state(ctx).db, u).await?))),
            _ => Ok(None),
        }
    }
    /// The calling service user, for signed API-key requests.
    async fn service_user(&self, ctx: &Context<'_>) -> ApiResult<Option<ServiceUser>> {
        match &authz(ctx).actor {
            // As read to authenticate this request (or this WebSocket).
            Actor::ServiceUser(su) => Ok(Some(ServiceUser((*su.service_user).clone()))),
            _ => Ok(None),
        }
    }
    /// Whether this session has proved a second factor.
    async fn two_factor_verified(&self, ctx: &Context<'_>) -> bool {
        matches!(&authz(ctx).actor, Actor::User(u) if u.two_factor_verified)
    }
    /// Unused recovery codes of the signed-in person (0 for other callers).
    async fn recovery_codes_remaining(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        match &authz(ctx).actor {
            Actor::User(u) => Ok(identity::recovery_codes_remaining(&state(ctx).db, u).await?),
            _ => Ok(0),
        }
    }
    /// Active memberships of the caller.
    async fn memberships(&self, ctx: &Context<'_>) -> ApiResult<Vec<Member>> {
        match &authz(ctx).actor {
            Actor::User(u) => Ok(membership::of_user(&state(ctx).db, u).await?.into_iter().map(Member).collect()),
            _ => Ok(Vec::new()),
        }
    }
    /// The caller's effective permissions in one organisation, resolved on the server.
    async fn permissions(&self, ctx: &Context<'_>, org_id: ID) -> ApiResult<Vec<Permission>> {
        let access = authz(ctx).org(&org_id).await?;
        Ok(access.permissions.iter().cloned().map(Permission::from).collect())
    }
}

impl QueryRoot {
    async fn simulate_op(&self, ctx: &Context<'_>, org_id: &ID, op: Operation) -> ApiResult<Simulation> {
        let st = state(ctx);
        let access = authz(ctx).org(org_id).await?;
        Ok(Simulation { sim: simulation::simulate(&st.engine(), &access, op).await?, access })
    }
}

#[Object]
impl QueryRoot {
    /// The caller, whoever they are (anonymous callers get an empty viewer).
    async fn viewer(&self) -> Viewer {
        Viewer
    }

    /// An organisation the caller is a member of; any other is `NOT_FOUND`.
    async fn organization(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Organization>> {
        let (access, row) = authz(ctx).org_and_row(&id).await?;
        Ok(Some(Organization { model: (*row).clone(), access }))
    }

    /// What an invitation link offers, for the page it opens: which
    /// organisation, as which roles, from whom, to which address, and whether
    /// it can still be accepted. Anyone holding the link may ask (it is
    /// already theirs); nothing else about the organisation is told.
    /// `NOT_FOUND` for a token that is no invitation's.
    async fn invitation_preview(&self, ctx: &Context<'_>, token: String) -> ApiResult<InvitationPreview> {
        let st = state(ctx);
        Ok(InvitationPreview(invitations::preview(&st.db, &token, st.clock.now()).await?))
    }

    /// Supported assets and their USD prices.
    async fn assets(&self, ctx: &Context<'_>) -> ApiResult<Vec<Asset>> {
        Ok(ledger::assets(&state(ctx).db).await?.into_iter().map(Asset).collect())
    }

    /// The networks addresses can be whitelisted on, each with the assets it
    /// carries and its address format (reference data, like `assets`).
    async fn networks(&self) -> Vec<Network> {
        domain::Network::ALL.iter().copied().map(Network).collect()
    }

    /// A request of an organisation the caller may view.
    async fn request(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Request>> {
        let db = &state(ctx).db;
        let access = requests::access_for(db, authz(ctx), &id).await?;
        Ok(Some(Request::new(requests::get(db, &access, &id).await?, &access)))
    }

    /// What `withdraw` would do now, writing nothing: refused (with every
    /// failing check and limit layer), completes at once, or waits for
    /// approvals from whom; and each limit layer's usage afterwards.
    async fn simulate_withdrawal(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        input: WithdrawalInput,
    ) -> ApiResult<Simulation> {
        self.simulate_op(ctx, &org_id, Operation::Withdraw(input.into())).await
    }

    /// What any governed operation would do now, writing nothing. The
    /// operation is its request payload, e.g.
    /// `{"operation": "INVITE_MEMBER", "email": "a@example.com", "roles": ["MAKER"]}`.
    async fn simulate(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        operation: Json<serde_json::Value>,
    ) -> ApiResult<Simulation> {
        // An operation that does not parse (unknown, a field missing, an
        // amount that is not plain decimal text in cents) is refused as a
        // typed mutation's input would be: BAD_INPUT, not a dry run's answer.
        let op: Operation =
            serde_json::from_value(operation.0).map_err(|e| ServiceError::BadInput(format!("operation: {e}")))?;
        self.simulate_op(ctx, &org_id, op).await
    }
}
