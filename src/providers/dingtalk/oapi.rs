//! The app's own calls to DingTalk's older host (`oapi.dingtalk.com/topapi/*`): the app
//! token they need, fetched once and shared by the login's membership checks and the
//! directory, and the host's answer shape (`errcode`, `errmsg`, `result`; HTTP 200 even
//! for errors, numbers maybe as strings).

use serde::Deserialize;
use url::Url;

use super::call;
use crate::config::{DingTalkSettings, Secret, url_at};
use crate::providers::ProviderError;
use crate::providers::http::{number, parse, text_of};

pub struct AppApi {
    http: reqwest::Client,
    app_key: String,
    app_secret: Secret,
    token_url: Url,
    oapi_base: Url,
    /// The app token; the lock makes concurrent callers wait for one fetch instead of each
    /// fetching its own.
    token: tokio::sync::Mutex<Option<AppToken>>,
}

struct AppToken {
    value: String,
    renew_at: std::time::Instant,
}

/// A permission an organisation's admin grants the app in DingTalk's developer console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// The code DingTalk names in a refusal (UNCONFIRMED beyond third-party usage, so a
    /// refusal naming another code is reported with that one).
    pub code: &'static str,
    /// Its name in the console (权限管理).
    pub console_name: &'static str,
}

impl AppApi {
    pub fn new(settings: &DingTalkSettings, http: reqwest::Client) -> AppApi {
        AppApi {
            http,
            app_key: settings.client_id.clone(),
            app_secret: settings.client_secret.clone(),
            token_url: url_at(&settings.api_base, "/v1.0/oauth2/accessToken"),
            oapi_base: settings.oapi_base.clone(),
            token: tokio::sync::Mutex::new(None),
        }
    }

    pub(super) fn url(&self, path: &str) -> Url {
        url_at(&self.oapi_base, path)
    }

    /// The app's own access token (`POST /v1.0/oauth2/accessToken` `{appKey, appSecret}`),
    /// kept until five minutes before DingTalk says it expires.
    pub async fn token(&self) -> Result<String, ProviderError> {
        const STEP: &str = "oauth2/accessToken";
        let mut cached = self.token.lock().await;
        let now = std::time::Instant::now();
        if let Some(token) = cached.as_ref().filter(|t| t.renew_at > now) {
            return Ok(token.value.clone());
        }
        let body = serde_json::json!({
            "appKey": self.app_key,
            "appSecret": self.app_secret.expose(),
        });
        let request = self.http.post(self.token_url.clone()).json(&body);
        let bytes = call(STEP, request, false).await?;
        let answer: AppTokenResponse = parse(STEP, &bytes)?;
        let Some(value) = answer.access_token.filter(|t| !t.is_empty()) else {
            return Err(ProviderError::Malformed {
                step: STEP,
                detail: "no accessToken".into(),
            });
        };
        let lifetime = answer.expire_in.as_ref().and_then(number).unwrap_or(7200);
        let renew_at = now + std::time::Duration::from_secs(lifetime.saturating_sub(300));
        *cached = Some(AppToken {
            value: value.clone(),
            renew_at,
        });
        Ok(value)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// One call with the app token. A token DingTalk no longer takes (40014 invalid, 42001
    /// expired: revoked early, or the secret rotated) is fetched again, once.
    pub(super) async fn call(
        &self,
        step: &'static str,
        url: &Url,
        body: serde_json::Value,
        max_body_bytes: usize,
    ) -> Result<(Option<i64>, OapiAnswer), ProviderError> {
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let mut url = url.clone();
            url.query_pairs_mut().append_pair("access_token", &token);
            let request = self.http.post(url).json(&body);
            let bytes = super::call_up_to(step, request, false, max_body_bytes).await?;
            let answer: OapiAnswer = parse(step, &bytes)?;
            let errcode = answer.errcode();
            if matches!(errcode, Some(40014 | 42001)) && !retried {
                self.forget_token().await;
                retried = true;
                continue;
            }
            return Ok((errcode, answer));
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppTokenResponse {
    access_token: Option<String>,
    #[serde(default)]
    expire_in: Option<serde_json::Value>,
}

/// The older host's shape: `{"errcode", "errmsg", "result", "sub_code", "request_id"}`.
#[derive(Deserialize)]
pub(super) struct OapiAnswer {
    #[serde(default)]
    errcode: Option<serde_json::Value>,
    #[serde(default)]
    errmsg: Option<String>,
    #[serde(default)]
    sub_code: Option<serde_json::Value>,
    #[serde(default)]
    pub result: Option<serde_json::Value>,
}

impl OapiAnswer {
    /// `None` when the answer has none (success); an errcode that is no number (nor a
    /// numeric string) counts as -1, DingTalk's "system busy", never as success.
    fn errcode(&self) -> Option<i64> {
        match self.errcode.as_ref()? {
            serde_json::Value::Null => None,
            serde_json::Value::Number(n) => Some(n.as_i64().unwrap_or(-1)),
            serde_json::Value::String(s) => Some(s.trim().parse().unwrap_or(-1)),
            _ => Some(-1),
        }
    }

    /// A text field of `result`, when it is a non-empty string.
    pub fn text(&self, key: &str) -> Option<String> {
        self.result
            .as_ref()
            .and_then(|r| r.get(key))
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// The refusal of an app that lacks `needed`: errcode 60011, or 88 with sub_code 60011
    /// (both seen in the wild; UNCONFIRMED which DingTalk sends today). The permission is
    /// the one the message names (`[qyapi_…]`), else `needed`.
    pub fn missing_permission(
        &self,
        step: &'static str,
        errcode: Option<i64>,
        needed: Permission,
    ) -> Option<ProviderError> {
        let sub_code = self.sub_code.as_ref().and_then(number);
        if errcode != Some(60011) && sub_code != Some(60011) {
            return None;
        }
        let named = self.errmsg.as_deref().and_then(permission_in);
        Some(ProviderError::PermissionMissing {
            step,
            permission: named.unwrap_or(needed.code).to_owned(),
            console_name: needed.console_name,
        })
    }
}

/// The permission code a refusal's message names: the first `qyapi_…` or `Contact.…`
/// word in it.
fn permission_in(message: &str) -> Option<&str> {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .find(|word| word.starts_with("qyapi_") || word.starts_with("Contact."))
}

pub(super) fn oapi_error(
    step: &'static str,
    errcode: Option<i64>,
    answer: OapiAnswer,
) -> ProviderError {
    ProviderError::OrganisationApi {
        step,
        errcode: errcode.map_or_else(|| "none".to_owned(), |c| c.to_string()),
        errmsg: answer
            .errmsg
            .map(|m| m.chars().take(128).collect())
            .unwrap_or_default(),
        sub_code: answer.sub_code.as_ref().map(text_of),
        hint: match errcode {
            Some(60020) => {
                "the server's IP is not in the app's whitelist (开发管理 > 服务器出口IP)"
            }
            Some(40014) => "DingTalk refused the app token",
            Some(88) => "see sub_code",
            _ => "unexpected answer",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::permission_in;

    #[test]
    fn a_refusal_names_its_permission() {
        assert_eq!(
            permission_in("应用尚未开通所需的权限：[qyapi_get_department_list]，点击链接申请"),
            Some("qyapi_get_department_list")
        );
        assert_eq!(
            permission_in("missing Contact.User.mobile"),
            Some("Contact.User.mobile")
        );
        assert_eq!(permission_in("没有调用该接口的权限"), None);
    }
}
