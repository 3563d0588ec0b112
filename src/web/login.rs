//! The login page: a password form and the DingTalk button.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::csrf;
use super::handoff::{handoff_url, redirect_with_tokens, safe_next};
use super::i18n::Lang;
use super::pages::render_page;
use super::password_login::{LoginError, LoginServices, PasswordChecks, log_in_with_password};
use super::session::{SessionLogin, TypedSession};
use crate::accounts::LoginThrottle;
use crate::config::Settings;
use crate::db::{self, DbError, DbPool, sessions};
use crate::error::PageError;
use crate::tokens::TokenService;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    lang: Lang,
    csrf: &'a str,
    sandbox: bool,
    next: Option<&'a str>,
    error: Option<&'a str>,
    username: &'a str,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn root() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/login"))
        .finish()
}

pub async fn login_form(
    req: HttpRequest,
    session: TypedSession,
    query: web::Query<LoginQuery>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, PageError> {
    let view = LoginView {
        lang: Lang::from_request(&req),
        sandbox: settings.dingtalk.sandbox,
        session: &session,
    };
    view.render(
        safe_next(query.next.as_deref()).as_deref(),
        None,
        "",
        StatusCode::OK,
    )
}

/// The login page as one person sees it (language, sandbox badge, their CSRF token).
pub struct LoginView<'a> {
    pub lang: Lang,
    pub sandbox: bool,
    pub session: &'a TypedSession,
}

impl LoginView<'_> {
    pub fn render(
        &self,
        next: Option<&str>,
        error: Option<&str>,
        username: &str,
        status: StatusCode,
    ) -> Result<HttpResponse, PageError> {
        let csrf = csrf::token(self.session);
        let page = LoginPage {
            lang: self.lang,
            csrf: &csrf,
            sandbox: self.sandbox,
            next,
            error,
            username,
        };
        render_page(self.lang, &page, status)
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: Option<String>,
    username: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`: the login page's form.
#[allow(clippy::too_many_arguments)]
pub async fn login(
    req: HttpRequest,
    session: TypedSession,
    form: web::Form<LoginForm>,
    settings: web::Data<Settings>,
    pool: web::Data<DbPool>,
    tokens: web::Data<TokenService>,
    throttle: web::Data<LoginThrottle>,
    checks: web::Data<PasswordChecks>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::from_request(&req);
    let view = LoginView {
        lang,
        sandbox: settings.dingtalk.sandbox,
        session: &session,
    };
    let next = safe_next(form.next.as_deref());
    let username = form.username.trim();
    if !csrf::verify(&session, form.csrf.as_deref()) {
        tracing::warn!(
            security_event = "csrf_rejected",
            path = "/login",
            "login form without a valid CSRF token"
        );
        let message = lang.t(
            "页面已过期，请重新提交。",
            "This page has expired. Please submit it again.",
        );
        return view.render(
            next.as_deref(),
            Some(message),
            username,
            StatusCode::FORBIDDEN,
        );
    }
    let services = LoginServices {
        pool: &pool,
        tokens: tokens.into_inner(),
        throttle: &throttle,
        checks: &checks,
    };
    match log_in_with_password(services, &req, username, &form.password).await {
        Ok(pair) => {
            session
                .log_in(&SessionLogin {
                    userid: pair.userid,
                    sid: pair.session_id.clone(),
                })
                .map_err(|e| {
                    tracing::error!(error = %e, "storing the login in the session failed");
                    PageError::unavailable(lang)
                })?;
            let location = next.unwrap_or_else(|| handoff_url(&settings.frontend_login_url, &pair));
            Ok(redirect_with_tokens(&location))
        }
        Err(LoginError::BadCredentials) => {
            let message = lang.t("用户名或密码错误。", "Wrong username or password.");
            view.render(
                next.as_deref(),
                Some(message),
                username,
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(LoginError::Throttled(wait)) => {
            let message = lang.t(
                "失败次数过多，请稍后再试。",
                "Too many failed attempts. Please try again later.",
            );
            let mut page = view.render(
                next.as_deref(),
                Some(message),
                username,
                StatusCode::TOO_MANY_REQUESTS,
            )?;
            page.headers_mut()
                .insert(header::RETRY_AFTER, wait.as_secs().max(1).into());
            Ok(page)
        }
        Err(LoginError::Inactive) => Err(PageError::from_account(
            crate::accounts::AccountError::Inactive,
            lang,
        )),
        Err(LoginError::Db(e)) | Err(LoginError::Token(crate::tokens::TokenError::Db(e))) => {
            Err(PageError::from_db(e, lang))
        }
        Err(other) => {
            tracing::error!(error = %other, "password login failed");
            Err(PageError::unavailable(lang))
        }
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: Option<String>,
}

/// `POST /logout`: ends the login session (its tokens stop working) and the browser session.
pub async fn logout(
    req: HttpRequest,
    session: TypedSession,
    form: web::Form<LogoutForm>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::from_request(&req);
    if !csrf::verify(&session, form.csrf.as_deref()) {
        return Err(PageError::csrf_rejected(lang, "logout"));
    }
    if let Some(login) = session.login() {
        db::run::<_, DbError, _>(&pool, move |conn| {
            sessions::revoke_session(conn, &login.sid, "logout")
        })
        .await
        .map_err(|e| PageError::from_db(e, lang))?;
        tracing::info!(
            security_event = "logout",
            userid = login.userid,
            "logged out"
        );
    }
    session.log_out();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .finish())
}
