//! Silent login (免登) inside the DingTalk client: the page gets a code from DingTalk's JSAPI
//! (`dd.requestAuthCode`) and posts it here; the answer is the handoff's four values as
//! JSON, and the browser session is signed in too. No CSRF token can exist in this call,
//! and none is needed for login CSRF: it signs in only the person whose code it is (a code
//! the page's own DingTalk client issued), and it is rate-limited like the other logins.
//! Only for an internal app (`DINGTALK_CORP_IDS`); otherwise 404.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::handoff::handoff_location;
use super::link_account;
use crate::config::Settings;
use crate::domain::{ProviderKind, UserId};
use crate::error::{ApiCode, ApiError};
use crate::login::{ClientInfo, LoginService, ProviderLogin};
use crate::providers::{FetchError, Providers};
use crate::web::schemas::{ErrorBody, TooManyRequests, Unavailable};
use crate::web::session::{PendingIdentity, SessionLogin, TypedSession};

/// The code from `dd.requestAuthCode` (`authCode`; `code` is accepted too).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"authCode": "a1b2c3d4e5f6"}))]
pub struct ClientCode {
    #[serde(rename = "authCode")]
    auth_code: Option<String>,
    code: Option<String>,
}

/// The login's four values and where a page sends the browser next (the SPA's handoff).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InAppLogin {
    #[schema(value_type = i32)]
    userid: UserId,
    username: String,
    token: String,
    refresh_token: String,
    handoff_url: String,
}

/// `POST /api/dingtalk/inapp-login` `{"authCode"}` → `{"userid","username","token","refreshToken"}`.
#[utoipa::path(
    post,
    path = "/api/dingtalk/inapp-login",
    tag = "login",
    request_body = ClientCode,
    responses(
        (status = 200, description = "Signed in (the browser session too)", body = InAppLogin),
        (status = 400, description = "40001: no or a malformed authCode", body = ErrorBody),
        (status = 401, description = "40106: the code is invalid, used or expired (DingTalk's 40078)", body = ErrorBody),
        (status = 403, description = "40302: deactivated; 40303: not a member of the organisation; 40304: outside the app's visibility range; 40305: no account here yet (SIGNUP=bind-only)", body = ErrorBody),
        (status = 404, description = "40401: not an internal app (no DINGTALK_CORP_IDS)", body = ErrorBody),
        (status = 409, description = "40901: the phone number belongs to an account that must prove its password first", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 502, description = "50201: DingTalk is unreachable or answered an error", body = ErrorBody),
        (status = 503, response = Unavailable),
    )
)]
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
            let handoff_url = handoff_location(&settings, &login, &pair).await?;
            Ok(HttpResponse::Ok()
                .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
                .json(InAppLogin {
                    userid: pair.userid,
                    username: pair.username,
                    token: pair.access_token,
                    refresh_token: pair.refresh_token,
                    handoff_url,
                }))
        }
        ProviderLogin::ProofNeeded(identity) => {
            let waiting = PendingIdentity {
                id: crate::crypto::random_token(16),
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
