//! WeChat Open Platform's website login (网站应用微信登录): the QR page at
//! `open.weixin.qq.com/connect/qrconnect`, the code exchanged at `/sns/oauth2/access_token`,
//! the profile read at `/sns/userinfo` (shapes in `docs/dingtalk-api.md` §2). WeChat answers
//! errors as `{"errcode", "errmsg"}`, so an error is told by that key, never by the HTTP
//! status.

use futures_util::future::BoxFuture;
use serde::Deserialize;
use url::Url;

use super::http::{
    clean_nick, is_web_url, json_answer, number, observed, refusal, send, text_of, upstream,
};
use super::{IdentityProvider, ProviderError};
use crate::config::{OAuthAppSettings, Secret};
use crate::domain::{ProviderIdentity, ProviderKind};

pub struct WeChat {
    http: reqwest::Client,
    app_id: String,
    app_secret: Secret,
    auth_url: Url,
    token_url: Url,
    profile_url: Url,
    redirect_uri: String,
}

/// `40029` invalid code, `40163` code already used: the person starts again.
const CODE_ERRORS: [&str; 2] = ["40029", "40163"];

impl WeChat {
    pub fn new(settings: &OAuthAppSettings, http: reqwest::Client, redirect_uri: String) -> WeChat {
        WeChat {
            http,
            app_id: settings.client_id.clone(),
            app_secret: settings.client_secret.clone(),
            auth_url: settings.auth_url.clone(),
            token_url: settings.api_url("/sns/oauth2/access_token"),
            profile_url: settings.api_url("/sns/userinfo"),
            redirect_uri,
        }
    }

    /// One GET whose answer is JSON or WeChat's error shape.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        step: &'static str,
        url: &Url,
        query: &[(&str, &str)],
    ) -> Result<T, ProviderError> {
        observed(ProviderKind::WeChat, step, async move {
            let (status, bytes) = send(step, self.http.get(url.clone()).query(query)).await?;
            let value = json_answer(step, status, &bytes)?;
            // Told by the key (`-1` is "system busy"); `0` is success where WeChat sends it.
            let errcode = value
                .get("errcode")
                .filter(|c| number(c) != Some(0))
                .map(text_of);
            if let Some(errcode) = errcode {
                // `errmsg` ends with WeChat's request id (`rid: …`): logged with the code.
                let requestid = value.get("errmsg").map(text_of);
                let code_rejected = CODE_ERRORS.contains(&errcode.as_str());
                return Err(refusal(step, status, errcode, requestid, code_rejected));
            }
            if !status.is_success() {
                return Err(upstream(step, status, None, None));
            }
            serde_json::from_value(value).map_err(|e| ProviderError::Malformed {
                step,
                detail: e.to_string(),
            })
        })
        .await
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    openid: String,
    /// Only when the app is bound to an Open Platform account.
    #[serde(default)]
    unionid: Option<String>,
}

#[derive(Deserialize)]
struct UserInfo {
    openid: String,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    headimgurl: Option<String>,
    #[serde(default)]
    unionid: Option<String>,
}

impl IdentityProvider for WeChat {
    fn kind(&self) -> ProviderKind {
        ProviderKind::WeChat
    }

    fn authorize_url(&self, state: &str) -> Url {
        let mut url = self.auth_url.clone();
        // WeChat's documented order; the fragment is part of the contract.
        url.query_pairs_mut()
            .append_pair("appid", &self.app_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", "snsapi_login")
            .append_pair("state", state);
        url.set_fragment(Some("wechat_redirect"));
        url
    }

    fn refuses_without_code(&self) -> bool {
        true
    }

    fn fetch_identity<'a>(
        &'a self,
        code: &'a str,
    ) -> BoxFuture<'a, Result<ProviderIdentity, ProviderError>> {
        Box::pin(async move {
            const TOKEN: &str = "sns/oauth2/access_token";
            const PROFILE: &str = "sns/userinfo";
            let token: TokenResponse = self
                .get(
                    TOKEN,
                    &self.token_url,
                    &[
                        ("appid", &self.app_id),
                        ("secret", self.app_secret.expose()),
                        ("code", code),
                        ("grant_type", "authorization_code"),
                    ],
                )
                .await?;
            if token.access_token.is_empty() || token.openid.is_empty() {
                return Err(ProviderError::Malformed {
                    step: TOKEN,
                    detail: "no access_token or openid".into(),
                });
            }
            let profile: UserInfo = self
                .get(
                    PROFILE,
                    &self.profile_url,
                    &[
                        ("access_token", &token.access_token),
                        ("openid", &token.openid),
                        ("lang", "zh_CN"),
                    ],
                )
                .await?;
            if profile.openid != token.openid {
                return Err(ProviderError::Malformed {
                    step: PROFILE,
                    detail: "the profile is another person's".into(),
                });
            }
            // The unionId is the key that survives the company's other WeChat apps; the
            // openId (per app) is kept beside it, as with DingTalk.
            let unionid = profile.unionid.or(token.unionid).filter(|u| !u.is_empty());
            Ok(ProviderIdentity {
                provider: ProviderKind::WeChat,
                uid: token.openid,
                unionid,
                nick: clean_nick(profile.nickname.unwrap_or_default()),
                avatar_url: profile.headimgurl.filter(|u| is_web_url(u)),
                phone: None,
            })
        })
    }
}
