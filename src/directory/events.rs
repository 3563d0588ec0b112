//! A directory event, whichever way it came (an HTTP push or Stream mode) and in either of
//! DingTalk's spellings: the older callback's (`UserId`, `DeptId`, ids as strings) and the
//! event subscription's (`userId`, `deptId` as numbers, `eventId`). Shapes:
//! `docs/dingtalk-directory.md` B6 and C6; what no source confirmed is read tolerantly.

use serde_json::{Map, Value};

use crate::crypto::sha256_hex;

/// What happened, by DingTalk's `EventType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `user_add_org`
    PeopleAdded,
    /// `user_modify_org` (name, departments)
    PeopleChanged,
    /// `user_leave_org`
    PeopleLeft,
    /// `user_active_org`: someone activated DingTalk; read again like a change.
    PeopleActivated,
    /// `org_dept_create`
    DepartmentsCreated,
    /// `org_dept_modify`
    DepartmentsChanged,
    /// `org_dept_remove`
    DepartmentsRemoved,
    /// The console's handshake when the URL is saved.
    CheckUrl,
    /// Anything else: acknowledged and ignored.
    Other(String),
}

impl Change {
    fn of(event_type: &str) -> Change {
        match event_type {
            "user_add_org" => Change::PeopleAdded,
            "user_modify_org" => Change::PeopleChanged,
            "user_leave_org" => Change::PeopleLeft,
            "user_active_org" => Change::PeopleActivated,
            "org_dept_create" => Change::DepartmentsCreated,
            "org_dept_modify" => Change::DepartmentsChanged,
            "org_dept_remove" => Change::DepartmentsRemoved,
            "check_url" => Change::CheckUrl,
            other => Change::Other(other.chars().take(64).collect()),
        }
    }

    /// For log lines and metrics.
    pub fn name(&self) -> &str {
        match self {
            Change::PeopleAdded => "user_add_org",
            Change::PeopleChanged => "user_modify_org",
            Change::PeopleLeft => "user_leave_org",
            Change::PeopleActivated => "user_active_org",
            Change::DepartmentsCreated => "org_dept_create",
            Change::DepartmentsChanged => "org_dept_modify",
            Change::DepartmentsRemoved => "org_dept_remove",
            Change::CheckUrl => "check_url",
            Change::Other(name) => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEvent {
    /// What makes a redelivery recognisable: DingTalk's `eventId` (or `BizId`), else the
    /// digest of the whole message.
    pub key: String,
    pub change: Change,
    pub corp_id: Option<String>,
    pub users: Vec<String>,
    pub departments: Vec<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the event is not DingTalk's JSON: {0}")]
pub struct MalformedEvent(&'static str);

impl DirectoryEvent {
    /// The decrypted body of an HTTP event.
    pub fn from_http(message: &str) -> Result<DirectoryEvent, MalformedEvent> {
        let value: Value = serde_json::from_str(message).map_err(|_| MalformedEvent("not JSON"))?;
        let fields = value.as_object().ok_or(MalformedEvent("not an object"))?;
        let event_type =
            text(fields, &["EventType", "eventType"]).ok_or(MalformedEvent("no EventType"))?;
        Ok(DirectoryEvent::new(
            &event_type,
            text(fields, &["eventId", "EventId", "BizId", "bizId"]),
            text(fields, &["CorpId", "corpId"]),
            fields,
            message,
        ))
    }

    /// A Stream-mode EVENT frame: the type, id and organisation in its headers, the rest
    /// in `data`, a string of JSON.
    pub fn from_stream(
        headers: &Map<String, Value>,
        data: &str,
    ) -> Result<DirectoryEvent, MalformedEvent> {
        let event_type = text(headers, &["eventType"]).ok_or(MalformedEvent("no eventType"))?;
        let value: Value = serde_json::from_str(data).unwrap_or(Value::Null);
        let empty = Map::new();
        let fields = value.as_object().unwrap_or(&empty);
        Ok(DirectoryEvent::new(
            &event_type,
            text(headers, &["eventId"]),
            text(headers, &["eventCorpId"]).or_else(|| text(fields, &["CorpId", "corpId"])),
            fields,
            data,
        ))
    }

    fn new(
        event_type: &str,
        id: Option<String>,
        corp_id: Option<String>,
        fields: &Map<String, Value>,
        whole: &str,
    ) -> DirectoryEvent {
        DirectoryEvent {
            key: id.unwrap_or_else(|| format!("sha256:{}", sha256_hex(whole))),
            change: Change::of(event_type),
            corp_id,
            users: list(fields, &["userId", "UserId"])
                .into_iter()
                .filter(|id| !id.is_empty() && id.len() <= 256 && !id.chars().any(char::is_control))
                .collect(),
            departments: list(fields, &["deptId", "DeptId"])
                .iter()
                .filter_map(|id| id.parse().ok())
                .filter(|id: &i64| *id > 0)
                .collect(),
        }
    }
}

/// The first of `keys` that holds a non-empty string (or a number).
fn text(fields: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| match fields.get(*key)? {
        Value::String(s) if !s.is_empty() => Some(s.chars().take(256).collect()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// The first of `keys` that holds a list, its elements as strings (numbers or strings).
fn list(fields: &Map<String, Value>, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .find_map(|key| fields.get(*key)?.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|item| match item {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{Change, DirectoryEvent};

    #[test]
    fn both_generations_of_shapes_are_read() {
        let legacy = DirectoryEvent::from_http(
            r#"{"EventType":"user_leave_org","TimeStamp":"1608017258073","UserId":["0119296"],"CorpId":"dinge8a5"}"#,
        )
        .unwrap();
        assert_eq!(legacy.change, Change::PeopleLeft);
        assert_eq!(legacy.users, ["0119296"]);
        assert_eq!(legacy.corp_id.as_deref(), Some("dinge8a5"));
        assert!(legacy.key.starts_with("sha256:"), "no id: the digest");
        let current = DirectoryEvent::from_http(
            r#"{"EventType":"org_dept_create","EventTime":1663143335567,"CorpId":"ding9f","BizId":"b1","eventId":"c7c7","deptId":[432825033]}"#,
        )
        .unwrap();
        assert_eq!(current.change, Change::DepartmentsCreated);
        assert_eq!(current.departments, [432_825_033]);
        assert_eq!(current.key, "c7c7");
        let unknown = DirectoryEvent::from_http(r#"{"EventType":"bpms_task_change"}"#).unwrap();
        assert_eq!(unknown.change, Change::Other("bpms_task_change".into()));
        assert!(DirectoryEvent::from_http(r#"{"UserId":["1"]}"#).is_err());
    }
}
