//! Pages for people: a title, a message and a way back, in their language.

use std::borrow::Cow;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::{log_db, retry_seconds};
use crate::accounts::AccountError;
use crate::db::DbError;
use crate::domain::ProviderKind;
use crate::i18n::Lang;
use crate::login::{LoginError, PasswordCheckError};
use crate::providers::ProviderError;

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
            ProviderError::Timeout { .. } | ProviderError::Unreachable { .. } | ProviderError::Upstream { .. } | ProviderError::OrganisationApi { .. } | ProviderError::PermissionMissing { .. } => page(
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
