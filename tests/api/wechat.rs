//! WeChat website login (issue #11): end to end through the built-in WeChat sandbox, and
//! against a WeChat double for every answer WeChat documents (errors come as HTTP 200 with
//! `errcode`, JSON as `text/plain`).

use diesel::prelude::*;
use dingtalk_login::db::schema::{sflogin, susers};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::backend_tests;
use crate::helpers::{
    Backend, TestApp, assert_nothing_written, browser, handoff, location, spawn_app, spawn_app_with,
};

backend_tests!(
    a_first_wechat_login_registers_a_user_without_phone,
    a_returning_wechat_user_is_found_again,
    a_wechat_identity_without_unionid_is_keyed_by_openid,
    refusing_on_the_qr_page_comes_back_without_code,
    a_used_code_is_40163_and_starts_again,
    wechat_is_called_with_the_documented_shapes,
    wechat_error_codes_get_their_pages,
    a_bad_state_never_reaches_wechat,
    bind_only_refuses_unknown_wechat_people,
);

const ZHANGSAN: &[(&str, &str)] = &[("identity", "zhangsan")];

struct Link {
    userid: i32,
    uid: String,
    unionid: Option<String>,
    nick: String,
}

fn wechat_links(app: &TestApp) -> Vec<Link> {
    let mut conn = app.conn();
    sflogin::table
        .filter(sflogin::types.eq(3))
        .select((
            sflogin::userid,
            sflogin::uid,
            sflogin::unionid,
            sflogin::nick,
        ))
        .load::<(i32, String, Option<String>, String)>(&mut *conn)
        .unwrap()
        .into_iter()
        .map(|(userid, uid, unionid, nick)| Link {
            userid,
            uid,
            unionid,
            nick,
        })
        .collect()
}

async fn a_first_wechat_login_registers_a_user_without_phone(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.provider_login(&app.client, "wechat", ZHANGSAN).await;
    assert_eq!(response.status(), 303);
    let values = handoff(&location(&response));
    assert!(values["username"].starts_with("wechat_"), "{values:?}");
    assert!(!values["token"].is_empty() && !values["refreshToken"].is_empty());

    let links = wechat_links(&app);
    assert_eq!(links.len(), 1);
    assert!(links[0].uid.starts_with("o6_sbx"), "the openid is the uid");
    assert!(
        links[0]
            .unionid
            .as_deref()
            .is_some_and(|u| u.starts_with("oU_sbx"))
    );
    assert_eq!(links[0].nick, "张三（微信）");
    let mut conn = app.conn();
    let (name, phone, password): (String, Option<String>, Option<String>) = susers::table
        .find(links[0].userid)
        .select((susers::name, susers::phone, susers::password_hash))
        .first(&mut *conn)
        .unwrap();
    assert_eq!(name, "张三（微信）", "the nick is the name");
    assert_eq!((phone, password), (None, None));

    let me = app.me(&values["token"]).await;
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["linkedAccounts"][0]["provider"], "wechat", "{me}");
}

async fn a_returning_wechat_user_is_found_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.provider_login(&app.client, "wechat", ZHANGSAN).await;
    let first = handoff(&location(&first));
    let again = app.provider_login(&browser(), "wechat", ZHANGSAN).await;
    let again = handoff(&location(&again));
    assert_eq!(first["userid"], again["userid"]);
    let counts = app.counts();
    assert_eq!((counts.users, counts.links), (1, 1));
}

async fn a_wechat_identity_without_unionid_is_keyed_by_openid(backend: Backend) {
    let app = spawn_app(backend).await;
    let xiaoming = &[("identity", "xiaoming")];
    let first = app.provider_login(&app.client, "wechat", xiaoming).await;
    assert_eq!(first.status(), 303);
    let links = wechat_links(&app);
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].unionid, None, "no unionid is stored as none");
    let again = app.provider_login(&browser(), "wechat", xiaoming).await;
    assert_eq!(
        handoff(&location(&first))["userid"],
        handoff(&location(&again))["userid"]
    );
    assert_eq!(app.counts().users, 1);
}

async fn refusing_on_the_qr_page_comes_back_without_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let (authorize_url, state) = app.start_login(&app.client, "wechat").await;
    assert!(
        authorize_url.ends_with("#wechat_redirect"),
        "{authorize_url}"
    );
    let qr_page = reqwest::get(&authorize_url).await.unwrap();
    assert_eq!(qr_page.status(), 200);
    let callback = app.sandbox_refusal(&authorize_url).await;
    assert!(callback.contains(&format!("state={state}")), "{callback}");
    assert!(
        !callback.contains("code="),
        "WeChat's refusal has no code: {callback}"
    );
    let page = app.client.get(callback).send().await.unwrap();
    assert_eq!(page.status(), 400);
    let html = page.text().await.unwrap();
    assert!(html.contains("已取消微信登录"), "{html}");
    assert_nothing_written(&app);
}

async fn a_used_code_is_40163_and_starts_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let (authorize_url, _) = app.start_login(&app.client, "wechat").await;
    let callback = app.sandbox_consent(&authorize_url, ZHANGSAN).await;
    let first = app.client.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), 303);
    // The same code again, with a fresh state of the same browser: WeChat says 40163.
    let code = crate::helpers::query_param(&callback, "code").unwrap();
    let (_, state) = app.start_login(&app.client, "wechat").await;
    let path = format!("/user/wechat/callback/?code={code}&state={state}");
    let again = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(again.status(), 400);
    let html = again.text().await.unwrap();
    assert!(html.contains("微信授权码无效或已使用"), "{html}");
    assert_eq!(app.counts().links, 1);
}

/// The app against a WeChat double at `wechat`.
async fn app_with_wechat(backend: Backend, wechat: &MockServer, extra: &[(&str, &str)]) -> TestApp {
    let uri = wechat.uri();
    let mut overrides = vec![
        ("WECHAT_APP_ID", "wx-test-app"),
        ("WECHAT_APP_SECRET", "wechat-secret-placeholder"),
        ("WECHAT_API_BASE", uri.as_str()),
    ];
    overrides.extend_from_slice(extra);
    spawn_app_with(backend, &overrides).await
}

/// WeChat's answers: HTTP 200, JSON bytes as `text/plain` (no charset).
fn wechat_answer(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string().into_bytes(), "text/plain")
}

async fn token_answers(wechat: &MockServer, answer: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path("/sns/oauth2/access_token"))
        .respond_with(answer)
        .mount(wechat)
        .await;
}

/// Runs a login against the double; returns status and page.
async fn login(app: &TestApp) -> (u16, String) {
    let (_, state) = app.start_login(&app.client, "wechat").await;
    let path = format!("/user/wechat/callback/?code=code-from-wechat&state={state}");
    let response = app.client.get(app.url(&path)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn wechat_is_called_with_the_documented_shapes(backend: Backend) {
    let wechat = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/sns/oauth2/access_token"))
        .and(query_param("appid", "wx-test-app"))
        .and(query_param("secret", "wechat-secret-placeholder"))
        .and(query_param("code", "code-from-wechat"))
        .and(query_param("grant_type", "authorization_code"))
        .respond_with(wechat_answer(serde_json::json!({
            "access_token": "wx-access", "expires_in": 7200, "refresh_token": "wx-refresh",
            "openid": "ohS-TestOpenid", "scope": "snsapi_login", "unionid": "ohH-TestUnionid",
        })))
        .expect(1)
        .mount(&wechat)
        .await;
    Mock::given(method("GET"))
        .and(path("/sns/userinfo"))
        .and(query_param("access_token", "wx-access"))
        .and(query_param("openid", "ohS-TestOpenid"))
        .respond_with(wechat_answer(serde_json::json!({
            "openid": "ohS-TestOpenid", "nickname": "某某某", "sex": 1, "province": "", "city": "",
            "country": "CN", "headimgurl": "https://thirdwx.qlogo.cn/x/132", "privilege": [],
            "unionid": "ohH-TestUnionid", "language": "zh_CN",
        })))
        .expect(1)
        .mount(&wechat)
        .await;
    let app = app_with_wechat(backend, &wechat, &[]).await;
    let (authorize_url, _) = app.start_login(&app.client, "wechat").await;
    assert!(
        authorize_url.starts_with(
            "https://open.weixin.qq.com/connect/qrconnect?appid=wx-test-app&redirect_uri="
        ) && authorize_url.contains("&response_type=code&scope=snsapi_login&state=")
            && authorize_url.ends_with("#wechat_redirect"),
        "{authorize_url}"
    );
    let (status, _) = login(&app).await;
    assert_eq!(status, 303);
    let links = wechat_links(&app);
    assert_eq!(links[0].uid, "ohS-TestOpenid");
    assert_eq!(links[0].unionid.as_deref(), Some("ohH-TestUnionid"));
    assert_eq!(
        links[0].nick, "某某某",
        "UTF-8 bytes read as UTF-8 under text/plain"
    );
}

async fn wechat_error_codes_get_their_pages(backend: Backend) {
    for (errcode, errmsg, status, says) in [
        (40029, "invalid code", 400, "微信授权码无效或已使用"),
        (
            40163,
            "code been used, rid: 6385e9f3-1e1a",
            400,
            "微信授权码无效或已使用",
        ),
        (
            45011,
            "api minute-quota reach limit",
            502,
            "暂时无法连接微信",
        ),
        (-1, "system error", 502, "暂时无法连接微信"),
    ] {
        let wechat = MockServer::start().await;
        token_answers(
            &wechat,
            wechat_answer(serde_json::json!({"errcode": errcode, "errmsg": errmsg})),
        )
        .await;
        let app = app_with_wechat(backend, &wechat, &[]).await;
        let (got, html) = login(&app).await;
        assert_eq!(got, status, "{errcode}: {html}");
        assert!(html.contains(says), "{errcode}: {html}");
        assert_nothing_written(&app);
    }
}

async fn a_bad_state_never_reaches_wechat(backend: Backend) {
    let wechat = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(wechat_answer(
            serde_json::json!({"errcode": 40029, "errmsg": "x"}),
        ))
        .expect(0)
        .mount(&wechat)
        .await;
    let app = app_with_wechat(backend, &wechat, &[]).await;
    let (_, state) = app.start_login(&app.client, "wechat").await;
    for query in [
        "code=c0de-from-wechat&state=forged-state".to_owned(),
        "code=c0de-from-wechat".to_owned(),
        format!("code=c0de-from-wechat&state={state}x"),
    ] {
        let path = format!("/user/wechat/callback/?{query}");
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
    }
    // Another browser cannot use this browser's state either.
    let path = format!("/user/wechat/callback/?code=c0de-from-wechat&state={state}");
    let stranger = browser().get(app.url(&path)).send().await.unwrap();
    assert_eq!(stranger.status(), 400);
    assert_nothing_written(&app);
}

async fn bind_only_refuses_unknown_wechat_people(backend: Backend) {
    let app = spawn_app_with(backend, &[("SIGNUP", "bind-only")]).await;
    let response = app.provider_login(&app.client, "wechat", ZHANGSAN).await;
    assert_eq!(response.status(), 403);
    let html = response.text().await.unwrap();
    assert!(html.contains("尚未开通账号"), "{html}");
    assert_nothing_written(&app);
}
