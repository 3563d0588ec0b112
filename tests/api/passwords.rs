//! Password login through the API and the login form; rate limiting; CSRF; logout.

use crate::backend_tests;
use crate::helpers::{Backend, PASSWORD, csrf_token, error_code, handoff, location, spawn_app};

backend_tests!(
    huge_passwords_and_forms_are_refused_before_hashing,
    handoff_values_are_encoded_whatever_the_username,
    a_session_cookie_from_before_login_does_not_sign_in,
    a_flood_of_password_logins_is_shed_at_once,
    api_login_returns_the_four_values,
    wrong_password_unknown_user_and_no_password_look_the_same,
    failed_logins_are_rate_limited_per_account,
    the_login_form_logs_in_and_hands_over,
    the_login_form_needs_its_csrf_token,
    form_logout_ends_the_login_session,
    an_inactive_user_cannot_log_in,
    odd_usernames_and_long_unicode_passwords,
    a_copied_session_cookie_is_refused_after_logout,
);

async fn api_login_returns_the_four_values(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("alice", None, false);
    let response = app.api_login("alice", PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["userid"], user.id.0);
    assert_eq!(body["username"], "alice");
    assert_eq!(app.me(body["token"].as_str().unwrap()).await.status(), 200);
    assert_eq!(
        app.refresh(body["refreshToken"].as_str().unwrap())
            .await
            .status(),
        200
    );
}

async fn wrong_password_unknown_user_and_no_password_look_the_same(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", None, false);
    // A DingTalk-only user, and the tutorial's flaw: password = phone.
    let dingtalk = app.dingtalk_tokens(&[("identity", "zhangsan")]).await;
    let mut answers = Vec::new();
    for (username, password) in [
        ("alice", "wrong password"),
        ("nobody", PASSWORD),
        (dingtalk["username"].as_str(), "13800138000"),
    ] {
        let response = app.api_login(username, password).await;
        answers.push((response.status().as_u16(), response.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, 401);
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");

    // About the same time, too: every answer costs one argon2 check (a dummy one when
    // there is no hash), so timing does not tell which accounts exist (T-29). Fastest of
    // three each; without the dummy check the other two answer some thirty times sooner.
    let mut fastest = Vec::new();
    for (username, password) in [
        ("alice", "wrong password"),
        ("nobody", PASSWORD),
        (dingtalk["username"].as_str(), "13800138000"),
    ] {
        let mut best = std::time::Duration::MAX;
        for _ in 0..3 {
            let started = std::time::Instant::now();
            assert_eq!(app.api_login(username, password).await.status(), 401);
            best = best.min(started.elapsed());
        }
        fastest.push(best);
    }
    for other in &fastest[1..] {
        assert!(
            *other * 3 > fastest[0],
            "as slow as a wrong password: {fastest:?}"
        );
    }
}

async fn failed_logins_are_rate_limited_per_account(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", None, false);
    for _ in 0..4 {
        assert_eq!(app.api_login("alice", "guess").await.status(), 401);
    }
    let fifth = app.api_login("alice", "guess").await;
    assert_eq!(fifth.status(), 401);
    let locked = app.api_login("alice", PASSWORD).await;
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=900).contains(&retry_after),
        "a lock is bounded: {retry_after}"
    );
    assert_eq!(error_code(locked, 429).await, 42901);
    // Other accounts are not affected.
    app.create_user("bob", None, false);
    assert_eq!(app.api_login("bob", PASSWORD).await.status(), 200);
}

async fn the_login_form_logs_in_and_hands_over(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("alice", None, false);
    let response = app.form_login(&app.client, "alice").await;
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let csrf = csrf_token(&app, &app.client).await;
    let values = handoff(&location(&response));
    assert_eq!(values["userid"], user.id.to_string());
    assert_eq!(app.me(&values["token"]).await.status(), 200);

    let wrong = [
        ("csrf", csrf.as_str()),
        ("username", "alice"),
        ("password", "nope"),
    ];
    let response = app
        .client
        .post(app.url("/login"))
        .form(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("用户名或密码错误"));

    let with_next = [
        ("csrf", csrf.as_str()),
        ("username", "alice"),
        ("password", PASSWORD),
        ("next", "/account"),
    ];
    let response = app
        .client
        .post(app.url("/login"))
        .form(&with_next)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/account");
}

async fn the_login_form_needs_its_csrf_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", None, false);
    // The attacker's page posts the form with no token, or with their own session's token.
    let attacker = crate::helpers::browser();
    let attackers_token = csrf_token(&app, &attacker).await;
    csrf_token(&app, &app.client).await;
    for token in ["", attackers_token.as_str()] {
        let form = [
            ("csrf", token),
            ("username", "alice"),
            ("password", PASSWORD),
        ];
        let response = app
            .client
            .post(app.url("/login"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
    }
    // The right token, posted from another site's page (its browser says so): refused too.
    let token = csrf_token(&app, &app.client).await;
    let form = [
        ("csrf", token.as_str()),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let post_from = |origin: &'static str| {
        let request = app.client.post(app.url("/login")).form(&form);
        request.header("Origin", origin).send()
    };
    assert_eq!(
        post_from("https://evil.example").await.unwrap().status(),
        403
    );
    assert_eq!(app.counts().sessions, 0);
    // Our own pages send no Referer, so browsers say `Origin: null`: the token decides.
    assert_eq!(post_from("null").await.unwrap().status(), 303);
    // And a GET on a form's address changes nothing: 405.
    assert_eq!(app.get("/logout").await.status(), 405);
}

async fn form_logout_ends_the_login_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", None, false);
    let values = handoff(&location(&app.form_login(&app.client, "alice").await));
    let csrf = csrf_token(&app, &app.client).await;
    let response = app
        .client
        .post(app.url("/logout"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(app.me(&values["token"]).await.status(), 200);
    let response = app
        .client
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/login");
    assert_eq!(error_code(app.me(&values["token"]).await, 401).await, 40104);
}

async fn an_inactive_user_cannot_log_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("alice", None, false);
    dingtalk_login::db::users::set_active(&mut app.conn(), user.id, false).unwrap();
    assert_eq!(
        error_code(app.api_login("alice", PASSWORD).await, 403).await,
        40302
    );
}

#[actix_web::test]
async fn two_instances_share_logins_and_logouts_through_postgresql() {
    if crate::helpers::skip_postgres() {
        return;
    }
    let jwt = crate::helpers::random_secret();
    let session = crate::helpers::random_secret();
    let first = crate::helpers::spawn_app_with(
        Backend::Postgres,
        &[
            ("JWT_SECRET", jwt.as_str()),
            ("SESSION_SECRET", session.as_str()),
        ],
    )
    .await;
    let second = crate::helpers::spawn_app_with(
        Backend::Postgres,
        &[
            ("JWT_SECRET", jwt.as_str()),
            ("SESSION_SECRET", session.as_str()),
            ("DATABASE_URL", first.database_url.as_str()),
            // behind the same load balancer: the same public address
            ("PUBLIC_BASE_URL", first.settings.base_url()),
        ],
    )
    .await;
    first.create_user("alice", None, false);
    let login: serde_json::Value = first
        .api_login("alice", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let refreshed: serde_json::Value = second
        .refresh(login["refreshToken"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let token = refreshed["token"].as_str().unwrap();
    assert_eq!(second.me(token).await.status(), 200);
    let logout = first
        .client
        .post(first.url("/api/logout"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    assert_eq!(error_code(second.me(token).await, 401).await, 40104);
    assert_eq!(
        error_code(
            second
                .refresh(refreshed["refreshToken"].as_str().unwrap())
                .await,
            401
        )
        .await,
        40104
    );
}

/// Rows 30 and 31: SQL-looking usernames are just wrong usernames; long and non-ASCII
/// passwords work unchanged, an oversized one is refused before hashing.
async fn odd_usernames_and_long_unicode_passwords(backend: Backend) {
    let app = spawn_app(backend).await;
    for username in ["' OR '1'='1' --", "admin'/*", "a\u{0}b"] {
        assert_eq!(
            error_code(app.api_login(username, PASSWORD).await, 401).await,
            40100
        );
    }
    let password = "密码🔐 Correct-Horse-Battery-Staple 0123456789 abcdefghijklmnopqrstuvw";
    assert!(password.chars().count() >= 64);
    let mut conn = app.conn();
    dingtalk_login::accounts::create_local_user(
        &mut conn,
        dingtalk_login::accounts::NewLocalUser {
            username: "unicode".into(),
            name: None,
            phone: None,
            password: Some(password.into()),
            admin: false,
        },
    )
    .unwrap();
    assert_eq!(app.api_login("unicode", password).await.status(), 200);
    assert_eq!(
        app.api_login("unicode", &password.to_uppercase())
            .await
            .status(),
        401,
        "no case folding"
    );
    let huge = "x".repeat(2048);
    assert_eq!(
        error_code(app.api_login("unicode", &huge).await, 401).await,
        40100
    );
}

/// Threat T-34: a session cookie copied before logout does not sign anybody in afterwards.
async fn a_copied_session_cookie_is_refused_after_logout(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", None, false);
    let login = app.form_login(&app.client, "alice").await;
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let replay = || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(app.url("/account"))
            .header("Cookie", cookie.clone())
            .send()
    };
    assert_eq!(
        replay().await.unwrap().status(),
        200,
        "the copy works while the login lasts"
    );
    app.submit(&app.client, "/account", "/logout", &[]).await;
    let after = replay().await.unwrap();
    assert_eq!(after.status(), 303);
    assert!(location(&after).starts_with("/login?next="));
}

/// Issue #9: beyond `PASSWORD_CHECK_QUEUE` waiting argon2 checks, a login is refused at
/// once with 503 `50302` and `Retry-After`, instead of queueing for seconds.
async fn a_flood_of_password_logins_is_shed_at_once(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, &[("PASSWORD_CHECK_QUEUE", "1")]).await;
    app.create_user("alice", None, false);
    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (client, url) = (app.client.clone(), app.url("/api/login"));
        logins.spawn(async move {
            let body = serde_json::json!({"username": "alice", "password": PASSWORD});
            client.post(url).json(&body).send().await.unwrap()
        });
    }
    let (mut signed_in, mut shed) = (0, 0);
    while let Some(response) = logins.join_next().await {
        let response = response.unwrap();
        match response.status().as_u16() {
            200 => signed_in += 1,
            503 => {
                assert_eq!(response.headers()["retry-after"], "1");
                assert_eq!(error_code(response, 503).await, 50302);
                shed += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(signed_in >= 1, "the queue still serves");
    assert!(shed >= 1, "a flood is shed ({signed_in} signed in)");
}

/// T-25: a username full of URL syntax reaches the SPA as one value, beside the real tokens.
async fn handoff_values_are_encoded_whatever_the_username(backend: Backend) {
    let app = spawn_app(backend).await;
    let tricky = "x&token=evil&refreshToken=evil#/admin?y=1";
    app.create_user(tricky, None, false);
    let values = handoff(&location(&app.form_login(&app.client, tricky).await));
    assert_eq!(values["username"], tricky);
    assert_ne!(values["token"], "evil");
    assert_eq!(app.me(&values["token"]).await.status(), 200);
    assert_eq!(values.len(), 4, "{values:?}");
}

/// T-32: a session cookie obtained before login (one an attacker could plant) is not
/// signed in afterwards; the login hands out another.
async fn a_session_cookie_from_before_login_does_not_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", None, false);
    let first_visit = app.get("/login").await;
    let planted = first_visit.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let login = app.form_login(&app.client, "alice").await;
    let issued = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(!issued.starts_with(&planted), "a new session at login");
    assert_eq!(app.get("/account").await.status(), 200, "the victim is in");
    let attacker = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let replay = attacker
        .get(app.url("/account"))
        .header("Cookie", &planted)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303, "the planted cookie is not signed in");
}

/// T-31: a 1 MB password or a 10 MB form is refused as a body (16 KiB at most), before any
/// argon2 work or throttle bookkeeping.
async fn huge_passwords_and_forms_are_refused_before_hashing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", None, false);
    let huge = "p".repeat(1024 * 1024);
    assert_eq!(
        error_code(app.api_login("alice", &huge).await, 400).await,
        40001
    );
    let token = csrf_token(&app, &app.client).await;
    let flood = "f".repeat(10 * 1024 * 1024);
    let form = [
        ("csrf", token.as_str()),
        ("username", "alice"),
        ("password", flood.as_str()),
    ];
    let response = app
        .client
        .post(app.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("表单不完整或过大"));
    // Nothing was counted against alice: her right password works at once.
    assert_eq!(app.api_login("alice", PASSWORD).await.status(), 200);
}
