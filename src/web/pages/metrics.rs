//! `GET /metrics`: the Prometheus text format, for a scraper only — with `METRICS_TOKEN`
//! as its bearer token, or on the private `METRICS_BIND` address. Otherwise the path does
//! not exist (404): nobody learns the service's traffic from outside.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Settings;
use crate::crypto::constant_time_eq;
use crate::login::LoginService;

/// Where the metrics are served from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MetricsPlace {
    /// The service's own address: only with `METRICS_TOKEN`, and only if `METRICS_BIND` is
    /// not set.
    Public,
    /// `METRICS_BIND`: no token.
    Private,
}

/// `GET /metrics`.
pub async fn metrics(
    req: HttpRequest,
    place: web::Data<MetricsPlace>,
    settings: web::Data<Settings>,
    handle: web::Data<PrometheusHandle>,
    login: web::Data<LoginService>,
) -> HttpResponse {
    if *place.get_ref() == MetricsPlace::Public {
        let token = match (&settings.metrics_token, settings.metrics_bind) {
            (Some(token), None) => token,
            _ => return HttpResponse::NotFound().finish(),
        };
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(presented, token.expose()) {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .finish();
        }
    }
    let (in_use, idle) = login.database_connections();
    crate::metrics::db_connections(in_use, idle);
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(handle.render())
}
