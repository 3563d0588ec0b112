//! The API guard: every `/api/*` request except login and refresh must carry a valid
//! access token whose login session is still alive. Handlers take the result through the
//! `CurrentUser` extractor and never parse headers themselves.

use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use crate::db::{self, DbPool};
use crate::error::ApiError;
use crate::tokens::{Authenticated, TokenError, TokenService};

/// Checks the bearer token: signature and claims first (no I/O), then one indexed lookup of
/// the session joined to its user, so logout, "end all sessions", deactivation, deletion
/// and role changes count from the next request. A database failure fails closed (503).
pub async fn require_access_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let token = bearer_token(req.request()).ok_or(ApiError::from(TokenError::Missing))?;
    let tokens = req
        .app_data::<web::Data<TokenService>>()
        .expect("TokenService is registered");
    let claims = tokens.verify_access(&token).map_err(ApiError::from)?;
    let pool = req
        .app_data::<web::Data<DbPool>>()
        .expect("DbPool is registered")
        .clone();
    let authenticated = db::run(&pool, move |conn| {
        TokenService::load_session(conn, &claims.sid, claims.userid)
    })
    .await
    .map_err(ApiError::from)?;
    req.extensions_mut().insert(authenticated);
    next.call(req).await
}

/// `/api/admin/*`: the role is read from the database on this request, not from the token.
pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let is_admin = req
        .extensions()
        .get::<Authenticated>()
        .is_some_and(|a| a.user.is_admin());
    if !is_admin {
        return Err(
            ApiError::new(StatusCode::FORBIDDEN, 40301, "this needs the admin role").into(),
        );
    }
    next.call(req).await
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// The authenticated user of an API request (put there by the guard).
pub struct CurrentUser(pub Authenticated);

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Ready<Result<CurrentUser, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Authenticated>()
                .cloned()
                .map(CurrentUser)
                .ok_or(TokenError::Missing.into()),
        )
    }
}
