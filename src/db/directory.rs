//! The mirror of the organisation's directory (`directory_departments`, `directory_members`),
//! the record of full syncs, and leases: work one instance at a time may do.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::now;
use super::schema::{
    directory_departments, directory_events, directory_members, directory_syncs, leases, sflogin,
};
use super::{DbConn, DbError};
use crate::domain::{ProviderKind, UserId};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = directory_departments)]
pub struct DepartmentRow {
    pub dept_id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    /// Its place among its siblings, as DingTalk lists them.
    pub sort_order: i32,
    pub synced_at: NaiveDateTime,
}

/// A person of the organisation, still there (`active`) or gone since `left_at`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = directory_members)]
#[diesel(treat_none_as_default_value = false)]
pub struct MemberRow {
    pub userid: String,
    pub unionid: Option<String>,
    pub name: String,
    /// The departments the person is directly in, comma-separated.
    pub dept_ids: String,
    pub active: bool,
    pub left_at: Option<NaiveDateTime>,
    pub synced_at: NaiveDateTime,
}

impl MemberRow {
    pub fn departments(&self) -> impl Iterator<Item = i64> + '_ {
        self.dept_ids.split(',').filter_map(|id| id.parse().ok())
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = directory_syncs)]
pub struct SyncRow {
    pub id: i32,
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    pub departments: i32,
    pub members: i32,
    pub joined: i32,
    pub departed: i32,
    pub error: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = directory_syncs)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewSync<'a> {
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    pub departments: i32,
    pub members: i32,
    pub joined: i32,
    pub departed: i32,
    pub error: Option<&'a str>,
}

/// Rows per INSERT: SQLite takes at most 32 766 bound values in one statement.
const BATCH: usize = 1000;

pub fn departments(conn: &mut DbConn) -> Result<Vec<DepartmentRow>, DbError> {
    Ok(directory_departments::table
        .order((
            directory_departments::parent_id,
            directory_departments::sort_order,
        ))
        .select(DepartmentRow::as_select())
        .load(conn)?)
}

pub fn members(conn: &mut DbConn) -> Result<Vec<MemberRow>, DbError> {
    Ok(directory_members::table
        .order(directory_members::userid)
        .select(MemberRow::as_select())
        .load(conn)?)
}

pub fn member(conn: &mut DbConn, userid: &str) -> Result<Option<MemberRow>, DbError> {
    Ok(directory_members::table
        .find(userid)
        .select(MemberRow::as_select())
        .first(conn)
        .optional()?)
}

/// Replaces the whole mirror (inside the caller's transaction).
pub fn replace_all(
    conn: &mut DbConn,
    departments: &[DepartmentRow],
    members: &[MemberRow],
) -> Result<(), DbError> {
    diesel::delete(directory_departments::table).execute(conn)?;
    diesel::delete(directory_members::table).execute(conn)?;
    // Batch inserts on the backend's own connection: Diesel's multi-backend connection
    // has no multi-row VALUES.
    for chunk in departments.chunks(BATCH) {
        on_backend!(conn, |c| diesel::insert_into(directory_departments::table)
            .values(chunk)
            .execute(c))?;
    }
    for chunk in members.chunks(BATCH) {
        on_backend!(conn, |c| diesel::insert_into(directory_members::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

pub fn record_sync(conn: &mut DbConn, sync: &NewSync<'_>) -> Result<(), DbError> {
    diesel::insert_into(directory_syncs::table)
        .values(sync)
        .execute(conn)?;
    Ok(())
}

pub fn last_sync(conn: &mut DbConn) -> Result<Option<SyncRow>, DbError> {
    Ok(directory_syncs::table
        .order(directory_syncs::id.desc())
        .select(SyncRow::as_select())
        .first(conn)
        .optional()?)
}

/// The local users linked to the DingTalk account with this unionId.
pub fn users_linked_to(conn: &mut DbConn, unionid: &str) -> Result<Vec<UserId>, DbError> {
    Ok(sflogin::table
        .filter(sflogin::types.eq(ProviderKind::DingTalk.number()))
        .filter(sflogin::unionid.eq(unionid))
        .select(sflogin::userid)
        .load(conn)?)
}

/// Takes the lease `name` for `holder` until `until`, if nobody else holds it now; `true`
/// when it is ours. Safe against any number of instances: the UPDATE's condition is
/// checked by the database row by row.
pub fn take_lease(
    conn: &mut DbConn,
    name: &str,
    holder: &str,
    until: NaiveDateTime,
) -> Result<bool, DbError> {
    let now = now();
    let inserted = diesel::insert_into(leases::table)
        .values((
            leases::name.eq(name),
            leases::holder.eq(holder),
            leases::expires_at.eq(until),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => return Ok(true),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {}
        Err(error) => return Err(error.into()),
    }
    let taken = diesel::update(
        leases::table
            .filter(leases::name.eq(name))
            .filter(leases::expires_at.le(now).or(leases::holder.eq(holder))),
    )
    .set((leases::holder.eq(holder), leases::expires_at.eq(until)))
    .execute(conn)?;
    Ok(taken == 1)
}

/// Gives the lease back before it expires (only if `holder` still holds it).
pub fn release_lease(conn: &mut DbConn, name: &str, holder: &str) -> Result<(), DbError> {
    diesel::update(
        leases::table
            .filter(leases::name.eq(name))
            .filter(leases::holder.eq(holder)),
    )
    .set(leases::expires_at.eq(now()))
    .execute(conn)?;
    Ok(())
}

/// A local user linked to a directory member (through their DingTalk unionId).
#[derive(Debug, Clone, Queryable)]
pub struct LinkedUser {
    pub unionid: Option<String>,
    pub id: UserId,
    pub username: String,
    pub is_active: bool,
    /// `admin` or `directory`, while inactive.
    pub deactivated_by: Option<String>,
}

/// Every local user with a DingTalk link, keyed by the link's unionId.
pub fn dingtalk_users(conn: &mut DbConn) -> Result<Vec<LinkedUser>, DbError> {
    use super::schema::susers;
    Ok(sflogin::table
        .inner_join(susers::table)
        .filter(sflogin::types.eq(ProviderKind::DingTalk.number()))
        .filter(sflogin::unionid.is_not_null())
        .select((
            sflogin::unionid,
            susers::id,
            susers::username,
            susers::is_active,
            susers::deactivated_by,
        ))
        .load(conn)?)
}

/// Records an event as applied (in the caller's transaction); `false` when it was already.
/// `ON CONFLICT DO NOTHING`, not a caught unique violation: on PostgreSQL that would abort
/// the transaction the event's changes are in.
pub fn record_event(conn: &mut DbConn, key: &str) -> Result<bool, DbError> {
    let inserted = on_backend!(conn, |c| diesel::insert_into(directory_events::table)
        .values((
            directory_events::event_key.eq(key),
            directory_events::received_at.eq(now()),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

pub fn event_seen(conn: &mut DbConn, key: &str) -> Result<bool, DbError> {
    let found: i64 = directory_events::table
        .filter(directory_events::event_key.eq(key))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// Forgets applied events received before `before` (DingTalk stops redelivering long
/// before).
pub fn purge_events(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, DbError> {
    Ok(
        diesel::delete(directory_events::table.filter(directory_events::received_at.lt(before)))
            .execute(conn)?,
    )
}

/// Writes one person's row, replacing what was there.
pub fn put_member(conn: &mut DbConn, row: &MemberRow) -> Result<(), DbError> {
    diesel::delete(directory_members::table.find(&row.userid)).execute(conn)?;
    diesel::insert_into(directory_members::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Writes one department's row, replacing what was there.
pub fn put_department(conn: &mut DbConn, row: &DepartmentRow) -> Result<(), DbError> {
    diesel::delete(directory_departments::table.find(row.dept_id)).execute(conn)?;
    diesel::insert_into(directory_departments::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn department(conn: &mut DbConn, id: i64) -> Result<Option<DepartmentRow>, DbError> {
    Ok(directory_departments::table
        .find(id)
        .select(DepartmentRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn remove_department(conn: &mut DbConn, id: i64) -> Result<bool, DbError> {
    Ok(diesel::delete(directory_departments::table.find(id)).execute(conn)? == 1)
}

/// The next place among `parent`'s children, for a department an event created.
pub fn next_sort_order(conn: &mut DbConn, parent: Option<i64>) -> Result<i32, DbError> {
    let orders: Vec<i32> = match parent {
        Some(parent) => directory_departments::table
            .filter(directory_departments::parent_id.eq(parent))
            .select(directory_departments::sort_order)
            .load(conn)?,
        None => Vec::new(),
    };
    Ok(orders.into_iter().max().unwrap_or(0) + 1)
}
