//! The administrators' pages: all users with their linked accounts, one user's details,
//! sessions and audit trail, and actions (each a CSRF-protected POST after a confirmation page).

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::api::LinkedAccountView;
use super::csrf;
use super::guard::CurrentUser;
use super::i18n::Lang;
use super::page_auth::SignedInAdmin;
use super::pages::render_page;
use super::session::TypedSession;
use crate::accounts::{self, AccountError, AdminAction, provider_name};
use crate::db::admin::{AccountsPage, Counts, PAGE_SIZE};
use crate::db::models::{AuditEntry, LinkedAccount, LoginSession, User, now};
use crate::db::{self, DbError, DbPool, admin, sessions, users};
use crate::error::{ApiError, PageError};

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
}

impl ListQuery {
    fn parts(&self) -> (String, i64) {
        let q: String = self
            .q
            .as_deref()
            .unwrap_or("")
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        (q, self.page.unwrap_or(1).clamp(1, 1_000_000))
    }
}

async fn load_accounts(
    pool: &DbPool,
    q: String,
    page: i64,
) -> Result<(AccountsPage, Counts), DbError> {
    db::run(pool, move |conn| {
        Ok((admin::accounts_page(conn, &q, page)?, admin::counts(conn)?))
    })
    .await
}

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
}

impl AccountsTemplate<'_> {
    fn provider(&self, types: &i32) -> &'static str {
        provider_name(*types)
    }
    fn page_link(&self, page: i64) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("q", self.q)
            .append_pair("page", &page.to_string())
            .finish()
    }
}

/// `GET /admin/accounts?q=&page=`.
pub async fn accounts(
    req: HttpRequest,
    admin: SignedInAdmin,
    session: TypedSession,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::from_request(&req);
    let (q, page) = query.parts();
    let (list, counts) = load_accounts(&pool, q.clone(), page)
        .await
        .map_err(|e| PageError::from_db(e, lang))?;
    let pages = ((list.total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let csrf = csrf::token(&session);
    let template = AccountsTemplate {
        lang,
        csrf: &csrf,
        me: &admin.0.user,
        q: &q,
        page,
        pages,
        counts: &counts,
        users: &list.users,
    };
    render_page(lang, &template, StatusCode::OK)
}

/// `GET /api/admin/accounts?q=&page=`: the same data for programs.
pub async fn accounts_json(
    _admin: CurrentUser,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, ApiError> {
    let (q, page) = query.parts();
    let (list, counts) = load_accounts(&pool, q, page).await?;
    let users: Vec<serde_json::Value> = list
        .users
        .into_iter()
        .map(|(user, links)| {
            let links: Vec<LinkedAccountView> = links.into_iter().map(Into::into).collect();
            serde_json::json!({
                "id": user.id, "username": user.username, "name": user.name, "phone": user.phone,
                "role": user.role, "isActive": user.is_active, "createdAt": user.created_at.and_utc(),
                "linkedAccounts": links,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(serde_json::json!({
        "page": page, "pageSize": PAGE_SIZE, "total": list.total,
        "counts": { "users": counts.users, "dingtalkLinks": counts.dingtalk_links, "loginsLast24h": counts.logins_last_24h },
        "users": users,
    })))
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

impl UserTemplate<'_> {
    fn provider(&self, types: &i32) -> &'static str {
        provider_name(*types)
    }
}

#[derive(Deserialize)]
pub struct UserQuery {
    done: Option<String>,
}

type UserDetails = (User, Vec<LinkedAccount>, Vec<LoginSession>, Vec<AuditEntry>);

async fn load_user(pool: &DbPool, id: i32, lang: Lang) -> Result<UserDetails, PageError> {
    let details = db::run::<_, DbError, _>(pool, move |conn| {
        let Some(user) = users::find_by_id(conn, id)? else {
            return Ok(None);
        };
        let links = users::links_of(conn, id)?;
        let active = sessions::active_sessions(conn, id, now())?;
        let audit = admin::audit_for(conn, id)?;
        Ok(Some((user, links, active, audit)))
    })
    .await
    .map_err(|e| PageError::from_db(e, lang))?;
    details.ok_or_else(|| {
        PageError::new(
            StatusCode::NOT_FOUND,
            lang,
            lang.t("没有这个用户", "No such user"),
            lang.t("该用户不存在。", "This user does not exist."),
        )
        .with_back(
            "/admin/accounts",
            lang.t("返回账号列表", "Back to accounts"),
        )
    })
}

async fn render_user(
    lang: Lang,
    pool: &DbPool,
    id: i32,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let (user, links, active, audit) = load_user(pool, id, lang).await?;
    let template = UserTemplate {
        lang,
        user: &user,
        links: &links,
        sessions: &active,
        audit: &audit,
        notice,
        error,
    };
    render_page(lang, &template, status)
}

/// `GET /admin/users/{id}`.
pub async fn user(
    req: HttpRequest,
    _admin: SignedInAdmin,
    path: web::Path<i32>,
    query: web::Query<UserQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::from_request(&req);
    let notice = query
        .done
        .as_deref()
        .and_then(|done| AdminAction::parse(done, None))
        .map(|_| lang.t("操作已完成。", "Done."));
    render_user(lang, &pool, path.into_inner(), notice, None, StatusCode::OK).await
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

fn question(lang: Lang, action: AdminAction) -> &'static str {
    match action {
        AdminAction::Unlink(_) => lang.t(
            "解除该用户的钉钉绑定？",
            "Unlink this user's DingTalk account?",
        ),
        AdminAction::EndSessions => lang.t(
            "结束该用户的所有登录会话？",
            "End all of this user's sessions?",
        ),
        AdminAction::Deactivate => lang.t(
            "停用该用户？其所有会话将立即失效。",
            "Deactivate this user? All their sessions end at once.",
        ),
        AdminAction::Reactivate => lang.t("重新启用该用户？", "Reactivate this user?"),
        AdminAction::GrantAdmin => {
            lang.t("授予该用户管理员权限？", "Make this user an administrator?")
        }
        AdminAction::RevokeAdmin => lang.t(
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
    .with_back(
        "/admin/accounts",
        lang.t("返回账号列表", "Back to accounts"),
    )
}

/// `GET /admin/users/{id}/confirm?action=..`: the confirmation step (changes nothing).
pub async fn confirm(
    req: HttpRequest,
    _admin: SignedInAdmin,
    session: TypedSession,
    path: web::Path<i32>,
    query: web::Query<ActionQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::from_request(&req);
    let action =
        AdminAction::parse(&query.action, query.provider).ok_or_else(|| unknown_action(lang))?;
    let (user, ..) = load_user(&pool, path.into_inner(), lang).await?;
    let csrf = csrf::token(&session);
    let provider = match action {
        AdminAction::Unlink(types) => types,
        _ => 0,
    };
    let template = ConfirmTemplate {
        lang,
        csrf: &csrf,
        user: &user,
        action: action.name(),
        provider,
        question: question(lang, action),
    };
    render_page(lang, &template, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: Option<String>,
    action: String,
    provider: Option<i32>,
}

/// `POST /admin/users/{id}/actions`.
pub async fn act(
    req: HttpRequest,
    admin: SignedInAdmin,
    session: TypedSession,
    path: web::Path<i32>,
    form: web::Form<ActionForm>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::from_request(&req);
    let target = path.into_inner();
    if !csrf::verify(&session, form.csrf.as_deref()) {
        return Err(PageError::csrf_rejected(lang, "admin action").with_back(
            "/admin/accounts",
            lang.t("返回账号列表", "Back to accounts"),
        ));
    }
    let action =
        AdminAction::parse(&form.action, form.provider).ok_or_else(|| unknown_action(lang))?;
    let actor = admin.0.user.clone();
    let result = db::run(&pool, move |conn| {
        accounts::apply_admin_action(conn, &actor, target, action)
    })
    .await;
    let refusal = match result {
        Ok(()) => {
            let location = format!("/admin/users/{target}?done={}", action.name());
            return Ok(HttpResponse::SeeOther()
                .insert_header((LOCATION, location))
                .finish());
        }
        Err(AccountError::Db(e)) => return Err(PageError::from_db(e, lang)),
        Err(AccountError::LastLoginMethod) => lang.t(
            "这是该用户唯一的登录方式（没有密码），不能解绑。",
            "This is the user's only way to log in (no password); it cannot be unlinked.",
        ),
        Err(AccountError::SelfLockout) => lang.t(
            "不能停用自己或撤销自己的管理员权限。",
            "You cannot deactivate yourself or remove your own admin role.",
        ),
        Err(_) => lang.t("没有找到该用户或绑定。", "No such user or linked account."),
    };
    render_user(
        lang,
        &pool,
        target,
        None,
        Some(refusal),
        StatusCode::CONFLICT,
    )
    .await
}
