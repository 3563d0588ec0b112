use std::time::Duration;

use actix_web::{HttpResponse, web};

use crate::db::{DbError, DbPool, users};

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database answers: 200, else 503. A probe must answer quickly, so it waits for a
/// pooled connection one second at most.
pub async fn readyz(pool: web::Data<DbPool>) -> HttpResponse {
    let pool = pool.into_inner();
    let check = web::block(move || -> Result<(), DbError> {
        let mut conn = pool.get_timeout(Duration::from_secs(1))?;
        users::ping(&mut conn)
    })
    .await
    .unwrap_or(Err(DbError::Cancelled));
    match check {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "code": 50301, "msg": "database unreachable" }))
        }
    }
}
