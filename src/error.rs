//! The one place errors become responses: an HTML page for people (with a way back) or
//! `{"code", "msg"}` JSON for programs, each with its status and headers (`Retry-After`,
//! `WWW-Authenticate`). Every domain error — database, token, login, account, provider,
//! OAuth round trip — is mapped here and logged here once, with its cause; what the client
//! sees never holds a stack trace or internal detail. Handlers only choose JSON or a page.
//! The OpenID provider's endpoints answer in the format their RFCs fix instead:
//! `{"error", "error_description"}` (RFC 6749 §5.2, RFC 6750 §3).

use std::borrow::Cow;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::accounts::{AccountError, PasswordError};
use crate::db::DbError;
use crate::domain::ProviderKind;
use crate::i18n::Lang;
use crate::login::{LoginError, PasswordCheckError};
use crate::oidc::OAuthError;
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
    NotFound = 40401,
    MethodNotAllowed = 40501,
    ProofNeeded = 40901,
    TooManyFailures = 42901,
    TooManyRequests = 42902,
    HeaderTooLarge = 43101,
    ProviderUnavailable = 50201,
    Unavailable = 50301,
    Busy = 50302,
}

impl ApiCode {
    pub const ALL: [ApiCode; 22] = [
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
        ApiCode::NotFound,
        ApiCode::MethodNotAllowed,
        ApiCode::ProofNeeded,
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
        StatusCode::from_u16((self.number() / 100) as u16).expect("codes start with a status")
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

/// `Retry-After` in whole seconds, at least one.
pub(crate) fn retry_seconds(wait: Duration) -> u64 {
    wait.as_secs().max(1)
}

/// While the database is known down or its queue is full, each refused request is not
/// news: the state was logged once when it began (`db::pool`).
fn log_db(error: &DbError) {
    match error {
        DbError::Down | DbError::Busy => tracing::debug!(error = %error, "database failure"),
        DbError::Timeout => tracing::warn!(error = %error, "database failure"),
        _ => tracing::error!(error = %error, "database failure"),
    }
}

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

/// An error page for a person, in their language, always with a link back.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub lang: Lang,
    pub title: Cow<'static, str>,
    pub message: Cow<'static, str>,
    /// Where the page's button leads, and its label (the login page by default).
    pub back: (&'static str, &'static str),
    retry_after: Option<Duration>,
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
        title: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> PageError {
        let back = ("/login", lang.t("返回登录", "Back to login"));
        PageError {
            status,
            lang,
            title: title.into(),
            message: message.into(),
            back,
            retry_after: None,
        }
    }

    pub fn with_back(mut self, href: &'static str, label: &'static str) -> PageError {
        self.back = (href, label);
        self
    }

    /// Back to "my account" instead of the login page.
    pub fn back_to_account(self) -> PageError {
        let label = self.lang.t("返回我的账号", "Back to my account");
        self.with_back("/account", label)
    }

    /// Back to the admin's list of accounts.
    pub fn back_to_accounts_list(self) -> PageError {
        let label = self.lang.t("返回账号列表", "Back to accounts");
        self.with_back("/admin/accounts", label)
    }

    /// A form arrived without its CSRF token (or with another session's): logged as a
    /// security event, answered with a page that asks to reload.
    pub fn csrf_rejected(lang: Lang, form: &str) -> PageError {
        tracing::warn!(
            event = "csrf_rejected",
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

    /// Something of ours failed (a page that did not render, a session cookie that could
    /// not be written): logged with its cause, shown as "unavailable".
    pub fn internal(lang: Lang, what: &str, error: &dyn std::fmt::Display) -> PageError {
        tracing::error!(error = %error, "{what} failed");
        PageError::unavailable(lang)
    }

    pub fn admins_only(lang: Lang) -> PageError {
        PageError::new(
            StatusCode::FORBIDDEN,
            lang,
            lang.t("没有权限", "Not allowed"),
            lang.t(
                "此页面仅限管理员访问。",
                "This page is for administrators only.",
            ),
        )
        .back_to_account()
    }

    /// No such page (404), or not with this method (405).
    pub fn no_such_route(lang: Lang, status: StatusCode) -> PageError {
        let (title, message) = if status == StatusCode::METHOD_NOT_ALLOWED {
            (
                lang.t("不支持的请求方式", "Method not allowed"),
                lang.t(
                    "此地址不接受这种请求。",
                    "This address does not accept this kind of request.",
                ),
            )
        } else {
            (
                lang.t("页面不存在", "Page not found"),
                lang.t("没有这个页面。", "There is no such page."),
            )
        };
        PageError::new(status, lang, title, message)
    }

    /// A form that could not be read (too large, cut off, not a form).
    pub fn bad_form(lang: Lang, error: &dyn std::fmt::Display) -> PageError {
        tracing::info!(error = %error, "unreadable form");
        PageError::new(
            StatusCode::BAD_REQUEST,
            lang,
            lang.t("无法处理的表单", "Unreadable form"),
            lang.t(
                "表单不完整或过大，请返回后重试。",
                "The form arrived incomplete or too large. Please go back and try again.",
            ),
        )
    }

    /// A session cookie far bigger than any we write: refused before it is read.
    pub fn cookie_too_large(lang: Lang) -> PageError {
        PageError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            lang,
            lang.t("Cookie 过大", "Cookie too large"),
            lang.t(
                "浏览器发送的 Cookie 过大，已被清除。请重新打开登录页。",
                "Your browser sent an oversized cookie; it has been cleared. Please open the login page again.",
            ),
        )
    }

    pub fn too_many_requests(lang: Lang, wait: Duration) -> PageError {
        let mut page = PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            lang,
            lang.t("请求过于频繁", "Too many requests"),
            lang.t(
                "请求过于频繁，请稍后再试。",
                "Too many requests. Please try again in a minute.",
            ),
        );
        page.retry_after = Some(wait);
        page
    }

    pub fn from_db(error: DbError, lang: Lang) -> PageError {
        log_db(&error);
        PageError::unavailable(lang)
    }

    /// A provider's answer that did not name a person; `kind` says which provider.
    pub fn from_provider(error: ProviderError, kind: ProviderKind, lang: Lang) -> PageError {
        // The provider's own code and request id are logged (never the code or a token).
        tracing::warn!(provider = %kind, error = %error, "provider sign-in failed");
        let name = kind.label(lang);
        let title = lang.pick(format!("{name}登录失败"), format!("{name} sign-in failed"));
        let page = |status, zh: String, en: String| {
            PageError::new(status, lang, title.clone(), lang.pick(zh, en))
        };
        match error {
            ProviderError::CodeRejected { .. } => page(
                StatusCode::BAD_REQUEST,
                format!("{name}授权码无效或已使用，请重新登录。"),
                format!("The {name} authorization code is invalid, used or expired. Please sign in again."),
            ),
            ProviderError::Unverified { .. } => {
                tracing::warn!(event = "provider_token_unverified", provider = %kind, "a provider token named another person or app");
                page(
                    StatusCode::BAD_REQUEST,
                    format!("无法确认{name}账号的身份，请重新登录。"),
                    format!("Your {name} account could not be confirmed. Please sign in again."),
                )
            }
            ProviderError::PermissionDenied { .. } => page(
                StatusCode::BAD_GATEWAY,
                "钉钉拒绝读取您的账号信息：应用缺少通讯录个人信息读权限（Contact.User.Read）。请联系管理员。".into(),
                "DingTalk refused to share your profile: the app lacks the Contact.User.Read permission. Please contact the administrator.".into(),
            ),
            ProviderError::Timeout { .. } | ProviderError::Unreachable { .. } | ProviderError::Upstream { .. } | ProviderError::OrganisationApi { .. } => page(
                StatusCode::BAD_GATEWAY,
                format!("暂时无法连接{name}，请稍后再试。"),
                format!("{name} could not be reached. Please try again in a moment."),
            ),
            ProviderError::NotInOrganisation { .. } | ProviderError::NotAMember { .. } | ProviderError::NotVisible => PageError::new(
                StatusCode::FORBIDDEN,
                lang,
                lang.t("仅限本企业成员", "Members only"),
                lang.t(
                    "此服务仅限本企业（组织）的成员使用。请在钉钉授权时选择本企业，或使用企业的钉钉账号登录。",
                    "This service is only for members of its organisation. Choose the organisation when DingTalk asks, or sign in with your company's DingTalk account.",
                ),
            ),
            ProviderError::Malformed { .. } => page(
                StatusCode::BAD_GATEWAY,
                format!("{name}返回了无法识别的数据，请稍后再试。"),
                format!("{name} answered with something unexpected. Please try again in a moment."),
            ),
        }
    }

    fn inactive(lang: Lang) -> PageError {
        PageError::new(
            StatusCode::FORBIDDEN,
            lang,
            lang.t("账号已停用", "Account deactivated"),
            lang.t(
                "您的账号已被停用，请联系管理员。",
                "Your account has been deactivated. Please contact the administrator.",
            ),
        )
    }

    /// Too much at once: "busy, try again" with `Retry-After`.
    pub fn busy(lang: Lang) -> PageError {
        tracing::warn!("shedding load: too many requests of one kind at once");
        let mut page = PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            lang.t("服务繁忙", "Busy"),
            lang.t(
                "同时登录的人太多，请稍后再试。",
                "Too many people are signing in at this moment. Please try again shortly.",
            ),
        );
        page.retry_after = Some(Duration::from_secs(1));
        page
    }

    /// A login (password or provider) that did not end in a signed-in person.
    pub fn from_login(error: LoginError, lang: Lang) -> PageError {
        match error {
            LoginError::Inactive => PageError::inactive(lang),
            LoginError::PasswordChecks(PasswordCheckError::Busy) => PageError::busy(lang),
            LoginError::Refused(AccountError::SignupClosed) => {
                tracing::info!(
                    event = "signup_closed",
                    "an unknown person was refused (bind-only)"
                );
                PageError::new(
                    StatusCode::FORBIDDEN,
                    lang,
                    lang.t("尚未开通账号", "No account yet"),
                    lang.t(
                        "您还没有本系统的账号。请联系管理员为您开通后再登录。",
                        "You have no account here yet. Ask your administrator to add you, then sign in again.",
                    ),
                )
            }
            LoginError::Db(db) => PageError::from_db(db, lang),
            other => {
                tracing::error!(error = %other, "sign-in failed");
                PageError::unavailable(lang)
            }
        }
    }

    /// The callback of "link a provider" on the account page did not link.
    pub fn from_linking(error: LoginError, lang: Lang) -> PageError {
        let refused = |zh: String, en: String| {
            PageError::new(
                StatusCode::CONFLICT,
                lang,
                lang.t("绑定失败", "Linking failed"),
                lang.pick(zh, en),
            )
            .back_to_account()
        };
        match error {
            LoginError::Refused(AccountError::LinkedElsewhere(kind)) => {
                let name = kind.label(lang);
                refused(
                    format!("该{name}账号已绑定其他用户，无法绑定到当前账号。"),
                    format!(
                        "This {name} account already belongs to another user and cannot be linked to yours."
                    ),
                )
            }
            LoginError::Refused(AccountError::AlreadyLinked(kind)) => {
                let name = kind.label(lang);
                refused(
                    format!("您的账号已绑定一个{name}账号，请先解绑。"),
                    format!("Your account already has a {name} account linked. Unlink it first."),
                )
            }
            LoginError::Db(db) => PageError::from_db(db, lang),
            other => {
                tracing::warn!(error = %other, "linking refused");
                refused(
                    "登录状态已失效，请重新登录后再绑定。".into(),
                    "Your session has ended. Please sign in again and retry.".into(),
                )
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
            title: &self.title,
            message: &self.message,
            status: self.status.as_u16(),
            back_href: self.back.0,
            back_label: self.back.1,
        };
        let body = page.render().unwrap_or_else(|_| self.message.to_string());
        let mut response = HttpResponse::build(self.status);
        if let Some(wait) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, retry_seconds(wait)));
        }
        response
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body)
    }
}

/// A refusal shown on the form it came from (login, account, admin user page), instead of
/// an error page: its status, its sentence, and `Retry-After` when waiting helps.
#[derive(Debug)]
pub struct FormRefusal {
    pub status: StatusCode,
    pub message: &'static str,
    pub retry_after: Option<Duration>,
}

/// Whose account a form acts on: the sentences differ ("your only way" / "the user's").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    Own,
    Other,
}

impl FormRefusal {
    fn new(status: StatusCode, message: &'static str) -> FormRefusal {
        FormRefusal {
            status,
            message,
            retry_after: None,
        }
    }

    /// The login form's own refusals; anything else becomes an error page.
    pub fn from_login(error: LoginError, lang: Lang) -> Result<FormRefusal, PageError> {
        Ok(match error {
            LoginError::BadCredentials => FormRefusal::new(
                StatusCode::UNAUTHORIZED,
                lang.t("用户名或密码错误。", "Wrong username or password."),
            ),
            LoginError::Throttled(wait) => FormRefusal {
                retry_after: Some(wait),
                ..FormRefusal::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    lang.t(
                        "失败次数过多，请稍后再试。",
                        "Too many failed attempts. Please try again later.",
                    ),
                )
            },
            other => return Err(PageError::from_login(other, lang)),
        })
    }

    /// The login form without a valid CSRF token: shown again, to be submitted again.
    pub fn expired_login_form(lang: Lang) -> FormRefusal {
        tracing::warn!(
            event = "csrf_rejected",
            form = "login",
            "login form without a valid CSRF token"
        );
        FormRefusal::new(
            StatusCode::FORBIDDEN,
            lang.t(
                "页面已过期，请重新提交。",
                "This page has expired. Please submit it again.",
            ),
        )
    }

    pub fn passwords_differ(lang: Lang) -> FormRefusal {
        FormRefusal::new(
            StatusCode::BAD_REQUEST,
            lang.t("两次输入的密码不一致。", "The two passwords differ."),
        )
    }

    /// A change to an account (unlink, password, admin action) that a rule refused.
    pub fn from_change(
        error: LoginError,
        lang: Lang,
        whose: Whose,
    ) -> Result<FormRefusal, PageError> {
        use StatusCode as S;
        let refusal = match (error, whose) {
            (LoginError::Refused(AccountError::LastLoginMethod), Whose::Own) => (
                S::CONFLICT,
                lang.t(
                    "这是您唯一的登录方式，请先设置密码再解绑。",
                    "This is your only way to log in. Set a password before unlinking it.",
                ),
            ),
            (LoginError::Refused(AccountError::LastLoginMethod), Whose::Other) => (
                S::CONFLICT,
                lang.t(
                    "这是该用户唯一的登录方式（没有密码），不能解绑。",
                    "This is the user's only way to log in (no password); it cannot be unlinked.",
                ),
            ),
            (LoginError::Refused(AccountError::SelfLockout), _) => (
                S::CONFLICT,
                lang.t(
                    "不能停用自己或撤销自己的管理员权限。",
                    "You cannot deactivate yourself or remove your own admin role.",
                ),
            ),
            (LoginError::Refused(AccountError::Password(PasswordError::TooShort)), _) => (
                S::BAD_REQUEST,
                lang.t(
                    "密码至少需要 8 个字符。",
                    "The password needs at least 8 characters.",
                ),
            ),
            (LoginError::Refused(AccountError::Password(PasswordError::TooLong)), _) => (
                S::BAD_REQUEST,
                lang.t("密码过长。", "The password is too long."),
            ),
            (LoginError::Refused(AccountError::UsernameTaken(_)), _) => (
                S::CONFLICT,
                lang.t("用户名已被占用。", "This username is taken."),
            ),
            (LoginError::Refused(AccountError::PhoneTaken(_)), _) => (
                S::CONFLICT,
                lang.t(
                    "该手机号已属于另一个用户。",
                    "This phone number belongs to another user.",
                ),
            ),
            (LoginError::Refused(AccountError::InvalidUsername(_)), _) => (
                S::BAD_REQUEST,
                lang.t(
                    "用户名无效（1–64 个字符，不含空格）。",
                    "Invalid username (1–64 characters, no spaces).",
                ),
            ),
            (LoginError::Refused(AccountError::InvalidName), _) => (
                S::BAD_REQUEST,
                lang.t(
                    "姓名无效（最多 64 个字符，不含控制字符）。",
                    "Invalid name (at most 64 characters, no control characters).",
                ),
            ),
            (LoginError::Refused(AccountError::InvalidPhone(_)), _) => (
                S::BAD_REQUEST,
                lang.t("手机号无效。", "Invalid phone number."),
            ),
            (LoginError::BadCredentials, _) => (
                S::BAD_REQUEST,
                lang.t("当前密码不正确。", "The current password is wrong."),
            ),
            (LoginError::Refused(AccountError::NotFound), Whose::Own) => (
                S::NOT_FOUND,
                lang.t("没有找到该绑定。", "No such linked account."),
            ),
            (LoginError::Refused(AccountError::NotFound), Whose::Other) => (
                S::CONFLICT,
                lang.t("没有找到该用户或绑定。", "No such user or linked account."),
            ),
            (LoginError::Db(db), _) => return Err(PageError::from_db(db, lang)),
            (other, _) => {
                tracing::error!(error = %other, "account change failed");
                return Err(PageError::unavailable(lang));
            }
        };
        Ok(FormRefusal::new(refusal.0, refusal.1))
    }
}

#[cfg(test)]
mod tests {
    use super::ApiCode;

    /// The README's table of codes and this enum say the same thing.
    #[test]
    fn api_codes_match_the_readme() {
        let readme = include_str!("../README.md");
        let mut documented: Vec<(u16, u32)> = readme
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let status = cells.get(1)?.parse::<u16>().ok()?;
                let code = cells.get(2)?.parse::<u32>().ok()?;
                (code / 100 == u32::from(status)).then_some((status, code))
            })
            .collect();
        documented.sort();
        let mut ours: Vec<(u16, u32)> = ApiCode::ALL
            .iter()
            .map(|c| (c.status().as_u16(), c.number()))
            .collect();
        ours.sort();
        assert_eq!(documented, ours);
    }
}
