//! Threats T-1–T-9 (docs/threat-model.md): the `state` binds a callback to the browser that started the login,
//! once, for a limited time; a rejected callback never calls DingTalk and writes nothing.

use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::backend_tests;
use crate::helpers::{
    Backend, TestApp, browser, location, query_param, spawn_app, spawn_app_with,
    spawn_app_with_dingtalk,
};

backend_tests!(
    authorize_builds_the_dingtalk_url_exactly,
    authorize_json_keeps_the_tutorial_contract,
    the_redirect_uri_ignores_host_headers,
    callback_without_state_is_refused_before_dingtalk,
    callback_with_another_browsers_state_is_refused,
    callback_replayed_is_refused,
    a_used_state_stays_used_with_an_older_cookie,
    one_code_in_two_flows_signs_in_once,
    callback_after_the_state_expired_is_refused,
    callback_with_a_malformed_code_is_refused,
    cancel_at_dingtalk_shows_a_friendly_page_and_uses_up_the_state,
    state_cookie_is_httponly_and_samesite_lax,
    under_https_the_cookie_is_secure_and_host_prefixed,
);

/// An app whose DingTalk is a mock that must never be called.
async fn app_with_untouchable_dingtalk(
    backend: Backend,
    extra: &[(&str, &str)],
) -> (TestApp, MockServer) {
    let dingtalk = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&dingtalk)
        .await;
    let app = spawn_app_with_dingtalk(backend, &dingtalk.uri(), extra).await;
    (app, dingtalk)
}

async fn assert_refused(app: &TestApp, response: reqwest::Response) {
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"href="/login""#),
        "the page leads back to the login page"
    );
    assert_eq!(app.counts().users, 0);
    assert_eq!(app.counts().links, 0);
    assert_eq!(app.counts().sessions, 0);
}

async fn authorize_builds_the_dingtalk_url_exactly(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("DINGTALK_CLIENT_ID", "ding-app-id"),
            ("DINGTALK_CLIENT_SECRET", "placeholder-secret"),
            ("DINGTALK_SANDBOX", "false"),
        ],
    )
    .await;
    let (url, state) = app.start_dingtalk_login(&app.client).await;
    let (base, _) = url.split_once('?').unwrap();
    assert_eq!(base, "https://login.dingtalk.com/oauth2/auth");
    assert_eq!(
        query_param(&url, "redirect_uri").unwrap(),
        app.url("/user/dingtalkCallback/")
    );
    assert_eq!(query_param(&url, "response_type").unwrap(), "code");
    assert_eq!(query_param(&url, "client_id").unwrap(), "ding-app-id");
    assert_eq!(query_param(&url, "scope").unwrap(), "openid");
    assert_eq!(query_param(&url, "prompt").unwrap(), "consent");
    // 256 random bits, base64url: opaque and unguessable
    assert_eq!(state.len(), 43);
    let (_, second) = app.start_dingtalk_login(&app.client).await;
    assert_ne!(state, second, "every login gets a fresh state");
}

async fn authorize_json_keeps_the_tutorial_contract(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/user/dingtalk/").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let url = body["url"].as_str().unwrap();
    assert!(url.starts_with(&app.url("/sandbox/dingtalk/oauth2/auth?")));
    assert!(query_param(url, "state").is_some());
}

async fn the_redirect_uri_ignores_host_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .get(app.url("/user/dingtalk/authorize"))
        .header("Host", "evil.example")
        .header("X-Forwarded-Host", "evil.example")
        .send()
        .await
        .unwrap();
    let url = location(&response);
    assert!(!url.contains("evil"), "{url}");
    assert_eq!(
        query_param(&url, "redirect_uri").unwrap(),
        app.url("/user/dingtalkCallback/")
    );
}

async fn callback_without_state_is_refused_before_dingtalk(backend: Backend) {
    let (app, _dingtalk) = app_with_untouchable_dingtalk(backend, &[]).await;
    app.start_dingtalk_login(&app.client).await;
    for query in ["authCode=abc", "authCode=abc&state=", "code=abc"] {
        let response = app.get(&format!("/user/dingtalkCallback/?{query}")).await;
        assert_refused(&app, response).await;
    }
}

async fn callback_with_another_browsers_state_is_refused(backend: Backend) {
    let (app, _dingtalk) = app_with_untouchable_dingtalk(backend, &[]).await;
    // The attacker starts a login in their own browser and sends the victim the callback.
    let attacker = browser();
    let (_, attacker_state) = app.start_dingtalk_login(&attacker).await;
    let victim = browser();
    app.start_dingtalk_login(&victim).await;
    let response = app
        .callback(&victim, "attackers-code", &attacker_state)
        .await;
    assert_refused(&app, response).await;
    // A browser with no session at all is refused the same way.
    let response = app.callback(&browser(), "x", &attacker_state).await;
    assert_refused(&app, response).await;
}

async fn callback_replayed_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (authorize_url, _) = app.start_dingtalk_login(&app.client).await;
    let callback = app
        .sandbox_consent(&authorize_url, &[("identity", "lisi")])
        .await;
    assert_eq!(
        app.client.get(&callback).send().await.unwrap().status(),
        303
    );
    let before = app.counts();
    let replay = app.client.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert_eq!(app.counts(), before, "the replay wrote nothing");
}

/// Threat T-3: the cookie forgets a used state, but a saved copy of the cookie from
/// before still holds it. The server remembers: the replay is refused before DingTalk is
/// asked anything, even with a fresh code.
async fn a_used_state_stays_used_with_an_older_cookie(backend: Backend) {
    let dingtalk = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/oauth2/userAccessToken"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"accessToken": "dt-access", "expireIn": 7200})),
        )
        .mount(&dingtalk)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/contact/users/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"nick": "李四", "openId": "open-lisi", "unionId": "union-lisi"}),
        ))
        .mount(&dingtalk)
        .await;
    let app = spawn_app_with_dingtalk(backend, &dingtalk.uri(), &[]).await;
    let start = app
        .client
        .get(app.url("/user/dingtalk/authorize"))
        .send()
        .await
        .unwrap();
    let state = query_param(&location(&start), "state").unwrap();
    let saved_cookie = start.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let first = app.callback(&app.client, "code-one", &state).await;
    assert_eq!(first.status(), 303, "the first callback signs in");
    let asked = dingtalk.received_requests().await.unwrap().len();
    let before = app.counts();

    let replay = browser()
        .get(app.url(&format!(
            "/user/dingtalkCallback/?authCode=code-two&state={state}"
        )))
        .header("cookie", saved_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    assert_eq!(
        dingtalk.received_requests().await.unwrap().len(),
        asked,
        "DingTalk was not asked"
    );
    assert_eq!(app.counts(), before, "nothing written");
}

async fn callback_after_the_state_expired_is_refused(backend: Backend) {
    // OAUTH_STATE_TTL=0: every state is already expired when the callback arrives.
    let (app, _dingtalk) =
        app_with_untouchable_dingtalk(backend, &[("OAUTH_STATE_TTL", "0")]).await;
    let (_, state) = app.start_dingtalk_login(&app.client).await;
    let response = app.callback(&app.client, "abc", &state).await;
    assert_refused(&app, response).await;
}

async fn callback_with_a_malformed_code_is_refused(backend: Backend) {
    let (app, _dingtalk) = app_with_untouchable_dingtalk(backend, &[]).await;
    let long = "a".repeat(513);
    for code in ["", long.as_str(), "代码", "abc%0D%0ALocation:%20x", "a%20b"] {
        let (_, state) = app.start_dingtalk_login(&app.client).await;
        let response = app.callback(&app.client, code, &state).await;
        assert_refused(&app, response).await;
    }
}

async fn cancel_at_dingtalk_shows_a_friendly_page_and_uses_up_the_state(backend: Backend) {
    let (app, _dingtalk) = app_with_untouchable_dingtalk(backend, &[]).await;
    let (_, state) = app.start_dingtalk_login(&app.client).await;
    let response = app
        .get(&format!(
            "/user/dingtalkCallback/?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state={state}"
        ))
        .await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains("已取消钉钉登录"));
    assert!(!html.contains("<script>alert(1)"));
    let again = app.callback(&app.client, "abc", &state).await;
    assert_refused(&app, again).await;
}

async fn state_cookie_is_httponly_and_samesite_lax(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/user/dingtalk/authorize").await;
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    // Strict would drop the cookie on DingTalk's cross-site redirect back (row A5).
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http on a developer machine: {cookie}"
    );
}

async fn under_https_the_cookie_is_secure_and_host_prefixed(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[("PUBLIC_BASE_URL", "https://login.example.test")],
    )
    .await;
    let response = app.get("/user/dingtalk/authorize").await;
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("__Host-dl_session="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_some()
    );
    let redirect_uri = query_param(&location(&response), "redirect_uri").unwrap();
    assert_eq!(
        redirect_uri,
        "https://login.example.test/user/dingtalkCallback/"
    );
}

/// T-7: a code that was used (or leaked and injected into another flow with its own valid
/// state) is refused by DingTalk the second time: a page, nothing written.
async fn one_code_in_two_flows_signs_in_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (authorize_url, _) = app.start_dingtalk_login(&app.client).await;
    let callback = app
        .sandbox_consent(&authorize_url, &[("identity", "lisi")])
        .await;
    let code = query_param(&callback, "authCode").unwrap();
    assert_eq!(
        app.client.get(&callback).send().await.unwrap().status(),
        303
    );
    let before = app.counts();
    let attacker = browser();
    let (_, state) = app.start_dingtalk_login(&attacker).await;
    let injected = app.callback(&attacker, &code, &state).await;
    assert_eq!(injected.status(), 400);
    assert!(injected.text().await.unwrap().contains("授权码无效"));
    assert_eq!(app.counts(), before);
}
