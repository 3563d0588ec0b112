//! "My account": profile, linked accounts, link / unlink a provider, the applications
//! allowed to sign the person in (and taking that back), set a password.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::accounts::{AccountError, LinkedAccount, User};
use crate::config::Settings;
use crate::domain::ProviderKind;
use crate::error::{FormRefusal, PageError, Whose};
use crate::i18n::Lang;
use crate::login::{LoginError, LoginService, SessionRef};
use crate::oidc::UserGrant;
use crate::providers::Providers;
use crate::web::auth::SignedIn;
use crate::web::extract::{CsrfForm, CsrfProtected};
use crate::web::flows::oauth::begin;
use crate::web::oidc::OpenId;
use crate::web::render::render_form_page;
use crate::web::session::TypedSession;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    lang: Lang,
    csrf: &'a str,
    user: &'a User,
    links: &'a [LinkedAccount],
    /// Enabled providers the user has not linked yet: a "link" button each.
    linkable: Vec<ProviderKind>,
    /// The applications (OpenID clients) the user allowed.
    apps: &'a [UserGrant],
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct AccountQuery {
    done: Option<String>,
    /// With `done=linked`: which provider.
    provider: Option<String>,
}

fn notice(lang: Lang, query: &AccountQuery) -> Option<String> {
    Some(match query.done.as_deref()? {
        "linked" => {
            let kind = ProviderKind::from_name(query.provider.as_deref()?)?;
            let name = kind.label(lang);
            lang.pick(
                format!("已绑定{name}账号。"),
                format!("Your {name} account is linked."),
            )
        }
        "unlinked" => lang
            .t("已解除绑定。", "The account was unlinked.")
            .to_owned(),
        "password" => lang.t("密码已设置。", "Your password is set.").to_owned(),
        "withdrawn" => lang
            .t(
                "已撤销授权，该应用已无法再访问你的账号。",
                "Access withdrawn: the application can no longer use your account.",
            )
            .to_owned(),
        _ => return None,
    })
}

/// The account page of one signed-in person.
struct AccountView<'a> {
    lang: Lang,
    session: &'a TypedSession,
    login: &'a LoginService,
    providers: &'a Providers,
    user: User,
}

impl AccountView<'_> {
    /// After a change: back to the page with its notice, or the page with the refusal.
    async fn after_change(
        self,
        result: Result<(), LoginError>,
        done: &str,
    ) -> Result<HttpResponse, PageError> {
        match result {
            Ok(()) => Ok(see_other(&format!("/account?done={done}"))),
            Err(error) => {
                let refusal = FormRefusal::from_change(error, self.lang, Whose::Own)?;
                self.render(None, Some(refusal)).await
            }
        }
    }

    /// The page, with a notice after a change or the refusal of one.
    async fn render(
        self,
        notice: Option<&str>,
        refusal: Option<FormRefusal>,
    ) -> Result<HttpResponse, PageError> {
        let AccountView {
            lang,
            session,
            login,
            providers,
            user,
        } = self;
        let (links, apps) = login
            .account_overview(user.id)
            .await
            .map_err(|e| PageError::from_db(e, lang))?;
        let csrf = session.csrf_token();
        let linkable = providers
            .kinds()
            .into_iter()
            .filter(|kind| links.iter().all(|l| l.types != *kind))
            .collect();
        let page = AccountPage {
            lang,
            csrf: &csrf,
            user: &user,
            links: &links,
            linkable,
            apps: &apps,
            notice,
            error: refusal.as_ref().map(|r| r.message),
        };
        render_form_page(lang, &page, refusal.as_ref())
    }
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

/// `GET /account`.
pub async fn account(
    lang: Lang,
    SignedIn(signed_in): SignedIn,
    session: TypedSession,
    query: web::Query<AccountQuery>,
    login: web::Data<LoginService>,
    providers: web::Data<Providers>,
) -> Result<HttpResponse, PageError> {
    let page = AccountView {
        lang,
        session: &session,
        login: &login,
        providers: &providers,
        user: signed_in.user,
    };
    page.render(notice(lang, &query).as_deref(), None).await
}

#[derive(Deserialize)]
pub struct LinkForm {}

impl CsrfProtected for LinkForm {
    const FORM: &'static str = "account";
}

/// `POST /account/link/{provider}`: starts the provider's flow in linking mode.
pub async fn link(
    lang: Lang,
    SignedIn(signed_in): SignedIn,
    session: TypedSession,
    provider: web::Path<String>,
    _form: CsrfForm<LinkForm>,
    providers: web::Data<Providers>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, PageError> {
    let Some(kind) = ProviderKind::from_name(&provider) else {
        return Err(PageError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            lang,
            lang.t("页面不存在", "Page not found"),
            lang.t("没有这个登录方式。", "There is no such login method."),
        )
        .back_to_account());
    };
    let url = begin(
        &session,
        &providers,
        kind,
        &settings,
        None,
        Some(signed_in.user.id),
    )
    .map_err(|e| e.into_page(lang).back_to_account())?;
    Ok(see_other(&url))
}

#[derive(Deserialize)]
pub struct UnlinkForm {
    /// The number of `sflogin.types`.
    provider: i32,
}

impl CsrfProtected for UnlinkForm {
    const FORM: &'static str = "account";
}

/// `POST /account/unlink`.
pub async fn unlink(
    lang: Lang,
    SignedIn(signed_in): SignedIn,
    session: TypedSession,
    CsrfForm(form): CsrfForm<UnlinkForm>,
    providers: web::Data<Providers>,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, PageError> {
    let user = signed_in.user;
    let result = match ProviderKind::from_number(form.provider) {
        Some(provider) => login.unlink(user.id, provider).await,
        None => Err(LoginError::Refused(AccountError::NotFound)),
    };
    let page = AccountView {
        lang,
        session: &session,
        login: &login,
        providers: &providers,
        user,
    };
    page.after_change(result, "unlinked").await
}

#[derive(Deserialize)]
pub struct WithdrawForm {
    client_id: String,
}

impl CsrfProtected for WithdrawForm {
    const FORM: &'static str = "account";
}

/// `POST /account/apps/withdraw`: an application loses the person's consent and sessions.
pub async fn withdraw(
    lang: Lang,
    SignedIn(signed_in): SignedIn,
    CsrfForm(form): CsrfForm<WithdrawForm>,
    openid: web::Data<OpenId>,
) -> Result<HttpResponse, PageError> {
    if let Some(provider) = &openid.0 {
        provider
            .withdraw_consent(signed_in.user.id, form.client_id)
            .await
            .map_err(|e| PageError::from_db(e, lang).back_to_account())?;
    }
    Ok(see_other("/account?done=withdrawn"))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: Option<String>,
    password: String,
    confirm: String,
}

impl CsrfProtected for PasswordForm {
    const FORM: &'static str = "account";
}

/// `POST /account/password`: set a first password, or change it with the current one.
pub async fn set_password(
    lang: Lang,
    SignedIn(signed_in): SignedIn,
    session: TypedSession,
    CsrfForm(form): CsrfForm<PasswordForm>,
    providers: web::Data<Providers>,
    login: web::Data<LoginService>,
) -> Result<HttpResponse, PageError> {
    let user = signed_in.user;
    let page = AccountView {
        lang,
        session: &session,
        login: &login,
        providers: &providers,
        user: user.clone(),
    };
    if form.password != form.confirm {
        return page
            .render(None, Some(FormRefusal::passwords_differ(lang)))
            .await;
    }
    let session_ref = SessionRef {
        userid: user.id,
        session_id: signed_in.session_id,
    };
    let result = login
        .change_password(session_ref, user, form.current, form.password)
        .await;
    page.after_change(result, "password").await
}
