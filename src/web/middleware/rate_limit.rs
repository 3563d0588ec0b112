//! A per-address request budget for the login endpoints (threat T-60 in
//! `docs/threat-model.md`): a flood of
//! `/user/dingtalk/*`, the callback, `/login`, `/api/login` or `/api/token/refresh` gets 429
//! instead of reaching DingTalk (and the app's API quota) or the database. Counted per
//! instance, in fixed one-minute windows.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};

use crate::config::Settings;
use crate::error::{ApiError, PageError};
use crate::web::extract::{client_address, lang_of};

const WINDOW: Duration = Duration::from_secs(60);
/// Bounds memory under a flood from many addresses.
const MAX_TRACKED: usize = 100_000;

/// A client address and the group of endpoints it calls.
type Caller = (IpAddr, &'static str);
/// When the caller's current window started, and how many requests it has made in it.
type Window = (Instant, u32);

pub struct RequestBudget {
    per_minute: u32,
    windows: Mutex<HashMap<Caller, Window>>,
}

impl RequestBudget {
    pub fn new(per_minute: u32) -> RequestBudget {
        RequestBudget {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request; `Err(wait)` when the address has used up this minute.
    fn take(&self, address: IpAddr, group: &'static str) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("rate-limit lock");
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, (started, _)| now - *started < WINDOW);
        }
        let (started, count) = windows.entry((address, group)).or_insert((now, 0));
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
    tracing::warn!(
        security_event = "rate_limited",
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
