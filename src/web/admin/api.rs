//! `/api/admin/*` (behind the API guard and the admin role check).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::ListQuery;
use crate::admin::{AdminService, PAGE_SIZE};
use crate::domain::ProviderKind;
use crate::domain::UserId;
use crate::error::ApiError;
use crate::login::LoginService;
use crate::web::api::{Done, LinkedAccountView, sessions_ended};
use crate::web::auth::Admin;
use crate::web::schemas::{ErrorBody, GuardRefusal, Unavailable};

/// One user as an admin sees them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    #[schema(value_type = i32)]
    id: UserId,
    username: String,
    name: String,
    phone: Option<String>,
    role: String,
    is_active: bool,
    created_at: DateTime<Utc>,
    linked_accounts: Vec<LinkedAccountView>,
}

/// The counters at the top of the admin page.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CountsView {
    users: i64,
    /// Linked DingTalk accounts (also in `links`).
    dingtalk_links: i64,
    /// Linked accounts per provider.
    #[schema(example = json!({"dingtalk": 12, "wechat": 3, "weibo": 1}))]
    links: BTreeMap<&'static str, i64>,
    logins_last24h: i64,
}

/// A page of users, newest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountsPage {
    page: i64,
    page_size: i64,
    total: i64,
    counts: CountsView,
    users: Vec<AccountView>,
}

/// `GET /api/admin/accounts?q=&page=`: the same data for programs.
#[utoipa::path(
    get,
    path = "/api/admin/accounts",
    tag = "admin",
    security(("bearer" = [])),
    params(
        ("q" = Option<String>, Query, description = "Search: username, name, phone, a linked account's uid or nick"),
        ("page" = Option<i64>, Query, description = "From 1; 50 users a page"),
    ),
    responses(
        (status = 200, description = "Users and their linked accounts", body = AccountsPage),
        (status = 401, response = GuardRefusal),
        (status = 403, description = "40301: not an administrator", body = ErrorBody),
        (status = 503, response = Unavailable),
    )
)]
pub async fn accounts(
    _admin: Admin,
    query: web::Query<ListQuery>,
    console: web::Data<AdminService>,
) -> Result<HttpResponse, ApiError> {
    let (q, page) = query.parts();
    let (list, counts) = console.accounts(q, page).await?;
    let users = list
        .users
        .into_iter()
        .map(|(user, links)| AccountView {
            id: user.id,
            username: user.username,
            name: user.name,
            phone: user.phone,
            role: user.role,
            is_active: user.is_active,
            created_at: user.created_at.and_utc(),
            linked_accounts: links.into_iter().map(Into::into).collect(),
        })
        .collect();
    let counts = CountsView {
        users: counts.users,
        dingtalk_links: counts.links_of(ProviderKind::DingTalk),
        links: counts
            .links
            .iter()
            .map(|(kind, n)| (kind.name(), *n))
            .collect(),
        logins_last24h: counts.logins_last_24h,
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(AccountsPage {
            page,
            page_size: PAGE_SIZE,
            total: list.total,
            counts,
            users,
        }))
}

/// `POST /api/admin/users/{id}/sessions/revoke`: an admin ends every session of a user.
#[utoipa::path(
    post,
    path = "/api/admin/users/{id}/sessions/revoke",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = i32, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Every login of the user ended (audited)", body = Done, example = json!({"code": 0, "msg": "all sessions ended", "ended": 2})),
        (status = 401, response = GuardRefusal),
        (status = 403, description = "40301: not an administrator", body = ErrorBody),
        (status = 503, response = Unavailable),
    )
)]
pub async fn end_user_sessions(
    Admin(admin): Admin,
    path: web::Path<UserId>,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, ApiError> {
    let target = path.into_inner();
    Ok(sessions_ended(
        login.end_all_sessions(&admin.user, target).await?,
    ))
}
