//! DingTalk's contacts API as the directory reads it, with the app's own token: the
//! department tree one level at a time (`topapi/v2/department/listsub`, root 1), each
//! department's people a page of at most 100 at a time (`topapi/v2/user/list`, `cursor`
//! and `has_more`; only the people directly in that department), and one person
//! (`topapi/v2/user/get`). Shapes: `docs/dingtalk-directory.md` section A.

use std::sync::Arc;

use serde_json::Value;
use url::Url;

use super::oapi::{AppApi, OapiAnswer, Permission, oapi_error};
use crate::providers::ProviderError;
use crate::providers::http::{clean_nick, number};

/// The root of every organisation's tree.
pub const ROOT_DEPARTMENT: i64 = 1;

/// DingTalk's largest page of people.
pub const PAGE_SIZE: u64 = 100;

/// A page of 100 people with every field is some tens of kilobytes.
const MAX_PAGE_BYTES: usize = 1024 * 1024;

pub const DEPARTMENTS_PERMISSION: Permission = Permission {
    code: "qyapi_get_department_list",
    console_name: "通讯录部门信息读权限",
};
pub const MEMBERS_PERMISSION: Permission = Permission {
    code: "qyapi_get_department_member",
    console_name: "成员信息读权限",
};
pub const MEMBER_PERMISSION: Permission = Permission {
    code: "qyapi_get_member",
    console_name: "成员信息读权限",
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub id: i64,
    /// `None` for the root.
    pub parent_id: Option<i64>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub userid: String,
    pub unionid: Option<String>,
    pub name: String,
    /// The departments the person is directly in.
    pub dept_ids: Vec<i64>,
}

pub struct MembersPage {
    pub people: Vec<Person>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<u64>,
}

pub struct DirectoryApi {
    app: Arc<AppApi>,
    department_get: Url,
    listsub: Url,
    user_list: Url,
    user_get: Url,
}

impl DirectoryApi {
    pub fn new(app: Arc<AppApi>) -> DirectoryApi {
        DirectoryApi {
            department_get: app.url("/topapi/v2/department/get"),
            listsub: app.url("/topapi/v2/department/listsub"),
            user_list: app.url("/topapi/v2/user/list"),
            user_get: app.url("/topapi/v2/user/get"),
            app,
        }
    }

    /// Whether the app's key and secret give a token at all.
    pub async fn check_credentials(&self) -> Result<(), ProviderError> {
        self.app.token().await.map(drop)
    }

    /// The organisation's root department (its name is the organisation's).
    pub async fn root(&self) -> Result<Department, ProviderError> {
        let mut root = self
            .department(ROOT_DEPARTMENT)
            .await?
            .ok_or_else(|| malformed("topapi/v2/department/get", "no root department"))?;
        root.parent_id = None;
        Ok(root)
    }

    /// One department; `None` when DingTalk does not know it (60003: removed).
    pub async fn department(&self, id: i64) -> Result<Option<Department>, ProviderError> {
        const STEP: &str = "topapi/v2/department/get";
        let body = serde_json::json!({ "dept_id": id, "language": "zh_CN" });
        let (errcode, answer) = self
            .app
            .call(STEP, &self.department_get, body, MAX_PAGE_BYTES)
            .await?;
        match errcode {
            Some(0) | None => {}
            Some(60003) => return Ok(None),
            other => {
                return Err(answer
                    .missing_permission(STEP, other, DEPARTMENTS_PERMISSION)
                    .unwrap_or_else(|| oapi_error(STEP, other, answer)));
            }
        }
        let result = answer.result.unwrap_or(Value::Null);
        department(STEP, &result).map(Some)
    }

    /// The departments directly under `parent`, in DingTalk's order.
    pub async fn subdepartments(&self, parent: i64) -> Result<Vec<Department>, ProviderError> {
        const STEP: &str = "topapi/v2/department/listsub";
        let body = serde_json::json!({ "dept_id": parent, "language": "zh_CN" });
        let answer = self
            .call(STEP, &self.listsub, body, DEPARTMENTS_PERMISSION)
            .await?;
        match answer.result {
            Some(Value::Array(list)) => list
                .iter()
                .map(|item| {
                    let mut child = department(STEP, item)?;
                    child.parent_id.get_or_insert(parent);
                    Ok(child)
                })
                .collect(),
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(_) => Err(malformed(STEP, "result is not a list")),
        }
    }

    /// One page of the people directly in `dept`, from `cursor` (0 for the first).
    pub async fn members_page(&self, dept: i64, cursor: u64) -> Result<MembersPage, ProviderError> {
        const STEP: &str = "topapi/v2/user/list";
        let body = serde_json::json!({
            "dept_id": dept,
            "cursor": cursor,
            "size": PAGE_SIZE,
            "order_field": "custom",
            "contain_access_limit": false,
            "language": "zh_CN",
        });
        let answer = self
            .call(STEP, &self.user_list, body, MEMBERS_PERMISSION)
            .await?;
        let result = answer.result.unwrap_or(Value::Null);
        let people = match result.get("list") {
            Some(Value::Array(list)) => list
                .iter()
                .map(|item| person(STEP, item))
                .collect::<Result<_, _>>()?,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(malformed(STEP, "list is not a list")),
        };
        let has_more = result
            .get("has_more")
            .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
        let next_cursor = if has_more {
            // A cursor that does not move on would page forever.
            match result.get("next_cursor").and_then(number) {
                Some(next) if next > cursor => Some(next),
                _ => {
                    return Err(malformed(
                        STEP,
                        "has_more without a next_cursor past this one",
                    ));
                }
            }
        } else {
            None
        };
        Ok(MembersPage {
            people,
            next_cursor,
        })
    }

    /// One person; `None` when DingTalk does not know them (60121 not found, 33012 no
    /// such userid): they left.
    pub async fn person(&self, userid: &str) -> Result<Option<Person>, ProviderError> {
        const STEP: &str = "topapi/v2/user/get";
        let body = serde_json::json!({ "userid": userid, "language": "zh_CN" });
        let (errcode, answer) = self
            .app
            .call(STEP, &self.user_get, body, MAX_PAGE_BYTES)
            .await?;
        match errcode {
            Some(0) | None => {}
            Some(60121 | 33012) => return Ok(None),
            other => {
                return Err(answer
                    .missing_permission(STEP, other, MEMBER_PERMISSION)
                    .unwrap_or_else(|| oapi_error(STEP, other, answer)));
            }
        }
        let result = answer.result.unwrap_or(Value::Null);
        person(STEP, &result).map(Some)
    }

    /// One call whose only good answer is errcode 0.
    async fn call(
        &self,
        step: &'static str,
        url: &Url,
        body: Value,
        needed: Permission,
    ) -> Result<OapiAnswer, ProviderError> {
        let (errcode, answer) = self.app.call(step, url, body, MAX_PAGE_BYTES).await?;
        match errcode {
            Some(0) | None => Ok(answer),
            other => Err(answer
                .missing_permission(step, other, needed)
                .unwrap_or_else(|| oapi_error(step, other, answer))),
        }
    }
}

fn malformed(step: &'static str, detail: &str) -> ProviderError {
    ProviderError::Malformed {
        step,
        detail: detail.to_owned(),
    }
}

/// An id DingTalk may send as a number or a string.
fn id_of(value: Option<&Value>) -> Option<i64> {
    value.and_then(number).and_then(|n| i64::try_from(n).ok())
}

fn department(step: &'static str, item: &Value) -> Result<Department, ProviderError> {
    let id = id_of(item.get("dept_id"))
        .ok_or_else(|| malformed(step, "a department without dept_id"))?;
    Ok(Department {
        id,
        parent_id: id_of(item.get("parent_id")),
        name: clean_nick(
            item.get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
    })
}

/// Ids longer than this, or with control characters, are no DingTalk ids (they are a few
/// dozen characters): the answer is refused rather than stored.
const MAX_ID_BYTES: usize = 256;

fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES && !id.chars().any(char::is_control)
}

fn person(step: &'static str, item: &Value) -> Result<Person, ProviderError> {
    let text = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
    let userid = text("userid")
        .filter(|id| plausible_id(id))
        .ok_or_else(|| malformed(step, "a person without a usable userid"))?;
    let unionid = text("unionid").filter(|id| !id.is_empty());
    if unionid.as_deref().is_some_and(|id| !plausible_id(id)) {
        return Err(malformed(step, "an unusable unionid"));
    }
    let dept_ids = match item.get("dept_id_list") {
        Some(Value::Array(ids)) => ids.iter().filter_map(|id| id_of(Some(id))).collect(),
        _ => Vec::new(),
    };
    Ok(Person {
        userid,
        unionid,
        name: clean_nick(text("name").unwrap_or_default()),
        dept_ids,
    })
}
