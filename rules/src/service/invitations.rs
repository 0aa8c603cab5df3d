//! Invitations: issuing one-time links and accepting them. The e-mail goes
//! through the [`delivery`](super::delivery) engine, exactly once per issue of
//! a link as far as the database can tell: a re-issued link is a new message,
//! and the old one's attempt no longer settles the row.

use super::audit::{self, AuditActor, Entry};
use super::types::Applied;
use super::{ServiceError, ServiceResult, identity, names};
use crate::access::{OrgAccess, UserSession};
use crate::db::begin_write;
use crate::keys::MasterKey;
use crate::secrets;
use chrono::{DateTime, Duration, Utc};
use domain::{Action, DeliveryStatus, Email, InvitationState, MemberStatus, Role, RoleSet, Workflow, new_id};
use entity::{invitation, member, organization};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::json;
use workers::{DeliverInvitation, MailJob};

/// How long a link stays valid (SPEC §3).
pub const VALIDITY: Duration = Duration::days(7);
use super::delivery::{DeliveryEnv, Outbox, delivery_columns};

const TOKEN_PURPOSE: &str = "countersign/invitation";

fn token_for(key: &MasterKey, id: &str, nonce: &str) -> String {
    key.derive_token(TOKEN_PURPOSE, &[id, nonce])
}

/// The invitation as its audit record shows it (never the token).
fn summary(inv: &invitation::Model) -> serde_json::Value {
    json!({"invitationId": inv.id, "email": inv.email, "roles": inv.roles, "expiresAt": inv.expires_at})
}

/// Creates an invitation, or replaces the link of a pending one for the same
/// e-mail (the old link stops working). Runs inside the request's transaction.
pub(crate) async fn invite<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    invited_by: &str,
    email: &Email,
    roles: &RoleSet,
    key: &MasterKey,
    now: DateTime<Utc>,
) -> ServiceResult<Applied> {
    check_invite(db, org_id, email).await?;
    let nonce = secrets::new_token();
    let existing = invitation::Entity::find()
        .filter(invitation::Column::OrgId.eq(org_id))
        .filter(invitation::Column::Email.eq(email.as_str()))
        .filter(invitation::Column::Status.eq(InvitationState::Pending))
        .one(db)
        .await?;
    let (inv, before) = match existing {
        Some(old) => {
            let before = summary(&old);
            let token = token_for(key, &old.id, &nonce);
            let mut a: invitation::ActiveModel = old.into();
            a.roles = Set(roles.to_stored());
            a.invited_by = Set(invited_by.to_string());
            a.token_nonce = Set(nonce);
            a.token_hash = Set(secrets::digest(&token));
            a.expires_at = Set(now + VALIDITY);
            a.delivery_status = Set(DeliveryStatus::Queued);
            a.delivery_attempts = Set(0);
            a.next_attempt_at = Set(now);
            a.delivery_claimed_at = Set(None);
            a.last_error = Set(None);
            a.sent_at = Set(None);
            (a.update(db).await?, Some(before))
        }
        None => {
            let id = new_id();
            let token = token_for(key, &id, &nonce);
            let inv = invitation::ActiveModel {
                id: Set(id),
                org_id: Set(org_id.to_string()),
                email: Set(email.as_str().to_string()),
                roles: Set(roles.to_stored()),
                invited_by: Set(invited_by.to_string()),
                token_nonce: Set(nonce),
                token_hash: Set(secrets::digest(&token)),
                status: Set(InvitationState::Pending),
                expires_at: Set(now + VALIDITY),
                created_at: Set(now),
                accepted_at: Set(None),
                delivery_status: Set(DeliveryStatus::Queued),
                delivery_attempts: Set(0),
                next_attempt_at: Set(now),
                delivery_claimed_at: Set(None),
                last_error: Set(None),
                sent_at: Set(None),
            }
            .insert(db)
            .await?;
            (inv, None)
        }
    };
    Ok(Applied {
        target: Some(inv.id.clone()),
        before,
        after: Some(summary(&inv)),
        jobs: vec![MailJob::Invitation(DeliverInvitation { invitation_id: inv.id })],
        secret: None,
        alert_changed: false,
    })
}

/// `CONFLICT` when the e-mail already belongs to an active member.
pub(crate) async fn check_invite<C: ConnectionTrait>(db: &C, org_id: &str, email: &Email) -> ServiceResult<()> {
    let user = entity::user::Entity::find().filter(entity::user::Column::Email.eq(email.as_str())).one(db).await?;
    if let Some(u) = user {
        let active = member::Entity::find()
            .filter(member::Column::OrgId.eq(org_id))
            .filter(member::Column::UserId.eq(&u.id))
            .filter(member::Column::Status.eq(MemberStatus::Active))
            .one(db)
            .await?;
        if active.is_some() {
            return Err(ServiceError::Conflict(format!("{email} is already a member")));
        }
    }
    Ok(())
}

/// Revokes a pending invitation; its link stops working at once.
pub(crate) async fn revoke<C: ConnectionTrait>(db: &C, org_id: &str, invitation_id: &str) -> ServiceResult<Applied> {
    let inv = find_pending(db, org_id, invitation_id).await?;
    let before = summary(&inv);
    let mut a: invitation::ActiveModel = inv.into();
    a.status = Set(InvitationState::Revoked);
    let inv = a.update(db).await?;
    Ok(Applied {
        target: Some(inv.id.clone()),
        before: Some(before),
        after: Some(json!({"status": inv.status})),
        jobs: vec![],
        secret: None,
        alert_changed: false,
    })
}

/// A pending invitation of the organisation; else `NOT_FOUND`.
pub(crate) async fn find_pending<C: ConnectionTrait>(
    db: &C,
    org_id: &str,
    id: &str,
) -> ServiceResult<invitation::Model> {
    invitation::Entity::find_by_id(id)
        .filter(invitation::Column::OrgId.eq(org_id))
        .filter(invitation::Column::Status.eq(InvitationState::Pending))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("invitation"))
}

/// Invitations of the organisation, newest first (VIEW on MANAGE_ACCESS).
pub async fn list<C: ConnectionTrait>(db: &C, access: &OrgAccess) -> ServiceResult<Vec<invitation::Model>> {
    access.require(Workflow::ManageAccess, Action::View, None)?;
    Ok(invitation::Entity::find()
        .filter(invitation::Column::OrgId.eq(&access.org_id))
        .order_by_desc(invitation::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Accepts an invitation: the signed-in user whose e-mail it names becomes an
/// active member with the invited roles. One transaction, audited.
/// The invitation an e-mailed link's token belongs to (`NOT_FOUND` if none).
async fn by_token<C: ConnectionTrait>(db: &C, token: &str) -> ServiceResult<invitation::Model> {
    invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(secrets::digest(token.trim())))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("invitation"))
}

/// What an invitation link offers, as its page shows it before anyone signs in.
pub struct Preview {
    pub organization_name: String,
    pub email: String,
    pub roles: RoleSet,
    pub invited_by_name: String,
    pub invited_by_email: String,
    /// As stored; with `expires_at` and `now` it says whether it can be accepted.
    pub status: InvitationState,
    pub expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// The invitation a token belongs to, for its link's page. The token is the
/// capability: whoever holds it was sent it, and learns only what the e-mail
/// already told them.
pub async fn preview<C: ConnectionTrait>(db: &C, token: &str, now: DateTime<Utc>) -> ServiceResult<Preview> {
    let inv = by_token(db, token).await?;
    let org =
        organization::Entity::find_by_id(&inv.org_id).one(db).await?.ok_or(ServiceError::NotFound("invitation"))?;
    let inviter = identity::user(db, &inv.invited_by).await?;
    Ok(Preview {
        organization_name: org.name,
        email: inv.email,
        roles: RoleSet::from_stored(&inv.roles).map_err(ServiceError::internal)?,
        invited_by_name: names::person(&inviter),
        invited_by_email: inviter.email,
        status: inv.status,
        expires_at: inv.expires_at,
        now,
    })
}

pub async fn accept(
    db: &DatabaseConnection,
    who: &UserSession,
    token: &str,
    now: DateTime<Utc>,
) -> ServiceResult<member::Model> {
    let txn = begin_write(db).await?;
    let inv = by_token(&txn, token).await?;
    match inv.status {
        InvitationState::Accepted => {
            return Err(ServiceError::Conflict("this invitation has already been used".into()));
        }
        InvitationState::Revoked => return Err(ServiceError::Conflict("this invitation was revoked".into())),
        _ => {}
    }
    if now > inv.expires_at {
        return Err(ServiceError::Conflict("this invitation has expired; ask for a new one".into()));
    }
    let user = identity::user(&txn, &who.user_id).await?;
    if user.email != inv.email {
        return Err(ServiceError::Forbidden("this invitation was sent to another e-mail address".into()));
    }
    let roles = RoleSet::from_stored(&inv.roles).map_err(ServiceError::internal)?;
    let existing = member::Entity::find()
        .filter(member::Column::OrgId.eq(&inv.org_id))
        .filter(member::Column::UserId.eq(&user.id))
        .one(&txn)
        .await?;
    let m = match existing {
        Some(m) if m.status == MemberStatus::Active => {
            return Err(ServiceError::Conflict("you are already a member".into()));
        }
        Some(m) => {
            let mut a: member::ActiveModel = m.into();
            a.roles = Set(roles.to_stored());
            a.status = Set(MemberStatus::Active);
            a.removed_at = Set(None);
            a.update(&txn).await?
        }
        None => {
            member::ActiveModel {
                id: Set(new_id()),
                org_id: Set(inv.org_id.clone()),
                user_id: Set(user.id.clone()),
                roles: Set(roles.to_stored()),
                is_owner: Set(false),
                status: Set(MemberStatus::Active),
                created_at: Set(now),
                removed_at: Set(None),
                approval_notices: Set(true),
            }
            .insert(&txn)
            .await?
        }
    };
    // The conditional update makes a link usable once even under races.
    let res = invitation::Entity::update_many()
        .col_expr(invitation::Column::Status, Expr::value(InvitationState::Accepted))
        .col_expr(invitation::Column::AcceptedAt, Expr::value(now))
        .filter(invitation::Column::Id.eq(&inv.id))
        .filter(invitation::Column::Status.eq(InvitationState::Pending))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(ServiceError::Conflict("this invitation has already been used".into()));
    }
    audit::append(
        &txn,
        Entry {
            org_id: &inv.org_id,
            actor: AuditActor::user(&user.id),
            action: "INVITATION_ACCEPTED",
            target: Some(m.id.clone()),
            before: None,
            after: Some(json!({"memberId": m.id, "invitationId": inv.id, "roles": m.roles})),
            request_id: None,
        },
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(m)
}

impl Outbox for invitation::Entity {
    const KIND: &'static str = "invitation";

    delivery_columns!(invitation);

    /// A link that was accepted or revoked is not sent.
    fn deliverable() -> Condition {
        Condition::all().add(invitation::Column::Status.eq(InvitationState::Pending))
    }

    fn attempts(inv: &invitation::Model) -> i32 {
        inv.delivery_attempts
    }

    /// Re-issuing a link makes a new message: an attempt of the old one no
    /// longer settles the row.
    fn same_issue(inv: &invitation::Model) -> Condition {
        Condition::all().add(invitation::Column::TokenNonce.eq(&inv.token_nonce))
    }

    async fn compose<C: ConnectionTrait>(
        db: &C,
        env: &DeliveryEnv<'_>,
        inv: &invitation::Model,
    ) -> ServiceResult<(lettre::Message, String)> {
        let message = compose(db, env, inv).await?;
        Ok((message, format!("invitation-{}-{}", inv.id, &inv.token_nonce[..8])))
    }
}

/// The invitation e-mail: who invited whom to what, and the link.
async fn compose<C: ConnectionTrait>(
    db: &C,
    env: &DeliveryEnv<'_>,
    inv: &invitation::Model,
) -> ServiceResult<lettre::Message> {
    use lettre::message::{Mailbox, MultiPart};
    let org =
        organization::Entity::find_by_id(&inv.org_id).one(db).await?.ok_or(ServiceError::NotFound("organization"))?;
    let inviter = identity::user(db, &inv.invited_by).await?;
    let roles: Vec<&str> =
        RoleSet::from_stored(&inv.roles).map_err(ServiceError::internal)?.iter().map(Role::as_str).collect();
    let link = format!("{}/invite/{}", env.public_url, token_for(env.key, &inv.id, &inv.token_nonce));
    let expires = inv.expires_at.format("%Y-%m-%d %H:%M UTC");
    let text = format!(
        "{inviter} ({inviter_email}) invited you to join {org} on Countersign as {roles}.\n\n\
         Accept the invitation:\n{link}\n\n\
         The link works once and expires on {expires}. If you did not expect this, ignore this e-mail.\n",
        inviter = inviter.name,
        inviter_email = inviter.email,
        org = org.name,
        roles = roles.join(", "),
    );
    let html = format!(
        "<p>{inviter} ({inviter_email}) invited you to join <strong>{org}</strong> on Countersign as {roles}.</p>\
         <p><a href=\"{link}\">Accept the invitation</a></p>\
         <p>The link works once and expires on {expires}. If you did not expect this, ignore this e-mail.</p>",
        inviter = html_escape(&inviter.name),
        inviter_email = html_escape(&inviter.email),
        org = html_escape(&org.name),
        roles = roles.join(", "),
        link = html_escape(&link),
    );
    let from: Mailbox = env.mail_from.parse().map_err(|e| ServiceError::internal(format!("mail_from: {e}")))?;
    let to: Mailbox = inv.email.parse().map_err(|e| ServiceError::internal(format!("recipient: {e}")))?;
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(format!("You are invited to join {} on Countersign", org.name))
        .message_id(Some(format!("<invitation-{}-{}@countersign>", inv.id, &inv.token_nonce[..16])))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(ServiceError::internal)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
