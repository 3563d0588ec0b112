//! Who is signed in on a server-rendered page. The session cookie carries the user id and
//! the login-session id; both are checked against the database on every page, exactly as
//! the API guard checks a token, so logout, "end all sessions", deactivation and role
//! changes take effect on the next request.

use actix_session::SessionExt;
use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};
use futures_util::future::LocalBoxFuture;

use super::i18n::Lang;
use super::session::TypedSession;
use crate::db::{self, DbPool};
use crate::error::PageError;
use crate::tokens::{Authenticated, TokenError, TokenService};

#[derive(Debug)]
pub enum PageAuthError {
    /// Not signed in (or no longer): to the login page, coming back afterwards.
    SignIn(String),
    Forbidden(Lang),
    Page(PageError),
}

impl std::fmt::Display for PageAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("page access refused")
    }
}

impl ResponseError for PageAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageAuthError::SignIn(_) => StatusCode::SEE_OTHER,
            PageAuthError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageAuthError::Page(page) => page.status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PageAuthError::SignIn(next) => {
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", next)
                    .finish();
                HttpResponse::SeeOther()
                    .insert_header((LOCATION, format!("/login?{query}")))
                    .finish()
            }
            PageAuthError::Forbidden(lang) => PageError::new(
                StatusCode::FORBIDDEN,
                *lang,
                lang.t("没有权限", "Not allowed"),
                lang.t(
                    "此页面仅限管理员访问。",
                    "This page is for administrators only.",
                ),
            )
            .with_back("/account", lang.t("返回我的账号", "Back to my account"))
            .error_response(),
            PageAuthError::Page(page) => page.error_response(),
        }
    }
}

/// The person signed in on this page.
pub struct SignedIn(pub Authenticated);

impl FromRequest for SignedIn {
    type Error = PageAuthError;
    type Future = LocalBoxFuture<'static, Result<SignedIn, PageAuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { signed_in(&req).await })
    }
}

async fn signed_in(req: &HttpRequest) -> Result<SignedIn, PageAuthError> {
    let lang = Lang::from_request(req);
    let next = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let session = TypedSession::from(req.get_session());
    let Some(login) = session.login() else {
        return Err(PageAuthError::SignIn(next));
    };
    let pool = req
        .app_data::<web::Data<DbPool>>()
        .expect("DbPool is registered")
        .clone();
    match db::run(&pool, move |conn| {
        TokenService::load_session(conn, &login.sid, login.userid)
    })
    .await
    {
        Ok(authenticated) => Ok(SignedIn(authenticated)),
        Err(TokenError::Db(error)) => Err(PageAuthError::Page(PageError::from_db(error, lang))),
        Err(_) => {
            session.log_out();
            Err(PageAuthError::SignIn(next))
        }
    }
}

/// An administrator signed in on this page; anyone else gets the 403 page.
pub struct SignedInAdmin(pub Authenticated);

impl FromRequest for SignedInAdmin {
    type Error = PageAuthError;
    type Future = LocalBoxFuture<'static, Result<SignedInAdmin, PageAuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let SignedIn(authenticated) = signed_in(&req).await?;
            if authenticated.user.is_admin() {
                Ok(SignedInAdmin(authenticated))
            } else {
                Err(PageAuthError::Forbidden(Lang::from_request(&req)))
            }
        })
    }
}
