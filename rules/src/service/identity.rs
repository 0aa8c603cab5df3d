//! People and their sessions: sign-up, sign-in with throttling, TOTP, sign-out.
//!
//! Throttling reserves before it checks: an attempt first takes a slot in the
//! database (a `sign_in_failures` row, counted and written in one write
//! transaction under a per-key lock), and only then is the password or code
//! verified; a success gives its slot back. However many attempts race — in
//! one batch, in parallel requests, in several processes — at most the limit
//! are ever verified. TOTP secrets are sealed under the master key.

use super::{ServiceError, ServiceResult, is_unique_violation};
use crate::access::UserSession;
use crate::db;
use crate::keys::MasterKey;
use crate::secrets;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use chrono::{DateTime, Duration, Utc};
use domain::{DisplayName, Email, MemberStatus, Password, new_id};
use entity::{member, organization, recovery_code, session, sign_in_failure, user};
use sea_orm::sea_query::{Expr, IntoCondition};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use std::net::IpAddr;
use totp_rs::{Algorithm, Secret, TOTP};

/// Session and throttling settings (from `Config`).
#[derive(Clone, Debug)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub max_age: Duration,
    pub throttle_per_email: u64,
    pub throttle_per_ip: u64,
    pub throttle_window: Duration,
}

/// A new session: the bearer token (shown once) and the user.
pub struct SignedIn {
    pub token: String,
    pub user: user::Model,
}

/// Hashes a password with argon2id off the async runtime (it takes ~20 ms).
async fn hash_password(password: Password) -> ServiceResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ServiceError::internal)
    })
    .await
    .map_err(ServiceError::internal)?
}

/// Checks a password against a stored hash off the async runtime.
async fn verify_password(password: String, hash: String) -> ServiceResult<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(ServiceError::internal)?;
        Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .map_err(ServiceError::internal)?
}

/// A valid argon2id hash of a random string, verified against when the e-mail
/// is unknown so that response time does not reveal which e-mails exist.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(secrets::new_token().as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
});

async fn create_session<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
    verified: bool,
    now: DateTime<Utc>,
) -> ServiceResult<String> {
    let token = secrets::new_token();
    session::ActiveModel {
        id: Set(new_id()),
        token_hash: Set(secrets::digest(&token)),
        user_id: Set(user_id.to_string()),
        created_at: Set(now),
        last_used_at: Set(now),
        two_factor_verified: Set(verified),
        ended_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// Creates a user and signs them in (the session is not yet two-factor verified).
pub async fn sign_up<C: ConnectionTrait>(
    db: &C,
    email: &str,
    password: &str,
    name: &str,
    now: DateTime<Utc>,
) -> ServiceResult<SignedIn> {
    let email = Email::parse(email)?;
    let password = Password::parse(password)?;
    let name = DisplayName::parse("name", name)?;
    let hash = hash_password(password).await?;
    let user = user::ActiveModel {
        id: Set(new_id()),
        email: Set(email.as_str().to_string()),
        name: Set(name.into_inner()),
        password_hash: Set(hash),
        totp_secret: Set(None),
        totp_secret_sealed: Set(None),
        totp_enrolling_session_id: Set(None),
        totp_enabled_at: Set(None),
        totp_last_step: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            ServiceError::Conflict("an account with this e-mail already exists".into())
        } else {
            e.into()
        }
    })?;
    let token = create_session(db, &user.id, false, now).await?;
    Ok(SignedIn { token, user })
}

/// Failed TOTP codes tolerated per user within the throttle window, over
/// `confirmTotp` and `signIn` together: six digits fall to guessing otherwise.
pub const TOTP_FAILURES_PER_USER: u64 = 5;

/// The advisory-lock class throttle keys are locked under on PostgreSQL
/// ("thro" in ASCII); the key's `hashtext` is the object id.
const THROTTLE_LOCK_CLASS: i32 = 0x7468_726f;

/// One throttle a check is counted against: its key (`email:…`, `ip:…`,
/// `totp:<user id>`) and how many failures it tolerates.
struct Bucket<'a> {
    key: &'a str,
    limit: u64,
}

/// Slots taken by [`reserve`]: the rows that stand for this attempt.
struct Reserved(Vec<i64>);

/// Takes one attempt slot in every bucket, or refuses with `RATE_LIMITED`
/// when any bucket already holds `limit` failures within `window`.
///
/// The count and the insert are one write transaction under a lock per key
/// (SQLite: the write lock `begin_write` takes; PostgreSQL: an advisory
/// transaction lock per key, taken in key order, which holds across
/// processes), so concurrent attempts queue and the `limit + 1`-th sees the
/// slots of the ones before it. The slot is a failure until [`forgive`]n.
async fn reserve(
    db: &DatabaseConnection,
    buckets: &[Bucket<'_>],
    window: Duration,
    now: DateTime<Utc>,
) -> ServiceResult<Reserved> {
    let txn = db::begin_write(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        let mut keys: Vec<&str> = buckets.iter().map(|b| b.key).collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                [THROTTLE_LOCK_CLASS.into(), key.into()],
            ))
            .await?;
        }
    }
    let since = now - window;
    for bucket in buckets {
        let recent = sign_in_failure::Entity::find()
            .filter(sign_in_failure::Column::Key.eq(bucket.key))
            .filter(sign_in_failure::Column::At.gt(since))
            .order_by_asc(sign_in_failure::Column::At);
        if recent.clone().count(&*txn).await? >= bucket.limit {
            let oldest = recent.one(&*txn).await?.map(|f| f.at).unwrap_or(now);
            let retry_after_secs = (oldest + window - now).num_seconds().max(1);
            txn.rollback().await?;
            return Err(ServiceError::RateLimited { retry_after_secs });
        }
    }
    let mut ids = Vec::with_capacity(buckets.len());
    for bucket in buckets {
        let row = sign_in_failure::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            key: Set(bucket.key.to_string()),
            at: Set(now),
        };
        ids.push(sign_in_failure::Entity::insert(row).exec(&*txn).await?.last_insert_id);
    }
    // Old failures count for nothing; keep the table small.
    sign_in_failure::Entity::delete_many()
        .filter(sign_in_failure::Column::At.lt(now - Duration::days(1)))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(Reserved(ids))
}

/// Gives back the slots of an attempt that did not fail, and clears the
/// failures of `clear_keys` (a success wipes its e-mail's or user's slate).
async fn forgive<C: ConnectionTrait>(db: &C, slots: &[&Reserved], clear_keys: &[&str]) -> ServiceResult<()> {
    let ids: Vec<i64> = slots.iter().flat_map(|r| r.0.iter().copied()).collect();
    if !ids.is_empty() {
        sign_in_failure::Entity::delete_many().filter(sign_in_failure::Column::Id.is_in(ids)).exec(db).await?;
    }
    if !clear_keys.is_empty() {
        sign_in_failure::Entity::delete_many()
            .filter(sign_in_failure::Column::Key.is_in(clear_keys.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

fn totp_key(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// What proves the second factor at sign-in, once TOTP is enrolled.
#[derive(Clone, Copy, Debug)]
pub enum SecondFactor<'a> {
    /// A current code from the authenticator app.
    Totp(&'a str),
    /// One of the user's unused recovery codes; it is spent.
    RecoveryCode(&'a str),
}

/// Signs in with e-mail, password and, once enrolled, a TOTP code.
///
/// Wrong passwords are throttled per e-mail and per client IP, wrong codes
/// per user; while throttled even the right password or code is refused
/// (`RATE_LIMITED`), which is the point.
#[allow(clippy::too_many_arguments)]
pub async fn sign_in(
    db: &DatabaseConnection,
    key: &MasterKey,
    policy: &SessionPolicy,
    email: &str,
    password: &str,
    second: Option<SecondFactor<'_>>,
    ip: IpAddr,
    now: DateTime<Utc>,
) -> ServiceResult<SignedIn> {
    let invalid = || ServiceError::Unauthenticated("invalid e-mail or password".into());
    let email_key = format!("email:{}", email.trim().to_lowercase());
    let ip_key = format!("ip:{ip}");
    let password_slot = reserve(
        db,
        &[
            Bucket { key: &email_key, limit: policy.throttle_per_email },
            Bucket { key: &ip_key, limit: policy.throttle_per_ip },
        ],
        policy.throttle_window,
        now,
    )
    .await?;

    let found = match Email::parse(email) {
        Ok(e) => user::Entity::find().filter(user::Column::Email.eq(e.as_str())).one(db).await?,
        Err(_) => None,
    };
    let hash = found.as_ref().map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
    let password_ok = verify_password(password.to_string(), hash).await?;
    // A wrong password keeps its slot: it is a failure.
    let Some(user) = found.filter(|_| password_ok) else { return Err(invalid()) };

    let user_totp_key = totp_key(&user.id);
    let code_slot = if user.totp_enabled_at.is_some() {
        let Some(second) = second else {
            forgive(db, &[&password_slot], &[]).await?;
            return Err(ServiceError::TwoFactorRequired(
                "a TOTP code (or a recovery code) is required to sign in".into(),
            ));
        };
        let slot = match reserve(
            db,
            &[Bucket { key: &user_totp_key, limit: TOTP_FAILURES_PER_USER }],
            policy.throttle_window,
            now,
        )
        .await
        {
            Ok(slot) => slot,
            Err(e) => {
                forgive(db, &[&password_slot], &[]).await?;
                return Err(e);
            }
        };
        // A wrong code keeps both slots, as a wrong password would.
        let accepted = match second {
            SecondFactor::Totp(code) => accept_totp_code(db, key, &user, code, now).await?,
            SecondFactor::RecoveryCode(code) => use_recovery_code(db, &user.id, code, now).await?,
        };
        if !accepted {
            return Err(ServiceError::Unauthenticated(match second {
                SecondFactor::Totp(_) => "invalid or already used TOTP code".into(),
                SecondFactor::RecoveryCode(_) => "invalid or already used recovery code".into(),
            }));
        }
        Some(slot)
    } else {
        None
    };
    let txn = db::begin_write(db).await?;
    let slots: Vec<&Reserved> = std::iter::once(&password_slot).chain(code_slot.as_ref()).collect();
    // Only a verified code wipes the user's TOTP failures.
    let clear: &[&str] = if code_slot.is_some() { &[&email_key, &user_totp_key] } else { &[&email_key] };
    forgive(&*txn, &slots, clear).await?;
    let token = create_session(&*txn, &user.id, code_slot.is_some(), now).await?;
    txn.commit().await?;
    Ok(SignedIn { token, user })
}

/// Ends the calling session.
pub async fn sign_out<C: ConnectionTrait>(db: &C, who: &UserSession, now: DateTime<Utc>) -> ServiceResult<()> {
    session::Entity::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(now))
        .filter(session::Column::Id.eq(&who.session_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Resolves a bearer token to a live session, refreshing its last use.
/// Unknown, ended, idle or too old → `None`.
pub async fn authenticate<C: ConnectionTrait>(
    db: &C,
    policy: &SessionPolicy,
    token: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Option<UserSession>> {
    Ok(authenticate_with_orgs(db, policy, token, now).await?.map(|(session, _)| session))
}

/// Organisations whose rows [`authenticate_with_orgs`] reads with the
/// session, at most (a person in more has the others read when asked for).
pub const PRIMED_ORGS: u64 = 8;

/// [`authenticate`], and in the same query the rows of organisations the
/// user is an active member of (up to [`PRIMED_ORGS`]).
///
/// Why together: nearly every request of a member reads one of their
/// organisations' rows — its version validates the cached access and
/// limits (`crate::cache`), its idle timeout bounds the session — so a
/// session read costs one round trip instead of two. The rows are read in
/// the same statement as the session, before anything cached against them
/// is used, as the cache's fill order asks.
pub async fn authenticate_with_orgs<C: ConnectionTrait>(
    db: &C,
    policy: &SessionPolicy,
    token: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Option<(UserSession, Vec<organization::Model>)>> {
    use sea_orm::sea_query::ExprTrait;
    let to_member = session::Entity::belongs_to(member::Entity)
        .from(session::Column::UserId)
        .to(member::Column::UserId)
        .on_condition(|_, m| Expr::col((m, member::Column::Status)).eq(MemberStatus::Active).into_condition())
        .into();
    let to_org = member::Entity::belongs_to(organization::Entity)
        .from(member::Column::OrgId)
        .to(organization::Column::Id)
        .into();
    let rows: Vec<(session::Model, Option<organization::Model>)> = session::Entity::find()
        .filter(session::Column::TokenHash.eq(secrets::digest(token)))
        .join(JoinType::LeftJoin, to_member)
        .join(JoinType::LeftJoin, to_org)
        .select_also(organization::Entity)
        .limit(PRIMED_ORGS)
        .all(db)
        .await?;
    let Some(s) = rows.first().map(|(s, _)| s.clone()) else {
        return Ok(None);
    };
    if ended(&s, policy, now).is_some() {
        return Ok(None);
    }
    // Writing on every call would make each read a write; a few seconds of
    // slack in "last used" changes no expiry decision that matters.
    if now - s.last_used_at > Duration::seconds(5) {
        session::Entity::update_many()
            .col_expr(session::Column::LastUsedAt, Expr::value(now))
            .filter(session::Column::Id.eq(&s.id))
            .exec(db)
            .await?;
    }
    let orgs = rows.into_iter().filter_map(|(_, org)| org).collect();
    Ok(Some((user_session(s), orgs)))
}

/// Why session `s` no longer holds at `now`, if it does not: signed out,
/// older than the maximum age, or idle longer than the deployment allows.
pub(crate) fn ended(s: &session::Model, policy: &SessionPolicy, now: DateTime<Utc>) -> Option<&'static str> {
    if s.ended_at.is_some() {
        Some("signed out")
    } else if now - s.created_at > policy.max_age {
        Some("expired")
    } else if now - s.last_used_at > policy.idle {
        Some("expired (idle)")
    } else {
        None
    }
}

/// The caller a live session row stands for.
pub(crate) fn user_session(s: session::Model) -> UserSession {
    UserSession {
        user_id: s.user_id,
        session_id: s.id,
        two_factor_verified: s.two_factor_verified,
        last_used_at: s.last_used_at,
    }
}

const TOTP_STEP: u64 = 30;

fn totp_for(secret_b32: &str, account: &str) -> ServiceResult<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_string()).to_bytes().map_err(ServiceError::internal)?;
    TOTP::new(Algorithm::SHA1, 6, 1, TOTP_STEP, bytes, Some("Countersign".into()), account.to_string())
        .map_err(ServiceError::internal)
}

/// The context a user's TOTP secret is sealed under, binding it to its row.
fn totp_context(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// The user's TOTP secret in plain text: opened from the sealed column, or
/// taken from the legacy plain column and sealed there and then (the plain
/// column is cleared in the same statement).
async fn totp_secret<C: ConnectionTrait>(db: &C, key: &MasterKey, user: &user::Model) -> ServiceResult<Option<String>> {
    if let Some(sealed) = &user.totp_secret_sealed {
        let plain = key
            .open(&totp_context(&user.id), sealed)
            .ok_or_else(|| ServiceError::internal("a TOTP secret does not open under the master key"))?;
        return String::from_utf8(plain).map(Some).map_err(ServiceError::internal);
    }
    let Some(plain) = &user.totp_secret else { return Ok(None) };
    seal_plain_secret(db, key, &user.id, plain).await?;
    Ok(Some(plain.clone()))
}

/// Moves one plain secret to the sealed column. Conditional on the plain
/// value, so processes doing it at once agree and a newer enrolment wins.
async fn seal_plain_secret<C: ConnectionTrait>(
    db: &C,
    key: &MasterKey,
    user_id: &str,
    plain: &str,
) -> ServiceResult<()> {
    user::Entity::update_many()
        .col_expr(user::Column::TotpSecretSealed, Expr::value(key.seal(&totp_context(user_id), plain.as_bytes())))
        .col_expr(user::Column::TotpSecret, Expr::value(Option::<String>::None))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::TotpSecret.eq(plain))
        .exec(db)
        .await?;
    Ok(())
}

/// Seals every TOTP secret still stored in plain text (rows from before
/// migration `m0011_sealed_totp_secrets`, which cannot seal them: the master key is not in the
/// database). Run at start-up; returns how many rows it sealed.
pub async fn seal_plain_totp_secrets(db: &DatabaseConnection, key: &MasterKey) -> ServiceResult<usize> {
    let plain = user::Entity::find().filter(user::Column::TotpSecret.is_not_null()).all(db).await?;
    for u in &plain {
        if let Some(secret) = &u.totp_secret {
            seal_plain_secret(db, key, &u.id, secret).await?;
        }
    }
    Ok(plain.len())
}

/// Accepts `code` if it matches the current step (±1 for clock drift) and that
/// step is newer than the last accepted one. The conditional update makes a
/// code usable once even when two requests race with it (RFC 6238 §5.2).
async fn accept_totp_code<C: ConnectionTrait>(
    db: &C,
    key: &MasterKey,
    user: &user::Model,
    code: &str,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    let Some(secret) = totp_secret(db, key, user).await? else { return Ok(false) };
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(false);
    }
    let totp = totp_for(&secret, &user.email)?;
    let now_step = u64::try_from(now.timestamp()).unwrap_or(0) / TOTP_STEP;
    let matched = [now_step.saturating_sub(1), now_step, now_step + 1]
        .into_iter()
        .find(|step| secrets::constant_time_eq(totp.generate(step * TOTP_STEP).as_bytes(), code.as_bytes()));
    let Some(step) = matched else { return Ok(false) };
    let step = i64::try_from(step).map_err(ServiceError::internal)?;
    use sea_orm::sea_query::ExprTrait;
    let res = user::Entity::update_many()
        .col_expr(user::Column::TotpLastStep, Expr::value(step))
        .filter(user::Column::Id.eq(&user.id))
        .filter(user::Column::TotpLastStep.is_null().or(user::Column::TotpLastStep.lt(step)))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// A TOTP secret to put in an authenticator app.
pub struct Enrollment {
    pub secret: String,
    pub otpauth_url: String,
}

/// `text` (an `otpauth://` URL) as a QR code, an SVG document for the
/// console to show beside the secret written out.
pub fn qr_svg(text: &str) -> ServiceResult<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(ServiceError::internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

/// Starts (or restarts, until confirmed) TOTP enrolment on the calling
/// session, which alone may confirm it. The secret is stored sealed.
pub async fn enroll_totp<C: ConnectionTrait>(db: &C, key: &MasterKey, who: &UserSession) -> ServiceResult<Enrollment> {
    let user = user::Entity::find_by_id(&who.user_id).one(db).await?.ok_or(ServiceError::NotFound("user"))?;
    if user.totp_enabled_at.is_some() {
        return Err(ServiceError::Conflict("two-factor authentication is already enabled".into()));
    }
    let Secret::Encoded(secret) = Secret::generate_secret().to_encoded() else {
        return Err(ServiceError::internal("TOTP secret encoding"));
    };
    let otpauth_url = totp_for(&secret, &user.email)?.get_url();
    let mut active: user::ActiveModel = user.into();
    active.totp_secret = Set(None);
    active.totp_secret_sealed = Set(Some(key.seal(&totp_context(&who.user_id), secret.as_bytes())));
    active.totp_enrolling_session_id = Set(Some(who.session_id.clone()));
    active.update(db).await?;
    Ok(Enrollment { secret, otpauth_url })
}

/// Confirms enrolment with a first code on the session that enrolled; marks
/// it two-factor verified and ends the user's other sessions that are not
/// (a password alone opened them, and the password may be what leaked).
///
/// Wrong codes count against the user's TOTP throttle, shared with `signIn`.
pub async fn confirm_totp(
    db: &DatabaseConnection,
    key: &MasterKey,
    policy: &SessionPolicy,
    who: &UserSession,
    code: &str,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let check = |user: &user::Model| {
        if user.totp_enabled_at.is_some() {
            return Err(ServiceError::Conflict("two-factor authentication is already enabled".into()));
        }
        if user.totp_secret_sealed.is_none() && user.totp_secret.is_none() {
            return Err(ServiceError::Conflict("call enrollTotp first".into()));
        }
        if user.totp_enrolling_session_id.as_deref() != Some(who.session_id.as_str()) {
            return Err(ServiceError::Forbidden(
                "enrolment is confirmed on the session that called enrollTotp; call enrollTotp on this session".into(),
            ));
        }
        Ok(())
    };
    check(&user(db, &who.user_id).await?)?;
    let throttle_key = totp_key(&who.user_id);
    let slot =
        reserve(db, &[Bucket { key: &throttle_key, limit: TOTP_FAILURES_PER_USER }], policy.throttle_window, now)
            .await?;

    let txn = db::begin_write(db).await?;
    // Read again inside the transaction: enrolment may have restarted meanwhile.
    let user = user(&*txn, &who.user_id).await?;
    check(&user)?;
    if !accept_totp_code(&*txn, key, &user, code, now).await? {
        // The slot stays: a failure.
        txn.rollback().await?;
        return Err(ServiceError::BadInput("code: invalid or already used TOTP code".into()));
    }
    user::Entity::update_many()
        .col_expr(user::Column::TotpEnabledAt, Expr::value(now))
        .col_expr(user::Column::TotpEnrollingSessionId, Expr::value(Option::<String>::None))
        .filter(user::Column::Id.eq(&user.id))
        .exec(&*txn)
        .await?;
    session::Entity::update_many()
        .col_expr(session::Column::TwoFactorVerified, Expr::value(true))
        .filter(session::Column::Id.eq(&who.session_id))
        .exec(&*txn)
        .await?;
    session::Entity::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(now))
        .filter(session::Column::UserId.eq(&user.id))
        .filter(session::Column::Id.ne(&who.session_id))
        .filter(session::Column::TwoFactorVerified.eq(false))
        .filter(session::Column::EndedAt.is_null())
        .exec(&*txn)
        .await?;
    forgive(&*txn, &[&slot], &[&throttle_key]).await?;
    txn.commit().await?;
    Ok(())
}

/// Recovery codes issued at once; each signs in once.
pub const RECOVERY_CODES: usize = 10;
/// Letters and digits that cannot be mistaken for one another.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// How a typed recovery code is compared: case, spaces and dashes ignored.
fn recovery_digest(code: &str) -> String {
    let plain: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    secrets::digest(&plain)
}

/// Issues a fresh set of [`RECOVERY_CODES`] one-time codes (`xxxx-xxxx-xxxx`,
/// about 59 bits each), replacing any earlier set, and returns them: they
/// are shown once and only their digests are kept. Only a session that
/// proved two-factor may ask, so a stolen password cannot mint a way past
/// the authenticator.
pub async fn generate_recovery_codes(
    db: &DatabaseConnection,
    who: &UserSession,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<String>> {
    if !who.two_factor_verified {
        return Err(ServiceError::Forbidden("recovery codes are issued to a two-factor verified session".into()));
    }
    let codes: Vec<String> = {
        use rand::Rng;
        let mut rng = rand::rngs::OsRng;
        (0..RECOVERY_CODES)
            .map(|_| {
                let chars: String =
                    (0..12).map(|_| RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())] as char).collect();
                format!("{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..12])
            })
            .collect()
    };
    let txn = db::begin_write(db).await?;
    recovery_code::Entity::delete_many().filter(recovery_code::Column::UserId.eq(&who.user_id)).exec(&*txn).await?;
    for code in &codes {
        recovery_code::ActiveModel {
            id: Set(new_id()),
            user_id: Set(who.user_id.clone()),
            code_hash: Set(recovery_digest(code)),
            created_at: Set(now),
            used_at: Set(None),
        }
        .insert(&*txn)
        .await?;
    }
    txn.commit().await?;
    Ok(codes)
}

/// Spends one of the user's recovery codes: true if it was theirs and
/// unused. One conditional update, so two sign-ins racing with the same
/// code cannot both succeed.
async fn use_recovery_code<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
    code: &str,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    let spent = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::UsedAt, Expr::value(now))
        .filter(recovery_code::Column::UserId.eq(user_id))
        .filter(recovery_code::Column::CodeHash.eq(recovery_digest(code)))
        .filter(recovery_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(spent.rows_affected == 1)
}

/// How many of the signed-in person's recovery codes are still unused.
pub async fn recovery_codes_remaining<C: ConnectionTrait>(db: &C, who: &UserSession) -> ServiceResult<u64> {
    Ok(recovery_code::Entity::find()
        .filter(recovery_code::Column::UserId.eq(&who.user_id))
        .filter(recovery_code::Column::UsedAt.is_null())
        .count(db)
        .await?)
}

/// The signed-in person's own user row.
pub async fn me<C: ConnectionTrait>(db: &C, who: &UserSession) -> ServiceResult<user::Model> {
    user(db, &who.user_id).await
}

/// Loads a user by id, for the rules (an organisation's people are read
/// through [`super::membership::users`], which asks the caller's access).
pub(crate) async fn user<C: ConnectionTrait>(db: &C, id: &str) -> ServiceResult<user::Model> {
    user::Entity::find_by_id(id).one(db).await?.ok_or(ServiceError::NotFound("user"))
}
