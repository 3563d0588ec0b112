//! A per-address request budget for the login endpoints (threat T-60 in
//! `docs/threat-model.md`): a flood of
//! `/user/dingtalk/*`, the callback, `/login`, `/api/login` or `/api/token/refresh` gets 429
//! instead of reaching DingTalk (and the app's API quota) or the database. Counted per
//! instance, in fixed one-minute windows.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use lru::LruCache;

use crate::config::Settings;
use crate::error::{ApiError, PageError};
use crate::web::extract::{client_address, lang_of};

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
/// When the caller's current window started, and how many requests it has made in it.
type Window = (Instant, u32);

pub struct RequestBudget {
    per_minute: u32,
    windows: Mutex<LruCache<Caller, Window>>,
}

impl RequestBudget {
    pub fn new(per_minute: u32) -> RequestBudget {
        RequestBudget::with_capacity(per_minute, MAX_TRACKED)
    }

    pub fn with_capacity(per_minute: u32, capacity: usize) -> RequestBudget {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        RequestBudget {
            per_minute,
            windows: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// Counts one request; `Err(wait)` when the client has used up this minute.
    pub fn take(&self, address: IpAddr, group: &'static str) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("rate-limit lock");
        let (started, count) = windows.get_or_insert_mut((address.into(), group), || (now, 0));
        if now - *started >= WINDOW {
            *started = now;
            *count = 0;
        }
        *count += 1;
        if *count > self.per_minute {
            Err(WINDOW.saturating_sub(now - *started))
        } else {
            Ok(())
        }
    }

    /// How many callers are counted (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.windows.lock().expect("rate-limit lock").len()
    }
}

/// Middleware: spends one request of `group`'s budget for the client's address.
pub async fn limit(
    group: &'static str,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let settings = req
        .app_data::<web::Data<Settings>>()
        .expect("Settings are registered")
        .clone();
    let budget = req
        .app_data::<web::Data<RequestBudget>>()
        .expect("RequestBudget is registered")
        .clone();
    let verdict = match client_address(req.request(), &settings.trusted_proxies) {
        Some(address) => budget.take(address, group),
        None => Ok(()),
    };
    let Err(wait) = verdict else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    crate::metrics::rate_limited(group);
    tracing::warn!(
        event = "rate_limited",
        group,
        "too many requests from one address"
    );
    let response = if req.path().starts_with("/api/") {
        ApiError::too_many_requests(wait).error_response()
    } else {
        PageError::too_many_requests(lang_of(req.request()), wait).error_response()
    };
    Ok(req.into_response(response).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::RequestBudget;

    #[test]
    fn a_flood_of_fresh_addresses_stays_within_the_capacity() {
        let budget = RequestBudget::with_capacity(60, 1_000);
        for i in 0..10_000u32 {
            let _ = budget.take(IpAddr::V4(Ipv4Addr::from(i)), "login");
        }
        assert_eq!(budget.tracked(), 1_000);
    }

    #[test]
    fn an_ipv6_client_cannot_rotate_through_its_64() {
        let budget = RequestBudget::new(2);
        let prefix = 0x2001_0db8_0000_0001u128 << 64;
        let results: Vec<bool> = (1..=3u128)
            .map(|host| {
                let ip = IpAddr::V6(Ipv6Addr::from(prefix | host));
                budget.take(ip, "login").is_ok()
            })
            .collect();
        assert_eq!(results, [true, true, false]);
    }
}
