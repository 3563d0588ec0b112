//! The JSON API: password login, token refresh, the current user, logout, "log out
//! everywhere". Errors are `{"code","msg"}` (see `error.rs`).

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::LinkedAccount;
use crate::domain::{ProviderKind, UserId};
use crate::error::ApiError;
use crate::login::{ClientInfo, LoginService};
use crate::tokens::{Authenticated, TokenError, TokenPair};
use crate::web::auth::SignedIn;
use crate::web::schemas::{
    ErrorBody, GuardRefusal, Malformed, ProviderName, TooManyRequests, Unavailable,
};

/// A login's four values (the SPA handoff's): the access token for `Authorization:
/// Bearer`, and the refresh token for `POST /api/token/refresh`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"userid": 7, "username": "13800138000", "token": "eyJhbGciOiJIUzI1NiIs…", "refreshToken": "eyJhbGciOiJIUzI1NiIs…"}))]
pub struct TokenAnswer<'a> {
    #[schema(value_type = i32)]
    userid: UserId,
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

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"username": "alice", "password": "correct horse battery staple"}))]
pub struct LoginBody {
    username: String,
    password: String,
}

/// `POST /api/login` `{"username","password"}` → `{"userid","username","token","refreshToken"}`.
#[utoipa::path(
    post,
    path = "/api/login",
    tag = "login",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokenAnswer),
        (status = 400, response = Malformed),
        (status = 401, description = "40100: wrong username or password", body = ErrorBody),
        (status = 403, description = "40302: the account is deactivated", body = ErrorBody),
        (status = 429, description = "42901: too many failed logins; 42902: too many requests (see Retry-After)", body = ErrorBody),
        (status = 503, response = Unavailable),
    )
)]
pub async fn login(
    client: ClientInfo,
    body: web::Json<LoginBody>,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, ApiError> {
    let pair = login
        .password_login(&client, body.username.trim(), &body.password)
        .await?;
    Ok(tokens_response(&pair))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    refresh_token: String,
}

/// `POST /api/token/refresh` `{"refreshToken"}` → a new pair; the old refresh token stops working.
#[utoipa::path(
    post,
    path = "/api/token/refresh",
    tag = "login",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new pair; the refresh token sent is used up", body = TokenAnswer),
        (status = 400, response = Malformed),
        (status = 401, description = "40102: not a refresh token of ours; 40104: logged out, revoked, or a used refresh token shown again (the whole login ends)", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
pub async fn refresh(
    body: web::Json<RefreshBody>,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, ApiError> {
    let pair = login
        .refresh(body.into_inner().refresh_token)
        .await
        .map_err(|e| match e {
            // An access token sent here is as wrong as a forged one.
            TokenError::RefreshAsAccess => TokenError::Invalid,
            other => other,
        })?;
    Ok(tokens_response(&pair))
}

#[derive(Deserialize, ToSchema)]
pub struct ExchangeBody {
    code: String,
}

/// `POST /api/token/exchange` `{"code"}` (`HANDOFF_MODE=code`) → the four values; the code
/// works once, and a second use ends the login it stood for.
#[utoipa::path(
    post,
    path = "/api/token/exchange",
    tag = "login",
    request_body = ExchangeBody,
    responses(
        (status = 200, description = "The login's four values", body = TokenAnswer),
        (status = 400, response = Malformed),
        (status = 401, description = "40102: unknown or expired code; 40104: the code was used before (its login ends)", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
pub async fn exchange(
    body: web::Json<ExchangeBody>,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, ApiError> {
    let pair = login.exchange_handoff_code(body.into_inner().code).await?;
    Ok(tokens_response(&pair))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkedAccountView {
    #[schema(value_type = ProviderName)]
    pub provider: ProviderKind,
    pub uid: String,
    pub nick: String,
    pub avatar_url: Option<String>,
    pub linked_at: DateTime<Utc>,
    pub last_login_at: DateTime<Utc>,
}

impl From<LinkedAccount> for LinkedAccountView {
    fn from(link: LinkedAccount) -> Self {
        LinkedAccountView {
            provider: link.types,
            uid: link.uid,
            nick: link.nick,
            avatar_url: link.avatar_url,
            linked_at: link.created_at.and_utc(),
            last_login_at: link.last_login_at.and_utc(),
        }
    }
}

/// The signed-in user.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": 7, "username": "13800138000", "name": "张三", "phone": "+8613800138000", "role": "user", "linkedAccounts": [{"provider": "dingtalk", "uid": "sbx1f…", "nick": "张三", "avatarUrl": null, "linkedAt": "2026-11-26T09:00:00Z", "lastLoginAt": "2026-11-26T09:00:00Z"}]}))]
pub struct Me {
    #[schema(value_type = i32)]
    id: UserId,
    username: String,
    name: String,
    /// E.164, or none.
    phone: Option<String>,
    /// `user` or `admin`.
    role: String,
    linked_accounts: Vec<LinkedAccountView>,
}

/// `GET /api/me`.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user and their linked accounts", body = Me),
        (status = 401, response = GuardRefusal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn me(SignedIn(signed_in): SignedIn) -> Result<HttpResponse, ApiError> {
    // The guard read the linked accounts with the session: no second database visit.
    let Authenticated { user, links, .. } = signed_in;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(Me {
            id: user.id,
            username: user.username,
            name: user.name,
            phone: user.phone,
            role: user.role,
            linked_accounts: links.into_iter().map(Into::into).collect(),
        }))
}

/// The answer of a call that changes state: `{"code": 0, "msg"}`.
#[derive(Serialize, ToSchema)]
pub struct Done {
    /// Always 0.
    code: u32,
    msg: &'static str,
    /// Sessions ended (for "end all sessions").
    #[serde(skip_serializing_if = "Option::is_none")]
    ended: Option<usize>,
}

/// `POST /api/logout`: this login session's tokens stop working at once, everywhere.
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Logged out: this login's access and refresh tokens are refused from now on, on every instance", body = Done, example = json!({"code": 0, "msg": "logged out"})),
        (status = 401, response = GuardRefusal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn logout(
    SignedIn(signed_in): SignedIn,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, ApiError> {
    login
        .end_session(crate::login::SessionRef {
            userid: signed_in.user.id,
            session_id: signed_in.session_id,
        })
        .await?;
    Ok(HttpResponse::Ok().json(Done {
        code: 0,
        msg: "logged out",
        ended: None,
    }))
}

pub(crate) fn sessions_ended(ended: usize) -> HttpResponse {
    HttpResponse::Ok().json(Done {
        code: 0,
        msg: "all sessions ended",
        ended: Some(ended),
    })
}

/// `POST /api/me/sessions/revoke`: ends every session of the current user.
#[utoipa::path(
    post,
    path = "/api/me/sessions/revoke",
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every login of this user ended, this one too", body = Done, example = json!({"code": 0, "msg": "all sessions ended", "ended": 3})),
        (status = 401, response = GuardRefusal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn end_my_sessions(
    SignedIn(signed_in): SignedIn,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, ApiError> {
    let me = &signed_in.user;
    Ok(sessions_ended(login.end_all_sessions(me, me.id).await?))
}
