//! Rendering of the server-side pages (Askama templates, escaped by default).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::error::PageError;
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
