//! Cross-cutting request and response policy: security headers on every response, one log
//! line and metrics sample per request (with its request id), CORS for the API,
//! and the per-address budget of the login endpoints (`rate_limit`).

pub mod rate_limit;

use std::time::Instant;

use actix_web::ResponseError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

/// No inline script or style anywhere; avatars may come from DingTalk's CDN over https.
pub fn content_security_policy(form_targets: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'{form_targets}"
    )
}

pub async fn security_headers(
    csp: HeaderValue,
    hsts: bool,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Tokens travel in URLs on the handoff; no page of ours tells another site where it was.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

/// One log line and one metrics sample per request, inside a span that carries the
/// request id: every log line of the request names it, and so does the `X-Request-Id` of
/// the response. The id of a trusted proxy is kept (it ties our lines to the proxy's);
/// anyone else's is replaced, so a client cannot forge or flood the ids we log.
/// The query string is left out of the line on purpose: the OAuth callbacks carry the
/// code and state there. Metrics take the route pattern, never the path (no ids or codes
/// as labels).
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let request_id = request_id(&req);
    let span = tracing::info_span!("request", request_id = %request_id);
    let response = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let _entered = span.enter();
    match response {
        Ok(mut res) => {
            let status = res.status().as_u16();
            tracing::info!(%method, path, status, latency_ms, "request");
            // The pattern is a fresh String: only made when someone reads the metrics.
            if crate::metrics::enabled() {
                let route = res.request().match_pattern();
                let route = route.unwrap_or_else(|| "unmatched".to_owned());
                crate::metrics::http_request(method.as_str(), route, status, elapsed);
            }
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                res.headers_mut().insert(REQUEST_ID.clone(), value);
            }
            Ok(res)
        }
        Err(error) => {
            let status = error.as_response_error().status_code().as_u16();
            tracing::info!(%method, path, status, latency_ms, "request");
            crate::metrics::http_request(method.as_str(), "unmatched".to_owned(), status, elapsed);
            Err(error)
        }
    }
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The trusted proxy's `X-Request-Id` when it is a plausible id (1–64 of `A-Za-z0-9._-`),
/// else a fresh one.
fn request_id(req: &ServiceRequest) -> String {
    let from_proxy = req
        .app_data::<actix_web::web::Data<crate::config::Settings>>()
        .zip(req.peer_addr())
        .filter(|(settings, peer)| settings.trusted_proxies.contains(&peer.ip()))
        .and_then(|_| req.headers().get(&REQUEST_ID))
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    match from_proxy {
        Some(id) => id.to_owned(),
        None => crate::crypto::random_token(12),
    }
}

/// CORS for the JSON API, for an SPA served from another origin (`FRONTEND_LOGIN_URL`):
/// only that origin is ever named in `Access-Control-Allow-Origin`, never a reflected one
/// (threat T-59). Other origins get no CORS headers, so browsers withhold the answer.
/// Credentials are not allowed: the API takes its token from the Authorization header.
pub async fn api_cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let settings = req.app_data::<actix_web::web::Data<crate::config::Settings>>();
    let allowed = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .filter(|origin| settings.is_some_and(|s| s.frontend_origin == *origin))
        .and_then(|origin| HeaderValue::from_str(origin).ok());
    if req.method() == actix_web::http::Method::OPTIONS {
        let mut preflight = actix_web::HttpResponse::NoContent();
        if let Some(origin) = allowed {
            preflight
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "authorization, content-type",
                ))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "3600"));
        }
        preflight.insert_header((header::VARY, "Origin"));
        return Ok(req.into_response(preflight.finish()).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    if let Some(origin) = allowed {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Origin"));
    Ok(response.map_into_left_body())
}

/// CORS for the OpenID provider's endpoints that programs call (discovery, keys, token,
/// UserInfo, revocation), so that an SPA on any origin can be a public client. Any origin
/// may read them: none of them takes a cookie — a code with its verifier, a client secret or
/// a bearer token is the credential — so `*`, without credentials, lends nobody's ambient
/// authority to another site.
pub async fn openid_cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    if req.method() == actix_web::http::Method::OPTIONS {
        let preflight = actix_web::HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "authorization, content-type",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "3600"))
            .finish();
        return Ok(req.into_response(preflight).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(response.map_into_left_body())
}

/// No cookie of ours comes near this; a bigger one is refused before the session layer
/// decrypts and parses it (threat T-50), and cleared so the browser recovers.
pub const MAX_SESSION_COOKIE_BYTES: usize = 8 * 1024;

pub async fn cap_session_cookie(
    cookie_name: &'static str,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    // The header's size first: parsing cookies costs an allocation on every request.
    let cookie_bytes: usize = req
        .headers()
        .get_all(header::COOKIE)
        .map(|value| value.len())
        .sum();
    let oversized = cookie_bytes > MAX_SESSION_COOKIE_BYTES
        && req
            .cookie(cookie_name)
            .is_some_and(|cookie| cookie.value().len() > MAX_SESSION_COOKIE_BYTES);
    if !oversized {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    tracing::warn!(
        event = "oversized_cookie",
        "an oversized session cookie was refused"
    );
    let mut response = if req.path().starts_with("/api/") {
        crate::error::ApiError::new(
            crate::error::ApiCode::HeaderTooLarge,
            "the session cookie is too large",
        )
        .error_response()
    } else {
        crate::error::PageError::cookie_too_large(crate::web::extract::lang_of(req.request()))
            .error_response()
    };
    let mut removal = actix_web::cookie::Cookie::new(cookie_name, "");
    removal.set_path("/");
    removal.make_removal();
    let _ = response.add_cookie(&removal);
    Ok(req.into_response(response).map_into_right_body())
}

/// actix answers an unknown path (404) or a known one with the wrong method (405, with
/// `Allow`) with an empty body; people get our page and programs our `{"code","msg"}`.
pub async fn explain_bare_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    use actix_web::http::StatusCode;
    let response = next.call(req).await?;
    let status = response.status();
    let bare = matches!(
        status,
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
    ) && !response.headers().contains_key(header::CONTENT_TYPE);
    if !bare {
        return Ok(response.map_into_left_body());
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let api = response.request().path().starts_with("/api/");
    let lang = crate::web::extract::lang_of(response.request());
    let mut explained = if api {
        let code = if status == StatusCode::METHOD_NOT_ALLOWED {
            crate::error::ApiCode::MethodNotAllowed
        } else {
            crate::error::ApiCode::NotFound
        };
        let msg = if status == StatusCode::METHOD_NOT_ALLOWED {
            "this route does not accept this method"
        } else {
            "no such route"
        };
        crate::error::ApiError::new(code, msg).error_response()
    } else {
        crate::error::PageError::no_such_route(lang, status).error_response()
    };
    if let Some(allow) = allow {
        explained.headers_mut().insert(header::ALLOW, allow);
    }
    let (req, _) = response.into_parts();
    Ok(ServiceResponse::new(req, explained).map_into_right_body())
}

/// The OpenID endpoints that programs call answer every refusal in OAuth's JSON (RFC 6749
/// §5.2): also those made before our handler runs — a wrong method (405, `Allow` kept), a
/// body over the limit (413), an unreadable request. A 401 that carries only
/// `WWW-Authenticate` (RFC 6750 §3.1) stays as it is.
pub async fn oauth_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    use actix_web::http::StatusCode;
    let response = next.call(req).await?;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    let bare_challenge = status == StatusCode::UNAUTHORIZED
        && response.headers().contains_key(header::WWW_AUTHENTICATE);
    if !(status.is_client_error() || status.is_server_error()) || json || bare_challenge {
        return Ok(response.map_into_left_body());
    }
    let description = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not accept this method",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than 16 KiB",
        StatusCode::NOT_FOUND => "this service does not act as an OpenID provider",
        _ => "the request is malformed",
    };
    tracing::info!(
        status = status.as_u16(),
        description,
        "an OpenID request was refused before its handler"
    );
    let error = crate::oidc::OAuthError::Http {
        status: status.as_u16(),
        description,
    };
    let mut rewritten = error.error_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = response.headers().get(&name) {
            rewritten.headers_mut().insert(name, value.clone());
        }
    }
    let (req, _) = response.into_parts();
    Ok(ServiceResponse::new(req, rewritten).map_into_right_body())
}

/// A request body must have arrived `timeout` after its headers. Without this a client that
/// sends the headers and then a trickle (or nothing) holds the connection for minutes;
/// with it the body's reader gets an error and the request its 400.
pub async fn body_deadline(
    timeout: std::time::Duration,
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage;
    use actix_web::dev::Payload;
    use actix_web::error::PayloadError;
    use futures_util::StreamExt;

    let has_body = req.headers().contains_key(header::CONTENT_LENGTH)
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    if has_body {
        let deadline = tokio::time::Instant::now() + timeout;
        let body =
            futures_util::stream::unfold(Some(req.take_payload()), move |state| async move {
                let mut payload = state?;
                match tokio::time::timeout_at(deadline, payload.next()).await {
                    Ok(Some(chunk)) => Some((chunk, Some(payload))),
                    Ok(None) => None,
                    Err(_) => {
                        let late = std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the request body did not arrive in time",
                        );
                        Some((Err(PayloadError::Io(late)), None))
                    }
                }
            });
        req.set_payload(Payload::Stream {
            payload: Box::pin(body),
        });
    }
    next.call(req).await
}
