//! The failed-login limits (`accounts::throttle`'s rules: per account and per client
//! address, growing locks) counted where every instance sees them: in memory with one
//! instance on SQLite, in PostgreSQL (`db::limits`) otherwise, so N instances behind a load
//! balancer give an attacker one budget, not N. A database that does not
//! answer lets the check pass: the login then fails on its own with 503.

use std::time::Duration;

use crate::accounts::LoginThrottle;
use crate::accounts::throttle::{ACCOUNT_FREE_FAILURES, ADDRESS_FREE_FAILURES, WINDOW, lock_for};
use crate::crypto::{salted_key, sha256_hex};
use crate::db::{self, DbError, DbPool};

pub enum FailedLogins {
    Memory(LoginThrottle),
    /// Keys are hashes keyed with a secret every instance shares: no names or addresses
    /// in the table.
    Shared {
        pool: DbPool,
        salt: String,
    },
}

impl FailedLogins {
    pub fn in_memory() -> FailedLogins {
        FailedLogins::Memory(LoginThrottle::default())
    }

    pub fn shared(pool: DbPool, secret: &str) -> FailedLogins {
        FailedLogins::Shared {
            pool,
            salt: sha256_hex(&format!("failed-logins\u{0}{secret}")),
        }
    }

    /// `Err(retry_after)` while the account or the address is locked.
    pub async fn check(&self, account: &str, address: &str) -> Result<(), Duration> {
        let (pool, keys) = match self {
            FailedLogins::Memory(throttle) => return throttle.check(account, address),
            FailedLogins::Shared { pool, salt } => (pool, keys(salt, account, address)),
        };
        let window = WINDOW.as_secs() as i64;
        let lookup = keys.clone();
        let counts = db::run::<_, DbError, _>(pool, move |conn| {
            db::limits::login_failures(conn, &lookup, window)
        })
        .await;
        let counts = match counts {
            Ok(counts) => counts,
            Err(error) => {
                tracing::debug!(error = %error, "the shared failed-login count could not be read");
                return Ok(());
            }
        };
        let wait = counts
            .iter()
            .filter_map(|row| {
                let free = if row.key == keys[0] {
                    ACCOUNT_FREE_FAILURES
                } else {
                    ADDRESS_FREE_FAILURES
                };
                let lock = lock_for(row.failures.max(0) as u32, free)?;
                lock.checked_sub(Duration::from_secs(row.since_last.max(0) as u64))
            })
            .max();
        match wait {
            Some(wait) if !wait.is_zero() => Err(wait.max(Duration::from_secs(1))),
            _ => Ok(()),
        }
    }

    pub async fn record_failure(&self, account: &str, address: &str) {
        let (pool, keys) = match self {
            FailedLogins::Memory(throttle) => return throttle.record_failure(account, address),
            FailedLogins::Shared { pool, salt } => (pool, keys(salt, account, address)),
        };
        let window = WINDOW.as_secs() as i64;
        let recorded = db::run::<_, DbError, _>(pool, move |conn| {
            db::limits::record_login_failure(conn, &keys, window)
        })
        .await;
        if let Err(error) = recorded {
            tracing::debug!(error = %error, "the shared failed-login count could not be written");
        }
    }

    /// A success forgets the account's failures (not the address's).
    pub async fn record_success(&self, account: &str) {
        let (pool, key) = match self {
            FailedLogins::Memory(throttle) => return throttle.record_success(account),
            FailedLogins::Shared { pool, salt } => (pool, keys(salt, account, "")[0].clone()),
        };
        let cleared = db::run::<_, DbError, _>(pool, move |conn| {
            db::limits::clear_login_failures(conn, &key)
        })
        .await;
        if let Err(error) = cleared {
            tracing::debug!(error = %error, "the shared failed-login count could not be cleared");
        }
    }
}

/// The account's key (names ignore case) and the address's.
fn keys(salt: &str, account: &str, address: &str) -> [String; 2] {
    [
        salted_key(salt, "account", &account.to_lowercase()),
        salted_key(salt, "address", address),
    ]
}

/// How long a failure count is kept in the database: its window and the longest lock.
pub const KEEP_SECS: i64 =
    (WINDOW.as_secs() + crate::accounts::throttle::MAX_LOCK.as_secs()) as i64;
