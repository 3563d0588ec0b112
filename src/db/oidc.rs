//! Queries of the OpenID provider: registered clients, people's consents, authorization
//! codes, and the login sessions that hold a client's tokens.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{OidcClient, OidcCode, now};
use super::schema::{login_sessions, logout_outbox, oidc_clients, oidc_codes, oidc_grants, susers};
use super::{DbConn, DbError, at_most_one};
use crate::domain::UserId;

pub fn insert_client(conn: &mut DbConn, client: &OidcClient) -> Result<(), DbError> {
    diesel::insert_into(oidc_clients::table)
        .values(client)
        .execute(conn)?;
    Ok(())
}

pub fn find_client(conn: &mut DbConn, client_id: &str) -> Result<Option<OidcClient>, DbError> {
    Ok(oidc_clients::table
        .find(client_id)
        .select(OidcClient::as_select())
        .load(conn)
        .map(at_most_one)?)
}

pub fn list_clients(conn: &mut DbConn) -> Result<Vec<OidcClient>, DbError> {
    Ok(oidc_clients::table
        .order(oidc_clients::created_at.asc())
        .select(OidcClient::as_select())
        .load(conn)?)
}

/// Deletes a client with its consents, codes and sessions (the foreign keys cascade);
/// false when there was none.
pub fn delete_client(conn: &mut DbConn, client_id: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(oidc_clients::table.find(client_id)).execute(conn)? == 1)
}

/// The scope `userid` granted `client_id`, if they did.
pub fn granted_scope(
    conn: &mut DbConn,
    userid: UserId,
    client_id: &str,
) -> Result<Option<String>, DbError> {
    Ok(oidc_grants::table
        .find((userid, client_id))
        .select(oidc_grants::scope)
        .load(conn)
        .map(at_most_one)?)
}

/// Remembers (or widens) a consent.
pub fn grant(
    conn: &mut DbConn,
    userid: UserId,
    client_id: &str,
    scope: &str,
) -> Result<(), DbError> {
    diesel::delete(oidc_grants::table.find((userid, client_id))).execute(conn)?;
    diesel::insert_into(oidc_grants::table)
        .values((
            oidc_grants::userid.eq(userid),
            oidc_grants::client_id.eq(client_id),
            oidc_grants::scope.eq(scope),
            oidc_grants::granted_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A person's consent to a client, as the admin pages list it.
#[derive(Debug, Clone, Queryable)]
pub struct GrantRow {
    pub client_id: String,
    pub userid: UserId,
    pub username: String,
    pub scope: String,
    pub granted_at: NaiveDateTime,
}

/// Who granted which client what, newest first.
pub fn grants(conn: &mut DbConn) -> Result<Vec<GrantRow>, DbError> {
    Ok(oidc_grants::table
        .inner_join(susers::table)
        .order(oidc_grants::granted_at.desc())
        .select((
            oidc_grants::client_id,
            oidc_grants::userid,
            susers::username,
            oidc_grants::scope,
            oidc_grants::granted_at,
        ))
        .load(conn)?)
}

/// An application a person allowed, as their account page lists it.
#[derive(Debug, Clone, Queryable)]
pub struct UserGrant {
    pub client_id: String,
    pub name: String,
    pub scope: String,
    pub granted_at: NaiveDateTime,
}

pub fn grants_of(conn: &mut DbConn, userid: UserId) -> Result<Vec<UserGrant>, DbError> {
    Ok(oidc_grants::table
        .inner_join(oidc_clients::table)
        .filter(oidc_grants::userid.eq(userid))
        .order(oidc_grants::granted_at.desc())
        .select((
            oidc_grants::client_id,
            oidc_clients::name,
            oidc_grants::scope,
            oidc_grants::granted_at,
        ))
        .load(conn)?)
}

/// Forgets a consent; false when there was none.
pub fn forget_grant(conn: &mut DbConn, userid: UserId, client_id: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(oidc_grants::table.find((userid, client_id))).execute(conn)? == 1)
}

pub fn insert_code(conn: &mut DbConn, code: &OidcCode) -> Result<(), DbError> {
    diesel::insert_into(oidc_codes::table)
        .values(code)
        .execute(conn)?;
    Ok(())
}

pub fn find_code(conn: &mut DbConn, code_hash: &str) -> Result<Option<OidcCode>, DbError> {
    Ok(oidc_codes::table
        .find(code_hash)
        .select(OidcCode::as_select())
        .load(conn)
        .map(at_most_one)?)
}

/// Marks a code used by the exchange that started `session_id`, only if it was not used
/// yet; true when this call did it (two exchanges racing: one wins).
pub fn use_code(conn: &mut DbConn, code_hash: &str, session_id: &str) -> Result<bool, DbError> {
    let updated = diesel::update(
        oidc_codes::table
            .find(code_hash)
            .filter(oidc_codes::used_at.is_null()),
    )
    .set((
        oidc_codes::used_at.eq(now()),
        oidc_codes::issued_session_id.eq(session_id),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Codes that can no longer be exchanged (the purge task).
pub fn delete_expired_codes(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, DbError> {
    Ok(
        diesel::delete(oidc_codes::table.filter(oidc_codes::expires_at.lt(before)))
            .execute(conn)?,
    )
}

/// Ends every live session `userid` holds at `client_id` (a revoked consent, a logout).
pub fn revoke_client_sessions(
    conn: &mut DbConn,
    userid: UserId,
    client_id: &str,
    reason: &str,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        login_sessions::table
            .filter(login_sessions::userid.eq(userid))
            .filter(login_sessions::client_id.eq(client_id))
            .filter(login_sessions::revoked_at.is_null()),
    )
    .set((
        login_sessions::revoked_at.eq(now()),
        login_sessions::revoke_reason.eq(reason),
    ))
    .execute(conn)?)
}

/// A logout token still to deliver, with where to and how to sign it.
#[derive(Debug, Clone, Queryable)]
pub struct PendingLogout {
    pub id: i32,
    pub client_id: String,
    pub sub: String,
    pub sid: String,
    pub attempts: i32,
    pub uri: Option<String>,
    pub id_token_alg: String,
}

/// Queues a logout token for every live session of `userid` at a client that registered a
/// back-channel logout URI (in the caller's transaction, before the sessions end).
pub fn queue_backchannel_logouts(conn: &mut DbConn, userid: UserId) -> Result<usize, DbError> {
    let at = now();
    let sessions: Vec<(String, String)> = login_sessions::table
        .inner_join(
            oidc_clients::table
                .on(login_sessions::client_id.eq(oidc_clients::client_id.nullable())),
        )
        .filter(login_sessions::userid.eq(userid))
        .filter(login_sessions::revoked_at.is_null())
        .filter(login_sessions::expires_at.gt(at))
        .filter(oidc_clients::backchannel_logout_uri.is_not_null())
        .select((login_sessions::id, oidc_clients::client_id))
        .load(conn)?;
    for (sid, client_id) in &sessions {
        diesel::insert_into(logout_outbox::table)
            .values((
                logout_outbox::client_id.eq(client_id),
                logout_outbox::sub.eq(userid.to_string()),
                logout_outbox::sid.eq(sid),
                logout_outbox::created_at.eq(at),
                logout_outbox::next_attempt_at.eq(at),
                logout_outbox::attempts.eq(0),
                logout_outbox::delivered_at.eq(None::<NaiveDateTime>),
                logout_outbox::last_error.eq(None::<String>),
            ))
            .execute(conn)?;
    }
    Ok(sessions.len())
}

/// Logout tokens due now (not delivered, fewer than `max_attempts` tries), oldest first.
pub fn due_logouts(
    conn: &mut DbConn,
    max_attempts: i32,
    limit: i64,
) -> Result<Vec<PendingLogout>, DbError> {
    Ok(logout_outbox::table
        .inner_join(oidc_clients::table)
        .filter(logout_outbox::delivered_at.is_null())
        .filter(logout_outbox::next_attempt_at.le(now()))
        .filter(logout_outbox::attempts.lt(max_attempts))
        .order(logout_outbox::id)
        .limit(limit)
        .select((
            logout_outbox::id,
            logout_outbox::client_id,
            logout_outbox::sub,
            logout_outbox::sid,
            logout_outbox::attempts,
            oidc_clients::backchannel_logout_uri,
            oidc_clients::id_token_alg,
        ))
        .load(conn)?)
}

/// Takes one due logout for this instance until `until` (another instance skips it);
/// `true` when it is ours. Counts the attempt.
pub fn claim_logout(
    conn: &mut DbConn,
    id: i32,
    attempts: i32,
    until: NaiveDateTime,
) -> Result<bool, DbError> {
    let claimed = diesel::update(
        logout_outbox::table
            .find(id)
            .filter(logout_outbox::attempts.eq(attempts))
            .filter(logout_outbox::delivered_at.is_null()),
    )
    .set((
        logout_outbox::attempts.eq(attempts + 1),
        logout_outbox::next_attempt_at.eq(until),
    ))
    .execute(conn)?;
    Ok(claimed == 1)
}

pub fn logout_delivered(conn: &mut DbConn, id: i32) -> Result<(), DbError> {
    diesel::update(logout_outbox::table.find(id))
        .set((
            logout_outbox::delivered_at.eq(now()),
            logout_outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn logout_failed(
    conn: &mut DbConn,
    id: i32,
    next_attempt_at: NaiveDateTime,
    error: &str,
) -> Result<(), DbError> {
    diesel::update(logout_outbox::table.find(id))
        .set((
            logout_outbox::next_attempt_at.eq(next_attempt_at),
            logout_outbox::last_error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}
