//! The OpenID provider: any OpenID Connect client (Grafana, GitLab, oauth2-proxy, an SPA
//! with PKCE) logs people in through us, and so through DingTalk, WeChat, Weibo or a
//! password, with the same org restriction, registration policy and deactivation.
//!
//! - `authorize`: the authorization request checked against its registered client.
//! - `keys`: the asymmetric signing keys, published at `/oauth2/jwks`.
//! - `clients`: registering applications (`dingtalk-login client create`).
//! - here: codes, the token endpoint's two grants, UserInfo, revocation and logout, on
//!   top of the login sessions of `tokens` (a client's tokens live in a session of their
//!   own, so logout, "end all sessions", deactivation and refresh-token reuse apply to
//!   them exactly as to the SPA's).
//!
//! Nothing here knows HTTP; `web::oidc` translates.

pub mod authorize;
pub mod backchannel;
mod client_sessions;
pub mod clients;
mod grants;
pub mod keys;

pub use client_sessions::LogoutHint;

use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};

use crate::crypto::{constant_time_eq, sha256_hex};

/// The rows this service's callers see: a registered client, and who allowed it what.
pub use crate::db::models::OidcClient;
pub use crate::db::oidc::{GrantRow, UserGrant};
use crate::db::{self, DbError, DbPool, oidc as queries};
use crate::tokens::{Authenticated, TokenService};
use authorize::Authorization;
use keys::SigningKeys;

/// The JOSE `typ` of our access tokens (RFC 9068), which id_tokens do not have: an
/// id_token presented as a bearer token is refused.
const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Why the provider said no, in RFC 6749 / OpenID terms.
#[derive(thiserror::Error)]
pub enum OAuthError {
    /// `error` and `error_description` of RFC 6749 §5.2.
    #[error("{error}: {description}")]
    Refused {
        error: &'static str,
        description: &'static str,
    },
    /// The client could not be authenticated (401); `basic`: it tried HTTP Basic.
    #[error("client authentication failed")]
    InvalidClient { basic: bool },
    /// A bearer token that is not (or no longer) ours to honour (401).
    #[error("the access token is invalid, expired or revoked")]
    InvalidToken,
    /// No credentials at all (401 without an error code: RFC 6750 §3.1).
    #[error("no access token")]
    NoToken,
    /// Over the per-address budget (429, with `Retry-After`).
    #[error("too many requests")]
    TooManyRequests(std::time::Duration),
    /// The HTTP request itself was refused before any OAuth rule (a wrong method, a body
    /// too large): its status, and what to tell the client.
    #[error("{description}")]
    Http {
        status: u16,
        description: &'static str,
    },
    #[error(transparent)]
    Db(#[from] DbError),
}

crate::report::debug_as_chain!(OAuthError);

impl OAuthError {
    fn grant(description: &'static str) -> OAuthError {
        OAuthError::Refused {
            error: "invalid_grant",
            description,
        }
    }

    pub fn request(description: &'static str) -> OAuthError {
        OAuthError::Refused {
            error: "invalid_request",
            description,
        }
    }
}

impl From<diesel::result::Error> for OAuthError {
    fn from(error: diesel::result::Error) -> Self {
        OAuthError::Db(DbError::Query(error))
    }
}

/// A client as it presented itself at the token endpoint.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: Option<String>,
    /// Sent with HTTP Basic (a failure then answers with `WWW-Authenticate: Basic`).
    pub basic: bool,
}

/// The token endpoint's answer (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// The claims of our id_tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    /// The user's id: stable for the life of the account.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// How the person signed in: `pwd` or the provider (`dingtalk`, `wechat`, `weibo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// The client's session at this provider (what logout and revocation end).
    pub sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
}

/// The claims of our access tokens (RFC 9068).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    jti: String,
    client_id: String,
    scope: String,
    sid: String,
}

/// What `/oauth2/userinfo` tells, as far as the granted scopes allow.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_verified: Option<bool>,
    /// The providers linked to the account (`dingtalk`, `wechat`, `weibo`), with `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub providers: Option<Vec<&'static str>>,
}

pub struct OpenIdProvider {
    pool: DbPool,
    keys: Arc<SigningKeys>,
    tokens: Arc<TokenService>,
    issuer: String,
    access_ttl: i64,
}

impl OpenIdProvider {
    pub fn new(
        pool: DbPool,
        keys: Arc<SigningKeys>,
        tokens: Arc<TokenService>,
        issuer: &str,
        access_ttl: i64,
    ) -> OpenIdProvider {
        OpenIdProvider {
            pool,
            keys,
            tokens,
            issuer: issuer.to_owned(),
            access_ttl,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn jwks(&self) -> JwkSet {
        self.keys.jwks()
    }

    pub fn signing_algorithms(&self) -> Vec<&'static str> {
        self.keys.algorithms()
    }

    /// The registered client `client_id`; an id that no client could have (too long,
    /// control characters) finds none without asking the database.
    pub async fn client(&self, client_id: Option<String>) -> Result<Option<OidcClient>, DbError> {
        let Some(client_id) = client_id.filter(|id| clients::plausible_id(id)) else {
            return Ok(None);
        };
        db::run(&self.pool, move |conn| {
            queries::find_client(conn, &client_id)
        })
        .await
    }

    /// Whether `who` already agreed to what `request` asks.
    pub async fn consented(
        &self,
        who: &Authenticated,
        request: &Authorization,
    ) -> Result<bool, DbError> {
        let (userid, client_id) = (who.user.id, request.client.client_id.clone());
        let granted = db::run(&self.pool, move |conn| {
            queries::granted_scope(conn, userid, &client_id)
        })
        .await?;
        Ok(granted.is_some_and(|g| request.covered_by(&g)))
    }

    /// The registered client behind `credentials`: a confidential client's secret must
    /// match; a public client must not send one.
    pub async fn authenticate_client(
        &self,
        credentials: ClientCredentials,
    ) -> Result<OidcClient, OAuthError> {
        let refused = OAuthError::InvalidClient {
            basic: credentials.basic,
        };
        let client = self.client(Some(credentials.client_id)).await?;
        let Some(client) = client else {
            return Err(refused);
        };
        let authenticated = match (&client.secret_hash, &credentials.secret) {
            (Some(hash), Some(secret)) => constant_time_eq(hash, &sha256_hex(secret)),
            (None, None) => true,
            _ => false,
        };
        if !authenticated {
            tracing::warn!(event = "oidc_client_auth_failed", client_id = %client.client_id, "a client presented a wrong or missing secret");
            return Err(refused);
        }
        Ok(client)
    }
}
