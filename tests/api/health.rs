use crate::backend_tests;
use crate::helpers::{Backend, error_code, skip_postgres, spawn_app};

backend_tests!(
    healthz_answers_ok,
    readyz_answers_ok_when_the_database_answers,
    security_headers_are_on_every_response,
    cors_allows_only_the_frontend_origin,
    wrong_methods_get_405_and_unknown_paths_a_page,
);

async fn healthz_answers_ok(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
}

async fn readyz_answers_ok_when_the_database_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
}

async fn security_headers_are_on_every_response(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/login", "/healthz", "/no-such-page"] {
        let response = app.get(path).await;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let csp = header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
    }
}

#[actix_web::test]
async fn readyz_answers_503_when_postgresql_is_gone() {
    if skip_postgres() {
        return;
    }
    let app = spawn_app(Backend::Postgres).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.database.as_ref().unwrap().drop_now();
    // a new connection: the server may have closed the idle keep-alive one meanwhile
    let response = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], 50301);
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "the process itself is still up"
    );
}

/// Threat T-59: the API names only the configured SPA origin in CORS headers.
async fn cors_allows_only_the_frontend_origin(backend: Backend) {
    let app = crate::helpers::spawn_app_with(
        backend,
        &[("FRONTEND_LOGIN_URL", "http://app.example.test:8080/#/login")],
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/me"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let allowed = preflight("http://app.example.test:8080").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://app.example.test:8080"
    );
    assert!(
        allowed.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    let evil = preflight("https://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let answer = app
        .client
        .get(app.url("/api/me"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "never a reflected origin"
    );
}

/// Threat T-57: with the database gone, logins, refreshes and the guard answer 503 and issue
/// nothing; the guard fails closed (never reads "no answer" as "not revoked").
#[actix_web::test]
async fn without_a_database_everything_fails_closed() {
    if skip_postgres() {
        return;
    }
    let app = spawn_app(Backend::Postgres).await;
    app.create_user("alice", None, false);
    let login: serde_json::Value = app
        .api_login("alice", crate::helpers::PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let (token, refresh) = (
        login["token"].as_str().unwrap().to_owned(),
        login["refreshToken"].as_str().unwrap().to_owned(),
    );
    app.database.as_ref().unwrap().drop_now();
    let client = crate::helpers::browser();
    let me = client
        .get(app.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(crate::helpers::error_code(me, 503).await, 50301);
    let refreshed = client
        .post(app.url("/api/token/refresh"))
        .json(&serde_json::json!({"refreshToken": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(crate::helpers::error_code(refreshed, 503).await, 50301);
    let again = client
        .post(app.url("/api/login"))
        .json(&serde_json::json!({"username": "alice", "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(crate::helpers::error_code(again, 503).await, 50301);
    let (authorize_url, _) = app.start_dingtalk_login(&client).await;
    let callback = app
        .sandbox_consent(&authorize_url, &[("identity", "zhangsan")])
        .await;
    let page = client.get(callback).send().await.unwrap();
    assert_eq!(page.status(), 503);
    assert!(page.text().await.unwrap().contains("服务暂时不可用"));
}

/// A wrong method on an existing route is 405 with `Allow`, not 404; both come with our
/// page or `{"code","msg"}`, never an empty body.
async fn wrong_methods_get_405_and_unknown_paths_a_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let logout = app.get("/logout").await;
    assert_eq!(logout.status(), 405);
    assert_eq!(logout.headers()["allow"], "POST");
    assert!(logout.text().await.unwrap().contains("不支持的请求方式"));
    let login = app.client.delete(app.url("/login")).send().await.unwrap();
    assert_eq!(login.status(), 405);
    let allow = login.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let api = app.client.get(app.url("/api/login")).send().await.unwrap();
    assert_eq!(error_code(api, 405).await, 40501);
    let missing = app.get("/no-such-page").await;
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("页面不存在"));
}
