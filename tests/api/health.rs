use crate::backend_tests;
use std::time::{Duration, Instant};

use dingtalk_login::startup::Application;

use crate::helpers::{
    Backend, FreezableProxy, PASSWORD, TestDatabase, browser, error_code, postgres_address,
    skip_postgres, spawn_app, spawn_app_with, test_settings, through_proxy,
};

backend_tests!(
    healthz_answers_ok,
    readyz_answers_ok_when_the_database_answers,
    security_headers_are_on_every_response,
    cors_allows_only_the_frontend_origin,
    wrong_methods_get_405_and_unknown_paths_a_page,
    a_stalled_request_body_is_cut_off,
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

/// Issue #9 (T-57): a PostgreSQL server that stops answering (SIGSTOP, a partition) costs
/// each request its budget and a 503 — never a hang —, later requests fail at once while
/// it is known down, `/readyz` says so within its own budget, and the service recovers by
/// itself when the server answers again.
#[actix_web::test]
async fn a_frozen_postgresql_costs_requests_their_budget_not_a_hang() {
    if skip_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::new(Backend::Postgres, dir.path());
    let proxy = FreezableProxy::start(postgres_address());
    let url = through_proxy(&database.url, proxy.port);
    let app = spawn_app_with(
        Backend::Postgres,
        &[
            ("DATABASE_URL", url.as_str()),
            ("DATABASE_TIMEOUT_MS", "1000"),
        ],
    )
    .await;
    app.create_user("alice", None, false);
    let login: serde_json::Value = app.api_login("alice", PASSWORD).await.json().await.unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    assert_eq!(app.me(&token).await.status(), 200);

    proxy.freeze();
    let started = Instant::now();
    assert_eq!(error_code(app.me(&token).await, 503).await, 50301);
    let first = started.elapsed();
    assert!(
        first < Duration::from_secs(4),
        "bounded by DATABASE_TIMEOUT_MS: {first:?}"
    );
    let started = Instant::now();
    assert_eq!(error_code(app.me(&token).await, 503).await, 50301);
    let second = started.elapsed();
    assert!(
        second < Duration::from_millis(500),
        "known down: at once ({second:?})"
    );
    let started = Instant::now();
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "readyz answers in time"
    );

    proxy.thaw();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = app.me(&token).await.status();
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the service recovers by itself ({status})"
        );
    }
    assert_eq!(app.get("/readyz").await.status(), 200);
}

/// Start-up against a database that does not answer gives up in bounded time.
#[actix_web::test]
async fn start_up_against_a_frozen_postgresql_gives_up() {
    if skip_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::new(Backend::Postgres, dir.path());
    let proxy = FreezableProxy::start(postgres_address());
    proxy.freeze();
    let url = through_proxy(&database.url, proxy.port);
    let settings = test_settings(dir.path(), &[("DATABASE_URL", url.as_str())]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let error = match Application::build_with_listener(settings, listener).await {
        Ok(_) => panic!("started against a frozen database"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(error.contains("cannot open the database"), "{error}");
    assert!(!error.contains('\n'), "one line: {error}");
}

/// Issue #9: a SQLite file the service cannot write to stops the start (it would report
/// ready while every login failed). `chattr +i` because root writes through file modes.
#[actix_web::test]
async fn an_unwritable_sqlite_database_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("test.sqlite3");
    let url = format!("sqlite://{}", file.display());
    let settings = test_settings(dir.path(), &[("DATABASE_URL", url.as_str())]);
    dingtalk_login::db::run_migrations(&settings.database_url).unwrap();
    let _immutable = Immutable::set(&file);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let error = match Application::build_with_listener(settings, listener).await {
        Ok(_) => panic!("started on a read-only database"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("does not take writes"), "{error}");
}

/// A PostgreSQL standby (or a database set read-only) must not pass for a ready one:
/// every login would fail on it. (Diesel's migration step already fails there; the write
/// check after it is the second line, for when no migration step runs.)
#[actix_web::test]
async fn a_read_only_postgresql_database_stops_the_start() {
    if skip_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::new(Backend::Postgres, dir.path());
    let settings = test_settings(dir.path(), &[("DATABASE_URL", database.url.as_str())]);
    dingtalk_login::db::run_migrations(&settings.database_url).unwrap();
    let name = database.url.rsplit('/').next().unwrap();
    let name = name.split('?').next().unwrap().to_owned();
    diesel::connection::SimpleConnection::batch_execute(
        &mut crate::helpers::admin_connection(),
        &format!("ALTER DATABASE {name} SET default_transaction_read_only = on"),
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let error = match Application::build_with_listener(settings, listener).await {
        Ok(_) => panic!("started on a read-only database"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains("does not take writes") || error.contains("read-only"),
        "{error}"
    );
}

struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(path: &std::path::Path) -> Immutable {
        let status = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .expect("chattr (e2fsprogs) is installed");
        assert!(status.success(), "chattr +i works on this filesystem");
        Immutable(path.to_owned())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

/// Issue #9: headers, then a body that stops arriving: answered (and the connection freed)
/// after REQUEST_BODY_TIMEOUT_MS, not held for minutes.
async fn a_stalled_request_body_is_cut_off(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(backend, &[("REQUEST_BODY_TIMEOUT_MS", "500")]).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            b"POST /api/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username\": \"al",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answered while the body was still missing")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains(r#""code":40001"#), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Database work that waited out its request's budget in the queue is dropped, not done
/// after the answer: two first DingTalk logins that meet a locked SQLite database are both
/// answered 503; the one whose work had started finishes once the lock is gone (work
/// cannot be recalled mid-statement), the one still queued registers nobody.
#[actix_web::test]
async fn work_still_queued_when_its_request_gave_up_is_not_done() {
    use diesel::connection::SimpleConnection;

    let app = spawn_app_with(
        Backend::Sqlite,
        &[("DATABASE_POOL_SIZE", "1"), ("DATABASE_TIMEOUT_MS", "1000")],
    )
    .await;
    let mut callbacks = Vec::new();
    for (nick, mobile) in [("first", "13700000001"), ("second", "13700000002")] {
        let browser = browser();
        let (authorize_url, _) = app.start_dingtalk_login(&browser).await;
        let identity = [("identity", "custom"), ("nick", nick), ("mobile", mobile)];
        let callback = app.sandbox_consent(&authorize_url, &identity).await;
        callbacks.push((browser, callback));
    }

    // Another connection holds the write lock: the service's one database thread waits on
    // it with the first login's work, the second login's work waits in the queue.
    let mut lock = app.conn();
    lock.batch_execute("BEGIN EXCLUSIVE").unwrap();
    let (first, second) = tokio::join!(
        callbacks[0].0.get(&callbacks[0].1).send(),
        callbacks[1].0.get(&callbacks[1].1).send(),
    );
    assert_eq!(first.unwrap().status(), 503);
    assert_eq!(second.unwrap().status(), 503);
    lock.batch_execute("ROLLBACK").unwrap();

    // The work that had started commits; a request that reaches the database after it has
    // passed the queue, so the queued work has been dealt with by then.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.get("/readyz").await.status() != 200 {
        assert!(Instant::now() < deadline, "the database answers again");
    }
    assert_eq!(
        app.counts().users,
        1,
        "only the login whose work had started registered a user"
    );
}
