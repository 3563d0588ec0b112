//! `GET /admin/clients`: the applications registered as OpenID clients, and who granted
//! each of them what. Registering and deleting stay on the command line, where a secret
//! can be shown once without passing through a browser.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::db::models::{OidcClient, User};
use crate::db::oidc::{self as queries, GrantRow};
use crate::db::{self, DbError, DbPool};
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
    clients: Vec<(OidcClient, Vec<GrantRow>)>,
}

pub async fn clients(
    lang: Lang,
    Admin(admin): Admin,
    session: TypedSession,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, PageError> {
    let (clients, grants) = db::run(&pool, |conn| -> Result<_, DbError> {
        Ok((queries::list_clients(conn)?, queries::grants(conn)?))
    })
    .await
    .map_err(|e| PageError::from_db(e, lang))?;
    let clients = clients
        .into_iter()
        .map(|client| {
            let granted = grants
                .iter()
                .filter(|g| g.client_id == client.client_id)
                .cloned()
                .collect();
            (client, granted)
        })
        .collect();
    let template = ClientsTemplate {
        lang,
        csrf: &session.csrf_token(),
        me: &admin.user,
        clients,
    };
    render_page(lang, &template, StatusCode::OK)
}
