//! Issue #10 (threat T-21): only members of the company's DingTalk organisations get in,
//! and who may register at all. DingTalk is the built-in sandbox, which offers two test
//! organisations (and a personal account) when the app asks for `corpid`.

use dingtalk_login::db::users;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, browser, handoff, location, query_param, spawn_app_with};

backend_tests!(
    only_members_of_the_configured_organisation_get_in,
    bind_only_lets_in_nobody_an_admin_did_not_create,
    without_binding_by_phone_a_number_binds_nobody,
    the_sandbox_plays_the_membership_check,
);

const OURS: &str = "dingsandboxcorp1";

/// A DingTalk login in a fresh browser as zhangsan, signing in as `corp_id` ("" = personal).
async fn login_as_member_of(app: &TestApp, corp_id: &str) -> reqwest::Response {
    app.dingtalk_login(
        &browser(),
        &[("identity", "zhangsan"), ("corp_id", corp_id)],
    )
    .await
}

async fn only_members_of_the_configured_organisation_get_in(backend: Backend) {
    let app = spawn_app_with(backend, &[("DINGTALK_CORP_IDS", OURS)]).await;
    let (authorize_url, _) = app.start_dingtalk_login(&browser()).await;
    assert_eq!(
        query_param(&authorize_url, "scope").unwrap(),
        "openid corpid"
    );
    assert_eq!(
        query_param(&authorize_url, "corpId").unwrap(),
        OURS,
        "pre-selected"
    );

    for outsider in ["dingsandboxcorp2", ""] {
        let refused = login_as_member_of(&app, outsider).await;
        assert_eq!(refused.status(), 403, "corpId {outsider:?}");
        assert!(refused.text().await.unwrap().contains("仅限本企业成员"));
        assert_eq!(app.counts().users, 0, "nothing written");
    }
    let member = login_as_member_of(&app, OURS).await;
    assert_eq!(member.status(), 303);
    let values = handoff(&location(&member));
    assert_eq!(app.me(&values["token"]).await.status(), 200);
    // Someone who left (signs in as another organisation now) is refused the same way.
    assert_eq!(
        login_as_member_of(&app, "dingsandboxcorp2").await.status(),
        403
    );
    assert_eq!(app.counts().sessions, 1);
}

async fn bind_only_lets_in_nobody_an_admin_did_not_create(backend: Backend) {
    let app = spawn_app_with(backend, &[("DINGTALK_SIGNUP", "bind-only")]).await;
    let stranger = app
        .dingtalk_login(&browser(), &[("identity", "zhangsan")])
        .await;
    assert_eq!(stranger.status(), 403);
    assert!(stranger.text().await.unwrap().contains("联系管理员"));
    assert_eq!(app.counts().users, 0, "nothing written");

    let created = app.create_provider_only_user("zhang", "13800138000");
    let values = handoff(&location(
        &app.dingtalk_login(&browser(), &[("identity", "zhangsan")])
            .await,
    ));
    assert_eq!(values["userid"], created.id.to_string());
    // Returning is not registering.
    let again = handoff(&location(
        &app.dingtalk_login(&browser(), &[("identity", "zhangsan")])
            .await,
    ));
    assert_eq!(again["userid"], created.id.to_string());
    // The choice page offers no new account.
    app.create_user("wang", Some("13900139000"), false);
    let client = browser();
    let response = app.dingtalk_login(&client, &[("identity", "wangwu")]).await;
    assert_eq!(location(&response), "/login/link-account");
    let page = app.page(&client, "/login/link-account").await;
    assert!(!page.contains("new-account-form"), "{page}");
    let refused = app
        .submit(
            &client,
            "/login/link-account",
            "/login/link-account/new",
            &[],
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(app.counts().users, 2);
}

async fn without_binding_by_phone_a_number_binds_nobody(backend: Backend) {
    let app = spawn_app_with(backend, &[("DINGTALK_BIND_BY_PHONE", "false")]).await;
    let created = app.create_provider_only_user("zhang", "13800138000");
    let values = handoff(&location(
        &app.dingtalk_login(&browser(), &[("identity", "zhangsan")])
            .await,
    ));
    assert_ne!(values["userid"], created.id.to_string());
    let newcomer = users::find_by_username(&mut app.conn(), &values["username"])
        .unwrap()
        .unwrap();
    assert_eq!(newcomer.phone, None, "the number stays with its user");
    assert!(
        users::links_of(&mut app.conn(), created.id)
            .unwrap()
            .is_empty()
    );
}

/// The sandbox answers the contacts API too: 张三 is an employee, 李四 an external
/// contact, a typed-in person is not in the organisation.
async fn the_sandbox_plays_the_membership_check(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("DINGTALK_CORP_IDS", OURS),
            ("DINGTALK_VERIFY_MEMBERSHIP", "true"),
        ],
    )
    .await;
    assert_eq!(login_as_member_of(&app, OURS).await.status(), 303);
    for outsider in [
        vec![("identity", "lisi"), ("corp_id", OURS)],
        vec![("identity", "custom"), ("nick", "访客"), ("corp_id", OURS)],
    ] {
        let refused = app.dingtalk_login(&browser(), &outsider).await;
        assert_eq!(refused.status(), 403, "{outsider:?}");
    }
    assert_eq!(app.counts().users, 1);
}
