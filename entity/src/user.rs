//! A person who signs in with e-mail, password and TOTP.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Lower-cased, unique.
    #[sea_orm(unique)]
    pub email: String,
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Legacy: a base32 TOTP secret in plain text, as stored before secrets
    /// were sealed. The application seals any such row at start-up (and on
    /// first use) and clears this column; nothing writes it any more.
    pub totp_secret: Option<String>,
    /// The base32 TOTP secret sealed under the master key (context
    /// `totp:<user id>`); set by `enrollTotp`, active once `totp_enabled_at` is set.
    pub totp_secret_sealed: Option<String>,
    /// The session that called `enrollTotp`: only it may confirm the enrolment.
    pub totp_enrolling_session_id: Option<String>,
    pub totp_enabled_at: Option<DateTimeUtc>,
    /// Highest accepted TOTP time step: a code is accepted once (RFC 6238 §5.2).
    pub totp_last_step: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
