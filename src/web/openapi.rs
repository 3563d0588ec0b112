//! The OpenAPI 3.1 document of the JSON API (`GET /api/openapi.json`), generated from the
//! handlers' `#[utoipa::path]` annotations and the request and response types themselves.
//! The routes under `/api` are registered with the paths their annotations name
//! (`web::documented`), so a route cannot be served under another path than the one
//! documented; a test checks that every registered route is in the document and the other
//! way round.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::web::schemas::{
    ErrorBody, GuardRefusal, Malformed, ProviderName, TooManyRequests, Unavailable,
};
use crate::web::{admin, api, flows};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dingtalk-login",
        description = "Log in with DingTalk, WeChat, Weibo or a password, and get JWT access and refresh tokens. Every error is `{\"code\", \"msg\"}` with a code from the README's table.",
        license(name = "MIT")
    ),
    paths(
        api::login,
        api::refresh,
        api::exchange,
        flows::client_login::inapp_login,
        api::me,
        api::end_my_sessions,
        api::logout,
        admin::api::accounts,
        admin::api::end_user_sessions,
        admin::directory::overview,
        admin::directory::sync,
        flows::oauth::authorize_json,
        openapi_json,
    ),
    components(
        schemas(ErrorBody, ProviderName),
        responses(Malformed, GuardRefusal, TooManyRequests, Unavailable)
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "login", description = "Signing in and the tokens"),
        (name = "account", description = "The signed-in user (bearer token)"),
        (name = "admin", description = "Administrators (bearer token of an admin)"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The access token as `Authorization: Bearer <token>`.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access token (`token`) of a login; 2 hours by default.",
                    ))
                    .build(),
            ),
        );
    }
}

/// `GET /api/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
