use actix_web::{HttpResponse, web};

use crate::db::{self, DbError, DbPool};

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database answers: 200, else 503.
pub async fn readyz(pool: web::Data<DbPool>) -> HttpResponse {
    match db::run::<_, DbError, _>(&pool, db::users::ping).await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "code": 50301, "msg": "database unreachable" }))
        }
    }
}
