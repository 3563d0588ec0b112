//! Weibo's OAuth2 (shapes in `docs/dingtalk-api.md` §3): the code exchanged at
//! `POST /oauth2/access_token` (form-encoded, with the same `redirect_uri`), the token's
//! `uid` confirmed at `POST /oauth2/get_token_info` (Weibo's own advice: the token answer
//! alone is no proof of who it belongs to), the profile read at `/2/users/show.json`.
//! Errors are `{"error", "error_code", ...}` with `error_code` a number or a string.

use futures_util::future::BoxFuture;
use serde::Deserialize;
use url::Url;

use super::http::{
    clean_nick, is_web_url, json_answer, number, observed, refusal, send, text_of, upstream,
};
use super::{IdentityProvider, ProviderError};
use crate::config::{OAuthAppSettings, Secret};
use crate::domain::{ProviderIdentity, ProviderKind};

pub struct Weibo {
    http: reqwest::Client,
    client_id: String,
    client_secret: Secret,
    auth_url: Url,
    token_url: Url,
    token_info_url: Url,
    profile_url: Url,
    redirect_uri: String,
}

/// `21325` invalid_grant (a used, expired or foreign code): the person starts again.
const CODE_ERRORS: [u64; 1] = [21325];

impl Weibo {
    pub fn new(settings: &OAuthAppSettings, http: reqwest::Client, redirect_uri: String) -> Weibo {
        Weibo {
            http,
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            auth_url: settings.auth_url.clone(),
            token_url: settings.api_url("/oauth2/access_token"),
            token_info_url: settings.api_url("/oauth2/get_token_info"),
            profile_url: settings.api_url("/2/users/show.json"),
            redirect_uri,
        }
    }

    /// The answer's JSON, or Weibo's error shape as a `ProviderError`.
    async fn json(
        step: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<serde_json::Value, ProviderError> {
        observed(ProviderKind::Weibo, step, async move {
            let (status, bytes) = send(step, request).await?;
            let value = json_answer(step, status, &bytes)?;
            if value.get("error").is_some() || value.get("error_code").is_some() {
                let error_code = value.get("error_code").and_then(number);
                let code = match (error_code, value.get("error")) {
                    (Some(n), _) => n.to_string(),
                    (None, Some(error)) => text_of(error),
                    (None, None) => "unknown".into(),
                };
                let code_rejected = error_code.is_some_and(|c| CODE_ERRORS.contains(&c));
                // Weibo's answers carry no request id (`request` is the path).
                return Err(refusal(step, status, code, None, code_rejected));
            }
            if !status.is_success() {
                return Err(upstream(step, status, None, None));
            }
            Ok(value)
        })
        .await
    }
}

/// A field Weibo may send as a number or a string (`uid`, `appkey`), as text.
fn id_text(value: &serde_json::Value, key: &str) -> Option<String> {
    match value.get(key)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[derive(Deserialize)]
struct Profile {
    idstr: String,
    #[serde(default)]
    screen_name: Option<String>,
    #[serde(default)]
    avatar_large: Option<String>,
}

impl IdentityProvider for Weibo {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Weibo
    }

    fn authorize_url(&self, state: &str) -> Url {
        let mut url = self.auth_url.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("state", state);
        url
    }

    fn fetch_identity<'a>(
        &'a self,
        code: &'a str,
    ) -> BoxFuture<'a, Result<ProviderIdentity, ProviderError>> {
        Box::pin(async move {
            const TOKEN: &str = "oauth2/access_token";
            const TOKEN_INFO: &str = "oauth2/get_token_info";
            const PROFILE: &str = "2/users/show.json";
            let form = [
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose()),
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
            ];
            let request = self.http.post(self.token_url.clone()).form(&form);
            let token = Weibo::json(TOKEN, request).await?;
            let (Some(access_token), Some(uid)) = (
                token.get("access_token").and_then(|t| t.as_str()),
                id_text(&token, "uid"),
            ) else {
                return Err(ProviderError::Malformed {
                    step: TOKEN,
                    detail: "no access_token or uid".into(),
                });
            };

            let request = self
                .http
                .post(self.token_info_url.clone())
                .form(&[("access_token", access_token)]);
            let info = Weibo::json(TOKEN_INFO, request).await?;
            let confirmed_uid = id_text(&info, "uid");
            let appkey = id_text(&info, "appkey");
            if confirmed_uid.as_deref() != Some(uid.as_str())
                || appkey.as_deref() != Some(self.client_id.as_str())
            {
                return Err(ProviderError::Unverified {
                    step: TOKEN_INFO,
                    detail: format!(
                        "the token belongs to uid {confirmed_uid:?} of app {appkey:?}, not to uid {uid} of this app"
                    ),
                });
            }

            let request = self
                .http
                .get(self.profile_url.clone())
                .query(&[("access_token", access_token), ("uid", &uid)]);
            let profile: Profile = serde_json::from_value(Weibo::json(PROFILE, request).await?)
                .map_err(|e| ProviderError::Malformed {
                    step: PROFILE,
                    detail: e.to_string(),
                })?;
            if profile.idstr != uid {
                return Err(ProviderError::Malformed {
                    step: PROFILE,
                    detail: "the profile is another person's".into(),
                });
            }
            Ok(ProviderIdentity {
                provider: ProviderKind::Weibo,
                uid,
                unionid: None,
                nick: clean_nick(profile.screen_name.unwrap_or_default()),
                avatar_url: profile.avatar_large.filter(|u| is_web_url(u)),
                phone: None,
            })
        })
    }
}
