//! Single-use values that travel in the browser's cookie (OAuth states, held identities),
//! remembered as used until their lifetime is over, so that an older copy of the cookie
//! cannot use one again (threat T-3). Where every instance must see them: in memory with
//! one instance on SQLite (bounded, like the other limits), in PostgreSQL (`used_states`)
//! otherwise. Kept out of SQLite's file on purpose: a second write transaction on every
//! provider callback cost a third of the callbacks per second (docs/performance.md).

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;
use sha2::{Digest, Sha256};

use crate::crypto::sha256_hex;
use crate::db::models::now;
use crate::db::{self, DbError, DbPool};

/// At most this many used values are remembered in memory (a few MB): the least recently
/// used are forgotten first, and a state lives ten minutes.
const MAX_REMEMBERED: usize = 100_000;

pub enum UsedStates {
    /// The first 128 bits of the value's SHA-256 → until when it must be remembered.
    Memory(Mutex<LruCache<u128, Instant>>),
    Shared(DbPool),
}

impl UsedStates {
    pub fn in_memory() -> UsedStates {
        let capacity = NonZeroUsize::new(MAX_REMEMBERED).unwrap_or(NonZeroUsize::MIN);
        UsedStates::Memory(Mutex::new(LruCache::new(capacity)))
    }

    pub fn shared(pool: DbPool) -> UsedStates {
        UsedStates::Shared(pool)
    }

    /// Records `value` as used until `created_at + lifetime` (Unix seconds); `false` when
    /// it already was.
    pub async fn use_once(
        &self,
        value: &str,
        created_at: i64,
        lifetime: i64,
    ) -> Result<bool, DbError> {
        let until = created_at.saturating_add(lifetime);
        match self {
            UsedStates::Memory(used) => {
                let digest = short_digest(value);
                let left = until.saturating_sub(chrono::Utc::now().timestamp()).max(0);
                let now = Instant::now();
                let mut used = used.lock().unwrap_or_else(PoisonError::into_inner);
                if used.get(&digest).is_some_and(|expires| *expires > now) {
                    return Ok(false);
                }
                used.put(digest, now + Duration::from_secs(left as u64));
                Ok(true)
            }
            UsedStates::Shared(pool) => {
                let digest = sha256_hex(value);
                let until = chrono::DateTime::from_timestamp(until, 0)
                    .map_or_else(now, |at| at.naive_utc());
                db::run(pool, move |conn| {
                    db::used_states::use_once(conn, &digest, until)
                })
                .await
            }
        }
    }
}

/// 128 bits of SHA-256: plenty to tell a few hundred thousand random states apart, in
/// 16 bytes an entry instead of a 64-character string.
fn short_digest(value: &str) -> u128 {
    let digest = Sha256::digest(value.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}
