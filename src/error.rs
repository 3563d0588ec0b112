//! The one place errors become responses: an HTML page for people (with a way back to the
//! login page) or `{"code", "msg"}` JSON for programs. Each error is logged here once,
//! with its cause; what the client sees never holds a stack trace or internal detail.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::accounts::AccountError;
use crate::db::DbError;
use crate::providers::ProviderError;
use crate::tokens::TokenError;
use crate::web::i18n::Lang;

/// A JSON API error: `{"code": <int>, "msg": "<text>"}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub msg: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, msg: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            msg: msg.into(),
        }
    }
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, 40001, msg)
    }
    pub fn unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            50301,
            "the service is temporarily unavailable; try again shortly",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.msg)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3.1
            let error = if self.code == 40101 {
                "Bearer"
            } else {
                "Bearer error=\"invalid_token\""
            };
            response.insert_header((header::WWW_AUTHENTICATE, error));
        }
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "code": self.code, "msg": self.msg }))
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        tracing::error!(error = %error, "database failure");
        ApiError::unavailable()
    }
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        let (status, code) = match &error {
            TokenError::Missing => (StatusCode::UNAUTHORIZED, 40101),
            TokenError::Invalid => (StatusCode::UNAUTHORIZED, 40102),
            TokenError::Expired => (StatusCode::UNAUTHORIZED, 40103),
            TokenError::Revoked | TokenError::Inactive => (StatusCode::UNAUTHORIZED, 40104),
            TokenError::RefreshAsAccess => (StatusCode::UNAUTHORIZED, 40105),
            TokenError::Db(db) => {
                tracing::error!(error = %db, "database failure while checking a token");
                return ApiError::unavailable();
            }
        };
        ApiError::new(status, code, error.to_string())
    }
}

/// An error page for a person, in their language, always with a link back to the login page.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub lang: Lang,
    pub title: &'static str,
    pub message: String,
    /// Where the page's button leads, and its label (the login page by default).
    pub back: (&'static str, &'static str),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    lang: Lang,
    title: &'a str,
    message: &'a str,
    status: u16,
    back_href: &'a str,
    back_label: &'a str,
}

impl PageError {
    pub fn new(
        status: StatusCode,
        lang: Lang,
        title: &'static str,
        message: impl Into<String>,
    ) -> PageError {
        let back = ("/login", lang.t("返回登录", "Back to login"));
        PageError {
            status,
            lang,
            title,
            message: message.into(),
            back,
        }
    }

    pub fn with_back(mut self, href: &'static str, label: &'static str) -> PageError {
        self.back = (href, label);
        self
    }

    /// A form arrived without its CSRF token (or with another session's): logged as a
    /// security event, answered with a page that asks to reload.
    pub fn csrf_rejected(lang: Lang, form: &'static str) -> PageError {
        tracing::warn!(
            security_event = "csrf_rejected",
            form,
            "form without a valid CSRF token"
        );
        PageError::new(
            StatusCode::FORBIDDEN,
            lang,
            lang.t("页面已过期", "Page expired"),
            lang.t(
                "页面已过期，请刷新后重试。",
                "This page has expired. Please reload it and try again.",
            ),
        )
    }

    pub fn unavailable(lang: Lang) -> PageError {
        PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            lang.t("服务暂时不可用", "Service unavailable"),
            lang.t(
                "服务暂时不可用，请稍后再试。",
                "The service is temporarily unavailable. Please try again in a moment.",
            ),
        )
    }

    pub fn from_db(error: DbError, lang: Lang) -> PageError {
        tracing::error!(error = %error, "database failure");
        PageError::unavailable(lang)
    }

    pub fn from_provider(error: ProviderError, lang: Lang) -> PageError {
        // The provider's own code and request id are logged (never the code or a token).
        tracing::warn!(error = %error, "DingTalk sign-in failed");
        let title = lang.t("钉钉登录失败", "DingTalk sign-in failed");
        match error {
            ProviderError::CodeRejected { .. } => PageError::new(
                StatusCode::BAD_REQUEST,
                lang,
                title,
                lang.t("钉钉授权码无效或已过期，请重新登录。", "The DingTalk authorization code is invalid or has expired. Please sign in again."),
            ),
            ProviderError::PermissionDenied { .. } => PageError::new(
                StatusCode::BAD_GATEWAY,
                lang,
                title,
                lang.t(
                    "钉钉拒绝读取您的账号信息：应用缺少通讯录个人信息读权限（Contact.User.Read）。请联系管理员。",
                    "DingTalk refused to share your profile: the app lacks the Contact.User.Read permission. Please contact the administrator.",
                ),
            ),
            ProviderError::Timeout { .. } | ProviderError::Unreachable { .. } | ProviderError::Upstream { .. } => {
                PageError::new(
                    StatusCode::BAD_GATEWAY,
                    lang,
                    title,
                    lang.t("暂时无法连接钉钉，请稍后再试。", "DingTalk could not be reached. Please try again in a moment."),
                )
            }
            ProviderError::Malformed { .. } => PageError::new(
                StatusCode::BAD_GATEWAY,
                lang,
                title,
                lang.t("钉钉返回了无法识别的数据，请稍后再试。", "DingTalk answered with something unexpected. Please try again in a moment."),
            ),
        }
    }

    pub fn from_account(error: AccountError, lang: Lang) -> PageError {
        match error {
            AccountError::Inactive => PageError::new(
                StatusCode::FORBIDDEN,
                lang,
                lang.t("账号已停用", "Account deactivated"),
                lang.t(
                    "您的账号已被停用，请联系管理员。",
                    "Your account has been deactivated. Please contact the administrator.",
                ),
            ),
            AccountError::Db(db) => PageError::from_db(db, lang),
            other => {
                tracing::error!(error = %other, "account failure during sign-in");
                PageError::unavailable(lang)
            }
        }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.title)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let page = ErrorPage {
            lang: self.lang,
            title: self.title,
            message: &self.message,
            status: self.status.as_u16(),
            back_href: self.back.0,
            back_label: self.back.1,
        };
        let body = page.render().unwrap_or_else(|_| self.message.clone());
        HttpResponse::build(self.status)
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body)
    }
}
