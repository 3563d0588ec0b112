//! The HTTP face of the service: the route table, and handlers grouped by audience —
//! `pages` for people, `api` for programs, `admin` for administrators, `flows` for the
//! round trips through an identity provider — apart from what guards them (`auth`,
//! `middleware`) and what they take from a request (`extract`, `session`). Handlers
//! translate HTTP into calls of `login`, `accounts` and `db` and back; errors become
//! responses in `crate::error`.

pub mod admin;
pub mod api;
pub mod auth;
pub mod extract;
pub mod flows;
pub mod middleware;
pub mod pages;
pub mod render;
pub mod session;

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::domain::ProviderKind;
use flows::oauth::{self, ProviderRoute};
use middleware::rate_limit;
use pages::{account, assets, health, login};

/// The per-address request budget of one group of login endpoints (see `rate_limit`).
macro_rules! limited {
    ($group:literal) => {
        from_fn(|req, next| rate_limit::limit($group, req, next))
    };
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(login::root))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/login", web::get().to(login::login_form))
        .route(
            "/login",
            web::post().to(login::login).wrap(limited!("login")),
        )
        .route("/logout", web::post().to(login::logout))
        .route(
            flows::link_account::PATH,
            web::get().to(flows::link_account::choice),
        )
        .route(
            flows::link_account::PATH,
            web::post()
                .to(flows::link_account::prove)
                .wrap(limited!("login")),
        )
        .route(
            "/login/link-account/new",
            web::post().to(flows::link_account::new_account),
        )
        .route("/account", web::get().to(account::account))
        .route(
            "/account/link/dingtalk",
            web::post().to(account::link_dingtalk),
        )
        .route("/account/unlink", web::post().to(account::unlink))
        .route("/account/password", web::post().to(account::set_password))
        .route("/admin/accounts", web::get().to(admin::pages::accounts))
        .route("/admin/users/{id}", web::get().to(admin::pages::user))
        .route(
            "/admin/users/{id}/confirm",
            web::get().to(admin::pages::confirm),
        )
        .route(
            "/admin/users/{id}/actions",
            web::post().to(admin::pages::act),
        )
        // The tutorial's paths for DingTalk.
        .configure(|cfg| {
            provider_flow(
                cfg,
                ProviderKind::DingTalk,
                [
                    "/user/dingtalk/authorize",
                    "/user/dingtalk/",
                    "/user/dingtalkCallback/",
                ],
            )
        })
        .route("/app/", web::get().to(assets::spa_index))
        .route("/static/{path:.*}", web::get().to(assets::static_file))
        .service(
            web::scope("/api")
                .wrap(from_fn(middleware::api_cors))
                .route("/login", web::post().to(api::login).wrap(limited!("login")))
                .route(
                    "/token/refresh",
                    web::post().to(api::refresh).wrap(limited!("refresh")),
                )
                .service(
                    web::scope("")
                        .wrap(from_fn(auth::require_access_token))
                        .route("/me", web::get().to(api::me))
                        .route("/me/sessions/revoke", web::post().to(api::end_my_sessions))
                        .route("/logout", web::post().to(api::logout))
                        .service(
                            web::scope("/admin")
                                .wrap(from_fn(auth::require_admin))
                                .route("/accounts", web::get().to(admin::api::accounts))
                                .route(
                                    "/users/{id}/sessions/revoke",
                                    web::post().to(admin::api::end_user_sessions),
                                ),
                        ),
                ),
        );
}

/// A provider's three routes — start (302), start as JSON (`{"url"}`), callback — served
/// by the same handlers for every provider, each counted against the provider group's
/// per-address budget.
fn provider_flow(
    cfg: &mut web::ServiceConfig,
    kind: ProviderKind,
    [authorize, authorize_json, callback]: [&str; 3],
) {
    let route = web::Data::new(ProviderRoute(kind));
    cfg.service(
        web::resource(authorize)
            .app_data(route.clone())
            .wrap(limited!("dingtalk"))
            .route(web::get().to(oauth::authorize)),
    )
    .service(
        web::resource(authorize_json)
            .app_data(route.clone())
            .wrap(limited!("dingtalk"))
            .route(web::get().to(oauth::authorize_json)),
    )
    .service(
        web::resource(callback)
            .app_data(route)
            .wrap(limited!("dingtalk"))
            .route(web::get().to(oauth::callback)),
    );
}
