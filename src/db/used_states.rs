//! Single-use values that live in the browser's cookie (OAuth `state`s, the identity held
//! for the link-account choice): using one records it here until it would have expired
//! anyway, so a saved copy of an older cookie cannot use it again, on any instance.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::models::now;
use super::schema::used_states;
use super::{DbConn, DbError};

/// Records `hash` as used; `false` when it already was.
pub fn use_once(conn: &mut DbConn, hash: &str, expires_at: NaiveDateTime) -> Result<bool, DbError> {
    let inserted = diesel::insert_into(used_states::table)
        .values((
            used_states::state_hash.eq(hash),
            used_states::expires_at.eq(expires_at),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Forgets the values whose lifetime is over: their cookies are refused as expired.
pub fn purge_expired(conn: &mut DbConn) -> Result<usize, DbError> {
    Ok(
        diesel::delete(used_states::table.filter(used_states::expires_at.lt(now())))
            .execute(conn)?,
    )
}
