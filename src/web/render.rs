//! Rendering of the server-side pages (Askama templates, escaped by default).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::error::{FormRefusal, PageError};
use crate::i18n::Lang;

/// A template as an HTML response with `status`: error and refusal pages are not 200s.
pub fn render_page(
    lang: Lang,
    page: &impl Template,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let body = page
        .render()
        .map_err(|e| PageError::internal(lang, "rendering a page", &e))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// A form's page as it is shown again: 200, or the refusal's status with its
/// `Retry-After`.
pub fn render_form_page(
    lang: Lang,
    page: &impl Template,
    refusal: Option<&FormRefusal>,
) -> Result<HttpResponse, PageError> {
    let status = refusal.map_or(StatusCode::OK, |r| r.status);
    let mut response = render_page(lang, page, status)?;
    if let Some(wait) = refusal.and_then(|r| r.retry_after) {
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            crate::error::retry_seconds(wait).into(),
        );
    }
    Ok(response)
}
