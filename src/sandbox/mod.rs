//! Faithful simulators of the identity providers, for developer machines and CI that
//! cannot reach them, each with its provider's paths, parameters, JSON shapes and error
//! shapes: DingTalk under `/sandbox/dingtalk` (consent page, code exchange, profile, and
//! the organisation APIs), WeChat under `/sandbox/wechat`, Weibo under `/sandbox/weibo`.
//! The service calls them over real HTTP through its normal client. A provider without
//! credentials gets its simulator; production never does.

mod contacts;
pub mod driver;
mod events;
mod grants;
mod identities;
mod oapi;
mod organisation;
mod organisation_page;
mod routes;
mod state;
mod stream;
mod stream_hub;
pub mod wechat;
pub mod weibo;

pub use identities::SandboxIdentity;
pub use routes::routes;
pub use state::Sandbox;

use std::net::SocketAddr;

use actix_web::{App, HttpServer, web};

use crate::config::Settings;
use wechat::WeChatSandbox;
use weibo::WeiboSandbox;

/// The simulators this process serves, one per provider in sandbox mode.
#[derive(Clone, Default)]
pub struct Sandboxes {
    dingtalk: Option<web::Data<Sandbox>>,
    wechat: Option<web::Data<WeChatSandbox>>,
    weibo: Option<web::Data<WeiboSandbox>>,
}

impl Sandboxes {
    pub fn from_settings(settings: &Settings) -> Sandboxes {
        let simulated = |app: &Option<crate::config::OAuthAppSettings>| {
            app.as_ref().filter(|app| app.sandbox).cloned()
        };
        Sandboxes {
            dingtalk: settings
                .dingtalk
                .sandbox
                .then(|| web::Data::new(Sandbox::new(&settings.dingtalk, settings.base_url()))),
            wechat: simulated(&settings.wechat).map(|app| web::Data::new(WeChatSandbox::new(&app))),
            weibo: simulated(&settings.weibo).map(|app| web::Data::new(WeiboSandbox::new(&app))),
        }
    }

    /// The names of the simulated providers, for the start-up warning.
    pub fn names(&self) -> Vec<&'static str> {
        [
            self.dingtalk.is_some().then_some("dingtalk"),
            self.wechat.is_some().then_some("wechat"),
            self.weibo.is_some().then_some("weibo"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Registers each simulator's routes with its state.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        if let Some(sandbox) = &self.dingtalk {
            cfg.app_data(sandbox.clone()).configure(routes);
        }
        if let Some(sandbox) = &self.wechat {
            cfg.app_data(sandbox.clone()).configure(wechat::routes);
        }
        if let Some(sandbox) = &self.weibo {
            cfg.app_data(sandbox.clone()).configure(weibo::routes);
        }
    }
}

/// `dingtalk-login sandbox --bind ADDR`: the simulators alone, in their own process.
pub async fn serve_standalone(settings: &Settings, bind: SocketAddr) -> anyhow::Result<()> {
    let sandboxes = Sandboxes::from_settings(settings);
    tracing::info!(%bind, providers = ?sandboxes.names(), "sandbox listening");
    HttpServer::new(move || {
        let sandboxes = sandboxes.clone();
        App::new().configure(move |cfg| sandboxes.configure(cfg))
    })
    .bind(bind)?
    .run()
    .await?;
    Ok(())
}
