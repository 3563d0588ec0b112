//! What handlers take from a request, checked before they run: the person's language, who
//! the client is (address behind trusted proxies, User-Agent), and forms that carry a valid
//! CSRF token. A POST handler that takes `CsrfForm<T>` cannot run on a forged request.

use std::future::{Ready, ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::header::{ACCEPT_LANGUAGE, USER_AGENT};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::session::TypedSession;
use crate::config::Settings;
use crate::error::PageError;
use crate::i18n::Lang;
use crate::login::ClientInfo;

/// The language of the page: the browser's Accept-Language, Chinese by default.
pub fn lang_of(req: &HttpRequest) -> Lang {
    req.headers()
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or(Lang::Zh)
}

impl FromRequest for Lang {
    type Error = actix_web::Error;
    type Future = Ready<Result<Lang, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(lang_of(req)))
    }
}

/// `value` decoded as one value of an `application/x-www-form-urlencoded` body
/// (percent-escapes, `+` for space).
pub fn form_decoded(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the nearest
/// address in `X-Forwarded-For` that is not a trusted proxy. All lines of the header count
/// as one list (a client may send its own line before the proxy's, RFC 9110 §5.3), read
/// from the right: everything left of the last untrusted hop is the client's own claim.
pub fn client_address(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let lines: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    for hop in lines.iter().flat_map(|line| line.split(',')).rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted_proxies.contains(&ip) => continue,
            Ok(ip) => return Some(ip),
            // A proxy we trust would not pass on garbage as the hop before it.
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

impl FromRequest for ClientInfo {
    type Error = actix_web::Error;
    type Future = Ready<Result<ClientInfo, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trusted = req
            .app_data::<web::Data<Settings>>()
            .map(|settings| settings.trusted_proxies.as_slice())
            .unwrap_or_default();
        ready(Ok(ClientInfo {
            address: client_address(req, trusted),
            user_agent: req
                .headers()
                .get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }))
    }
}

/// A form posted from a page of another site, as its browser says (`Origin`): refused
/// even with a valid token (OWASP CSRF cheat sheet, defence in depth). Our pages send no
/// Referer (`no-referrer`), so browsers send `Origin: null` for them: that, and no
/// `Origin` at all, rest on the token alone.
fn from_another_site(req: &HttpRequest) -> bool {
    let Some(origin) = req
        .headers()
        .get(actix_web::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    if origin == "null" {
        return false;
    }
    let ours = req
        .app_data::<web::Data<Settings>>()
        .map(|settings| settings.public_base_url.origin().ascii_serialization());
    ours.is_some_and(|ours| ours != origin)
}

/// A server-rendered form whose fields are `T` plus the hidden `csrf` field.
pub trait CsrfProtected: DeserializeOwned + 'static {
    /// Names the form in the security log.
    const FORM: &'static str;

    /// The answer to a request without a valid token: the "page expired" page, whose
    /// button leads back to where the form was.
    fn rejected(&self, req: &HttpRequest, lang: Lang) -> HttpResponse {
        let page = PageError::csrf_rejected(lang, Self::FORM);
        let page = if req.path().starts_with("/admin/") {
            page.back_to_accounts_list()
        } else if req.path().starts_with("/account") {
            page.back_to_account()
        } else {
            page
        };
        page.error_response()
    }
}

/// A form that arrived with this session's CSRF token (synchronizer token, compared in
/// constant time; OWASP CSRF cheat sheet). Anything else is answered before the handler
/// runs, and nothing changes.
pub struct CsrfForm<T>(pub T);

impl<T: CsrfProtected> FromRequest for CsrfForm<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<CsrfForm<T>, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // The body is read once, as pairs (FormConfig's size limit applies), then read as
        // `T`: serde's flatten cannot give `T` its numbers from a urlencoded body.
        let pairs = web::Form::<Vec<(String, String)>>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let pairs = pairs.await?.into_inner();
            let submitted = pairs
                .iter()
                .find(|(key, _)| key == "csrf")
                .map(|(_, value)| value.as_str());
            let fields = serde_urlencoded::to_string(&pairs)
                .ok()
                .and_then(|encoded| serde_urlencoded::from_str::<T>(&encoded).ok())
                .ok_or_else(|| actix_web::error::ErrorBadRequest("the form is incomplete"))?;
            let session = TypedSession::from_request_sync(&req);
            if !session.csrf_matches(submitted) || from_another_site(&req) {
                let response = fields.rejected(&req, lang_of(&req));
                return Err(actix_web::error::InternalError::from_response(
                    "CSRF token rejected",
                    response,
                )
                .into());
            }
            Ok(CsrfForm(fields))
        })
    }
}
