//! The connection enum over SQLite and PostgreSQL, its r2d2 manager (SQLite pragmas on
//! every connection), embedded migrations per backend, and write transactions.

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, R2D2Connection};
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

/// An r2d2 manager that picks the backend from the URL itself, so a failed connection
/// reports the backend's own error (diesel's generic manager would try every variant).
pub struct Manager {
    url: DatabaseUrl,
    /// The longest a statement may run on the server (PostgreSQL's `statement_timeout`).
    budget: Duration,
}

impl Manager {
    pub fn new(url: DatabaseUrl, budget: Duration) -> Manager {
        Manager { url, budget }
    }

    pub fn broken(conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConn, ConnectionError> {
        let mut conn = establish(&self.url)?;
        if let DbConn::Postgres(pg) = &mut conn {
            // The server ends a statement that runs past the request's budget, so a
            // runaway query does not hold a connection after its request gave up.
            pg.batch_execute(&format!(
                "SET statement_timeout = {}",
                self.budget.as_millis()
            ))
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
        }
        Ok(conn)
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
        DatabaseUrl::Postgres(raw) => diesel::PgConnection::establish(&with_network_limits(raw))
            .map(DbConn::Postgres)
            // libpq's messages span lines; logs and the command line want one.
            .map_err(|error| match error {
                ConnectionError::BadConnection(message) => ConnectionError::BadConnection(
                    message.split_whitespace().collect::<Vec<_>>().join(" "),
                ),
                other => other,
            }),
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

/// libpq waits for a server forever unless told otherwise: connecting is bounded (also
/// when the server accepts the TCP connection and then says nothing), and TCP keepalives
/// find a peer that vanished. Parameters the operator set in `DATABASE_URL` win.
fn with_network_limits(raw: &str) -> String {
    let mut url = raw.to_owned();
    for (key, value) in [
        ("connect_timeout", "5"),
        ("keepalives", "1"),
        ("keepalives_idle", "30"),
        ("keepalives_interval", "10"),
        ("keepalives_count", "3"),
    ] {
        let present = url
            .split_once('?')
            .is_some_and(|(_, query)| query.split('&').any(|p| p.starts_with(&format!("{key}="))));
        if !present {
            let separator = if url.contains('?') { '&' } else { '?' };
            url = format!("{url}{separator}{key}={value}");
        }
    }
    url
}

/// Whether the database takes writes: SQLite must write a page (a read-only file or
/// folder refuses), PostgreSQL must not be read-only (a standby, or
/// `default_transaction_read_only`).
pub fn check_writable(conn: &mut DbConn) -> Result<(), DbError> {
    match conn {
        DbConn::Sqlite(sqlite) => {
            // In WAL mode a read-only file still grants the write lock; only a real write
            // fails. This one is rolled back, so nobody sees a schema change.
            let _writer = SQLITE_WRITER
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            sqlite.batch_execute("BEGIN IMMEDIATE")?;
            let written = sqlite.batch_execute("CREATE TABLE _dl_write_check (x INTEGER)");
            sqlite.batch_execute("ROLLBACK")?;
            Ok(written?)
        }
        DbConn::Postgres(pg) => {
            let read_only: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
                "current_setting('transaction_read_only')",
            ))
            .get_result(pg)?;
            if read_only == "on" {
                return Err(DbError::ReadOnly);
            }
            Ok(())
        }
    }
}

static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A read-modify-write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, taking the
/// write lock up front: a deferred transaction that reads first and writes later fails with
/// SQLITE_BUSY (not retried by busy_timeout) when another writer committed in between.
/// Inside another transaction it is part of that one: steps compose into one transaction
/// without a savepoint each (two round trips saved per step on PostgreSQL). No caller
/// goes on after a step failed (every one returns the error, rolling back the whole); the
/// one place that must recover from a failed step — a lost race in a first login — takes
/// its own savepoint (`accounts::linking`).
pub fn write_transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let depth = DbConn::transaction_manager_status_mut(conn).transaction_depth()?;
    if depth.is_some() {
        return f(conn);
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
