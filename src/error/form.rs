//! A form shown again with why it was refused.

use std::time::Duration;

use actix_web::http::StatusCode;

use super::PageError;
use crate::accounts::{AccountError, PasswordError};
use crate::i18n::Lang;
use crate::login::LoginError;

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
            (LoginError::Refused(refused), _) => match invalid_input(&refused, lang) {
                Some(refusal) => refusal,
                None => {
                    tracing::error!(error = %refused, "account change failed");
                    return Err(PageError::unavailable(lang));
                }
            },
            (LoginError::Db(db), _) => return Err(PageError::from_db(db, lang)),
            (other, _) => {
                tracing::error!(error = %other, "account change failed");
                return Err(PageError::unavailable(lang));
            }
        };
        Ok(FormRefusal::new(refusal.0, refusal.1))
    }
}

/// What a person typed that the account rules refused: the status and the message.
fn invalid_input(error: &AccountError, lang: Lang) -> Option<(StatusCode, &'static str)> {
    use StatusCode as S;
    Some(match error {
        AccountError::Password(PasswordError::TooShort) => (
            S::BAD_REQUEST,
            lang.t(
                "密码至少需要 8 个字符。",
                "The password needs at least 8 characters.",
            ),
        ),
        AccountError::Password(PasswordError::TooLong) => (
            S::BAD_REQUEST,
            lang.t("密码过长。", "The password is too long."),
        ),
        AccountError::UsernameTaken(_) => (
            S::CONFLICT,
            lang.t("用户名已被占用。", "This username is taken."),
        ),
        AccountError::PhoneTaken(_) => (
            S::CONFLICT,
            lang.t(
                "该手机号已属于另一个用户。",
                "This phone number belongs to another user.",
            ),
        ),
        AccountError::InvalidUsername(_) => (
            S::BAD_REQUEST,
            lang.t(
                "用户名无效（1–64 个字符，不含空格）。",
                "Invalid username (1–64 characters, no spaces).",
            ),
        ),
        AccountError::InvalidName => (
            S::BAD_REQUEST,
            lang.t(
                "姓名无效（最多 64 个字符，不含控制字符）。",
                "Invalid name (at most 64 characters, no control characters).",
            ),
        ),
        AccountError::InvalidPhone(_) => (
            S::BAD_REQUEST,
            lang.t("手机号无效。", "Invalid phone number."),
        ),
        _ => return None,
    })
}
