//! The older host's ways, shared by the sandbox's endpoints there: its answer and error
//! shapes (`errcode`, HTTP 200 even for errors), the app token every call needs, and the
//! refusal of an app without a permission.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::state::Sandbox;
use crate::crypto::random_token;

#[derive(Deserialize)]
pub struct AppTokenQuery {
    pub(super) access_token: Option<String>,
}

/// The older host's success shape; its errors are HTTP 200 too (`oapi_refusal`).
pub(super) fn oapi_answer(result: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "errcode": 0, "errmsg": "ok", "result": result, "request_id": random_token(12),
    }))
}

/// The older host's calls need the app token this sandbox handed out.
pub(super) fn refuse_foreign_token(
    query: &AppTokenQuery,
    sandbox: &Sandbox,
) -> Option<HttpResponse> {
    (query.access_token.as_deref() != Some(sandbox.app_token()))
        .then(|| oapi_refusal(40014, "不合法的access_token"))
}

pub(super) fn oapi_refusal(errcode: i64, errmsg: &str) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "errcode": errcode, "errmsg": errmsg, "request_id": random_token(12),
    }))
}

pub(super) fn body_field(body: &web::Bytes, key: &str) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|b| b.get(key).and_then(|v| v.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

/// DingTalk's refusal of an app without the permission `code` (the message's shape as
/// peers quote it; UNCONFIRMED).
pub(super) fn refuse_without(sandbox: &Sandbox, code: &str) -> Option<HttpResponse> {
    sandbox
        .organisation
        .faults()
        .denied
        .contains(code)
        .then(|| {
            oapi_refusal(
                60011,
                &format!("应用尚未开通所需的权限：[{code}]，点击链接申请并开通即可"),
            )
        })
}
