//! `{"code", "msg"}` for programs: the codes of the README's table and how each domain
//! error becomes one.

use std::borrow::Cow;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self};
use actix_web::{HttpResponse, ResponseError};

use super::{log_db, retry_seconds};
use crate::accounts::AccountError;
use crate::db::DbError;
use crate::directory::DirectoryError;
use crate::login::{LoginError, PasswordCheckError};
use crate::providers::ProviderError;
use crate::tokens::TokenError;

/// The `code` of every JSON error, with its HTTP status: the README's table, which a unit
/// test below keeps in step with this enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCode {
    BadRequest = 40001,
    BadCredentials = 40100,
    TokenMissing = 40101,
    TokenInvalid = 40102,
    TokenExpired = 40103,
    TokenRevoked = 40104,
    RefreshAsAccess = 40105,
    ProviderCodeRejected = 40106,
    RoleRequired = 40301,
    AccountInactive = 40302,
    NotAMember = 40303,
    NotVisible = 40304,
    SignupClosed = 40305,
    EventRefused = 40306,
    NotFound = 40401,
    DirectoryOff = 40402,
    MethodNotAllowed = 40501,
    ProofNeeded = 40901,
    SyncBusy = 40902,
    SyncRefused = 40903,
    TooManyFailures = 42901,
    TooManyRequests = 42902,
    HeaderTooLarge = 43101,
    ProviderUnavailable = 50201,
    Unavailable = 50301,
    Busy = 50302,
}

impl ApiCode {
    pub const ALL: [ApiCode; 26] = [
        ApiCode::BadRequest,
        ApiCode::BadCredentials,
        ApiCode::TokenMissing,
        ApiCode::TokenInvalid,
        ApiCode::TokenExpired,
        ApiCode::TokenRevoked,
        ApiCode::RefreshAsAccess,
        ApiCode::ProviderCodeRejected,
        ApiCode::RoleRequired,
        ApiCode::AccountInactive,
        ApiCode::NotAMember,
        ApiCode::NotVisible,
        ApiCode::SignupClosed,
        ApiCode::EventRefused,
        ApiCode::NotFound,
        ApiCode::DirectoryOff,
        ApiCode::MethodNotAllowed,
        ApiCode::ProofNeeded,
        ApiCode::SyncBusy,
        ApiCode::SyncRefused,
        ApiCode::TooManyFailures,
        ApiCode::TooManyRequests,
        ApiCode::HeaderTooLarge,
        ApiCode::ProviderUnavailable,
        ApiCode::Unavailable,
        ApiCode::Busy,
    ];

    pub fn number(self) -> u32 {
        self as u32
    }

    /// The status is the code's first three digits.
    pub fn status(self) -> StatusCode {
        StatusCode::from_u16((self.number() / 100) as u16)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// A JSON API error: `{"code": <int>, "msg": "<text>"}`.
#[derive(Debug)]
pub struct ApiError {
    pub code: ApiCode,
    pub msg: Cow<'static, str>,
    retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(code: ApiCode, msg: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError {
            code,
            msg: msg.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(msg: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(ApiCode::BadRequest, msg)
    }

    pub fn unavailable() -> ApiError {
        ApiError::new(
            ApiCode::Unavailable,
            "the service is temporarily unavailable; try again shortly",
        )
    }

    /// Too much at once (password checks, provider calls): shed now, retry in a second.
    pub fn busy() -> ApiError {
        tracing::warn!("shedding load: too many requests of one kind at once");
        ApiError::new(
            ApiCode::Busy,
            "too many logins at once; try again in a moment",
        )
        .retry_after(Duration::from_secs(1))
    }

    pub fn role_required() -> ApiError {
        ApiError::new(ApiCode::RoleRequired, "this needs the admin role")
    }

    /// A client address over its per-minute budget of a login endpoint.
    pub fn too_many_requests(wait: Duration) -> ApiError {
        ApiError::new(
            ApiCode::TooManyRequests,
            "too many requests; try again later",
        )
        .retry_after(wait)
    }

    fn retry_after(mut self, wait: Duration) -> ApiError {
        self.retry_after = Some(wait);
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code.number(), self.msg)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3.1: no token is a bare challenge, a bad one says so.
            let challenge = if self.code == ApiCode::TokenMissing {
                "Bearer"
            } else {
                "Bearer error=\"invalid_token\""
            };
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let Some(wait) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, retry_seconds(wait)));
        }
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "code": self.code.number(), "msg": self.msg }))
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        log_db(&error);
        ApiError::unavailable()
    }
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        let code = match &error {
            TokenError::Missing => ApiCode::TokenMissing,
            TokenError::Invalid => ApiCode::TokenInvalid,
            TokenError::Expired => ApiCode::TokenExpired,
            TokenError::Revoked | TokenError::Inactive => ApiCode::TokenRevoked,
            TokenError::RefreshAsAccess => ApiCode::RefreshAsAccess,
            TokenError::Db(db) => {
                log_db(db);
                return ApiError::unavailable();
            }
        };
        ApiError::new(code, error.to_string())
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::BadCredentials => {
                ApiError::new(ApiCode::BadCredentials, "wrong username or password")
            }
            LoginError::Throttled(wait) => ApiError::new(
                ApiCode::TooManyFailures,
                "too many failed attempts; try again later",
            )
            .retry_after(wait),
            LoginError::Inactive => {
                ApiError::new(ApiCode::AccountInactive, "this account is deactivated")
            }
            LoginError::SessionEnded => TokenError::Revoked.into(),
            LoginError::Refused(AccountError::SignupClosed) => ApiError::new(
                ApiCode::SignupClosed,
                "no account here yet; ask your administrator to add you",
            ),
            LoginError::PasswordChecks(PasswordCheckError::Busy) => ApiError::busy(),
            LoginError::Db(db) => db.into(),
            other => {
                tracing::error!(error = %other, "login failure");
                ApiError::unavailable()
            }
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> Self {
        tracing::warn!(error = %error, "DingTalk sign-in failed");
        match error {
            ProviderError::CodeRejected { .. } | ProviderError::Unverified { .. } => ApiError::new(
                ApiCode::ProviderCodeRejected,
                "the DingTalk code is invalid, used or expired; ask DingTalk for a new one",
            ),
            ProviderError::NotInOrganisation { .. } | ProviderError::NotAMember { .. } => {
                ApiError::new(
                    ApiCode::NotAMember,
                    "only members of the organisation may sign in",
                )
            }
            ProviderError::NotVisible => ApiError::new(
                ApiCode::NotVisible,
                "the app is not visible to this person (DingTalk's visibility range)",
            ),
            _ => ApiError::new(
                ApiCode::ProviderUnavailable,
                "DingTalk is temporarily unavailable; try again shortly",
            ),
        }
    }
}

impl From<DirectoryError> for ApiError {
    /// For administrators: the message says what DingTalk refused (a missing permission by
    /// its console name), which is theirs to fix.
    fn from(error: DirectoryError) -> Self {
        match error {
            DirectoryError::Db(error) => error.into(),
            DirectoryError::Busy => ApiError::new(ApiCode::SyncBusy, error.to_string()),
            DirectoryError::Refused(_) => ApiError::new(ApiCode::SyncRefused, error.to_string()),
            DirectoryError::ForeignEvent(_) => {
                ApiError::new(ApiCode::EventRefused, error.to_string())
            }
            DirectoryError::Provider(_) => {
                ApiError::new(ApiCode::ProviderUnavailable, error.to_string())
            }
        }
    }
}
