//! The command line on both backends: users, migrations, and the server itself.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::config::binary;
use crate::helpers::{Backend, KillOnDrop, TestDatabase};

pub(crate) struct Env {
    database: TestDatabase,
    _dir: tempfile::TempDir,
    pub(crate) dir_path: std::path::PathBuf,
}

impl Env {
    pub(crate) fn new(backend: Backend) -> Env {
        let dir = tempfile::tempdir().unwrap();
        Env {
            database: TestDatabase::new(backend, dir.path()),
            dir_path: dir.path().to_owned(),
            _dir: dir,
        }
    }

    pub(crate) fn command(&self) -> Command {
        let mut command = binary();
        command
            .current_dir(&self.dir_path)
            .env("DATABASE_URL", &self.database.url)
            .env("DATA_DIR", self.dir_path.join("data"));
        command
    }

    pub(crate) fn create_user(&self, args: &[&str], password: &str) -> (i32, String) {
        let mut child = self
            .command()
            .args(["user", "create", "--password-stdin"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let output = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap_or(-1), text)
    }

    /// `user create ARGS` with nothing on standard input.
    fn create(&self, args: &[&str]) -> (i32, String) {
        let output = self
            .command()
            .args(["user", "create"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap_or(-1), text)
    }

    fn list(&self) -> String {
        let output = self.command().args(["user", "list"]).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

crate::backend_tests!(
    users_are_created_listed_and_kept_unique,
    provider_only_users_need_a_phone_and_are_never_admins,
    migrate_is_idempotent,
    the_binary_serves_and_keeps_data_across_restarts,
    openid_clients_are_registered_listed_and_deleted
);

async fn users_are_created_listed_and_kept_unique(backend: Backend) {
    let env = Env::new(backend);
    let (code, text) = env.create_user(
        &[
            "--username",
            "alice",
            "--name",
            "Alice",
            "--phone",
            "13800138000",
            "--admin",
        ],
        "s3cret-passphrase",
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("created user alice"), "{text}");

    let (code, text) = env.create_user(&["--username", "alice"], "another-passphrase");
    assert_eq!(code, 1);
    assert!(text.contains("username `alice` is already taken"), "{text}");
    assert!(!text.contains("panicked"));

    let (code, text) = env.create_user(
        &["--username", "bob", "--phone", "+86 138 0013 8000"],
        "another-passphrase",
    );
    assert_eq!(code, 1);
    assert!(
        text.contains("+8613800138000 already belongs to another user"),
        "{text}"
    );

    let (code, text) = env.create_user(&["--username", "carol"], "short");
    assert_eq!(code, 1);
    assert!(text.contains("at least 8 characters"), "{text}");

    let list = env.list();
    assert!(
        list.contains("alice") && list.contains("+8613800138000") && list.contains("admin"),
        "{list}"
    );
    assert!(!list.contains("bob") && !list.contains("carol"));
    assert!(!list.contains("argon2"), "hashes are never printed");
}

async fn provider_only_users_need_a_phone_and_are_never_admins(backend: Backend) {
    let env = Env::new(backend);
    let (code, text) = env.create(&[
        "--username",
        "dora",
        "--phone",
        "13900139000",
        "--no-password",
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("created user dora"), "{text}");
    let (code, text) = env.create(&["--username", "erin", "--no-password"]);
    assert_eq!(
        code, 2,
        "a provider-only user is found by its phone: {text}"
    );
    assert!(text.contains("--phone"), "{text}");
    let (code, text) = env.create(&[
        "--username",
        "frank",
        "--phone",
        "13700137000",
        "--admin",
        "--no-password",
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("an admin needs a password"), "{text}");
    let list = env.list();
    assert!(list.contains("dora") && !list.contains("frank"), "{list}");
}

async fn migrate_is_idempotent(backend: Backend) {
    let env = Env::new(backend);
    let first = env.command().arg("migrate").output().unwrap();
    assert!(first.status.success());
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied"));
    let second = env.command().arg("migrate").output().unwrap();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("up to date"));
}

/// The value a command printed after `name` on a line of its own.
pub(crate) fn printed(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Starts `dingtalk-login serve` and waits until /healthz answers (polling a readiness
/// condition, not sleeping a fixed time).
async fn start_server(env: &Env) -> (KillOnDrop, String) {
    start_server_logging_to(env, Stdio::null(), &[]).await
}

pub(crate) async fn start_server_logging_to(
    env: &Env,
    stderr: Stdio,
    extra: &[(&str, &str)],
) -> (KillOnDrop, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let child = env
        .command()
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("PUBLIC_BASE_URL", &base)
        .env("RUST_LOG", "debug")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let server = KillOnDrop(child);
    let client = reqwest::Client::new();
    for _ in 0..500 {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await
            && response.status() == 200
        {
            return (server, base);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the server did not answer /healthz");
}

async fn the_binary_serves_and_keeps_data_across_restarts(backend: Backend) {
    let env = Env::new(backend);
    let (server, base) = start_server(&env).await;
    assert_eq!(
        reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );
    let (code, text) = env.create_user(&["--username", "dora"], "dora-passphrase");
    assert_eq!(code, 0, "{text}");
    let jwks = reqwest::get(format!("{base}/oauth2/jwks"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    drop(server);
    let (_server, base) = start_server(&env).await;
    let after = reqwest::get(format!("{base}/oauth2/jwks"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        after, jwks,
        "the generated OpenID keys are kept in DATA_DIR"
    );
    assert_eq!(
        reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(env.list().contains("dora"), "the user survived the restart");
}

async fn openid_clients_are_registered_listed_and_deleted(backend: Backend) {
    let env = Env::new(backend);
    let run = |args: &[&str]| {
        let output = env.command().args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap_or(-1), text)
    };
    let (code, text) = run(&[
        "client",
        "create",
        "--name",
        "Grafana",
        "--redirect-uri",
        "https://grafana.example.com/login/generic_oauth",
    ]);
    assert_eq!(code, 0, "{text}");
    let (client_id, secret) = (
        printed(&text, "client_id:"),
        printed(&text, "client_secret:"),
    );
    assert!(client_id.starts_with("grafana-"), "{client_id}");
    assert!(secret.len() >= 43, "256 random bits");

    let (code, text) = run(&[
        "client",
        "create",
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        "http://localhost:5173/callback",
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("PKCE"), "{text}");
    assert!(
        !text.contains("client_secret"),
        "a public client has no secret"
    );

    let (code, text) = run(&[
        "client",
        "create",
        "--name",
        "Plain",
        "--redirect-uri",
        "http://grafana.example.com/cb",
    ]);
    assert_ne!(code, 0);
    assert!(text.contains("https"), "{text}");

    let (_, list) = run(&["client", "list"]);
    assert!(list.contains(&client_id) && list.contains("confidential") && list.contains("public"));
    assert!(!list.contains(&secret), "the secret is never shown again");
    assert!(
        !list.contains("Plain"),
        "a refused client is not half-registered"
    );

    assert_eq!(run(&["client", "delete", &client_id]).0, 0);
    assert!(!run(&["client", "list"]).1.contains(&client_id));
    let (code, text) = run(&["client", "delete", &client_id]);
    assert_ne!(code, 0);
    assert!(text.contains("no client"), "{text}");
}
