use crate::backend_tests;
use crate::helpers::{Backend, location, spawn_app};

backend_tests!(
    login_page_is_chinese_by_default_with_a_dingtalk_button,
    login_page_is_english_when_the_browser_prefers_it,
    root_redirects_to_the_login_page
);

async fn login_page_is_chinese_by_default_with_a_dingtalk_button(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/login").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("钉钉登录"));
    assert!(html.contains(r#"href="/user/dingtalk/authorize""#));
    assert!(html.contains(r#"name="password""#));
    assert!(
        html.contains(r#"id="sandbox-badge""#),
        "the sandbox is visible on the page"
    );
    // no inline script (the CSP forbids it)
    assert!(!html.contains("<script>") && !html.contains("onclick"));
}

async fn login_page_is_english_when_the_browser_prefers_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let html = app
        .page_in_english(&app.client, "/login?next=/admin/accounts")
        .await;
    assert!(html.contains("Log in with DingTalk"));
    assert!(
        html.contains(r#"href="/user/dingtalk/authorize?next=%2Fadmin%2Faccounts""#),
        "{html}"
    );
}

async fn root_redirects_to_the_login_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 302);
    assert_eq!(location(&response), "/login");
}
