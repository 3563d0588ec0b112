//! "My account": linking DingTalk to a password user, unlinking, setting a password.

use dingtalk_login::db::users;

use crate::backend_tests;
use crate::helpers::{Backend, PASSWORD, browser, csrf_from, handoff, location, spawn_app};

backend_tests!(
    a_password_user_links_dingtalk_and_logs_in_with_it,
    a_dingtalk_account_of_someone_else_cannot_be_linked,
    a_dingtalk_user_sets_a_password_before_unlinking,
);

async fn a_password_user_links_dingtalk_and_logs_in_with_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", None, false);
    let client = browser();
    app.form_login(&client, "alice").await;
    let csrf = csrf_from(&app, &client, "/account").await;
    let start = client
        .post(app.url("/account/link/dingtalk"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let callback = app
        .sandbox_consent(&location(&start), &[("identity", "wangwu")])
        .await;
    let done = client.get(callback).send().await.unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), "/account?done=linked");
    let page = client
        .get(app.url("/account?done=linked"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("王五") && page.contains("已绑定钉钉账号"),
        "{page}"
    );

    let values = handoff(&location(
        &app.dingtalk_login(&browser(), &[("identity", "wangwu")])
            .await,
    ));
    assert_eq!(
        values["userid"],
        alice.id.to_string(),
        "DingTalk now logs alice in"
    );
}

async fn a_dingtalk_account_of_someone_else_cannot_be_linked(backend: Backend) {
    let app = spawn_app(backend).await;
    app.dingtalk_tokens(&[("identity", "wangwu")]).await;
    let alice = app.create_user("alice", None, false);
    let client = browser();
    app.form_login(&client, "alice").await;
    let csrf = csrf_from(&app, &client, "/account").await;
    let start = client
        .post(app.url("/account/link/dingtalk"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let callback = app
        .sandbox_consent(&location(&start), &[("identity", "wangwu")])
        .await;
    let refused = client.get(callback).send().await.unwrap();
    assert_eq!(refused.status(), 409);
    assert!(refused.text().await.unwrap().contains("已绑定其他用户"));
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
    let csrf = csrf_from(&app, &client, "/account").await;
    let refused = client
        .post(app.url("/account/unlink"))
        .form(&[("csrf", csrf.as_str()), ("provider", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    assert_eq!(app.counts().links, 1);

    let short = [
        ("csrf", csrf.as_str()),
        ("password", "short"),
        ("confirm", "short"),
    ];
    assert_eq!(
        client
            .post(app.url("/account/password"))
            .form(&short)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let form = [
        ("csrf", csrf.as_str()),
        ("password", PASSWORD),
        ("confirm", PASSWORD),
    ];
    let set = client
        .post(app.url("/account/password"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&set), "/account?done=password");
    assert_eq!(
        app.api_login(&values["username"], PASSWORD).await.status(),
        200
    );

    let unlinked = client
        .post(app.url("/account/unlink"))
        .form(&[("csrf", csrf.as_str()), ("provider", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&unlinked), "/account?done=unlinked");
    assert_eq!(app.counts().links, 0);
}
