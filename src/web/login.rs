//! The login page: a password form and the DingTalk button.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::handoff::safe_next;
use super::i18n::Lang;
use crate::config::Settings;
use crate::error::PageError;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    lang: Lang,
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
    query: web::Query<LoginQuery>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::from_request(&req);
    let next = safe_next(query.next.as_deref());
    render_login(
        lang,
        settings.dingtalk.sandbox,
        next.as_deref(),
        None,
        "",
        actix_web::http::StatusCode::OK,
    )
}

pub fn render_login(
    lang: Lang,
    sandbox: bool,
    next: Option<&str>,
    error: Option<&str>,
    username: &str,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, PageError> {
    let page = LoginPage {
        lang,
        sandbox,
        next,
        error,
        username,
    };
    let body = page.render().map_err(|e| {
        tracing::error!(error = %e, "rendering the login page failed");
        PageError::unavailable(lang)
    })?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}
