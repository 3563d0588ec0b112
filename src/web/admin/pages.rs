//! The administrators' pages: all users with their linked accounts, one user's details,
//! sessions and audit trail, and actions (each a CSRF-protected POST after a confirmation page).

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::ListQuery;
use crate::accounts::AdminAction;
use crate::accounts::{LinkedAccount, User};
use crate::admin::{AdminService, AuditEntry, Counts, LoginSession, PAGE_SIZE, UserDetails};
use crate::domain::UserId;
use crate::error::{FormRefusal, PageError, Whose};
use crate::i18n::Lang;
use crate::login::LoginError;
use crate::web::auth::Admin;
use crate::web::extract::{CsrfForm, CsrfProtected};
use crate::web::render::{render_form_page, render_page};
use crate::web::session::TypedSession;

#[derive(Template)]
#[template(path = "admin_accounts.html")]
struct AccountsTemplate<'a> {
    lang: Lang,
    csrf: &'a str,
    me: &'a User,
    q: &'a str,
    page: i64,
    pages: i64,
    counts: &'a Counts,
    users: &'a [(User, Vec<LinkedAccount>)],
    error: Option<&'a str>,
}

impl AccountsTemplate<'_> {
    fn page_link(&self, page: i64) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("q", self.q)
            .append_pair("page", &page.to_string())
            .finish()
    }
}

/// `GET /admin/accounts?q=&page=`.
pub async fn accounts(
    lang: Lang,
    Admin(admin): Admin,
    session: TypedSession,
    query: web::Query<ListQuery>,
    console: web::Data<AdminService>,
) -> Result<HttpResponse, PageError> {
    render_accounts(lang, &admin.user, &session, &console, query.parts(), None).await
}

async fn render_accounts(
    lang: Lang,
    me: &User,
    session: &TypedSession,
    console: &AdminService,
    (q, page): (String, i64),
    refusal: Option<FormRefusal>,
) -> Result<HttpResponse, PageError> {
    let (list, counts) = console
        .accounts(q.clone(), page)
        .await
        .map_err(|e| PageError::from_db(e, lang))?;
    let pages = ((list.total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let csrf = session.csrf_token();
    let template = AccountsTemplate {
        lang,
        csrf: &csrf,
        me,
        q: &q,
        page,
        pages,
        counts: &counts,
        users: &list.users,
        error: refusal.as_ref().map(|r| r.message),
    };
    render_form_page(lang, &template, refusal.as_ref())
}

#[derive(Deserialize)]
pub struct CreateUserForm {
    username: String,
    name: Option<String>,
    phone: String,
}

impl CsrfProtected for CreateUserForm {
    const FORM: &'static str = "create user";
}

/// `POST /admin/users`: a provider-only user (a phone, no password), audited.
pub async fn create_user(
    lang: Lang,
    Admin(admin): Admin,
    session: TypedSession,
    CsrfForm(form): CsrfForm<CreateUserForm>,
    console: web::Data<AdminService>,
) -> Result<HttpResponse, PageError> {
    let name = form.name.filter(|n| !n.trim().is_empty());
    let username = form.username.trim().to_owned();
    let created = console
        .create_user(admin.user.clone(), username, name, form.phone)
        .await;
    match created {
        Ok(user) => Ok(HttpResponse::SeeOther()
            .insert_header((LOCATION, format!("/admin/users/{}", user.id)))
            .finish()),
        Err(error) => {
            let refusal = FormRefusal::from_change(LoginError::from(error), lang, Whose::Other)?;
            let list = (String::new(), 1);
            render_accounts(lang, &admin.user, &session, &console, list, Some(refusal)).await
        }
    }
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserTemplate<'a> {
    lang: Lang,
    user: &'a User,
    links: &'a [LinkedAccount],
    sessions: &'a [LoginSession],
    audit: &'a [AuditEntry],
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct UserQuery {
    done: Option<String>,
}

async fn load_user(
    console: &AdminService,
    id: UserId,
    lang: Lang,
) -> Result<UserDetails, PageError> {
    let details = console
        .user(id)
        .await
        .map_err(|e| PageError::from_db(e, lang))?;
    details.ok_or_else(|| {
        PageError::new(
            StatusCode::NOT_FOUND,
            lang,
            lang.t("没有这个用户", "No such user"),
            lang.t("该用户不存在。", "This user does not exist."),
        )
        .back_to_accounts_list()
    })
}

async fn render_user(
    lang: Lang,
    console: &AdminService,
    id: UserId,
    notice: Option<&str>,
    refusal: Option<FormRefusal>,
) -> Result<HttpResponse, PageError> {
    let UserDetails {
        user,
        links,
        sessions: active,
        audit,
    } = load_user(console, id, lang).await?;
    let template = UserTemplate {
        lang,
        user: &user,
        links: &links,
        sessions: &active,
        audit: &audit,
        notice,
        error: refusal.as_ref().map(|r| r.message),
    };
    render_form_page(lang, &template, refusal.as_ref())
}

/// `GET /admin/users/{id}`.
pub async fn user(
    lang: Lang,
    _admin: Admin,
    path: web::Path<UserId>,
    query: web::Query<UserQuery>,
    console: web::Data<AdminService>,
) -> Result<HttpResponse, PageError> {
    let notice = query
        .done
        .as_deref()
        .and_then(|done| AdminAction::parse(done, None))
        .map(|_| lang.t("操作已完成。", "Done."));
    render_user(lang, &console, path.into_inner(), notice, None).await
}

#[derive(Deserialize)]
pub struct ActionQuery {
    action: String,
    provider: Option<i32>,
}

#[derive(Template)]
#[template(path = "admin_confirm.html")]
struct ConfirmTemplate<'a> {
    lang: Lang,
    csrf: &'a str,
    user: &'a User,
    action: &'a str,
    provider: i32,
    question: &'a str,
}

fn question(lang: Lang, action: AdminAction) -> String {
    let fixed = |zh: &str, en: &str| lang.t(zh, en).to_owned();
    match action {
        AdminAction::Unlink(kind) => {
            let name = kind.label(lang);
            lang.pick(
                format!("解除该用户的{name}绑定？"),
                format!("Unlink this user's {name} account?"),
            )
        }
        AdminAction::EndSessions => fixed(
            "结束该用户的所有登录会话？",
            "End all of this user's sessions?",
        ),
        AdminAction::Deactivate => fixed(
            "停用该用户？其所有会话将立即失效。",
            "Deactivate this user? All their sessions end at once.",
        ),
        AdminAction::Reactivate => fixed("重新启用该用户？", "Reactivate this user?"),
        AdminAction::GrantAdmin => {
            fixed("授予该用户管理员权限？", "Make this user an administrator?")
        }
        AdminAction::RevokeAdmin => fixed(
            "撤销该用户的管理员权限？",
            "Remove this user's administrator role?",
        ),
    }
}

fn unknown_action(lang: Lang) -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        lang,
        lang.t("无效的操作", "Unknown action"),
        lang.t("无效的操作。", "This action does not exist."),
    )
    .back_to_accounts_list()
}

/// `GET /admin/users/{id}/confirm?action=..`: the confirmation step (changes nothing).
pub async fn confirm(
    lang: Lang,
    _admin: Admin,
    session: TypedSession,
    path: web::Path<UserId>,
    query: web::Query<ActionQuery>,
    console: web::Data<AdminService>,
) -> Result<HttpResponse, PageError> {
    let action =
        AdminAction::parse(&query.action, query.provider).ok_or_else(|| unknown_action(lang))?;
    let UserDetails { user, .. } = load_user(&console, path.into_inner(), lang).await?;
    let csrf = session.csrf_token();
    let provider = match action {
        AdminAction::Unlink(types) => types.number(),
        _ => 0,
    };
    let template = ConfirmTemplate {
        lang,
        csrf: &csrf,
        user: &user,
        action: action.name(),
        provider,
        question: &question(lang, action),
    };
    render_page(lang, &template, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct ActionForm {
    action: String,
    provider: Option<i32>,
}

impl CsrfProtected for ActionForm {
    const FORM: &'static str = "admin action";
}

/// `POST /admin/users/{id}/actions`.
pub async fn act(
    lang: Lang,
    Admin(admin): Admin,
    path: web::Path<UserId>,
    CsrfForm(form): CsrfForm<ActionForm>,
    console: web::Data<AdminService>,
) -> Result<HttpResponse, PageError> {
    let target = path.into_inner();
    let action =
        AdminAction::parse(&form.action, form.provider).ok_or_else(|| unknown_action(lang))?;
    let result = console.act(admin.user, target, action).await;
    match result {
        Ok(()) => {
            let location = format!("/admin/users/{target}?done={}", action.name());
            Ok(HttpResponse::SeeOther()
                .insert_header((LOCATION, location))
                .finish())
        }
        Err(error) => {
            let refusal = FormRefusal::from_change(LoginError::from(error), lang, Whose::Other)?;
            render_user(lang, &console, target, None, Some(refusal)).await
        }
    }
}
