//! Probes for load balancers and orchestrators.

use std::time::Duration;

use actix_web::{HttpResponse, ResponseError, web};

use crate::error::{ApiCode, ApiError};
use crate::login::LoginService;

/// A readiness probe answers within this, whatever the database does.
const READY_BUDGET: Duration = Duration::from_secs(2);

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database answers and takes writes: 200, else 503 within `READY_BUDGET`.
pub async fn readyz(login: web::Data<LoginService>) -> HttpResponse {
    match login.ready(READY_BUDGET).await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            ApiError::new(ApiCode::Unavailable, "database unreachable").error_response()
        }
    }
}
