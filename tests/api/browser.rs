//! The three people of the product, in a real browser: Debian's Chromium, headless, driven
//! through WebDriver (chromedriver) against the app on a loopback port with the sandbox.
//! Screenshots of the main pages go to `target/screenshots/` (the README's come from there).

use std::process::{Command, Stdio};
use std::time::Duration;

use dingtalk_login::tokens::{Claims, JwtKeys};
use fantoccini::{Client, ClientBuilder, Locator};
// chromedriver is on loopback: plain HTTP, no TLS stack needed.
use hyper_util::client::legacy::connect::HttpConnector;

use crate::helpers::{Backend, KillOnDrop, PASSWORD, TestApp, error_code, spawn_app};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium is installed by `.ci/run`; elsewhere the browser tests say they are skipped.
fn browser_available() -> bool {
    let available =
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists();
    if !available {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI needs chromium and chromium-driver"
        );
        eprintln!("SKIPPED: browser tests need Debian's chromium and chromium-driver packages");
    }
    available
}

struct Driver {
    client: Client,
    _process: KillOnDrop,
    _profile: tempfile::TempDir,
}

async fn start_browser() -> Driver {
    start_browser_with(&[]).await
}

async fn start_browser_with(extra_args: &[&str]) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let process = KillOnDrop(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let profile = tempfile::tempdir().unwrap();
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        "--lang=zh-CN",
    ]
    .iter()
    .chain(extra_args)
    .map(|a| a.to_string())
    .chain([format!("--user-data-dir={}", profile.path().display())])
    .collect::<Vec<_>>();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": CHROMIUM, "args": args, "prefs": { "intl.accept_languages": "zh-CN,zh" } }),
    );
    // Wait until chromedriver accepts a session (a readiness condition, polled).
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if let Ok(client) = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            return Driver {
                _process: process,
                client,
                _profile: profile,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not start");
}

async fn screenshot(client: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.png")),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn text(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn local_storage(client: &Client, key: &str) -> Option<String> {
    let value = client
        .execute(
            "return localStorage.getItem(arguments[0]);",
            vec![key.into()],
        )
        .await
        .unwrap();
    value.as_str().map(str::to_owned)
}

async fn wait_for_text(client: &Client, css: &str, expected: &str) {
    for _ in 0..200 {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && element.text().await.unwrap_or_default().contains(expected)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{css} never showed {expected:?}; page: {}",
        client.source().await.unwrap_or_default()
    );
}

async fn password_login(app: &TestApp, client: &Client, next: &str, username: &str) {
    client
        .goto(&app.url(&format!("/login?next={next}")))
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys(username)
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    click(client, "#password-form button[type=submit]").await;
}

/// An access token of the same session whose `exp` lies beyond the clock-skew leeway.
fn expired_copy(app: &TestApp, token: &str) -> String {
    let keys = JwtKeys::new(
        app.settings.jwt_secret.expose(),
        None,
        app.settings.base_url(),
    );
    let claims = keys.verify(token).unwrap();
    let now = chrono::Utc::now().timestamp();
    keys.sign(&Claims {
        iat: now - 7300,
        nbf: now - 7300,
        exp: now - 60,
        ..claims
    })
}

#[actix_web::test]
async fn the_whole_product_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await;
    app.create_user("boss", None, true);
    app.create_user("alice", None, false);
    let driver = start_browser().await;
    let c = &driver.client;

    // 1. Login page → DingTalk icon → sandbox consent → 同意 → the SPA shows the user.
    c.goto(&app.url("/login")).await.unwrap();
    assert!(text(c, "#dingtalk-login").await.contains("钉钉登录"));
    screenshot(c, "login").await;
    click(c, "#dingtalk-login").await;
    wait_for_text(c, "h1", "钉钉授权登录").await;
    screenshot(c, "sandbox-consent").await;
    click(c, "#agree").await;
    wait_for_text(c, "#spa-name", "张三").await;
    let token = local_storage(c, "token")
        .await
        .expect("the access token is kept");
    assert!(local_storage(c, "refreshToken").await.is_some());
    let address = c.current_url().await.unwrap().to_string();
    assert!(
        !address.contains("token"),
        "the tokens left the address bar: {address}"
    );
    assert!(text(c, "#linked-accounts").await.contains("dingtalk"));
    screenshot(c, "spa-home").await;

    // 2. The access token expires: the SPA refreshes once and carries on.
    let expired = expired_copy(&app, &token);
    c.execute(
        "localStorage.setItem('token', arguments[0]);",
        vec![expired.clone().into()],
    )
    .await
    .unwrap();
    c.refresh().await.unwrap();
    wait_for_text(c, "#spa-name", "张三").await;
    let renewed = local_storage(c, "token").await.unwrap();
    assert_ne!(
        renewed, expired,
        "a refreshed token replaced the expired one"
    );

    // 3. Logout in the SPA; the old token is refused by the API.
    click(c, "#logout").await;
    wait_for_text(c, "#dingtalk-login", "钉钉登录").await;
    assert_eq!(local_storage(c, "token").await, None);
    assert_eq!(error_code(app.me(&renewed).await, 401).await, 40104);

    // 4. An admin logs in with next=/admin/accounts and sees the DingTalk user with its uid.
    password_login(&app, c, "/admin/accounts", "boss").await;
    let zhangsan = dingtalk_login::db::users::find_by_username(&mut app.conn(), "13800138000")
        .unwrap()
        .unwrap();
    let uid = dingtalk_login::db::users::links_of(&mut app.conn(), zhangsan.id).unwrap()[0]
        .uid
        .clone();
    wait_for_text(c, "#accounts", &uid).await;
    screenshot(c, "admin-accounts").await;
    c.goto(&app.url(&format!("/admin/users/{}", zhangsan.id)))
        .await
        .unwrap();
    click(c, "#action-deactivate").await;
    click(c, "#confirm").await;
    wait_for_text(c, "#audit", "deactivate").await;
    assert!(text(c, "#status").await.contains("已停用"));
    screenshot(c, "admin-user").await;

    // 5. A non-admin gets the 403 page.
    c.goto(&app.url("/account")).await.unwrap();
    click(c, "#logout").await;
    // the logout's redirect lands on the login page before the next navigation starts
    wait_for_text(c, "#dingtalk-login", "钉钉登录").await;
    password_login(&app, c, "/admin/accounts", "alice").await;
    wait_for_text(c, "h1", "没有权限").await;

    // 6. alice links DingTalk on /account, logs out, and logs in again with DingTalk.
    c.goto(&app.url("/account")).await.unwrap();
    click(c, "#link-dingtalk").await;
    click(c, "input[name=identity][value=wangwu]").await;
    click(c, "#agree").await;
    wait_for_text(c, ".linked", "王五").await;
    click(c, "#logout").await;
    click(c, "#dingtalk-login").await;
    click(c, "input[name=identity][value=wangwu]").await;
    click(c, "#agree").await;
    wait_for_text(c, "#spa-username", "alice").await;

    driver.client.clone().close().await.unwrap();
}

/// Issue #11: WeChat and Weibo through their sandboxes, as a person clicks them: log in
/// with WeChat (the QR page's "scan"), link Weibo from /account, log in again with Weibo
/// and land on the same user.
#[actix_web::test]
async fn wechat_and_weibo_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await;
    let driver = start_browser().await;
    let c = &driver.client;

    c.goto(&app.url("/login")).await.unwrap();
    assert!(text(c, "#wechat-login").await.contains("微信登录"));
    assert!(text(c, "#weibo-login").await.contains("微博登录"));
    click(c, "#wechat-login").await;
    wait_for_text(c, "h1", "微信登录").await;
    screenshot(c, "sandbox-wechat").await;
    click(c, "#agree").await;
    wait_for_text(c, "#spa-name", "张三（微信）").await;
    let username = text(c, "#spa-username").await;
    assert!(username.starts_with("wechat_"), "{username}");
    assert!(text(c, "#linked-accounts").await.contains("wechat"));

    c.goto(&app.url("/account")).await.unwrap();
    click(c, "#link-weibo").await;
    // The click posts a form: wait for the navigation, not the account page's own h1.
    wait_for_text(c, "h1", "微博授权登录").await;
    screenshot(c, "sandbox-weibo").await;
    click(c, "#agree").await;
    wait_for_text(c, ".linked", "赵六的微博").await;
    assert!(text(c, ".linked").await.contains("张三（微信）"));
    screenshot(c, "account-links").await;

    click(c, "#logout").await;
    click(c, "#weibo-login").await;
    click(c, "#agree").await;
    wait_for_text(c, "#spa-username", &username).await;

    driver.client.clone().close().await.unwrap();
}

/// Issue #10: an employee opens the app inside the DingTalk client (its user agent, the
/// home URL's `?corpid=`): signed in at once, no QR code, no click. The sandbox stands in
/// for the client's JSAPI.
#[actix_web::test]
async fn silent_login_inside_the_dingtalk_client() {
    if !browser_available() {
        return;
    }
    let app = crate::helpers::spawn_app_with(
        Backend::Sqlite,
        &[("DINGTALK_CORP_IDS", "dingsandboxcorp1")],
    )
    .await;
    let dingtalk_client = "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) \
                           Chrome/120.0 Mobile Safari/537.36 AliApp(DingTalk/7.6.0) DingTalk(7.6.0)";
    let driver = start_browser_with(&[&format!("--user-agent={dingtalk_client}")]).await;
    let c = &driver.client;
    c.goto(&app.url("/app/?corpid=dingsandboxcorp1&sandbox_identity=wangwu"))
        .await
        .unwrap();
    wait_for_text(c, "#spa-name", "王五").await;
    assert!(local_storage(c, "token").await.is_some());
    screenshot(c, "spa-in-dingtalk").await;
    assert_eq!(app.counts().users, 1);

    // The login page does the same, and goes on to `next`.
    let inside = start_browser_with(&[&format!("--user-agent={dingtalk_client}")]).await;
    inside
        .client
        .goto(&app.url("/login?corpid=dingsandboxcorp1&sandbox_identity=zhangsan&next=%2Faccount"))
        .await
        .unwrap();
    wait_for_text(&inside.client, "#name", "张三").await;
    assert_eq!(app.counts().users, 2);
    inside.client.close().await.unwrap();

    // The same page in an ordinary browser does nothing by itself.
    let plain = start_browser().await;
    plain
        .client
        .goto(&app.url("/app/?corpid=dingsandboxcorp1"))
        .await
        .unwrap();
    wait_for_text(&plain.client, "#go-login", "登录").await;
    assert_eq!(app.counts().users, 2);
    driver.client.close().await.unwrap();
    plain.client.close().await.unwrap();
}

/// Issue #12 §5: with `HANDOFF_MODE=code` the reference SPA exchanges the one-time code
/// and shows the user; no token ever was in the address.
#[actix_web::test]
async fn the_spa_exchanges_a_handoff_code() {
    if !browser_available() {
        return;
    }
    let app = crate::helpers::spawn_app_with(Backend::Sqlite, &[("HANDOFF_MODE", "code")]).await;
    let driver = start_browser().await;
    let c = &driver.client;
    c.goto(&app.url("/login")).await.unwrap();
    click(c, "#dingtalk-login").await;
    click(c, "#agree").await;
    wait_for_text(c, "#spa-name", "张三").await;
    assert!(local_storage(c, "token").await.is_some());
    let history = c
        .execute("return window.location.href;", vec![])
        .await
        .unwrap();
    assert!(!history.as_str().unwrap().contains("code="), "{history}");
    driver.client.close().await.unwrap();
}

/// What Grafana would be: a tiny OpenID client web app served by the test itself, using a
/// real client library (`openidconnect`).
struct TinyClient {
    client: crate::openid::Client,
    pending: std::sync::Mutex<Option<crate::openid::Request>>,
}

async fn tiny_start(state: actix_web::web::Data<TinyClient>) -> actix_web::HttpResponse {
    let request = crate::openid::request(&state.client, &["profile"]);
    let url = request.url.clone();
    *state.pending.lock().unwrap() = Some(request);
    actix_web::HttpResponse::Found()
        .insert_header(("Location", url))
        .finish()
}

async fn tiny_callback(
    state: actix_web::web::Data<TinyClient>,
    query: actix_web::web::Query<std::collections::HashMap<String, String>>,
) -> actix_web::HttpResponse {
    use openidconnect::{AuthorizationCode, TokenResponse};
    let request = state
        .pending
        .lock()
        .unwrap()
        .take()
        .expect("a started login");
    let answer = match (query.get("code"), query.get("state")) {
        (Some(code), Some(s)) if s == request.state.secret() => {
            let tokens = state
                .client
                .exchange_code(AuthorizationCode::new(code.clone()))
                .unwrap()
                .set_pkce_verifier(request.verifier)
                .request_async(&crate::openid::http())
                .await
                .expect("the tiny client exchanges its code");
            let claims = tokens
                .id_token()
                .unwrap()
                .claims(&state.client.id_token_verifier(), &request.nonce)
                .expect("the id_token verifies")
                .clone();
            let name = claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.to_string());
            format!("<h1 id=\"hello\">Hello, {}</h1>", name.unwrap_or_default())
        }
        _ => format!("<h1 id=\"hello\">Refused: {:?}</h1>", query.get("error")),
    };
    actix_web::HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(answer)
}

/// Issue #14: another application logs a person in through us — DingTalk sandbox, then
/// our consent page — and gets a verified id_token with their name.
#[actix_web::test]
async fn an_oidc_client_logs_in_through_the_consent_page() {
    if !browser_available() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tiny = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let callback = format!("{tiny}/callback");
    let registered = crate::openid::register_at(&app, "Grafana", false, "RS256", &callback);
    let state = actix_web::web::Data::new(TinyClient {
        client: crate::openid::client_at(&app, &registered, &callback).await,
        pending: std::sync::Mutex::new(None),
    });
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .route("/start", actix_web::web::get().to(tiny_start))
            .route("/callback", actix_web::web::get().to(tiny_callback))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);

    let driver = start_browser().await;
    let c = &driver.client;
    c.goto(&format!("{tiny}/start")).await.unwrap();
    wait_for_text(c, "#login-for-app", "Grafana").await;
    click(c, "#dingtalk-login").await;
    wait_for_text(c, "h1", "钉钉授权登录").await;
    click(c, "#agree").await;
    wait_for_text(c, "#consent-title", "Grafana").await;
    assert!(text(c, "#consent-scopes").await.contains("姓名"));
    screenshot(c, "oidc-consent").await;
    click(c, "#allow").await;
    wait_for_text(c, "#hello", "Hello, 张三").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&callback)
    );
}
