//! What the service counts, for Prometheus (`GET /metrics`, see `web::pages::metrics`):
//! one recorder per process, the metric names in one place, and a function per event so
//! call sites cannot misspell a name or put an unbounded value (an id, a code, a path) in
//! a label. Labels are route patterns, providers, steps, outcomes and error codes only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::Duration;

use metrics::{Counter, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
pub const LOGINS: &str = "logins_total";
pub const GUARD_REJECTIONS: &str = "guard_rejections_total";
pub const REFRESH_ROTATIONS: &str = "refresh_rotations_total";
pub const REFRESH_REUSE: &str = "refresh_reuse_detected_total";
pub const RATE_LIMITED: &str = "rate_limit_refusals_total";
pub const PROVIDER_CALLS: &str = "provider_calls_total";
pub const PROVIDER_DURATION: &str = "provider_call_duration_seconds";
pub const DB_CONNECTIONS: &str = "db_pool_connections";
pub const OIDC_TOKENS: &str = "oidc_token_requests_total";
pub const BUILD_INFO: &str = "build_info";
pub const DIRECTORY_SYNCS: &str = "directory_syncs_total";
pub const DIRECTORY_SYNC_DURATION: &str = "directory_sync_duration_seconds";
pub const DIRECTORY_SIZE: &str = "directory_size";
pub const DIRECTORY_OFFBOARDED: &str = "directory_offboarded_users_total";
pub const DIRECTORY_STREAM: &str = "directory_stream_connected";

/// Upper bounds of the latency histograms, in seconds: 1 ms to 10 s.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Whether anyone can read the metrics (`METRICS_TOKEN` or `METRICS_BIND`): when nobody
/// can, nothing is recorded, and a request pays nothing for them.
static ENABLED: AtomicBool = AtomicBool::new(false);

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// How often histogram samples are folded into their buckets (the exporter keeps raw
/// samples until then: without this, memory would grow with every request between scrapes).
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the process's recorder (once; later calls share it) and returns its handle.
/// With `enabled` false (no way to scrape), the metrics are not recorded.
pub fn install(enabled: bool) -> PrometheusHandle {
    if enabled {
        ENABLED.store(true, Ordering::Relaxed);
    }
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new())
                .build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed already (a library user's);
            // then ours renders nothing, which is no reason to stop serving logins.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
            }
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            let upkeep = handle.clone();
            let started = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(error) = started {
                tracing::warn!(%error, "the metrics upkeep thread did not start");
            }
            handle
        })
        .clone()
}

/// The handles of one `(method, route, status)`, found again without building labels:
/// the registry lookup and three allocations per request were a quarter of the guard's
/// cost. Bounded: routes are patterns, methods outside the standard ones are `OTHER`.
type HttpSeries = (Counter, Histogram);
/// Method, route pattern, status.
type HttpLabels = (&'static str, String, u16);
static HTTP_SERIES: OnceLock<RwLock<HashMap<HttpLabels, HttpSeries>>> = OnceLock::new();

/// One answered request, by route pattern (`/admin/users/{id}`, never the raw path;
/// `unmatched` for paths no route serves).
pub fn http_request(method: &str, route: String, status: u16, elapsed: Duration) {
    if !enabled() {
        return;
    }
    let method = match method {
        "GET" => "GET",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        _ => "OTHER",
    };
    let series = HTTP_SERIES.get_or_init(Default::default);
    let key = (method, route, status);
    let known = series
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .cloned();
    let (count, duration) = match known {
        Some(handles) => handles,
        None => {
            let labels = [
                ("method", key.0.to_owned()),
                ("route", key.1.clone()),
                ("status", status.to_string()),
            ];
            let handles = (
                counter!(HTTP_REQUESTS, &labels),
                histogram!(HTTP_DURATION, &labels),
            );
            series
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, handles.clone());
            handles
        }
    };
    count.increment(1);
    duration.record(elapsed.as_secs_f64());
}

/// How a login ended, by method (`password`, `dingtalk`, `wechat`, `weibo`): `returning`,
/// `bound`, `registered`, `password` (a password login), or a refusal (`refused_org`,
/// `refused_signup`, `refused_inactive`, `proof_needed`, `throttled`, `failed`).
pub fn login(method: &'static str, outcome: &'static str) {
    if !enabled() {
        return;
    }
    counter!(LOGINS, "method" => method, "outcome" => outcome).increment(1);
}

/// A request the API guard turned away, by its `code` (40101…40105, 40301).
pub fn guard_rejection(code: u32) {
    if !enabled() {
        return;
    }
    counter!(GUARD_REJECTIONS, "code" => code.to_string()).increment(1);
}

/// A call of the OpenID token endpoint: `grant` (`authorization_code`, `refresh_token`,
/// `other`) and `outcome` (`issued` or the RFC 6749 error).
pub fn oidc_token(grant: &'static str, outcome: &'static str) {
    if !enabled() {
        return;
    }
    counter!(OIDC_TOKENS, "grant" => grant, "outcome" => outcome).increment(1);
}

pub fn refresh_rotated() {
    if !enabled() {
        return;
    }
    counter!(REFRESH_ROTATIONS).increment(1);
}

pub fn refresh_reuse_detected() {
    if !enabled() {
        return;
    }
    counter!(REFRESH_REUSE).increment(1);
}

/// A 429: `group` is a group of login endpoints, or `failed_logins` for the lockout.
pub fn rate_limited(group: &'static str) {
    if !enabled() {
        return;
    }
    counter!(RATE_LIMITED, "group" => group).increment(1);
}

/// One outbound call to a provider, by provider, step (the endpoint) and outcome (`ok` or
/// the error's kind).
pub fn provider_call(
    provider: &'static str,
    step: &'static str,
    outcome: &'static str,
    elapsed: Duration,
) {
    if !enabled() {
        return;
    }
    let labels = [("provider", provider), ("step", step), ("outcome", outcome)];
    counter!(PROVIDER_CALLS, &labels).increment(1);
    histogram!(PROVIDER_DURATION, "provider" => provider, "step" => step)
        .record(elapsed.as_secs_f64());
}

/// The pool's connections at the moment of a scrape.
pub fn db_connections(in_use: u32, idle: u32) {
    gauge!(DB_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
    gauge!(DB_CONNECTIONS, "state" => "idle").set(f64::from(idle));
}

/// A full sync of the directory: `outcome` `ok`, `failed` (DingTalk or the database) or
/// `refused` (it would have marked too many people as gone); on `ok` the mirror's size.
pub fn directory_sync(outcome: &'static str, elapsed: Duration, size: Option<(usize, usize)>) {
    if !enabled() {
        return;
    }
    counter!(DIRECTORY_SYNCS, "outcome" => outcome).increment(1);
    histogram!(DIRECTORY_SYNC_DURATION).record(elapsed.as_secs_f64());
    if let Some((departments, members)) = size {
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        {
            gauge!(DIRECTORY_SIZE, "of" => "departments").set(departments as f64);
            gauge!(DIRECTORY_SIZE, "of" => "members").set(members as f64);
        }
    }
}

/// Local users deactivated because their person left, by how it was learnt (`sync`,
/// `event`).
pub fn directory_offboarded(via: &'static str, users: usize) {
    if !enabled() || users == 0 {
        return;
    }
    counter!(DIRECTORY_OFFBOARDED, "via" => via).increment(users as u64);
}

/// Whether this instance holds its Stream-mode connection to DingTalk (1) or not (0).
pub fn directory_stream_connected(connected: bool) {
    if !enabled() {
        return;
    }
    gauge!(DIRECTORY_STREAM).set(if connected { 1.0 } else { 0.0 });
}
