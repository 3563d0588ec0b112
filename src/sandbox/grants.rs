//! What every simulator keeps for a while: codes and tokens that expire, and the check of
//! an app's credentials.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::crypto::constant_time_eq;

/// DingTalk documents single-use codes; free-login codes live 5 minutes.
pub(super) const CODE_TTL: Duration = Duration::from_secs(300);
pub(super) const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(7200);

/// At most this many live codes and tokens each: a flood of consents costs bounded memory
/// (the oldest grants go first).
const MAX_GRANTS: usize = 100_000;

/// Codes or tokens that expire a fixed time after they are made: insertion order is expiry
/// order, so pruning pops from the front instead of scanning every grant on every login.
/// Shared by every provider's simulator.
pub(super) struct Grants<T> {
    inner: Mutex<GrantsInner<T>>,
}

struct GrantsInner<T> {
    by_key: HashMap<String, (Instant, T)>,
    by_age: VecDeque<(Instant, String)>,
}

impl<T: Clone> Default for Grants<T> {
    fn default() -> Self {
        Grants {
            inner: Mutex::new(GrantsInner {
                by_key: HashMap::new(),
                by_age: VecDeque::new(),
            }),
        }
    }
}

impl<T: Clone> Grants<T> {
    pub(super) fn insert(&self, key: String, value: T, ttl: Duration) {
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while inner
            .by_age
            .front()
            .is_some_and(|(expires, _)| *expires <= now || inner.by_age.len() >= MAX_GRANTS)
        {
            if let Some((_, old)) = inner.by_age.pop_front() {
                inner.by_key.remove(&old);
            }
        }
        inner.by_age.push_back((now + ttl, key.clone()));
        inner.by_key.insert(key, (now + ttl, value));
    }

    /// Single use: gone after the first look, valid or not; `None` when unknown or expired.
    pub(super) fn take(&self, key: &str) -> Option<T> {
        let (expires, value) = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_key
            .remove(key)?;
        (expires > Instant::now()).then_some(value)
    }

    /// Looked at, not used up; `None` when unknown or expired.
    pub(super) fn get(&self, key: &str) -> Option<T> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (expires, value) = inner.by_key.get(key)?;
        (*expires > Instant::now()).then(|| value.clone())
    }
}

/// Whether `given` (app id, secret) are the `expected` ones: both compared, in constant
/// time, like a real authorization server would. Every simulator checks its app this way.
pub(super) fn credentials_match(given: (&str, &str), expected: (&str, &str)) -> bool {
    let id = constant_time_eq(given.0, expected.0);
    let secret = constant_time_eq(given.1, expected.1);
    id & secret
}
