//! The sandbox organisation's contacts API, in the older host's shapes (`errcode`, HTTP 200
//! even for errors): departments one level at a time, people a page of at most 100 at a
//! time. And the sandbox's own controls (not DingTalk's): someone leaves, moves or
//! rejoins; a department fails to list; a permission is refused.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::events::Delivery;
use super::oapi::{AppTokenQuery, oapi_answer, oapi_refusal, refuse_foreign_token, refuse_without};
use super::organisation::{Faults, SandboxPerson};
use super::state::Sandbox;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/topapi/v2/department/get", web::post().to(department))
        .route(
            "/topapi/v2/department/listsub",
            web::post().to(subdepartments),
        )
        .route("/topapi/v2/user/list", web::post().to(members))
        .route("/directory", web::get().to(state))
        .route("/directory/faults", web::put().to(set_faults))
        .route(
            "/directory/people/{userid}/{change}",
            web::post().to(change_person),
        );
}

/// The department id of a body (`{"dept_id": 1}`; a numeric string too).
fn dept_id(body: &web::Bytes) -> Option<i64> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    match body.get("dept_id")? {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn refused(query: &AppTokenQuery, sandbox: &Sandbox, permission: &str) -> Option<HttpResponse> {
    refuse_foreign_token(query, sandbox).or_else(|| refuse_without(sandbox, permission))
}

const NO_SUCH_DEPARTMENT: (i64, &str) = (60003, "部门不存在");

async fn department(
    query: web::Query<AppTokenQuery>,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    if let Some(refusal) = refused(&query, &sandbox, "qyapi_get_department_list") {
        return refusal;
    }
    match dept_id(&body).and_then(|id| sandbox.organisation.department(id)) {
        Some(department) => {
            let mut result = serde_json::json!({
                "dept_id": department.id,
                "name": department.name,
                "order": 0,
                "create_dept_group": false,
                "auto_add_user": false,
            });
            // The root has no parent_id.
            if let Some(parent) = department.parent {
                result["parent_id"] = parent.into();
            }
            oapi_answer(result)
        }
        None => oapi_refusal(NO_SUCH_DEPARTMENT.0, NO_SUCH_DEPARTMENT.1),
    }
}

async fn subdepartments(
    query: web::Query<AppTokenQuery>,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    if let Some(refusal) = refused(&query, &sandbox, "qyapi_get_department_list") {
        return refusal;
    }
    match dept_id(&body).and_then(|id| sandbox.organisation.children(id)) {
        Some(children) => oapi_answer(
            children
                .into_iter()
                .map(|child| {
                    serde_json::json!({
                        "dept_id": child.id,
                        "name": child.name,
                        "parent_id": child.parent,
                        "create_dept_group": false,
                        "auto_add_user": false,
                    })
                })
                .collect(),
        ),
        None => oapi_refusal(NO_SUCH_DEPARTMENT.0, NO_SUCH_DEPARTMENT.1),
    }
}

#[derive(Deserialize)]
struct ListBody {
    dept_id: i64,
    #[serde(default)]
    cursor: u64,
    size: u64,
}

/// `user/list`: a page of the people directly in the department, `cursor` an offset.
async fn members(
    query: web::Query<AppTokenQuery>,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    if let Some(refusal) = refused(&query, &sandbox, "qyapi_get_department_member") {
        return refusal;
    }
    let Ok(list) = serde_json::from_slice::<ListBody>(&body) else {
        return oapi_refusal(400_002, "参数错误");
    };
    if sandbox.organisation.department(list.dept_id).is_none() {
        return oapi_refusal(NO_SUCH_DEPARTMENT.0, NO_SUCH_DEPARTMENT.1);
    }
    if sandbox.organisation.faults().failing_department == Some(list.dept_id) {
        return oapi_refusal(-1, "系统繁忙");
    }
    // DingTalk documents 100 as the largest page.
    if list.size == 0 || list.size > 100 {
        return oapi_refusal(400_002, "size 参数不合法");
    }
    let people = sandbox.organisation.members(list.dept_id);
    let start = usize::try_from(list.cursor)
        .unwrap_or(usize::MAX)
        .min(people.len());
    let end = (start + list.size as usize).min(people.len());
    let page: Vec<_> = people[start..end].iter().map(listed).collect();
    let has_more = end < people.len();
    let mut result = serde_json::json!({ "has_more": has_more, "list": page });
    if has_more {
        result["next_cursor"] = end.into();
    }
    oapi_answer(result)
}

/// One person as `user/list` shows them.
fn listed(person: &SandboxPerson) -> serde_json::Value {
    let mut item = serde_json::json!({
        "userid": person.userid,
        "unionid": person.identity.union_id,
        "name": person.identity.nick,
        "avatar": person.identity.avatar_url,
        "dept_id_list": person.dept_ids,
        "dept_order": 0,
        "active": true,
        "admin": false,
        "boss": false,
        "leader": false,
        "hide_mobile": false,
        "exclusive_account": false,
    });
    if let Some(mobile) = &person.identity.mobile {
        item["mobile"] = mobile.clone().into();
        item["state_code"] = "86".into();
    }
    item
}

/// The sandbox organisation as it stands, for a developer or a test.
async fn state(sandbox: web::Data<Sandbox>) -> HttpResponse {
    let (departments, people) = sandbox.organisation.everyone();
    let faults = sandbox.organisation.faults();
    HttpResponse::Ok().json(serde_json::json!({
        "departments": departments.iter().map(|d| serde_json::json!({
            "dept_id": d.id, "parent_id": d.parent, "name": d.name,
        })).collect::<Vec<_>>(),
        "people": people.iter().map(|p| serde_json::json!({
            "userid": p.userid,
            "unionid": p.identity.union_id,
            "name": p.identity.nick,
            "dept_ids": p.dept_ids,
            "present": p.present,
        })).collect::<Vec<_>>(),
        "faults": {
            "failing_department": faults.failing_department,
            "denied": faults.denied,
        },
    }))
}

#[derive(Deserialize)]
struct FaultsBody {
    failing_department: Option<i64>,
    #[serde(default)]
    denied: Vec<String>,
}

async fn set_faults(body: web::Json<FaultsBody>, sandbox: web::Data<Sandbox>) -> HttpResponse {
    let body = body.into_inner();
    sandbox.organisation.set_faults(Faults {
        failing_department: body.failing_department,
        denied: body.denied.into_iter().collect(),
    });
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize, Default)]
struct MoveBody {
    #[serde(default)]
    dept_ids: Vec<i64>,
}

/// A change a developer asks for: `leave`, `rejoin` or `move` (to `dept_ids`), sent to the
/// service as DingTalk's event when the service takes events; `None`: no such person, or
/// a department that does not exist.
pub(super) async fn apply_change(
    sandbox: &Sandbox,
    userid: &str,
    change: &str,
    dept_ids: Vec<i64>,
) -> Option<(SandboxPerson, Option<Delivery>)> {
    let organisation = &sandbox.organisation;
    let (person, event_type) = match change {
        "leave" => (organisation.set_present(userid, false)?, "user_leave_org"),
        // Someone added back, as DingTalk tells it.
        "rejoin" => (organisation.set_present(userid, true)?, "user_add_org"),
        "move" => (organisation.move_to(userid, dept_ids)?, "user_modify_org"),
        _ => return None,
    };
    let event = match &sandbox.events {
        Some(sender) => Some(
            sender
                .people(event_type, std::slice::from_ref(&person.userid))
                .await,
        ),
        None => None,
    };
    Some((person, event))
}

/// `leave`, `rejoin`, or `move` (with `{"dept_ids": [...]}`).
async fn change_person(
    path: web::Path<(String, String)>,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let (userid, change) = path.into_inner();
    let target: MoveBody = serde_json::from_slice(&body).unwrap_or_default();
    let Some((person, event)) = apply_change(&sandbox, &userid, &change, target.dept_ids).await
    else {
        return HttpResponse::NotFound()
            .json(serde_json::json!({"error": "no such person, change or department"}));
    };
    HttpResponse::Ok().json(serde_json::json!({
        "userid": person.userid,
        "dept_ids": person.dept_ids,
        "present": person.present,
        "event": event,
    }))
}
