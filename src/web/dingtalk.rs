//! The DingTalk authorization-code flow: start (with a fresh `state` bound to this
//! browser), and the callback that checks the state, asks DingTalk who the person is,
//! binds or registers them, and hands the tokens over.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::handoff::{handoff_url, redirect_with_tokens, safe_next};
use super::i18n::Lang;
use super::session::{PendingLogin, SessionLogin, StateCheck, TypedSession};
use crate::accounts::{self, AccountError, ProviderIdentity};
use crate::config::{Settings, random_token};
use crate::db::{self, DbError, DbPool, write_transaction};
use crate::error::{ApiError, PageError};
use crate::providers::IdentityProvider;
use crate::tokens::{TokenError, TokenService};

/// Authorization codes are short opaque strings; anything longer is not one.
const MAX_CODE_BYTES: usize = 512;

pub type Provider = Arc<dyn IdentityProvider>;

#[derive(Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// Starts a DingTalk round trip: a fresh state in this browser's session, and the URL to
/// send the browser to. With `link_userid`, the callback links instead of logging in.
pub fn begin(
    session: &TypedSession,
    provider: &Provider,
    settings: &Settings,
    next: Option<&str>,
    link_userid: Option<i32>,
) -> Result<String, actix_session::SessionInsertError> {
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

/// `GET /user/dingtalk/authorize`: straight to DingTalk.
pub async fn authorize(
    req: HttpRequest,
    session: TypedSession,
    provider: web::Data<Provider>,
    query: web::Query<StartQuery>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, PageError> {
    let url = begin(&session, &provider, &settings, query.next.as_deref(), None).map_err(|e| {
        tracing::error!(error = %e, "storing the OAuth state failed");
        PageError::unavailable(Lang::from_request(&req))
    })?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .finish())
}

/// `GET /user/dingtalk/`: the tutorial's JSON contract for SPAs, `{"url": ...}`.
pub async fn authorize_json(
    session: TypedSession,
    provider: web::Data<Provider>,
    query: web::Query<StartQuery>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, ApiError> {
    let url = begin(&session, &provider, &settings, query.next.as_deref(), None).map_err(|e| {
        tracing::error!(error = %e, "storing the OAuth state failed");
        ApiError::unavailable()
    })?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "url": url })))
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(rename = "authCode")]
    auth_code: Option<String>,
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /user/dingtalkCallback/`.
pub async fn callback(
    req: HttpRequest,
    session: TypedSession,
    query: web::Query<CallbackQuery>,
    provider: web::Data<Provider>,
    pool: web::Data<DbPool>,
    tokens: web::Data<TokenService>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::from_request(&req);
    let query = query.into_inner();
    let restart = |message_zh: &str, message_en: &str| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            lang,
            lang.t("登录请求已失效", "Sign-in request expired"),
            lang.t(message_zh, message_en),
        )
    };

    // The state is used up first, whatever follows.
    let pending = match session.take_pending(query.state.as_deref(), settings.oauth_state_ttl) {
        StateCheck::Valid(pending) => pending,
        check => {
            tracing::warn!(security_event = "oauth_state_rejected", reason = ?check, "DingTalk callback without a valid state");
            return Err(restart(
                "登录请求无效或已过期（例如重复打开了回调链接）。请回到登录页重新登录。",
                "This sign-in request is invalid or has expired (for example, the callback link was opened twice). Please start again from the login page.",
            ));
        }
    };
    if query.error.is_some() {
        tracing::info!("DingTalk sign-in cancelled by the user");
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            lang,
            lang.t("已取消钉钉登录", "DingTalk sign-in cancelled"),
            lang.t(
                "您在钉钉取消了授权。可以随时重新登录。",
                "You cancelled the authorization at DingTalk. You can sign in again at any time.",
            ),
        ));
    }
    let code = query.auth_code.or(query.code).unwrap_or_default();
    if code.is_empty() || code.len() > MAX_CODE_BYTES || !code.bytes().all(|b| b.is_ascii_graphic())
    {
        tracing::warn!("DingTalk callback with a missing or malformed code");
        return Err(restart(
            "钉钉没有返回有效的授权码，请重新登录。",
            "DingTalk did not return a valid authorization code. Please sign in again.",
        ));
    }

    let identity = provider
        .fetch_identity(&code)
        .await
        .map_err(|e| PageError::from_provider(e, lang))?;
    if let Some(userid) = pending.link_userid {
        return link_to_signed_in_user(&session, &pool, userid, identity, lang).await;
    }
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let tokens = tokens.into_inner();
    // One short write transaction: bind or register, and the login session.
    let result = db::run(&pool, move |conn| {
        write_transaction(conn, |conn| -> Result<_, SignInError> {
            let (user, outcome) = accounts::sign_in_with_provider(conn, &identity)?;
            let pair = tokens.start_session(conn, &user, user_agent.as_deref())?;
            Ok((user, outcome, pair))
        })
    })
    .await;
    let (user, outcome, pair) = result.map_err(|e| match e {
        SignInError::Account(e) => PageError::from_account(e, lang),
        SignInError::Token(TokenError::Db(e)) | SignInError::Db(e) => PageError::from_db(e, lang),
        SignInError::Token(e) => {
            tracing::error!(error = %e, "issuing tokens failed");
            PageError::unavailable(lang)
        }
    })?;
    tracing::info!(security_event = "login", method = "dingtalk", userid = user.id, outcome = ?outcome, "signed in");

    session
        .log_in(&SessionLogin {
            userid: pair.userid,
            sid: pair.session_id.clone(),
        })
        .map_err(|e| {
            tracing::error!(error = %e, "storing the login in the session failed");
            PageError::unavailable(lang)
        })?;
    let location = pending
        .next
        .unwrap_or_else(|| handoff_url(&settings.frontend_login_url, &pair));
    Ok(redirect_with_tokens(&location))
}

/// The callback of "link DingTalk" on the account page: the person must still be signed in
/// as the user who started it, and the DingTalk account must not belong to someone else.
async fn link_to_signed_in_user(
    session: &TypedSession,
    pool: &DbPool,
    userid: i32,
    identity: ProviderIdentity,
    lang: Lang,
) -> Result<HttpResponse, PageError> {
    let Some(login) = session.login().filter(|login| login.userid == userid) else {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            lang,
            lang.t("绑定失败", "Linking failed"),
            lang.t(
                "登录状态已变化，请重新登录后再绑定钉钉。",
                "You are no longer signed in as the same user. Please sign in again and retry.",
            ),
        ));
    };
    let result = db::run(pool, move |conn| -> Result<(), SignInError> {
        TokenService::load_session(conn, &login.sid, login.userid)?;
        Ok(accounts::link_to_user(conn, userid, &identity)?)
    })
    .await;
    let refused = |zh: &'static str, en: &'static str| {
        PageError::new(
            StatusCode::CONFLICT,
            lang,
            lang.t("绑定失败", "Linking failed"),
            lang.t(zh, en),
        )
        .with_back("/account", lang.t("返回我的账号", "Back to my account"))
    };
    match result {
        Ok(()) => {
            tracing::info!(
                security_event = "link",
                provider = "dingtalk",
                userid,
                "linked a DingTalk account"
            );
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/account?done=linked"))
                .finish())
        }
        Err(SignInError::Account(AccountError::LinkedElsewhere)) => Err(refused(
            "该钉钉账号已绑定其他用户，无法绑定到当前账号。",
            "This DingTalk account already belongs to another user and cannot be linked to yours.",
        )),
        Err(SignInError::Account(AccountError::AlreadyLinked)) => Err(refused(
            "您的账号已绑定一个钉钉账号，请先解绑。",
            "Your account already has a DingTalk account linked. Unlink it first.",
        )),
        Err(SignInError::Token(TokenError::Db(e)))
        | Err(SignInError::Db(e))
        | Err(SignInError::Account(AccountError::Db(e))) => Err(PageError::from_db(e, lang)),
        Err(other) => {
            tracing::warn!(error = %other, "linking DingTalk refused");
            Err(refused(
                "登录状态已失效，请重新登录后再绑定。",
                "Your session has ended. Please sign in again and retry.",
            ))
        }
    }
}

impl From<diesel::result::Error> for SignInError {
    fn from(error: diesel::result::Error) -> Self {
        SignInError::Db(DbError::Query(error))
    }
}

#[derive(Debug, thiserror::Error)]
enum SignInError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Db(#[from] DbError),
}
