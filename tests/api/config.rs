//! Bad configuration ends the real binary with one clear line and exit code 2.

use std::process::{Command, Output};

use dingtalk_login::config::{OidcKeySource, Settings};

use crate::helpers::random_secret;

pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dingtalk-login"));
    // Only what each test sets; run in an empty folder so no .env is picked up.
    command.env_clear().env("RUST_LOG", "warn");
    command
}

fn run_with(env: &[(&str, &str)]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .current_dir(dir.path())
        .envs(env.iter().copied())
        .arg("migrate")
        .output()
        .unwrap();
    (output, dir)
}

fn assert_config_error(env: &[(&str, &str)], variable: &str) -> String {
    let (output, _dir) = run_with(env);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{env:?}: {stderr}");
    assert!(
        stderr.contains(&format!("configuration error: {variable}:")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    stderr
}

/// OpenID signing keys that cannot be read or are not keys stop the start, by name.
#[test]
fn unreadable_or_unusable_openid_keys_name_the_variable() {
    assert_config_error(
        &[("OIDC_RS256_KEY_FILE", "/nonexistent/oidc.pem")],
        "OIDC_RS256_KEY_FILE",
    );
    let stderr = assert_config_error(&[("OIDC_RS256_KEY", "not a key")], "OIDC_RS256_KEY");
    assert!(stderr.contains("PKCS#8"), "the fix is named: {stderr}");
    let (_, es256) = crate::helpers::oidc_test_keys();
    let (rs256, _) = crate::helpers::oidc_test_keys();
    assert_config_error(
        &[
            ("OIDC_RS256_KEY", es256.as_str()),
            ("OIDC_ES256_KEY", rs256.as_str()),
        ],
        "OIDC_RS256_KEY",
    );
}

#[test]
fn unparsable_settings_name_the_variable() {
    assert_config_error(&[("BIND_ADDR", "localhost")], "BIND_ADDR");
    assert_config_error(&[("PUBLIC_BASE_URL", "not a url")], "PUBLIC_BASE_URL");
    assert_config_error(
        &[("PUBLIC_BASE_URL", "ftp://example.com")],
        "PUBLIC_BASE_URL",
    );
    assert_config_error(&[("ACCESS_TOKEN_TTL", "two hours")], "ACCESS_TOKEN_TTL");
    assert_config_error(&[("APP_ENV", "staging")], "APP_ENV");
    assert_config_error(
        &[("TRUSTED_PROXIES", "10.0.0.5,proxy.internal")],
        "TRUSTED_PROXIES",
    );
    assert_config_error(&[("DINGTALK_SIGNUP", "closed")], "DINGTALK_SIGNUP");
    assert_config_error(
        &[("DINGTALK_BIND_BY_PHONE", "maybe")],
        "DINGTALK_BIND_BY_PHONE",
    );
    assert_config_error(
        &[("DINGTALK_CORP_IDS", "ding1, not a corp")],
        "DINGTALK_CORP_IDS",
    );
    assert_config_error(&[("DATABASE_TIMEOUT_MS", "soon")], "DATABASE_TIMEOUT_MS");
    assert_config_error(&[("HANDOFF_MODE", "cookie")], "HANDOFF_MODE");
    assert_config_error(
        &[("DINGTALK_VERIFY_MEMBERSHIP", "true")],
        "DINGTALK_VERIFY_MEMBERSHIP",
    );
    assert_config_error(&[("PASSWORD_CHECK_QUEUE", "0")], "PASSWORD_CHECK_QUEUE");
    assert_config_error(&[("SIGNUP", "closed")], "SIGNUP");
    assert_config_error(&[("WECHAT_APP_ID", "wx123")], "WECHAT_APP_SECRET");
    assert_config_error(&[("WEIBO_CLIENT_SECRET", "s")], "WEIBO_CLIENT_ID");
    assert_config_error(&[("WECHAT_SANDBOX", "perhaps")], "WECHAT_SANDBOX");
    assert_config_error(&[("WEIBO_API_BASE", "api.weibo.com")], "WEIBO_API_BASE");
}

/// WeChat and Weibo are on in development (as sandboxes) and off in production until
/// their credentials are set; a sandbox is never allowed in production.
#[test]
fn wechat_and_weibo_are_sandboxes_in_development_and_off_in_production() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let jwt = random_secret();
    let session = random_secret();
    let settings = |extra: &[(&str, &str)]| {
        let mut env: Vec<(&str, &str)> = vec![
            ("DATA_DIR", data.as_str()),
            ("JWT_SECRET", jwt.as_str()),
            ("SESSION_SECRET", session.as_str()),
        ];
        env.extend_from_slice(extra);
        Settings::from_lookup(|key| {
            env.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        })
    };
    let development = settings(&[]).unwrap();
    assert!(matches!(
        development.oidc_keys,
        OidcKeySource::Generated { .. }
    ));
    assert!(development.wechat.as_ref().is_some_and(|app| app.sandbox));
    assert!(development.weibo.as_ref().is_some_and(|app| app.sandbox));

    let production = [
        ("APP_ENV", "production"),
        ("PUBLIC_BASE_URL", "https://login.example.com"),
        ("DINGTALK_CLIENT_ID", "dingtestclient"),
        ("DINGTALK_CLIENT_SECRET", "dingtalk-secret-placeholder"),
    ];
    let off = settings(&production).unwrap();
    assert!(off.wechat.is_none() && off.weibo.is_none());
    // The OpenID provider too, until its keys are given; an ES256 key alone is not enough.
    assert!(matches!(off.oidc_keys, OidcKeySource::Off));
    let (rs256, es256) = crate::helpers::oidc_test_keys();
    let mut with_keys = production.to_vec();
    with_keys.push(("OIDC_RS256_KEY", rs256.as_str()));
    assert!(matches!(
        settings(&with_keys).unwrap().oidc_keys,
        OidcKeySource::Given { es256: None, .. }
    ));
    let mut ec_only = production.to_vec();
    ec_only.push(("OIDC_ES256_KEY", es256.as_str()));
    assert_eq!(settings(&ec_only).unwrap_err().var, "OIDC_RS256_KEY_FILE");
    let mut with_wechat = production.to_vec();
    with_wechat.extend([("WECHAT_APP_ID", "wx123"), ("WECHAT_APP_SECRET", "s")]);
    let on = settings(&with_wechat).unwrap();
    let wechat = on.wechat.unwrap();
    assert!(!wechat.sandbox);
    assert_eq!(
        wechat.auth_url.as_str(),
        "https://open.weixin.qq.com/connect/qrconnect"
    );
    let mut sandboxed = production.to_vec();
    sandboxed.push(("WEIBO_SANDBOX", "true"));
    let error = settings(&sandboxed).unwrap_err();
    assert_eq!(error.var, "WEIBO_SANDBOX");
}

#[test]
fn unknown_database_scheme_is_refused() {
    let stderr = assert_config_error(
        &[("DATABASE_URL", "mysql://root@127.0.0.1/test")],
        "DATABASE_URL",
    );
    assert!(stderr.contains("postgres://"), "the fix is named: {stderr}");
}

#[test]
fn a_short_secret_is_refused_without_printing_it() {
    let stderr = assert_config_error(&[("JWT_SECRET", "secret")], "JWT_SECRET");
    assert!(
        !stderr.contains("\"secret\"") && !stderr.contains("`secret`"),
        "{stderr}"
    );
}

#[test]
fn production_requires_secrets_https_and_real_dingtalk() {
    let jwt = random_secret();
    let session = random_secret();
    let https = [
        ("APP_ENV", "production"),
        ("PUBLIC_BASE_URL", "https://login.example.com"),
    ];
    assert_config_error(&https, "JWT_SECRET");
    let mut with_secrets = https.to_vec();
    with_secrets.extend([
        ("JWT_SECRET", jwt.as_str()),
        ("SESSION_SECRET", session.as_str()),
    ]);
    assert_config_error(&with_secrets, "DINGTALK_CLIENT_ID");
    let mut http = with_secrets.clone();
    http[1] = ("PUBLIC_BASE_URL", "http://login.example.com");
    assert_config_error(&http, "PUBLIC_BASE_URL");
}

#[test]
fn a_port_in_use_is_a_config_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .current_dir(dir.path())
        .env("BIND_ADDR", &addr)
        .arg("serve")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("configuration error: BIND_ADDR:"),
        "{stderr}"
    );
}

#[test]
fn generated_secrets_are_private_and_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lookup = |key: &str| (key == "DATA_DIR").then(|| data.display().to_string());
    let first = Settings::from_lookup(lookup).unwrap();
    let second = Settings::from_lookup(lookup).unwrap();
    assert_eq!(first.jwt_secret.expose(), second.jwt_secret.expose());
    assert_eq!(
        first.session_secret.expose(),
        second.session_secret.expose()
    );
    assert_ne!(first.jwt_secret.expose(), first.session_secret.expose());
    assert!(first.jwt_secret.expose().len() >= 32);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("jwt_secret"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        !format!("{first:?}").contains(first.jwt_secret.expose()),
        "Debug never prints a secret"
    );
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode(&data) & 0o777, 0o700, "DATA_DIR is its owner's only");
    // The SQLite database holds password hashes: owner-only too.
    dingtalk_login::db::run_migrations(&first.database_url).unwrap();
    let database = data.join("dingtalk-login.sqlite3");
    assert_eq!(mode(&database) & 0o777, 0o600);
}

/// The directory mirrors exactly one organisation, and its interval has a unit.
#[test]
fn the_directory_needs_one_organisation_and_an_interval_with_a_unit() {
    assert_config_error(&[("DINGTALK_DIRECTORY", "true")], "DINGTALK_DIRECTORY");
    assert_config_error(
        &[
            ("DINGTALK_DIRECTORY", "true"),
            ("DINGTALK_CORP_IDS", "dingcorpa,dingcorpb"),
        ],
        "DINGTALK_DIRECTORY",
    );
    for interval in ["6", "6 hours", "10s", "30d"] {
        assert_config_error(
            &[("DINGTALK_DIRECTORY_SYNC_INTERVAL", interval)],
            "DINGTALK_DIRECTORY_SYNC_INTERVAL",
        );
    }
}
