//! RFC 6749 §5.2 / RFC 6750 §3 answers for OpenID clients.

use actix_web::http::StatusCode;
use actix_web::http::header::{self};
use actix_web::{HttpResponse, ResponseError};

use super::{log_db, retry_seconds};
use crate::oidc::OAuthError;

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            OAuthError::Refused { .. } => StatusCode::BAD_REQUEST,
            OAuthError::InvalidClient { .. } | OAuthError::InvalidToken | OAuthError::NoToken => {
                StatusCode::UNAUTHORIZED
            }
            OAuthError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            OAuthError::Http { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST)
            }
            OAuthError::Db(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        let (error, description) = match self {
            OAuthError::Refused { error, description } => {
                tracing::info!(
                    event = "oidc_refused",
                    error,
                    description,
                    "an OpenID request was refused"
                );
                (*error, *description)
            }
            OAuthError::InvalidClient { basic } => {
                if *basic {
                    response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"oauth2\""));
                }
                ("invalid_client", "client authentication failed")
            }
            OAuthError::InvalidToken => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
                (
                    "invalid_token",
                    "the access token is invalid, expired or revoked",
                )
            }
            OAuthError::NoToken => {
                // RFC 6750 §3.1: a request without credentials learns only the scheme.
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"oauth2\""));
                return response.finish();
            }
            OAuthError::TooManyRequests(wait) => {
                response.insert_header((header::RETRY_AFTER, retry_seconds(*wait).to_string()));
                (
                    "temporarily_unavailable",
                    "too many requests from this address; see Retry-After",
                )
            }
            OAuthError::Http { description, .. } => ("invalid_request", *description),
            OAuthError::Db(db) => {
                log_db(db);
                (
                    "temporarily_unavailable",
                    "the service is temporarily unavailable, please try again",
                )
            }
        };
        response.json(serde_json::json!({ "error": error, "error_description": description }))
    }
}
