//! Bad configuration ends the real binary with one clear line and exit code 2.

use std::process::{Command, Output};

use dingtalk_login::config::Settings;

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
