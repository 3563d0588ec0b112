//! Probes for load balancers and orchestrators.

use std::time::Duration;

use actix_web::{HttpResponse, ResponseError, web};

use crate::db::{DbError, DbPool, users};
use crate::error::{ApiCode, ApiError};

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database answers: 200, else 503. A probe must answer quickly, so it waits for a
/// pooled connection one second at most.
pub async fn readyz(pool: web::Data<DbPool>) -> HttpResponse {
    let pool = pool.into_inner();
    let check = tokio::task::spawn_blocking(move || -> Result<(), DbError> {
        let mut conn = pool.get_timeout(Duration::from_secs(1))?;
        users::ping(&mut conn)
    })
    .await
    .unwrap_or(Err(DbError::Cancelled));
    match check {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            ApiError::new(ApiCode::Unavailable, "database unreachable").error_response()
        }
    }
}
