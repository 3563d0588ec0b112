//! What the logs hold, read from the real binary: no secret, one JSON object per line, and
//! the request id on every line a request caused.

use std::process::Stdio;

use crate::cli::{Env, printed, start_server_logging_to};
use crate::config::binary;
use crate::helpers::Backend;

/// Threat T-55: the logs hold no authorization code, state, token or session cookie,
/// even at debug level, through a whole DingTalk login, a refresh and a logout.
#[actix_web::test]
async fn logs_hold_no_codes_states_or_tokens() {
    let env = Env::new(Backend::Sqlite);
    let log_path = env.dir_path.join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (server, base) = start_server_logging_to(&env, Stdio::from(log), &[]).await;

    let browser = crate::helpers::browser();
    let start = browser
        .get(format!("{base}/user/dingtalk/authorize"))
        .send()
        .await
        .unwrap();
    let authorize = crate::helpers::location(&start);
    let state = crate::helpers::query_param(&authorize, "state").unwrap();
    let cookie = start.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let form = [
        ("redirect_uri", format!("{base}/user/dingtalkCallback/")),
        ("state", state.clone()),
        ("decision", "agree".into()),
        ("identity", "zhangsan".into()),
    ];
    let consent = crate::helpers::browser()
        .post(format!("{base}/sandbox/dingtalk/oauth2/auth"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let callback = crate::helpers::location(&consent);
    let code = crate::helpers::query_param(&callback, "authCode").unwrap();
    let done = browser.get(&callback).send().await.unwrap();
    let values = crate::helpers::handoff(&crate::helpers::location(&done));
    let client = reqwest::Client::new();
    let refreshed: serde_json::Value = client
        .post(format!("{base}/api/token/refresh"))
        .json(&serde_json::json!({ "refreshToken": values["refreshToken"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = refreshed["token"].as_str().unwrap();
    assert_eq!(
        client
            .post(format!("{base}/api/logout"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    drop(server);

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("/user/dingtalkCallback/"),
        "the callback was logged (without its query)"
    );
    assert!(
        !logs.contains('\u{1b}'),
        "no colour codes in a log that is not a terminal"
    );
    let secrets = [
        &code,
        &state,
        &cookie,
        &values["token"],
        &values["refreshToken"],
        &refreshed["refreshToken"].as_str().unwrap().to_owned(),
        &access.to_owned(),
    ];
    for secret in secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs: {secret}"
        );
    }
    let jwt_secret = std::fs::read_to_string(env.dir_path.join("data/jwt_secret")).unwrap();
    assert!(!logs.contains(jwt_secret.trim()));
}

/// `LOG_FORMAT=json` prints one JSON object per line; the lines of a request
/// carry its id (the one in the response's `X-Request-Id`), and a security event its
/// stable `event` field.
#[actix_web::test]
async fn json_logs_carry_the_request_id_and_security_events() {
    let env = Env::new(Backend::Sqlite);
    let log_path = env.dir_path.join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (server, base) =
        start_server_logging_to(&env, Stdio::from(log), &[("LOG_FORMAT", "json")]).await;
    let refused = reqwest::Client::new()
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({"username": "nobody", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let request_id = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    drop(server);

    let logs = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["timestamp"].is_string() && l["level"].is_string())
    );
    let of_request: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["span"]["request_id"] == request_id.as_str())
        .collect();
    assert!(
        of_request
            .iter()
            .any(|l| l["message"] == "request" && l["path"] == "/api/login" && l["status"] == 401),
        "{logs}"
    );
    assert!(
        of_request
            .iter()
            .any(|l| l["event"] == "login_failed" && l["method"] == "password"),
        "{logs}"
    );
}

#[test]
fn an_unknown_log_format_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .current_dir(dir.path())
        .env("LOG_FORMAT", "xml")
        .arg("migrate")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("configuration error: LOG_FORMAT:"),
        "{stderr}"
    );
}

/// Every event logged while serving a request carries its id, also those logged by the
/// database threads: a reused refresh token and a replayed authorization code, each
/// traced back to the request (its `X-Request-Id`) that set it off.
#[actix_web::test]
async fn events_on_database_threads_carry_their_request_id() {
    let env = Env::new(Backend::Sqlite);
    let (code, text) = env.create_user(&["--username", "zhouyu"], "a long passphrase here");
    assert_eq!(code, 0, "{text}");
    let output = env
        .command()
        .args(["client", "create", "--name", "Grafana", "--redirect-uri"])
        .arg(crate::openid::CALLBACK)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (client_id, secret) = (
        printed(&text, "client_id:"),
        printed(&text, "client_secret:"),
    );
    let log_path = env.dir_path.join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (server, base) =
        start_server_logging_to(&env, Stdio::from(log), &[("LOG_FORMAT", "json")]).await;
    let http = reqwest::Client::new();
    let request_id = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };

    // The SPA's refresh token, rotated twice, then presented again: theft.
    let login: serde_json::Value = http
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({"username": "zhouyu", "password": "a long passphrase here"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = |token: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            http.post(format!("{base}/api/token/refresh"))
                .json(&serde_json::json!({ "refreshToken": token }))
                .send()
                .await
                .unwrap()
        }
    };
    let first = login["refreshToken"].as_str().unwrap().to_owned();
    let second: serde_json::Value = refresh(first.clone()).await.json().await.unwrap();
    let third = refresh(second["refreshToken"].as_str().unwrap().to_owned()).await;
    assert_eq!(third.status(), 200);
    let reuse = refresh(first).await;
    assert_eq!(reuse.status(), 401);
    let reuse_id = request_id(&reuse);

    // An authorization code exchanged twice.
    let browser = crate::helpers::browser();
    let csrf = crate::helpers::csrf_at(&browser, &format!("{base}/login")).await;
    let signed_in = browser
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "zhouyu"),
            ("password", "a long passphrase here"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let consent = browser
        .get(format!("{base}/oauth2/authorize"))
        .query(&[
            ("client_id", client_id.as_str()),
            ("redirect_uri", crate::openid::CALLBACK),
            ("response_type", "code"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut fields = crate::openid::hidden_fields(&consent);
    fields.push(("decision".into(), "allow".into()));
    let answer = browser
        .post(format!("{base}/oauth2/authorize/consent"))
        .form(&fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let target = crate::openid::continue_target(&answer);
    let code = crate::helpers::query_param(&target, "code").unwrap();
    let exchange = || {
        http.post(format!("{base}/oauth2/token"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", crate::openid::CALLBACK),
            ])
            .send()
    };
    assert_eq!(exchange().await.unwrap().status(), 200);
    let replay = exchange().await.unwrap();
    assert_eq!(replay.status(), 400);
    let replay_id = request_id(&replay);
    drop(server);

    let logs = std::fs::read_to_string(&log_path).unwrap();
    for (event, id) in [
        ("refresh_token_reuse", reuse_id),
        ("oidc_code_replayed", replay_id),
    ] {
        let line = logs
            .lines()
            .find(|line| line.contains(event))
            .unwrap_or_else(|| panic!("no {event} in the logs"));
        assert!(
            line.contains(&id),
            "{event} without its request id {id}: {line}"
        );
    }
}
