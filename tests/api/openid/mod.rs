//! The OpenID provider (issue #14), driven by a real OpenID Connect client library
//! (`openidconnect`, not written here) where a client would speak, and by plain HTTP
//! where a test must say something the library would never send.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dingtalk_login::oidc::clients::{self, NewClient, Registered};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, browser, location, query_param, spawn_app, spawn_app_with};

mod access;
mod codes;
mod consents;
mod hardening;
mod protocol;

pub(crate) const CALLBACK: &str = "http://127.0.0.1:9/callback";
pub(crate) const AFTER_LOGOUT: &str = "http://127.0.0.1:9/logged-out";

pub type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub(crate) fn register(app: &TestApp, name: &str, public: bool, alg: &str) -> Registered {
    register_at(app, name, public, alg, CALLBACK)
}

pub fn register_at(
    app: &TestApp,
    name: &str,
    public: bool,
    alg: &str,
    redirect_uri: &str,
) -> Registered {
    let new = NewClient {
        name: name.into(),
        redirect_uris: vec![redirect_uri.into()],
        post_logout_redirect_uris: vec![AFTER_LOGOUT.into()],
        public,
        id_token_alg: alg.into(),
        backchannel_logout_uri: None,
    };
    clients::register(&mut app.conn(), new).expect("the client registers")
}

pub fn http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The library's client for `registered`, configured by discovery.
pub async fn client_for(app: &TestApp, registered: &Registered) -> Client {
    client_at(app, registered, CALLBACK).await
}

pub async fn client_at(app: &TestApp, registered: &Registered, redirect_uri: &str) -> Client {
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http())
            .await
            .expect("discovery and the JWKS are valid for a real client");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(registered.client_id.clone()),
        registered.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri.into()).unwrap())
}

/// An authorization request as the library makes it.
pub struct Request {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

pub fn request(client: &Client, scopes: &[&str]) -> Request {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut builder = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in scopes {
        builder = builder.add_scope(Scope::new((*scope).into()));
    }
    let (url, state, nonce) = builder.set_pkce_challenge(challenge).url();
    Request {
        url: url.to_string(),
        state,
        nonce,
        verifier,
    }
}

/// Where a "continue" page (after a form) moves the browser.
pub(crate) fn continue_target(html: &str) -> String {
    let start = html
        .find("id=\"continue\" href=\"")
        .expect("a continue page")
        + 20;
    let end = html[start..].find('"').unwrap() + start;
    html[start..end]
        .replace("&amp;", "&")
        .replace("&#x2f;", "/")
        .replace("&#38;", "&")
}

/// Follows the browser through our pages from `url` until it leaves for the client (a
/// redirect or a continue page to `CALLBACK`), agreeing on the consent page if asked.
pub(crate) async fn until_client(app: &TestApp, browser: &reqwest::Client, url: &str) -> String {
    let mut next = url.to_owned();
    for _ in 0..8 {
        if next.starts_with(CALLBACK) {
            return next;
        }
        let response = browser.get(app.absolute(&next)).send().await.unwrap();
        match response.status().as_u16() {
            302 | 303 => next = location(&response),
            200 => {
                let html = response.text().await.unwrap();
                next = if html.contains("id=\"consent-form\"") {
                    agree(app, browser, &html, "allow").await
                } else {
                    continue_target(&html)
                };
            }
            status => panic!("{next}: {status}"),
        }
    }
    panic!("the browser never got back to the client");
}

/// Answers the consent page `html` with `decision`; returns where the browser goes next.
pub(crate) async fn agree(
    app: &TestApp,
    browser: &reqwest::Client,
    html: &str,
    decision: &str,
) -> String {
    let mut fields = hidden_fields(html);
    fields.push(("decision".into(), decision.into()));
    let response = browser
        .post(app.url("/oauth2/authorize/consent"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the consent answer is a continue page"
    );
    continue_target(&response.text().await.unwrap())
}

pub(crate) fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|input| {
            let attr = |name: &str| {
                let start = input.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                let end = input[start..].find('"').unwrap() + start;
                html_unescape(&input[start..end])
            };
            (attr("name"), attr("value"))
        })
        .collect()
}

fn html_unescape(value: &str) -> String {
    value
        .replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// Signs `browser` in with the DingTalk sandbox as 张三, coming back to `next`.
async fn dingtalk_login_then(app: &TestApp, browser: &reqwest::Client, login_url: &str) -> String {
    let next = query_param(login_url, "next").expect("the login page comes back to the request");
    let start = browser
        .get(app.url(&format!(
            "/user/dingtalk/authorize?next={}",
            urlencode(&next)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let callback = app
        .sandbox_consent(&location(&start), &[("identity", "zhangsan")])
        .await;
    let back = browser.get(callback).send().await.unwrap();
    assert_eq!(
        back.status(),
        200,
        "after the login, a continue page back to the request"
    );
    continue_target(&back.text().await.unwrap())
}

/// The user with `name` (or `username`).
pub(crate) fn user_where(
    app: &TestApp,
    value: &str,
    by_name: bool,
) -> dingtalk_login::db::models::User {
    let users = dingtalk_login::db::users::list_with_links(&mut app.conn()).unwrap();
    users
        .into_iter()
        .map(|(user, _)| user)
        .find(|u| {
            if by_name {
                u.name == value
            } else {
                u.username == value
            }
        })
        .unwrap_or_else(|| panic!("no user {value}"))
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The whole authorization in `browser` (signed in already), then the library's code
/// exchange; the tokens and the request's nonce.
pub(crate) async fn tokens_via(
    app: &TestApp,
    client: &Client,
    browser: &reqwest::Client,
    scopes: &[&str],
) -> (CoreTokenResponse, Nonce) {
    let request = request(client, scopes);
    let redirect = app.authorize_as(browser, &request).await;
    let tokens = client
        .exchange_code(code_of(&redirect, &request))
        .unwrap()
        .set_pkce_verifier(request.verifier)
        .request_async(&http())
        .await
        .expect("the code exchange");
    (tokens, request.nonce)
}

pub(crate) fn code_of(redirect: &str, request: &Request) -> AuthorizationCode {
    assert_eq!(
        query_param(redirect, "state").as_deref(),
        Some(request.state.secret().as_str()),
        "state comes back"
    );
    let code = query_param(redirect, "code").unwrap_or_else(|| panic!("no code in {redirect}"));
    AuthorizationCode::new(code)
}

impl TestApp {
    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            self.url(url)
        } else {
            url.to_owned()
        }
    }

    /// The whole authorization in a browser signed in as `username` (password form);
    /// returns the client's redirect.
    async fn authorize_as(&self, browser: &reqwest::Client, request: &Request) -> String {
        until_client(self, browser, &request.url).await
    }
}

pub(crate) async fn token_call(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut call = reqwest::Client::new()
        .post(app.url("/oauth2/token"))
        .form(form);
    if let Some((id, secret)) = basic {
        call = call.basic_auth(id, Some(secret));
    }
    call.send().await.unwrap()
}

/// What `/account` answers `browser`: 200 signed in, 303 (to the login page) signed out.
pub(crate) async fn account_status(app: &TestApp, browser: &reqwest::Client) -> u16 {
    let response = browser.get(app.url("/account")).send().await.unwrap();
    response.status().as_u16()
}

pub(crate) async fn userinfo_status(app: &TestApp, token: &str) -> u16 {
    reqwest::Client::new()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub(crate) async fn oauth_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    body["error"]
        .as_str()
        .expect("an RFC 6749 error")
        .to_owned()
}

pub(crate) async fn exchange_raw(
    app: &TestApp,
    registered: &Registered,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    let secret = registered.secret.clone().unwrap();
    token_call(app, &form, Some((&registered.client_id, &secret))).await
}
