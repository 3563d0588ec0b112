//! Who a person is here: local users with passwords, the policy that binds a third-party
//! account to a user or registers a new one, linking and unlinking, and admin actions.
//! Each rule runs on a database connection the caller provides (inside a transaction).

mod linking;
mod manage;
pub mod offboarding;
mod password;
pub mod throttle;

pub use crate::domain::SignupPolicy;
pub use linking::{LinkOutcome, PhoneMatch, sign_in_with_provider};
pub use manage::{
    AdminAction, apply_admin_action, create_provider_only_user, end_all_sessions, link_to_user,
    new_password_hash, unlink,
};
pub use password::{PasswordError, hash_password, verify_password};
pub use throttle::LoginThrottle;

use crate::db::models::{NewUser, ROLE_ADMIN, ROLE_USER, now};

/// The rows this service's callers see: a user, and a provider account linked to one.
pub use crate::db::models::{LinkedAccount, User};
use crate::db::{DbConn, DbError, users};
use crate::domain::{Phone, ProviderKind};

#[derive(thiserror::Error)]
pub enum AccountError {
    #[error("the username `{0}` is already taken")]
    UsernameTaken(String),
    #[error("the phone number {0} already belongs to another user")]
    PhoneTaken(String),
    #[error("invalid username: {0}")]
    InvalidUsername(&'static str),
    #[error("invalid name: at most 64 characters, no control characters")]
    InvalidName,
    #[error("`{0}` is not a phone number")]
    InvalidPhone(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("this account is deactivated")]
    Inactive,
    #[error("an admin needs a password (admins are never bound to a provider by phone)")]
    AdminNeedsPassword,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("no such user or linked account")]
    NotFound,
    #[error("this {0} account already belongs to another user")]
    LinkedElsewhere(ProviderKind),
    /// `SIGNUP=bind-only` and nobody here matches the provider's identity.
    #[error("registration is closed: an administrator must create this user first")]
    SignupClosed,
    /// The provider's phone number belongs to an account that can already log in.
    #[error("an account with this phone number exists; its owner must sign in to link")]
    PhoneOwned,
    #[error("a {0} account is already linked; unlink it first")]
    AlreadyLinked(ProviderKind),
    #[error("this is the user's only way to log in; set a password first")]
    LastLoginMethod,
    #[error("you cannot deactivate yourself or remove your own admin role")]
    SelfLockout,
    #[error(transparent)]
    Db(#[from] DbError),
}

crate::report::debug_as_chain!(AccountError);

impl From<diesel::result::Error> for AccountError {
    fn from(error: diesel::result::Error) -> Self {
        AccountError::Db(DbError::Query(error))
    }
}

/// Checks a password against a user found by name (or none). Unknown users, users without
/// a password and wrong passwords all cost one argon2 verification and give the same answer.
/// CPU-bound: callers run it on the password-check threads.
pub fn check_password(user: Option<User>, password: &str) -> Result<User, AccountError> {
    let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
    if !verify_password(stored, password) {
        return Err(AccountError::BadCredentials);
    }
    let user = user.ok_or(AccountError::BadCredentials)?;
    if !user.is_active {
        return Err(AccountError::Inactive);
    }
    Ok(user)
}

pub struct NewLocalUser {
    pub username: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// `None`: a provider-only user, who signs in the first time through a provider whose
    /// phone number matches (an admin vouches for the number by creating them).
    pub password: Option<String>,
    pub admin: bool,
}

pub fn validate_username(username: &str) -> Result<(), AccountError> {
    if username.is_empty() {
        return Err(AccountError::InvalidUsername("it is empty"));
    }
    if username.chars().count() > 64 {
        return Err(AccountError::InvalidUsername(
            "it is longer than 64 characters",
        ));
    }
    if username
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(AccountError::InvalidUsername(
            "it contains spaces or control characters",
        ));
    }
    Ok(())
}

/// A display name typed by a person: what reaches the database is bounded and printable
/// (PostgreSQL refuses a NUL byte, which would otherwise be a 503 there and a row on SQLite).
pub fn validate_name(name: &str) -> Result<(), AccountError> {
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(AccountError::InvalidName);
    }
    Ok(())
}

/// Creates a user (the CLI, the admin pages): with a password, or provider-only.
pub fn create_local_user(conn: &mut DbConn, new: NewLocalUser) -> Result<User, AccountError> {
    validate_username(&new.username)?;
    if let Some(name) = &new.name {
        validate_name(name)?;
    }
    if new.admin && new.password.is_none() {
        return Err(AccountError::AdminNeedsPassword);
    }
    let phone = match new.phone.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(raw) => Some(
            Phone::parse(raw, None).ok_or_else(|| AccountError::InvalidPhone(raw.to_owned()))?,
        ),
        None => None,
    };
    let password_hash = new.password.as_deref().map(hash_password).transpose()?;
    let name = new.name.unwrap_or_else(|| new.username.clone());
    let at = now();
    let row = NewUser {
        username: &new.username,
        name: &name,
        phone: phone.as_ref().map(Phone::as_str),
        password_hash: password_hash.as_deref(),
        role: if new.admin { ROLE_ADMIN } else { ROLE_USER },
        is_active: true,
        created_at: at,
        updated_at: at,
    };
    users::insert_user(conn, &row).map_err(|error| {
        if !error.is_unique_violation() {
            return error.into();
        }
        match (users::username_taken(conn, &new.username), &phone) {
            (Ok(true), _) | (Err(_), None) => AccountError::UsernameTaken(new.username.clone()),
            (_, Some(phone)) => AccountError::PhoneTaken(phone.as_str().to_owned()),
            (Ok(false), None) => AccountError::UsernameTaken(new.username.clone()),
        }
    })
}
