//! Settings from the environment (and `.env`), each with a default that works on a
//! developer's machine, validated once at start-up. A bad setting is a [`ConfigError`]
//! that names the variable and the fix; `main` turns it into exit code 2.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use rand::RngCore;
use url::Url;

use crate::db::DatabaseUrl;

/// A setting that is wrong, with the variable's name and what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}. {fix}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
    pub fix: String,
}

fn config_error(
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

/// A secret value whose `Debug` never prints it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

/// HMAC keys need at least 256 bits (RFC 8725 §3.5); the session key is derived from its
/// secret with HKDF, which actix-web's `Key::derive_from` also wants 32 bytes for.
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, Clone)]
pub struct DingTalkSettings {
    pub client_id: String,
    pub client_secret: Secret,
    /// The browser-facing authorize page.
    pub auth_url: Url,
    /// Base of `/v1.0/oauth2/userAccessToken` and `/v1.0/contact/users/me`.
    pub api_base: Url,
    /// Serve the built-in DingTalk simulator under `/sandbox/dingtalk`.
    pub sandbox: bool,
    pub timeout_ms: u64,
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
    /// Requests a client address may make per minute to each login endpoint; 0 turns it off.
    pub rate_limit_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the real client; nobody else's is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub dingtalk: DingTalkSettings,
}

impl Settings {
    /// Reads `.env` (if any) and the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        let _ = dotenvy::dotenv();
        Settings::from_lookup(|key| std::env::var(key).ok())
    }

    /// Builds settings from any key lookup, so tests can pass their own.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let get = |key: &str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

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
        let production = env == AppEnv::Production;

        let bind_addr = get("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:8000".into());
        let bind_addr: SocketAddr = bind_addr.parse().map_err(|_| {
            config_error(
                "BIND_ADDR",
                format!("`{bind_addr}` is not an address with a port"),
                "Use IP:PORT, for example 127.0.0.1:8000 or 0.0.0.0:8000.",
            )
        })?;

        let public_base_url = parse_http_url(
            "PUBLIC_BASE_URL",
            &get("PUBLIC_BASE_URL").unwrap_or_else(|| "http://127.0.0.1:8000".into()),
        )?;
        if production && public_base_url.scheme() != "https" {
            return Err(config_error(
                "PUBLIC_BASE_URL",
                "must be https when APP_ENV=production",
                "Serve the service behind TLS and set PUBLIC_BASE_URL=https://your.domain.",
            ));
        }
        let base = public_base_url.as_str().trim_end_matches('/').to_owned();

        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = match get("DATABASE_URL") {
            Some(raw) => parse_database_url(&raw)?,
            None => DatabaseUrl::Sqlite(data_dir.join("dingtalk-login.sqlite3")),
        };
        let database_pool_size =
            parse_number("DATABASE_POOL_SIZE", get("DATABASE_POOL_SIZE"), 10, 1, 200)? as u32;

        let jwt_secret = load_secret(
            "JWT_SECRET",
            get("JWT_SECRET"),
            &data_dir,
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
            &data_dir,
            "session_secret",
            production,
        )?;

        let access_token_ttl =
            parse_number("ACCESS_TOKEN_TTL", get("ACCESS_TOKEN_TTL"), 7200, 1, 86_400)?;
        let refresh_token_ttl = parse_number(
            "REFRESH_TOKEN_TTL",
            get("REFRESH_TOKEN_TTL"),
            172_800,
            1,
            90 * 86_400,
        )?;

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

        let oauth_state_ttl =
            parse_number("OAUTH_STATE_TTL", get("OAUTH_STATE_TTL"), 600, 0, 3600)?;
        let rate_limit_per_minute = parse_number(
            "RATE_LIMIT_PER_MINUTE",
            get("RATE_LIMIT_PER_MINUTE"),
            60,
            0,
            1_000_000,
        )? as u32;
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
        let dingtalk = dingtalk_settings(&get, &base, production)?;

        Ok(Settings {
            env,
            bind_addr,
            public_base_url: Url::parse(&base).expect("parsed above"),
            data_dir,
            database_url,
            database_pool_size,
            jwt_secret,
            jwt_previous_secret,
            session_secret,
            access_token_ttl,
            refresh_token_ttl,
            frontend_origin: frontend_login_url.origin().ascii_serialization(),
            frontend_login_url,
            oauth_state_ttl,
            rate_limit_per_minute,
            trusted_proxies,
            dingtalk,
        })
    }

    /// `PUBLIC_BASE_URL` as a string without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.public_base_url.as_str().trim_end_matches('/')
    }

    /// Cookies are marked `Secure` only where the browser reaches us over https.
    pub fn cookies_secure(&self) -> bool {
        self.public_base_url.scheme() == "https"
    }
}

fn dingtalk_settings(
    get: &impl Fn(&str) -> Option<String>,
    base: &str,
    production: bool,
) -> Result<DingTalkSettings, ConfigError> {
    let client_id = get("DINGTALK_CLIENT_ID");
    let sandbox = match get("DINGTALK_SANDBOX").as_deref() {
        Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        Some(other) => {
            return Err(config_error(
                "DINGTALK_SANDBOX",
                format!("unknown value `{other}`"),
                "Use true or false.",
            ));
        }
        None => client_id.is_none(),
    };
    if production && sandbox {
        return Err(config_error(
            "DINGTALK_CLIENT_ID",
            "the DingTalk sandbox cannot run when APP_ENV=production",
            "Set DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET from the DingTalk developer console, and unset DINGTALK_SANDBOX.",
        ));
    }
    let client_secret = get("DINGTALK_CLIENT_SECRET");
    let (client_id, client_secret) = match (client_id, client_secret) {
        (Some(id), Some(secret)) => (id, Secret::new(secret)),
        (Some(_), None) if !sandbox => {
            return Err(config_error(
                "DINGTALK_CLIENT_SECRET",
                "is missing while DINGTALK_CLIENT_ID is set",
                "Copy the Client Secret of your DingTalk app (开发配置 > 凭证与基础信息).",
            ));
        }
        // The sandbox accepts the credentials it was started with; a random secret per
        // process keeps any literal secret out of the code.
        (id, _) => (
            id.unwrap_or_else(|| "sandbox-client".into()),
            Secret::new(random_token(24)),
        ),
    };
    let (default_auth, default_api) = if sandbox {
        (
            format!("{base}/sandbox/dingtalk/oauth2/auth"),
            format!("{base}/sandbox/dingtalk"),
        )
    } else {
        (
            "https://login.dingtalk.com/oauth2/auth".into(),
            "https://api.dingtalk.com".into(),
        )
    };
    let auth_url = parse_http_url(
        "DINGTALK_AUTH_URL",
        &get("DINGTALK_AUTH_URL").unwrap_or(default_auth),
    )?;
    let api_base = parse_http_url(
        "DINGTALK_API_BASE",
        &get("DINGTALK_API_BASE").unwrap_or(default_api),
    )?;
    let timeout_ms = parse_number(
        "DINGTALK_TIMEOUT_MS",
        get("DINGTALK_TIMEOUT_MS"),
        10_000,
        100,
        60_000,
    )? as u64;
    Ok(DingTalkSettings {
        client_id,
        client_secret,
        auth_url,
        api_base,
        sandbox,
        timeout_ms,
    })
}

fn parse_http_url(var: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| {
        config_error(
            var,
            format!("`{raw}` is not a URL ({e})"),
            "Use an absolute URL such as https://login.example.com.",
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(config_error(
            var,
            format!("`{raw}` is not an http(s) URL"),
            "Use an absolute URL starting with https:// (or http:// on a developer machine).",
        ));
    }
    Ok(url)
}

fn parse_database_url(raw: &str) -> Result<DatabaseUrl, ConfigError> {
    let fix = "Use sqlite://PATH (e.g. sqlite://data/dingtalk-login.sqlite3) or postgres://USER@HOST:5432/DB.";
    if let Some(path) = raw
        .strip_prefix("sqlite://")
        .or_else(|| raw.strip_prefix("sqlite:"))
    {
        if path.is_empty() {
            return Err(config_error(
                "DATABASE_URL",
                "the SQLite path is empty",
                fix,
            ));
        }
        return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
    }
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        let parsed = Url::parse(raw).map_err(|e| {
            config_error(
                "DATABASE_URL",
                format!("not a valid PostgreSQL URL ({e})"),
                fix,
            )
        })?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(config_error(
                "DATABASE_URL",
                "the PostgreSQL URL has no host",
                fix,
            ));
        }
        return Ok(DatabaseUrl::Postgres(raw.to_owned()));
    }
    let scheme = raw.split_once("://").map(|(s, _)| s).unwrap_or(raw);
    Err(config_error(
        "DATABASE_URL",
        format!("unsupported database `{scheme}`"),
        fix,
    ))
}

fn parse_number(
    var: &'static str,
    raw: Option<String>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(config_error(
            var,
            format!("`{raw}` is not a number from {min} to {max}"),
            format!("Unset it to use {default}."),
        )),
    }
}

/// A secret from the environment, or in development one generated once and kept in
/// `DATA_DIR` (owner-only), so restarts keep sessions and tokens valid.
fn load_secret(
    var: &'static str,
    value: Option<String>,
    data_dir: &Path,
    file_name: &str,
    production: bool,
) -> Result<Secret, ConfigError> {
    let make_one = "Generate one with `openssl rand -base64 48`.";
    if let Some(value) = value {
        if value.len() < MIN_SECRET_LEN {
            return Err(config_error(
                var,
                format!(
                    "is too short ({} bytes; at least {MIN_SECRET_LEN} are needed)",
                    value.len()
                ),
                make_one,
            ));
        }
        return Ok(Secret::new(value));
    }
    if production {
        return Err(config_error(
            var,
            "is not set (required when APP_ENV=production)",
            make_one,
        ));
    }
    let path = data_dir.join(file_name);
    let io_error = |e: std::io::Error| {
        config_error(
            var,
            format!("cannot keep a generated secret in {} ({e})", path.display()),
            "Set DATA_DIR to a writable folder, or set the secret itself.",
        )
    };
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing.trim().len() >= MIN_SECRET_LEN => Ok(Secret::new(existing.trim())),
        Ok(_) => Err(config_error(
            var,
            format!("{} is shorter than {MIN_SECRET_LEN} bytes", path.display()),
            "Delete the file to generate a new one, or set the variable.",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = random_token(48);
            write_private_file(&path, &secret).map_err(io_error)?;
            tracing::info!(variable = var, file = %path.display(), "generated a new secret and kept it in the data folder (owner-only); set the variable in production");
            Ok(Secret::new(secret))
        }
        Err(e) => Err(io_error(e)),
    }
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// `bytes` random bytes from a CSPRNG (rand's thread RNG: ChaCha seeded by the OS), base64url.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}
