//! The JSON API: password login, token refresh, the current user, logout.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::guard::CurrentUser;
use super::password_login::{LoginError, LoginServices, PasswordChecks, log_in_with_password};
use crate::accounts::{LoginThrottle, provider_name};
use crate::db::models::LinkedAccount;
use crate::db::{self, DbError, DbPool, sessions, users};
use crate::error::ApiError;
use crate::tokens::{TokenError, TokenPair, TokenService};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer<'a> {
    userid: i32,
    username: &'a str,
    token: &'a str,
    refresh_token: &'a str,
}

fn tokens_response(pair: &TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(TokenAnswer {
            userid: pair.userid,
            username: &pair.username,
            token: &pair.access_token,
            refresh_token: &pair.refresh_token,
        })
}

#[derive(Deserialize)]
pub struct LoginBody {
    username: String,
    password: String,
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            // One answer for an unknown user, a wrong password and a user without one.
            LoginError::BadCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                40100,
                "wrong username or password",
            ),
            LoginError::Throttled(_) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                42901,
                "too many failed attempts; try again later",
            ),
            LoginError::Inactive => {
                ApiError::new(StatusCode::FORBIDDEN, 40302, "this account is deactivated")
            }
            LoginError::Db(db) => db.into(),
            LoginError::Token(token) => token.into(),
        }
    }
}

/// Adds `Retry-After` to a throttled answer.
pub fn login_error_response(error: LoginError) -> HttpResponse {
    let retry = match &error {
        LoginError::Throttled(wait) => Some(wait.as_secs().max(1)),
        _ => None,
    };
    let mut response = ApiError::from(error).error_response();
    if let Some(seconds) = retry {
        response.headers_mut().insert(RETRY_AFTER, seconds.into());
    }
    response
}

/// `POST /api/login` `{"username","password"}` → `{"userid","username","token","refreshToken"}`.
pub async fn login(
    req: HttpRequest,
    body: web::Json<LoginBody>,
    pool: web::Data<DbPool>,
    tokens: web::Data<TokenService>,
    throttle: web::Data<LoginThrottle>,
    checks: web::Data<PasswordChecks>,
) -> HttpResponse {
    let services = LoginServices {
        pool: &pool,
        tokens: tokens.into_inner(),
        throttle: &throttle,
        checks: &checks,
    };
    match log_in_with_password(services, &req, body.username.trim(), &body.password).await {
        Ok(pair) => tokens_response(&pair),
        Err(error) => login_error_response(error),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    refresh_token: String,
}

/// `POST /api/token/refresh` `{"refreshToken"}` → a new pair; the old refresh token stops working.
pub async fn refresh(
    body: web::Json<RefreshBody>,
    pool: web::Data<DbPool>,
    tokens: web::Data<TokenService>,
) -> Result<HttpResponse, ApiError> {
    let tokens = tokens.into_inner();
    let presented = body.into_inner().refresh_token;
    let pair = db::run(&pool, move |conn| tokens.refresh(conn, &presented))
        .await
        .map_err(|e: TokenError| match e {
            // An access token sent here is as wrong as a forged one.
            TokenError::RefreshAsAccess => ApiError::from(TokenError::Invalid),
            other => other.into(),
        })?;
    Ok(tokens_response(&pair))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedAccountView {
    pub provider: &'static str,
    pub uid: String,
    pub nick: String,
    pub avatar_url: Option<String>,
    pub linked_at: DateTime<Utc>,
    pub last_login_at: DateTime<Utc>,
}

impl From<LinkedAccount> for LinkedAccountView {
    fn from(link: LinkedAccount) -> Self {
        LinkedAccountView {
            provider: provider_name(link.types),
            uid: link.uid,
            nick: link.nick,
            avatar_url: link.avatar_url,
            linked_at: link.created_at.and_utc(),
            last_login_at: link.last_login_at.and_utc(),
        }
    }
}

/// `GET /api/me`.
pub async fn me(current: CurrentUser, pool: web::Data<DbPool>) -> Result<HttpResponse, ApiError> {
    let user = current.0.user;
    let userid = user.id;
    let links = db::run::<_, DbError, _>(&pool, move |conn| users::links_of(conn, userid)).await?;
    let links: Vec<LinkedAccountView> = links.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "phone": user.phone,
            "role": user.role,
            "linkedAccounts": links,
        })))
}

/// `POST /api/logout`: this login session's tokens stop working at once, everywhere.
pub async fn logout(
    current: CurrentUser,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, ApiError> {
    let session_id = current.0.session_id;
    db::run::<_, DbError, _>(&pool, move |conn| {
        sessions::revoke_session(conn, &session_id, "logout")
    })
    .await?;
    tracing::info!(
        security_event = "logout",
        userid = current.0.user.id,
        "logged out"
    );
    Ok(HttpResponse::Ok().json(serde_json::json!({ "code": 0, "msg": "logged out" })))
}

/// `POST /api/me/sessions/revoke`: ends every session of the current user.
pub async fn end_my_sessions(
    current: CurrentUser,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, ApiError> {
    let userid = current.0.user.id;
    let ended = db::run::<_, DbError, _>(&pool, move |conn| {
        sessions::revoke_all_sessions(conn, userid, "ended by user")
    })
    .await?;
    tracing::info!(
        security_event = "sessions_ended",
        userid,
        ended,
        "ended all sessions"
    );
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "code": 0, "msg": "all sessions ended", "ended": ended })))
}

/// `POST /api/admin/users/{id}/sessions/revoke`: an admin ends every session of a user.
pub async fn end_user_sessions(
    current: CurrentUser,
    path: web::Path<i32>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, ApiError> {
    let userid = path.into_inner();
    let ended = db::run::<_, DbError, _>(&pool, move |conn| {
        sessions::revoke_all_sessions(conn, userid, "ended by an admin")
    })
    .await?;
    tracing::info!(
        security_event = "sessions_ended",
        userid,
        admin = current.0.user.id,
        ended,
        "an admin ended all sessions of a user"
    );
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "code": 0, "msg": "all sessions ended", "ended": ended })))
}
