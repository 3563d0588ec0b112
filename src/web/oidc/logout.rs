//! `GET /oauth2/logout` — OpenID Connect RP-Initiated Logout 1.0. With an `id_token_hint`
//! we issued, the logout happens at once: the browser's session here and the client's
//! session named in the hint end, and the browser goes to a registered
//! `post_logout_redirect_uri` (with `state`). Without one, anybody's page could log a
//! person out, so the person confirms first (`POST`, CSRF-protected).

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use url::Url;

use super::OpenId;
use crate::error::PageError;
use crate::i18n::Lang;
use crate::login::LoginService;
use crate::web::auth::log_out_browser;
use crate::web::extract::{CsrfForm, CsrfProtected};
use crate::web::render::render_page;
use crate::web::session::TypedSession;

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
    fields: Vec<(&'static str, String)>,
}

impl CsrfProtected for LogoutParams {
    const FORM: &'static str = "oidc_logout";
}

pub async fn logout(
    query: web::Query<LogoutParams>,
    session: TypedSession,
    openid: web::Data<OpenId>,
    login: web::Data<LoginService>,
    lang: Lang,
) -> Result<HttpResponse, PageError> {
    let params = query.into_inner();
    let provider = openid.get(lang)?;
    let hint = provider
        .logout_hint(params.id_token_hint.as_deref())
        .await
        .map_err(|e| PageError::from_db(e, lang))?;
    let target = destination(provider, &params, hint.client.as_ref(), lang).await?;
    let Some((userid, client_session)) = hint.session else {
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
            fields,
        };
        return render_page(lang, &page, StatusCode::OK);
    };
    provider
        .end_client_session(userid, client_session)
        .await
        .map_err(|e| PageError::from_db(e, lang))?;
    log_out_browser(&session, &login, lang).await?;
    Ok(go_to(&target))
}

/// The confirmed logout without a hint.
pub async fn confirmed(
    form: CsrfForm<LogoutParams>,
    session: TypedSession,
    openid: web::Data<OpenId>,
    login: web::Data<LoginService>,
    lang: Lang,
) -> Result<HttpResponse, PageError> {
    let params = form.0;
    let provider = openid.get(lang)?;
    let target = destination(provider, &params, None, lang).await?;
    log_out_browser(&session, &login, lang).await?;
    // After a form, not a redirect: see `continue_to`.
    super::continue_to(lang, &target, "")
}

/// Where the browser goes afterwards: the client's registered `post_logout_redirect_uri`
/// (the client known from the hint or `client_id`), or our login page.
async fn destination(
    provider: &crate::oidc::OpenIdProvider,
    params: &LogoutParams,
    hinted: Option<&crate::db::models::OidcClient>,
    lang: Lang,
) -> Result<String, PageError> {
    let Some(uri) = params.post_logout_redirect_uri.as_deref() else {
        return Ok("/login".into());
    };
    let client = match hinted {
        Some(client) => Some(client.clone()),
        None => provider
            .client(params.client_id.clone())
            .await
            .map_err(|e| PageError::from_db(e, lang))?,
    };
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
