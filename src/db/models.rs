use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{audit_log, login_sessions, refresh_tokens, sflogin, susers};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = susers)]
pub struct User {
    pub id: i32,
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

pub const ROLE_USER: &str = "user";
pub const ROLE_ADMIN: &str = "admin";

#[derive(Debug, Insertable)]
#[diesel(table_name = susers)]
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
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = sflogin, belongs_to(User, foreign_key = userid))]
pub struct LinkedAccount {
    pub id: i32,
    pub userid: i32,
    pub types: i32,
    pub uid: String,
    pub unionid: Option<String>,
    pub token: Option<String>,
    pub nick: String,
    pub avatar_url: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_login_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sflogin)]
pub struct NewLinkedAccount<'a> {
    pub userid: i32,
    pub types: i32,
    pub uid: &'a str,
    pub unionid: Option<&'a str>,
    pub token: Option<&'a str>,
    pub nick: &'a str,
    pub avatar_url: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub last_login_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_sessions)]
pub struct LoginSession {
    pub id: String,
    pub userid: i32,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoke_reason: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshTokenRow {
    pub id: String,
    pub session_id: String,
    pub token_hash: String,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub replaced_by: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i32,
    pub actor_id: Option<i32>,
    pub actor_username: String,
    pub action: String,
    pub target_user_id: Option<i32>,
    pub detail: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditEntry<'a> {
    pub actor_id: Option<i32>,
    pub actor_username: &'a str,
    pub action: &'a str,
    pub target_user_id: Option<i32>,
    pub detail: &'a str,
    pub created_at: NaiveDateTime,
}

/// Current UTC time at the precision every backend stores (microseconds).
pub fn now() -> NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::microseconds(1)).unwrap_or(now)
}
