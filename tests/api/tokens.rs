//! Threats T-39–T-54 (docs/threat-model.md): the guard's answers, refresh rotation, logout that really logs out.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dingtalk_login::db::users;
use dingtalk_login::domain::UserId;
use dingtalk_login::tokens::{Claims, JwtKeys};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, error_code, random_secret, spawn_app, spawn_app_with};

backend_tests!(
    me_answers_with_the_user_and_linked_accounts,
    a_missing_token_is_40101,
    forged_tokens_are_40102,
    an_expired_token_is_40103,
    claims_and_headers_an_attacker_controls_are_refused,
    a_refresh_token_is_not_an_access_token,
    logout_revokes_access_and_refresh_at_once,
    refresh_rotates_and_reuse_revokes_the_family,
    two_tabs_refreshing_at_once_rotate_once,
    deactivated_and_deleted_users_are_refused,
    admin_api_follows_the_current_role,
    a_user_can_end_all_their_sessions,
    the_previous_key_still_verifies_after_rotation,
);

pub(crate) const ZHANGSAN: &[(&str, &str)] = &[("identity", "zhangsan")];

pub(crate) fn claims_of(app: &TestApp, token: &str) -> Claims {
    JwtKeys::new(
        app.settings.jwt_secret.expose(),
        None,
        app.settings.base_url(),
    )
    .verify(token)
    .unwrap()
}

pub(crate) fn sign(secret: &str, claims: &Claims, kid: Option<String>) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid;
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn me_answers_with_the_user_and_linked_accounts(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.dingtalk_tokens(ZHANGSAN).await;
    let response = app.me(&tokens["token"]).await;
    assert_eq!(response.status(), 200);
    let me: serde_json::Value = response.json().await.unwrap();
    assert_eq!(me["id"].to_string(), tokens["userid"]);
    assert_eq!(me["username"], "13800138000");
    assert_eq!(me["name"], "张三");
    assert_eq!(me["phone"], "+8613800138000");
    assert_eq!(me["role"], "user");
    let link = &me["linkedAccounts"][0];
    assert_eq!(link["provider"], "dingtalk");
    assert!(link["uid"].as_str().unwrap().starts_with("sbx"));
    assert_eq!(link["nick"], "张三");
    assert!(link["linkedAt"].is_string() && link["lastLoginAt"].is_string());
    assert!(
        link.get("token").is_none(),
        "the DingTalk token is never shown"
    );
}

async fn a_missing_token_is_40101(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/api/me").await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(error_code(response, 401).await, 40101);
    let basic = app
        .client
        .get(app.url("/api/me"))
        .header("Authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(basic, 401).await, 40101);
}

async fn forged_tokens_are_40102(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.dingtalk_tokens(ZHANGSAN).await;
    let token = &tokens["token"];
    let claims = claims_of(&app, token);
    let header = token.split('.').next().unwrap();

    // payload changed to another user, signature kept
    let mut other = claims.clone();
    other.userid.0 += 1;
    let tampered = format!(
        "{header}.{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap()),
        token.split('.').nth(2).unwrap()
    );
    // signed with another key (same kid)
    let kid = jsonwebtoken::decode_header(token).unwrap().kid;
    let other_key = sign(&random_secret(), &claims, kid);
    // alg=none
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    // HS512 with the right secret: the algorithm is pinned
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(app.settings.jwt_secret.expose().as_bytes()),
    )
    .unwrap();
    for forged in [
        tampered,
        other_key,
        none,
        hs512,
        "not-a-jwt".into(),
        format!("{token}x"),
    ] {
        let response = app.me(&forged).await;
        assert_eq!(error_code(response, 401).await, 40102, "{forged}");
    }
    assert_eq!(
        app.me(token).await.status(),
        200,
        "the real token still works"
    );
}

/// Threats T-42, T-44, T-45 and T-50: a future `nbf`, claims of the wrong type, a `kid` that
/// is not ours, and a token anywhere but the Authorization header.
async fn claims_and_headers_an_attacker_controls_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.dingtalk_tokens(ZHANGSAN).await;
    let secret = app.settings.jwt_secret.expose().to_owned();
    let kid = jsonwebtoken::decode_header(&tokens["token"]).unwrap().kid;
    let mut claims = claims_of(&app, &tokens["token"]);
    claims.nbf = chrono::Utc::now().timestamp() + 3600;
    assert_eq!(
        error_code(app.me(&sign(&secret, &claims, kid.clone())).await, 401).await,
        40102
    );

    let mut raw: serde_json::Value =
        serde_json::to_value(claims_of(&app, &tokens["token"])).unwrap();
    raw["exp"] = serde_json::json!("99999999999");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid;
    let stringly =
        jsonwebtoken::encode(&header, &raw, &EncodingKey::from_secret(secret.as_bytes())).unwrap();
    assert_eq!(error_code(app.me(&stringly).await, 401).await, 40102);

    let foreign_kid = sign(
        &secret,
        &claims_of(&app, &tokens["token"]),
        Some("../../dev/null".into()),
    );
    assert_eq!(error_code(app.me(&foreign_kid).await, 401).await, 40102);

    let in_query = app
        .client
        .get(app.url(&format!("/api/me?access_token={}", tokens["token"])))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(in_query, 401).await, 40101);
    let empty = app
        .client
        .get(app.url("/api/me"))
        .header("Authorization", "Bearer ")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(empty, 401).await, 40101);
    assert_eq!(app.me(&tokens["token"]).await.status(), 200);
}

async fn an_expired_token_is_40103(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.dingtalk_tokens(ZHANGSAN).await;
    let mut claims = claims_of(&app, &tokens["token"]);
    let now = chrono::Utc::now().timestamp();
    claims.iat = now - 7300;
    claims.nbf = now - 7300;
    // beyond the 30 s clock-skew leeway
    claims.exp = now - 31;
    let kid = jsonwebtoken::decode_header(&tokens["token"]).unwrap().kid;
    let expired = sign(app.settings.jwt_secret.expose(), &claims, kid.clone());
    assert_eq!(error_code(app.me(&expired).await, 401).await, 40103);
    // within the leeway it still counts
    claims.exp = now - 5;
    assert_eq!(
        app.me(&sign(app.settings.jwt_secret.expose(), &claims, kid))
            .await
            .status(),
        200
    );
}

async fn a_refresh_token_is_not_an_access_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.dingtalk_tokens(ZHANGSAN).await;
    assert_eq!(
        error_code(app.me(&tokens["refreshToken"]).await, 401).await,
        40105
    );
    // and an access token is not a refresh token
    assert_eq!(
        error_code(app.refresh(&tokens["token"]).await, 401).await,
        40102
    );
}

async fn logout_revokes_access_and_refresh_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.dingtalk_tokens(ZHANGSAN).await;
    let other_login = app.dingtalk_tokens(ZHANGSAN).await;
    let response = app
        .client
        .post(app.url("/api/logout"))
        .bearer_auth(&tokens["token"])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(error_code(app.me(&tokens["token"]).await, 401).await, 40104);
    assert_eq!(
        error_code(app.refresh(&tokens["refreshToken"]).await, 401).await,
        40104
    );
    assert_eq!(
        app.me(&other_login["token"]).await.status(),
        200,
        "another login of the same user is untouched"
    );
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.dingtalk_tokens(ZHANGSAN).await;
    let response = app.refresh(&first["refreshToken"]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let second: serde_json::Value = response.json().await.unwrap();
    let (access2, refresh2) = (
        second["token"].as_str().unwrap(),
        second["refreshToken"].as_str().unwrap(),
    );
    assert_eq!(second["userid"].to_string(), first["userid"]);
    assert_ne!(refresh2, first["refreshToken"]);
    assert_eq!(app.me(access2).await.status(), 200);
    let (c1, c2) = (
        claims_of(&app, &first["refreshToken"]),
        claims_of(&app, refresh2),
    );
    assert_eq!(c1.sid, c2.sid);
    assert_eq!(
        c1.exp, c2.exp,
        "the family keeps the absolute expiry of its first login"
    );

    // The old refresh token shows up again (stolen): the whole family is revoked.
    let mut conn = app.conn();
    backdate_used_at(&mut conn, &c1.jti);
    assert_eq!(
        error_code(app.refresh(&first["refreshToken"]).await, 401).await,
        40104
    );
    assert_eq!(error_code(app.me(access2).await, 401).await, 40104);
    assert_eq!(error_code(app.refresh(refresh2).await, 401).await, 40104);
}

/// Moves a used refresh token out of the two-tabs grace window, as if presented a minute later.
fn backdate_used_at(conn: &mut dingtalk_login::db::DbConn, jti: &str) {
    use diesel::prelude::*;
    use dingtalk_login::db::schema::refresh_tokens;
    let earlier = chrono::Utc::now().naive_utc() - chrono::TimeDelta::seconds(60);
    diesel::update(refresh_tokens::table.find(jti))
        .set(refresh_tokens::used_at.eq(earlier))
        .execute(conn)
        .unwrap();
}

async fn two_tabs_refreshing_at_once_rotate_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.dingtalk_tokens(ZHANGSAN).await;
    let (a, b) = tokio::join!(
        app.refresh(&first["refreshToken"]),
        app.refresh(&first["refreshToken"])
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let a: serde_json::Value = a.json().await.unwrap();
    let b: serde_json::Value = b.json().await.unwrap();
    assert_eq!(
        a["refreshToken"], b["refreshToken"],
        "one rotation: both tabs hold the same successor"
    );
    assert_eq!(app.counts().refresh_tokens, 2);
    assert_eq!(app.me(a["token"].as_str().unwrap()).await.status(), 200);
    assert_eq!(app.me(b["token"].as_str().unwrap()).await.status(), 200);
}

async fn deactivated_and_deleted_users_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = app.dingtalk_tokens(ZHANGSAN).await;
    let userid: UserId = tokens["userid"].parse().unwrap();
    users::set_active(&mut app.conn(), userid, false).unwrap();
    assert_eq!(error_code(app.me(&tokens["token"]).await, 401).await, 40104);
    assert_eq!(
        error_code(app.refresh(&tokens["refreshToken"]).await, 401).await,
        40104
    );
    users::set_active(&mut app.conn(), userid, true).unwrap();
    assert_eq!(app.me(&tokens["token"]).await.status(), 200);
    users::delete_user(&mut app.conn(), userid).unwrap();
    assert_eq!(error_code(app.me(&tokens["token"]).await, 401).await, 40104);
}

async fn admin_api_follows_the_current_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.create_user("boss", None, true);
    let user = app.dingtalk_tokens(ZHANGSAN).await;
    let login: serde_json::Value = app
        .api_login("boss", crate::helpers::PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let admin_token = login["token"].as_str().unwrap().to_owned();
    let end = |token: String| {
        let url = app.url(&format!(
            "/api/admin/users/{}/sessions/revoke",
            user["userid"]
        ));
        let client = app.client.clone();
        async move { client.post(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(
        error_code(end(user["token"].clone()).await, 403).await,
        40301
    );
    // The admin is demoted: the very next request is refused, not at token expiry.
    users::set_role(&mut app.conn(), admin.id, "user").unwrap();
    assert_eq!(error_code(end(admin_token.clone()).await, 403).await, 40301);
    users::set_role(&mut app.conn(), admin.id, "admin").unwrap();
    assert_eq!(end(admin_token).await.status(), 200);
    assert_eq!(
        error_code(app.me(&user["token"]).await, 401).await,
        40104,
        "the admin ended the user's sessions"
    );
}

async fn a_user_can_end_all_their_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let one = app.dingtalk_tokens(ZHANGSAN).await;
    let two = app.dingtalk_tokens(ZHANGSAN).await;
    let response = app
        .client
        .post(app.url("/api/me/sessions/revoke"))
        .bearer_auth(&one["token"])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for token in [&one["token"], &two["token"]] {
        assert_eq!(error_code(app.me(token).await, 401).await, 40104);
    }
}

async fn the_previous_key_still_verifies_after_rotation(backend: Backend) {
    let old_secret = random_secret();
    let app = spawn_app_with(backend, &[("JWT_SECRET", old_secret.as_str())]).await;
    let tokens = app.dingtalk_tokens(ZHANGSAN).await;
    // A second instance on the same database after the rotation.
    let new_secret = random_secret();
    let rotated = spawn_app_with(
        backend,
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            // behind the same load balancer: the same public address
            ("PUBLIC_BASE_URL", app.settings.base_url()),
            ("JWT_SECRET", new_secret.as_str()),
            ("JWT_PREVIOUS_SECRET", old_secret.as_str()),
        ],
    )
    .await;
    assert_eq!(rotated.me(&tokens["token"]).await.status(), 200);
    let without_previous = spawn_app_with(
        backend,
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            // behind the same load balancer: the same public address
            ("PUBLIC_BASE_URL", app.settings.base_url()),
            ("JWT_SECRET", new_secret.as_str()),
        ],
    )
    .await;
    assert_eq!(
        error_code(without_previous.me(&tokens["token"]).await, 401).await,
        40102
    );
}
