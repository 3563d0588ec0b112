//! Builds the application from settings: migrations, pool, HTTP client, providers, the
//! login service, middleware and routes. Each dependency is registered as its own
//! `web::Data`, so a handler names exactly what it uses.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::PersistentSession;
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::http::header::HeaderValue;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::admin::AdminService;
use crate::config::{ConfigError, EventTransport, Settings};
use crate::db::DbPool;
use crate::directory::DirectoryService;
use crate::error::{ApiError, PageError};
use crate::login::{FailedLogins, LoginService, RequestBudget, UsedStates};
use crate::oidc::OpenIdProvider;
use crate::oidc::backchannel::LogoutDelivery;
use crate::oidc::keys::SigningKeys;
use crate::providers::IdentityProvider;
use crate::providers::Providers;
use crate::providers::dingtalk::DingTalk;
use crate::providers::dingtalk::directory::DirectoryApi;
use crate::providers::dingtalk::event_crypto::EventCipher;
use crate::providers::dingtalk::oapi::AppApi;
use crate::providers::dingtalk::stream::StreamApi;
use crate::providers::wechat::WeChat;
use crate::providers::weibo::Weibo;
use crate::sandbox::Sandboxes;
use crate::tokens::TokenService;
use crate::web::middleware;
use crate::web::oidc::OpenId;

pub struct Application {
    port: u16,
    server: Server,
    metrics_port: Option<u16>,
}

impl Application {
    /// Binds `BIND_ADDR`; a port in use is a configuration error (exit 2).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(settings.bind_addr).map_err(|e| ConfigError {
            var: "BIND_ADDR",
            problem: format!("cannot listen on {} ({e})", settings.bind_addr),
            fix: "Stop the program using that port, or choose another one with BIND_ADDR.".into(),
        })?;
        Application::build_with_listener(settings, listener).await
    }

    /// Tests bind port 0 themselves and pass the listener in.
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        let port = listener.local_addr()?.port();
        let pool = open_database(&settings).await?;
        let sandboxes = Sandboxes::from_settings(&settings);
        if !sandboxes.names().is_empty() {
            tracing::warn!(
                providers = ?sandboxes.names(),
                "sandbox is on: these providers are simulated (set their credentials for the real ones)"
            );
        }
        let shared_limits = !settings.database_url.is_sqlite();
        actix_web::rt::spawn(crate::login::purge_periodically(
            pool.clone(),
            shared_limits,
        ));
        let policy = HttpPolicy::from_settings(&settings)?;
        let services = Services::build(settings, pool)?;
        if let (Some(directory), Some(configured)) =
            (&services.directory, &services.settings.dingtalk.directory)
        {
            actix_web::rt::spawn(
                directory
                    .clone()
                    .into_inner()
                    .sync_periodically(configured.sync_interval),
            );
            if matches!(configured.events, EventTransport::Stream) {
                let api = StreamApi::new(
                    &services.settings.dingtalk,
                    outbound_client(&services.settings)?,
                );
                actix_web::rt::spawn(crate::directory::stream::hold_connection(
                    directory.clone().into_inner(),
                    api,
                ));
            }
        }
        let metrics_port = match services.settings.metrics_bind {
            Some(bind) => Some(serve_metrics(bind, &services)?),
            None => None,
        };

        let server = HttpServer::new(move || {
            let policy = policy.clone();
            let sandboxes = sandboxes.clone();
            let services = services.clone();
            App::new()
                .wrap(from_fn(move |req, next| {
                    middleware::body_deadline(policy.body_timeout, req, next)
                }))
                .wrap(policy.session())
                // Inside the security headers, which then apply to its pages too.
                .wrap(from_fn(middleware::explain_bare_errors))
                .wrap(from_fn(move |req, next| {
                    middleware::cap_session_cookie(policy.cookie_name, req, next)
                }))
                .wrap(from_fn(move |req, next| {
                    let csp = policy.csp.clone();
                    middleware::security_headers(csp, policy.secure_cookies, req, next)
                }))
                .wrap(from_fn(middleware::access_log))
                .configure(body_limits)
                .configure(|cfg| services.register(cfg))
                .configure(crate::web::routes)
                .configure(move |cfg| sandboxes.configure(cfg))
        })
        .listen(listener)?
        .shutdown_timeout(5)
        .run();
        tracing::info!(port, "listening");
        Ok(Application {
            port,
            server,
            metrics_port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `METRICS_BIND`'s listener, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The services a request may need, each registered as its own `web::Data`.
#[derive(Clone)]
struct Services {
    login: web::Data<LoginService>,
    console: web::Data<AdminService>,
    budget: web::Data<RequestBudget>,
    providers: web::Data<Providers>,
    openid: web::Data<OpenId>,
    /// With `DINGTALK_DIRECTORY` only; handlers take it as an `Option`.
    directory: Option<web::Data<DirectoryService>>,
    /// With `DINGTALK_EVENTS=http` only.
    event_cipher: Option<web::Data<EventCipher>>,
    metrics: web::Data<PrometheusHandle>,
    settings: web::Data<Settings>,
}

impl Services {
    fn build(settings: Settings, pool: DbPool) -> anyhow::Result<Services> {
        let scrapable = settings.metrics_token.is_some() || settings.metrics_bind.is_some();
        let metrics = crate::metrics::install(scrapable);
        let http = outbound_client(&settings)?;
        // The app's own calls (membership, in-client login, the directory) share one
        // client and one app token.
        let app_api = (!settings.dingtalk.corp_ids.is_empty())
            .then(|| Arc::new(AppApi::new(&settings.dingtalk, http.clone())));
        let providers = configured_providers(&settings, &http, app_api.clone());
        let (directory, event_cipher) = directory_parts(&settings, &pool, app_api)?;
        // One instance on SQLite counts its limits in memory; on PostgreSQL every instance
        // counts in the database, so N instances enforce one limit. The keys are hashed
        // with the session secret, which all instances share.
        let (failures, ceiling) = (
            settings.rate_limit_per_minute,
            settings.rate_limit_ceiling_per_minute,
        );
        let shared_secret = settings.session_secret.expose();
        let (failed_logins, used_states, budget) = if settings.database_url.is_sqlite() {
            (
                FailedLogins::in_memory(),
                UsedStates::in_memory(),
                RequestBudget::in_memory(failures, ceiling),
            )
        } else {
            (
                FailedLogins::shared(pool.clone(), shared_secret),
                UsedStates::shared(pool.clone()),
                RequestBudget::shared(failures, ceiling, pool.clone(), shared_secret),
            )
        };
        let login = LoginService::new(
            pool.clone(),
            TokenService::new(&settings),
            settings.password_check_queue,
            settings.dingtalk.signup,
            (failed_logins, used_states),
        );
        let keys = SigningKeys::load(&settings.oidc_keys, &settings.data_dir)?;
        if let Some(keys) = &keys {
            let delivery = LogoutDelivery::new(
                pool.clone(),
                keys.clone(),
                settings.base_url(),
                http.clone(),
            );
            actix_web::rt::spawn(delivery.deliver_periodically());
        }
        let openid = OpenId(keys.map(|keys| {
            OpenIdProvider::new(
                pool.clone(),
                keys,
                Arc::new(TokenService::new(&settings)),
                settings.base_url(),
                settings.access_token_ttl,
            )
        }));
        Ok(Services {
            login: web::Data::new(login),
            console: web::Data::new(AdminService::new(pool)),
            budget: web::Data::new(budget),
            providers: web::Data::new(providers),
            openid: web::Data::new(openid),
            directory,
            event_cipher,
            metrics: web::Data::new(metrics),
            settings: web::Data::new(settings),
        })
    }

    fn register(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.login.clone())
            .app_data(self.console.clone())
            .app_data(self.budget.clone())
            .app_data(self.providers.clone())
            .app_data(self.openid.clone())
            .app_data(self.metrics.clone())
            .app_data(self.settings.clone());
        if let Some(directory) = &self.directory {
            cfg.app_data(directory.clone());
        }
        if let Some(cipher) = &self.event_cipher {
            cfg.app_data(cipher.clone());
        }
    }
}

/// With `DINGTALK_DIRECTORY`: the directory service, and with `DINGTALK_EVENTS=http` the
/// cipher of the events DingTalk posts.
type DirectoryParts = (
    Option<web::Data<DirectoryService>>,
    Option<web::Data<EventCipher>>,
);

fn directory_parts(
    settings: &Settings,
    pool: &DbPool,
    app_api: Option<Arc<AppApi>>,
) -> anyhow::Result<DirectoryParts> {
    let directory = match (&settings.dingtalk.directory, app_api) {
        (Some(configured), Some(app)) => Some(web::Data::new(DirectoryService::new(
            pool.clone(),
            DirectoryApi::new(app),
            configured.corp_id.clone(),
        ))),
        _ => None,
    };
    let event_cipher = match settings.dingtalk.directory.as_ref().map(|d| &d.events) {
        Some(EventTransport::Http(keys)) => Some(web::Data::new(
            EventCipher::new(
                keys.token.clone(),
                keys.aes_key.expose(),
                keys.receiver.clone(),
            )
            .ok_or_else(|| ConfigError {
                var: "DINGTALK_EVENT_AES_KEY",
                problem: "is not DingTalk's aes_key (43 characters of base64)".into(),
                fix: "Copy the aes_key of the event subscription (开发者后台 > 事件订阅) exactly."
                    .into(),
            })?,
        )),
        _ => None,
    };
    Ok((directory, event_cipher))
}

/// What every response and the session cookie follow, decided once from the settings.
#[derive(Clone)]
struct HttpPolicy {
    csp: HeaderValue,
    session_key: Key,
    cookie_name: &'static str,
    secure_cookies: bool,
    body_timeout: Duration,
}

impl HttpPolicy {
    fn from_settings(settings: &Settings) -> anyhow::Result<HttpPolicy> {
        let secure_cookies = settings.cookies_secure();
        let frontend_origin = &settings.frontend_origin;
        let form_targets =
            if *frontend_origin == settings.public_base_url.origin().ascii_serialization() {
                String::new()
            } else {
                format!(" {frontend_origin}")
            };
        Ok(HttpPolicy {
            csp: HeaderValue::from_str(&middleware::content_security_policy(&form_targets))?,
            session_key: Key::derive_from(settings.session_secret.expose().as_bytes()),
            // `__Host-` makes browsers refuse the cookie unless it is Secure, host-only and
            // on Path=/, so a sibling subdomain cannot plant or shadow it; it needs https.
            cookie_name: if secure_cookies {
                "__Host-dl_session"
            } else {
                "dl_session"
            },
            secure_cookies,
            body_timeout: settings.request_body_timeout,
        })
    }

    fn session(&self) -> SessionMiddleware<CookieSessionStore> {
        SessionMiddleware::builder(CookieSessionStore::default(), self.session_key.clone())
            .cookie_name(self.cookie_name.into())
            .cookie_secure(self.secure_cookies)
            .cookie_http_only(true)
            // Lax, not Strict: DingTalk's redirect back is a cross-site top-level GET and
            // must carry the state cookie.
            .cookie_same_site(SameSite::Lax)
            .session_lifecycle(
                PersistentSession::default()
                    .session_ttl(actix_web::cookie::time::Duration::hours(12)),
            )
            .build()
    }
}

/// Every body, whatever reads it, is limited to 16 KiB (README), and a body that does not
/// parse is answered in the format of whom it came from.
fn body_limits(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(16 * 1024))
        .app_data(
            web::JsonConfig::default()
                .limit(16 * 1024)
                .error_handler(|err, _| {
                    ApiError::bad_request(format!("invalid JSON body: {err}")).into()
                }),
        )
        .app_data(
            web::FormConfig::default()
                .limit(16 * 1024)
                .error_handler(|err, req| {
                    let lang = crate::web::extract::lang_of(req);
                    PageError::bad_form(lang, &err).into()
                }),
        );
}

/// Migrations, the pool, and a check that the database takes writes (a read-only SQLite
/// file or a PostgreSQL standby would otherwise report ready while every login fails).
/// Bounded: a database that does not answer stops the start with one line and exit 1.
async fn open_database(settings: &Settings) -> anyhow::Result<DbPool> {
    let url = settings.database_url.clone();
    let pool_size = if url.is_sqlite() {
        settings.database_pool_size.min(8)
    } else {
        settings.database_pool_size
    };
    let budget = settings.database_timeout;
    let work = web::block(move || -> anyhow::Result<DbPool> {
        let applied = crate::db::run_migrations(&url)
            .with_context(|| format!("cannot open the database {url}"))?;
        if !applied.is_empty() {
            tracing::info!(count = applied.len(), "applied database migrations");
        }
        let pool = crate::db::connect_pool(&url, pool_size, budget)
            .with_context(|| format!("cannot connect to the database {url}"))?;
        let mut conn = pool.get().map_err(crate::db::DbError::from)?;
        crate::db::check_writable(&mut conn)
            .with_context(|| format!("the database {url} does not take writes"))?;
        Ok(pool)
    });
    match tokio::time::timeout(STARTUP_DATABASE_WAIT, work).await {
        Ok(result) => result.context("the database task failed")?,
        Err(_) => anyhow::bail!(
            "the database {} did not answer within {} s",
            settings.database_url,
            STARTUP_DATABASE_WAIT.as_secs()
        ),
    }
}

/// The longest start-up waits for the database (migrations included).
const STARTUP_DATABASE_WAIT: Duration = Duration::from_secs(30);

/// `/metrics` alone on `METRICS_BIND` (a private interface; no token there), beside the
/// service. Returns the port it listens on.
fn serve_metrics(bind: std::net::SocketAddr, services: &Services) -> anyhow::Result<u16> {
    let listener = TcpListener::bind(bind).map_err(|e| ConfigError {
        var: "METRICS_BIND",
        problem: format!("cannot listen on {bind} ({e})"),
        fix: "Choose a free address for the metrics, or unset METRICS_BIND.".into(),
    })?;
    let port = listener.local_addr()?.port();
    let (settings, metrics, login) = (
        services.settings.clone(),
        services.metrics.clone(),
        services.login.clone(),
    );
    let place = web::Data::new(crate::web::pages::metrics::MetricsPlace::Private);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(settings.clone())
            .app_data(metrics.clone())
            .app_data(login.clone())
            .app_data(place.clone())
            .route(
                "/metrics",
                web::get().to(crate::web::pages::metrics::metrics),
            )
    })
    .workers(1)
    .listen(listener)?
    .shutdown_timeout(1)
    .run();
    actix_web::rt::spawn(server);
    tracing::info!(port, "metrics listening");
    Ok(port)
}

/// Every enabled provider, sharing the process's one HTTP client and one budget of calls.
/// Each gets its callback under `PUBLIC_BASE_URL` (DingTalk's is the tutorial's path).
fn configured_providers(
    settings: &Settings,
    http: &reqwest::Client,
    dingtalk_app: Option<Arc<AppApi>>,
) -> Providers {
    let base = settings.base_url();
    let mut list: Vec<Arc<dyn IdentityProvider>> = vec![Arc::new(DingTalk::new(
        &settings.dingtalk,
        http.clone(),
        format!("{base}/user/dingtalkCallback/"),
        dingtalk_app,
    ))];
    if let Some(app) = &settings.wechat {
        let redirect_uri = format!("{base}/user/wechat/callback/");
        list.push(Arc::new(WeChat::new(app, http.clone(), redirect_uri)));
    }
    if let Some(app) = &settings.weibo {
        let redirect_uri = format!("{base}/user/weibo/callback/");
        list.push(Arc::new(Weibo::new(app, http.clone(), redirect_uri)));
    }
    Providers::new(list, settings.provider_max_in_flight)
}

/// The one HTTP client of the process: pooled connections, bounded time, no redirects
/// (a 302 to an internal address must not be followed), https only when every provider's
/// API is (real ones are; a sandbox on a developer machine is not).
pub(crate) fn outbound_client(settings: &Settings) -> anyhow::Result<reqwest::Client> {
    let https_only = std::iter::once(&settings.dingtalk.api_base)
        .chain(settings.wechat.iter().map(|app| &app.api_base))
        .chain(settings.weibo.iter().map(|app| &app.api_base))
        .all(|base| base.scheme() == "https");
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_millis(settings.dingtalk.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .https_only(https_only)
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("dingtalk-login/", env!("CARGO_PKG_VERSION")))
        .build()?)
}
