//! `GET|POST /oauth2/logout` — OpenID Connect RP-Initiated Logout 1.0. The logout happens
//! at once only when the `id_token_hint` names the person signed in in this browser and a
//! live session of theirs at that client: then both end and the browser goes to the
//! registered `post_logout_redirect_uri` (with `state`). Anything else — no hint, a hint
//! that is not ours, another person's id_token, a session already over — could be
//! someone's page logging a person out, so the person confirms first
//! (`POST /oauth2/logout/confirm`, CSRF-protected).

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use url::Url;

use super::{OpenId, params};
use crate::error::PageError;
use crate::i18n::Lang;
use crate::login::LoginService;
use crate::oidc::{LogoutHint, OpenIdProvider};
use crate::web::auth::{browser_login, log_out_browser};
use crate::web::extract::{CsrfForm, CsrfProtected};
use crate::web::render::render_page;
use crate::web::session::TypedSession;

pub const PATH: &str = "/oauth2/logout";
pub const CONFIRM_PATH: &str = "/oauth2/logout/confirm";

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

#[derive(Template)]
#[template(path = "oidc_logout.html")]
struct ConfirmPage<'a> {
    lang: Lang,
    csrf: &'a str,
    /// The hint was not one of our id_tokens: said on the page, and its return address
    /// is only kept when `client_id` vouches for it.
    invalid_hint: bool,
    fields: Vec<(&'static str, String)>,
}

impl CsrfProtected for LogoutParams {
    const FORM: &'static str = "oidc_logout";
}

pub async fn logout(
    req: HttpRequest,
    body: web::Bytes,
    session: TypedSession,
    openid: web::Data<OpenId>,
    login: web::Data<LoginService>,
    lang: Lang,
) -> Result<HttpResponse, PageError> {
    let provider = openid.get(lang)?;
    let mut params = read(&req, &body, lang)?;
    let hint = provider
        .logout_hint(params.id_token_hint.as_deref())
        .await
        .map_err(|e| PageError::from_db(e, lang))?;
    let invalid_hint = matches!(hint, LogoutHint::Invalid);
    if let Some(client) = hint.client() {
        params.client_id = Some(client.client_id.clone());
    }
    let target = match destination(provider, &params, lang).await {
        Ok(target) => target,
        // Not the client's address to vouch for: the page names the hint instead.
        Err(_) if invalid_hint => {
            params.post_logout_redirect_uri = None;
            "/login".to_owned()
        }
        Err(refused) => return Err(refused),
    };
    let who = browser_login(&session, &login, lang).await?;
    if let Some(who) = who {
        let ended = provider
            .end_hinted_session(who.user.id, &hint)
            .await
            .map_err(|e| PageError::from_db(e, lang))?;
        if ended {
            log_out_browser(&session, &login, lang).await?;
            return Ok(go_to(&target));
        }
    }
    if invalid_hint {
        tracing::info!(
            event = "oidc_logout_bad_hint",
            "a logout request carried an id_token_hint that is not ours; the person is asked"
        );
    }
    let fields = [
        ("post_logout_redirect_uri", &params.post_logout_redirect_uri),
        ("state", &params.state),
        ("client_id", &params.client_id),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
    .collect();
    let page = ConfirmPage {
        lang,
        csrf: &session.csrf_token(),
        invalid_hint,
        fields,
    };
    render_page(lang, &page, StatusCode::OK)
}

/// The person's "yes" on the confirmation page: this browser's sign-in ends.
pub async fn confirmed(
    form: CsrfForm<LogoutParams>,
    session: TypedSession,
    openid: web::Data<OpenId>,
    login: web::Data<LoginService>,
    lang: Lang,
) -> Result<HttpResponse, PageError> {
    let params = form.0;
    let provider = openid.get(lang)?;
    let target = destination(provider, &params, lang).await?;
    log_out_browser(&session, &login, lang).await?;
    // After a form, not a redirect: see `continue_to`.
    super::continue_to(lang, &target, "")
}

fn read(req: &HttpRequest, body: &[u8], lang: Lang) -> Result<LogoutParams, PageError> {
    match params::read::<LogoutParams>(req, body) {
        Ok(params) if params.repeated.is_empty() => Ok(params.values),
        _ => Err(PageError::bad_form(
            lang,
            &"a parameter is malformed or repeated",
        )),
    }
}

/// Where the browser goes afterwards: the `post_logout_redirect_uri` that the client
/// named by the hint or `client_id` registered, or our login page.
async fn destination(
    provider: &OpenIdProvider,
    params: &LogoutParams,
    lang: Lang,
) -> Result<String, PageError> {
    let Some(uri) = params.post_logout_redirect_uri.as_deref() else {
        return Ok("/login".into());
    };
    let client = provider
        .client(params.client_id.clone())
        .await
        .map_err(|e| PageError::from_db(e, lang))?;
    let allowed = client.is_some_and(|c| c.allows_post_logout_redirect(uri));
    let Some(mut url) = Url::parse(uri).ok().filter(|_| allowed) else {
        tracing::warn!(
            event = "oidc_bad_logout_redirect",
            "a logout asked to go to an unregistered address"
        );
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            lang,
            lang.t("无法退出到该地址", "Cannot return to that address"),
            lang.t(
                "应用给出的退出后地址未经注册。你没有被退出登录。",
                "The application asked to return to an address it has not registered. You have not been logged out.",
            ),
        ));
    };
    if let Some(state) = &params.state {
        url.query_pairs_mut().append_pair("state", state);
    }
    Ok(url.to_string())
}

fn go_to(target: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, target))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish()
}
