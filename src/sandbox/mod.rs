//! A faithful simulator of DingTalk's three endpoints, for developer machines and CI that
//! cannot reach DingTalk: the consent page (`/oauth2/auth`), the code exchange
//! (`/v1.0/oauth2/userAccessToken`) and the profile (`/v1.0/contact/users/me`), with
//! DingTalk's paths, parameters, JSON shapes and error shapes, under `/sandbox/dingtalk`.
//! The service calls it over real HTTP through its normal client.

pub mod driver;
mod routes;
mod state;

pub use routes::routes;
pub use state::{Sandbox, SandboxIdentity};

use std::net::SocketAddr;

use actix_web::{App, HttpServer, web};

use crate::config::Settings;

/// `dingtalk-login sandbox --bind ADDR`: the simulator alone, in its own process.
pub async fn serve_standalone(settings: &Settings, bind: SocketAddr) -> anyhow::Result<()> {
    let sandbox = web::Data::new(Sandbox::new(&settings.dingtalk));
    tracing::info!(%bind, client_id = %settings.dingtalk.client_id, "DingTalk sandbox listening");
    HttpServer::new(move || App::new().app_data(sandbox.clone()).configure(routes))
        .bind(bind)?
        .run()
        .await?;
    Ok(())
}
