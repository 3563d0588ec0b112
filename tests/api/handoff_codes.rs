//! Issue #12 §5: `HANDOFF_MODE=code` keeps the tokens out of the URL: the SPA gets a
//! one-time code and exchanges it at `POST /api/token/exchange`.

use crate::backend_tests;
use crate::helpers::{
    Backend, TestApp, browser, error_code, location, query_param, spawn_app_with,
};

backend_tests!(
    the_spa_gets_a_code_and_exchanges_it_once,
    a_late_or_unknown_code_is_refused,
    password_logins_hand_over_a_code_too,
);

fn code_of(location: &str) -> String {
    let (_, fragment) = location.split_once('#').expect("a fragment");
    assert!(
        !location.contains("token="),
        "no token in the URL: {location}"
    );
    query_param(fragment, "code").expect("a code in the handoff")
}

async fn exchange(app: &TestApp, code: &str) -> reqwest::Response {
    browser()
        .post(app.url("/api/token/exchange"))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap()
}

async fn the_spa_gets_a_code_and_exchanges_it_once(backend: Backend) {
    let app = spawn_app_with(backend, &[("HANDOFF_MODE", "code")]).await;
    let response = app
        .dingtalk_login(&browser(), &[("identity", "zhangsan")])
        .await;
    assert_eq!(response.status(), 303);
    let code = code_of(&location(&response));
    assert!(code.len() >= 32, "at least 192 random bits");
    let exchanged = exchange(&app, &code).await;
    assert_eq!(exchanged.status(), 200);
    assert_eq!(exchanged.headers()["cache-control"], "no-store");
    let values: serde_json::Value = exchanged.json().await.unwrap();
    assert_eq!(values["username"], "13800138000");
    let token = values["token"].as_str().unwrap();
    assert_eq!(app.me(token).await.status(), 200);
    let refreshed = app.refresh(values["refreshToken"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), 200, "the refresh token of that login");

    // Used again (it leaked): refused, and the login it stood for ends.
    assert_eq!(error_code(exchange(&app, &code).await, 401).await, 40104);
    let rotated: serde_json::Value = refreshed.json().await.unwrap();
    assert_eq!(
        error_code(app.me(rotated["token"].as_str().unwrap()).await, 401).await,
        40104
    );
}

async fn a_late_or_unknown_code_is_refused(backend: Backend) {
    use diesel::prelude::*;
    use dingtalk_login::db::schema::handoff_codes;
    let app = spawn_app_with(backend, &[("HANDOFF_MODE", "code")]).await;
    let response = app
        .dingtalk_login(&browser(), &[("identity", "zhangsan")])
        .await;
    let code = code_of(&location(&response));
    let long_ago = chrono::Utc::now().naive_utc() - chrono::TimeDelta::seconds(61);
    diesel::update(handoff_codes::table)
        .set(handoff_codes::expires_at.eq(long_ago))
        .execute(&mut app.conn())
        .unwrap();
    assert_eq!(error_code(exchange(&app, &code).await, 401).await, 40102);
    assert_eq!(
        error_code(exchange(&app, "made-up-code").await, 401).await,
        40102
    );
}

async fn password_logins_hand_over_a_code_too(backend: Backend) {
    let app = spawn_app_with(backend, &[("HANDOFF_MODE", "code")]).await;
    app.create_user("alice", None, false);
    let response = app.form_login(&app.client, "alice").await;
    let code = code_of(&location(&response));
    let values: serde_json::Value = exchange(&app, &code).await.json().await.unwrap();
    assert_eq!(values["username"], "alice");
}
