//! Weibo login (issue #11): end to end through the built-in Weibo sandbox, and against a
//! Weibo double: the token's `uid` counts only once `get_token_info` confirms it for this
//! app, and `error_code` may be a number or a string.

use diesel::prelude::*;
use dingtalk_login::db::schema::sflogin;
use wiremock::matchers::{body_string_contains, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::backend_tests;
use crate::helpers::{
    Backend, TestApp, assert_nothing_written, browser, handoff, location, spawn_app, spawn_app_with,
};

backend_tests!(
    a_first_weibo_login_registers_and_a_second_finds_the_user,
    cancelling_at_weibo_is_a_friendly_page,
    weibo_is_called_with_the_documented_shapes,
    a_token_of_another_app_or_person_is_refused,
    weibo_error_codes_get_their_pages,
    a_bad_state_never_reaches_weibo,
);

const ZHAOLIU: &[(&str, &str)] = &[("identity", "zhaoliu")];

fn weibo_links(app: &TestApp) -> Vec<(i32, String, String)> {
    let mut conn = app.conn();
    sflogin::table
        .filter(sflogin::types.eq(2))
        .select((sflogin::userid, sflogin::uid, sflogin::nick))
        .load(&mut *conn)
        .unwrap()
}

async fn a_first_weibo_login_registers_and_a_second_finds_the_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.provider_login(&app.client, "weibo", ZHAOLIU).await;
    assert_eq!(first.status(), 303);
    let first = handoff(&location(&first));
    assert!(first["username"].starts_with("weibo_"), "{first:?}");
    let links = weibo_links(&app);
    assert_eq!(links.len(), 1);
    assert!(links[0].1.len() == 10 && links[0].1.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(links[0].2, "赵六的微博");

    let again = app.provider_login(&browser(), "weibo", ZHAOLIU).await;
    assert_eq!(handoff(&location(&again))["userid"], first["userid"]);
    let counts = app.counts();
    assert_eq!((counts.users, counts.links), (1, 1));
}

async fn cancelling_at_weibo_is_a_friendly_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let (authorize_url, _) = app.start_login(&app.client, "weibo").await;
    let callback = app.sandbox_refusal(&authorize_url).await;
    assert!(callback.contains("error_code=21330"), "{callback}");
    let page = app.client.get(callback).send().await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("已取消微博登录"));
    assert_nothing_written(&app);
}

async fn app_with_weibo(backend: Backend, weibo: &MockServer) -> TestApp {
    let uri = weibo.uri();
    spawn_app_with(
        backend,
        &[
            ("WEIBO_CLIENT_ID", "1352222456"),
            ("WEIBO_CLIENT_SECRET", "weibo-secret-placeholder"),
            ("WEIBO_API_BASE", uri.as_str()),
        ],
    )
    .await
}

async fn login(app: &TestApp) -> (u16, String) {
    let (_, state) = app.start_login(&app.client, "weibo").await;
    let path = format!("/user/weibo/callback/?code=code-from-weibo&state={state}");
    let response = app.client.get(app.url(&path)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A token answer in the Chinese documentation's shape (`expires_in` a string).
async fn token_answers(weibo: &MockServer, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/oauth2/access_token"))
        .respond_with(answer)
        .mount(weibo)
        .await;
}

fn good_token() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": "2.00wb-access", "remind_in": "157679999", "expires_in": "157679999",
        "uid": "1404376560",
    }))
}

async fn token_info_answers(weibo: &MockServer, uid: serde_json::Value, appkey: serde_json::Value) {
    Mock::given(method("POST"))
        .and(path("/oauth2/get_token_info"))
        .and(body_string_contains("access_token=2.00wb-access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "uid": uid, "appkey": appkey, "scope": null, "create_at": 1352267591, "expire_in": 157679471,
        })))
        .mount(weibo)
        .await;
}

async fn profile_answers(weibo: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/2/users/show.json"))
        .and(query_param("access_token", "2.00wb-access"))
        .and(query_param("uid", "1404376560"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": 1404376560u64, "idstr": "1404376560", "screen_name": "zaku", "name": "zaku",
            "avatar_large": "https://tva1.sinaimg.cn/large/x.jpg", "gender": "m",
        })))
        .mount(weibo)
        .await;
}

async fn weibo_is_called_with_the_documented_shapes(backend: Backend) {
    let weibo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/access_token"))
        .and(body_string_contains("client_id=1352222456"))
        .and(body_string_contains(
            "client_secret=weibo-secret-placeholder",
        ))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=code-from-weibo"))
        .and(body_string_contains(
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A",
        ))
        .respond_with(good_token())
        .expect(1)
        .mount(&weibo)
        .await;
    // Numbers where the token answer had strings, as Weibo's wiki shows them.
    token_info_answers(&weibo, 1404376560u64.into(), 1352222456u64.into()).await;
    profile_answers(&weibo).await;
    let app = app_with_weibo(backend, &weibo).await;
    let (authorize_url, _) = app.start_login(&app.client, "weibo").await;
    assert!(
        authorize_url.starts_with(
            "https://api.weibo.com/oauth2/authorize?client_id=1352222456&redirect_uri="
        ),
        "{authorize_url}"
    );
    let (status, html) = login(&app).await;
    assert_eq!(status, 303, "{html}");
    let links = weibo_links(&app);
    assert_eq!(
        (links[0].1.as_str(), links[0].2.as_str()),
        ("1404376560", "zaku")
    );
}

async fn a_token_of_another_app_or_person_is_refused(backend: Backend) {
    for (uid, appkey) in [
        (
            serde_json::json!(1404376560u64),
            serde_json::json!(9999999999u64),
        ),
        (
            serde_json::json!("1073880650"),
            serde_json::json!("1352222456"),
        ),
        (serde_json::Value::Null, serde_json::json!(1352222456u64)),
    ] {
        let weibo = MockServer::start().await;
        token_answers(&weibo, good_token()).await;
        token_info_answers(&weibo, uid.clone(), appkey.clone()).await;
        Mock::given(method("GET"))
            .and(path("/2/users/show.json"))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&weibo)
            .await;
        let app = app_with_weibo(backend, &weibo).await;
        let (status, html) = login(&app).await;
        assert_eq!(status, 400, "{uid} {appkey}: {html}");
        assert!(html.contains("无法确认微博账号的身份"), "{html}");
        assert_nothing_written(&app);
    }
}

async fn weibo_error_codes_get_their_pages(backend: Backend) {
    for (answer, status, says) in [
        (
            ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "error": "invalid_grant", "error_code": "21325", "error_description": "invalid authorization code:x",
            })),
            400,
            "微博授权码无效或已使用",
        ),
        (
            ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "error": "invalid_grant", "error_code": 21325, "error_description": "expired",
            })),
            400,
            "微博授权码无效或已使用",
        ),
        (
            ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "error": "invalid_client", "error_code": "21324", "error_description": "invalid client",
            })),
            502,
            "暂时无法连接微博",
        ),
        (
            ResponseTemplate::new(503).set_body_string("<html>busy</html>"),
            502,
            "暂时无法连接微博",
        ),
        (
            ResponseTemplate::new(200).set_body_string("<html>not json</html>"),
            502,
            "微博返回了无法识别的数据",
        ),
    ] {
        let weibo = MockServer::start().await;
        token_answers(&weibo, answer).await;
        let app = app_with_weibo(backend, &weibo).await;
        let (got, html) = login(&app).await;
        assert_eq!(got, status, "{html}");
        assert!(html.contains(says), "{says}: {html}");
        assert_nothing_written(&app);
    }
}

async fn a_bad_state_never_reaches_weibo(backend: Backend) {
    let weibo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(good_token())
        .expect(0)
        .mount(&weibo)
        .await;
    let app = app_with_weibo(backend, &weibo).await;
    let path = "/user/weibo/callback/?code=code-from-weibo&state=forged";
    let response = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_nothing_written(&app);
}
