//! Queries on `susers` and `sflogin`.

use diesel::prelude::*;

use super::models::{LinkedAccount, NewLinkedAccount, NewUser, User, now};
use super::schema::{sflogin, susers};
use super::{DbConn, DbError, at_most_one};
use crate::domain::{ProviderKind, UserId};

pub fn insert_user(conn: &mut DbConn, new: &NewUser<'_>) -> Result<User, DbError> {
    // Savepoint, so that a unique violation inside a larger PostgreSQL transaction
    // can be handled by the caller instead of aborting the whole transaction.
    Ok(conn.transaction(|conn| {
        diesel::insert_into(susers::table)
            .values(new)
            .execute(conn)?;
        susers::table
            .filter(susers::username.eq(new.username))
            .select(User::as_select())
            .get_result(conn)
    })?)
}

pub fn find_by_id(conn: &mut DbConn, id: UserId) -> Result<Option<User>, DbError> {
    Ok(susers::table
        .find(id)
        .select(User::as_select())
        .load(conn)
        .map(at_most_one)?)
}

pub fn find_by_username(conn: &mut DbConn, username: &str) -> Result<Option<User>, DbError> {
    Ok(susers::table
        .filter(susers::username.eq(username))
        .select(User::as_select())
        .load(conn)
        .map(at_most_one)?)
}

pub fn find_by_phone(conn: &mut DbConn, phone: &str) -> Result<Option<User>, DbError> {
    Ok(susers::table
        .filter(susers::phone.eq(phone))
        .select(User::as_select())
        .load(conn)
        .map(at_most_one)?)
}

pub fn username_taken(conn: &mut DbConn, username: &str) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        susers::table.filter(susers::username.eq(username)),
    ))
    .get_result(conn)?)
}

/// All users, newest first, each with the accounts linked to it.
pub fn list_with_links(conn: &mut DbConn) -> Result<Vec<(User, Vec<LinkedAccount>)>, DbError> {
    let users: Vec<User> = susers::table
        .order(susers::id.desc())
        .select(User::as_select())
        .load(conn)?;
    let links: Vec<LinkedAccount> = LinkedAccount::belonging_to(&users)
        .select(LinkedAccount::as_select())
        .load(conn)?;
    Ok(links
        .grouped_by(&users)
        .into_iter()
        .zip(users)
        .map(|(l, u)| (u, l))
        .collect())
}

pub fn links_of(conn: &mut DbConn, userid: UserId) -> Result<Vec<LinkedAccount>, DbError> {
    Ok(on_backend!(conn, |c| sflogin::table
        .filter(sflogin::userid.eq(userid))
        .order(sflogin::types)
        .select(LinkedAccount::as_select())
        .load(c))?)
}

pub fn find_link(
    conn: &mut DbConn,
    types: ProviderKind,
    uid: &str,
) -> Result<Option<LinkedAccount>, DbError> {
    Ok(sflogin::table
        .filter(sflogin::types.eq(types).and(sflogin::uid.eq(uid)))
        .select(LinkedAccount::as_select())
        .load(conn)
        .map(at_most_one)?)
}

/// The link of `uid` at `types` with its user, in one statement: a returning login's
/// lookup (one round trip on PostgreSQL, not two).
pub fn find_link_with_user(
    conn: &mut DbConn,
    types: ProviderKind,
    uid: &str,
) -> Result<Option<(LinkedAccount, User)>, DbError> {
    Ok(sflogin::table
        .inner_join(susers::table)
        .filter(sflogin::types.eq(types).and(sflogin::uid.eq(uid)))
        .select((LinkedAccount::as_select(), User::as_select()))
        .load(conn)
        .map(at_most_one)?)
}

pub fn find_link_by_unionid(
    conn: &mut DbConn,
    types: ProviderKind,
    unionid: &str,
) -> Result<Option<LinkedAccount>, DbError> {
    Ok(sflogin::table
        .filter(sflogin::types.eq(types).and(sflogin::unionid.eq(unionid)))
        .select(LinkedAccount::as_select())
        .load(conn)
        .map(at_most_one)?)
}

/// Inserts a link inside a savepoint (see `insert_user`).
pub fn insert_link(conn: &mut DbConn, new: &NewLinkedAccount<'_>) -> Result<(), DbError> {
    conn.transaction(|conn| {
        diesel::insert_into(sflogin::table)
            .values(new)
            .execute(conn)
    })?;
    Ok(())
}

/// What a returning login refreshes on an existing link.
pub struct LinkRefresh<'a> {
    pub uid: &'a str,
    pub unionid: Option<&'a str>,
    pub nick: &'a str,
    pub avatar_url: Option<&'a str>,
    /// The number the provider vouches for today (none: it no longer gives one).
    pub phone: Option<&'a str>,
}

pub fn refresh_link(
    conn: &mut DbConn,
    link_id: i32,
    update: &LinkRefresh<'_>,
) -> Result<(), DbError> {
    diesel::update(sflogin::table.find(link_id))
        .set((
            sflogin::uid.eq(update.uid),
            sflogin::unionid.eq(update.unionid),
            sflogin::token.eq(None::<String>),
            sflogin::nick.eq(update.nick),
            sflogin::avatar_url.eq(update.avatar_url),
            sflogin::phone.eq(update.phone),
            sflogin::last_login_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// An administrator's (de)activation. It is remembered as theirs: a rehire in the
/// directory does not undo it.
pub fn set_active(conn: &mut DbConn, id: UserId, active: bool) -> Result<bool, DbError> {
    let by = (!active).then_some(DEACTIVATED_BY_ADMIN);
    let updated = diesel::update(susers::table.find(id))
        .set((
            susers::is_active.eq(active),
            susers::deactivated_by.eq(by),
            susers::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

const DEACTIVATED_BY_ADMIN: &str = "admin";
const DEACTIVATED_BY_DIRECTORY: &str = "directory";

/// Deactivates an active user because they left the organisation; `false` when they were
/// inactive already (an admin's deactivation stays theirs).
pub fn deactivate_for_leaving(conn: &mut DbConn, id: UserId) -> Result<bool, DbError> {
    let updated = diesel::update(susers::table.find(id).filter(susers::is_active.eq(true)))
        .set((
            susers::is_active.eq(false),
            susers::deactivated_by.eq(DEACTIVATED_BY_DIRECTORY),
            susers::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Reactivates a user whom leaving deactivated (a rehire); `false` for anyone else.
pub fn reactivate_after_rehire(conn: &mut DbConn, id: UserId) -> Result<bool, DbError> {
    let updated = diesel::update(
        susers::table
            .find(id)
            .filter(susers::deactivated_by.eq(DEACTIVATED_BY_DIRECTORY)),
    )
    .set((
        susers::is_active.eq(true),
        susers::deactivated_by.eq(None::<&str>),
        susers::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Whether the user is inactive because they left the organisation.
pub fn left_the_organisation(conn: &mut DbConn, id: UserId) -> Result<bool, DbError> {
    let by: Option<Option<String>> = susers::table
        .find(id)
        .select(susers::deactivated_by)
        .first(conn)
        .optional()?;
    Ok(by.flatten().as_deref() == Some(DEACTIVATED_BY_DIRECTORY))
}

pub fn set_password_hash(conn: &mut DbConn, id: UserId, hash: &str) -> Result<bool, DbError> {
    let updated = diesel::update(susers::table.find(id))
        .set((susers::password_hash.eq(hash), susers::updated_at.eq(now())))
        .execute(conn)?;
    Ok(updated == 1)
}

pub fn set_role(conn: &mut DbConn, id: UserId, role: &str) -> Result<bool, DbError> {
    let updated = diesel::update(susers::table.find(id))
        .set((susers::role.eq(role), susers::updated_at.eq(now())))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Deletes a user; their links and login sessions go with them (ON DELETE CASCADE).
pub fn delete_user(conn: &mut DbConn, id: UserId) -> Result<bool, DbError> {
    Ok(diesel::delete(susers::table.find(id)).execute(conn)? == 1)
}

pub fn ping(conn: &mut DbConn) -> Result<(), DbError> {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("1")).execute(conn)?;
    Ok(())
}
