//! The HTTP face of the service: the route table, middleware, handlers and pages.

pub mod account;
pub mod admin;
pub mod api;
pub mod assets;
pub mod csrf;
pub mod dingtalk;
pub mod guard;
pub mod handoff;
pub mod health;
pub mod i18n;
pub mod login;
pub mod middleware;
pub mod page_auth;
pub mod pages;
pub mod password_login;
pub mod rate_limit;
pub mod session;

use actix_web::middleware::from_fn;
use actix_web::web;

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
        .route("/account", web::get().to(account::account))
        .route(
            "/account/link/dingtalk",
            web::post().to(account::link_dingtalk),
        )
        .route("/account/unlink", web::post().to(account::unlink))
        .route("/account/password", web::post().to(account::set_password))
        .route("/admin/accounts", web::get().to(admin::accounts))
        .route("/admin/users/{id}", web::get().to(admin::user))
        .route("/admin/users/{id}/confirm", web::get().to(admin::confirm))
        .route("/admin/users/{id}/actions", web::post().to(admin::act))
        .route(
            "/user/dingtalk/authorize",
            web::get()
                .to(dingtalk::authorize)
                .wrap(limited!("dingtalk")),
        )
        .route(
            "/user/dingtalk/",
            web::get()
                .to(dingtalk::authorize_json)
                .wrap(limited!("dingtalk")),
        )
        .route(
            "/user/dingtalkCallback/",
            web::get().to(dingtalk::callback).wrap(limited!("dingtalk")),
        )
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
                        .wrap(from_fn(guard::require_access_token))
                        .route("/me", web::get().to(api::me))
                        .route("/me/sessions/revoke", web::post().to(api::end_my_sessions))
                        .route("/logout", web::post().to(api::logout))
                        .service(
                            web::scope("/admin")
                                .wrap(from_fn(guard::require_admin))
                                .configure(admin_api),
                        ),
                ),
        );
}

fn admin_api(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts", web::get().to(admin::accounts_json))
        .route(
            "/users/{id}/sessions/revoke",
            web::post().to(api::end_user_sessions),
        );
}
