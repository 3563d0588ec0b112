//! The connection enum over SQLite and PostgreSQL, its r2d2 manager (SQLite pragmas on
//! every connection), embedded migrations per backend, and write transactions.

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{DatabaseUrl, DbError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection type for both backends; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(diesel::SqliteConnection),
    Postgres(diesel::PgConnection),
}

pub type DbPool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// An r2d2 manager that picks the backend from the URL itself, so a failed connection
/// reports the backend's own error (diesel's generic manager would try every variant).
pub struct Manager {
    url: DatabaseUrl,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConn, ConnectionError> {
        establish(&self.url)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectionError> {
        conn.ping()
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

/// One connection, without a pool (the CLI: no background threads still connecting
/// while the process exits).
pub fn establish(url: &DatabaseUrl) -> Result<DbConn, ConnectionError> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())?;
            // WAL lets readers run beside the one writer; busy_timeout makes a writer wait
            // for the lock instead of failing with "database is locked".
            conn.batch_execute(
                "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            )
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConn::Sqlite(conn))
        }
        DatabaseUrl::Postgres(raw) => Ok(DbConn::Postgres(diesel::PgConnection::establish(raw)?)),
    }
}

/// Applies the embedded migrations of the chosen backend. Migrations only ever add.
pub fn run_migrations(url: &DatabaseUrl) -> anyhow::Result<Vec<String>> {
    if let DatabaseUrl::Sqlite(path) = url {
        create_private_sqlite_file(path)?;
    }
    let mut conn = establish(url)?;
    let applied = match &mut conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        DbConn::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("applying migrations failed: {e}"))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// The database holds password hashes: a new SQLite file is made readable by its owner
/// only, in a folder only its owner can enter (SQLite gives its -wal and -shm files the
/// database file's mode). Existing files and folders keep what the operator chose.
fn create_private_sqlite_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

pub fn connect_pool(url: &DatabaseUrl, max_size: u32) -> Result<DbPool, DbError> {
    let pool = r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(5))
        // r2d2 would run a ping query before every checkout, doubling the queries of the
        // hot path; a connection that broke is noticed by `has_broken` instead.
        .test_on_check_out(false)
        .build(Manager { url: url.clone() })?;
    Ok(pool)
}

static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A read-modify-write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, taking the
/// write lock up front: a deferred transaction that reads first and writes later fails with
/// SQLITE_BUSY (not retried by busy_timeout) when another writer committed in between.
/// Inside another transaction it becomes a savepoint, so steps compose into one transaction.
pub fn write_transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let depth = DbConn::transaction_manager_status_mut(conn).transaction_depth()?;
    if depth.is_some() {
        return conn.transaction(f);
    }
    // SQLite has one writer at a time. Writers of this process queue on a mutex, which
    // hands over as soon as the lock is free; left to SQLite they would poll it, sleeping
    // 1, 2, 5 … 100 ms in its busy handler (tail latencies of tens of milliseconds under
    // concurrent logins). busy_timeout still covers writers in other processes.
    let _writer = matches!(conn, DbConn::Sqlite(_)).then(|| {
        SQLITE_WRITER
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    });
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Postgres(_) => DbConn::begin_transaction(conn)?,
    }
    match f(conn) {
        Ok(value) => {
            if let Err(commit_error) = DbConn::commit_transaction(conn) {
                let _ = DbConn::rollback_transaction(conn);
                return Err(commit_error.into());
            }
            Ok(value)
        }
        Err(error) => {
            let _ = DbConn::rollback_transaction(conn);
            Err(error)
        }
    }
}
