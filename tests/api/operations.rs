//! Running it like production (issue #12): Prometheus metrics that only a scraper reads,
//! labelled by route pattern and outcome, and a request id on every response.

use std::collections::BTreeMap;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, browser, handoff, location, spawn_app, spawn_app_with};

backend_tests!(
    metrics_are_not_public_without_a_token_or_address,
    metrics_need_the_scrapers_token,
    metrics_count_routes_logins_guard_refusals_and_refreshes,
    metrics_can_live_on_their_own_address,
    every_response_has_a_request_id_only_trusted_proxies_choose,
);

const TOKEN: &str = "scraper-token-for-tests-only";

/// `name{labels} value` lines as (name, labels) → value; comments skipped.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap();
                    (key.to_owned(), value.trim_matches('"').to_owned())
                })
                .collect();
            (name.to_owned(), labels, value.parse().unwrap())
        })
        .collect()
}

/// The sum of the series of `name` whose labels include `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text)
        .into_iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

/// `GET /metrics` with `token` as the bearer token.
async fn metrics_with(app: &TestApp, token: &str) -> reqwest::Response {
    let request = app.client.get(app.url("/metrics")).bearer_auth(token);
    request.send().await.unwrap()
}

async fn scrape(app: &TestApp) -> String {
    let response = metrics_with(app, TOKEN).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn metrics_are_not_public_without_a_token_or_address(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/metrics").await.status(), 404);
}

async fn metrics_need_the_scrapers_token(backend: Backend) {
    let app = spawn_app_with(backend, &[("METRICS_TOKEN", TOKEN)]).await;
    assert_eq!(app.get("/metrics").await.status(), 401);
    let wrong = metrics_with(&app, "scraper-token-for-tests-onlx").await;
    assert_eq!(wrong.status(), 401);
    let response = metrics_with(&app, TOKEN).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert_eq!(
        value(
            &text,
            "build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert!(
        text.contains("db_pool_connections{state=\"idle\"}"),
        "{text}"
    );
}

async fn metrics_count_routes_logins_guard_refusals_and_refreshes(backend: Backend) {
    let app = spawn_app_with(backend, &[("METRICS_TOKEN", TOKEN)]).await;
    let admin = app.signed_in_browser("root", true).await;
    let before = scrape(&app).await;

    // A page with an id in its path, a guard refusal, a WeChat registration, a refresh
    // and its reuse.
    let user = app.create_user("alice", None, false);
    let page = admin
        .get(app.url(&format!("/admin/users/{}", user.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(app.get("/api/me").await.status(), 401);
    let login = app
        .provider_login(&browser(), "wechat", &[("identity", "zhangsan")])
        .await;
    let values = handoff(&location(&login));
    assert_eq!(app.refresh(&values["refreshToken"]).await.status(), 200);
    backdate_used_refresh_tokens(&app);
    assert_eq!(app.refresh(&values["refreshToken"]).await.status(), 401);

    let after = scrape(&app).await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    let by_pattern = [
        ("route", "/admin/users/{id}"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert!(grew("http_requests_total", &by_pattern) >= 1.0, "{after}");
    assert!(
        !after.contains(&format!("/admin/users/{}\"", user.id)),
        "no raw path as a label"
    );
    assert!(grew("http_request_duration_seconds_count", &by_pattern) >= 1.0);
    assert!(grew("guard_rejections_total", &[("code", "40101")]) >= 1.0);
    let registered = [("method", "wechat"), ("outcome", "registered")];
    assert!(grew("logins_total", &registered) >= 1.0, "{after}");
    let token_call = [
        ("provider", "wechat"),
        ("step", "sns/oauth2/access_token"),
        ("outcome", "ok"),
    ];
    assert!(grew("provider_calls_total", &token_call) >= 1.0, "{after}");
    assert!(grew("refresh_rotations_total", &[]) >= 1.0);
    assert!(grew("refresh_reuse_detected_total", &[]) >= 1.0);
}

/// Moves used refresh tokens out of the two-tabs grace window, as if shown a minute later.
fn backdate_used_refresh_tokens(app: &TestApp) {
    use diesel::prelude::*;
    use dingtalk_login::db::schema::refresh_tokens;
    let earlier = chrono::Utc::now().naive_utc() - chrono::TimeDelta::seconds(60);
    diesel::update(refresh_tokens::table.filter(refresh_tokens::used_at.is_not_null()))
        .set(refresh_tokens::used_at.eq(earlier))
        .execute(&mut *app.conn())
        .unwrap();
}

async fn metrics_can_live_on_their_own_address(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[("METRICS_BIND", "127.0.0.1:0"), ("METRICS_TOKEN", TOKEN)],
    )
    .await;
    let on_service = metrics_with(&app, TOKEN).await;
    assert_eq!(on_service.status(), 404, "not on the public address at all");
    let port = app.metrics_port.expect("a metrics listener");
    let private = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(private.status(), 200);
    assert!(private.text().await.unwrap().contains("build_info"));
}

async fn every_response_has_a_request_id_only_trusted_proxies_choose(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let first = app.get("/healthz").await;
    let second = app.get("/no/such/page").await;
    assert!(id(&first).len() >= 16 && id(&first) != id(&second));
    let forged = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .unwrap();
    assert_ne!(
        id(&forged),
        "chosen-by-the-client",
        "a client does not choose"
    );

    let behind_proxy = spawn_app_with(backend, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let ask = |value: &'static str| {
        behind_proxy
            .client
            .get(behind_proxy.url("/healthz"))
            .header("x-request-id", value)
            .send()
    };
    assert_eq!(id(&ask("lb-7f3a.91").await.unwrap()), "lb-7f3a.91");
    assert_ne!(
        id(&ask("bad id with spaces").await.unwrap()),
        "bad id with spaces"
    );
}
