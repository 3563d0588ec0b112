//! Tokens and bodies an attacker shapes: malformed, oversized, foreign, guessed, out of
//! place, without expiry, past the login's end; and ended sessions purged.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dingtalk_login::tokens::Claims;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::backend_tests;
use crate::helpers::{Backend, error_code, spawn_app, spawn_app_with};
use crate::tokens::{ZHANGSAN, claims_of, sign};

backend_tests!(
    malformed_json_is_a_clear_400,
    oversized_tokens_and_cookies_are_refused_unread,
    tokens_of_another_issuer_audience_or_with_crit_are_refused,
    ended_login_sessions_are_purged,
    guessed_and_stolen_hash_refresh_tokens_are_refused,
    tokens_outside_the_header_or_malformed_are_refused,
    a_token_without_exp_is_invalid,
    refreshing_after_the_logins_end_is_refused,
);

async fn malformed_json_is_a_clear_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/api/login"))
        .header("Content-Type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 400).await, 40001);
    let huge = format!(
        r#"{{"username":"a","password":"{}"}}"#,
        "x".repeat(64 * 1024)
    );
    let response = app
        .client
        .post(app.url("/api/login"))
        .header("Content-Type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 400).await, 40001);
}

/// T-50: a bearer token or a session cookie far bigger than ours is refused before it is
/// decoded; the cookie is cleared so the browser recovers.
async fn oversized_tokens_and_cookies_are_refused_unread(backend: Backend) {
    let app = spawn_app(backend).await;
    let huge = "a".repeat(12 * 1024);
    assert_eq!(error_code(app.me(&huge).await, 401).await, 40102);
    assert_eq!(error_code(app.refresh(&huge).await, 401).await, 40102);
    let cookie = format!("dl_session={}", "b".repeat(9 * 1024));
    let page = reqwest::Client::new()
        .get(app.url("/login"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 431);
    let cleared = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cleared.starts_with("dl_session=;"), "{cleared}");
    let api = reqwest::Client::new()
        .get(app.url("/api/me"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(api, 431).await, 43101);
}

/// T-46: a token signed with our key but issued for another service (a staging instance or
/// a sibling sharing the secret), or one whose header names a critical extension.
async fn tokens_of_another_issuer_audience_or_with_crit_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.dingtalk_tokens(ZHANGSAN).await;
    let token = &tokens["token"];
    let claims = claims_of(&app, token);
    assert_eq!(claims.iss, app.settings.base_url());
    assert_eq!(claims.aud, format!("{}/api", app.settings.base_url()));
    let secret = app.settings.jwt_secret.expose();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid;
    let resigned = |claims: &Claims| sign(secret, claims, kid.clone());
    assert_eq!(
        app.me(&resigned(&claims)).await.status(),
        200,
        "the control"
    );
    for forged in [
        Claims {
            iss: "https://staging.example".into(),
            ..claims.clone()
        },
        Claims {
            aud: "https://other.example/api".into(),
            ..claims.clone()
        },
    ] {
        assert_eq!(
            error_code(app.me(&resigned(&forged)).await, 401).await,
            40102
        );
    }
    let header = serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid, "crit": ["exp"]});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(serde_json::to_string(&claims).unwrap())
    );
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &EncodingKey::from_secret(secret.as_bytes()),
        Algorithm::HS256,
    )
    .unwrap();
    let critical = format!("{signing_input}.{signature}");
    assert_eq!(error_code(app.me(&critical).await, 401).await, 40102);
}

/// Issue #9: login sessions that ended more than a day ago go, with their refresh tokens —
/// at every instance's start and every ten minutes after —, live ones stay.
async fn ended_login_sessions_are_purged(backend: Backend) {
    use diesel::prelude::*;
    use dingtalk_login::db::schema::login_sessions;
    let app = spawn_app(backend).await;
    let ended = app.dingtalk_tokens(ZHANGSAN).await;
    let live = app.dingtalk_tokens(ZHANGSAN).await;
    assert_eq!(app.refresh(&ended["refreshToken"]).await.status(), 200);
    let before = app.counts();
    assert_eq!((before.sessions, before.refresh_tokens), (2, 3));
    let end = |token: &str| {
        let sid = claims_of(&app, token).sid;
        let long_ago = chrono::Utc::now().naive_utc() - chrono::TimeDelta::days(2);
        diesel::update(login_sessions::table.find(sid))
            .set(login_sessions::expires_at.eq(long_ago))
            .execute(&mut app.conn())
            .unwrap();
    };
    end(&ended["token"]);
    let removed = dingtalk_login::login::purge_ended_sessions(&app.pool)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    let after = app.counts();
    assert_eq!((after.sessions, after.refresh_tokens), (1, 1));
    assert_eq!(app.me(&live["token"]).await.status(), 200);

    // A starting instance purges by itself.
    end(&live["token"]);
    let _second = spawn_app_with(
        backend,
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            ("PUBLIC_BASE_URL", app.settings.base_url()),
        ],
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.counts().sessions > 0 {
        assert!(std::time::Instant::now() < deadline, "purged at start-up");
        tokio::task::yield_now().await;
    }
    assert_eq!(app.counts().refresh_tokens, 0);
}

/// T-54: a refresh token's stored digest (a database dump), a truncated token, or guesses
/// are refused; guessing runs into the per-address limit.
async fn guessed_and_stolen_hash_refresh_tokens_are_refused(backend: Backend) {
    use diesel::prelude::*;
    use dingtalk_login::db::schema::refresh_tokens;
    let app = spawn_app_with(backend, &[("RATE_LIMIT_PER_MINUTE", "20")]).await;
    let tokens = app.dingtalk_tokens(ZHANGSAN).await;
    let digest: String = refresh_tokens::table
        .select(refresh_tokens::token_hash)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(error_code(app.refresh(&digest).await, 401).await, 40102);
    let truncated = &tokens["refreshToken"][..tokens["refreshToken"].len() - 3];
    assert_eq!(error_code(app.refresh(truncated).await, 401).await, 40102);
    let mut limited = false;
    for guess in 0..40 {
        let response = app.refresh(&format!("guess-{guess}")).await;
        match response.status().as_u16() {
            401 => assert!(!limited, "no 401 after the limit"),
            429 => limited = true,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(limited, "guessing is rate-limited");
    assert_eq!(
        app.counts().sessions,
        1,
        "nothing revoked or added by guesses"
    );
}

/// T-50: a token in the query or a cookie is not a bearer token; malformed headers are 401s.
async fn tokens_outside_the_header_or_malformed_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.dingtalk_tokens(ZHANGSAN).await;
    let token = &tokens["token"];
    let in_query = app.get(&format!("/api/me?access_token={token}")).await;
    assert_eq!(error_code(in_query, 401).await, 40101);
    let in_cookie = app
        .client
        .get(app.url("/api/me"))
        .header("Cookie", format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(in_cookie, 401).await, 40101);
    for header in [
        format!("Bearer {token} {token}"),
        "Bearer !!!not-base64!!!".to_owned(),
        "Bearer a.b.c".to_owned(),
    ] {
        let response = app
            .client
            .get(app.url("/api/me"))
            .header("Authorization", header.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
        assert_eq!(error_code(response, 401).await, 40102, "{header}");
    }
}

/// T-43: `exp` is required; a token without one is invalid, not eternal.
async fn a_token_without_exp_is_invalid(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.dingtalk_tokens(ZHANGSAN).await;
    let claims = claims_of(&app, &tokens["token"]);
    let mut without_exp = serde_json::to_value(&claims).unwrap();
    without_exp.as_object_mut().unwrap().remove("exp");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = jsonwebtoken::decode_header(&tokens["token"]).unwrap().kid;
    let eternal = jsonwebtoken::encode(
        &header,
        &without_exp,
        &EncodingKey::from_secret(app.settings.jwt_secret.expose().as_bytes()),
    )
    .unwrap();
    assert_eq!(error_code(app.me(&eternal).await, 401).await, 40102);
}

/// T-53: however often it was rotated, a login's refresh tokens stop at its absolute end.
async fn refreshing_after_the_logins_end_is_refused(backend: Backend) {
    use diesel::prelude::*;
    use dingtalk_login::db::schema::login_sessions;
    let app = spawn_app(backend).await;
    let tokens = app.dingtalk_tokens(ZHANGSAN).await;
    let rotated: serde_json::Value = app
        .refresh(&tokens["refreshToken"])
        .await
        .json()
        .await
        .unwrap();
    let sid = claims_of(&app, &tokens["token"]).sid;
    let ended = chrono::Utc::now().naive_utc() - chrono::TimeDelta::seconds(1);
    diesel::update(login_sessions::table.find(sid))
        .set(login_sessions::expires_at.eq(ended))
        .execute(&mut app.conn())
        .unwrap();
    let refresh = rotated["refreshToken"].as_str().unwrap();
    assert_eq!(error_code(app.refresh(refresh).await, 401).await, 40104);
    let access = rotated["token"].as_str().unwrap();
    assert_eq!(error_code(app.me(access).await, 401).await, 40104);
}
