//! "My account": linking DingTalk to a password user, unlinking, setting a password.

use dingtalk_login::db::users;

use crate::backend_tests;
use crate::helpers::{Backend, PASSWORD, browser, error_code, handoff, location, spawn_app};

backend_tests!(
    a_password_user_links_dingtalk_and_logs_in_with_it,
    a_dingtalk_account_of_someone_else_cannot_be_linked,
    a_dingtalk_user_sets_a_password_before_unlinking,
    changing_the_password_ends_every_other_session,
);

async fn a_password_user_links_dingtalk_and_logs_in_with_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.signed_in_browser("alice", false).await;
    let authorize_url = app.start_linking(&client).await;
    let callback = app
        .sandbox_consent(&authorize_url, &[("identity", "wangwu")])
        .await;
    let done = client.get(callback).send().await.unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), "/account?done=linked&provider=dingtalk");
    let page = app.page(&client, &location(&done)).await;
    assert!(
        page.contains("王五") && page.contains("已绑定钉钉账号"),
        "{page}"
    );

    let values = handoff(&location(
        &app.dingtalk_login(&browser(), &[("identity", "wangwu")])
            .await,
    ));
    let alice = app.api_login("alice", PASSWORD).await;
    let alice: serde_json::Value = alice.json().await.unwrap();
    assert_eq!(
        values["userid"],
        alice["userid"].to_string(),
        "DingTalk now logs alice in"
    );
}

async fn a_dingtalk_account_of_someone_else_cannot_be_linked(backend: Backend) {
    let app = spawn_app(backend).await;
    app.dingtalk_tokens(&[("identity", "wangwu")]).await;
    let client = app.signed_in_browser("alice", false).await;
    let authorize_url = app.start_linking(&client).await;
    let callback = app
        .sandbox_consent(&authorize_url, &[("identity", "wangwu")])
        .await;
    let refused = client.get(callback).send().await.unwrap();
    assert_eq!(refused.status(), 409);
    assert!(refused.text().await.unwrap().contains("已绑定其他用户"));
    assert_eq!(app.counts().links, 1, "only wangwu's own link exists");
    let alice = users::find_by_username(&mut app.conn(), "alice")
        .unwrap()
        .unwrap();
    assert!(
        users::links_of(&mut app.conn(), alice.id)
            .unwrap()
            .is_empty()
    );
}

async fn a_dingtalk_user_sets_a_password_before_unlinking(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = browser();
    let values = handoff(&location(
        &app.dingtalk_login(&client, &[("identity", "zhangsan")])
            .await,
    ));
    let unlink = [("provider", "1")];
    let refused = app
        .submit(&client, "/account", "/account/unlink", &unlink)
        .await;
    assert_eq!(refused.status(), 409);
    assert_eq!(app.counts().links, 1);

    let short = [("password", "short"), ("confirm", "short")];
    let refused = app
        .submit(&client, "/account", "/account/password", &short)
        .await;
    assert_eq!(refused.status(), 400);
    let form = [("password", PASSWORD), ("confirm", PASSWORD)];
    let set = app
        .submit(&client, "/account", "/account/password", &form)
        .await;
    assert_eq!(location(&set), "/account?done=password");
    assert_eq!(
        app.api_login(&values["username"], PASSWORD).await.status(),
        200
    );

    let unlinked = app
        .submit(&client, "/account", "/account/unlink", &unlink)
        .await;
    assert_eq!(location(&unlinked), "/account?done=unlinked");
    assert_eq!(app.counts().links, 0);
}

/// T-48: a changed password ends the sessions of whoever knew the old one (or held its
/// tokens); the browser that changed it stays signed in.
async fn changing_the_password_ends_every_other_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.signed_in_browser("alice", false).await;
    let elsewhere: serde_json::Value = app.api_login("alice", PASSWORD).await.json().await.unwrap();
    let token = elsewhere["token"].as_str().unwrap();
    let refresh = elsewhere["refreshToken"].as_str().unwrap();
    assert_eq!(app.me(token).await.status(), 200);

    let new = "a brand new passphrase";
    let form = [("current", PASSWORD), ("password", new), ("confirm", new)];
    let changed = app
        .submit(&client, "/account", "/account/password", &form)
        .await;
    assert_eq!(location(&changed), "/account?done=password");

    assert_eq!(error_code(app.me(token).await, 401).await, 40104);
    assert_eq!(error_code(app.refresh(refresh).await, 401).await, 40104);
    let page = client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(
        page.status(),
        200,
        "the browser that changed it stays signed in"
    );
    assert_eq!(app.api_login("alice", new).await.status(), 200);
}
