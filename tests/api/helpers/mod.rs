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

mod browsing;
mod processes;

pub use browsing::*;
pub use processes::*;
