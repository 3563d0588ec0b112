//! `GET|POST /oauth2/authorize` and its consent form: check the request, make sure
//! the person is signed in (through our `/login`, with any provider) recently enough,
//! ask once per client for consent, then send the browser back with a one-time code.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use url::Url;

use super::params::{self, Params};
use super::{OpenId, continue_to};
use crate::error::PageError;
use crate::i18n::Lang;
use crate::login::LoginService;
use crate::oidc::OpenIdProvider;
use crate::oidc::authorize::{self as request, Authorization, AuthorizeParams, Prompt, Refusal};
use crate::tokens::Authenticated;
use crate::web::auth::{browser_login, to_login_page};
use crate::web::extract::{CsrfForm, CsrfProtected};
use crate::web::render::render_page;
use crate::web::session::TypedSession;

pub const PATH: &str = "/oauth2/authorize";
/// The consent form's own address: `PATH` takes authorization requests by POST too.
pub const CONSENT_PATH: &str = "/oauth2/authorize/consent";

#[derive(Template)]
#[template(path = "oidc_consent.html")]
struct ConsentPage<'a> {
    lang: Lang,
    csrf: &'a str,
    client_name: &'a str,
    name: &'a str,
    username: &'a str,
    profile: bool,
    phone: bool,
    offline: bool,
    /// The request itself, carried through the form.
    fields: Vec<(&'static str, String)>,
}

pub async fn authorize(
    req: HttpRequest,
    body: web::Bytes,
    session: TypedSession,
    openid: web::Data<OpenId>,
    login: web::Data<LoginService>,
    lang: Lang,
) -> Result<HttpResponse, PageError> {
    let provider = openid.get(lang)?;
    let Ok(Params {
        values: params,
        repeated,
    }) = params::read::<AuthorizeParams>(&req, &body)
    else {
        return Err(PageError::bad_form(
            lang,
            &"malformed authorization parameters",
        ));
    };
    let request = match checked(provider, &params, lang).await? {
        Ok(request) if repeated.is_empty() => request,
        // Repeated parameters are malformed (RFC 6749 §3.1): the client hears so, when its
        // redirect URI can be trusted; otherwise our page says it.
        Ok(request) => {
            return to_client(
                provider,
                &request,
                Err("invalid_request"),
                lang,
                Answer::Redirect,
            );
        }
        Err(refusal) => return refusal.into_response(provider, lang, Answer::Redirect),
    };
    let who = browser_login(&session, &login, lang).await?;
    let Some(who) = who.filter(|who| recent_enough(who, &request)) else {
        if request.prompt == Prompt::None {
            return to_client(
                provider,
                &request,
                Err("login_required"),
                lang,
                Answer::Redirect,
            );
        }
        return Ok(to_login(&params));
    };
    if request.prompt != Prompt::Consent
        && provider
            .consented(&who, &request)
            .await
            .map_err(|e| PageError::from_db(e, lang))?
    {
        let code = provider
            .issue_code(&request, &who, false)
            .await
            .map_err(|e| PageError::from_db(e, lang))?;
        return to_client(provider, &request, Ok(&code), lang, Answer::Redirect);
    }
    if request.prompt == Prompt::None {
        return to_client(
            provider,
            &request,
            Err("consent_required"),
            lang,
            Answer::Redirect,
        );
    }
    let page = ConsentPage {
        lang,
        csrf: &session.csrf_token(),
        client_name: &request.client.name,
        name: &who.user.name,
        username: &who.user.username,
        profile: request.wants("profile"),
        phone: request.wants("phone"),
        offline: request.wants("offline_access"),
        fields: carried(&params),
    };
    let mut response = render_page(lang, &page, StatusCode::OK)?;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    decision: String,
}

impl CsrfProtected for ConsentForm {
    const FORM: &'static str = "oidc_consent";
}

/// The person's answer on the consent page: the request is checked again (the form is
/// the person's, its fields are not trusted), then a code or `access_denied`.
pub async fn consent(
    form: CsrfForm<ConsentForm>,
    session: TypedSession,
    openid: web::Data<OpenId>,
    login: web::Data<LoginService>,
    lang: Lang,
) -> Result<HttpResponse, PageError> {
    let provider = openid.get(lang)?;
    let ConsentForm { params, decision } = form.0;
    let request = match checked(provider, &params, lang).await? {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(provider, lang, Answer::Page),
    };
    let Some(who) = browser_login(&session, &login, lang).await? else {
        return Ok(to_login(&params));
    };
    if decision != "allow" {
        tracing::info!(event = "oidc_consent_denied", client_id = %request.client.client_id, userid = %who.user.id, "consent refused");
        return to_client(provider, &request, Err("access_denied"), lang, Answer::Page);
    }
    let code = provider
        .issue_code(&request, &who, true)
        .await
        .map_err(|e| PageError::from_db(e, lang))?;
    tracing::info!(event = "oidc_consent_given", client_id = %request.client.client_id, userid = %who.user.id, scope = %request.scope(), "consent given");
    to_client(provider, &request, Ok(&code), lang, Answer::Page)
}

/// How the answer reaches the client: a redirect, or (after a form) a page that moves on
/// by itself (see `continue_to`).
#[derive(Clone, Copy)]
enum Answer {
    Redirect,
    Page,
}

async fn checked(
    provider: &OpenIdProvider,
    params: &AuthorizeParams,
    lang: Lang,
) -> Result<Result<Authorization, Refusal>, PageError> {
    let client = provider
        .client(params.client_id.clone())
        .await
        .map_err(|e| PageError::from_db(e, lang))?;
    Ok(request::check(params, client))
}

impl Refusal {
    fn into_response(
        self,
        provider: &OpenIdProvider,
        lang: Lang,
        answer: Answer,
    ) -> Result<HttpResponse, PageError> {
        let message = match self {
            Refusal::UnknownClient => lang.t(
                "发起登录的应用未在本系统注册。",
                "The application that sent you here is not registered with this service.",
            ),
            Refusal::UnregisteredRedirect => lang.t(
                "发起登录的应用给出的返回地址未经注册，为了你的安全，登录已停止。",
                "The application asked to return to an address it has not registered; for your safety the sign-in stops here.",
            ),
            Refusal::ToClient {
                redirect_uri,
                state,
                error,
                description,
            } => {
                let target = client_url(&redirect_uri, state.as_deref(), provider.issuer(), Err((error, description)));
                return deliver(&target, "", lang, answer);
            }
        };
        tracing::warn!(
            event = "oidc_bad_client",
            "an authorization request named an unknown client or redirect URI"
        );
        Err(PageError::new(
            StatusCode::BAD_REQUEST,
            lang,
            lang.t("无法继续登录", "Cannot continue the sign-in"),
            message,
        ))
    }
}

/// `prompt=login` wants a sign-in now; `max_age` one no older than that.
fn recent_enough(who: &Authenticated, request: &Authorization) -> bool {
    if request.prompt == Prompt::Login {
        return false;
    }
    // In milliseconds, so that max_age=0 (a common way to ask for a fresh sign-in) means
    // what it says.
    let age = (chrono::Utc::now().naive_utc() - who.signed_in_at).num_milliseconds();
    request
        .max_age
        .is_none_or(|max_age| age <= max_age.saturating_mul(1000))
}

/// To our login page, coming back to this request afterwards. What made us send the
/// person there (`prompt=login`, `max_age`) is left out of the way back, which the fresh
/// sign-in satisfies (and would otherwise send them round again).
fn to_login(params: &AuthorizeParams) -> HttpResponse {
    let back = AuthorizeParams {
        prompt: None,
        max_age: None,
        ..params.clone()
    };
    let query = serde_urlencoded::to_string(&back).unwrap_or_default();
    to_login_page(&format!("{PATH}?{query}"))
}

/// The request's fields for the consent form's hidden inputs.
fn carried(params: &AuthorizeParams) -> Vec<(&'static str, String)> {
    let fields = [
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("response_type", &params.response_type),
        ("scope", &params.scope),
        ("state", &params.state),
        ("nonce", &params.nonce),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
        ("response_mode", &params.response_mode),
    ];
    fields
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
        .collect()
}

/// The client's redirect URI with the code (or the error), its `state` and our `iss`
/// (RFC 9207, so a client talking to several providers knows which one answered).
fn to_client(
    provider: &OpenIdProvider,
    request: &Authorization,
    outcome: Result<&str, &'static str>,
    lang: Lang,
    answer: Answer,
) -> Result<HttpResponse, PageError> {
    let outcome = outcome.map_err(|error| (error, ""));
    let target = client_url(
        &request.redirect_uri,
        request.state.as_deref(),
        provider.issuer(),
        outcome,
    );
    deliver(&target, &request.client.name, lang, answer)
}

fn deliver(
    target: &str,
    client_name: &str,
    lang: Lang,
    answer: Answer,
) -> Result<HttpResponse, PageError> {
    match answer {
        Answer::Redirect => Ok(HttpResponse::Found()
            .insert_header((LOCATION, target))
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish()),
        Answer::Page => continue_to(lang, target, client_name),
    }
}

fn client_url(
    redirect_uri: &str,
    state: Option<&str>,
    issuer: &str,
    outcome: Result<&str, (&str, &str)>,
) -> String {
    // Registered URIs were checked to be absolute URLs when the client was created.
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    {
        let mut query = url.query_pairs_mut();
        match outcome {
            Ok(code) => {
                query.append_pair("code", code);
            }
            Err((error, description)) => {
                query.append_pair("error", error);
                if !description.is_empty() {
                    query.append_pair("error_description", description);
                }
            }
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    url.to_string()
}
