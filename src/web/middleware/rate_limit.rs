//! The per-address request budget (`login::RequestBudget`, threat T-60) applied to a group
//! of endpoints: over it, 429 instead of reaching the provider (and the app's API quota) or
//! the database, in the format the endpoint answers in.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};

use crate::config::Settings;
use crate::error::{ApiError, PageError};
use crate::login::RequestBudget;
use crate::oidc::OAuthError;
use crate::web::extract::{client_address, lang_of};

/// Who is refused, so that the 429 comes in the format the endpoint answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// A person: our page.
    Page,
    /// A program of ours: `{"code","msg"}`.
    Api,
    /// An OAuth client: RFC 6749 §5.2 JSON.
    OAuth,
}

/// Middleware: counts the request against `group`'s budget for the client's address, and
/// its failure (a 4xx answer other than our own 429) against the tighter one.
pub async fn limit(
    group: &'static str,
    face: Face,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let registered = req
        .app_data::<web::Data<Settings>>()
        .cloned()
        .zip(req.app_data::<web::Data<RequestBudget>>().cloned());
    // Only an app built without them (a programming error, logged) counts nothing.
    let Some((settings, budget)) = registered else {
        tracing::error!("the request budget is not registered with this app");
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let address = client_address(req.request(), &settings.trusted_proxies);
    let verdict = match address {
        Some(address) => budget.count(address, group, false).await,
        None => Ok(()),
    };
    let Err(wait) = verdict else {
        let response = next.call(req).await?;
        let status = response.status();
        if let Some(address) = address
            && status.is_client_error()
            && status != actix_web::http::StatusCode::TOO_MANY_REQUESTS
        {
            // The answer is out already; the count only decides the next request.
            let _ = budget.count(address, group, true).await;
        }
        return Ok(response.map_into_left_body());
    };
    crate::metrics::rate_limited(group);
    tracing::warn!(
        event = "rate_limited",
        group,
        "too many requests from one address"
    );
    let response = match face {
        Face::Api => ApiError::too_many_requests(wait).error_response(),
        Face::OAuth => OAuthError::TooManyRequests(wait).error_response(),
        Face::Page => PageError::too_many_requests(lang_of(req.request()), wait).error_response(),
    };
    Ok(req.into_response(response).map_into_right_body())
}
