//! People and their sessions: sign-up, sign-in with throttling, TOTP, sign-out.

use super::{ServiceError, ServiceResult, is_unique_violation};
use crate::authz::UserSession;
use crate::domain::{DisplayName, Email, Password, new_id};
use crate::secrets;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use chrono::{DateTime, Duration, Utc};
use entity::{session, sign_in_failure, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
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

/// Refuses with `RATE_LIMITED` when `key` has too many recent failures.
async fn check_throttle<C: ConnectionTrait>(
    db: &C,
    key: &str,
    limit: u64,
    window: Duration,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let since = now - window;
    let recent = sign_in_failure::Entity::find()
        .filter(sign_in_failure::Column::Key.eq(key))
        .filter(sign_in_failure::Column::At.gt(since))
        .order_by_asc(sign_in_failure::Column::At);
    if recent.clone().count(db).await? >= limit {
        let oldest = recent.one(db).await?.map(|f| f.at).unwrap_or(now);
        let retry_after_secs = (oldest + window - now).num_seconds().max(1);
        return Err(ServiceError::RateLimited { retry_after_secs });
    }
    Ok(())
}

async fn record_failure<C: ConnectionTrait>(db: &C, keys: &[&str], now: DateTime<Utc>) -> ServiceResult<()> {
    for key in keys {
        sign_in_failure::ActiveModel { id: sea_orm::ActiveValue::NotSet, key: Set(key.to_string()), at: Set(now) }
            .insert(db)
            .await?;
    }
    // Old failures count for nothing; keep the table small.
    sign_in_failure::Entity::delete_many()
        .filter(sign_in_failure::Column::At.lt(now - Duration::days(1)))
        .exec(db)
        .await?;
    Ok(())
}

/// Signs in with e-mail, password and, once enrolled, a TOTP code.
///
/// Wrong passwords are throttled per e-mail and per client IP; while throttled
/// even the right password is refused (`RATE_LIMITED`), which is the point.
pub async fn sign_in<C: ConnectionTrait>(
    db: &C,
    policy: &SessionPolicy,
    email: &str,
    password: &str,
    totp: Option<&str>,
    ip: IpAddr,
    now: DateTime<Utc>,
) -> ServiceResult<SignedIn> {
    let invalid = || ServiceError::Unauthenticated("invalid e-mail or password".into());
    let email_key = format!("email:{}", email.trim().to_lowercase());
    let ip_key = format!("ip:{ip}");
    check_throttle(db, &email_key, policy.throttle_per_email, policy.throttle_window, now).await?;
    check_throttle(db, &ip_key, policy.throttle_per_ip, policy.throttle_window, now).await?;

    let found = match Email::parse(email) {
        Ok(e) => user::Entity::find().filter(user::Column::Email.eq(e.as_str())).one(db).await?,
        Err(_) => None,
    };
    let hash = found.as_ref().map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
    let password_ok = verify_password(password.to_string(), hash).await?;
    let Some(user) = found.filter(|_| password_ok) else {
        record_failure(db, &[&email_key, &ip_key], now).await?;
        return Err(invalid());
    };

    let verified = if user.totp_enabled_at.is_some() {
        let Some(code) = totp else {
            return Err(ServiceError::TwoFactorRequired("a TOTP code is required to sign in".into()));
        };
        if !accept_totp_code(db, &user, code, now).await? {
            record_failure(db, &[&email_key, &ip_key], now).await?;
            return Err(ServiceError::Unauthenticated("invalid or already used TOTP code".into()));
        }
        true
    } else {
        false
    };
    sign_in_failure::Entity::delete_many().filter(sign_in_failure::Column::Key.eq(&email_key)).exec(db).await?;
    let token = create_session(db, &user.id, verified, now).await?;
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
    let Some(s) = session::Entity::find().filter(session::Column::TokenHash.eq(secrets::digest(token))).one(db).await?
    else {
        return Ok(None);
    };
    if s.ended_at.is_some() || now - s.created_at > policy.max_age || now - s.last_used_at > policy.idle {
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
    Ok(Some(UserSession {
        user_id: s.user_id,
        session_id: s.id,
        two_factor_verified: s.two_factor_verified,
        last_used_at: s.last_used_at,
    }))
}

const TOTP_STEP: u64 = 30;

fn totp_for(secret_b32: &str, account: &str) -> ServiceResult<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_string()).to_bytes().map_err(ServiceError::internal)?;
    TOTP::new(Algorithm::SHA1, 6, 1, TOTP_STEP, bytes, Some("Countersign".into()), account.to_string())
        .map_err(ServiceError::internal)
}

/// Accepts `code` if it matches the current step (±1 for clock drift) and that
/// step is newer than the last accepted one. The conditional update makes a
/// code usable once even when two requests race with it (RFC 6238 §5.2).
async fn accept_totp_code<C: ConnectionTrait>(
    db: &C,
    user: &user::Model,
    code: &str,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    let Some(secret) = &user.totp_secret else { return Ok(false) };
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(false);
    }
    let totp = totp_for(secret, &user.email)?;
    let now_step = u64::try_from(now.timestamp()).unwrap_or(0) / TOTP_STEP;
    let matched = [now_step.saturating_sub(1), now_step, now_step + 1]
        .into_iter()
        .find(|step| secrets::constant_time_eq(totp.generate(step * TOTP_STEP).as_bytes(), code.as_bytes()));
    let Some(step) = matched else { return Ok(false) };
    let step = step as i64;
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

/// Starts (or restarts, until confirmed) TOTP enrolment.
pub async fn enroll_totp<C: ConnectionTrait>(db: &C, who: &UserSession) -> ServiceResult<Enrollment> {
    let user = user::Entity::find_by_id(&who.user_id).one(db).await?.ok_or(ServiceError::NotFound("user"))?;
    if user.totp_enabled_at.is_some() {
        return Err(ServiceError::Conflict("two-factor authentication is already enabled".into()));
    }
    let Secret::Encoded(secret) = Secret::generate_secret().to_encoded() else {
        return Err(ServiceError::internal("TOTP secret encoding"));
    };
    let otpauth_url = totp_for(&secret, &user.email)?.get_url();
    let mut active: user::ActiveModel = user.into();
    active.totp_secret = Set(Some(secret.clone()));
    active.update(db).await?;
    Ok(Enrollment { secret, otpauth_url })
}

/// Confirms enrolment with a first code; marks this session two-factor verified.
pub async fn confirm_totp<C: ConnectionTrait>(
    db: &C,
    who: &UserSession,
    code: &str,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let user = user::Entity::find_by_id(&who.user_id).one(db).await?.ok_or(ServiceError::NotFound("user"))?;
    if user.totp_secret.is_none() {
        return Err(ServiceError::Conflict("call enrollTotp first".into()));
    }
    if !accept_totp_code(db, &user, code, now).await? {
        return Err(ServiceError::BadInput("code: invalid or already used TOTP code".into()));
    }
    if user.totp_enabled_at.is_none() {
        user::Entity::update_many()
            .col_expr(user::Column::TotpEnabledAt, Expr::value(now))
            .filter(user::Column::Id.eq(&user.id))
            .exec(db)
            .await?;
    }
    session::Entity::update_many()
        .col_expr(session::Column::TwoFactorVerified, Expr::value(true))
        .filter(session::Column::Id.eq(&who.session_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Loads a user by id.
pub async fn user<C: ConnectionTrait>(db: &C, id: &str) -> ServiceResult<user::Model> {
    user::Entity::find_by_id(id).one(db).await?.ok_or(ServiceError::NotFound("user"))
}

/// Loads users by id in one query, in the order of `ids`; any missing → `NOT_FOUND`.
pub async fn users<C: ConnectionTrait>(db: &C, ids: &[String]) -> ServiceResult<Vec<user::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found: std::collections::HashMap<String, user::Model> = user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().map(String::as_str)))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    ids.iter().map(|id| found.get(id).cloned().ok_or(ServiceError::NotFound("user"))).collect()
}
