//! Every setting, declared once: its variable, the value used when it is unset, the range
//! a number may take, whether it is a secret, and what it is for. The parsers read names,
//! defaults and ranges from here; a test holds the README's settings table and
//! `.env.example` to this list.

/// One environment variable.
#[derive(Debug)]
pub struct Setting {
    pub name: &'static str,
    /// The value when the variable is unset, as `.env.example` writes it; `None`: unset
    /// means "none", or a value worked out from other settings (the README says which).
    pub default: Option<&'static str>,
    /// A number's accepted range.
    pub range: Option<(i64, i64)>,
    /// Never printed; `.env.example` leaves it empty.
    pub secret: bool,
    /// Another name still read for this setting (`.env.example` and the README show the
    /// current one).
    pub alias_of: Option<&'static str>,
    pub help: &'static str,
}

const fn text(name: &'static str, default: Option<&'static str>, help: &'static str) -> Setting {
    Setting {
        name,
        default,
        range: None,
        secret: false,
        alias_of: None,
        help,
    }
}

const fn number(
    name: &'static str,
    default: Option<&'static str>,
    range: (i64, i64),
    help: &'static str,
) -> Setting {
    Setting {
        name,
        default,
        range: Some(range),
        secret: false,
        alias_of: None,
        help,
    }
}

const fn secret(name: &'static str, help: &'static str) -> Setting {
    Setting {
        name,
        default: None,
        range: None,
        secret: true,
        alias_of: None,
        help,
    }
}

pub const APP_ENV: Setting = text("APP_ENV", Some("development"), "development or production");
pub const BIND_ADDR: Setting = text("BIND_ADDR", Some("127.0.0.1:8000"), "where to listen");
pub const PUBLIC_BASE_URL: Setting = text(
    "PUBLIC_BASE_URL",
    Some("http://127.0.0.1:8000"),
    "the address people and the providers reach the service at",
);
pub const DATA_DIR: Setting = text(
    "DATA_DIR",
    Some("./data"),
    "the SQLite file and generated development secrets",
);
pub const DATABASE_URL: Setting = text(
    "DATABASE_URL",
    None,
    "sqlite://PATH or postgres://…; default SQLite in DATA_DIR",
);
pub const DATABASE_POOL_SIZE: Setting = number(
    "DATABASE_POOL_SIZE",
    None,
    (1, 200),
    "database connections; default two per core, 4 to 32",
);
pub const DATABASE_TIMEOUT_MS: Setting = number(
    "DATABASE_TIMEOUT_MS",
    Some("5000"),
    (200, 60_000),
    "the most one request waits for the database",
);
pub const PASSWORD_CHECK_QUEUE: Setting = number(
    "PASSWORD_CHECK_QUEUE",
    Some("32"),
    (1, 10_000),
    "password checks that may wait at once",
);
pub const PROVIDER_MAX_IN_FLIGHT: Setting = number(
    "PROVIDER_MAX_IN_FLIGHT",
    Some("64"),
    (1, 10_000),
    "provider calls in flight at once",
);
pub const REQUEST_BODY_TIMEOUT_MS: Setting = number(
    "REQUEST_BODY_TIMEOUT_MS",
    Some("10000"),
    (100, 300_000),
    "how long a body may take after its headers",
);
pub const HANDOFF_MODE: Setting = text(
    "HANDOFF_MODE",
    Some("query"),
    "query (tokens in the SPA's URL) or code",
);
pub const JWT_SECRET: Setting = secret("JWT_SECRET", "the JWTs' HMAC key, at least 32 bytes");
pub const JWT_PREVIOUS_SECRET: Setting = secret(
    "JWT_PREVIOUS_SECRET",
    "the key before a rotation, still accepted",
);
pub const SESSION_SECRET: Setting = secret("SESSION_SECRET", "the session cookie's key");
pub const ACCESS_TOKEN_TTL: Setting = number(
    "ACCESS_TOKEN_TTL",
    Some("7200"),
    (1, 86_400),
    "seconds an access token lives",
);
pub const REFRESH_TOKEN_TTL: Setting = number(
    "REFRESH_TOKEN_TTL",
    Some("172800"),
    (1, 90 * 86_400),
    "seconds a login lives, refreshes included",
);
pub const FRONTEND_LOGIN_URL: Setting = text(
    "FRONTEND_LOGIN_URL",
    None,
    "where the SPA receives the tokens; default the reference SPA",
);
pub const OAUTH_STATE_TTL: Setting = number(
    "OAUTH_STATE_TTL",
    Some("600"),
    (0, 3600),
    "seconds a sign-in may spend at a provider",
);
pub const RATE_LIMIT_PER_MINUTE: Setting = number(
    "RATE_LIMIT_PER_MINUTE",
    Some("60"),
    (0, 1_000_000),
    "failed requests per address and minute",
);
pub const RATE_LIMIT_CEILING_PER_MINUTE: Setting = number(
    "RATE_LIMIT_CEILING_PER_MINUTE",
    Some("3000"),
    (0, 10_000_000),
    "requests per address and minute",
);
pub const TRUSTED_PROXIES: Setting = text(
    "TRUSTED_PROXIES",
    None,
    "proxies whose X-Forwarded-For is believed",
);
pub const METRICS_TOKEN: Setting = secret("METRICS_TOKEN", "the scraper's bearer token");
pub const METRICS_BIND: Setting =
    text("METRICS_BIND", None, "a private address for /metrics alone");
pub const DINGTALK_CLIENT_ID: Setting = text("DINGTALK_CLIENT_ID", None, "unset: the sandbox");
pub const DINGTALK_CLIENT_SECRET: Setting = secret("DINGTALK_CLIENT_SECRET", "the app's secret");
pub const DINGTALK_SANDBOX: Setting = text("DINGTALK_SANDBOX", None, "true without a client id");
pub const DINGTALK_AUTH_URL: Setting =
    text("DINGTALK_AUTH_URL", None, "DingTalk's, or the sandbox's");
pub const DINGTALK_API_BASE: Setting =
    text("DINGTALK_API_BASE", None, "DingTalk's, or the sandbox's");
pub const DINGTALK_OAPI_BASE: Setting = text(
    "DINGTALK_OAPI_BASE",
    None,
    "DingTalk's older API host, or the sandbox's",
);
pub const DINGTALK_TIMEOUT_MS: Setting = number(
    "DINGTALK_TIMEOUT_MS",
    Some("10000"),
    (100, 60_000),
    "the bound of every provider call",
);
pub const DINGTALK_CORP_IDS: Setting = text(
    "DINGTALK_CORP_IDS",
    None,
    "organisations whose members may sign in",
);
pub const DINGTALK_VERIFY_MEMBERSHIP: Setting = text(
    "DINGTALK_VERIFY_MEMBERSHIP",
    Some("false"),
    "also ask DingTalk's contacts API",
);
pub const DINGTALK_BIND_BY_PHONE: Setting = text(
    "DINGTALK_BIND_BY_PHONE",
    Some("true"),
    "a first login may bind by phone",
);
pub const DINGTALK_DIRECTORY: Setting = text(
    "DINGTALK_DIRECTORY",
    Some("false"),
    "mirror the organisation's directory (one corpId in DINGTALK_CORP_IDS)",
);
pub const DINGTALK_DIRECTORY_SYNC_INTERVAL: Setting = text(
    "DINGTALK_DIRECTORY_SYNC_INTERVAL",
    Some("6h"),
    "how often the full sync runs: 90s, 30m, 6h (at least a minute)",
);
pub const DINGTALK_EVENTS: Setting = text(
    "DINGTALK_EVENTS",
    Some("off"),
    "the directory's events in real time: off, http or stream",
);
pub const DINGTALK_EVENT_TOKEN: Setting =
    secret("DINGTALK_EVENT_TOKEN", "the console's event token (http)");
pub const DINGTALK_EVENT_AES_KEY: Setting = secret(
    "DINGTALK_EVENT_AES_KEY",
    "the console's 43-character aes_key (http)",
);
pub const DINGTALK_EVENT_RECEIVER: Setting = text(
    "DINGTALK_EVENT_RECEIVER",
    Some("app"),
    "whom events are sealed for: app (event subscription) or corp (older callback)",
);
/// No declared default: unset, its former name `DINGTALK_SIGNUP` is read, and then `open`.
pub const SIGNUP: Setting = text("SIGNUP", None, "open (the default) or bind-only");
pub const DINGTALK_SIGNUP: Setting = Setting {
    alias_of: Some("SIGNUP"),
    ..text("DINGTALK_SIGNUP", None, "the former name of SIGNUP")
};
pub const WECHAT_APP_ID: Setting = text("WECHAT_APP_ID", None, "unset: the sandbox, or off");
pub const WECHAT_APP_SECRET: Setting = secret("WECHAT_APP_SECRET", "the app's secret");
pub const WECHAT_AUTH_URL: Setting = text("WECHAT_AUTH_URL", None, "WeChat's, or the sandbox's");
pub const WECHAT_API_BASE: Setting = text("WECHAT_API_BASE", None, "WeChat's, or the sandbox's");
pub const WECHAT_SANDBOX: Setting = text("WECHAT_SANDBOX", None, "true without credentials");
pub const WEIBO_CLIENT_ID: Setting = text("WEIBO_CLIENT_ID", None, "unset: the sandbox, or off");
pub const WEIBO_CLIENT_SECRET: Setting = secret("WEIBO_CLIENT_SECRET", "the app's secret");
pub const WEIBO_AUTH_URL: Setting = text("WEIBO_AUTH_URL", None, "Weibo's, or the sandbox's");
pub const WEIBO_API_BASE: Setting = text("WEIBO_API_BASE", None, "Weibo's, or the sandbox's");
pub const WEIBO_SANDBOX: Setting = text("WEIBO_SANDBOX", None, "true without credentials");
pub const OIDC_PROVIDER: Setting = text("OIDC_PROVIDER", Some("on"), "on or off");
pub const OIDC_RS256_KEY: Setting = secret("OIDC_RS256_KEY", "the RS256 key as PEM text");
pub const OIDC_RS256_KEY_FILE: Setting =
    text("OIDC_RS256_KEY_FILE", None, "the RS256 key's PEM file");
pub const OIDC_ES256_KEY: Setting = secret("OIDC_ES256_KEY", "the ES256 key as PEM text");
pub const OIDC_ES256_KEY_FILE: Setting =
    text("OIDC_ES256_KEY_FILE", None, "the ES256 key's PEM file");
pub const OIDC_PREVIOUS_KEY_FILES: Setting = text(
    "OIDC_PREVIOUS_KEY_FILES",
    None,
    "keys rotated out, still published",
);
pub const LOG_FORMAT: Setting = text("LOG_FORMAT", Some("text"), "text or json");
pub const RUST_LOG: Setting = text("RUST_LOG", Some("info"), "what is logged");

/// Every setting the service reads.
pub const ALL: &[&Setting] = &[
    &APP_ENV,
    &BIND_ADDR,
    &PUBLIC_BASE_URL,
    &DATA_DIR,
    &DATABASE_URL,
    &DATABASE_POOL_SIZE,
    &DATABASE_TIMEOUT_MS,
    &PASSWORD_CHECK_QUEUE,
    &PROVIDER_MAX_IN_FLIGHT,
    &REQUEST_BODY_TIMEOUT_MS,
    &HANDOFF_MODE,
    &JWT_SECRET,
    &JWT_PREVIOUS_SECRET,
    &SESSION_SECRET,
    &ACCESS_TOKEN_TTL,
    &REFRESH_TOKEN_TTL,
    &FRONTEND_LOGIN_URL,
    &OAUTH_STATE_TTL,
    &RATE_LIMIT_PER_MINUTE,
    &RATE_LIMIT_CEILING_PER_MINUTE,
    &TRUSTED_PROXIES,
    &METRICS_TOKEN,
    &METRICS_BIND,
    &DINGTALK_CLIENT_ID,
    &DINGTALK_CLIENT_SECRET,
    &DINGTALK_SANDBOX,
    &DINGTALK_AUTH_URL,
    &DINGTALK_API_BASE,
    &DINGTALK_OAPI_BASE,
    &DINGTALK_TIMEOUT_MS,
    &DINGTALK_CORP_IDS,
    &DINGTALK_VERIFY_MEMBERSHIP,
    &DINGTALK_BIND_BY_PHONE,
    &DINGTALK_DIRECTORY,
    &DINGTALK_DIRECTORY_SYNC_INTERVAL,
    &DINGTALK_EVENTS,
    &DINGTALK_EVENT_TOKEN,
    &DINGTALK_EVENT_AES_KEY,
    &DINGTALK_EVENT_RECEIVER,
    &SIGNUP,
    &DINGTALK_SIGNUP,
    &WECHAT_APP_ID,
    &WECHAT_APP_SECRET,
    &WECHAT_AUTH_URL,
    &WECHAT_API_BASE,
    &WECHAT_SANDBOX,
    &WEIBO_CLIENT_ID,
    &WEIBO_CLIENT_SECRET,
    &WEIBO_AUTH_URL,
    &WEIBO_API_BASE,
    &WEIBO_SANDBOX,
    &OIDC_PROVIDER,
    &OIDC_RS256_KEY,
    &OIDC_RS256_KEY_FILE,
    &OIDC_ES256_KEY,
    &OIDC_ES256_KEY_FILE,
    &OIDC_PREVIOUS_KEY_FILES,
    &LOG_FORMAT,
    &RUST_LOG,
];

/// The declaration of `name`, if it is one of ours.
pub fn find(name: &str) -> Option<&'static Setting> {
    ALL.iter().copied().find(|setting| setting.name == name)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    use super::{ALL, find};

    /// Rows of the README's settings table: the variables named in the first cell, and the
    /// default cell.
    fn readme_rows() -> Vec<(Vec<String>, String)> {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("the README has a Configuration section");
        section
            .lines()
            .filter(|line| line.starts_with("| `"))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').collect();
                let names = cells[1]
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .filter(|n| {
                        n.chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                    })
                    .map(str::to_owned)
                    .collect();
                (names, cells[2].to_owned())
            })
            .collect()
    }

    #[test]
    fn the_readme_table_agrees_with_the_declaration() {
        let rows = readme_rows();
        let named: BTreeSet<&str> = rows
            .iter()
            .flat_map(|(n, _)| n)
            .map(String::as_str)
            .collect();
        for name in &named {
            assert!(
                find(name).is_some(),
                "the README names {name}, which is not declared"
            );
        }
        for setting in ALL.iter().filter(|s| s.alias_of.is_none()) {
            assert!(
                named.contains(setting.name),
                "{} is missing from the README's table",
                setting.name
            );
            if let Some(default) = setting.default {
                let (_, cell) = rows
                    .iter()
                    .find(|(names, _)| names.iter().any(|n| n == setting.name))
                    .expect("its row");
                assert!(
                    cell.contains(&format!("`{default}`")),
                    "the README gives {} another default than `{default}`: {cell}",
                    setting.name
                );
            }
        }
    }

    #[test]
    fn env_example_agrees_with_the_declaration() {
        let example = include_str!("../../.env.example");
        let mut listed = BTreeSet::new();
        for line in example.lines() {
            let line = line.trim_start_matches('#');
            let Some((name, value)) = line.split_once('=') else {
                continue;
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                continue;
            }
            let setting = find(name)
                .unwrap_or_else(|| panic!(".env.example lists {name}, which is not declared"));
            listed.insert(name);
            if setting.secret {
                assert_eq!(
                    value, "",
                    ".env.example must not hold a value for the secret {name}"
                );
            } else if let Some(default) = setting.default {
                assert_eq!(value, default, ".env.example gives {name} another default");
            }
        }
        for setting in ALL.iter().filter(|s| s.alias_of.is_none()) {
            assert!(
                listed.contains(setting.name),
                "{} is missing from .env.example",
                setting.name
            );
        }
    }

    /// The parsers ask for declared names only, and for every declared name (the logging
    /// settings are read when logging starts, before the settings).
    #[test]
    fn the_parsers_read_exactly_the_declared_settings() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let data_dir = dir.path().to_string_lossy().into_owned();
        let asked = RefCell::new(BTreeSet::new());
        let settings = crate::config::Settings::from_lookup(|name| {
            asked.borrow_mut().insert(name.to_owned());
            (name == "DATA_DIR").then(|| data_dir.clone())
        });
        assert!(
            settings.is_ok(),
            "the defaults make settings: {:?}",
            settings.err()
        );
        let asked = asked.into_inner();
        for name in &asked {
            assert!(
                find(name).is_some(),
                "the parsers read {name}, which is not declared"
            );
        }
        for setting in ALL
            .iter()
            .filter(|s| !matches!(s.name, "LOG_FORMAT" | "RUST_LOG"))
        {
            assert!(
                asked.contains(setting.name),
                "{} is declared but never read",
                setting.name
            );
        }
    }
}
