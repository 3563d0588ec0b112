//! The people of the simulated DingTalk: their accounts as `contact/users/me` shows them,
//! the preset test accounts, and the organisations one can sign in as.

use serde::Serialize;

use crate::crypto::sha256_hex;

/// A simulated DingTalk account, serialised exactly as `contact/users/me` answers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxIdentity {
    pub nick: String,
    pub avatar_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    pub open_id: String,
    pub union_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_code: Option<String>,
    pub visitor: bool,
}

impl SandboxIdentity {
    /// The same nick and mobile always give the same ids, like one real person would.
    pub fn new(nick: &str, mobile: Option<&str>) -> SandboxIdentity {
        let digest = sha256_hex(&format!("{nick}\u{0}{}", mobile.unwrap_or("")));
        SandboxIdentity {
            nick: nick.to_owned(),
            avatar_url: String::new(),
            mobile: mobile.map(str::to_owned),
            open_id: format!("sbx{}", &digest[..24]),
            union_id: format!("sbxu{}", &digest[24..48]),
            state_code: mobile.map(|_| "86".to_owned()),
            visitor: false,
        }
    }
}

impl SandboxIdentity {
    /// Their userid in the sandbox organisation (DingTalk's staff id, which differs from
    /// the openId and the unionId).
    pub fn staff_userid(&self) -> String {
        format!("staff{}", &self.open_id[3..15])
    }
}

/// The organisations a sandbox person can sign in as when the app asks for `corpid`.
pub const SANDBOX_ORGANISATIONS: [(&str, &str); 2] = [
    ("dingsandboxcorp1", "沙箱科技（测试组织一）"),
    ("dingsandboxcorp2", "另一家公司（测试组织二）"),
];

pub fn preset_identities() -> Vec<(&'static str, SandboxIdentity)> {
    vec![
        (
            "zhangsan",
            SandboxIdentity::new("张三", Some("13800138000")),
        ),
        ("lisi", SandboxIdentity::new("李四", None)),
        ("wangwu", SandboxIdentity::new("王五", Some("13900139000"))),
    ]
}
