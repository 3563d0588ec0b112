//! When a provider's phone number belongs to an account that can already log in, nothing
//! is linked on the provider's word (threat T-16): the person sees this page and either
//! proves they own that account (its password) — then the provider is linked to it — or
//! continues as a new account. The identity waits in the session meanwhile.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, LOCATION};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::handoff::sign_in_and_hand_over;
use crate::config::Settings;
use crate::error::{FormRefusal, PageError};
use crate::i18n::Lang;
use crate::login::{ClientInfo, LoginError, LoginService};
use crate::tokens::TokenPair;
use crate::web::extract::{CsrfForm, CsrfProtected};
use crate::web::render::render_form_page;
use crate::web::session::{PendingIdentity, TypedSession};

pub const PATH: &str = "/login/link-account";

/// Where the callback sends a person whose phone number needs proof.
pub fn ask(session: &TypedSession, pending: &PendingIdentity) -> Result<HttpResponse, String> {
    session.hold_identity(pending).map_err(|e| e.to_string())?;
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, PATH))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

#[derive(Template)]
#[template(path = "link_account.html")]
struct LinkAccountPage<'a> {
    lang: Lang,
    csrf: &'a str,
    phone: &'a str,
    username: &'a str,
    error: Option<&'a str>,
    /// `DINGTALK_SIGNUP=bind-only` offers no new account.
    new_account: bool,
}

fn held(
    session: &TypedSession,
    settings: &Settings,
    lang: Lang,
) -> Result<PendingIdentity, PageError> {
    session
        .held_identity(settings.oauth_state_ttl)
        .ok_or_else(|| expired(lang))
}

fn expired(lang: Lang) -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        lang,
        lang.t("登录请求已失效", "Sign-in request expired"),
        lang.t(
            "登录请求已失效，请回到登录页重新登录。",
            "This sign-in request has expired. Please start again from the login page.",
        ),
    )
}

fn render(
    lang: Lang,
    session: &TypedSession,
    login: &LoginService,
    pending: &PendingIdentity,
    username: &str,
    refusal: Option<&FormRefusal>,
) -> Result<HttpResponse, PageError> {
    let csrf = session.csrf_token();
    let phone = pending
        .identity
        .phone
        .as_ref()
        .map(|p| p.masked())
        .unwrap_or_default();
    let page = LinkAccountPage {
        lang,
        csrf: &csrf,
        phone: &phone,
        username,
        error: refusal.map(|r| r.message),
        new_account: login.signup().open,
    };
    render_form_page(lang, &page, refusal)
}

/// `GET /login/link-account`: the choice.
pub async fn choice(
    lang: Lang,
    session: TypedSession,
    settings: web::Data<Settings>,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, PageError> {
    let pending = held(&session, &settings, lang)?;
    render(lang, &session, &login, &pending, "", None)
}

#[derive(Deserialize)]
pub struct ProveForm {
    username: String,
    password: String,
}

impl CsrfProtected for ProveForm {
    const FORM: &'static str = "link account";
}

/// `POST /login/link-account`: the password of the existing account; then linked and in.
pub async fn prove(
    lang: Lang,
    client: ClientInfo,
    session: TypedSession,
    CsrfForm(form): CsrfForm<ProveForm>,
    settings: web::Data<Settings>,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, PageError> {
    let pending = held(&session, &settings, lang)?;
    let username = form.username.trim();
    let result = login
        .link_with_password(&client, pending.identity.clone(), username, &form.password)
        .await;
    match result {
        Ok(pair) => {
            // Remembered as used: an older copy of the cookie cannot make a new account of it.
            login
                .use_once(&pending.id, pending.created_at, settings.oauth_state_ttl)
                .await
                .map_err(|e| PageError::from_login(e, lang))?;
            finish(&session, &settings, &login, pending.next, &pair, lang).await
        }
        Err(error @ (LoginError::BadCredentials | LoginError::Throttled(_))) => {
            let refusal = FormRefusal::from_login(error, lang)?;
            render(lang, &session, &login, &pending, username, Some(&refusal))
        }
        Err(error @ LoginError::Refused(_)) => Err(PageError::from_linking(error, lang)),
        Err(error) => Err(PageError::from_login(error, lang)),
    }
}

#[derive(Deserialize)]
pub struct NewAccountForm {}

impl CsrfProtected for NewAccountForm {
    const FORM: &'static str = "link account";
}

/// `POST /login/link-account/new`: a new account for the provider identity instead.
pub async fn new_account(
    lang: Lang,
    client: ClientInfo,
    session: TypedSession,
    _form: CsrfForm<NewAccountForm>,
    settings: web::Data<Settings>,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, PageError> {
    let pending = held(&session, &settings, lang)?;
    // A new account is made once per wait, even from an older copy of the cookie.
    let first = login
        .use_once(&pending.id, pending.created_at, settings.oauth_state_ttl)
        .await
        .map_err(|e| PageError::from_login(e, lang))?;
    if pending.id.is_empty() || !first {
        session.release_identity();
        return Err(expired(lang));
    }
    let pair = login
        .register_instead(&client, pending.identity.clone())
        .await
        .map_err(|e| PageError::from_login(e, lang))?;
    finish(&session, &settings, &login, pending.next, &pair, lang).await
}

/// The end of any provider login: the waiting identity (if any) is used up, then the
/// browser is signed in and handed over.
pub async fn finish(
    session: &TypedSession,
    settings: &Settings,
    login: &LoginService,
    next: Option<String>,
    pair: &TokenPair,
    lang: Lang,
) -> Result<HttpResponse, PageError> {
    session.release_identity();
    sign_in_and_hand_over(session, settings, login, next, pair, lang).await
}
