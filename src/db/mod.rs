//! The data layer: one connection type over SQLite and PostgreSQL, chosen at run time by
//! `DATABASE_URL`, an r2d2 pool, embedded migrations, the queries, and the one helper that
//! moves blocking Diesel work off the async workers. It knows nothing of HTTP.

pub mod admin;
pub mod limits;
pub mod oidc;
/// Runs a query on the backend's own connection instead of the `DbConn` enum. Diesel caches
/// prepared statements only there, so the hot-path queries (the guard's lookup) are parsed
/// and planned once per connection, not on every request.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite($c) => $body,
            $crate::db::DbConn::Postgres($c) => $body,
        }
    };
}

/// The row of a lookup by a unique key. Used instead of Diesel's `.first()`, whose
/// `LIMIT ?` makes SQLite prepare the statement again on every run: 17 µs instead of 3 µs
/// for the API guard's lookup (README, performance section).
fn at_most_one<T>(rows: Vec<T>) -> Option<T> {
    rows.into_iter().next()
}

mod connection;
pub mod directory;
pub mod models;
mod pool;
pub mod schema;
pub mod sessions;
mod url;
pub mod used_states;
pub mod users;

pub use connection::{DbConn, check_writable, establish, run_migrations, write_transaction};
pub use pool::{DEFAULT_BUDGET, DbPool, PooledConn, connect_pool, run, run_within};
pub use url::DatabaseUrl;

/// Errors of the data layer. `error.rs` maps them to 503 (unavailable); the message never
/// holds a secret.
#[derive(thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database task was cancelled")]
    Cancelled,
    #[error("the database did not answer in time")]
    Timeout,
    #[error("the database is known to be down (failing fast)")]
    Down,
    #[error("too much database work is waiting (shedding load)")]
    Busy,
    #[error("the database is read-only")]
    ReadOnly,
    #[error("cannot start the database threads: {0}")]
    Threads(std::io::Error),
}

crate::report::debug_as_chain!(DbError);

impl DbError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}
