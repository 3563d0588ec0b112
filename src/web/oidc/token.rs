//! The endpoints programs call: `POST /oauth2/token` (the code and refresh grants),
//! `GET|POST /oauth2/userinfo` (bearer) and `POST /oauth2/revoke` (RFC 7009). Errors are
//! RFC 6749 §5.2 JSON; every answer carrying a token is `no-store`.

use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::OpenId;
use crate::oidc::{ClientCredentials, OAuthError, OidcClient, OpenIdProvider};
use crate::web::auth::bearer_token;
use crate::web::extract::form_decoded;

/// The form of the token and revocation endpoints (every field optional: what is missing
/// is named in the error).
#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    token: Option<String>,
}

pub async fn token(
    req: HttpRequest,
    body: web::Bytes,
    openid: web::Data<OpenId>,
) -> Result<HttpResponse, OAuthError> {
    let provider = enabled(&openid)?;
    let form = read_form(&body)?;
    let grant = match form.grant_type.as_deref() {
        Some("authorization_code") => "authorization_code",
        Some("refresh_token") => "refresh_token",
        _ => "other",
    };
    let answer = issue(provider, &req, form).await;
    let outcome = match &answer {
        Ok(_) => "issued",
        Err(OAuthError::Refused { error, .. }) => error,
        Err(OAuthError::InvalidClient { .. }) => "invalid_client",
        Err(OAuthError::InvalidToken | OAuthError::NoToken) => "invalid_token",
        Err(OAuthError::TooManyRequests(_) | OAuthError::Db(_)) => "temporarily_unavailable",
        Err(OAuthError::Http { .. }) => "invalid_request",
    };
    crate::metrics::oidc_token(grant, outcome);
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(answer?))
}

async fn issue(
    provider: &OpenIdProvider,
    req: &HttpRequest,
    form: TokenForm,
) -> Result<crate::oidc::TokenResponse, OAuthError> {
    let client = authenticated(provider, req, &form).await?;
    Ok(match form.grant_type.as_deref() {
        Some("authorization_code") => {
            let code = form.code.ok_or(OAuthError::request("code is missing"))?;
            provider
                .exchange_code(client, code, form.redirect_uri, form.code_verifier)
                .await?
        }
        Some("refresh_token") => {
            let token = form
                .refresh_token
                .ok_or(OAuthError::request("refresh_token is missing"))?;
            provider.refresh(client, token, form.scope).await?
        }
        Some(_) => {
            return Err(OAuthError::Refused {
                error: "unsupported_grant_type",
                description: "only authorization_code and refresh_token are supported",
            });
        }
        None => return Err(OAuthError::request("grant_type is missing")),
    })
}

pub async fn userinfo(
    req: HttpRequest,
    openid: web::Data<OpenId>,
) -> Result<HttpResponse, OAuthError> {
    let provider = enabled(&openid)?;
    let token = match bearer_token(&req) {
        Some(token) => token,
        None if req.headers().contains_key(AUTHORIZATION) => return Err(OAuthError::InvalidToken),
        None => return Err(OAuthError::NoToken),
    };
    let info = provider.userinfo(&token).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(info))
}

/// RFC 7009 §2.2: 200 whether or not there was anything to revoke.
pub async fn revoke(
    req: HttpRequest,
    body: web::Bytes,
    openid: web::Data<OpenId>,
) -> Result<HttpResponse, OAuthError> {
    let provider = enabled(&openid)?;
    let form = read_form(&body)?;
    let client = authenticated(provider, &req, &form).await?;
    let token = form.token.ok_or(OAuthError::request("token is missing"))?;
    provider.revoke(client, token).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}

fn enabled(openid: &OpenId) -> Result<&OpenIdProvider, OAuthError> {
    openid.0.as_ref().ok_or(OAuthError::Refused {
        error: "invalid_request",
        description: "this service does not act as an OpenID provider",
    })
}

fn read_form(body: &[u8]) -> Result<TokenForm, OAuthError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::request("the body must be application/x-www-form-urlencoded"))
}

/// The registered client that sent `req`, authenticated.
async fn authenticated(
    provider: &OpenIdProvider,
    req: &HttpRequest,
    form: &TokenForm,
) -> Result<OidcClient, OAuthError> {
    provider.authenticate_client(credentials(req, form)?).await
}

/// HTTP Basic (RFC 6749 §2.3.1: both parts form-urlencoded) or the form's `client_id`
/// and `client_secret` — one method, not both.
fn credentials(req: &HttpRequest, form: &TokenForm) -> Result<ClientCredentials, OAuthError> {
    let Some(header) = req.headers().get(AUTHORIZATION) else {
        let client_id = form
            .client_id
            .clone()
            .ok_or(OAuthError::InvalidClient { basic: false })?;
        return Ok(ClientCredentials {
            client_id,
            secret: form.client_secret.clone(),
            basic: false,
        });
    };
    let refused = OAuthError::InvalidClient { basic: true };
    let (scheme, encoded) = header
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .ok_or(OAuthError::InvalidClient { basic: true })?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(refused);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(OAuthError::InvalidClient { basic: true })?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or(OAuthError::InvalidClient { basic: true })?;
    let (id, secret) = (form_decoded(id), form_decoded(secret));
    if form.client_secret.is_some() || form.client_id.as_deref().is_some_and(|f| f != id) {
        return Err(OAuthError::request("use one way of client authentication"));
    }
    Ok(ClientCredentials {
        client_id: id,
        secret: Some(secret),
        basic: true,
    })
}
