//! Settings from the environment (and `.env`), each with a default that works on a
//! developer's machine, validated once at start-up. A bad setting is a [`ConfigError`]
//! that names the variable and the fix; `main` turns it into exit code 2.

pub mod declared;
mod openid;
mod parse;
mod providers;
mod secrets;

pub use declared::Setting;
pub use openid::OidcKeySource;
pub use providers::{
    DingTalkSettings, DirectorySettings, EventTransport, HttpEventKeys, OAuthAppSettings, url_at,
};
pub(crate) use secrets::write_private_file;
pub use secrets::{MIN_SECRET_LEN, Secret};

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use url::Url;

use crate::db::DatabaseUrl;
use declared::{
    ACCESS_TOKEN_TTL, BIND_ADDR, DATA_DIR, DATABASE_POOL_SIZE, DATABASE_TIMEOUT_MS,
    OAUTH_STATE_TTL, PASSWORD_CHECK_QUEUE, PROVIDER_MAX_IN_FLIGHT, PUBLIC_BASE_URL,
    RATE_LIMIT_CEILING_PER_MINUTE, RATE_LIMIT_PER_MINUTE, REFRESH_TOKEN_TTL,
    REQUEST_BODY_TIMEOUT_MS,
};
use parse::{default_pool_size, millis, optional_number};
pub(crate) use parse::{duration, flag, number, parse_bool, parse_http_url};
use providers::{WECHAT_VARS, WEIBO_VARS, dingtalk_settings, oauth_app_settings};
use secrets::load_secret;

/// A setting that is wrong, with the variable's name and what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}. {fix}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
    pub fix: String,
}

pub(crate) fn config_error(
    var: &'static str,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
        fix: fix.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffMode {
    /// `#/login?userid=..&username=..&token=..&refreshToken=..`
    Query,
    /// `#/login?code=..`, exchanged at `POST /api/token/exchange`.
    Code,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub env: AppEnv,
    pub bind_addr: SocketAddr,
    /// Without a trailing slash.
    pub public_base_url: Url,
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    pub database_pool_size: u32,
    /// Calls to identity providers in flight at once; more callbacks get "busy, try again".
    pub provider_max_in_flight: usize,
    /// How the tokens reach the SPA after a login: in the URL (the tutorial's contract) or
    /// as a one-time code the SPA exchanges (RFC 9700 §4.3.2 advises against tokens in URLs).
    pub handoff_mode: HandoffMode,
    /// How long a request body may take to arrive once its headers have.
    pub request_body_timeout: std::time::Duration,
    /// How many password checks (argon2) may wait at once; more are refused with 503.
    pub password_check_queue: usize,
    /// How long one request may spend on the database before it gets a 503.
    pub database_timeout: std::time::Duration,
    pub jwt_secret: Secret,
    /// The key before the last rotation, still accepted for verification.
    pub jwt_previous_secret: Option<Secret>,
    pub session_secret: Secret,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub frontend_login_url: Url,
    /// The SPA's origin (`scheme://host:port` of `frontend_login_url`), for CORS and CSP.
    pub frontend_origin: String,
    /// Seconds a login may spend at DingTalk before its `state` expires (RFC 6749 §4.1.2
    /// suggests about 10 minutes for codes).
    pub oauth_state_ttl: i64,
    /// Failed requests (4xx) a client address may make per minute to each group of login
    /// endpoints; 0 turns it off.
    pub rate_limit_per_minute: u32,
    /// Requests of any outcome a client address may make per minute to each group; 0 off.
    pub rate_limit_ceiling_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the real client; nobody else's is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub dingtalk: DingTalkSettings,
    /// `METRICS_TOKEN`: `/metrics` answers a scraper that presents it as a bearer token.
    pub metrics_token: Option<Secret>,
    /// `METRICS_BIND`: `/metrics` on its own address (for a private network), no token.
    pub metrics_bind: Option<SocketAddr>,
    /// WeChat website login; `None` when off.
    pub wechat: Option<OAuthAppSettings>,
    /// Weibo login; `None` when off.
    pub weibo: Option<OAuthAppSettings>,
    /// The OpenID provider's signing keys (off in production until they are given).
    pub oidc_keys: OidcKeySource,
}

impl Settings {
    /// Reads the process environment (the command line loads `.env` into it first).
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|key| std::env::var(key).ok())
    }

    /// Builds settings from any key lookup, so tests can pass their own.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        // A variable that is unset (or blank) has its declared default.
        let get = |key: &str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .or_else(|| {
                    declared::find(key)
                        .and_then(|s| s.default)
                        .map(str::to_owned)
                })
        };

        let env = app_env(&get)?;
        let production = env == AppEnv::Production;

        let bind_addr = get(BIND_ADDR.name).unwrap_or_default();
        let bind_addr: SocketAddr = bind_addr.parse().map_err(|_| {
            config_error(
                "BIND_ADDR",
                format!("`{bind_addr}` is not an address with a port"),
                "Use IP:PORT, for example 127.0.0.1:8000 or 0.0.0.0:8000.",
            )
        })?;

        let (metrics_token, metrics_bind) = metrics_access(&get)?;

        let public_base_url = public_base_url(&get, production)?;
        let base = public_base_url.as_str().trim_end_matches('/').to_owned();

        let data_dir = PathBuf::from(get(DATA_DIR.name).unwrap_or_default());
        let (database_url, database_pool_size) = database(&get, &data_dir)?;
        let handoff_mode = handoff_mode(&get)?;
        let (request_body_timeout, provider_max_in_flight, password_check_queue, database_timeout) =
            load_limits(&get)?;

        let (jwt_secret, jwt_previous_secret, session_secret) =
            secrets(&get, &data_dir, production)?;

        let (access_token_ttl, refresh_token_ttl) = token_lifetimes(&get)?;

        let frontend_login_url = frontend_login_url(&get, &base, production)?;

        let oauth_state_ttl = number(&get, &OAUTH_STATE_TTL)?;
        let (rate_limit_per_minute, rate_limit_ceiling_per_minute) = rate_limits(&get)?;
        let trusted_proxies = trusted_proxies(&get)?;
        let dingtalk = dingtalk_settings(&get, &base, production)?;
        let wechat = oauth_app_settings(&get, &WECHAT_VARS, &base, production)?;
        let weibo = oauth_app_settings(&get, &WEIBO_VARS, &base, production)?;
        let oidc_keys = openid::oidc_keys(&get, production)?;

        Ok(Settings {
            env,
            bind_addr,
            public_base_url,
            data_dir,
            database_url,
            database_pool_size,
            database_timeout,
            password_check_queue,
            request_body_timeout,
            provider_max_in_flight,
            handoff_mode,
            jwt_secret,
            jwt_previous_secret,
            session_secret,
            access_token_ttl,
            refresh_token_ttl,
            frontend_origin: frontend_login_url.origin().ascii_serialization(),
            frontend_login_url,
            oauth_state_ttl,
            rate_limit_per_minute,
            rate_limit_ceiling_per_minute,
            trusted_proxies,
            dingtalk,
            metrics_token,
            metrics_bind,
            wechat,
            weibo,
            oidc_keys,
        })
    }

    /// `PUBLIC_BASE_URL` as a string without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.public_base_url.as_str().trim_end_matches('/')
    }

    /// Whether any provider is simulated (the login page says so).
    pub fn any_sandbox(&self) -> bool {
        self.dingtalk.sandbox
            || [&self.wechat, &self.weibo]
                .into_iter()
                .flatten()
                .any(|app| app.sandbox)
    }

    /// Cookies are marked `Secure` only where the browser reaches us over https.
    pub fn cookies_secure(&self) -> bool {
        self.public_base_url.scheme() == "https"
    }
}

/// How long a body and the database may take, and how much waits at once before a 503.
fn load_limits(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(std::time::Duration, usize, usize, std::time::Duration), ConfigError> {
    let request_body_timeout = millis(get, &REQUEST_BODY_TIMEOUT_MS)?;
    let provider_max_in_flight = number(get, &PROVIDER_MAX_IN_FLIGHT)? as usize;
    let password_check_queue = number(get, &PASSWORD_CHECK_QUEUE)? as usize;
    let database_timeout = millis(get, &DATABASE_TIMEOUT_MS)?;
    Ok((
        request_body_timeout,
        provider_max_in_flight,
        password_check_queue,
        database_timeout,
    ))
}

fn token_lifetimes(get: &impl Fn(&str) -> Option<String>) -> Result<(i64, i64), ConfigError> {
    let access_token_ttl = number(get, &ACCESS_TOKEN_TTL)?;
    let refresh_token_ttl = number(get, &REFRESH_TOKEN_TTL)?;
    Ok((access_token_ttl, refresh_token_ttl))
}

fn rate_limits(get: &impl Fn(&str) -> Option<String>) -> Result<(u32, u32), ConfigError> {
    let rate_limit_per_minute = number(get, &RATE_LIMIT_PER_MINUTE)? as u32;
    let rate_limit_ceiling_per_minute = number(get, &RATE_LIMIT_CEILING_PER_MINUTE)? as u32;
    Ok((rate_limit_per_minute, rate_limit_ceiling_per_minute))
}

/// `PUBLIC_BASE_URL` without its trailing slash: what the service names itself by (https
/// in production).
fn public_base_url(
    get: &impl Fn(&str) -> Option<String>,
    production: bool,
) -> Result<Url, ConfigError> {
    let public_base_url = parse_http_url(
        "PUBLIC_BASE_URL",
        &get(PUBLIC_BASE_URL.name).unwrap_or_default(),
    )?;
    if production && public_base_url.scheme() != "https" {
        return Err(config_error(
            "PUBLIC_BASE_URL",
            "must be https when APP_ENV=production",
            "Serve the service behind TLS and set PUBLIC_BASE_URL=https://your.domain.",
        ));
    }
    let base = public_base_url.as_str().trim_end_matches('/').to_owned();
    // The base without its trailing slash is what the service names itself by.
    let public_base_url = Url::parse(&base).map_err(|e| {
        config_error(
            "PUBLIC_BASE_URL",
            format!("`{base}` is not a URL ({e})"),
            "Give an absolute http(s) URL, e.g. https://login.example.com.",
        )
    })?;
    Ok(public_base_url)
}

fn app_env(get: &impl Fn(&str) -> Option<String>) -> Result<AppEnv, ConfigError> {
    let env = match get("APP_ENV").as_deref() {
        None | Some("development") | Some("dev") => AppEnv::Development,
        Some("production") | Some("prod") => AppEnv::Production,
        Some(other) => {
            return Err(config_error(
                "APP_ENV",
                format!("unknown value `{other}`"),
                "Use `development` or `production`.",
            ));
        }
    };
    Ok(env)
}

/// `METRICS_TOKEN` and `METRICS_BIND`.
fn metrics_access(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(Option<Secret>, Option<SocketAddr>), ConfigError> {
    let metrics_token = match get("METRICS_TOKEN") {
        Some(token) if token.len() < 16 => {
            return Err(config_error(
                "METRICS_TOKEN",
                "is too short",
                "Use 16 characters or more, e.g. `openssl rand -hex 24`.",
            ));
        }
        token => token.map(Secret::new),
    };
    let metrics_bind = match get("METRICS_BIND") {
        None => None,
        Some(raw) => Some(raw.parse::<SocketAddr>().map_err(|_| {
            config_error(
                "METRICS_BIND",
                format!("`{raw}` is not an address with a port"),
                "Use IP:PORT on a private interface, for example 10.0.0.5:9100.",
            )
        })?),
    };
    Ok((metrics_token, metrics_bind))
}

/// `DATABASE_URL` (SQLite in `data_dir` by default) and `DATABASE_POOL_SIZE`.
fn database(
    get: &impl Fn(&str) -> Option<String>,
    data_dir: &std::path::Path,
) -> Result<(DatabaseUrl, u32), ConfigError> {
    let database_url = match get("DATABASE_URL") {
        Some(raw) => DatabaseUrl::parse(&raw).map_err(|problem| {
            config_error(
                "DATABASE_URL",
                problem,
                "Use sqlite://PATH (e.g. sqlite://data/dingtalk-login.sqlite3) or postgres://USER@HOST:5432/DB.",
            )
        })?,
        None => DatabaseUrl::Sqlite(data_dir.join("dingtalk-login.sqlite3")),
    };
    let database_pool_size =
        optional_number(get, &DATABASE_POOL_SIZE)?.unwrap_or_else(default_pool_size) as u32;
    Ok((database_url, database_pool_size))
}

fn handoff_mode(get: &impl Fn(&str) -> Option<String>) -> Result<HandoffMode, ConfigError> {
    let handoff_mode = match get("HANDOFF_MODE").as_deref() {
        None | Some("query") => HandoffMode::Query,
        Some("code") => HandoffMode::Code,
        Some(other) => {
            return Err(config_error(
                "HANDOFF_MODE",
                format!("unknown value `{other}`"),
                "Use `query` (tokens in the SPA's URL, the tutorial's contract) or `code` (a one-time code the SPA exchanges).",
            ));
        }
    };
    Ok(handoff_mode)
}

/// `JWT_SECRET`, `JWT_PREVIOUS_SECRET` and `SESSION_SECRET` (generated in development).
fn secrets(
    get: &impl Fn(&str) -> Option<String>,
    data_dir: &std::path::Path,
    production: bool,
) -> Result<(Secret, Option<Secret>, Secret), ConfigError> {
    let jwt_secret = load_secret(
        "JWT_SECRET",
        get("JWT_SECRET"),
        data_dir,
        "jwt_secret",
        production,
    )?;
    let jwt_previous_secret = match get("JWT_PREVIOUS_SECRET") {
        Some(previous) if previous.len() < MIN_SECRET_LEN => {
            return Err(config_error(
                "JWT_PREVIOUS_SECRET",
                "is too short",
                "Give the complete previous JWT_SECRET, or unset it.",
            ));
        }
        previous => previous.map(Secret::new),
    };
    let session_secret = load_secret(
        "SESSION_SECRET",
        get("SESSION_SECRET"),
        data_dir,
        "session_secret",
        production,
    )?;
    Ok((jwt_secret, jwt_previous_secret, session_secret))
}

/// Where the SPA receives the tokens: no query string, https in production.
fn frontend_login_url(
    get: &impl Fn(&str) -> Option<String>,
    base: &str,
    production: bool,
) -> Result<Url, ConfigError> {
    let frontend_login_url = parse_http_url(
        "FRONTEND_LOGIN_URL",
        &get("FRONTEND_LOGIN_URL").unwrap_or_else(|| format!("{base}/app/#/login")),
    )?;
    if frontend_login_url.query().is_some() {
        return Err(config_error(
            "FRONTEND_LOGIN_URL",
            "must not carry a query string",
            "Give the SPA's login route only, e.g. https://app.example.com/#/login.",
        ));
    }
    if production && frontend_login_url.scheme() != "https" {
        return Err(config_error(
            "FRONTEND_LOGIN_URL",
            "must be https when APP_ENV=production (it receives the tokens)",
            "Set FRONTEND_LOGIN_URL=https://your.app/#/login.",
        ));
    }
    Ok(frontend_login_url)
}

fn trusted_proxies(get: &impl Fn(&str) -> Option<String>) -> Result<Vec<IpAddr>, ConfigError> {
    let trusted_proxies = match get("TRUSTED_PROXIES") {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|ip| {
                ip.trim().parse().map_err(|_| {
                    config_error(
                        "TRUSTED_PROXIES",
                        format!("`{}` is not an IP address", ip.trim()),
                        "Give a comma-separated list of IP addresses, e.g. 10.0.0.5,10.0.0.6.",
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(trusted_proxies)
}
