//! Which provider (`ProviderKind`, stored with the tutorial's numbers) and what it told us
//! about a person (`ProviderIdentity`).

use std::fmt;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Integer;

use serde::{Deserialize, Serialize};

use super::Phone;
use crate::i18n::Lang;

/// A third-party login provider, stored in `sflogin.types` with the tutorial's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = Integer)]
pub enum ProviderKind {
    DingTalk = 1,
    Weibo = 2,
    WeChat = 3,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 3] = [
        ProviderKind::DingTalk,
        ProviderKind::Weibo,
        ProviderKind::WeChat,
    ];

    /// The number in `sflogin.types` (and in the forms that name a provider).
    pub fn number(self) -> i32 {
        self as i32
    }

    pub fn from_number(number: i32) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|p| p.number() == number)
    }

    /// The name in URLs, JSON (`linkedAccounts[].provider`) and icon file names.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::DingTalk => "dingtalk",
            ProviderKind::Weibo => "weibo",
            ProviderKind::WeChat => "wechat",
        }
    }

    pub fn from_name(name: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|p| p.name() == name)
    }

    /// What people call it, in their language.
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            ProviderKind::DingTalk => lang.t("钉钉", "DingTalk"),
            ProviderKind::Weibo => lang.t("微博", "Weibo"),
            ProviderKind::WeChat => lang.t("微信", "WeChat"),
        }
    }

    /// The text of its login button.
    pub fn login_label(self, lang: Lang) -> &'static str {
        match self {
            ProviderKind::DingTalk => lang.t("钉钉登录", "Log in with DingTalk"),
            ProviderKind::Weibo => lang.t("微博登录", "Log in with Weibo"),
            ProviderKind::WeChat => lang.t("微信登录", "Log in with WeChat"),
        }
    }

    /// The text of its "link" button on the account page.
    pub fn link_label(self, lang: Lang) -> &'static str {
        match self {
            ProviderKind::DingTalk => lang.t("绑定钉钉", "Link DingTalk"),
            ProviderKind::Weibo => lang.t("绑定微博", "Link Weibo"),
            ProviderKind::WeChat => lang.t("绑定微信", "Link WeChat"),
        }
    }

    /// The order of the login page's buttons: DingTalk first, then WeChat, then Weibo.
    pub const DISPLAY_ORDER: [ProviderKind; 3] = [
        ProviderKind::DingTalk,
        ProviderKind::WeChat,
        ProviderKind::Weibo,
    ];
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// In JSON a provider is its name (`linkedAccounts[].provider`).
impl Serialize for ProviderKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ProviderKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ProviderKind::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("no provider `{name}`")))
    }
}

impl<DB: Backend> ToSql<Integer, DB> for ProviderKind
where
    i32: ToSql<Integer, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        // The bound value must outlive `out`: a static holds the numbers.
        static NUMBERS: [i32; 4] = [0, 1, 2, 3];
        NUMBERS[self.number() as usize].to_sql(out)
    }
}

impl<DB: Backend> FromSql<Integer, DB> for ProviderKind
where
    i32: FromSql<Integer, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let number = i32::from_sql(bytes)?;
        ProviderKind::from_number(number)
            .ok_or_else(|| format!("sflogin.types = {number} is no known provider").into())
    }
}

/// The `uid` of an identity that came without the provider's per-app id (DingTalk's
/// in-client login knows the unionId only): such a uid finds nobody, and never replaces
/// a real one in `sflogin.uid`.
pub const UNIONID_UID_PREFIX: &str = "unionid:";

/// What a provider told us about the person who just logged in. No secret: the provider's
/// own access token is used to read the profile and then dropped (threat T-23).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderIdentity {
    pub provider: ProviderKind,
    pub uid: String,
    pub unionid: Option<String>,
    pub nick: String,
    pub avatar_url: Option<String>,
    pub phone: Option<Phone>,
}

/// The longest provider id we store: DingTalk's, WeChat's and Weibo's are under 64
/// characters; an index entry must stay far below PostgreSQL's ~2.7 kB.
pub const MAX_PROVIDER_ID_BYTES: usize = 256;

impl ProviderIdentity {
    /// Whether the database can hold this identity's ids (the providers' clients already
    /// tidy the nickname and the avatar): else an error naming the field.
    pub fn fit_for_storage(mut self) -> Result<ProviderIdentity, &'static str> {
        let plausible = |id: &str| {
            !id.is_empty() && id.len() <= MAX_PROVIDER_ID_BYTES && !id.chars().any(char::is_control)
        };
        if !plausible(&self.uid) {
            return Err("the user id is empty, too long or holds control characters");
        }
        self.unionid = self.unionid.filter(|id| !id.is_empty());
        if self.unionid.as_deref().is_some_and(|id| !plausible(id)) {
            return Err("the unionid is too long or holds control characters");
        }
        Ok(self)
    }
}
