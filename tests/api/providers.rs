//! The three providers side by side (issue #11): the login page's buttons, one user with
//! links to several providers, unlinking, what admins see, and a provider that is off.

use crate::backend_tests;
use crate::helpers::{Backend, browser, handoff, location, spawn_app, spawn_app_with};

backend_tests!(
    the_login_page_offers_every_enabled_provider_in_order,
    a_provider_that_is_off_has_no_button_and_no_route,
    a_dingtalk_user_links_wechat_and_weibo_and_logs_in_with_each,
    a_wechat_account_of_someone_else_cannot_be_linked,
    unlinking_wechat_keeps_the_other_ways_in,
    admins_see_and_find_every_provider,
);

async fn the_login_page_offers_every_enabled_provider_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let zh = app.page(&app.client, "/login").await;
    let positions: Vec<usize> = ["dingtalk-login", "wechat-login", "weibo-login"]
        .iter()
        .map(|id| {
            zh.find(&format!("id=\"{id}\""))
                .unwrap_or_else(|| panic!("{id}: {zh}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "DingTalk, WeChat, Weibo"
    );
    assert!(zh.contains("微信登录") && zh.contains("微博登录") && zh.contains("钉钉登录"));
    let en = app.page_in_english(&app.client, "/login").await;
    assert!(en.contains("Log in with WeChat") && en.contains("Log in with Weibo"));
    for icon in [
        "/static/img/wechat-white.svg",
        "/static/img/weibo-white.svg",
    ] {
        assert!(zh.contains(icon));
        let svg = app.get(icon).await;
        assert_eq!(svg.status(), 200, "{icon}");
    }
}

async fn a_provider_that_is_off_has_no_button_and_no_route(backend: Backend) {
    let app = spawn_app_with(backend, &[("WECHAT_SANDBOX", "false")]).await;
    let page = app.page(&app.client, "/login").await;
    assert!(!page.contains("wechat-login") && page.contains("weibo-login"));
    let start = app.get("/user/wechat/authorize").await;
    assert_eq!(start.status(), 404);
    let json = app.get("/user/wechat/").await;
    assert_eq!(json.status(), 404);
    let body: serde_json::Value = json.json().await.unwrap();
    assert_eq!(body["code"], 40401);
    assert_eq!(
        app.get("/sandbox/wechat/connect/qrconnect").await.status(),
        404
    );
}

async fn a_dingtalk_user_links_wechat_and_weibo_and_logs_in_with_each(backend: Backend) {
    let app = spawn_app(backend).await;
    // Signed in through DingTalk (the page session is set by the login).
    let first = app
        .dingtalk_login(&app.client, &[("identity", "zhangsan")])
        .await;
    let userid = handoff(&location(&first))["userid"].clone();
    let account = app.page(&app.client, "/account").await;
    assert!(account.contains("link-wechat") && account.contains("link-weibo"));
    assert!(
        !account.contains("link-dingtalk"),
        "DingTalk is linked already"
    );

    for (provider, identity, label) in [("wechat", "xiaoming", "微信"), ("weibo", "sunqi", "微博")]
    {
        let authorize_url = app.start_linking_to(&app.client, provider).await;
        let callback = app
            .sandbox_consent(&authorize_url, &[("identity", identity)])
            .await;
        let done = app.client.get(callback).send().await.unwrap();
        assert_eq!(
            location(&done),
            format!("/account?done=linked&provider={provider}")
        );
        let page = app.page(&app.client, &location(&done)).await;
        assert!(page.contains(&format!("已绑定{label}账号")), "{page}");
        assert!(
            !page.contains(&format!("link-{provider}")),
            "no second link button"
        );
    }
    let counts = app.counts();
    assert_eq!(
        (counts.users, counts.links),
        (1, 3),
        "one user, three links"
    );

    for (provider, identity) in [("wechat", "xiaoming"), ("weibo", "sunqi")] {
        let login = app
            .provider_login(&browser(), provider, &[("identity", identity)])
            .await;
        assert_eq!(handoff(&location(&login))["userid"], userid, "{provider}");
    }
    let token = handoff(&location(&first))["token"].clone();
    let me: serde_json::Value = app.me(&token).await.json().await.unwrap();
    let mut providers: Vec<&str> = me["linkedAccounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["provider"].as_str().unwrap())
        .collect();
    providers.sort();
    assert_eq!(providers, ["dingtalk", "wechat", "weibo"], "{me}");
}

async fn a_wechat_account_of_someone_else_cannot_be_linked(backend: Backend) {
    let app = spawn_app(backend).await;
    let theirs = app
        .provider_login(&browser(), "wechat", &[("identity", "zhangsan")])
        .await;
    assert_eq!(theirs.status(), 303);
    let client = app.signed_in_browser("alice", false).await;
    let authorize_url = app.start_linking_to(&client, "wechat").await;
    let callback = app
        .sandbox_consent(&authorize_url, &[("identity", "zhangsan")])
        .await;
    let refused = client.get(callback).send().await.unwrap();
    assert_eq!(refused.status(), 409);
    let html = refused.text().await.unwrap();
    assert!(html.contains("该微信账号已绑定其他用户"), "{html}");
    assert_eq!(app.counts().links, 1);
}

async fn unlinking_wechat_keeps_the_other_ways_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.signed_in_browser("alice", false).await;
    let authorize_url = app.start_linking_to(&client, "wechat").await;
    let callback = app
        .sandbox_consent(&authorize_url, &[("identity", "zhangsan")])
        .await;
    assert_eq!(client.get(callback).send().await.unwrap().status(), 303);
    assert_eq!(app.counts().links, 1);
    // WeChat is number 3 in the tutorial's table.
    let unlinked = app
        .submit(&client, "/account", "/account/unlink", &[("provider", "3")])
        .await;
    assert_eq!(location(&unlinked), "/account?done=unlinked");
    assert_eq!(app.counts().links, 0);
    // Without a password, the last link stays.
    let wechat_only = browser();
    let login = app
        .provider_login(&wechat_only, "wechat", &[("identity", "xiaoming")])
        .await;
    assert_eq!(login.status(), 303);
    let refused = app
        .submit(
            &wechat_only,
            "/account",
            "/account/unlink",
            &[("provider", "3")],
        )
        .await;
    assert_eq!(refused.status(), 409);
    assert_eq!(app.counts().links, 1);
}

async fn admins_see_and_find_every_provider(backend: Backend) {
    let app = spawn_app(backend).await;
    for (provider, identity) in [
        ("wechat", "zhangsan"),
        ("weibo", "zhaoliu"),
        ("weibo", "sunqi"),
    ] {
        let login = app
            .provider_login(&browser(), provider, &[("identity", identity)])
            .await;
        assert_eq!(login.status(), 303);
    }
    let admin = app.signed_in_browser("root", true).await;
    let html = app.page(&admin, "/admin/accounts").await;
    assert!(
        html.contains(r#"id="count-wechat">1<"#)
            && html.contains(r#"id="count-weibo">2<"#)
            && html.contains(r#"id="count-dingtalk">0<"#),
        "{html}"
    );
    assert!(html.contains("/static/img/wechat.svg") && html.contains("/static/img/weibo.svg"));
    let found = app
        .page(&admin, "/admin/accounts?q=%E8%B5%B5%E5%85%AD")
        .await; // 赵六
    assert!(
        found.contains("赵六的微博") && !found.contains("孙七"),
        "{found}"
    );
    let by_uid = app.page(&admin, "/admin/accounts?q=o6_sbx").await;
    assert!(
        by_uid.contains("张三（微信）") && !by_uid.contains("孙七"),
        "{by_uid}"
    );
}
