//! The HTTP face of the service: the route table, middleware, handlers and pages.

pub mod assets;
pub mod dingtalk;
pub mod handoff;
pub mod health;
pub mod i18n;
pub mod login;
pub mod middleware;
pub mod session;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(login::root))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/login", web::get().to(login::login_form))
        .route(
            "/user/dingtalk/authorize",
            web::get().to(dingtalk::authorize),
        )
        .route("/user/dingtalk/", web::get().to(dingtalk::authorize_json))
        .route("/user/dingtalkCallback/", web::get().to(dingtalk::callback))
        .route("/app/", web::get().to(assets::spa_index))
        .route("/static/{path:.*}", web::get().to(assets::static_file));
}
