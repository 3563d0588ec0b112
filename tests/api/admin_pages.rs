//! The admin pages over HTTP: access rules, the list of linked accounts, actions and audit.

use dingtalk_login::db::users;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, browser, error_code, handoff, location, spawn_app};

backend_tests!(
    anonymous_visitors_are_sent_to_log_in,
    non_admins_get_the_403_page,
    admins_see_linked_accounts_escaped_and_searchable,
    admin_actions_need_confirmation_and_csrf_and_are_audited,
    an_admins_own_lockout_is_refused,
    a_demoted_admin_loses_the_page_at_once,
    admin_accounts_json_is_for_admins_only,
    admins_pre_create_users_who_sign_in_with_dingtalk,
);

async fn admin_browser(app: &TestApp) -> reqwest::Client {
    app.signed_in_browser("boss", true).await
}

async fn anonymous_visitors_are_sent_to_log_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/admin/accounts?q=a").await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        "/login?next=%2Fadmin%2Faccounts%3Fq%3Da"
    );
    assert_eq!(
        location(&app.get("/account").await),
        "/login?next=%2Faccount"
    );
}

async fn non_admins_get_the_403_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.signed_in_browser("alice", false).await;
    let response = client.get(app.url("/admin/accounts")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("仅限管理员"));
}

async fn admins_see_linked_accounts_escaped_and_searchable(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_browser(&app).await;
    let evil = app
        .dingtalk_tokens(&[
            ("identity", "custom"),
            ("nick", "<script>alert(1)</script>\r\n\u{0}"),
            ("mobile", "13700137000"),
        ])
        .await;
    let zhangsan = app.dingtalk_tokens(&[("identity", "zhangsan")]).await;
    let uid = users::links_of(&mut app.conn(), zhangsan["userid"].parse().unwrap()).unwrap()[0]
        .uid
        .clone();

    let html = app.page(&admin, "/admin/accounts").await;
    assert!(html.contains(&uid), "the DingTalk uid is listed");
    assert!(html.contains("张三"));
    assert!(
        !html.contains("<script>alert(1)</script>"),
        "nick rendered escaped"
    );
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || html.contains("&lt;script&gt;"),
        "{html}"
    );
    assert!(
        html.contains(r#"id="count-users">3<"#) && html.contains(r#"id="count-dingtalk">2<"#),
        "{html}"
    );

    for query in [&uid[..10], "张三", "13800138000", &zhangsan["username"]] {
        let html = app
            .page(&admin, &format!("/admin/accounts?q={}", urlencode(query)))
            .await;
        assert!(html.contains(&uid), "search {query}");
        assert!(
            !html.contains(&evil["username"]),
            "search {query} finds only zhangsan"
        );
    }
    let nul = admin
        .get(app.url("/admin/accounts?q=%00"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        nul.status(),
        200,
        "a NUL in the search is dropped, not sent to the database"
    );
    let none = app.page(&admin, "/admin/accounts?q=%25").await;
    assert!(
        none.contains("没有匹配的用户"),
        "% is a literal, not a wildcard"
    );
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

async fn admin_actions_need_confirmation_and_csrf_and_are_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_browser(&app).await;
    let user = app.dingtalk_tokens(&[("identity", "zhangsan")]).await;
    let id = &user["userid"];

    // The confirmation page changes nothing; its form carries the CSRF token.
    let confirm = format!("/admin/users/{id}/confirm?action=deactivate");
    app.page(&admin, &confirm).await;
    assert_eq!(app.me(&user["token"]).await.status(), 200);
    let actions = format!("/admin/users/{id}/actions");
    let forged = admin
        .post(app.url(&actions))
        .form(&[("csrf", "forged"), ("action", "deactivate")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(
        app.me(&user["token"]).await.status(),
        200,
        "nothing changed"
    );

    let done = app
        .submit(&admin, &confirm, &actions, &[("action", "deactivate")])
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(
        error_code(app.me(&user["token"]).await, 401).await,
        40104,
        "deactivation ends the sessions"
    );

    // A DingTalk-only user cannot lose their only way to log in.
    let unlink = [("action", "unlink"), ("provider", "1")];
    let refused = app.submit(&admin, &confirm, &actions, &unlink).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(app.counts().links, 1);

    let page = app.page(&admin, &format!("/admin/users/{id}")).await;
    assert!(
        page.contains(r#"<td class="audit-action">deactivate</td>"#),
        "{page}"
    );
    assert!(page.contains("boss"), "the audit names the admin");
    assert!(
        !page.contains(r#"<td class="audit-action">unlink</td>"#),
        "a refused action is not recorded"
    );
}

async fn an_admins_own_lockout_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_browser(&app).await;
    let me = users::find_by_username(&mut app.conn(), "boss")
        .unwrap()
        .unwrap();
    let response = app
        .submit(
            &admin,
            &format!("/admin/users/{}/confirm?action=revoke-admin", me.id),
            &format!("/admin/users/{}/actions", me.id),
            &[("action", "revoke-admin")],
        )
        .await;
    assert_eq!(response.status(), 409);
    assert!(
        users::find_by_id(&mut app.conn(), me.id)
            .unwrap()
            .unwrap()
            .is_admin()
    );
}

async fn a_demoted_admin_loses_the_page_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_browser(&app).await;
    assert_eq!(
        admin
            .get(app.url("/admin/accounts"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let me = users::find_by_username(&mut app.conn(), "boss")
        .unwrap()
        .unwrap();
    users::set_role(&mut app.conn(), me.id, "user").unwrap();
    assert_eq!(
        admin
            .get(app.url("/admin/accounts"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // and a logout ends the server session too
    app.submit(&admin, "/account", "/logout", &[]).await;
    assert_eq!(
        admin
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
}

async fn admin_accounts_json_is_for_admins_only(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("boss", None, true);
    let user = app.dingtalk_tokens(&[("identity", "zhangsan")]).await;
    let login: serde_json::Value = app
        .api_login("boss", crate::helpers::PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let url = app.url("/api/admin/accounts?q=%E5%BC%A0%E4%B8%89&page=1");
    let response = app
        .client
        .get(&url)
        .bearer_auth(login["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["total"], 1);
    assert_eq!(
        body["users"][0]["linkedAccounts"][0]["provider"],
        "dingtalk"
    );
    assert_eq!(body["counts"]["users"], 2);
    let forbidden = app
        .client
        .get(&url)
        .bearer_auth(&user["token"])
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(forbidden, 403).await, 40301);
}

/// Issue #9: the only silent bind by phone is to a user an admin made for it — no
/// password, no link — here on the admin page; audited.
async fn admins_pre_create_users_who_sign_in_with_dingtalk(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin_browser(&app).await;
    let fields = [
        ("username", "wangwu"),
        ("name", "王五"),
        ("phone", "139 0013 9000"),
    ];
    let created = app
        .submit(&admin, "/admin/accounts", "/admin/users", &fields)
        .await;
    assert_eq!(created.status(), 303);
    let page = location(&created);
    let wangwu = users::find_by_username(&mut app.conn(), "wangwu")
        .unwrap()
        .unwrap();
    assert_eq!(page, format!("/admin/users/{}", wangwu.id));
    assert_eq!(wangwu.password_hash, None);
    assert_eq!(wangwu.phone.as_deref(), Some("+8613900139000"));
    let details = app.page(&admin, &page).await;
    assert!(
        details.contains(r#"<td class="audit-action">create-user</td>"#),
        "{details}"
    );

    let again = app
        .submit(&admin, "/admin/accounts", "/admin/users", &fields)
        .await;
    assert_eq!(again.status(), 409);
    assert!(again.text().await.unwrap().contains("用户名已被占用"));
    for (fields, status, says) in [
        (
            [
                ("username", "other"),
                ("name", ""),
                ("phone", "139 0013 9000"),
            ],
            409,
            "该手机号已属于另一个用户",
        ),
        (
            [
                ("username", "third"),
                ("name", ""),
                ("phone", "not a phone"),
            ],
            400,
            "手机号无效",
        ),
        (
            [
                ("username", "has space"),
                ("name", ""),
                ("phone", "13700137000"),
            ],
            400,
            "用户名无效",
        ),
    ] {
        let refused = app
            .submit(&admin, "/admin/accounts", "/admin/users", &fields)
            .await;
        assert_eq!(refused.status(), status, "{fields:?}");
        assert!(refused.text().await.unwrap().contains(says), "{fields:?}");
    }

    let values = handoff(&location(
        &app.dingtalk_login(&browser(), &[("identity", "wangwu")])
            .await,
    ));
    assert_eq!(
        values["userid"],
        wangwu.id.to_string(),
        "bound to the pre-created user"
    );
    assert_eq!(app.counts().users, 2);
}
