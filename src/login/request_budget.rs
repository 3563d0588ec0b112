//! A per-address request budget for the login endpoints (threat T-60 in
//! `docs/threat-model.md`), in one-minute windows per client address and group of
//! endpoints (each provider's start and callback, password login, refresh):
//!
//! - what an attacker produces — failed callbacks, failed passwords, refreshes with bad
//!   tokens, anything answered 4xx — is limited tightly (`RATE_LIMIT_PER_MINUTE`);
//! - everything else only by a generous ceiling (`RATE_LIMIT_CEILING_PER_MINUTE`), so an
//!   office of hundreds behind one NAT address signing in at 9:00 sees no 429.
//!
//! On PostgreSQL the counts live in the database (`db::limits`), so every instance behind
//! a load balancer enforces the same limit; on SQLite (one instance) in memory, bounded. A
//! database that does not answer lets requests through: the request then fails on its own
//! with 503, and a limiter must not add an outage. The middleware that applies it is
//! `web::middleware::rate_limit`.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::crypto::{salted_key, sha256_hex};
use crate::db::{self, DbError, DbPool};

const WINDOW: Duration = Duration::from_secs(60);
/// Bounds memory under a flood from many addresses (about 6 MB): the least recently seen
/// callers are forgotten first.
const MAX_TRACKED: usize = 100_000;

/// Who is counted: an IPv4 address, or an IPv6 /64 — one household or office gets a whole
/// /64, so counting single IPv6 addresses would give each client 2^64 budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    V4(u32),
    V6Prefix(u64),
}

impl From<IpAddr> for Client {
    fn from(ip: IpAddr) -> Client {
        match ip {
            IpAddr::V4(v4) => Client::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client::V4(v4.into()),
                None => Client::V6Prefix((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// A client and the group of endpoints it calls.
type Caller = (Client, &'static str);

/// One caller's window: when it started, requests and failures in it.
#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    hits: u32,
    failures: u32,
}

/// Where the counts live.
enum Store {
    Memory(Mutex<LruCache<Caller, Window>>),
    /// PostgreSQL; callers are keyed by a hash keyed with a secret every instance shares
    /// (the session secret), so the table holds no addresses.
    Shared {
        pool: DbPool,
        salt: String,
    },
}

pub struct RequestBudget {
    failures_per_minute: u32,
    ceiling_per_minute: u32,
    store: Store,
}

impl RequestBudget {
    /// Counted in this process.
    pub fn in_memory(failures_per_minute: u32, ceiling_per_minute: u32) -> RequestBudget {
        RequestBudget::with_capacity(failures_per_minute, ceiling_per_minute, MAX_TRACKED)
    }

    pub fn with_capacity(
        failures_per_minute: u32,
        ceiling_per_minute: u32,
        capacity: usize,
    ) -> RequestBudget {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        RequestBudget {
            failures_per_minute,
            ceiling_per_minute,
            store: Store::Memory(Mutex::new(LruCache::new(capacity))),
        }
    }

    /// Counted in PostgreSQL, shared by every instance on it.
    pub fn shared(
        failures_per_minute: u32,
        ceiling_per_minute: u32,
        pool: DbPool,
        secret: &str,
    ) -> RequestBudget {
        RequestBudget {
            failures_per_minute,
            ceiling_per_minute,
            store: Store::Shared {
                pool,
                salt: sha256_hex(&format!("rate-limit\u{0}{secret}")),
            },
        }
    }

    /// Counts one request (or, with `failure`, one failed request); `Err(wait)` when the
    /// client is over either budget of this minute.
    pub async fn count(
        &self,
        address: IpAddr,
        group: &'static str,
        failure: bool,
    ) -> Result<(), Duration> {
        if self.failures_per_minute == 0 && self.ceiling_per_minute == 0 {
            return Ok(());
        }
        let window = match &self.store {
            Store::Memory(windows) => {
                let now = Instant::now();
                let mut windows = windows.lock().unwrap_or_else(PoisonError::into_inner);
                let window = windows.get_or_insert_mut((address.into(), group), || Window {
                    started: now,
                    hits: 0,
                    failures: 0,
                });
                if now - window.started >= WINDOW {
                    *window = Window {
                        started: now,
                        hits: 0,
                        failures: 0,
                    };
                }
                if failure {
                    window.failures += 1;
                } else {
                    window.hits += 1;
                }
                let left = WINDOW.saturating_sub(now - window.started);
                (window.hits, window.failures, left)
            }
            Store::Shared { pool, salt } => {
                let key = caller_key(salt, address.into(), group);
                let counted = db::run::<_, DbError, _>(pool, move |conn| {
                    db::limits::count_request(conn, &key, failure)
                })
                .await;
                match counted {
                    Ok(w) => (
                        w.hits.max(0) as u32,
                        w.failures.max(0) as u32,
                        Duration::from_secs(w.seconds_left.clamp(1, 60) as u64),
                    ),
                    Err(error) => {
                        tracing::debug!(error = %error, "the shared rate limit could not be counted");
                        return Ok(());
                    }
                }
            }
        };
        let (hits, failures, left) = window;
        let over_ceiling = self.ceiling_per_minute > 0 && hits > self.ceiling_per_minute;
        // A failure is counted after its answer: the next request is the one refused.
        let over_failures =
            self.failures_per_minute > 0 && !failure && failures >= self.failures_per_minute;
        if over_ceiling || over_failures {
            Err(left.max(Duration::from_secs(1)))
        } else {
            Ok(())
        }
    }

    /// How many callers are counted in memory (for tests and metrics).
    pub fn tracked(&self) -> usize {
        match &self.store {
            Store::Memory(windows) => windows.lock().unwrap_or_else(PoisonError::into_inner).len(),
            Store::Shared { .. } => 0,
        }
    }
}

/// `(client, group)` as a fixed-size keyed hash.
fn caller_key(salt: &str, client: Client, group: &str) -> String {
    let client = match client {
        Client::V4(v4) => format!("4:{v4}"),
        Client::V6Prefix(prefix) => format!("6:{prefix}"),
    };
    salted_key(salt, group, &client)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::RequestBudget;

    #[actix_web::test]
    async fn a_flood_of_fresh_addresses_stays_within_the_capacity() {
        let budget = RequestBudget::with_capacity(60, 600, 1_000);
        for i in 0..10_000u32 {
            let _ = budget
                .count(IpAddr::V4(Ipv4Addr::from(i)), "login", false)
                .await;
        }
        assert_eq!(budget.tracked(), 1_000);
    }

    /// 150 000 fresh addresses, more than the default capacity, leave 100 000
    /// counted (the process grows by about 12 MB of RSS).
    #[actix_web::test]
    async fn the_default_capacity_holds_under_a_flood() {
        let budget = RequestBudget::in_memory(60, 3_000);
        for i in 0..150_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            let _ = budget.count(ip, "login", false).await;
        }
        assert_eq!(budget.tracked(), super::MAX_TRACKED);
    }

    #[actix_web::test]
    async fn an_ipv6_client_cannot_rotate_through_its_64() {
        let budget = RequestBudget::in_memory(60, 2);
        let prefix = 0x2001_0db8_0000_0001u128 << 64;
        let mut results = Vec::new();
        for host in 1..=3u128 {
            let ip = IpAddr::V6(Ipv6Addr::from(prefix | host));
            results.push(budget.count(ip, "login", false).await.is_ok());
        }
        assert_eq!(results, [true, true, false]);
    }

    #[actix_web::test]
    async fn failures_are_limited_tighter_than_requests() {
        let budget = RequestBudget::in_memory(2, 1_000);
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        for _ in 0..2 {
            assert!(budget.count(ip, "login", false).await.is_ok());
            let _ = budget.count(ip, "login", true).await;
        }
        assert!(budget.count(ip, "login", false).await.is_err());
        let neighbour = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        assert!(budget.count(neighbour, "login", false).await.is_ok());
    }
}
