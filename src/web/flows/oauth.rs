//! The authorization-code round trip with any identity provider: start (a fresh `state`
//! bound to this browser), and the callback that checks the state, asks the provider who
//! the person is, and signs them in (or links the account to the signed-in user). Which
//! provider a route serves is attached to the route (`ProviderRoute`), so one set of
//! handlers serves every provider.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::handoff::safe_next;
use super::link_account::{self, finish};
use crate::config::Settings;
use crate::crypto::random_token;
use crate::domain::{ProviderIdentity, ProviderKind, UserId};
use crate::error::{ApiCode, ApiError, PageError};
use crate::i18n::Lang;
use crate::login::{ClientInfo, LoginService, ProviderLogin};
use crate::providers::{FetchError, Providers};
use crate::web::schemas::{ErrorBody, ProviderName, TooManyRequests, Unavailable};
use crate::web::session::{PendingIdentity, PendingLogin, StateCheck, TypedSession};

/// Which provider the route it is attached to serves.
#[derive(Debug, Clone, Copy)]
pub struct ProviderRoute(pub ProviderKind);

#[derive(Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// Starts a round trip with `kind`: a fresh state in this browser's session, and the URL
/// to send the browser to. With `link_userid`, the callback links instead of logging in.
pub fn begin(
    session: &TypedSession,
    providers: &Providers,
    kind: ProviderKind,
    settings: &Settings,
    next: Option<&str>,
    link_userid: Option<UserId>,
) -> Result<String, BeginError> {
    let provider = providers.get(kind).ok_or(BeginError::NotConfigured(kind))?;
    // 256 bits from a CSPRNG; opaque: nothing is encoded in it (RFC 9700 §4.7.1).
    let state = random_token(32);
    let pending = PendingLogin {
        state: state.clone(),
        created_at: chrono::Utc::now().timestamp(),
        next: safe_next(next),
        link_userid,
    };
    session.push_pending(pending, settings.oauth_state_ttl)?;
    Ok(provider.authorize_url(&state).to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum BeginError {
    #[error("the provider {0} is not configured")]
    NotConfigured(ProviderKind),
    #[error("storing the OAuth state failed: {0}")]
    Session(#[from] actix_session::SessionInsertError),
}

impl BeginError {
    /// A provider that is off is "not found" (its button is not shown either).
    pub fn into_page(self, lang: Lang) -> PageError {
        match self {
            BeginError::NotConfigured(kind) => {
                let name = kind.label(lang);
                PageError::new(
                    StatusCode::NOT_FOUND,
                    lang,
                    lang.t("登录方式未启用", "Login method not enabled"),
                    lang.pick(
                        format!("本系统未启用{name}登录。"),
                        format!("Login with {name} is not enabled here."),
                    ),
                )
            }
            BeginError::Session(e) => PageError::internal(lang, "starting a provider login", &e),
        }
    }
}

/// `GET /user/{provider}/authorize`: straight to the provider.
pub async fn authorize(
    lang: Lang,
    route: web::Data<ProviderRoute>,
    session: TypedSession,
    providers: web::Data<Providers>,
    query: web::Query<StartQuery>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, PageError> {
    let next = query.next.as_deref();
    let url = begin(&session, &providers, route.0, &settings, next, None)
        .map_err(|e| e.into_page(lang))?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .finish())
}

/// Where to send the browser.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(example = json!({"url": "https://login.dingtalk.com/oauth2/auth?redirect_uri=…&state=…"}))]
pub struct AuthorizeUrl {
    url: String,
}

/// `GET /user/{provider}/`: the tutorial's JSON contract for SPAs, `{"url": ...}`.
#[utoipa::path(
    get,
    path = "/user/{provider}/",
    tag = "login",
    params(
        ("provider" = ProviderName, Path, description = "dingtalk, wechat or weibo"),
        ("next" = Option<String>, Query, description = "A local path to go to after the login"),
    ),
    responses(
        (status = 200, description = "The provider's authorize URL, with a fresh `state` bound to this browser's session cookie (send the browser there, keeping the cookie)", body = AuthorizeUrl),
        (status = 400, description = "40001: a malformed or repeated query parameter", body = ErrorBody),
        (status = 404, description = "40401: this provider is not enabled", body = ErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
pub async fn authorize_json(
    route: web::Data<ProviderRoute>,
    session: TypedSession,
    providers: web::Data<Providers>,
    query: web::Query<StartQuery>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ApiError> {
    let next = query.next.as_deref();
    let url = begin(&session, &providers, route.0, &settings, next, None).map_err(|e| match e {
        BeginError::NotConfigured(kind) => ApiError::new(
            ApiCode::NotFound,
            format!("login with {kind} is not enabled on this server"),
        ),
        BeginError::Session(e) => {
            tracing::error!(error = %e, "starting a provider login failed");
            ApiError::unavailable()
        }
    })?;
    Ok(HttpResponse::Ok().json(AuthorizeUrl { url }))
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    /// DingTalk's name for the code; the others (and older DingTalk) use `code`.
    #[serde(rename = "authCode")]
    auth_code: Option<String>,
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The app's parts a callback uses.
type CallbackServices = (
    web::Data<Providers>,
    web::Data<LoginService>,
    web::Data<Settings>,
);

/// `GET /user/dingtalkCallback/`, `/user/wechat/callback/`, `/user/weibo/callback/`.
pub async fn callback(
    lang: Lang,
    client: ClientInfo,
    route: web::Data<ProviderRoute>,
    session: TypedSession,
    query: web::Query<CallbackQuery>,
    (providers, login, settings): CallbackServices,
) -> Result<HttpResponse, PageError> {
    let query = query.into_inner();
    let kind = route.0;
    // The state is used up first, whatever follows.
    let pending = use_state(
        &session,
        &login,
        &settings,
        query.state.as_deref(),
        kind,
        lang,
    )
    .await?;
    let code = code_of(query, &providers, kind, lang)?;
    let identity = match providers.fetch_identity(kind, &code).await {
        Ok(identity) => identity,
        Err(FetchError::Provider(error)) => {
            return Err(PageError::from_provider(error, kind, lang));
        }
        Err(FetchError::Busy) => return Err(PageError::busy(lang)),
        Err(FetchError::NotConfigured(kind)) => {
            return Err(PageError::internal(lang, "a provider callback", &kind));
        }
    };
    if let Some(userid) = pending.link_userid {
        return link(&session, &login, userid, identity, lang).await;
    }
    let outcome = login
        .provider_login(&client, identity)
        .await
        .map_err(|e| PageError::from_login(e, lang))?;
    match outcome {
        ProviderLogin::SignedIn(pair) => {
            finish(&session, &settings, &login, pending.next, &pair, lang).await
        }
        ProviderLogin::ProofNeeded(identity) => {
            let waiting = PendingIdentity {
                id: random_token(16),
                identity,
                next: pending.next,
                created_at: chrono::Utc::now().timestamp(),
            };
            link_account::ask(&session, &waiting)
                .map_err(|e| PageError::internal(lang, "keeping the identity in the session", &e))
        }
    }
}

/// The login this callback's `state` belongs to, used up: the cookie forgets the state and
/// the database remembers that it was used, so a saved copy of the older cookie cannot
/// bring it back (threat T-3). Refused before the provider is asked anything.
async fn use_state(
    session: &TypedSession,
    login: &LoginService,
    settings: &Settings,
    state: Option<&str>,
    kind: ProviderKind,
    lang: Lang,
) -> Result<PendingLogin, PageError> {
    let check = match session.take_pending(state, settings.oauth_state_ttl) {
        StateCheck::Valid(pending) => {
            let first = login
                .use_once(&pending.state, pending.created_at, settings.oauth_state_ttl)
                .await
                .map_err(|e| PageError::from_login(e, lang))?;
            if first {
                return Ok(pending);
            }
            StateCheck::Used
        }
        other => other,
    };
    tracing::warn!(event = "oauth_state_rejected", provider = %kind, reason = ?check, "provider callback without a valid state");
    Err(restart(
        lang,
        "登录请求无效或已过期（例如重复打开了回调链接）。请回到登录页重新登录。".into(),
        "This sign-in request is invalid or has expired (for example, the callback link was opened twice). Please start again from the login page.".into(),
    ))
}

/// The provider's code, or the page that says why there is none (the person cancelled, or
/// the code is not one).
fn code_of(
    query: CallbackQuery,
    providers: &Providers,
    kind: ProviderKind,
    lang: Lang,
) -> Result<String, PageError> {
    let name = kind.label(lang);
    let code = query.auth_code.or(query.code);
    let refuses_without_code = providers
        .get(kind)
        .is_some_and(|provider| provider.refuses_without_code());
    if query.error.is_some() || (code.is_none() && refuses_without_code) {
        tracing::info!(provider = %kind, "provider sign-in cancelled by the user");
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            lang,
            lang.pick(
                format!("已取消{name}登录"),
                format!("{name} sign-in cancelled"),
            ),
            lang.pick(
                format!("您在{name}取消了授权。可以随时重新登录。"),
                format!(
                    "You cancelled the authorization at {name}. You can sign in again at any time."
                ),
            ),
        ));
    }
    let code = code.unwrap_or_default();
    if !super::plausible_code(&code) {
        tracing::warn!(provider = %kind, "provider callback with a missing or malformed code");
        return Err(restart(
            lang,
            format!("{name}没有返回有效的授权码，请重新登录。"),
            format!("{name} did not return a valid authorization code. Please sign in again."),
        ));
    }
    Ok(code)
}

/// Links `identity` to the signed-in user who started the round trip, who must still be
/// signed in as themselves.
async fn link(
    session: &TypedSession,
    login: &LoginService,
    userid: UserId,
    identity: ProviderIdentity,
    lang: Lang,
) -> Result<HttpResponse, PageError> {
    let Some(signed_in) = session.login().filter(|login| login.userid == userid) else {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            lang,
            lang.t("绑定失败", "Linking failed"),
            lang.t(
                "登录状态已变化，请重新登录后再绑定。",
                "You are no longer signed in as the same user. Please sign in again and retry.",
            ),
        ));
    };
    let kind = identity.provider;
    login
        .link_provider(signed_in.session_ref(), identity)
        .await
        .map_err(|e| PageError::from_linking(e, lang))?;
    let done = format!("/account?done=linked&provider={kind}");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, done))
        .finish())
}

fn restart(lang: Lang, zh: String, en: String) -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        lang,
        lang.t("登录请求已失效", "Sign-in request expired"),
        lang.pick(zh, en),
    )
}
