//! "My account": profile, linked accounts, link / unlink DingTalk, set a password.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::csrf;
use super::dingtalk::{Provider, begin};
use super::i18n::Lang;
use super::page_auth::SignedIn;
use super::pages::render_page;
use super::password_login::PasswordChecks;
use super::session::TypedSession;
use crate::accounts::{self, AccountError, PROVIDER_DINGTALK, PasswordError};
use crate::config::Settings;
use crate::db::models::{LinkedAccount, User};
use crate::db::{self, DbError, DbPool, users};
use crate::error::PageError;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    lang: Lang,
    csrf: &'a str,
    user: &'a User,
    links: &'a [LinkedAccount],
    has_dingtalk: bool,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct AccountQuery {
    done: Option<String>,
}

fn notice(lang: Lang, done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "linked" => lang.t("已绑定钉钉账号。", "Your DingTalk account is linked."),
        "unlinked" => lang.t("已解除绑定。", "The account was unlinked."),
        "password" => lang.t("密码已设置。", "Your password is set."),
        _ => return None,
    })
}

async fn render(
    lang: Lang,
    session: &TypedSession,
    pool: &DbPool,
    user: User,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let userid = user.id;
    let links = db::run::<_, DbError, _>(pool, move |conn| users::links_of(conn, userid))
        .await
        .map_err(|e| PageError::from_db(e, lang))?;
    let csrf = csrf::token(session);
    let has_dingtalk = links.iter().any(|l| l.types == PROVIDER_DINGTALK);
    let page = AccountPage {
        lang,
        csrf: &csrf,
        user: &user,
        links: &links,
        has_dingtalk,
        notice,
        error,
    };
    render_page(lang, &page, status)
}

/// `GET /account`.
pub async fn account(
    req: HttpRequest,
    signed_in: SignedIn,
    session: TypedSession,
    query: web::Query<AccountQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::from_request(&req);
    render(
        lang,
        &session,
        &pool,
        signed_in.0.user,
        notice(lang, query.done.as_deref()),
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

fn csrf_refused(lang: Lang) -> PageError {
    PageError::csrf_rejected(lang, "account")
        .with_back("/account", lang.t("返回我的账号", "Back to my account"))
}

/// `POST /account/link/dingtalk`: starts the DingTalk flow in linking mode.
pub async fn link_dingtalk(
    req: HttpRequest,
    signed_in: SignedIn,
    session: TypedSession,
    form: web::Form<CsrfForm>,
    provider: web::Data<Provider>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::from_request(&req);
    if !csrf::verify(&session, form.csrf.as_deref()) {
        return Err(csrf_refused(lang));
    }
    let url = begin(
        &session,
        &provider,
        &settings,
        None,
        Some(signed_in.0.user.id),
    )
    .map_err(|e| {
        tracing::error!(error = %e, "storing the OAuth state failed");
        PageError::unavailable(lang)
    })?;
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, url))
        .finish())
}

#[derive(Deserialize)]
pub struct UnlinkForm {
    csrf: Option<String>,
    provider: i32,
}

/// `POST /account/unlink`.
pub async fn unlink(
    req: HttpRequest,
    signed_in: SignedIn,
    session: TypedSession,
    form: web::Form<UnlinkForm>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::from_request(&req);
    if !csrf::verify(&session, form.csrf.as_deref()) {
        return Err(csrf_refused(lang));
    }
    let (userid, provider) = (signed_in.0.user.id, form.provider);
    match db::run(&pool, move |conn| accounts::unlink(conn, userid, provider)).await {
        Ok(()) => {
            tracing::info!(
                security_event = "unlink",
                userid,
                provider,
                "unlinked an account"
            );
            Ok(HttpResponse::SeeOther()
                .insert_header((LOCATION, "/account?done=unlinked"))
                .finish())
        }
        Err(AccountError::LastLoginMethod) => {
            let message = lang.t(
                "这是您唯一的登录方式，请先设置密码再解绑。",
                "This is your only way to log in. Set a password before unlinking it.",
            );
            render(
                lang,
                &session,
                &pool,
                signed_in.0.user,
                None,
                Some(message),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(AccountError::Db(e)) => Err(PageError::from_db(e, lang)),
        Err(other) => {
            tracing::warn!(error = %other, "unlink refused");
            let message = lang.t("没有找到该绑定。", "No such linked account.");
            render(
                lang,
                &session,
                &pool,
                signed_in.0.user,
                None,
                Some(message),
                StatusCode::NOT_FOUND,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: Option<String>,
    current: Option<String>,
    password: String,
    confirm: String,
}

/// `POST /account/password`: set a first password, or change it with the current one.
pub async fn set_password(
    req: HttpRequest,
    signed_in: SignedIn,
    session: TypedSession,
    form: web::Form<PasswordForm>,
    pool: web::Data<DbPool>,
    checks: web::Data<PasswordChecks>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::from_request(&req);
    if !csrf::verify(&session, form.csrf.as_deref()) {
        return Err(csrf_refused(lang));
    }
    let user = signed_in.0.user;
    if form.password != form.confirm {
        let message = lang.t("两次输入的密码不一致。", "The two passwords differ.");
        return render(
            lang,
            &session,
            &pool,
            user,
            None,
            Some(message),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let form = form.into_inner();
    let userid = user.id;
    let checked = user.clone();
    let hashed = checks
        .run(move || accounts::new_password_hash(&checked, form.current.as_deref(), &form.password))
        .await
        .map_err(|e| PageError::from_db(e, lang))?;
    let result = match hashed {
        Ok(hash) => db::run::<_, DbError, _>(&pool, move |conn| {
            users::set_password_hash(conn, userid, &hash)
        })
        .await
        .map(|_| ())
        .map_err(AccountError::Db),
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => {
            tracing::info!(security_event = "password_set", userid, "password set");
            Ok(HttpResponse::SeeOther()
                .insert_header((LOCATION, "/account?done=password"))
                .finish())
        }
        Err(AccountError::Db(e)) => Err(PageError::from_db(e, lang)),
        Err(error) => {
            let message = match error {
                AccountError::Password(PasswordError::TooShort) => lang.t(
                    "密码至少需要 8 个字符。",
                    "The password needs at least 8 characters.",
                ),
                AccountError::Password(PasswordError::TooLong) => {
                    lang.t("密码过长。", "The password is too long.")
                }
                _ => lang.t("当前密码不正确。", "The current password is wrong."),
            };
            render(
                lang,
                &session,
                &pool,
                user,
                None,
                Some(message),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}
