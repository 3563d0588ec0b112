//! Threats T-10–T-13 (docs/threat-model.md): whatever DingTalk answers, the person gets a friendly page and
//! nothing is written. DingTalk is a misbehaving test double on a loopback port.

use std::time::{Duration, Instant};

use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_nothing_written, spawn_app_with_dingtalk};

backend_tests!(
    a_good_dingtalk_is_called_with_the_documented_shapes,
    invalid_code_is_a_400_page,
    dingtalk_server_errors_are_a_502_page,
    a_hanging_dingtalk_times_out,
    provider_calls_in_flight_are_bounded,
    malformed_token_answers_are_refused,
    an_oversized_answer_is_refused,
    redirects_from_dingtalk_are_not_followed,
    missing_contacts_permission_is_explained,
    malformed_profiles_are_refused,
    a_nickname_is_tidied_not_refused,
);

const TOKEN_PATH: &str = "/v1.0/oauth2/userAccessToken";
const PROFILE_PATH: &str = "/v1.0/contact/users/me";

async fn app_with(backend: Backend, dingtalk: &MockServer) -> TestApp {
    spawn_app_with_dingtalk(backend, &dingtalk.uri(), &[("DINGTALK_TIMEOUT_MS", "800")]).await
}

async fn token_answers(dingtalk: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(response)
        .mount(dingtalk)
        .await;
}

async fn profile_answers(dingtalk: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(good_token())
        .mount(dingtalk)
        .await;
    Mock::given(method("GET"))
        .and(path(PROFILE_PATH))
        .respond_with(response)
        .mount(dingtalk)
        .await;
}

fn good_token() -> ResponseTemplate {
    // expireIn as a string, as peers' fixtures send it
    ResponseTemplate::new(200).set_body_json(serde_json::json!({"accessToken": "dt-access", "refreshToken": "dt-refresh", "expireIn": "7200"}))
}

fn dingtalk_error(status: u16, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(
        serde_json::json!({"code": code, "message": "错误", "requestid": "8C2D-TEST"}),
    )
}

/// Runs a login against the double; returns status and page.
async fn login(app: &TestApp) -> (u16, String) {
    let (_, state) = app.start_dingtalk_login(&app.client).await;
    let response = app
        .callback(&app.client, "code-from-dingtalk", &state)
        .await;
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn a_good_dingtalk_is_called_with_the_documented_shapes(backend: Backend) {
    let dingtalk = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_partial_json(serde_json::json!({
            "clientId": "test-client",
            "clientSecret": "test-client-secret-placeholder",
            "code": "code-from-dingtalk",
            "grantType": "authorization_code"
        })))
        .respond_with(good_token())
        .expect(1)
        .mount(&dingtalk)
        .await;
    Mock::given(method("GET"))
        .and(path(PROFILE_PATH))
        .and(header("x-acs-dingtalk-access-token", "dt-access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "nick": "zhangsan", "avatarUrl": "https://static.dingtalk.com/a.png", "mobile": "150 0000 9144",
            "openId": "open-123", "unionId": "union-123", "email": "z@example.com", "stateCode": "86", "visitor": false
        })))
        .expect(1)
        .mount(&dingtalk)
        .await;
    let app = app_with(backend, &dingtalk).await;
    let (status, _) = login(&app).await;
    assert_eq!(status, 303);
    let counts = app.counts();
    assert_eq!((counts.users, counts.links, counts.sessions), (1, 1, 1));
}

async fn invalid_code_is_a_400_page(backend: Backend) {
    let dingtalk = MockServer::start().await;
    token_answers(&dingtalk, dingtalk_error(400, "invalidCode")).await;
    let app = app_with(backend, &dingtalk).await;
    let (status, html) = login(&app).await;
    assert_eq!(status, 400);
    assert!(html.contains("授权码无效"), "{html}");
    assert!(html.contains(r#"href="/login""#));
    assert_nothing_written(&app);
}

async fn dingtalk_server_errors_are_a_502_page(backend: Backend) {
    for (step_token, status) in [(true, 500), (true, 503), (false, 500)] {
        let dingtalk = MockServer::start().await;
        if step_token {
            token_answers(&dingtalk, dingtalk_error(status, "ServiceUnavailable")).await;
        } else {
            profile_answers(
                &dingtalk,
                ResponseTemplate::new(status).set_body_string("<html>gateway</html>"),
            )
            .await;
        }
        let app = app_with(backend, &dingtalk).await;
        let (got, html) = login(&app).await;
        assert_eq!(got, 502);
        assert!(html.contains("暂时无法连接钉钉"), "{html}");
        assert_nothing_written(&app);
    }
}

async fn a_hanging_dingtalk_times_out(backend: Backend) {
    let dingtalk = MockServer::start().await;
    token_answers(&dingtalk, good_token().set_delay(Duration::from_secs(30))).await;
    let app = app_with(backend, &dingtalk).await;
    let started = Instant::now();
    let hanging = async {
        let answer = login(&app).await;
        (answer, started.elapsed())
    };
    // While the callback waits on DingTalk, the service answers everything else at once.
    let meanwhile = async {
        while dingtalk
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
        {
            tokio::task::yield_now().await;
        }
        let health = reqwest::get(app.url("/healthz")).await.unwrap().status();
        (health, started.elapsed())
    };
    let (((status, _), login_done), (health, health_done)) = tokio::join!(hanging, meanwhile);
    assert_eq!(status, 502);
    assert!(
        login_done < Duration::from_secs(10),
        "bounded by DINGTALK_TIMEOUT_MS"
    );
    assert_eq!(health, 200);
    assert!(
        health_done < login_done,
        "/healthz answered while the login hung ({health_done:?} vs {login_done:?})"
    );
    assert_nothing_written(&app);
}

async fn malformed_token_answers_are_refused(backend: Backend) {
    let answers = [
        ResponseTemplate::new(200).set_body_string("{not json"),
        ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"code": "invalidCode", "message": "200 with an error body"}),
        ),
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"accessToken": 42})),
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"accessToken": ""})),
    ];
    for answer in answers {
        let dingtalk = MockServer::start().await;
        token_answers(&dingtalk, answer).await;
        let app = app_with(backend, &dingtalk).await;
        let (status, html) = login(&app).await;
        assert_eq!(status, 502);
        assert!(html.contains("无法识别"), "{html}");
        assert_nothing_written(&app);
    }
}

async fn an_oversized_answer_is_refused(backend: Backend) {
    let dingtalk = MockServer::start().await;
    let huge = format!(r#"{{"accessToken":"{}"}}"#, "a".repeat(200 * 1024));
    token_answers(&dingtalk, ResponseTemplate::new(200).set_body_string(huge)).await;
    let app = app_with(backend, &dingtalk).await;
    let (status, _) = login(&app).await;
    assert_eq!(status, 502);
    assert_nothing_written(&app);
}

async fn redirects_from_dingtalk_are_not_followed(backend: Backend) {
    let dingtalk = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(good_token())
        .expect(0)
        .mount(&elsewhere)
        .await;
    token_answers(
        &dingtalk,
        ResponseTemplate::new(307).insert_header(
            "Location",
            format!("{}{TOKEN_PATH}", elsewhere.uri()).as_str(),
        ),
    )
    .await;
    let app = app_with(backend, &dingtalk).await;
    let (status, _) = login(&app).await;
    assert_eq!(status, 502);
    assert_nothing_written(&app);
}

async fn missing_contacts_permission_is_explained(backend: Backend) {
    let dingtalk = MockServer::start().await;
    profile_answers(
        &dingtalk,
        ResponseTemplate::new(403).set_body_json(serde_json::json!({
            "code": "Forbidden.AccessDenied.AccessTokenPermissionDenied",
            "requestid": "1B2C-TEST",
            "message": "没有调用该接口的权限",
            "accessdenieddetail": {"requiredScopes": ["Contact.User.Read"]}
        })),
    )
    .await;
    let app = app_with(backend, &dingtalk).await;
    let (status, html) = login(&app).await;
    assert_eq!(status, 502);
    assert!(html.contains("Contact.User.Read"), "{html}");
    assert_nothing_written(&app);
}

async fn malformed_profiles_are_refused(backend: Backend) {
    let profiles = [
        serde_json::json!({"nick": "no open id", "unionId": "u"}),
        serde_json::json!({"nick": "empty", "openId": ""}),
        serde_json::json!({"nick": "number", "openId": 123}),
        serde_json::json!({"nick": {}, "openId": "open-1"}),
        // Ids no index could hold, or with a NUL byte (which PostgreSQL refuses): the
        // same 502 on both databases, not a 503 on one of them.
        serde_json::json!({"nick": "long", "openId": "open-1", "unionId": "u".repeat(3000)}),
        serde_json::json!({"nick": "long", "openId": "o".repeat(3000)}),
        serde_json::json!({"nick": "nul", "openId": "open\u{0}1"}),
        serde_json::json!({"nick": "nul", "openId": "open-1", "unionId": "u\u{0}1"}),
    ];
    for profile in profiles {
        let dingtalk = MockServer::start().await;
        profile_answers(&dingtalk, ResponseTemplate::new(200).set_body_json(profile)).await;
        let app = app_with(backend, &dingtalk).await;
        let (status, _) = login(&app).await;
        assert_eq!(status, 502);
        assert_nothing_written(&app);
    }
    // A 400 with DingTalk's "invalid token" shape is a failure too.
    let dingtalk = MockServer::start().await;
    profile_answers(&dingtalk, dingtalk_error(400, "InvalidAuthentication")).await;
    let app = app_with(backend, &dingtalk).await;
    assert_eq!(login(&app).await.0, 502);
    assert_nothing_written(&app);
}

/// Issue #9: at most PROVIDER_MAX_IN_FLIGHT DingTalk calls at once; beyond that a callback
/// gets "busy, try again" (503, Retry-After) at once instead of piling onto DingTalk.
async fn provider_calls_in_flight_are_bounded(backend: Backend) {
    let dingtalk = MockServer::start().await;
    token_answers(&dingtalk, good_token().set_delay(Duration::from_secs(30))).await;
    let limits = [
        ("DINGTALK_TIMEOUT_MS", "3000"),
        ("PROVIDER_MAX_IN_FLIGHT", "1"),
    ];
    let app = spawn_app_with_dingtalk(backend, &dingtalk.uri(), &limits).await;
    let first = login(&app);
    let second = async {
        while dingtalk
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
        {
            tokio::task::yield_now().await;
        }
        let started = Instant::now();
        let answer = login(&app).await;
        (answer, started.elapsed())
    };
    let ((first_status, _), ((status, html), took)) = tokio::join!(first, second);
    assert_eq!(
        first_status, 502,
        "the first one waited for DingTalk and timed out"
    );
    assert_eq!(status, 503);
    assert!(html.contains("服务繁忙"), "{html}");
    assert!(took < Duration::from_secs(2), "refused at once: {took:?}");
    assert_eq!(dingtalk.received_requests().await.unwrap().len(), 1);
    assert_nothing_written(&app);
}

/// A nickname with control characters (a NUL byte included) and of any length still signs
/// the person in: what is kept is printable and at most 64 characters.
async fn a_nickname_is_tidied_not_refused(backend: Backend) {
    let dingtalk = MockServer::start().await;
    let nick = format!("张\u{0}三{}", "长".repeat(100));
    let profile = serde_json::json!({"nick": nick, "openId": "open-1", "unionId": "union-1"});
    profile_answers(&dingtalk, ResponseTemplate::new(200).set_body_json(profile)).await;
    let app = app_with(backend, &dingtalk).await;
    let (status, _) = login(&app).await;
    assert_eq!(status, 303);
    let users = dingtalk_login::db::users::list_with_links(&mut app.conn()).unwrap();
    let (user, links) = &users[0];
    assert!(user.name.starts_with("张三长"), "{}", user.name);
    assert_eq!(user.name.chars().count(), 64);
    assert_eq!(links[0].nick, user.name);
}
