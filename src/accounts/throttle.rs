//! Failed password logins are limited per account and per client address. A lock lasts
//! at most `MAX_LOCK`, and a success clears the account's count, so an attacker can slow a
//! real user down for minutes but never lock them out for good.
//!
//! Memory is bounded whatever arrives (threat T-28): counters are keyed by a
//! fixed-size keyed hash of the name or address (a 15 KB username costs the same 8 bytes
//! as `alice`), and the table holds at most `MAX_ENTRIES`, dropping the least recently
//! touched first.
//!
//! This type counts in this process (one instance on SQLite); on PostgreSQL the same rules
//! count in the database (`login::failed_logins`), so several instances share one count.

use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;

/// Failures per account before it is locked.
pub const ACCOUNT_FREE_FAILURES: u32 = 5;
/// Failures per client address before it is locked.
pub const ADDRESS_FREE_FAILURES: u32 = 20;
/// Failures older than this are forgotten.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
const BASE_LOCK: Duration = Duration::from_secs(30);
/// The longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);

/// How long the `failures`-th failure locks a key that has `free` failures: 30 s, 60 s,
/// 120 s … up to 15 minutes; `None` below `free`.
pub fn lock_for(failures: u32, free: u32) -> Option<Duration> {
    (failures >= free).then(|| {
        let doublings = (failures - free).min(10);
        (BASE_LOCK * 2u32.pow(doublings)).min(MAX_LOCK)
    })
}
/// About 6 MB at most.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Account(u64),
    Address(u64),
}

#[derive(Default)]
struct Entry {
    failures: u32,
    first_failure: Option<Instant>,
    locked_until: Option<Instant>,
}

pub struct LoginThrottle {
    /// Random per process, so nobody can pick names that collide.
    hasher: RandomState,
    entries: Mutex<LruCache<Key, Entry>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::with_capacity(MAX_ENTRIES)
    }
}

impl LoginThrottle {
    pub fn with_capacity(capacity: usize) -> LoginThrottle {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        LoginThrottle {
            hasher: RandomState::new(),
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn keys(&self, account: &str, address: &str) -> [(Key, u32); 2] {
        [
            (self.account_key(account), ACCOUNT_FREE_FAILURES),
            (
                Key::Address(self.hasher.hash_one(address)),
                ADDRESS_FREE_FAILURES,
            ),
        ]
    }

    fn account_key(&self, account: &str) -> Key {
        Key::Account(self.hasher.hash_one(account.to_lowercase()))
    }

    /// `Err(retry_after)` when either key is locked.
    pub fn check(&self, account: &str, address: &str) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let wait = self
            .keys(account, address)
            .iter()
            .filter_map(|(key, _)| entries.peek(key).and_then(|e| e.locked_until))
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(wait) => Err(wait.max(Duration::from_secs(1))),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, account: &str, address: &str) {
        let keys = self.keys(account, address);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        for (key, free) in keys {
            let entry = entries.get_or_insert_mut(key, Entry::default);
            if entry.first_failure.is_none_or(|t| now - t > WINDOW) {
                *entry = Entry {
                    failures: 0,
                    first_failure: Some(now),
                    locked_until: None,
                };
            }
            entry.failures += 1;
            if let Some(lock) = lock_for(entry.failures, free) {
                entry.locked_until = Some(now + lock);
            }
        }
    }

    pub fn record_success(&self, account: &str) {
        let key = self.account_key(account);
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop(&key);
    }

    /// How many counters are held (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::LoginThrottle;

    #[test]
    fn a_flood_of_new_names_stays_within_the_capacity() {
        let throttle = LoginThrottle::with_capacity(1_000);
        let long = "x".repeat(15_000);
        for i in 0..5_000 {
            throttle.record_failure(
                &format!("{long}{i}"),
                &format!("10.0.{}.{}", i / 256, i % 256),
            );
        }
        assert_eq!(throttle.tracked(), 1_000);
    }

    #[test]
    fn five_failures_lock_the_account_and_a_success_unlocks_it() {
        let throttle = LoginThrottle::default();
        for _ in 0..5 {
            assert!(throttle.check("Alice", "192.0.2.1").is_ok());
            throttle.record_failure("Alice", "192.0.2.1");
        }
        assert!(
            throttle.check("alice", "192.0.2.99").is_err(),
            "names ignore case"
        );
        throttle.record_success("alice");
        assert!(throttle.check("alice", "192.0.2.99").is_ok());
    }
}
