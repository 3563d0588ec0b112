//! Who is signed in, under one name for pages and API: `SignedIn` (and `Admin`).
//!
//! - API (`/api/*` except login and refresh): the `require_access_token` middleware checks
//!   the bearer token — signature and claims first (no I/O), then one indexed lookup of its
//!   login session joined to the user — and hands the result to `SignedIn`.
//! - Pages: the session cookie carries the user id and the login-session id, checked
//!   against the database by the same lookup on every page.
//!
//! Either way logout, "end all sessions", deactivation, deletion and role changes count
//! from the next request, and a database failure fails closed (503).

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, LOCATION};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::LocalBoxFuture;

use super::extract::lang_of;
use super::session::TypedSession;
use crate::error::{ApiError, PageError};
use crate::i18n::Lang;
use crate::login::{LoginService, SessionRef};
use crate::tokens::{Authenticated, TokenError};

/// The person signed in on this page or API request.
pub struct SignedIn(pub Authenticated);

/// An administrator signed in; anyone else gets 403 (a page, or `40301`).
pub struct Admin(pub Authenticated);

/// Why a request has nobody (allowed) signed in.
#[derive(Debug)]
pub enum AuthRefusal {
    /// A page without a live login: to the login page, coming back afterwards.
    SignIn {
        next: String,
    },
    Page(PageError),
    Api(ApiError),
}

impl std::fmt::Display for AuthRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("access refused")
    }
}

impl ResponseError for AuthRefusal {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthRefusal::SignIn { .. } => StatusCode::SEE_OTHER,
            AuthRefusal::Page(page) => page.status_code(),
            AuthRefusal::Api(api) => api.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AuthRefusal::SignIn { next } => to_login_page(next),
            AuthRefusal::Page(page) => page.error_response(),
            AuthRefusal::Api(api) => api.error_response(),
        }
    }
}

impl FromRequest for SignedIn {
    type Error = AuthRefusal;
    type Future = LocalBoxFuture<'static, Result<SignedIn, AuthRefusal>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { signed_in(&req).await.map(SignedIn) })
    }
}

impl FromRequest for Admin {
    type Error = AuthRefusal;
    type Future = LocalBoxFuture<'static, Result<Admin, AuthRefusal>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let authenticated = signed_in(&req).await?;
            if authenticated.user.is_admin() {
                Ok(Admin(authenticated))
            } else if is_api(&req) {
                Err(AuthRefusal::Api(ApiError::role_required()))
            } else {
                Err(AuthRefusal::Page(PageError::admins_only(lang_of(&req))))
            }
        })
    }
}

fn is_api(req: &HttpRequest) -> bool {
    req.path().starts_with("/api/")
}

/// The login service the app registered; only an app built without it (a programming
/// error) has none, and then nobody is signed in.
fn login_service(req: &HttpRequest) -> Option<web::Data<LoginService>> {
    let login = req.app_data::<web::Data<LoginService>>().cloned();
    if login.is_none() {
        tracing::error!("the login service is not registered with this app");
    }
    login
}

async fn signed_in(req: &HttpRequest) -> Result<Authenticated, AuthRefusal> {
    if is_api(req) {
        // Put there by `require_access_token`; an API route outside the guard has nobody.
        return req
            .extensions()
            .get::<Authenticated>()
            .cloned()
            .ok_or(AuthRefusal::Api(TokenError::Missing.into()));
    }
    let next = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let session = TypedSession::from_request_sync(req);
    let lang = lang_of(req);
    let login =
        login_service(req).ok_or_else(|| AuthRefusal::Page(PageError::unavailable(lang)))?;
    match browser_login(&session, &login, lang).await {
        Ok(Some(authenticated)) => Ok(authenticated),
        Ok(None) => Err(AuthRefusal::SignIn { next }),
        Err(page) => Err(AuthRefusal::Page(page)),
    }
}

/// Who this browser's session is signed in as, if their login session still counts; a
/// session that no longer counts is forgotten. A database failure is a page (503).
pub async fn browser_login(
    session: &TypedSession,
    login: &LoginService,
    lang: Lang,
) -> Result<Option<Authenticated>, PageError> {
    let Some(signed_in) = session.login() else {
        return Ok(None);
    };
    match login.authenticate(signed_in.session_ref()).await {
        Ok(authenticated) => Ok(Some(authenticated)),
        Err(TokenError::Db(error)) => Err(PageError::from_db(error, lang)),
        Err(_) => {
            session.log_out();
            Ok(None)
        }
    }
}

/// Logs the browser out: its login session ends (and with it the tokens handed over at
/// that login), and the session cookie is emptied.
pub async fn log_out_browser(
    session: &TypedSession,
    login: &LoginService,
    lang: Lang,
) -> Result<(), PageError> {
    if let Some(signed_in) = session.login() {
        login
            .end_session(signed_in.session_ref())
            .await
            .map_err(|e| PageError::from_login(e, lang))?;
    }
    session.log_out();
    Ok(())
}

/// To the login page, coming back to `next` (a local path) afterwards.
pub fn to_login_page(next: &str) -> HttpResponse {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    HttpResponse::SeeOther()
        .insert_header((LOCATION, format!("/login?{query}")))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish()
}

/// The API guard: the bearer token must be valid and its login session alive. Every
/// refusal is counted by its code.
pub async fn require_access_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    match authenticate(req.request()).await {
        Ok(authenticated) => {
            req.extensions_mut().insert(authenticated);
            next.call(req).await
        }
        Err(refusal) => {
            crate::metrics::guard_rejection(refusal.code.number());
            Err(refusal.into())
        }
    }
}

async fn authenticate(req: &HttpRequest) -> Result<Authenticated, ApiError> {
    let token = bearer_token(req).ok_or(ApiError::from(TokenError::Missing))?;
    let login = login_service(req).ok_or_else(ApiError::unavailable)?;
    let claims = login.tokens().verify_access(&token)?;
    let session = SessionRef {
        userid: claims.userid,
        session_id: claims.sid,
    };
    Ok(login.authenticate(session).await?)
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
        let refusal = ApiError::role_required();
        crate::metrics::guard_rejection(refusal.code.number());
        return Err(refusal.into());
    }
    next.call(req).await
}

pub(crate) fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
