//! The JSON API: password login, token refresh, the current user, logout, "log out
//! everywhere". Errors are `{"code","msg"}` (see `error.rs`).

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::db::models::LinkedAccount;
use crate::db::{self, DbError, DbPool, users};
use crate::domain::{ProviderKind, UserId};
use crate::error::ApiError;
use crate::login::{ClientInfo, LoginService};
use crate::tokens::{TokenError, TokenPair};
use crate::web::auth::SignedIn;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer<'a> {
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

#[derive(Deserialize)]
pub struct LoginBody {
    username: String,
    password: String,
}

/// `POST /api/login` `{"username","password"}` → `{"userid","username","token","refreshToken"}`.
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    refresh_token: String,
}

/// `POST /api/token/refresh` `{"refreshToken"}` → a new pair; the old refresh token stops working.
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

#[derive(Deserialize)]
pub struct ExchangeBody {
    code: String,
}

/// `POST /api/token/exchange` `{"code"}` (`HANDOFF_MODE=code`) → the four values; the code
/// works once, and a second use ends the login it stood for.
pub async fn exchange(
    body: web::Json<ExchangeBody>,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, ApiError> {
    let pair = login.exchange_handoff_code(body.into_inner().code).await?;
    Ok(tokens_response(&pair))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedAccountView {
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

/// `GET /api/me`.
pub async fn me(
    SignedIn(signed_in): SignedIn,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, ApiError> {
    let user = signed_in.user;
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
    SignedIn(signed_in): SignedIn,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, ApiError> {
    login
        .end_session(crate::login::SessionRef {
            userid: signed_in.user.id,
            session_id: signed_in.session_id,
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "code": 0, "msg": "logged out" })))
}

pub(crate) fn sessions_ended(ended: usize) -> HttpResponse {
    HttpResponse::Ok()
        .json(serde_json::json!({ "code": 0, "msg": "all sessions ended", "ended": ended }))
}

/// `POST /api/me/sessions/revoke`: ends every session of the current user.
pub async fn end_my_sessions(
    SignedIn(signed_in): SignedIn,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, ApiError> {
    let me = &signed_in.user;
    Ok(sessions_ended(login.end_all_sessions(me, me.id).await?))
}
