//! Silent login (免登) inside the DingTalk client: the page gets a code from DingTalk's JSAPI
//! (`dd.requestAuthCode`) and posts it here; the answer is the handoff's four values as
//! JSON, and the browser session is signed in too. No CSRF token can exist in this call,
//! and none is needed for login CSRF: it signs in only the person whose code it is (a code
//! the page's own DingTalk client issued), and it is rate-limited like the other logins.
//! Only for an internal app (`DINGTALK_CORP_IDS`); otherwise 404.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::handoff::handoff_location;
use super::link_account;
use crate::config::Settings;
use crate::domain::ProviderKind;
use crate::error::{ApiCode, ApiError};
use crate::login::{ClientInfo, LoginService, ProviderLogin};
use crate::providers::{FetchError, Providers};
use crate::web::session::{PendingIdentity, SessionLogin, TypedSession};

#[derive(Deserialize)]
pub struct ClientCode {
    #[serde(rename = "authCode")]
    auth_code: Option<String>,
    code: Option<String>,
}

/// `POST /api/dingtalk/inapp-login` `{"authCode"}` → `{"userid","username","token","refreshToken"}`.
pub async fn inapp_login(
    client: ClientInfo,
    session: TypedSession,
    body: web::Json<ClientCode>,
    providers: web::Data<Providers>,
    login: web::Data<LoginService>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let code = body.auth_code.or(body.code).unwrap_or_default();
    if !super::plausible_code(&code) {
        return Err(ApiError::bad_request("authCode is missing or malformed"));
    }
    let identity = match providers
        .client_identity(ProviderKind::DingTalk, &code)
        .await
    {
        Ok(identity) => identity,
        Err(FetchError::NotConfigured(_)) => {
            return Err(ApiError::new(
                ApiCode::NotFound,
                "in-client login needs an internal DingTalk app (DINGTALK_CORP_IDS)",
            ));
        }
        Err(FetchError::Busy) => return Err(ApiError::busy()),
        Err(FetchError::Provider(error)) => return Err(error.into()),
    };
    match login.provider_login(&client, identity).await? {
        ProviderLogin::SignedIn(pair) => {
            session
                .log_in(&SessionLogin {
                    userid: pair.userid,
                    sid: pair.session_id.clone(),
                })
                .map_err(|e| {
                    tracing::error!(error = %e, "storing the login in the session failed");
                    ApiError::unavailable()
                })?;
            // The four values, and where a server page (the login page) sends the browser
            // next: the SPA's handoff URL.
            Ok(HttpResponse::Ok()
                .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
                .json(serde_json::json!({
                    "userid": pair.userid,
                    "username": pair.username,
                    "token": pair.access_token,
                    "refreshToken": pair.refresh_token,
                    "handoffUrl": handoff_location(&settings, &login, &pair).await?,
                })))
        }
        ProviderLogin::ProofNeeded(identity) => {
            let waiting = PendingIdentity {
                identity,
                next: None,
                created_at: chrono::Utc::now().timestamp(),
            };
            session.hold_identity(&waiting).map_err(|e| {
                tracing::error!(error = %e, "keeping the identity in the session failed");
                ApiError::unavailable()
            })?;
            Err(ApiError::new(
                ApiCode::ProofNeeded,
                format!(
                    "an account with this phone number exists: sign in with its password at {}",
                    link_account::PATH
                ),
            ))
        }
    }
}
