//! Threat T-60 (and T-28's proxy rule, docs/threat-model.md): floods of the login endpoints get 429, counted per
//! client address; X-Forwarded-For counts only when it comes from a trusted proxy. What an
//! attacker produces (failures) is limited tightly, successful logins only by a generous
//! ceiling (issue #12); on PostgreSQL every instance counts in one place.

use crate::backend_tests;
use crate::helpers::{Backend, PASSWORD, error_code, random_secret, skip_postgres, spawn_app_with};

backend_tests!(
    floods_of_login_endpoints_get_429,
    failures_are_limited_tighter_than_successes,
    an_office_behind_one_address_logs_in_300_times_a_minute,
    forwarded_addresses_count_only_behind_a_trusted_proxy
);

async fn floods_of_login_endpoints_get_429(backend: Backend) {
    let app = spawn_app_with(backend, &[("RATE_LIMIT_CEILING_PER_MINUTE", "3")]).await;
    for _ in 0..3 {
        assert_eq!(app.get("/user/dingtalk/authorize").await.status(), 302);
    }
    let flooded = app.get("/user/dingtalk/authorize").await;
    assert_eq!(flooded.status(), 429);
    let retry: u64 = flooded.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert!(flooded.text().await.unwrap().contains("请求过于频繁"));
    // the callback shares the DingTalk budget: nothing reaches DingTalk
    assert_eq!(
        app.get("/user/dingtalkCallback/?authCode=x&state=y")
            .await
            .status(),
        429
    );
    // each provider has its own budget
    assert_eq!(app.get("/user/wechat/authorize").await.status(), 302);
    // other endpoints are not limited
    assert_eq!(app.get("/login").await.status(), 200);
}

async fn failures_are_limited_tighter_than_successes(backend: Backend) {
    let app = spawn_app_with(backend, &[("RATE_LIMIT_PER_MINUTE", "3")]).await;
    // Successes are not failures: more of them than the failure limit pass.
    for _ in 0..5 {
        assert_eq!(app.get("/user/dingtalk/authorize").await.status(), 302);
    }
    // Forged callbacks are: after three, the fourth request is refused.
    for _ in 0..3 {
        let forged = app.get("/user/dingtalkCallback/?authCode=x&state=y").await;
        assert_eq!(forged.status(), 400);
    }
    assert_eq!(app.get("/user/dingtalk/authorize").await.status(), 429);

    for _ in 0..3 {
        assert_eq!(app.refresh("not-a-token").await.status(), 401);
    }
    assert_eq!(
        error_code(app.refresh("not-a-token").await, 429).await,
        42902
    );
}

/// 300 people behind one NAT address sign in within a minute (DingTalk, first logins):
/// none sees a 429 with the default limits.
async fn an_office_behind_one_address_logs_in_300_times_a_minute(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    for i in 0..300 {
        let nick = format!("员工{i}");
        let browser = crate::helpers::browser();
        let response = app
            .dingtalk_login(&browser, &[("identity", "custom"), ("nick", &nick)])
            .await;
        assert_eq!(response.status(), 303, "login {i}");
    }
    assert_eq!(app.counts().users, 300);
}

/// Two instances on one PostgreSQL: failures on either count against one limit, and
/// wrong passwords on either lock the account on both.
#[actix_web::test]
async fn two_instances_on_one_postgresql_share_one_limit_and_one_lockout() {
    if skip_postgres() {
        return;
    }
    let secret = random_secret();
    let shared = [
        ("SESSION_SECRET", secret.as_str()),
        ("RATE_LIMIT_PER_MINUTE", "6"),
    ];
    let a = spawn_app_with(Backend::Postgres, &shared).await;
    let mut with_database = shared.to_vec();
    with_database.push(("DATABASE_URL", a.database_url.as_str()));
    let b = spawn_app_with(Backend::Postgres, &with_database).await;

    for app in [&a, &b, &a, &b, &a, &b] {
        assert_eq!(app.refresh("not-a-token").await.status(), 401);
    }
    assert_eq!(error_code(a.refresh("not-a-token").await, 429).await, 42902);
    assert_eq!(error_code(b.refresh("not-a-token").await, 429).await, 42902);

    a.create_user("alice", None, false);
    for app in [&a, &b, &a, &b, &a] {
        let wrong = app.api_login("alice", "not the password").await;
        assert_eq!(wrong.status(), 401);
    }
    for app in [&a, &b] {
        let locked = app.api_login("alice", PASSWORD).await;
        assert_eq!(error_code(locked, 429).await, 42901, "locked on both");
    }
}

async fn forwarded_addresses_count_only_behind_a_trusted_proxy(backend: Backend) {
    let direct = spawn_app_with(backend, &[("RATE_LIMIT_CEILING_PER_MINUTE", "2")]).await;
    for (i, expected) in [(1, 302), (2, 302), (3, 429)] {
        let response = direct
            .client
            .get(direct.url("/user/dingtalk/authorize"))
            .header("X-Forwarded-For", format!("203.0.113.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            expected,
            "a spoofed X-Forwarded-For changes nothing"
        );
    }
    let proxied = spawn_app_with(
        backend,
        &[
            ("RATE_LIMIT_CEILING_PER_MINUTE", "2"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    for i in 1..=4 {
        let response = proxied
            .client
            .get(proxied.url("/user/dingtalk/authorize"))
            .header("X-Forwarded-For", format!("198.51.100.7, 203.0.113.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            302,
            "each client behind the proxy has its own budget"
        );
    }
    // The client sends its own X-Forwarded-For line, a new address each time; the proxy
    // (HAProxy does this) adds a second line with the real address: that one counts.
    for (i, expected) in [(1, 302), (2, 302), (3, 429)] {
        let response = proxied
            .client
            .get(proxied.url("/user/dingtalk/authorize"))
            .header("X-Forwarded-For", format!("192.0.2.{i}"))
            .header("X-Forwarded-For", "198.51.100.99")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            expected,
            "a forged first line does not escape the limit"
        );
    }
}
