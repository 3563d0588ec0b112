//! The organisation's directory for administrators: `GET /api/admin/directory` (the
//! mirror, each person's local user, the last sync) and `POST /api/admin/directory/sync`
//! ("sync now", audited).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::directory::{Applied, DirectoryService, SyncRow};
use crate::domain::UserId;
use crate::error::{ApiCode, ApiError};
use crate::web::auth::Admin;
use crate::web::schemas::{ErrorBody, GuardRefusal, Unavailable};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DepartmentView {
    id: i64,
    /// `null` for the root (the organisation).
    parent_id: Option<i64>,
    name: String,
    /// Its place among its siblings.
    order: i32,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalUserView {
    #[schema(value_type = i32)]
    id: UserId,
    username: String,
    is_active: bool,
    /// While inactive: `directory` (left the organisation) or `admin`.
    deactivated_by: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    /// DingTalk's userid.
    userid: String,
    unionid: Option<String>,
    name: String,
    department_ids: Vec<i64>,
    /// Still in the organisation.
    active: bool,
    left_at: Option<DateTime<Utc>>,
    /// The local users linked to this person's DingTalk account.
    local_users: Vec<LocalUserView>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncView {
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    departments: i32,
    members: i32,
    joined: i32,
    departed: i32,
    /// Why it failed; `null` when it succeeded.
    error: Option<String>,
}

impl From<SyncRow> for SyncView {
    fn from(row: SyncRow) -> Self {
        SyncView {
            started_at: row.started_at.and_utc(),
            finished_at: row.finished_at.and_utc(),
            departments: row.departments,
            members: row.members,
            joined: row.joined,
            departed: row.departed,
            error: row.error,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryView {
    last_sync: Option<SyncView>,
    departments: Vec<DepartmentView>,
    members: Vec<MemberView>,
}

/// What "sync now" did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncDone {
    /// Always 0.
    code: u32,
    msg: &'static str,
    departments: usize,
    members: usize,
    joined: usize,
    departed: usize,
    /// Local users deactivated because their person left.
    offboarded: usize,
    /// Local users reactivated because their person came back.
    rehired: usize,
}

impl From<Applied> for SyncDone {
    fn from(applied: Applied) -> Self {
        SyncDone {
            code: 0,
            msg: "directory synced",
            departments: applied.departments,
            members: applied.members,
            joined: applied.joined,
            departed: applied.departed,
            offboarded: applied.offboarded.len(),
            rehired: applied.rehired.len(),
        }
    }
}

fn directory_off() -> ApiError {
    ApiError::new(
        ApiCode::DirectoryOff,
        "the directory is off (set DINGTALK_DIRECTORY=true)",
    )
}

/// `GET /api/admin/directory`
#[utoipa::path(
    get,
    path = "/api/admin/directory",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The mirrored departments and people, and the last sync", body = DirectoryView),
        (status = 401, response = GuardRefusal),
        (status = 403, description = "40301: not an administrator", body = ErrorBody),
        (status = 404, description = "40402: the directory is off", body = ErrorBody),
        (status = 503, response = Unavailable),
    )
)]
pub async fn overview(
    _admin: Admin,
    directory: Option<web::Data<DirectoryService>>,
) -> Result<HttpResponse, ApiError> {
    let directory = directory.ok_or_else(directory_off)?;
    let overview = directory.overview().await?;
    let view = DirectoryView {
        last_sync: overview.last_sync.map(Into::into),
        departments: overview
            .departments
            .into_iter()
            .map(|row| DepartmentView {
                id: row.dept_id,
                parent_id: row.parent_id,
                name: row.name,
                order: row.sort_order,
            })
            .collect(),
        members: overview
            .members
            .into_iter()
            .map(|(member, users)| MemberView {
                department_ids: member.departments().collect(),
                userid: member.userid,
                unionid: member.unionid,
                name: member.name,
                active: member.active,
                left_at: member.left_at.map(|at| at.and_utc()),
                local_users: users
                    .into_iter()
                    .map(|user| LocalUserView {
                        id: user.id,
                        username: user.username,
                        is_active: user.is_active,
                        deactivated_by: user.deactivated_by,
                    })
                    .collect(),
            })
            .collect(),
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(view))
}

/// `POST /api/admin/directory/sync`
#[utoipa::path(
    post,
    path = "/api/admin/directory/sync",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Synced: what changed (audited)", body = SyncDone),
        (status = 401, response = GuardRefusal),
        (status = 403, description = "40301: not an administrator", body = ErrorBody),
        (status = 404, description = "40402: the directory is off", body = ErrorBody),
        (status = 409, description = "40902: another instance is syncing; 40903: refused, DingTalk's answer would mark too many people as gone", body = ErrorBody),
        (status = 502, description = "50201: DingTalk refused or failed (the message says what; a missing permission by its console name); the mirror is unchanged", body = ErrorBody),
        (status = 503, response = Unavailable),
    )
)]
pub async fn sync(
    Admin(admin): Admin,
    directory: Option<web::Data<DirectoryService>>,
) -> Result<HttpResponse, ApiError> {
    let directory = directory.ok_or_else(directory_off)?;
    let applied = directory.sync_for(&admin.user).await?;
    Ok(HttpResponse::Ok().json(SyncDone::from(applied)))
}
