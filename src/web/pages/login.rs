//! The login page (a password form and a button per enabled provider), its form, and
//! logout.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;

use crate::config::Settings;
use crate::domain::ProviderKind;
use crate::error::{FormRefusal, PageError};
use crate::i18n::Lang;
use crate::login::{ClientInfo, LoginService};
use crate::providers::Providers;
use crate::web::auth::log_out_browser;
use crate::web::extract::{CsrfForm, CsrfProtected, lang_of};
use crate::web::flows::handoff::{safe_next, sign_in_and_hand_over};
use crate::web::oidc::OpenId;
use crate::web::render::render_form_page;
use crate::web::session::TypedSession;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    lang: Lang,
    csrf: &'a str,
    sandbox: bool,
    providers: Vec<ProviderKind>,
    next: Option<&'a str>,
    error: Option<&'a str>,
    username: &'a str,
    /// The application (OpenID client) the person signs in for, when `next` is its request.
    app: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn root() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/login"))
        .finish()
}

pub async fn login_form(
    lang: Lang,
    session: TypedSession,
    query: web::Query<LoginQuery>,
    settings: web::Data<Settings>,
    providers: web::Data<Providers>,
    openid: web::Data<OpenId>,
) -> Result<HttpResponse, PageError> {
    let next = safe_next(query.next.as_deref());
    let view = LoginView {
        lang,
        settings: &settings,
        providers: &providers,
        session: &session,
        app: openid.client_name_in(next.as_deref()).await,
    };
    view.render(next.as_deref(), None, "")
}

/// The login page as one person sees it (language, providers, sandbox badge, their CSRF
/// token).
pub struct LoginView<'a> {
    pub lang: Lang,
    pub settings: &'a Settings,
    pub providers: &'a Providers,
    pub session: &'a TypedSession,
    /// The name of the application the person signs in for, if any.
    pub app: Option<String>,
}

impl LoginView<'_> {
    /// The page, with a refusal above the form when there is one.
    pub fn render(
        &self,
        next: Option<&str>,
        refusal: Option<&FormRefusal>,
        username: &str,
    ) -> Result<HttpResponse, PageError> {
        let csrf = self.session.csrf_token();
        let page = LoginPage {
            lang: self.lang,
            csrf: &csrf,
            sandbox: self.settings.any_sandbox(),
            providers: self.providers.kinds(),
            next,
            error: refusal.map(|r| r.message),
            username,
            app: self.app.as_deref(),
        };
        render_form_page(self.lang, &page, refusal)
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

impl CsrfProtected for LoginForm {
    const FORM: &'static str = "login";

    /// The login form is shown again (with what was typed), to be submitted again.
    fn rejected(&self, req: &HttpRequest, lang: Lang) -> HttpResponse {
        let session = TypedSession::from_request_sync(req);
        let (Some(settings), Some(providers)) = (
            req.app_data::<web::Data<Settings>>(),
            req.app_data::<web::Data<Providers>>(),
        ) else {
            return PageError::internal(lang, "the login form", &"no settings").error_response();
        };
        let view = LoginView {
            lang,
            settings,
            providers,
            session: &session,
            app: None,
        };
        let next = safe_next(self.next.as_deref());
        let refusal = FormRefusal::expired_login_form(lang);
        view.render(next.as_deref(), Some(&refusal), self.username.trim())
            .unwrap_or_else(|page| page.error_response())
    }
}

/// `POST /login`: the login page's form.
// A handler names each dependency it uses as an extractor (see `startup`).
#[allow(clippy::too_many_arguments)]
pub async fn login(
    lang: Lang,
    client: ClientInfo,
    session: TypedSession,
    CsrfForm(form): CsrfForm<LoginForm>,
    settings: web::Data<Settings>,
    providers: web::Data<Providers>,
    login: web::Data<LoginService>,
    openid: web::Data<OpenId>,
) -> Result<HttpResponse, PageError> {
    let next = safe_next(form.next.as_deref());
    let username = form.username.trim();
    match login
        .password_login(&client, username, &form.password)
        .await
    {
        Ok(pair) => sign_in_and_hand_over(&session, &settings, &login, next, &pair, lang).await,
        Err(error) => {
            let refusal = FormRefusal::from_login(error, lang)?;
            let view = LoginView {
                lang,
                settings: &settings,
                providers: &providers,
                session: &session,
                app: openid.client_name_in(next.as_deref()).await,
            };
            view.render(next.as_deref(), Some(&refusal), username)
        }
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {}

impl CsrfProtected for LogoutForm {
    const FORM: &'static str = "logout";
}

/// `POST /logout`: ends the login session (its tokens stop working) and the browser session.
pub async fn logout(
    req: HttpRequest,
    session: TypedSession,
    _form: CsrfForm<LogoutForm>,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, PageError> {
    log_out_browser(&session, &login, lang_of(&req)).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .finish())
}
