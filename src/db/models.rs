//! Rows of the five tables. `Debug` never prints a password hash or a provider token.
//!
//! Every insertable row writes `None` as NULL (`treat_none_as_default_value = false`; no
//! nullable column has another default): the insert's SQL is then the same every time, and
//! Diesel keeps it as a prepared statement instead of sending it to be parsed and planned
//! on every login (PostgreSQL; docs/performance.md).

use std::fmt;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    audit_log, login_sessions, oidc_clients, oidc_codes, refresh_tokens, sflogin, susers,
};
use crate::domain::{ProviderIdentity, ProviderKind, UserId};

#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = susers)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub name: String,
    pub phone: Option<String>,
    pub password_hash: Option<String>,
    pub role: String,
    pub is_active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == ROLE_ADMIN
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("is_active", &self.is_active)
            .field("has_password", &self.password_hash.is_some())
            .finish_non_exhaustive()
    }
}

pub const ROLE_USER: &str = "user";
pub const ROLE_ADMIN: &str = "admin";

#[derive(Insertable)]
#[diesel(table_name = susers)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub name: &'a str,
    pub phone: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub role: &'a str,
    pub is_active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A row of `sflogin`: one third-party account linked to one user.
#[derive(Clone, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = sflogin, belongs_to(User, foreign_key = userid))]
pub struct LinkedAccount {
    pub id: i32,
    pub userid: UserId,
    pub types: ProviderKind,
    pub uid: String,
    pub unionid: Option<String>,
    pub token: Option<String>,
    pub nick: String,
    pub avatar_url: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_login_at: NaiveDateTime,
    /// The number the provider vouched for at the last login (E.164).
    pub phone: Option<String>,
}

impl fmt::Debug for LinkedAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkedAccount")
            .field("id", &self.id)
            .field("userid", &self.userid)
            .field("types", &self.types)
            .field("uid", &self.uid)
            .field("nick", &self.nick)
            .finish_non_exhaustive()
    }
}

#[derive(Insertable)]
#[diesel(table_name = sflogin)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewLinkedAccount<'a> {
    pub userid: UserId,
    pub types: ProviderKind,
    pub uid: &'a str,
    pub unionid: Option<&'a str>,
    pub token: Option<&'a str>,
    pub nick: &'a str,
    pub avatar_url: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub last_login_at: NaiveDateTime,
    pub phone: Option<&'a str>,
}

impl<'a> NewLinkedAccount<'a> {
    /// The `sflogin` row that links `identity` to `userid`, made now.
    pub fn new(userid: UserId, identity: &'a ProviderIdentity) -> NewLinkedAccount<'a> {
        let at = now();
        NewLinkedAccount {
            userid,
            types: identity.provider,
            uid: &identity.uid,
            unionid: identity.unionid.as_deref(),
            // The provider's token is used once, to read the profile, and never kept
            // (threat T-23); the tutorial's column stays, empty.
            token: None,
            nick: &identity.nick,
            avatar_url: identity.avatar_url.as_deref(),
            created_at: at,
            last_login_at: at,
            phone: identity.phone.as_ref().map(|p| p.as_str()),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_sessions)]
#[diesel(treat_none_as_default_value = false)]
pub struct LoginSession {
    pub id: String,
    pub userid: UserId,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoke_reason: Option<String>,
    pub user_agent: Option<String>,
    /// The OpenID client whose tokens this session holds; `None` for our own SPA and pages.
    pub client_id: Option<String>,
    /// What the client was granted (space-separated), for a client's session.
    pub scope: Option<String>,
    /// How the person signed in: `password` or a provider's name (the id_token's `amr`).
    pub method: Option<String>,
    /// When the person signed in; a client's session inherits it from the browser's.
    pub auth_time: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
#[diesel(treat_none_as_default_value = false)]
pub struct RefreshTokenRow {
    pub id: String,
    pub session_id: String,
    pub token_hash: String,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub replaced_by: Option<String>,
}

/// An application registered to log people in through us (OpenID Connect).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_clients)]
pub struct OidcClient {
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub id_token_alg: String,
    pub created_at: NaiveDateTime,
    /// Where it hears that a session of its ended (Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
}

impl OidcClient {
    /// A public client (an SPA, a CLI) has no secret and must use PKCE.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    pub fn redirect_uris(&self) -> impl Iterator<Item = &str> {
        self.redirect_uris.lines().filter(|l| !l.is_empty())
    }

    pub fn post_logout_redirect_uris(&self) -> impl Iterator<Item = &str> {
        self.post_logout_redirect_uris
            .lines()
            .filter(|l| !l.is_empty())
    }

    /// Exact comparison, character for character (RFC 9700 §4.1.3): no prefix, no
    /// wildcard, no normalisation.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris().any(|r| r == uri)
    }

    pub fn allows_post_logout_redirect(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris().any(|r| r == uri)
    }
}

/// An authorization code as stored (its SHA-256, never the code).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_codes)]
#[diesel(treat_none_as_default_value = false)]
pub struct OidcCode {
    pub code_hash: String,
    pub client_id: String,
    pub login_session_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub issued_session_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i32,
    pub actor_id: Option<UserId>,
    pub actor_username: String,
    pub action: String,
    pub target_user_id: Option<UserId>,
    pub detail: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewAuditEntry<'a> {
    pub actor_id: Option<UserId>,
    pub actor_username: &'a str,
    pub action: &'a str,
    pub target_user_id: Option<UserId>,
    pub detail: &'a str,
    pub created_at: NaiveDateTime,
}

/// Current UTC time at the precision every backend stores (microseconds).
pub fn now() -> NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::microseconds(1)).unwrap_or(now)
}
