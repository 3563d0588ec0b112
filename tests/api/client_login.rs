//! Issue #10: silent login inside the DingTalk client. The sandbox plays the client's
//! `dd.requestAuthCode` (`/sandbox/dingtalk/client/request-auth-code`) and the older
//! host's `getuserinfo` / `user/get`.

use dingtalk_login::db::users;
use dingtalk_login::domain::UserId;

use crate::backend_tests;
use crate::helpers::{
    Backend, TestApp, browser, error_code, handoff, location, spawn_app, spawn_app_with,
};

backend_tests!(
    inside_dingtalk_a_person_is_signed_in_without_a_click,
    the_web_flow_and_the_client_find_one_user_and_one_link,
    outside_an_internal_app_there_is_no_client_login,
    refusals_inside_the_client_are_json_with_their_codes,
);

const CORP: &str = "dingsandboxcorp1";

async fn client_code(app: &TestApp, identity: &str) -> String {
    let answer: serde_json::Value = browser()
        .post(app.url("/sandbox/dingtalk/client/request-auth-code"))
        .json(&serde_json::json!({ "identity": identity }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["code"].as_str().unwrap().to_owned()
}

async fn inapp_login(app: &TestApp, client: &reqwest::Client, code: &str) -> reqwest::Response {
    client
        .post(app.url("/api/dingtalk/inapp-login"))
        .json(&serde_json::json!({ "authCode": code }))
        .send()
        .await
        .unwrap()
}

async fn inside_dingtalk_a_person_is_signed_in_without_a_click(backend: Backend) {
    let app = spawn_app_with(backend, &[("DINGTALK_CORP_IDS", CORP)]).await;
    let client = browser();
    let code = client_code(&app, "zhangsan").await;
    let response = inapp_login(&app, &client, &code).await;
    assert_eq!(response.status(), 200);
    let values: serde_json::Value = response.json().await.unwrap();
    assert_eq!(values["username"], "13800138000");
    assert_eq!(
        app.me(values["token"].as_str().unwrap()).await.status(),
        200
    );
    let account = app.page(&client, "/account").await;
    assert!(account.contains("张三"), "the browser is signed in too");
    // A code works once.
    let again = inapp_login(&app, &browser(), &code).await;
    assert_eq!(error_code(again, 401).await, 40106);
    let missing = browser()
        .post(app.url("/api/dingtalk/inapp-login"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(missing, 400).await, 40001);
    assert_eq!(app.counts().users, 1);
}

async fn the_web_flow_and_the_client_find_one_user_and_one_link(backend: Backend) {
    let app = spawn_app_with(backend, &[("DINGTALK_CORP_IDS", CORP)]).await;
    let web = handoff(&location(
        &app.dingtalk_login(&browser(), &[("identity", "zhangsan"), ("corp_id", CORP)])
            .await,
    ));
    let userid: UserId = web["userid"].parse().unwrap();
    let web_uid = users::links_of(&mut app.conn(), userid).unwrap()[0]
        .uid
        .clone();
    for _ in 0..2 {
        let code = client_code(&app, "zhangsan").await;
        let inside: serde_json::Value = inapp_login(&app, &browser(), &code)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(inside["userid"].to_string(), web["userid"]);
    }
    let links = users::links_of(&mut app.conn(), userid).unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].uid, web_uid, "the web flow's openId stays");
    assert_eq!(app.counts().users, 1);
    // And the other way round: first inside the client, then the web flow.
    let code = client_code(&app, "wangwu").await;
    let inside: serde_json::Value = inapp_login(&app, &browser(), &code)
        .await
        .json()
        .await
        .unwrap();
    let web = handoff(&location(
        &app.dingtalk_login(&browser(), &[("identity", "wangwu"), ("corp_id", CORP)])
            .await,
    ));
    assert_eq!(inside["userid"].to_string(), web["userid"]);
    assert_eq!(app.counts().links, 2);
}

async fn outside_an_internal_app_there_is_no_client_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let code = client_code(&app, "zhangsan").await;
    assert_eq!(
        error_code(inapp_login(&app, &browser(), &code).await, 404).await,
        40401
    );
    assert_eq!(app.counts().users, 0);
}

/// The in-client API's refusals: not a member (40303), no account under bind-only (40305),
/// a phone number that belongs to an account that must prove its password (40901, the
/// identity waiting for /login/link-account). Nothing is written by any of them.
async fn refusals_inside_the_client_are_json_with_their_codes(backend: Backend) {
    let verified = [
        ("DINGTALK_CORP_IDS", CORP),
        ("DINGTALK_VERIFY_MEMBERSHIP", "true"),
    ];
    let app = spawn_app_with(backend, &verified).await;
    let code = client_code(&app, "lisi").await;
    assert_eq!(
        error_code(inapp_login(&app, &browser(), &code).await, 403).await,
        40303
    );
    assert_eq!(app.counts().users, 0);

    let closed = [
        ("DINGTALK_CORP_IDS", CORP),
        ("DINGTALK_SIGNUP", "bind-only"),
    ];
    let app = spawn_app_with(backend, &closed).await;
    let code = client_code(&app, "zhangsan").await;
    assert_eq!(
        error_code(inapp_login(&app, &browser(), &code).await, 403).await,
        40305
    );
    assert_eq!(app.counts().users, 0);

    let app = spawn_app_with(backend, &[("DINGTALK_CORP_IDS", CORP)]).await;
    app.create_user("dave", Some("13800138000"), false);
    let client = browser();
    let code = client_code(&app, "zhangsan").await;
    assert_eq!(
        error_code(inapp_login(&app, &client, &code).await, 409).await,
        40901
    );
    assert_eq!(app.counts().links, 0);
    let page = app.page(&client, "/login/link-account").await;
    assert!(
        page.contains("+86138****8000"),
        "the identity waits: {page}"
    );
}
