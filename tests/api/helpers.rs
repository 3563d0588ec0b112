use std::collections::HashMap;
use std::net::TcpListener;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use dingtalk_login::config::Settings;
use dingtalk_login::db::{self, DbPool};
use dingtalk_login::oidc::keys;
use dingtalk_login::sandbox::driver;
use dingtalk_login::startup::Application;
use rand::Rng;
use reqwest::header::LOCATION;
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` once per backend.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[actix_web::test] async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[actix_web::test] async fn $name() {
                if $crate::helpers::skip_postgres() { return; }
                super::$name($crate::helpers::Backend::Postgres).await
            })*
        }
    };
}

/// The test command sets DINGTALK_LOGIN_TEST_PG=skip when no PostgreSQL is reachable
/// (never in CI); otherwise a PostgreSQL test that cannot connect fails.
pub fn skip_postgres() -> bool {
    std::env::var("DINGTALK_LOGIN_TEST_PG").as_deref() == Ok("skip")
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The suite connects to its local PostgreSQL without TLS: libpq's OpenSSL clean-up at
/// process exit races pool threads that are still connecting (seen as a SIGSEGV of the
/// test binary after its last test, and of `dingtalk-login user list` before it used a
/// single connection).
fn without_tls(url: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode=disable")
}

/// A test's own database: a SQLite file in the test's folder, or a fresh PostgreSQL
/// database that is dropped when the test ends, however it ends (a failing assertion
/// unwinds through `Drop` too).
pub struct TestDatabase {
    pub url: String,
    postgres_name: Option<String>,
}

impl TestDatabase {
    pub fn new(backend: Backend, dir: &std::path::Path) -> TestDatabase {
        match backend {
            Backend::Sqlite => TestDatabase {
                url: format!("sqlite://{}", dir.join("test.sqlite3").display()),
                postgres_name: None,
            },
            Backend::Postgres => {
                let name = format!("dl_test_{:016x}", rand::rng().random::<u64>());
                admin_connection()
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                let admin = postgres_admin_url();
                let base = admin
                    .rsplit_once('/')
                    .map(|(base, _)| base)
                    .unwrap_or(&admin);
                TestDatabase {
                    url: without_tls(&format!("{base}/{name}")),
                    postgres_name: Some(name),
                }
            }
        }
    }

    /// Drops the PostgreSQL database now (the outage tests); its connections are cut.
    pub fn drop_now(&self) {
        if let Some(name) = &self.postgres_name {
            admin_connection()
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .expect("drop the test database");
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = &self.postgres_name {
            let dropped = diesel::PgConnection::establish(&without_tls(&postgres_admin_url()))
                .and_then(|mut conn| {
                    conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))
                });
            if let Err(error) = dropped {
                eprintln!("could not drop the test database {name}: {error}");
            }
        }
    }
}

pub fn admin_connection() -> diesel::PgConnection {
    let admin = postgres_admin_url();
    diesel::PgConnection::establish(&without_tls(&admin)).unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable at {admin} ({e}); start it, or run the README's test command, which skips this half outside CI")
    })
}

pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct TestApp {
    pub base: String,

    /// A browser: keeps cookies, does not follow redirects.
    pub client: reqwest::Client,
    pub pool: DbPool,
    pub settings: Settings,
    pub database_url: String,
    /// Declared before the folder, so a SQLite database is closed... and a PostgreSQL one
    /// dropped, when the app is. `None` when the test passed another app's DATABASE_URL.
    pub database: Option<TestDatabase>,
    /// The `METRICS_BIND` listener's port, when the test set one.
    pub metrics_port: Option<u16>,
    _data_dir: TempDir,
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// The OpenID provider's signing keys (RS256, ES256) of this test process: an RSA key
/// takes a while to generate, so every test instance shares one pair, made at first use.
pub fn oidc_test_keys() -> &'static (String, String) {
    static KEYS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        (
            keys::generate_rs256().unwrap(),
            keys::generate_es256().unwrap(),
        )
    })
}

/// Settings as a test instance gets them, with `dir` as its data folder, plus `overrides`.
pub fn test_settings(dir: &std::path::Path, overrides: &[(&str, &str)]) -> Settings {
    let (rs256, es256) = oidc_test_keys();
    let mut env: HashMap<String, String> = [
        ("DATA_DIR", dir.display().to_string()),
        ("JWT_SECRET", random_secret()),
        ("SESSION_SECRET", random_secret()),
        ("OIDC_RS256_KEY", rs256.clone()),
        ("OIDC_ES256_KEY", es256.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (key, value) in overrides {
        env.insert((*key).to_owned(), (*value).to_owned());
    }
    Settings::from_lookup(|key| env.get(key).cloned()).expect("test settings are valid")
}

/// Where the suite's PostgreSQL listens.
pub fn postgres_address() -> std::net::SocketAddr {
    let url = url::Url::parse(&postgres_admin_url()).unwrap();
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port().unwrap_or(5432);
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .unwrap()
        .next()
        .unwrap()
}

/// `url` with its host and port replaced by a local proxy's, connecting within a second.
pub fn through_proxy(url: &str, proxy_port: u16) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    parsed.set_host(Some("127.0.0.1")).unwrap();
    parsed.set_port(Some(proxy_port)).unwrap();
    parsed.query_pairs_mut().append_pair("connect_timeout", "1");
    parsed.to_string()
}

/// The app against a DingTalk test double at `dingtalk` (its API host, and the older one),
/// as the app `test-client`, plus `extra` settings.
pub async fn spawn_app_with_dingtalk(
    backend: Backend,
    dingtalk: &str,
    extra: &[(&str, &str)],
) -> TestApp {
    let mut overrides = vec![
        ("DINGTALK_CLIENT_ID", "test-client"),
        ("DINGTALK_CLIENT_SECRET", "test-client-secret-placeholder"),
        ("DINGTALK_API_BASE", dingtalk),
        ("DINGTALK_OAPI_BASE", dingtalk),
    ];
    overrides.extend_from_slice(extra);
    spawn_app_with(backend, &overrides).await
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// Starts the application with test settings plus `overrides` (as environment variables).
pub async fn spawn_app_with(backend: Backend, overrides: &[(&str, &str)]) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    // A test that names a database (a second instance on the first one's) gets no new one.
    let shared = overrides
        .iter()
        .find(|(key, _)| *key == "DATABASE_URL")
        .map(|(_, url)| (*url).to_owned());
    let database = match shared {
        Some(_) => None,
        None => Some(TestDatabase::new(backend, data_dir.path())),
    };
    let database_url = shared.unwrap_or_else(|| database.as_ref().unwrap().url.clone());
    let (bind, data) = (format!("127.0.0.1:{port}"), data_dir.path().to_owned());
    let mut settings_env = vec![
        ("BIND_ADDR", bind.as_str()),
        ("PUBLIC_BASE_URL", base.as_str()),
        ("DATABASE_URL", database_url.as_str()),
    ];
    settings_env.extend_from_slice(overrides);
    let settings = test_settings(&data, &settings_env);
    let app = Application::build_with_listener(settings.clone(), listener)
        .await
        .expect("the app starts");
    let metrics_port = app.metrics_port();
    actix_web::rt::spawn(app.run_until_stopped());
    let pool = db::connect_pool(&settings.database_url, 2, db::DEFAULT_BUDGET).unwrap();
    TestApp {
        base,
        client: browser(),
        pool,
        settings,
        database_url,
        database,
        metrics_port,
        _data_dir: data_dir,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub users: i64,
    pub links: i64,
    pub sessions: i64,
    pub refresh_tokens: i64,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub fn counts(&self) -> Counts {
        let mut conn = self.pool.get().unwrap();
        use diesel::prelude::*;
        use dingtalk_login::db::schema::{login_sessions, refresh_tokens, sflogin, susers};
        let users = susers::table.count().get_result(&mut *conn).unwrap();
        let links = sflogin::table.count().get_result(&mut *conn).unwrap();
        let sessions = login_sessions::table
            .count()
            .get_result(&mut *conn)
            .unwrap();
        let refresh_tokens = refresh_tokens::table
            .count()
            .get_result(&mut *conn)
            .unwrap();
        Counts {
            users,
            links,
            sessions,
            refresh_tokens,
        }
    }

    pub fn conn(&self) -> db::PooledConn {
        self.pool.get().unwrap()
    }

    /// `GET /user/dingtalk/authorize` in `browser`; returns DingTalk's URL and the state in it.
    pub async fn start_dingtalk_login(&self, browser: &reqwest::Client) -> (String, String) {
        self.start_login(browser, "dingtalk").await
    }

    /// `GET /user/{provider}/authorize` in `browser`; returns the provider's URL and the
    /// state in it.
    pub async fn start_login(&self, browser: &reqwest::Client, provider: &str) -> (String, String) {
        let response = browser
            .get(self.url(&format!("/user/{provider}/authorize")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        let location = location(&response);
        let state = query_param(&location, "state").expect("state in the authorize URL");
        (location, state)
    }

    /// The whole login with `provider` in `browser` as a sandbox identity; returns the
    /// callback's response.
    pub async fn provider_login(
        &self,
        browser: &reqwest::Client,
        provider: &str,
        identity: &[(&str, &str)],
    ) -> reqwest::Response {
        let (authorize_url, _) = self.start_login(browser, provider).await;
        let callback = self.sandbox_consent(&authorize_url, identity).await;
        browser.get(callback).send().await.unwrap()
    }

    /// "Link" `provider` on the account page of `client`; returns its authorize URL.
    pub async fn start_linking_to(&self, client: &reqwest::Client, provider: &str) -> String {
        let action = format!("/account/link/{provider}");
        let start = self.submit(client, "/account", &action, &[]).await;
        assert_eq!(start.status(), 303, "linking starts");
        location(&start)
    }

    /// Agrees on the sandbox consent page as `identity` (form fields) and returns the
    /// callback URL the sandbox redirects to.
    pub async fn sandbox_consent(&self, authorize_url: &str, identity: &[(&str, &str)]) -> String {
        let page = reqwest::get(authorize_url).await.unwrap();
        assert_eq!(page.status(), 200, "the sandbox consent page opens");
        driver::agree(&browser(), authorize_url, identity)
            .await
            .expect("the sandbox agrees")
    }

    /// Refuses on the sandbox page behind `authorize_url`; returns the callback URL.
    pub async fn sandbox_refusal(&self, authorize_url: &str) -> String {
        driver::decide(&browser(), authorize_url, "deny", &[])
            .await
            .expect("the sandbox refuses")
    }

    /// The page at `path` as a browser that prefers English sees it.
    pub async fn page_in_english(&self, client: &reqwest::Client, path: &str) -> String {
        let response = client
            .get(self.url(path))
            .header("Accept-Language", "en-US,en;q=0.9,zh;q=0.5")
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    }

    /// The whole DingTalk login in `browser` as a sandbox identity; returns the callback's response.
    pub async fn dingtalk_login(
        &self,
        browser: &reqwest::Client,
        identity: &[(&str, &str)],
    ) -> reqwest::Response {
        let (authorize_url, _) = self.start_dingtalk_login(browser).await;
        let callback = self.sandbox_consent(&authorize_url, identity).await;
        browser.get(callback).send().await.unwrap()
    }

    pub fn create_user(
        &self,
        username: &str,
        phone: Option<&str>,
        admin: bool,
    ) -> dingtalk_login::db::models::User {
        let mut conn = self.conn();
        dingtalk_login::accounts::create_local_user(
            &mut conn,
            dingtalk_login::accounts::NewLocalUser {
                username: username.into(),
                name: None,
                phone: phone.map(str::to_owned),
                password: Some(PASSWORD.into()),
                admin,
            },
        )
        .unwrap()
    }

    /// A user an admin made for a provider login: a phone, no password, no link yet.
    pub fn create_provider_only_user(
        &self,
        username: &str,
        phone: &str,
    ) -> dingtalk_login::db::models::User {
        dingtalk_login::accounts::create_local_user(
            &mut self.conn(),
            dingtalk_login::accounts::NewLocalUser {
                username: username.into(),
                name: None,
                phone: Some(phone.into()),
                password: None,
                admin: false,
            },
        )
        .unwrap()
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// No user, link, session or refresh token exists.
pub fn assert_nothing_written(app: &TestApp) {
    let counts = app.counts();
    assert_eq!(
        (
            counts.users,
            counts.links,
            counts.sessions,
            counts.refresh_tokens
        ),
        (0, 0, 0, 0)
    );
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    driver::query_param(url, name)
}

/// The four values of the SPA handoff `…/#/login?userid=..&username=..&token=..&refreshToken=..`.
pub fn handoff(location: &str) -> HashMap<String, String> {
    driver::handoff_values(location).unwrap_or_else(|| panic!("a handoff to #/login: {location}"))
}

impl TestApp {
    pub async fn api_login(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/login"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Logs a new DingTalk (sandbox) user in and returns the handoff values.
    pub async fn dingtalk_tokens(&self, identity: &[(&str, &str)]) -> HashMap<String, String> {
        handoff(&location(&self.dingtalk_login(&browser(), identity).await))
    }

    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/token/refresh"))
            .json(&serde_json::json!({ "refreshToken": refresh_token }))
            .send()
            .await
            .unwrap()
    }
}

/// The `{"code", "msg"}` of an error answer, after checking its status.
pub async fn error_code(response: reqwest::Response, status: u16) -> i64 {
    assert_eq!(response.status(), status);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["msg"].is_string(), "{body}");
    body["code"].as_i64().unwrap()
}

pub const PASSWORD: &str = "correct horse battery staple";

/// The hidden CSRF field of the page at `path`, fetched the way a browser does.
pub async fn csrf_from(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    let html = client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = r#"name="csrf" value=""#;
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("a CSRF field on {path}: {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub async fn csrf_token(app: &TestApp, client: &reqwest::Client) -> String {
    csrf_from(app, client, "/login").await
}

impl TestApp {
    /// The HTML of the page at `path`, as `client` sees it.
    pub async fn page(&self, client: &reqwest::Client, path: &str) -> String {
        let response = client.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// Submits a form the way a browser does: the CSRF token from the page at `page`,
    /// then `fields`, posted to `action`.
    pub async fn submit(
        &self,
        client: &reqwest::Client,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let csrf = csrf_from(self, client, page).await;
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        client
            .post(self.url(action))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// DingTalk's redirect back to `client`, with `code` and `state` as given (not
    /// encoded: tests pass malformed ones on purpose).
    pub async fn callback(
        &self,
        client: &reqwest::Client,
        code: &str,
        state: &str,
    ) -> reqwest::Response {
        let path = format!("/user/dingtalkCallback/?authCode={code}&state={state}");
        client.get(self.url(&path)).send().await.unwrap()
    }

    /// "Link DingTalk" on the account page of `client`; returns DingTalk's authorize URL.
    pub async fn start_linking(&self, client: &reqwest::Client) -> String {
        self.start_linking_to(client, "dingtalk").await
    }

    /// A browser signed in (through the login form) as a new user `username`.
    pub async fn signed_in_browser(&self, username: &str, admin: bool) -> reqwest::Client {
        self.create_user(username, None, admin);
        let client = browser();
        self.form_login(&client, username).await;
        client
    }

    /// Signs `client` in through the login form; returns the 303 that hands the tokens over.
    pub async fn form_login(&self, client: &reqwest::Client, username: &str) -> reqwest::Response {
        let fields = [("username", username), ("password", PASSWORD)];
        let response = self.submit(client, "/login", "/login", &fields).await;
        assert_eq!(response.status(), 303, "form login of {username}");
        response
    }
}

/// A child process (the binary, chromedriver) that is killed and reaped when the test ends,
/// however it ends.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP proxy in front of a real server that can be frozen: it keeps every connection
/// open and accepts new ones, but passes no byte either way until it thaws — what a client
/// sees of a PostgreSQL server stopped with SIGSTOP, without stopping the suite's server.
pub struct FreezableProxy {
    pub port: u16,
    frozen: tokio::sync::watch::Sender<bool>,
}

impl FreezableProxy {
    /// Runs on a thread of its own: the tests' synchronous database calls block their
    /// own runtime, and must not block the proxy they go through.
    pub fn start(upstream: std::net::SocketAddr) -> FreezableProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (frozen, gate) = tokio::sync::watch::channel(false);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::spawn(pump(client_read, server_write, gate.clone()));
                    tokio::spawn(pump(server_read, client_write, gate.clone()));
                }
            });
        });
        FreezableProxy { port, frozen }
    }

    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut gate: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if gate.wait_for(|frozen| !frozen).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
