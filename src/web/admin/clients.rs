//! `GET /admin/clients`: the applications registered as OpenID clients, and who granted
//! each of them what. Registering and deleting stay on the command line, where a secret
//! can be shown once without passing through a browser.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::accounts::User;
use crate::admin::{AdminService, ClientWithGrants};
use crate::error::PageError;
use crate::i18n::Lang;
use crate::web::auth::Admin;
use crate::web::render::render_page;
use crate::web::session::TypedSession;

#[derive(Template)]
#[template(path = "admin_clients.html")]
struct ClientsTemplate<'a> {
    lang: Lang,
    csrf: &'a str,
    me: &'a User,
    clients: Vec<ClientWithGrants>,
}

pub async fn clients(
    lang: Lang,
    Admin(admin): Admin,
    session: TypedSession,
    console: web::Data<AdminService>,
) -> Result<HttpResponse, PageError> {
    let clients = console
        .clients()
        .await
        .map_err(|e| PageError::from_db(e, lang))?;
    let template = ClientsTemplate {
        lang,
        csrf: &session.csrf_token(),
        me: &admin.user,
        clients,
    };
    render_page(lang, &template, StatusCode::OK)
}
