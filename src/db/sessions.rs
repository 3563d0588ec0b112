//! Queries on `login_sessions` (one per login: the refresh-token family) and `refresh_tokens`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{LinkedAccount, LoginSession, RefreshTokenRow, User, now};
use super::schema::{handoff_codes, login_sessions, refresh_tokens, sflogin, susers};
use super::{DbConn, DbError, at_most_one};
use crate::domain::UserId;

pub fn insert_session(conn: &mut DbConn, session: &LoginSession) -> Result<(), DbError> {
    diesel::insert_into(login_sessions::table)
        .values(session)
        .execute(conn)?;
    Ok(())
}

pub fn insert_refresh_token(conn: &mut DbConn, row: &RefreshTokenRow) -> Result<(), DbError> {
    diesel::insert_into(refresh_tokens::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The guard's one indexed lookup: the session by primary key, joined to its user.
/// No row means the session or the user is gone.
pub fn session_with_user(
    conn: &mut DbConn,
    session_id: &str,
) -> Result<Option<(LoginSession, User)>, DbError> {
    Ok(on_backend!(conn, |c| login_sessions::table
        .inner_join(susers::table)
        .filter(login_sessions::id.eq(session_id))
        .select((LoginSession::as_select(), User::as_select()))
        .load(c)
        .map(at_most_one))?)
}

/// The guard's lookup with the user's linked accounts in the same statement (a left join:
/// at most one row per provider), so that `/api/me` — what an SPA calls on every start —
/// needs one visit to the database, not two.
pub fn session_with_user_and_links(
    conn: &mut DbConn,
    session_id: &str,
) -> Result<Option<(LoginSession, User, Vec<LinkedAccount>)>, DbError> {
    let rows: Vec<(LoginSession, User, Option<LinkedAccount>)> = on_backend!(conn, |c| {
        login_sessions::table
            .inner_join(susers::table.left_join(sflogin::table))
            .filter(login_sessions::id.eq(session_id))
            .order(sflogin::types)
            .select((
                LoginSession::as_select(),
                User::as_select(),
                Option::<LinkedAccount>::as_select(),
            ))
            .load(c)
    })?;
    let mut rows = rows.into_iter();
    let Some((session, user, first)) = rows.next() else {
        return Ok(None);
    };
    let links = first
        .into_iter()
        .chain(rows.filter_map(|(_, _, link)| link))
        .collect();
    Ok(Some((session, user, links)))
}

pub fn find_refresh_token(conn: &mut DbConn, id: &str) -> Result<Option<RefreshTokenRow>, DbError> {
    Ok(refresh_tokens::table
        .find(id)
        .select(RefreshTokenRow::as_select())
        .load(conn)
        .map(at_most_one)?)
}

/// Marks a refresh token used, only if it was not used yet; true when this call did it.
pub fn mark_refresh_token_used(
    conn: &mut DbConn,
    id: &str,
    successor: &str,
) -> Result<bool, DbError> {
    let updated = diesel::update(
        refresh_tokens::table
            .find(id)
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set((
        refresh_tokens::used_at.eq(now()),
        refresh_tokens::replaced_by.eq(successor),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

pub fn touch_session(conn: &mut DbConn, session_id: &str) -> Result<(), DbError> {
    diesel::update(login_sessions::table.find(session_id))
        .set(login_sessions::last_used_at.eq(now()))
        .execute(conn)?;
    Ok(())
}

pub fn revoke_session(conn: &mut DbConn, session_id: &str, reason: &str) -> Result<bool, DbError> {
    let updated = diesel::update(
        login_sessions::table
            .find(session_id)
            .filter(login_sessions::revoked_at.is_null()),
    )
    .set((
        login_sessions::revoked_at.eq(now()),
        login_sessions::revoke_reason.eq(reason),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

pub fn revoke_all_sessions(
    conn: &mut DbConn,
    userid: UserId,
    reason: &str,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        login_sessions::table
            .filter(login_sessions::userid.eq(userid))
            .filter(login_sessions::revoked_at.is_null()),
    )
    .set((
        login_sessions::revoked_at.eq(now()),
        login_sessions::revoke_reason.eq(reason),
    ))
    .execute(conn)?)
}

/// Revokes every live session of `userid` except `keep` (the one that asked).
pub fn revoke_other_sessions(
    conn: &mut DbConn,
    userid: UserId,
    keep: &str,
    reason: &str,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        login_sessions::table
            .filter(login_sessions::userid.eq(userid))
            .filter(login_sessions::id.ne(keep))
            .filter(login_sessions::revoked_at.is_null()),
    )
    .set((
        login_sessions::revoked_at.eq(now()),
        login_sessions::revoke_reason.eq(reason),
    ))
    .execute(conn)?)
}

/// Deletes at most `batch` login sessions that ended before `cutoff`; their refresh tokens
/// go with them (ON DELETE CASCADE). Small batches keep each write short; several instances
/// may run it at once (a row is deleted once, the others find nothing).
pub fn purge_ended(conn: &mut DbConn, cutoff: NaiveDateTime, batch: i64) -> Result<usize, DbError> {
    let ended: Vec<String> = login_sessions::table
        .filter(login_sessions::expires_at.lt(cutoff))
        .select(login_sessions::id)
        .limit(batch)
        .load(conn)?;
    if ended.is_empty() {
        return Ok(0);
    }
    diesel::delete(login_sessions::table.filter(login_sessions::id.eq_any(&ended)))
        .execute(conn)?;
    Ok(ended.len())
}

pub fn active_sessions(
    conn: &mut DbConn,
    userid: UserId,
    at: NaiveDateTime,
) -> Result<Vec<LoginSession>, DbError> {
    Ok(login_sessions::table
        .filter(login_sessions::userid.eq(userid))
        .filter(login_sessions::revoked_at.is_null())
        .filter(login_sessions::expires_at.gt(at))
        .order(login_sessions::created_at.desc())
        .select(LoginSession::as_select())
        .load(conn)?)
}

/// A one-time handoff code (its SHA-256) for `session_id`, valid until `expires_at`.
pub fn insert_handoff_code(
    conn: &mut DbConn,
    code_hash: &str,
    session_id: &str,
    expires_at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(handoff_codes::table)
        .values((
            handoff_codes::code_hash.eq(code_hash),
            handoff_codes::session_id.eq(session_id),
            handoff_codes::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a presented handoff code turned out to be.
pub enum HandoffUse {
    /// First use, in time: the login session it stands for.
    Redeemed(String),
    /// Used before: the login session it stood for (to be revoked: a stolen code).
    Reused(String),
    Unknown,
}

/// Marks the code used if it is unused and in time — one atomic update, so two uses at
/// once redeem it once.
pub fn use_handoff_code(
    conn: &mut DbConn,
    code_hash: &str,
    at: NaiveDateTime,
) -> Result<HandoffUse, DbError> {
    let updated = diesel::update(
        handoff_codes::table
            .find(code_hash)
            .filter(handoff_codes::used_at.is_null())
            .filter(handoff_codes::expires_at.gt(at)),
    )
    .set(handoff_codes::used_at.eq(at))
    .execute(conn)?;
    let row: Option<(String, Option<NaiveDateTime>)> = handoff_codes::table
        .find(code_hash)
        .select((handoff_codes::session_id, handoff_codes::used_at))
        .load(conn)
        .map(at_most_one)?;
    Ok(match row {
        Some((session_id, _)) if updated == 1 => HandoffUse::Redeemed(session_id),
        Some((session_id, Some(_))) => HandoffUse::Reused(session_id),
        _ => HandoffUse::Unknown,
    })
}

/// The session's refresh token that has not been used yet (the one a handoff stands for).
pub fn unused_refresh_token(
    conn: &mut DbConn,
    session_id: &str,
) -> Result<Option<RefreshTokenRow>, DbError> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::session_id.eq(session_id))
        .filter(refresh_tokens::used_at.is_null())
        .select(RefreshTokenRow::as_select())
        .load(conn)
        .map(at_most_one)?)
}
