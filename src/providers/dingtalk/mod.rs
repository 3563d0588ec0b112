//! DingTalk's new-style OAuth2 (login.dingtalk.com + api.dingtalk.com/v1.0), with the
//! shapes in `docs/dingtalk-api.md`: the code is exchanged at `/v1.0/oauth2/userAccessToken`
//! (JSON body, camelCase), the profile read at `/v1.0/contact/users/me`.

pub mod directory;
pub mod event_crypto;
pub mod oapi;
pub mod stream;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use url::Url;

use super::http::{clean_nick, is_web_url, number, observed, parse, send_up_to};
use super::{IdentityProvider, ProviderError};
use crate::config::{DingTalkSettings, Secret, url_at};
use crate::domain::{Phone, ProviderIdentity, ProviderKind, UNIONID_UID_PREFIX};
use oapi::{AppApi, OapiAnswer, oapi_error};

pub struct DingTalk {
    http: reqwest::Client,
    client_id: String,
    client_secret: Secret,
    auth_url: Url,
    token_url: Url,
    profile_url: Url,
    redirect_uri: String,
    /// Only members of these organisations get in (`DINGTALK_CORP_IDS`); empty: anyone.
    corp_ids: Vec<String>,
    /// With `DINGTALK_CORP_IDS`: the organisation's APIs (in-client login, and with
    /// `DINGTALK_VERIFY_MEMBERSHIP` the contacts check) and the app token they need.
    org: Option<OrgApi>,
}

/// DingTalk's organisation APIs on the older host, called with the app's own token.
struct OrgApi {
    verify_membership: bool,
    app: Arc<AppApi>,
    by_unionid_url: Url,
    userinfo_url: Url,
    user_get_url: Url,
}

/// The largest answer of a login's calls (a profile, a token).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

impl DingTalk {
    /// `app`: the app's own API client, shared with the directory (one app token); there
    /// is one when `DINGTALK_CORP_IDS` is set.
    pub fn new(
        settings: &DingTalkSettings,
        http: reqwest::Client,
        redirect_uri: String,
        app: Option<Arc<AppApi>>,
    ) -> DingTalk {
        DingTalk {
            http,
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            auth_url: settings.auth_url.clone(),
            token_url: url_at(&settings.api_base, "/v1.0/oauth2/userAccessToken"),
            profile_url: url_at(&settings.api_base, "/v1.0/contact/users/me"),
            redirect_uri,
            corp_ids: settings.corp_ids.clone(),
            org: app.map(|app| OrgApi {
                verify_membership: settings.verify_membership,
                by_unionid_url: app.url("/topapi/user/getbyunionid"),
                userinfo_url: app.url("/topapi/v2/user/getuserinfo"),
                user_get_url: app.url("/topapi/v2/user/get"),
                app,
            }),
        }
    }

    /// The user token, and the organisation the person chose at DingTalk (only with the
    /// `corpid` scope).
    async fn exchange_code(&self, code: &str) -> Result<(String, Option<String>), ProviderError> {
        const STEP: &str = "userAccessToken";
        let body = serde_json::json!({
            "clientId": self.client_id,
            "clientSecret": self.client_secret.expose(),
            "code": code,
            "grantType": "authorization_code",
        });
        // A 4xx here means the code: invalid, used or expired.
        let bytes = call(
            STEP,
            self.http.post(self.token_url.clone()).json(&body),
            true,
        )
        .await?;
        let token: TokenResponse = parse(STEP, &bytes)?;
        match token.access_token {
            Some(access) if !access.is_empty() => Ok((access, token.corp_id)),
            _ => Err(ProviderError::Malformed {
                step: STEP,
                detail: "no accessToken".into(),
            }),
        }
    }

    async fn read_profile(&self, access_token: &str) -> Result<Profile, ProviderError> {
        const STEP: &str = "contact/users/me";
        let request = self
            .http
            .get(self.profile_url.clone())
            .header("x-acs-dingtalk-access-token", access_token);
        let bytes = call(STEP, request, false).await?;
        let profile: Profile = parse(STEP, &bytes)?;
        if profile.open_id.as_deref().is_none_or(str::is_empty) {
            return Err(ProviderError::Malformed {
                step: STEP,
                detail: "no openId".into(),
            });
        }
        Ok(profile)
    }
}

/// Sends one request to DingTalk and returns the body of a 2xx answer. Anything else is a
/// `ProviderError` carrying DingTalk's own error code and request id: 401/403 are missing
/// permissions, other 4xx a refused code where `client_error_is_code`, the rest upstream faults.
async fn call(
    step: &'static str,
    request: reqwest::RequestBuilder,
    client_error_is_code: bool,
) -> Result<Vec<u8>, ProviderError> {
    call_up_to(step, request, client_error_is_code, MAX_ANSWER_BYTES).await
}

/// `call` for an answer that may be as large as `max_body_bytes`.
async fn call_up_to(
    step: &'static str,
    request: reqwest::RequestBuilder,
    client_error_is_code: bool,
    max_body_bytes: usize,
) -> Result<Vec<u8>, ProviderError> {
    observed(ProviderKind::DingTalk, step, async move {
        let (status, bytes) = send_up_to(step, request, max_body_bytes).await?;
        if status.is_success() {
            return Ok(bytes);
        }
        let (code, requestid) = error_fields(&bytes);
        let status = status.as_u16();
        Err(match status {
            401 | 403 => ProviderError::PermissionDenied {
                step,
                status,
                code,
                requestid,
            },
            400..=499 if client_error_is_code => ProviderError::CodeRejected {
                step,
                status,
                code,
                requestid,
            },
            _ => ProviderError::Upstream {
                step,
                status,
                code,
                requestid,
            },
        })
    })
    .await
}

impl IdentityProvider for DingTalk {
    fn kind(&self) -> ProviderKind {
        ProviderKind::DingTalk
    }

    fn authorize_url(&self, state: &str) -> Url {
        let mut url = self.auth_url.clone();
        url.query_pairs_mut()
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("prompt", "consent")
            .append_pair("state", state);
        if self.corp_ids.is_empty() {
            url.query_pairs_mut().append_pair("scope", "openid");
        } else {
            // The organisation the person signs in as comes back as `corpId` in the token
            // answer; with one allowed, DingTalk pre-selects it.
            url.query_pairs_mut().append_pair("scope", "openid corpid");
            if let [only] = self.corp_ids.as_slice() {
                url.query_pairs_mut().append_pair("corpId", only);
            }
        }
        url
    }

    fn client_identity<'a>(
        &'a self,
        code: &'a str,
    ) -> Option<BoxFuture<'a, Result<ProviderIdentity, ProviderError>>> {
        let org = self.org.as_ref()?;
        Some(Box::pin(self.identity_from_client_code(org, code)))
    }

    fn fetch_identity<'a>(
        &'a self,
        code: &'a str,
    ) -> BoxFuture<'a, Result<ProviderIdentity, ProviderError>> {
        Box::pin(async move {
            let (access_token, corp_id) = self.exchange_code(code).await?;
            self.check_organisation(corp_id)?;
            let profile = self.read_profile(&access_token).await?;
            if let Some(org) = self.org.as_ref().filter(|org| org.verify_membership) {
                self.check_membership(org, profile.union_id.as_deref())
                    .await?;
            }
            let phone = profile
                .mobile
                .as_deref()
                .and_then(|m| Phone::parse(m, profile.state_code.as_deref()));
            Ok(ProviderIdentity {
                provider: ProviderKind::DingTalk,
                uid: profile.open_id.unwrap_or_default(),
                unionid: profile.union_id.filter(|u| !u.is_empty()),
                nick: clean_nick(profile.nick.unwrap_or_default()),
                avatar_url: profile.avatar_url.filter(|u| is_web_url(u)),
                phone,
            })
        })
    }
}

impl DingTalk {
    /// The person must be an employee of the app's organisation: `errcode` 0 with
    /// `contact_type` 0. An external contact (1) or `60121` (not found: never joined, or
    /// left) is refused; any other answer is DingTalk's trouble, reported to the admin.
    async fn check_membership(
        &self,
        org: &OrgApi,
        union_id: Option<&str>,
    ) -> Result<(), ProviderError> {
        const STEP: &str = "topapi/user/getbyunionid";
        let Some(union_id) = union_id.filter(|u| !u.is_empty()) else {
            return Err(ProviderError::NotAMember {
                reason: "no unionId to check",
            });
        };
        let body = serde_json::json!({ "unionid": union_id });
        let (errcode, answer) = self.oapi(org, STEP, &org.by_unionid_url, body).await?;
        match errcode {
            Some(0) => {
                let contact_type = answer
                    .result
                    .as_ref()
                    .and_then(|r| r.get("contact_type"))
                    .and_then(number);
                match contact_type {
                    Some(0) => Ok(()),
                    Some(1) => Err(ProviderError::NotAMember {
                        reason: "an external contact, not an employee",
                    }),
                    _ => Err(ProviderError::Malformed {
                        step: STEP,
                        detail: "no contact_type".into(),
                    }),
                }
            }
            Some(60121) => Err(ProviderError::NotAMember {
                reason: "not found in the organisation (60121)",
            }),
            other => Err(oapi_error(STEP, other, answer)),
        }
    }

    /// One call to the older host with the app token.
    async fn oapi(
        &self,
        org: &OrgApi,
        step: &'static str,
        url: &Url,
        body: serde_json::Value,
    ) -> Result<(Option<i64>, OapiAnswer), ProviderError> {
        org.app.call(step, url, body, MAX_ANSWER_BYTES).await
    }

    /// Silent login inside the DingTalk client: the code from the JSAPI's
    /// `requestAuthCode`, exchanged with the app token (`topapi/v2/user/getuserinfo`), then
    /// the person's details (`topapi/v2/user/get`). Keyed on unionId, so the web flow and
    /// this one find the same user and link.
    async fn identity_from_client_code(
        &self,
        org: &OrgApi,
        code: &str,
    ) -> Result<ProviderIdentity, ProviderError> {
        const INFO: &str = "topapi/v2/user/getuserinfo";
        const DETAILS: &str = "topapi/v2/user/get";
        let body = serde_json::json!({ "code": code });
        let (errcode, answer) = self.oapi(org, INFO, &org.userinfo_url, body).await?;
        match errcode {
            Some(0) => {}
            // Expired, used, or a code of the web flow.
            Some(40078) => {
                return Err(ProviderError::CodeRejected {
                    step: INFO,
                    status: 200,
                    code: Some("40078".into()),
                    requestid: None,
                });
            }
            Some(40079) => return Err(ProviderError::NotVisible),
            other => return Err(oapi_error(INFO, other, answer)),
        }
        let text = |answer: &OapiAnswer, key: &str| answer.text(key);
        let userid = text(&answer, "userid").ok_or(ProviderError::Malformed {
            step: INFO,
            detail: "no userid".into(),
        })?;
        let body = serde_json::json!({ "userid": userid });
        let (errcode, details) = self.oapi(org, DETAILS, &org.user_get_url, body).await?;
        if errcode != Some(0) {
            return Err(oapi_error(DETAILS, errcode, details));
        }
        let unionid = text(&details, "unionid")
            .or_else(|| text(&answer, "unionid"))
            .ok_or(ProviderError::Malformed {
                step: DETAILS,
                detail: "no unionid".into(),
            })?;
        if org.verify_membership {
            self.check_membership(org, Some(&unionid)).await?;
        }
        let phone = text(&details, "mobile")
            .and_then(|m| Phone::parse(&m, text(&details, "state_code").as_deref()));
        Ok(ProviderIdentity {
            provider: ProviderKind::DingTalk,
            uid: format!("{UNIONID_UID_PREFIX}{unionid}"),
            unionid: Some(unionid),
            nick: clean_nick(text(&details, "name").unwrap_or_default()),
            avatar_url: text(&details, "avatar").filter(|u| is_web_url(u)),
            phone,
        })
    }

    /// With `DINGTALK_CORP_IDS` set, the organisation DingTalk names must be one of them. A
    /// missing `corpId` is a refusal, never a pass (threat T-21).
    fn check_organisation(&self, corp_id: Option<String>) -> Result<(), ProviderError> {
        if self.corp_ids.is_empty() {
            return Ok(());
        }
        match corp_id {
            Some(corp_id) if self.corp_ids.contains(&corp_id) => Ok(()),
            corp_id => Err(ProviderError::NotInOrganisation { corp_id }),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenResponse {
    access_token: Option<String>,
    /// Present when the authorize scope asked for `corpid`.
    #[serde(default)]
    corp_id: Option<String>,
    // `expireIn` is documented as a number but peers' fixtures send "3600"; we do not rely
    // on it, so any JSON value is accepted.
    #[serde(default)]
    #[allow(dead_code)]
    expire_in: Option<serde_json::Value>,
}

/// The documented fields of `contact/users/me`, all strings; unknown ones (`visitor`) ignored.
/// A field of another type (`openId: 123`, `nick: {}`) makes the answer malformed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    nick: Option<String>,
    avatar_url: Option<String>,
    mobile: Option<String>,
    open_id: Option<String>,
    union_id: Option<String>,
    state_code: Option<String>,
}

/// DingTalk's error shape: `{"code": "<string>", "message": "...", "requestid": "..."}`.
/// The code is a string (Casdoor broke parsing it as an int), so read it as any value.
fn error_fields(bytes: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return (None, None);
    };
    let text = |key: &str| {
        value.get(key).and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.chars().take(128).collect()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    (
        text("code"),
        text("requestid").or_else(|| text("requestId")),
    )
}
