//! Where a successful login sends the browser: the SPA's `#/login?userid=..&username=..
//! &token=..&refreshToken=..` route (the tutorial's contract) — or, with
//! `HANDOFF_MODE=code`, `#/login?code=..` with a one-time code the SPA exchanges at
//! `POST /api/token/exchange` — or a local `next` path.

use actix_web::HttpResponse;
use actix_web::http::header;
use url::Url;

use crate::config::{HandoffMode, Settings};
use crate::error::PageError;
use crate::i18n::Lang;
use crate::login::{LoginError, LoginService};
use crate::tokens::TokenPair;
use crate::web::extract::form_decoded;
use crate::web::session::{SessionLogin, TypedSession};

/// The end of a login in a browser (password form, provider callback, link-account page):
/// the browser session (a fresh one: no fixation), then `next` or the SPA's handoff.
pub async fn sign_in_and_hand_over(
    session: &TypedSession,
    settings: &Settings,
    login: &LoginService,
    next: Option<String>,
    pair: &TokenPair,
    lang: Lang,
) -> Result<HttpResponse, PageError> {
    session
        .log_in(&SessionLogin {
            userid: pair.userid,
            sid: pair.session_id.clone(),
        })
        .map_err(|e| PageError::internal(lang, "storing the login in the session", &e))?;
    let location = match next {
        // Back to an OpenID client's request: the redirect to the client that follows
        // must not be part of this form submission's chain (see `continue_to`).
        Some(next) if next.starts_with("/oauth2/") => {
            return crate::web::oidc::continue_to(lang, &next, "");
        }
        Some(next) => next,
        None => handoff_location(settings, login, pair)
            .await
            .map_err(|e| PageError::from_login(e, lang))?,
    };
    Ok(redirect_with_tokens(&location))
}

/// The SPA's handoff for `pair`, as `HANDOFF_MODE` says.
pub async fn handoff_location(
    settings: &Settings,
    login: &LoginService,
    pair: &TokenPair,
) -> Result<String, LoginError> {
    Ok(match settings.handoff_mode {
        HandoffMode::Query => handoff_url(&settings.frontend_login_url, pair),
        HandoffMode::Code => {
            let code = login.handoff_code(pair).await?;
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("code", &code)
                .finish();
            in_login_route(&settings.frontend_login_url, &query)
        }
    })
}

/// The SPA route with the four values appended after the fragment's route, URL-encoded.
pub fn handoff_url(frontend_login_url: &Url, pair: &TokenPair) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("userid", &pair.userid.to_string())
        .append_pair("username", &pair.username)
        .append_pair("token", &pair.access_token)
        .append_pair("refreshToken", &pair.refresh_token)
        .finish();
    in_login_route(frontend_login_url, &query)
}

/// `query` after the SPA's login route in the fragment.
fn in_login_route(frontend_login_url: &Url, query: &str) -> String {
    let base = frontend_login_url.as_str();
    let separator = match frontend_login_url.fragment() {
        Some(fragment) if fragment.contains('?') => "&",
        Some(_) => "?",
        // Without a route in the fragment the values still travel in the fragment, which
        // never reaches a server or a Referer header.
        None => "#/login?",
    };
    format!("{base}{separator}{query}")
}

/// 303 with headers that keep the tokens out of caches and Referer headers.
pub fn redirect_with_tokens(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish()
}

/// Accepts only a local path: one leading `/`, no `//` or `/\` (which browsers read as
/// another host), no backslashes or control characters, also after percent-decoding.
pub fn safe_next(raw: Option<&str>) -> Option<String> {
    let raw = raw?.trim();
    let decoded = form_decoded(raw);
    let local = |s: &str| {
        s.starts_with('/')
            && !s.starts_with("//")
            && !s.contains('\\')
            && !s.chars().any(|c| c.is_control())
            // An OpenID authorization request, with its state, nonce and PKCE challenge,
            // comes back through here.
            && s.len() <= 2048
    };
    (local(raw) && local(&decoded)).then(|| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_pass() {
        assert_eq!(
            safe_next(Some("/admin/accounts?page=2")),
            Some("/admin/accounts?page=2".into())
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/%2F%2Fevil",
            "%2F%2Fevil.example",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
    }
}
