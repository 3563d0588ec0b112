//! The DingTalk login end to end through the built-in sandbox, and the linking policy
//! (threats T-14–T-22, docs/threat-model.md).

use diesel::prelude::*;
use dingtalk_login::db::schema::{sflogin, susers};
use dingtalk_login::db::users;
use dingtalk_login::domain::UserId;
use dingtalk_login::tokens::{JwtKeys, TYP_ACCESS, TYP_REFRESH};

use crate::backend_tests;
use crate::helpers::{Backend, PASSWORD, TestApp, browser, handoff, location, spawn_app};

backend_tests!(
    first_login_registers_a_user_without_a_password,
    returning_login_finds_the_same_user,
    first_login_binds_to_a_provider_only_user_with_the_same_phone,
    a_phone_of_an_account_that_can_log_in_is_never_bound_without_its_password,
    continuing_as_a_new_account_leaves_the_phone_with_its_owner,
    a_new_account_is_made_once_even_from_an_older_cookie,
    an_admins_phone_is_never_bound_silently,
    a_login_without_phone_gets_a_generated_username,
    a_nick_never_picks_or_merges_an_account,
    a_bound_openid_wins_over_a_matching_phone,
    concurrent_first_logins_make_one_user,
    an_inactive_user_is_refused,
    login_with_next_goes_there,
    new_app_openid_is_found_by_unionid,
);

const ZHANGSAN: &[(&str, &str)] = &[("identity", "zhangsan")];

async fn first_login_registers_a_user_without_a_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.dingtalk_login(&app.client, ZHANGSAN).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let location = location(&response);
    assert!(
        location.starts_with(&app.url("/app/#/login?")),
        "{location}"
    );
    let values = handoff(&location);
    assert_eq!(values["username"], "13800138000");

    let keys = JwtKeys::new(
        app.settings.jwt_secret.expose(),
        None,
        app.settings.base_url(),
    );
    let access = keys.verify(&values["token"]).unwrap();
    let refresh = keys.verify(&values["refreshToken"]).unwrap();
    assert_eq!(access.typ, TYP_ACCESS);
    assert_eq!(refresh.typ, TYP_REFRESH);
    assert_eq!(access.userid.to_string(), values["userid"]);
    assert_eq!(access.sid, refresh.sid);
    assert!((access.exp - access.iat - 7200).abs() <= 1);
    assert!((refresh.exp - refresh.iat - 172_800).abs() <= 1);

    let mut conn = app.conn();
    let user = users::find_by_username(&mut conn, "13800138000")
        .unwrap()
        .unwrap();
    assert_eq!(user.name, "张三");
    assert_eq!(user.phone.as_deref(), Some("+8613800138000"));
    assert_eq!(user.password_hash, None, "never the phone as a password");
    let links = users::links_of(&mut conn, user.id).unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(
        links[0].types.number(),
        1,
        "the tutorial's number for DingTalk"
    );
    assert!(links[0].uid.starts_with("sbx"));
    assert!(
        links[0].token.is_none(),
        "the provider's token is not kept (T-23)"
    );
}

async fn returning_login_finds_the_same_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = handoff(&location(&app.dingtalk_login(&browser(), ZHANGSAN).await));
    let before = app.counts();
    let second = handoff(&location(&app.dingtalk_login(&browser(), ZHANGSAN).await));
    assert_eq!(first["userid"], second["userid"]);
    let after = app.counts();
    assert_eq!((after.users, after.links), (before.users, before.links));
    assert_eq!(
        after.sessions,
        before.sessions + 1,
        "each login is its own session"
    );
    assert_ne!(first["token"], second["token"]);
}

async fn first_login_binds_to_a_provider_only_user_with_the_same_phone(backend: Backend) {
    let app = spawn_app(backend).await;
    // Pre-created by an admin, written differently from DingTalk's "13900139000" + stateCode 86.
    let local = app.create_provider_only_user("wangwu", "+86 139-0013-9000");
    let values = handoff(&location(
        &app.dingtalk_login(&app.client, &[("identity", "wangwu")])
            .await,
    ));
    assert_eq!(values["userid"], local.id.to_string());
    assert_eq!(values["username"], "wangwu");
    assert_eq!(app.counts().users, 1);
    let links = users::links_of(&mut app.conn(), local.id).unwrap();
    assert_eq!(links.len(), 1);
}

/// The DingTalk login of someone whose number an account that can log in already has
/// (T-16: a recycled number, or anyone in the sandbox), in a fresh browser: the choice page.
async fn login_with_an_owned_phone(app: &TestApp) -> reqwest::Client {
    let client = browser();
    let response = app.dingtalk_login(&client, ZHANGSAN).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/login/link-account");
    client
}

async fn a_phone_of_an_account_that_can_log_in_is_never_bound_without_its_password(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let dave = app.create_user("dave", Some("13800138000"), false);
    let before = app.counts();
    let stranger = login_with_an_owned_phone(&app).await;
    assert_eq!(
        app.counts(),
        before,
        "nothing is written on DingTalk's word"
    );
    let page = app.page(&stranger, "/login/link-account").await;
    assert!(page.contains("+86138****8000"), "{page}");
    assert!(!page.contains("dave"), "the page does not name the account");

    let wrong = [("username", "dave"), ("password", "not dave's password")];
    let refused = app
        .submit(
            &stranger,
            "/login/link-account",
            "/login/link-account",
            &wrong,
        )
        .await;
    assert_eq!(refused.status(), 401);
    assert_eq!(app.counts(), before);

    let right = [("username", "dave"), ("password", PASSWORD)];
    let linked = app
        .submit(
            &stranger,
            "/login/link-account",
            "/login/link-account",
            &right,
        )
        .await;
    assert_eq!(linked.status(), 303);
    assert_eq!(handoff(&location(&linked))["userid"], dave.id.to_string());
    assert_eq!(users::links_of(&mut app.conn(), dave.id).unwrap().len(), 1);
    // From now on DingTalk signs dave in directly.
    let again = handoff(&location(&app.dingtalk_login(&browser(), ZHANGSAN).await));
    assert_eq!(again["userid"], dave.id.to_string());
}

async fn continuing_as_a_new_account_leaves_the_phone_with_its_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    // A user who logs in through another DingTalk account (a link, no password) owns the number.
    let owner = app
        .dingtalk_tokens(&[
            ("identity", "custom"),
            ("nick", "原主人"),
            ("mobile", "13800138000"),
        ])
        .await;
    let stranger = login_with_an_owned_phone(&app).await;
    let created = app
        .submit(
            &stranger,
            "/login/link-account",
            "/login/link-account/new",
            &[],
        )
        .await;
    assert_eq!(created.status(), 303);
    let values = handoff(&location(&created));
    assert_ne!(values["userid"], owner["userid"]);
    let newcomer = users::find_by_username(&mut app.conn(), &values["username"])
        .unwrap()
        .unwrap();
    assert_eq!(newcomer.phone, None, "the number stays with its owner");
    assert_eq!(newcomer.name, "张三");
    let owner_id: UserId = owner["userid"].parse().unwrap();
    assert_eq!(users::links_of(&mut app.conn(), owner_id).unwrap().len(), 1);
    // The waiting identity is used up: the page is gone.
    let gone = stranger
        .get(app.url("/login/link-account"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 400);
}

/// Threat T-3 for the held identity: "continue as a new account" works once; a saved copy
/// of the cookie from before it makes nothing more.
async fn a_new_account_is_made_once_even_from_an_older_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("dave", Some("13800138000"), false);
    let stranger = login_with_an_owned_phone(&app).await;
    let page = stranger
        .get(app.url("/login/link-account"))
        .send()
        .await
        .unwrap();
    let saved_cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = crate::helpers::csrf_in(&page.text().await.unwrap());
    let created = stranger
        .post(app.url("/login/link-account/new"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    let before = app.counts();

    let replay = browser()
        .post(app.url("/login/link-account/new"))
        .header("cookie", saved_cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("登录请求已失效"));
    assert_eq!(app.counts(), before, "nothing more was made or signed in");
}

async fn an_admins_phone_is_never_bound_silently(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.create_user("boss", Some("13800138000"), true);
    let stranger = login_with_an_owned_phone(&app).await;
    let created = app
        .submit(
            &stranger,
            "/login/link-account",
            "/login/link-account/new",
            &[],
        )
        .await;
    let values = handoff(&location(&created));
    assert_ne!(values["userid"], admin.id.to_string());
    assert!(
        users::links_of(&mut app.conn(), admin.id)
            .unwrap()
            .is_empty()
    );
    let newcomer = users::find_by_id(&mut app.conn(), values["userid"].parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(newcomer.phone, None, "the admin keeps the phone");
    assert_eq!(newcomer.role, "user");
}

async fn a_login_without_phone_gets_a_generated_username(backend: Backend) {
    let app = spawn_app(backend).await;
    // A local user with no phone must not match a DingTalk account with no phone.
    app.create_user("nophone", None, false);
    let values = handoff(&location(
        &app.dingtalk_login(&app.client, &[("identity", "lisi")])
            .await,
    ));
    assert!(values["username"].starts_with("dingtalk_"), "{values:?}");
    assert_eq!(app.counts().users, 2);
    let user = users::find_by_username(&mut app.conn(), &values["username"])
        .unwrap()
        .unwrap();
    assert_eq!(user.name, "李四");
    assert_eq!(user.phone, None);
}

async fn a_bound_openid_wins_over_a_matching_phone(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = handoff(&location(&app.dingtalk_login(&browser(), ZHANGSAN).await));
    let bound: i32 = first["userid"].parse().unwrap();
    // The bound user's phone changes, and a different local user now has the number
    // DingTalk reports for the bound account.
    diesel::update(susers::table.find(bound))
        .set(susers::phone.eq(None::<String>))
        .execute(&mut app.conn())
        .unwrap();
    let other = app.create_user("other", Some("13800138000"), false);
    let again = handoff(&location(&app.dingtalk_login(&browser(), ZHANGSAN).await));
    assert_eq!(again["userid"], first["userid"], "the binding wins");
    assert!(
        users::links_of(&mut app.conn(), other.id)
            .unwrap()
            .is_empty(),
        "nothing re-bound"
    );
}

async fn concurrent_first_logins_make_one_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let (tab_a, tab_b) = (browser(), browser());
    let (url_a, _) = app.start_dingtalk_login(&tab_a).await;
    let (url_b, _) = app.start_dingtalk_login(&tab_b).await;
    let callback_a = app.sandbox_consent(&url_a, ZHANGSAN).await;
    let callback_b = app.sandbox_consent(&url_b, ZHANGSAN).await;
    let (a, b) = tokio::join!(tab_a.get(&callback_a).send(), tab_b.get(&callback_b).send());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (303, 303));
    assert_eq!(
        handoff(&location(&a))["userid"],
        handoff(&location(&b))["userid"]
    );
    let counts = app.counts();
    assert_eq!((counts.users, counts.links), (1, 1));
}

async fn an_inactive_user_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let values = handoff(&location(&app.dingtalk_login(&browser(), ZHANGSAN).await));
    users::set_active(&mut app.conn(), values["userid"].parse().unwrap(), false).unwrap();
    let before = app.counts();
    let response = app.dingtalk_login(&browser(), ZHANGSAN).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("账号已停用"));
    assert_eq!(app.counts(), before, "no session for an inactive user");
}

async fn login_with_next_goes_there(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .get(app.url("/user/dingtalk/authorize?next=/account"))
        .send()
        .await
        .unwrap();
    let authorize_url = location(&response);
    assert!(
        !authorize_url.contains("account"),
        "next never travels in the state"
    );
    let callback = app.sandbox_consent(&authorize_url, ZHANGSAN).await;
    let response = app.client.get(callback).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/account");

    // Not a local path: ignored, the SPA handoff is used.
    let response = app
        .client
        .get(app.url("/user/dingtalk/authorize?next=//evil.example"))
        .send()
        .await
        .unwrap();
    let callback = app.sandbox_consent(&location(&response), ZHANGSAN).await;
    let response = app.client.get(callback).send().await.unwrap();
    assert!(location(&response).starts_with(&app.url("/app/#/login?")));
}

async fn new_app_openid_is_found_by_unionid(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = handoff(&location(&app.dingtalk_login(&browser(), ZHANGSAN).await));
    let userid: UserId = first["userid"].parse().unwrap();
    // The company re-created its DingTalk app: openIds change, unionIds do not.
    diesel::update(sflogin::table.filter(sflogin::userid.eq(userid)))
        .set(sflogin::uid.eq("old-app-openid"))
        .execute(&mut app.conn())
        .unwrap();
    let again = handoff(&location(&app.dingtalk_login(&browser(), ZHANGSAN).await));
    assert_eq!(again["userid"], first["userid"]);
    let links = users::links_of(&mut app.conn(), userid).unwrap();
    assert_eq!(links.len(), 1);
    assert!(
        links[0].uid.starts_with("sbx"),
        "the uid was updated to the new openId"
    );
}

/// T-20: a DingTalk nick equal to an existing username (or very long, or odd) never merges
/// with that account; the new user gets a generated username and a trimmed name.
async fn a_nick_never_picks_or_merges_an_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.create_user("admin", None, true);
    let values = handoff(&location(
        &app.dingtalk_login(&browser(), &[("identity", "custom"), ("nick", "admin")])
            .await,
    ));
    assert_ne!(values["userid"], admin.id.to_string());
    assert!(values["username"].starts_with("dingtalk_"), "{values:?}");
    // As long as the sandbox's 16 KiB form takes (real DingTalk nicks are short).
    let long = "x".repeat(5_000);
    let values = handoff(&location(
        &app.dingtalk_login(&browser(), &[("identity", "custom"), ("nick", &long)])
            .await,
    ));
    let user = users::find_by_username(&mut app.conn(), &values["username"])
        .unwrap()
        .unwrap();
    assert_eq!(user.name.chars().count(), 64);
    assert_eq!(app.counts().users, 3);
    assert!(
        users::links_of(&mut app.conn(), admin.id)
            .unwrap()
            .is_empty()
    );
}
