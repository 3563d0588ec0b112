//! Issue #10: with DINGTALK_VERIFY_MEMBERSHIP, DingTalk's contacts API (the older
//! `oapi` host, with the app's own token) must say the person is an employee. DingTalk is a
//! test double here, answering in the older host's `errcode` shape.

use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, browser, spawn_app_with_dingtalk};

backend_tests!(
    an_employee_gets_in_with_numbers_sent_as_strings,
    dingtalk_api_errors_are_explained_to_the_admin_not_the_person,
    the_app_token_is_fetched_once_and_renewed_before_it_expires,
    a_person_outside_the_apps_visibility_is_told_so,
    someone_who_left_is_refused_at_the_next_login,
);

const CORP: &str = "ding-corp-1";

async fn dingtalk_double(app_token_expires_in: &str, membership: ResponseTemplate) -> MockServer {
    let dingtalk = MockServer::start().await;
    mount_double(&dingtalk, app_token_expires_in, membership).await;
    dingtalk
}

/// DingTalk's web flow, app token and contacts check on `dingtalk`.
async fn mount_double(
    dingtalk: &MockServer,
    app_token_expires_in: &str,
    membership: ResponseTemplate,
) {
    Mock::given(method("POST"))
        .and(path("/v1.0/oauth2/userAccessToken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "accessToken": "user-token", "expireIn": 7200, "corpId": CORP
        })))
        .mount(dingtalk)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/contact/users/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "nick": "员工", "openId": "open-1", "unionId": "union-1", "mobile": "13600136000", "stateCode": "86"
        })))
        .mount(dingtalk)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/oauth2/accessToken"))
        .and(body_partial_json(serde_json::json!({
            "appKey": "test-client", "appSecret": "test-client-secret-placeholder"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "accessToken": "app-token", "expireIn": app_token_expires_in
        })))
        .mount(dingtalk)
        .await;
    Mock::given(method("POST"))
        .and(path("/topapi/user/getbyunionid"))
        .and(query_param("access_token", "app-token"))
        .and(body_partial_json(
            serde_json::json!({ "unionid": "union-1" }),
        ))
        .respond_with(membership)
        .mount(dingtalk)
        .await;
}

fn answer(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn app_with(backend: Backend, dingtalk: &MockServer) -> TestApp {
    let org = [
        ("DINGTALK_CORP_IDS", CORP),
        ("DINGTALK_VERIFY_MEMBERSHIP", "true"),
    ];
    spawn_app_with_dingtalk(backend, &dingtalk.uri(), &org).await
}

/// A DingTalk login in a fresh browser; the status and the page.
async fn login(app: &TestApp) -> (u16, String) {
    let client = browser();
    let (_, state) = app.start_dingtalk_login(&client).await;
    let response = app.callback(&client, "code", &state).await;
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn app_token_requests(dingtalk: &MockServer) -> usize {
    dingtalk
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v1.0/oauth2/accessToken")
        .count()
}

async fn an_employee_gets_in_with_numbers_sent_as_strings(backend: Backend) {
    let employee = answer(serde_json::json!({
        "errcode": "0", "errmsg": "ok", "result": {"contact_type": "0", "userid": "u1"}, "request_id": "r"
    }));
    let dingtalk = dingtalk_double("7200", employee).await;
    let app = app_with(backend, &dingtalk).await;
    assert_eq!(login(&app).await.0, 303);
    assert_eq!(app.counts().users, 1);

    for (refusal, why) in [
        (
            serde_json::json!({"errcode": 0, "errmsg": "ok", "result": {"contact_type": 1}}),
            "external contact",
        ),
        (
            serde_json::json!({"errcode": 60121, "errmsg": "找不到该用户"}),
            "not found or left",
        ),
    ] {
        let dingtalk = dingtalk_double("7200", answer(refusal)).await;
        let app = app_with(backend, &dingtalk).await;
        let (status, page) = login(&app).await;
        assert_eq!(status, 403, "{why}");
        assert!(page.contains("仅限本企业成员"), "{why}: {page}");
        assert_eq!(app.counts().users, 0, "{why}: nothing written");
    }
}

async fn dingtalk_api_errors_are_explained_to_the_admin_not_the_person(backend: Backend) {
    for errcode in [
        serde_json::json!(60020),
        serde_json::json!("88"),
        serde_json::json!(40014),
    ] {
        let failing = answer(serde_json::json!({
            "errcode": errcode, "errmsg": "访问ip不在白名单之中", "sub_code": "isv.x", "request_id": "r"
        }));
        let dingtalk = dingtalk_double("7200", failing).await;
        let app = app_with(backend, &dingtalk).await;
        let (status, page) = login(&app).await;
        assert_eq!(status, 502, "{errcode}");
        assert!(page.contains("暂时无法连接钉钉"), "{page}");
        assert_eq!(app.counts().users, 0);
    }
}

async fn the_app_token_is_fetched_once_and_renewed_before_it_expires(backend: Backend) {
    let employee =
        || answer(serde_json::json!({"errcode": 0, "errmsg": "ok", "result": {"contact_type": 0}}));
    let dingtalk = dingtalk_double("7200", employee()).await;
    let app = app_with(backend, &dingtalk).await;
    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let app_url = app.url("");
        let client = browser();
        logins.spawn(async move {
            let start = client
                .get(format!("{app_url}/user/dingtalk/authorize"))
                .send()
                .await
                .unwrap();
            let location = start.headers()["location"].to_str().unwrap().to_owned();
            let state = crate::helpers::query_param(&location, "state").unwrap();
            let callback = format!("{app_url}/user/dingtalkCallback/?authCode=code&state={state}");
            client.get(callback).send().await.unwrap().status().as_u16()
        });
    }
    while let Some(status) = logins.join_next().await {
        assert_eq!(status.unwrap(), 303);
    }
    assert_eq!(
        app_token_requests(&dingtalk).await,
        1,
        "one fetch for 20 logins"
    );

    // A token that expires within the five-minute margin is renewed at the next login.
    let dingtalk = dingtalk_double("300", employee()).await;
    let app = app_with(backend, &dingtalk).await;
    assert_eq!(login(&app).await.0, 303);
    assert_eq!(login(&app).await.0, 303);
    assert_eq!(app_token_requests(&dingtalk).await, 2);
}

/// In-client login: DingTalk's 40079 (the app is not visible to this person) is a 403 that
/// says so, and nothing is written.
async fn a_person_outside_the_apps_visibility_is_told_so(backend: Backend) {
    let employee =
        answer(serde_json::json!({"errcode": 0, "errmsg": "ok", "result": {"contact_type": 0}}));
    let dingtalk = dingtalk_double("7200", employee).await;
    Mock::given(method("POST"))
        .and(path("/topapi/v2/user/getuserinfo"))
        .and(query_param("access_token", "app-token"))
        .respond_with(answer(
            serde_json::json!({"errcode": 40079, "errmsg": "不在授权范围内"}),
        ))
        .mount(&dingtalk)
        .await;
    let app = app_with(backend, &dingtalk).await;
    let response = browser()
        .post(app.url("/api/dingtalk/inapp-login"))
        .json(&serde_json::json!({ "code": "client-code" }))
        .send()
        .await
        .unwrap();
    assert_eq!(crate::helpers::error_code(response, 403).await, 40304);
    assert_eq!(app.counts().users, 0);
}

/// People leave companies: a returning user whom the contacts API no longer finds (60121)
/// is refused like a stranger, and no new session is made.
async fn someone_who_left_is_refused_at_the_next_login(backend: Backend) {
    let dingtalk = MockServer::start().await;
    // Still employed at the first login only.
    Mock::given(method("POST"))
        .and(path("/topapi/user/getbyunionid"))
        .respond_with(answer(
            serde_json::json!({"errcode": 0, "result": {"contact_type": 0}}),
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&dingtalk)
        .await;
    let left = answer(serde_json::json!({"errcode": 60121, "errmsg": "找不到该用户"}));
    mount_double(&dingtalk, "7200", left).await;
    let app = app_with(backend, &dingtalk).await;
    assert_eq!(login(&app).await.0, 303);
    let (status, page) = login(&app).await;
    assert_eq!(status, 403);
    assert!(page.contains("仅限本企业成员"), "{page}");
    assert_eq!(app.counts().sessions, 1, "no session for someone who left");
}
