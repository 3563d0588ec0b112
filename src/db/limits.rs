//! The counters of the shared limits on PostgreSQL (tables `rate_windows` and
//! `login_failures`): one statement per counted event, an atomic upsert, so concurrent
//! instances never lose a count. On SQLite the limits are counted in memory and these
//! functions are not called.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use super::{DbConn, DbError};

/// The counters live only on PostgreSQL.
fn postgres(conn: &mut DbConn) -> Result<&mut diesel::PgConnection, DbError> {
    match conn {
        DbConn::Postgres(pg) => Ok(pg),
        DbConn::Sqlite(_) => Err(DbError::Query(diesel::result::Error::QueryBuilderError(
            "shared limits need PostgreSQL".into(),
        ))),
    }
}

/// One client's counts in the current one-minute window, and the seconds left in it.
#[derive(Debug)]
pub struct Window {
    pub hits: i32,
    pub failures: i32,
    pub seconds_left: i64,
}

diesel::define_sql_function! {
    /// The upsert of a request's count (migration `…000008_prepared_rate_count`): called
    /// as a SELECT, it stays a prepared statement.
    fn count_rate_window(k: Text, hit: Integer, failed: Integer) -> Array<BigInt>;
}

/// Counts a request (`failure` false) or a failure of one (`failure` true) for `key` in
/// the current minute, and returns the window's counts.
pub fn count_request(conn: &mut DbConn, key: &str, failure: bool) -> Result<Window, DbError> {
    let (hit, failed) = if failure { (0, 1) } else { (1, 0) };
    let counted: Vec<i64> =
        diesel::select(count_rate_window(key, hit, failed)).get_result(postgres(conn)?)?;
    match counted[..] {
        [hits, failures, seconds_left] => Ok(Window {
            hits: hits as i32,
            failures: failures as i32,
            seconds_left,
        }),
        _ => Err(DbError::Query(diesel::result::Error::DeserializationError(
            "count_rate_window returns three numbers".into(),
        ))),
    }
}

/// Failed logins of one key in its 15-minute window.
#[derive(Debug, QueryableByName)]
pub struct Failures {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = Integer)]
    pub failures: i32,
    /// Seconds since the last failure, by the database's clock.
    #[diesel(sql_type = BigInt)]
    pub since_last: i64,
}

/// Counts a failed login for each key: a count older than `window_secs` starts again.
pub fn record_login_failure(
    conn: &mut DbConn,
    keys: &[String; 2],
    window_secs: i64,
) -> Result<(), DbError> {
    diesel::sql_query(
        "INSERT INTO login_failures (key, failures, first_failure, last_failure) \
         SELECT k, 1, e, e FROM unnest(ARRAY[$1, $2]) AS k, \
              (SELECT floor(extract(epoch FROM now()))::bigint AS e) AS clock \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN login_failures.first_failure < excluded.last_failure - $3 \
                      THEN 1 ELSE login_failures.failures + 1 END, \
           first_failure = CASE WHEN login_failures.first_failure < excluded.last_failure - $3 \
                      THEN excluded.last_failure ELSE login_failures.first_failure END, \
           last_failure = excluded.last_failure",
    )
    .bind::<Text, _>(&keys[0])
    .bind::<Text, _>(&keys[1])
    .bind::<BigInt, _>(window_secs)
    .execute(postgres(conn)?)?;
    Ok(())
}

/// The live counts of `keys` (those whose window has not ended).
pub fn login_failures(
    conn: &mut DbConn,
    keys: &[String; 2],
    window_secs: i64,
) -> Result<Vec<Failures>, DbError> {
    let rows = diesel::sql_query(
        "SELECT key, failures, floor(extract(epoch FROM now()))::bigint - last_failure AS since_last \
         FROM login_failures \
         WHERE key IN ($1, $2) AND first_failure >= floor(extract(epoch FROM now()))::bigint - $3",
    )
    .bind::<Text, _>(&keys[0])
    .bind::<Text, _>(&keys[1])
    .bind::<BigInt, _>(window_secs)
    .load(postgres(conn)?)?;
    Ok(rows)
}

pub fn clear_login_failures(conn: &mut DbConn, key: &str) -> Result<(), DbError> {
    diesel::sql_query("DELETE FROM login_failures WHERE key = $1")
        .bind::<Text, _>(key)
        .execute(postgres(conn)?)?;
    Ok(())
}

/// Drops windows that ended: request windows older than the previous minute, failure
/// counts older than `failure_window_secs` plus the longest lock. Returns the rows removed.
pub fn prune(conn: &mut DbConn, failure_keep_secs: i64) -> Result<usize, DbError> {
    let pg = postgres(conn)?;
    let windows = diesel::sql_query(
        "DELETE FROM rate_windows WHERE window_start < floor(extract(epoch FROM now()) / 60)::bigint - 1",
    )
    .execute(pg)?;
    let failures = diesel::sql_query(
        "DELETE FROM login_failures WHERE last_failure < floor(extract(epoch FROM now()))::bigint - $1",
    )
    .bind::<BigInt, _>(failure_keep_secs)
    .execute(pg)?;
    Ok(windows + failures)
}
