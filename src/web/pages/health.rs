//! Probes for load balancers and orchestrators.

use std::time::Duration;

use actix_web::{HttpResponse, ResponseError, web};

use crate::db::{self, DbError, DbPool, users};
use crate::error::{ApiCode, ApiError};

/// A readiness probe answers within this, whatever the database does.
const READY_BUDGET: Duration = Duration::from_secs(2);

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database answers and takes writes: 200, else 503 within `READY_BUDGET`.
pub async fn readyz(pool: web::Data<DbPool>) -> HttpResponse {
    let check = db::run_within(&pool, READY_BUDGET, |conn| -> Result<(), DbError> {
        users::ping(conn)?;
        db::check_writable(conn)
    })
    .await;
    match check {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            ApiError::new(ApiCode::Unavailable, "database unreachable").error_response()
        }
    }
}
