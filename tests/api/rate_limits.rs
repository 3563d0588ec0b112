//! Threat T-60 (and T-28's proxy rule, docs/threat-model.md): floods of the login endpoints get 429, counted per
//! client address; X-Forwarded-For counts only when it comes from a trusted proxy.

use crate::backend_tests;
use crate::helpers::{Backend, error_code, spawn_app_with};

backend_tests!(
    floods_of_login_endpoints_get_429,
    forwarded_addresses_count_only_behind_a_trusted_proxy
);

async fn floods_of_login_endpoints_get_429(backend: Backend) {
    let app = spawn_app_with(backend, &[("RATE_LIMIT_PER_MINUTE", "3")]).await;
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

    for _ in 0..3 {
        assert_eq!(app.refresh("not-a-token").await.status(), 401);
    }
    assert_eq!(
        error_code(app.refresh("not-a-token").await, 429).await,
        42902
    );
    // other endpoints are not limited
    assert_eq!(app.get("/login").await.status(), 200);
}

async fn forwarded_addresses_count_only_behind_a_trusted_proxy(backend: Backend) {
    let direct = spawn_app_with(backend, &[("RATE_LIMIT_PER_MINUTE", "2")]).await;
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
            ("RATE_LIMIT_PER_MINUTE", "2"),
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
