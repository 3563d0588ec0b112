//! The OpenID provider's HTTP face: discovery and keys (here), the authorization request
//! with its consent page (`authorize`), the token, UserInfo and revocation endpoints for
//! programs (`token`), and RP-initiated logout (`logout`). All answer 404 while the
//! provider is off (production without signing keys).

pub mod authorize;
pub mod logout;
pub mod params;
pub mod token;

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Serialize;

use crate::error::PageError;
use crate::i18n::Lang;
use crate::oidc::OpenIdProvider;
use crate::oidc::authorize::SCOPES;
use crate::web::render::render_page;

/// The provider, or `None` when it is off.
pub struct OpenId(pub Option<OpenIdProvider>);

impl OpenId {
    fn get(&self, lang: Lang) -> Result<&OpenIdProvider, PageError> {
        self.0
            .as_ref()
            .ok_or_else(|| PageError::no_such_route(lang, StatusCode::NOT_FOUND))
    }
}

impl OpenId {
    /// The name of the client whose authorization request `next` is, for the login page
    /// ("to continue to Grafana"). Nothing when it is not one, or on any failure: a
    /// missing hint must not stop a login.
    pub async fn client_name_in(&self, next: Option<&str>) -> Option<String> {
        let query = next?.strip_prefix(authorize::PATH)?.strip_prefix('?')?;
        let client_id = url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "client_id")
            .map(|(_, value)| value.into_owned())?;
        let provider = self.0.as_ref()?;
        provider.client(Some(client_id)).await.ok()?.map(|c| c.name)
    }
}

/// OpenID Connect Discovery 1.0 §3.
#[derive(Serialize)]
struct Discovery<'a> {
    issuer: &'a str,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    end_session_endpoint: String,
    revocation_endpoint: String,
    response_types_supported: [&'static str; 1],
    response_modes_supported: [&'static str; 1],
    grant_types_supported: [&'static str; 2],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: Vec<&'static str>,
    code_challenge_methods_supported: [&'static str; 1],
    token_endpoint_auth_methods_supported: [&'static str; 3],
    revocation_endpoint_auth_methods_supported: [&'static str; 3],
    scopes_supported: [&'static str; 4],
    claims_supported: [&'static str; 15],
    prompt_values_supported: [&'static str; 3],
    authorization_response_iss_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
    claims_parameter_supported: bool,
    backchannel_logout_supported: bool,
    backchannel_logout_session_supported: bool,
}

const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

pub async fn discovery(openid: web::Data<OpenId>, lang: Lang) -> Result<HttpResponse, PageError> {
    let provider = openid.get(lang)?;
    let issuer = provider.issuer();
    let document = Discovery {
        issuer,
        authorization_endpoint: format!("{issuer}/oauth2/authorize"),
        token_endpoint: format!("{issuer}/oauth2/token"),
        userinfo_endpoint: format!("{issuer}/oauth2/userinfo"),
        jwks_uri: format!("{issuer}/oauth2/jwks"),
        end_session_endpoint: format!("{issuer}/oauth2/logout"),
        revocation_endpoint: format!("{issuer}/oauth2/revoke"),
        response_types_supported: ["code"],
        response_modes_supported: ["query"],
        grant_types_supported: ["authorization_code", "refresh_token"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: provider.signing_algorithms(),
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: AUTH_METHODS,
        revocation_endpoint_auth_methods_supported: AUTH_METHODS,
        scopes_supported: SCOPES,
        claims_supported: [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "sid",
            "name",
            "preferred_username",
            "picture",
            "phone_number",
            "phone_number_verified",
            "providers",
        ],
        prompt_values_supported: ["none", "login", "consent"],
        authorization_response_iss_parameter_supported: true,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        claims_parameter_supported: false,
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
    };
    Ok(cacheable_json(&document))
}

/// The public keys; clients cache them for an hour (a rotation keeps the previous key
/// published much longer than that).
pub async fn jwks(openid: web::Data<OpenId>, lang: Lang) -> Result<HttpResponse, PageError> {
    let provider = openid.get(lang)?;
    Ok(cacheable_json(&provider.jwks()))
}

fn cacheable_json(value: &impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .json(value)
}

#[derive(Template)]
#[template(path = "oidc_continue.html")]
struct ContinuePage<'a> {
    lang: Lang,
    target: &'a str,
    client_name: &'a str,
}

/// A page that moves the browser on to `target` by itself (a meta refresh) instead of a
/// redirect. A redirect at the end of a form submission is checked against the form
/// page's CSP `form-action`, which names only us (and the SPA); a refresh is a navigation
/// of its own, so the answer can reach any registered client.
pub fn continue_to(lang: Lang, target: &str, client_name: &str) -> Result<HttpResponse, PageError> {
    let mut response = render_page(
        lang,
        &ContinuePage {
            lang,
            target,
            client_name,
        },
        StatusCode::OK,
    )?;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
