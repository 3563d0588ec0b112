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

backend_tests!(
    the_whole_dance_with_a_real_client,
    an_es256_client_gets_es256_id_tokens,
    a_public_client_needs_pkce_and_the_right_verifier,
    codes_are_single_use_and_a_replay_revokes_what_they_issued,
    codes_are_bound_to_their_client_redirect_uri_and_lifetime,
    a_code_is_worthless_once_its_sign_in_has_ended,
    clients_authenticate_with_basic_or_post_and_wrong_secrets_are_401,
    unknown_clients_and_unregistered_redirects_get_our_page_not_a_redirect,
    prompt_none_max_age_and_prompt_login,
    consent_is_asked_once_and_a_refusal_goes_back_to_the_client,
    deactivation_and_logout_end_client_tokens_at_once,
    tokens_in_other_algorithms_or_of_another_kind_are_refused,
    revocation_ends_the_clients_session,
    logout_without_a_hint_asks_first_and_redirects_only_where_registered,
    the_registration_policy_applies_to_openid_logins,
    admins_see_the_clients_and_who_granted_them,
    people_see_and_withdraw_their_consents,
    the_phone_scope_alone_gives_the_number_and_nothing_else,
    deleting_a_client_ends_its_consents_and_sessions,
);

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

async fn the_whole_dance_with_a_real_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let request = request(&client, &["profile", "phone", "offline_access"]);
    let browser = browser();

    // Not signed in: to our login page, which comes back to the request.
    let first = browser.get(&request.url).send().await.unwrap();
    assert_eq!(first.status(), 303);
    let login_url = location(&first);
    assert!(login_url.starts_with("/login?next="), "{login_url}");
    let login_page = app.page(&browser, &login_url).await;
    assert!(
        login_page.contains("登录后继续使用 <strong>Grafana</strong>"),
        "the login page names the application"
    );
    let back = dingtalk_login_then(&app, &browser, &login_url).await;
    assert!(back.starts_with("/oauth2/authorize?"), "{back}");

    // The consent page names the client and what it gets.
    let page = browser.get(app.url(&back)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<strong>Grafana</strong>"), "{html}");
    assert!(html.contains("手机号"), "the phone scope is named");
    let redirect = agree(&app, &browser, &html, "allow").await;
    assert_eq!(
        query_param(&redirect, "iss").as_deref(),
        Some(app.base.as_str())
    );
    let code = code_of(&redirect, &request);

    // The library exchanges the code (HTTP Basic) and verifies the id_token with the JWKS.
    let tokens = client
        .exchange_code(code)
        .unwrap()
        .set_pkce_verifier(request.verifier)
        .request_async(&http())
        .await
        .expect("the code exchange");
    let id_token = tokens.id_token().expect("an id_token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &request.nonce)
        .expect("the id_token verifies: signature, issuer, audience, nonce");
    let user = user_where(&app, "张三", true);
    assert_eq!(claims.subject().as_str(), user.id.to_string());
    assert_eq!(claims.preferred_username().unwrap().as_str(), user.username);
    assert_eq!(
        claims.name().and_then(|n| n.get(None)).unwrap().as_str(),
        "张三"
    );
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    assert_eq!(amr, ["dingtalk"]);
    let auth_time = claims.auth_time().expect("auth_time");
    assert!((chrono::Utc::now() - auth_time).num_seconds() < 60);
    assert_eq!(
        id_token.signing_alg().unwrap(),
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
    );

    // UserInfo: the phone scope was granted.
    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http())
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), user.id.to_string());
    assert_eq!(
        info.phone_number().unwrap().as_str(),
        user.phone.clone().unwrap()
    );
    assert_eq!(
        info.phone_number_verified(),
        Some(true),
        "DingTalk confirmed the number"
    );

    // Refresh rotates; the old refresh token presented again revokes the family.
    let refresh = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .clone();
    let refreshed = client
        .exchange_refresh_token(&refresh)
        .unwrap()
        .request_async(&http())
        .await
        .expect("refresh");
    let refreshed_id = refreshed.id_token().expect("a new id_token");
    refreshed_id
        .claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
        .expect("the refreshed id_token verifies");
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        refresh.secret()
    );
    // Rotated once more, so the first token's successor is used too: presenting the first
    // again is theft, not two tabs racing (which a grace window of seconds allows).
    let refreshed = client
        .exchange_refresh_token(refreshed.refresh_token().unwrap())
        .unwrap()
        .request_async(&http())
        .await
        .expect("second refresh");
    let reuse = client
        .exchange_refresh_token(&refresh)
        .unwrap()
        .request_async(&http())
        .await;
    assert!(reuse.is_err(), "a rotated refresh token is refused");
    assert_eq!(
        userinfo_status(&app, refreshed.access_token().secret()).await,
        401,
        "reuse revoked the family"
    );

    // Logout with the id_token of a live session as hint: back to the registered address,
    // signed out here. (The first id_token's session ended with the reuse above; its
    // hint would only ask.)
    let (live, _) = tokens_via(&app, &client, &browser, &["profile"]).await;
    let id_token = live.id_token().unwrap();
    let logout = browser
        .get(app.url("/oauth2/logout"))
        .query(&[
            ("id_token_hint", id_token.to_string().as_str()),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
            ("state", "bye"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    assert_eq!(location(&logout), format!("{AFTER_LOGOUT}?state=bye"));
    assert_eq!(
        account_status(&app, &browser).await,
        303,
        "the browser is signed out"
    );
}

async fn an_es256_client_gets_es256_id_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Metabase", false, "ES256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("lisi", false).await;
    let (tokens, nonce) = tokens_via(&app, &client, &browser, &["profile"]).await;
    let id_token = tokens.id_token().unwrap();
    assert_eq!(
        id_token.signing_alg().unwrap(),
        &CoreJwsSigningAlgorithm::EcdsaP256Sha256
    );
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = id_token.claims(&verifier, &nonce).unwrap();
    assert_eq!(claims.preferred_username().unwrap().as_str(), "lisi");
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    assert_eq!(amr, ["pwd"], "a password login is RFC 8176's pwd");
    assert!(
        tokens.refresh_token().is_none(),
        "no offline_access, no refresh token"
    );
}

async fn a_public_client_needs_pkce_and_the_right_verifier(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Vue SPA", true, "RS256");
    assert!(registered.secret.is_none());
    let browser = app.signed_in_browser("wangwu", false).await;

    // Without a challenge: back to the client with invalid_request.
    let plain = format!(
        "/oauth2/authorize?client_id={}&redirect_uri={}&response_type=code&scope=openid&state=s1",
        registered.client_id,
        urlencode(CALLBACK)
    );
    let refused = browser.get(app.url(&plain)).send().await.unwrap();
    assert_eq!(refused.status(), 302);
    let target = location(&refused);
    assert!(target.starts_with(CALLBACK));
    assert_eq!(
        query_param(&target, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&target, "state").as_deref(), Some("s1"));

    let client = client_for(&app, &registered)
        .await
        .set_auth_type(AuthType::RequestBody);
    let request = request(&client, &[]);
    let redirect = app.authorize_as(&browser, &request).await;
    let code = code_of(&redirect, &request);

    // The wrong verifier: invalid_grant.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.secret().as_str()),
        ("redirect_uri", CALLBACK),
        ("client_id", registered.client_id.as_str()),
        (
            "code_verifier",
            "a-verifier-that-is-long-enough-but-not-the-one-0123456789",
        ),
    ];
    assert_eq!(
        oauth_error(token_call(&app, &form, None).await, 400).await,
        "invalid_grant"
    );
    // No verifier at all: invalid_grant.
    assert_eq!(
        oauth_error(token_call(&app, &form[..4], None).await, 400).await,
        "invalid_grant"
    );
    // The right one still works: a failed attempt does not burn the code.
    let tokens = client
        .exchange_code(code)
        .unwrap()
        .set_pkce_verifier(request.verifier)
        .request_async(&http())
        .await
        .expect("the right verifier");
    assert!(tokens.id_token().is_some());
}

async fn codes_are_single_use_and_a_replay_revokes_what_they_issued(backend: Backend) {
    let metrics_token = "a-scraper-token-for-the-test";
    let app = spawn_app_with(backend, &[("METRICS_TOKEN", metrics_token)]).await;
    let registered = register(&app, "GitLab", false, "RS256");
    let client = client_for(&app, &registered).await;
    let request = request(&client, &["offline_access"]);
    let browser = app.signed_in_browser("zhaoliu", false).await;
    let redirect = app.authorize_as(&browser, &request).await;
    let code = code_of(&redirect, &request);
    let verifier = request.verifier.secret().clone();
    let tokens = client
        .exchange_code(code.clone())
        .unwrap()
        .set_pkce_verifier(request.verifier)
        .request_async(&http())
        .await
        .unwrap();
    assert_eq!(
        userinfo_status(&app, tokens.access_token().secret()).await,
        200
    );

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.secret().as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier.as_str()),
    ];
    let secret = registered.secret.clone().unwrap();
    let replay = token_call(&app, &form, Some((&registered.client_id, &secret))).await;
    assert_eq!(oauth_error(replay, 400).await, "invalid_grant");
    assert_eq!(
        userinfo_status(&app, tokens.access_token().secret()).await,
        401,
        "the replay revoked the tokens of the first exchange"
    );
    let refresh = [
        ("grant_type", "refresh_token"),
        (
            "refresh_token",
            tokens.refresh_token().unwrap().secret().as_str(),
        ),
    ];
    let refused = token_call(&app, &refresh, Some((&registered.client_id, &secret))).await;
    assert_eq!(oauth_error(refused, 400).await, "invalid_grant");

    // The token endpoint's outcomes are counted for the operators (the recorder is the
    // test process's, shared with tests running at the same time: at least one each).
    let scrape = metrics_text(&app, metrics_token).await;
    assert!(
        counted(&scrape, "authorization_code", "issued") >= 1.0,
        "{scrape}"
    );
    assert!(counted(&scrape, "authorization_code", "invalid_grant") >= 1.0);
    assert!(counted(&scrape, "refresh_token", "invalid_grant") >= 1.0);
}

async fn metrics_text(app: &TestApp, token: &str) -> String {
    let response = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    response.text().await.unwrap()
}

/// `oidc_token_requests_total{grant, outcome}` in a scrape (0 when absent).
fn counted(scrape: &str, grant: &str, outcome: &str) -> f64 {
    scrape
        .lines()
        .find(|l| {
            l.starts_with("oidc_token_requests_total{")
                && l.contains(&format!("grant=\"{grant}\""))
                && l.contains(&format!("outcome=\"{outcome}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn codes_are_bound_to_their_client_redirect_uri_and_lifetime(backend: Backend) {
    let app = spawn_app(backend).await;
    let grafana = register(&app, "Grafana", false, "RS256");
    let other = register(&app, "Other", false, "RS256");
    let client = client_for(&app, &grafana).await;
    let browser = app.signed_in_browser("sunqi", false).await;

    let request = request(&client, &[]);
    let redirect = app.authorize_as(&browser, &request).await;
    let code = code_of(&redirect, &request);
    let verifier = request.verifier.secret().clone();
    // Another client's code.
    let other_client = exchange_raw(&app, &other, code.secret(), CALLBACK, &verifier).await;
    assert_eq!(oauth_error(other_client, 400).await, "invalid_grant");
    // Another redirect URI.
    let elsewhere = exchange_raw(
        &app,
        &grafana,
        code.secret(),
        "http://127.0.0.1:9/callback/",
        &verifier,
    )
    .await;
    assert_eq!(oauth_error(elsewhere, 400).await, "invalid_grant");
    // Expired (60 seconds): moved into the past in the database.
    {
        use diesel::prelude::*;
        use dingtalk_login::db::schema::oidc_codes;
        let past = chrono::Utc::now().naive_utc() - chrono::TimeDelta::seconds(1);
        diesel::update(oidc_codes::table)
            .set(oidc_codes::expires_at.eq(past))
            .execute(&mut *app.conn())
            .unwrap();
    }
    let expired = exchange_raw(&app, &grafana, code.secret(), CALLBACK, &verifier).await;
    assert_eq!(oauth_error(expired, 400).await, "invalid_grant");
}

async fn a_code_is_worthless_once_its_sign_in_has_ended(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("fangyi", false).await;
    let request = request(&client, &[]);
    let redirect = app.authorize_as(&browser, &request).await;
    let code = code_of(&redirect, &request);
    // The person logs out before the client redeems the code.
    let logout = app.submit(&browser, "/account", "/logout", &[]).await;
    assert_eq!(logout.status(), 303);
    let late = exchange_raw(
        &app,
        &registered,
        code.secret(),
        CALLBACK,
        request.verifier.secret(),
    )
    .await;
    assert_eq!(oauth_error(late, 400).await, "invalid_grant");
    assert_eq!(app.counts().sessions, 1, "no client session was started");
}

/// `grant_type=authorization_code` as `registered` (HTTP Basic), by hand.
async fn exchange_raw(
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

async fn clients_authenticate_with_basic_or_post_and_wrong_secrets_are_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "oauth2-proxy", false, "RS256");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "nothing"),
        ("redirect_uri", CALLBACK),
    ];

    let wrong = token_call(&app, &form, Some((&registered.client_id, "not-the-secret"))).await;
    assert_eq!(
        wrong.headers()["www-authenticate"],
        "Basic realm=\"oauth2\""
    );
    assert_eq!(oauth_error(wrong, 401).await, "invalid_client");

    let mut posted = form.to_vec();
    posted.push(("client_id", &registered.client_id));
    assert_eq!(
        oauth_error(token_call(&app, &posted, None).await, 401).await,
        "invalid_client",
        "a confidential client without its secret"
    );
    let secret = registered.secret.clone().unwrap();
    posted.push(("client_secret", &secret));
    // Authenticated (client_secret_post): now the code is what is wrong.
    assert_eq!(
        oauth_error(token_call(&app, &posted, None).await, 400).await,
        "invalid_grant"
    );
    // Authenticated twice (Basic and the form): refused.
    let both = token_call(&app, &posted, Some((&registered.client_id, &secret))).await;
    assert_eq!(oauth_error(both, 400).await, "invalid_request");
    let unknown_grant = [
        ("grant_type", "password"),
        ("client_id", &registered.client_id),
        ("client_secret", &secret),
    ];
    assert_eq!(
        oauth_error(token_call(&app, &unknown_grant, None).await, 400).await,
        "unsupported_grant_type"
    );
}

async fn unknown_clients_and_unregistered_redirects_get_our_page_not_a_redirect(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let browser = app.signed_in_browser("zhouba", false).await;
    for (client_id, redirect) in [
        ("nobody", CALLBACK),
        (
            registered.client_id.as_str(),
            "http://127.0.0.1:9/callback/../evil",
        ),
        (
            registered.client_id.as_str(),
            "http://127.0.0.1:9/callbackx",
        ),
        (
            registered.client_id.as_str(),
            "https://evil.example.com/callback",
        ),
    ] {
        let path = format!(
            "/oauth2/authorize?client_id={client_id}&redirect_uri={}&response_type=code&scope=openid&state=s",
            urlencode(redirect)
        );
        let response = browser.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{client_id} {redirect}");
        assert!(
            response.headers().get("location").is_none(),
            "never redirected"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("无法继续登录"), "{html}");
    }
    assert_eq!(
        app.counts().sessions,
        1,
        "nothing but the browser's own session was made"
    );
}

async fn prompt_none_max_age_and_prompt_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let base = request(&client, &["profile"]).url;

    // prompt=none, nobody signed in: login_required, back to the client.
    let anonymous = browser();
    let response = anonymous
        .get(format!("{base}&prompt=none"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(
        query_param(&location(&response), "error").as_deref(),
        Some("login_required")
    );

    // Signed in, no consent yet: consent_required.
    let browser = app.signed_in_browser("wujiu", false).await;
    let response = browser
        .get(format!("{base}&prompt=none"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_param(&location(&response), "error").as_deref(),
        Some("consent_required")
    );

    // After consenting once, prompt=none gets a code silently.
    let first = request(&client, &["profile"]);
    app.authorize_as(&browser, &first).await;
    let silent = request(&client, &["profile"]);
    let response = browser
        .get(format!("{}&prompt=none", silent.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert!(
        query_param(&location(&response), "code").is_some(),
        "silent login"
    );

    // prompt=login and an exceeded max_age: to the login page again, whose way back
    // no longer asks for it.
    for extra in ["&prompt=login", "&max_age=0"] {
        let response = browser
            .get(format!("{}{extra}", silent.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{extra}");
        let login = location(&response);
        assert!(login.starts_with("/login?next="));
        let next = query_param(&login, "next").unwrap();
        assert!(
            !next.contains("prompt") && !next.contains("max_age"),
            "{next}"
        );
    }
    // A recent enough sign-in passes max_age.
    let response = browser
        .get(format!("{}&max_age=3600", silent.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
}

async fn consent_is_asked_once_and_a_refusal_goes_back_to_the_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Jenkins", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("chenshi", false).await;

    let request_one = request(&client, &["profile"]);
    let page = browser.get(&request_one.url).send().await.unwrap();
    let html = page.text().await.unwrap();
    let refused = agree(&app, &browser, &html, "deny").await;
    assert_eq!(
        query_param(&refused, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(&refused, "state").as_deref(),
        Some(request_one.state.secret().as_str())
    );

    // A consent form without the session's CSRF token changes nothing.
    let mut forged = hidden_fields(&html);
    forged.retain(|(name, _)| name != "csrf");
    forged.push(("decision".into(), "allow".into()));
    let response = browser
        .post(app.url("/oauth2/authorize/consent"))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // Agreed once: the next request (same scope) is answered at once.
    let request_two = request(&client, &["profile"]);
    app.authorize_as(&browser, &request_two).await;
    let request_three = request(&client, &["profile"]);
    let response = browser.get(&request_three.url).send().await.unwrap();
    assert_eq!(response.status(), 302, "consent remembered");
    // More than was granted (phone) asks again.
    let wider = request(&client, &["profile", "phone"]);
    let response = browser.get(&wider.url).send().await.unwrap();
    assert_eq!(response.status(), 200, "a wider scope asks again");
}

async fn deactivation_and_logout_end_client_tokens_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("liuyi", false).await;
    let (tokens, _) = tokens_via(&app, &client, &browser, &["offline_access"]).await;
    let access = tokens.access_token().secret().clone();
    assert_eq!(userinfo_status(&app, &access).await, 200);

    let user = user_where(&app, "liuyi", false);
    dingtalk_login::db::users::set_active(&mut app.conn(), user.id, false).unwrap();
    assert_eq!(
        userinfo_status(&app, &access).await,
        401,
        "deactivated: refused at once"
    );
    let refused = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&http())
        .await;
    assert!(refused.is_err(), "and no refresh");

    // "End all my sessions" ends the client's too.
    dingtalk_login::db::users::set_active(&mut app.conn(), user.id, true).unwrap();
    let (tokens, _) = tokens_via(&app, &client, &browser, &["offline_access"]).await;
    let access: AccessToken = tokens.access_token().clone();
    assert_eq!(userinfo_status(&app, access.secret()).await, 200);
    dingtalk_login::db::sessions::revoke_all_sessions(&mut app.conn(), user.id, "test").unwrap();
    assert_eq!(userinfo_status(&app, access.secret()).await, 401);
}

async fn tokens_in_other_algorithms_or_of_another_kind_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("hanmei", false).await;
    let (tokens, _) = tokens_via(&app, &client, &browser, &["profile"]).await;
    let access = tokens.access_token().secret().clone();
    let id_token = tokens.id_token().unwrap().to_string();
    assert_eq!(userinfo_status(&app, &access).await, 200);

    // The id_token is not an access token.
    assert_eq!(userinfo_status(&app, &id_token).await, 401);
    // The SPA's guard does not take our OpenID access tokens, nor the other way round.
    assert_eq!(app.me(&access).await.status(), 401);

    // Alg confusion: the same claims and kid, signed HS256 with the published public key
    // (its JWK, and its modulus) as the HMAC secret.
    let jwks: Value = reqwest::get(app.url("/oauth2/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rsa = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kty"] == "RSA")
        .unwrap();
    let kid = rsa["kid"].as_str().unwrap();
    let payload = access.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    for secret in [
        rsa.to_string().into_bytes(),
        URL_SAFE_NO_PAD.decode(rsa["n"].as_str().unwrap()).unwrap(),
    ] {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        header.typ = Some("at+jwt".into());
        let forged = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_eq!(
            userinfo_status(&app, &forged).await,
            401,
            "HS256 is never accepted"
        );
    }
    // alg: none.
    let none_header =
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#));
    assert_eq!(
        userinfo_status(&app, &format!("{none_header}.{payload}.")).await,
        401
    );
    // A changed claim breaks the signature.
    let mut altered = claims.clone();
    altered["sub"] = Value::String("999999".into());
    let altered_payload = URL_SAFE_NO_PAD.encode(altered.to_string());
    let parts: Vec<&str> = access.split('.').collect();
    assert_eq!(
        userinfo_status(
            &app,
            &format!("{}.{altered_payload}.{}", parts[0], parts[2])
        )
        .await,
        401
    );
}

async fn revocation_ends_the_clients_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let other = register(&app, "Other", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("xuqiang", false).await;
    let (tokens, _) = tokens_via(&app, &client, &browser, &["offline_access"]).await;
    let access = tokens.access_token().secret().clone();
    let refresh = tokens.refresh_token().unwrap().secret().clone();

    let revoke = |registered: &Registered, token: &str| {
        let (id, secret) = (
            registered.client_id.clone(),
            registered.secret.clone().unwrap(),
        );
        let (url, token) = (app.url("/oauth2/revoke"), token.to_owned());
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[
                    ("token", token.as_str()),
                    ("token_type_hint", "refresh_token"),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Another client cannot revoke it (200 all the same: no oracle), nor can garbage.
    assert_eq!(revoke(&other, &refresh).await, 200);
    assert_eq!(revoke(&registered, "not-a-token").await, 200);
    assert_eq!(userinfo_status(&app, &access).await, 200, "still alive");
    // Its own client can.
    assert_eq!(revoke(&registered, &refresh).await, 200);
    assert_eq!(userinfo_status(&app, &access).await, 401);
}

async fn logout_without_a_hint_asks_first_and_redirects_only_where_registered(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let browser = app.signed_in_browser("gaojie", false).await;
    let unregistered = browser
        .get(app.url("/oauth2/logout"))
        .query(&[
            ("client_id", registered.client_id.as_str()),
            ("post_logout_redirect_uri", "https://evil.example.com/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(unregistered.status(), 400);
    assert_eq!(account_status(&app, &browser).await, 200, "still signed in");

    let ask = browser
        .get(app.url("/oauth2/logout"))
        .query(&[
            ("client_id", registered.client_id.as_str()),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
            ("state", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ask.status(), 200);
    let html = ask.text().await.unwrap();
    assert!(html.contains("id=\"logout-form\""));
    assert_eq!(
        account_status(&app, &browser).await,
        200,
        "asking logs nobody out"
    );
    let confirmed = browser
        .post(app.url("/oauth2/logout/confirm"))
        .form(&hidden_fields(&html))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    assert_eq!(
        continue_target(&confirmed.text().await.unwrap()),
        format!("{AFTER_LOGOUT}?state=x")
    );
    assert_eq!(account_status(&app, &browser).await, 303, "signed out");
}

#[actix_web::test]
async fn discovery_and_keys_and_a_provider_that_is_off() {
    // Off (as in production without keys): no discovery, no endpoints.
    let off = spawn_app_with(Backend::Sqlite, &[("OIDC_PROVIDER", "off")]).await;
    assert_eq!(
        off.get("/.well-known/openid-configuration").await.status(),
        404
    );
    assert_eq!(off.get("/oauth2/jwks").await.status(), 404);
    let token = reqwest::Client::new()
        .post(off.url("/oauth2/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 400);

    let app = spawn_app(Backend::Sqlite).await;
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], app.base.as_str());
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256"])
    );
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    // An SPA on another origin can be a public client: the endpoints programs call
    // answer any origin, without credentials; the browser's pages do not.
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, app.url("/oauth2/token"))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(
        preflight
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let from_spa = reqwest::Client::new()
        .get(app.url("/oauth2/jwks"))
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(from_spa.headers()["access-control-allow-origin"], "*");
    let page = reqwest::Client::new()
        .get(app.url("/oauth2/authorize"))
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(page.headers().get("access-control-allow-origin").is_none());
    let jwks: Value = from_spa.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter()
            .all(|k| k.get("d").is_none() && k.get("p").is_none()),
        "public halves only"
    );
}

async fn the_registration_policy_applies_to_openid_logins(backend: Backend) {
    let app = spawn_app_with(backend, &[("SIGNUP", "bind-only")]).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let request = request(&client, &["profile"]);
    let browser = browser();
    let login = location(&browser.get(&request.url).send().await.unwrap());
    let next = query_param(&login, "next").unwrap();
    let start = browser
        .get(app.url(&format!(
            "/user/dingtalk/authorize?next={}",
            urlencode(&next)
        )))
        .send()
        .await
        .unwrap();
    let callback = app
        .sandbox_consent(&location(&start), &[("identity", "zhangsan")])
        .await;
    let refused = browser.get(callback).send().await.unwrap();
    assert_eq!(
        refused.status(),
        403,
        "a stranger is not registered for a client either"
    );
    assert_eq!(app.counts().users, 0);
    // Without a sign-in the request cannot go on: back to the login page.
    let again = browser.get(app.url(&next)).send().await.unwrap();
    assert_eq!(again.status(), 303);
    assert!(location(&again).starts_with("/login?"));
}

async fn admins_see_the_clients_and_who_granted_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let user = app.signed_in_browser("qianfen", false).await;
    app.authorize_as(&user, &request(&client, &["profile"]))
        .await;

    let forbidden = user.get(app.url("/admin/clients")).send().await.unwrap();
    assert_eq!(forbidden.status(), 403);
    let admin = app.signed_in_browser("boss", true).await;
    let page = app.page(&admin, "/admin/clients").await;
    assert!(
        page.contains(&format!("id=\"client-{}\"", registered.client_id)),
        "{page}"
    );
    assert!(
        page.contains(">qianfen</a>"),
        "the user who granted it is listed"
    );
    assert!(page.contains("openid profile"));
}

/// After a rotation the previous key stays published and its access tokens keep working
/// until they expire; new tokens are signed with the new key.
#[actix_web::test]
async fn a_rotated_key_stays_published_and_accepted() {
    let before = spawn_app(Backend::Sqlite).await;
    let registered = register(&before, "Grafana", false, "RS256");
    let client = client_for(&before, &registered).await;
    let browser = before.signed_in_browser("rotation", false).await;
    let (tokens, _) = tokens_via(&before, &client, &browser, &["profile"]).await;
    let old_kid = kid_of(tokens.access_token().secret());

    let dir = tempfile::tempdir().unwrap();
    let previous = dir.path().join("previous.pem");
    std::fs::write(&previous, &crate::helpers::oidc_test_keys().0).unwrap();
    let new_key = dingtalk_login::oidc::keys::generate_rs256().unwrap();
    let after = spawn_app_with(
        Backend::Sqlite,
        &[
            ("DATABASE_URL", before.database_url.as_str()),
            ("JWT_SECRET", before.settings.jwt_secret.expose()),
            ("SESSION_SECRET", before.settings.session_secret.expose()),
            ("OIDC_RS256_KEY", new_key.as_str()),
            ("OIDC_PREVIOUS_KEY_FILES", previous.to_str().unwrap()),
            // The same service, restarted: the same issuer.
            ("PUBLIC_BASE_URL", before.base.as_str()),
        ],
    )
    .await;
    let jwks: Value = after.get("/oauth2/jwks").await.json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids.len(),
        3,
        "new RS256, ES256 and the previous RS256: {kids:?}"
    );
    assert!(kids.contains(&old_kid.as_str()));
    assert_eq!(
        userinfo_status(&after, tokens.access_token().secret()).await,
        200
    );

    // A new authorization at the restarted instance, by hand (its discovery names the
    // old address as issuer, which the library would refuse to fetch from here).
    let browser = after.signed_in_browser("rotation2", false).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let path = format!(
        "/oauth2/authorize?client_id={}&redirect_uri={}&response_type=code&scope=openid&state=r&code_challenge={}&code_challenge_method=S256",
        registered.client_id,
        urlencode(CALLBACK),
        challenge.as_str()
    );
    let redirect = until_client(&after, &browser, &path).await;
    let code = query_param(&redirect, "code").unwrap();
    let fresh = exchange_raw(&after, &registered, &code, CALLBACK, verifier.secret()).await;
    assert_eq!(fresh.status(), 200);
    let fresh: Value = fresh.json().await.unwrap();
    let new_kid = kid_of(fresh["access_token"].as_str().unwrap());
    assert_ne!(new_kid, old_kid, "signed with the new key");
    assert!(kids.contains(&new_kid.as_str()));
    assert_eq!(kid_of(fresh["id_token"].as_str().unwrap()), new_kid);
}

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn people_see_and_withdraw_their_consents(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("zhengshi", false).await;
    assert!(!app.page(&browser, "/account").await.contains("id=\"apps\""));
    let (tokens, _) = tokens_via(&app, &client, &browser, &["profile", "offline_access"]).await;
    let access = tokens.access_token().secret().clone();
    let page = app.page(&browser, "/account").await;
    assert!(
        page.contains("<strong class=\"app-name\">Grafana</strong>"),
        "{page}"
    );

    let withdraw = app
        .submit(
            &browser,
            "/account",
            "/account/apps/withdraw",
            &[("client_id", registered.client_id.as_str())],
        )
        .await;
    assert_eq!(withdraw.status(), 303);
    assert!(
        app.page(&browser, "/account?done=withdrawn")
            .await
            .contains("已撤销授权")
    );
    assert_eq!(
        userinfo_status(&app, &access).await,
        401,
        "its tokens end at once"
    );
    let refresh = [
        ("grant_type", "refresh_token"),
        (
            "refresh_token",
            tokens.refresh_token().unwrap().secret().as_str(),
        ),
    ];
    let secret = registered.secret.clone().unwrap();
    let refused = token_call(&app, &refresh, Some((&registered.client_id, &secret))).await;
    assert_eq!(oauth_error(refused, 400).await, "invalid_grant");
    // The next request asks again.
    let again = browser
        .get(&request(&client, &["profile"]).url)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("id=\"consent-form\""));
}

async fn the_phone_scope_alone_gives_the_number_and_nothing_else(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Jenkins", false, "RS256");
    let client = client_for(&app, &registered).await;
    let request = request(&client, &["phone"]);
    let browser = browser();
    let login = location(&browser.get(&request.url).send().await.unwrap());
    let back = dingtalk_login_then(&app, &browser, &login).await;
    let redirect = until_client(&app, &browser, &back).await;
    let tokens = client
        .exchange_code(code_of(&redirect, &request))
        .unwrap()
        .set_pkce_verifier(request.verifier)
        .request_async(&http())
        .await
        .unwrap();
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&client.id_token_verifier(), &request.nonce)
        .unwrap();
    assert!(
        claims.name().is_none() && claims.preferred_username().is_none(),
        "no profile"
    );
    let info: Value = reqwest::Client::new()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user = user_where(&app, "张三", true);
    assert_eq!(info["phone_number"], user.phone.unwrap().as_str());
    assert_eq!(
        info["phone_number_verified"], true,
        "DingTalk vouched for it: {info}"
    );
    for claim in ["name", "preferred_username", "picture", "providers"] {
        assert!(
            info.get(claim).is_none(),
            "{claim} needs the profile scope: {info}"
        );
    }
}

async fn deleting_a_client_ends_its_consents_and_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("lushi", false).await;
    let (tokens, _) = tokens_via(&app, &client, &browser, &["profile", "offline_access"]).await;
    assert_eq!(
        userinfo_status(&app, tokens.access_token().secret()).await,
        200
    );
    let sessions_before = app.counts().sessions;

    assert!(
        dingtalk_login::db::oidc::delete_client(&mut app.conn(), &registered.client_id).unwrap()
    );
    assert_eq!(
        userinfo_status(&app, tokens.access_token().secret()).await,
        401
    );
    assert_eq!(
        app.counts().sessions,
        sessions_before - 1,
        "its session went with it"
    );
    assert!(
        !app.page(&browser, "/account").await.contains("id=\"apps\""),
        "and the consent"
    );
    assert!(
        app.page(&browser, "/account").await.contains("lushi"),
        "the person's own session is untouched"
    );
}
