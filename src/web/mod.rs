//! The HTTP face of the service: the route table, and handlers grouped by audience —
//! `pages` for people, `api` for programs, `admin` for administrators, `flows` for the
//! round trips through an identity provider — apart from what guards them (`auth`,
//! `middleware`) and what they take from a request (`extract`, `session`). Handlers
//! translate HTTP into calls of `login`, `accounts` and `db` and back; errors become
//! responses in `crate::error`.

pub mod admin;
pub mod api;
pub mod auth;
pub mod events;
pub mod extract;
pub mod flows;
pub mod middleware;
pub mod oidc;
pub mod openapi;
pub mod pages;
pub mod render;
pub mod schemas;
pub mod session;

use actix_web::middleware::from_fn;
use actix_web::web;

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use crate::domain::ProviderKind;
use flows::client_login;
use flows::oauth::{self, ProviderRoute};
use middleware::rate_limit::{self, Face};
use pages::metrics::{self, MetricsPlace};
use pages::{account, assets, health, login};

/// The per-address request budget of one group of login endpoints (see `rate_limit`).
macro_rules! limited {
    ($group:expr, $face:ident) => {
        from_fn(move |req, next| rate_limit::limit($group, Face::$face, req, next))
    };
}

/// One resource per path with all its methods, so a wrong method gets 405 with `Allow`
/// (explained by `middleware::explain_bare_errors`), not 404.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(pages)
        .configure(admin_pages)
        .configure(provider_flows)
        .configure(openid_provider)
        .configure(assets)
        .configure(api);
}

/// What people open: the login and account pages, probes, metrics.
fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").get(login::root))
        .service(web::resource("/healthz").get(health::healthz))
        .service(web::resource("/readyz").get(health::readyz))
        .service(
            web::resource("/metrics")
                .app_data(web::Data::new(MetricsPlace::Public))
                .get(metrics::metrics),
        )
        .service(
            web::resource("/login")
                .get(login::login_form)
                .route(web::post().to(login::login).wrap(limited!("login", Page))),
        )
        .service(web::resource("/logout").post(login::logout))
        .service(
            web::resource("/dingtalk/events").route(
                web::post()
                    .to(events::receive)
                    .wrap(limited!("events", Api)),
            ),
        )
        .service(
            web::resource(flows::link_account::PATH)
                .get(flows::link_account::choice)
                .route(
                    web::post()
                        .to(flows::link_account::prove)
                        .wrap(limited!("login", Page)),
                ),
        )
        .service(web::resource("/login/link-account/new").post(flows::link_account::new_account))
        .service(web::resource("/account").get(account::account))
        .service(web::resource("/account/link/{provider}").post(account::link))
        .service(web::resource("/account/unlink").post(account::unlink))
        .service(web::resource("/account/apps/withdraw").post(account::withdraw))
        .service(web::resource("/account/password").post(account::set_password));
}

fn admin_pages(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/accounts").get(admin::pages::accounts))
        .service(web::resource("/admin/users").post(admin::pages::create_user))
        .service(web::resource("/admin/clients").get(admin::clients::clients))
        .service(web::resource("/admin/users/{id}").get(admin::pages::user))
        .service(web::resource("/admin/users/{id}/confirm").get(admin::pages::confirm))
        .service(web::resource("/admin/users/{id}/actions").post(admin::pages::act));
}

/// Each provider's round trip; DingTalk keeps the tutorial's paths.
fn provider_flows(cfg: &mut web::ServiceConfig) {
    cfg.configure(|cfg| {
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
    .configure(|cfg| {
        provider_flow(
            cfg,
            ProviderKind::WeChat,
            [
                "/user/wechat/authorize",
                "/user/wechat/",
                "/user/wechat/callback/",
            ],
        )
    })
    .configure(|cfg| {
        provider_flow(
            cfg,
            ProviderKind::Weibo,
            [
                "/user/weibo/authorize",
                "/user/weibo/",
                "/user/weibo/callback/",
            ],
        )
    });
}

/// The OpenID provider: the browser's pages, and what programs call (any origin), which
/// answer every refusal in OAuth's JSON.
fn openid_provider(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(oidc::authorize::PATH)
            .wrap(limited!("authorize", Page))
            .get(oidc::authorize::authorize)
            .post(oidc::authorize::authorize),
    )
    .service(web::resource(oidc::authorize::CONSENT_PATH).post(oidc::authorize::consent))
    .service(
        web::resource(oidc::logout::PATH)
            .get(oidc::logout::logout)
            .post(oidc::logout::logout),
    )
    .service(web::resource(oidc::logout::CONFIRM_PATH).post(oidc::logout::confirmed))
    .service(
        web::resource("/.well-known/openid-configuration")
            .wrap(from_fn(middleware::oauth_errors))
            .wrap(from_fn(middleware::openid_cors))
            .get(oidc::discovery),
    )
    .service(
        web::resource("/oauth2/jwks")
            .wrap(from_fn(middleware::oauth_errors))
            .wrap(from_fn(middleware::openid_cors))
            .get(oidc::jwks),
    )
    .service(
        web::resource("/oauth2/token")
            .wrap(limited!("oidc", OAuth))
            .wrap(from_fn(middleware::oauth_errors))
            .wrap(from_fn(middleware::openid_cors))
            .post(oidc::token::token),
    )
    .service(
        web::resource("/oauth2/userinfo")
            .wrap(from_fn(middleware::oauth_errors))
            .wrap(from_fn(middleware::openid_cors))
            .get(oidc::token::userinfo)
            .post(oidc::token::userinfo),
    )
    .service(
        web::resource("/oauth2/revoke")
            .wrap(limited!("oidc", OAuth))
            .wrap(from_fn(middleware::oauth_errors))
            .wrap(from_fn(middleware::openid_cors))
            .post(oidc::token::revoke),
    );
}

fn assets(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/app/").get(assets::spa_index))
        .service(web::resource("/dingtalk-jsapi.js").get(assets::dingtalk_jsapi))
        .service(web::resource("/user/dingtalk/client-config").get(assets::dingtalk_client_config))
        .service(web::resource("/static/{path:.*}").get(assets::static_file));
}

/// The JSON API, each route at the path its OpenAPI annotation names.
fn api(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .wrap(from_fn(middleware::api_cors))
            .service(
                web::resource(documented::<openapi::__path_openapi_json>("/api"))
                    .get(openapi::openapi_json),
            )
            .service(
                web::resource(documented::<api::__path_login>("/api"))
                    .route(web::post().to(api::login).wrap(limited!("login", Api))),
            )
            .service(
                web::resource(documented::<client_login::__path_inapp_login>("/api")).route(
                    web::post()
                        .to(client_login::inapp_login)
                        .wrap(limited!("dingtalk", Api)),
                ),
            )
            .service(
                web::resource(documented::<api::__path_exchange>("/api"))
                    .route(web::post().to(api::exchange).wrap(limited!("refresh", Api))),
            )
            .service(
                web::resource(documented::<api::__path_refresh>("/api"))
                    .route(web::post().to(api::refresh).wrap(limited!("refresh", Api))),
            )
            .service(
                web::scope("")
                    .wrap(from_fn(auth::require_access_token))
                    .service(web::resource(documented::<api::__path_me>("/api")).get(api::me))
                    .service(
                        web::resource(documented::<api::__path_end_my_sessions>("/api"))
                            .post(api::end_my_sessions),
                    )
                    .service(
                        web::resource(documented::<api::__path_logout>("/api")).post(api::logout),
                    )
                    .service(
                        web::scope("/admin")
                            .wrap(from_fn(auth::require_admin))
                            .service(
                                web::resource(documented::<admin::api::__path_accounts>(
                                    "/api/admin",
                                ))
                                .get(admin::api::accounts),
                            )
                            .service(
                                web::resource(documented::<admin::api::__path_end_user_sessions>(
                                    "/api/admin",
                                ))
                                .post(admin::api::end_user_sessions),
                            )
                            .service(
                                web::resource(documented::<admin::directory::__path_overview>(
                                    "/api/admin",
                                ))
                                .get(admin::directory::overview),
                            )
                            .service(
                                web::resource(documented::<admin::directory::__path_sync>(
                                    "/api/admin",
                                ))
                                .post(admin::directory::sync),
                            ),
                    ),
            ),
    );
}

/// The JSON routes the app registered, as `(method, path)`: what the OpenAPI document
/// must name (a test compares them).
static REGISTERED: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());

pub fn registered_json_routes() -> BTreeSet<(String, String)> {
    REGISTERED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

fn register(method: &str, path: &str) {
    let route = (method.to_ascii_lowercase(), path.to_owned());
    REGISTERED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(route);
}

/// The path of a handler as its `#[utoipa::path]` names it, relative to the `scope` it is
/// registered in: served exactly where the document says.
#[allow(
    clippy::panic,
    reason = "the route table is built once at start-up; a path documented outside its scope is a programming error every test run hits"
)]
fn documented<P: utoipa::Path>(scope: &str) -> String {
    let path = P::path();
    for method in P::methods() {
        let method = serde_json::to_value(&method)
            .ok()
            .and_then(|m| m.as_str().map(str::to_owned))
            .unwrap_or_default();
        register(&method, &path);
    }
    path.strip_prefix(scope)
        .unwrap_or_else(|| panic!("{path} is documented outside {scope}"))
        .to_owned()
}

/// A provider's three routes — start (302), start as JSON (`{"url"}`), callback — served
/// by the same handlers for every provider, each counted against that provider's
/// per-address budget (the group is the provider's name).
fn provider_flow(
    cfg: &mut web::ServiceConfig,
    kind: ProviderKind,
    [authorize, authorize_json, callback]: [&str; 3],
) {
    let route = web::Data::new(ProviderRoute(kind));
    cfg.service(
        web::resource(authorize)
            .app_data(route.clone())
            .wrap(limited!(kind.name(), Page))
            .route(web::get().to(oauth::authorize)),
    )
    .service({
        register("get", authorize_json);
        web::resource(authorize_json)
            .app_data(route.clone())
            .app_data(api_query_errors())
            .wrap(limited!(kind.name(), Api))
            .route(web::get().to(oauth::authorize_json))
    })
    .service(
        web::resource(callback)
            .app_data(route)
            .wrap(limited!(kind.name(), Page))
            .route(web::get().to(oauth::callback)),
    );
}

/// A query that does not parse on a JSON route is our `{"code","msg"}` 400, not actix's
/// plain text.
fn api_query_errors() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _| {
        crate::error::ApiError::bad_request(format!("invalid query: {error}")).into()
    })
}

#[cfg(test)]
mod tests {
    /// Every route of the `/api` scope takes its path from its documentation
    /// (`documented`): a literal path there would be a route the OpenAPI document may not
    /// know of.
    #[test]
    fn api_routes_take_their_paths_from_the_document() {
        let source = include_str!("mod.rs");
        let api = source.split("web::scope(\"/api\")").nth(1).unwrap();
        let api = api.split("\nstatic REGISTERED").next().unwrap();
        assert!(
            !api.contains("web::resource(\""),
            "a literal path under /api"
        );
    }
}
