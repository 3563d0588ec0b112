//! Failed password logins are limited per account and per client address. A lock lasts
//! at most `MAX_LOCK`, and a success clears the account's count, so an attacker can slow a
//! real user down for minutes but never lock them out for good.
//!
//! Counts live in this process: behind a load balancer each instance counts on its own,
//! which bounds guessing at (instances × limit) per window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const ACCOUNT_FREE_FAILURES: u32 = 5;
const ADDRESS_FREE_FAILURES: u32 = 20;
const WINDOW: Duration = Duration::from_secs(15 * 60);
const BASE_LOCK: Duration = Duration::from_secs(30);
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// Bounds memory under a flood of distinct usernames or addresses.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
struct Entry {
    failures: u32,
    first_failure: Option<Instant>,
    locked_until: Option<Instant>,
}

#[derive(Default)]
pub struct LoginThrottle {
    entries: Mutex<HashMap<String, Entry>>,
}

impl LoginThrottle {
    /// `Err(retry_after)` when either key is locked.
    pub fn check(&self, account: &str, address: &str) -> Result<(), Duration> {
        let entries = self.entries.lock().expect("throttle lock");
        let now = Instant::now();
        let wait = [account_key(account), address_key(address)]
            .iter()
            .filter_map(|key| entries.get(key).and_then(|e| e.locked_until))
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(wait) => Err(wait.max(Duration::from_secs(1))),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, account: &str, address: &str) {
        let mut entries = self.entries.lock().expect("throttle lock");
        let now = Instant::now();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| {
                e.first_failure.is_some_and(|t| now - t < WINDOW)
                    || e.locked_until.is_some_and(|t| t > now)
            });
        }
        for (key, free) in [
            (account_key(account), ACCOUNT_FREE_FAILURES),
            (address_key(address), ADDRESS_FREE_FAILURES),
        ] {
            let entry = entries.entry(key).or_default();
            if entry.first_failure.is_none_or(|t| now - t > WINDOW) {
                *entry = Entry {
                    failures: 0,
                    first_failure: Some(now),
                    locked_until: None,
                };
            }
            entry.failures += 1;
            if entry.failures >= free {
                // 30 s, 60 s, 120 s … up to 15 minutes.
                let doublings = (entry.failures - free).min(10);
                let lock = (BASE_LOCK * 2u32.pow(doublings)).min(MAX_LOCK);
                entry.locked_until = Some(now + lock);
            }
        }
    }

    pub fn record_success(&self, account: &str) {
        self.entries
            .lock()
            .expect("throttle lock")
            .remove(&account_key(account));
    }
}

fn account_key(account: &str) -> String {
    format!("u:{}", account.to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("ip:{address}")
}
