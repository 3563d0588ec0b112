//! `/api/admin/*` (behind the API guard and the admin role check).

use actix_web::{HttpResponse, web};

use super::{ListQuery, load_accounts};
use crate::db::DbPool;
use crate::db::admin::PAGE_SIZE;
use crate::domain::ProviderKind;
use crate::domain::UserId;
use crate::error::ApiError;
use crate::login::LoginService;
use crate::web::api::{LinkedAccountView, sessions_ended};
use crate::web::auth::Admin;

/// `GET /api/admin/accounts?q=&page=`: the same data for programs.
pub async fn accounts(
    _admin: Admin,
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
        "counts": {
            "users": counts.users,
            "dingtalkLinks": counts.links_of(ProviderKind::DingTalk),
            "links": counts.links.iter().map(|(kind, n)| (kind.name(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
            "loginsLast24h": counts.logins_last_24h,
        },
        "users": users,
    })))
}

/// `POST /api/admin/users/{id}/sessions/revoke`: an admin ends every session of a user.
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
