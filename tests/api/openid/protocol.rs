//! What the specifications say an OpenID provider must do, against a hostile probe:
//! logout only for the browser's own person, GET and POST, every refusal in OAuth's JSON,
//! repeated parameters.

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use super::{
    AFTER_LOGOUT, CALLBACK, account_status, agree, client_for, continue_target, hidden_fields,
    http, register, request, token_call, tokens_via, user_where, userinfo_status,
};
use crate::backend_tests;
use crate::helpers::{Backend, TestApp, location, query_param, spawn_app, spawn_app_with};

backend_tests!(
    someone_elses_id_token_only_asks_and_ends_nothing,
    an_ended_or_invalid_hint_asks_and_says_why,
    authorization_requests_may_be_posted,
    logout_requests_may_be_posted,
    oauth_endpoints_answer_every_refusal_in_oauth_json,
    userinfo_without_credentials_learns_only_the_scheme,
    repeated_parameters_are_an_invalid_request,
);

/// What `browser` sees when it opens the logout link with `hint`.
async fn open_logout(app: &TestApp, browser: &reqwest::Client, hint: &str) -> reqwest::Response {
    browser
        .get(app.url("/oauth2/logout"))
        .query(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
            ("state", "bye"),
        ])
        .send()
        .await
        .unwrap()
}

async fn someone_elses_id_token_only_asks_and_ends_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    // The attacker's own, perfectly valid id_token.
    let attacker = app.signed_in_browser("mallory", false).await;
    let (theirs, _) = tokens_via(&app, &client, &attacker, &["profile"]).await;
    let hint = theirs.id_token().unwrap().to_string();
    // The victim, signed in here and at the client.
    let victim = app.signed_in_browser("alice", false).await;
    let (victims, _) = tokens_via(&app, &client, &victim, &["profile"]).await;

    let link = open_logout(&app, &victim, &hint).await;
    assert_eq!(link.status(), 200, "a confirmation page, not a logout");
    let html = link.text().await.unwrap();
    assert!(html.contains("id=\"logout-form\""), "{html}");
    assert_eq!(account_status(&app, &victim).await, 200, "still signed in");
    assert_eq!(
        userinfo_status(&app, victims.access_token().secret()).await,
        200,
        "the victim's session at the client lives"
    );
    assert_eq!(
        userinfo_status(&app, theirs.access_token().secret()).await,
        200,
        "and so does the attacker's: the victim's browser ends nothing of theirs"
    );

    // The person who confirms is logged out of this browser, to the registered address.
    let confirmed = victim
        .post(app.url("/oauth2/logout/confirm"))
        .form(&hidden_fields(&html))
        .send()
        .await
        .unwrap();
    assert_eq!(
        continue_target(&confirmed.text().await.unwrap()),
        format!("{AFTER_LOGOUT}?state=bye")
    );
    assert_eq!(account_status(&app, &victim).await, 303);
}

async fn an_ended_or_invalid_hint_asks_and_says_why(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("wanglei", false).await;
    let (tokens, _) = tokens_via(&app, &client, &browser, &["profile"]).await;
    let hint = tokens.id_token().unwrap().to_string();
    let user = user_where(&app, "wanglei", false);
    dingtalk_login::db::oidc::revoke_client_sessions(
        &mut app.conn(),
        user.id,
        &registered.client_id,
        "test",
    )
    .unwrap();

    // Their own id_token, but its session is over: asked, not logged out.
    let ended = open_logout(&app, &browser, &hint).await;
    assert_eq!(ended.status(), 200);
    let html = ended.text().await.unwrap();
    assert!(html.contains("id=\"logout-form\""));
    assert!(!html.contains("id=\"invalid-hint\""));
    assert_eq!(account_status(&app, &browser).await, 200);

    // Not an id_token of ours: named as such, and the address it names is not vouched for.
    let mut forged = hint.clone();
    forged.replace_range(forged.len() - 6.., "AAAAAA");
    let invalid = open_logout(&app, &browser, &forged).await;
    assert_eq!(invalid.status(), 200);
    let html = invalid.text().await.unwrap();
    assert!(html.contains("id=\"invalid-hint\""), "{html}");
    assert!(!html.contains("post_logout_redirect_uri"), "{html}");
    assert_eq!(account_status(&app, &browser).await, 200);
}

async fn authorization_requests_may_be_posted(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "mod_auth_openidc", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("zhaoliu", false).await;
    let request = request(&client, &["profile"]);
    let (endpoint, query) = request.url.split_once('?').unwrap();
    assert!(endpoint.ends_with("/oauth2/authorize"));

    let posted = browser
        .post(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let html = posted.text().await.unwrap();
    assert!(html.contains("id=\"consent-form\""), "{html}");
    let redirect = agree(&app, &browser, &html, "allow").await;
    assert!(redirect.starts_with(CALLBACK), "{redirect}");
    let code = query_param(&redirect, "code").unwrap();
    assert_eq!(
        query_param(&redirect, "state").as_deref(),
        Some(request.state.secret().as_str())
    );
    let tokens = client
        .exchange_code(openidconnect::AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(request.verifier)
        .request_async(&http())
        .await
        .expect("a posted request's code exchanges");
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&client.id_token_verifier(), &request.nonce)
        .expect("with its nonce");
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some("zhaoliu")
    );
}

async fn logout_requests_may_be_posted(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("sunqi", false).await;
    let (tokens, _) = tokens_via(&app, &client, &browser, &["profile"]).await;
    let hint = tokens.id_token().unwrap().to_string();
    let logout = browser
        .post(app.url("/oauth2/logout"))
        .form(&[
            ("id_token_hint", hint.as_str()),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
            ("state", "bye"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    assert_eq!(location(&logout), format!("{AFTER_LOGOUT}?state=bye"));
    assert_eq!(account_status(&app, &browser).await, 303, "signed out here");
    assert_eq!(
        userinfo_status(&app, tokens.access_token().secret()).await,
        401,
        "and at the client"
    );
}

/// Status, `error`, and the response's headers.
async fn oauth_json(response: reqwest::Response) -> (u16, String, reqwest::header::HeaderMap) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{status}: {headers:?}"
    );
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned(), headers)
}

async fn oauth_endpoints_answer_every_refusal_in_oauth_json(backend: Backend) {
    let app = spawn_app_with(backend, &[("RATE_LIMIT_PER_MINUTE", "3")]).await;
    let http = reqwest::Client::new();
    let (status, error, headers) =
        oauth_json(http.get(app.url("/oauth2/token")).send().await.unwrap()).await;
    assert_eq!((status, error.as_str()), (405, "invalid_request"));
    assert_eq!(headers["allow"], "POST");
    let (status, _, _) = oauth_json(
        http.delete(app.url("/oauth2/userinfo"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 405);
    let (status, _, _) = oauth_json(
        http.put(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 405);

    // 16 KiB, as for every body.
    let big = format!(
        "grant_type=refresh_token&refresh_token={}",
        "a".repeat(17 * 1024)
    );
    let (status, error, _) = oauth_json(
        http.post(app.url("/oauth2/revoke"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, error.as_str()), (413, "invalid_request"));

    // Failures past the per-address budget: 429 in JSON, with Retry-After.
    let mut last = None;
    for _ in 0..5 {
        let answer = token_call(&app, &[("grant_type", "password")], None).await;
        last = Some(answer);
    }
    let (status, error, headers) = oauth_json(last.unwrap()).await;
    assert_eq!((status, error.as_str()), (429, "temporarily_unavailable"));
    assert!(headers.contains_key("retry-after"));

    // The tutorial's JSON start endpoint answers in its own {"code","msg"}.
    let repeated = http
        .get(app.url("/user/dingtalk/?next=/a&next=/b"))
        .send()
        .await
        .unwrap();
    assert_eq!(crate::helpers::error_code(repeated, 400).await, 40001);
}

async fn userinfo_without_credentials_learns_only_the_scheme(backend: Backend) {
    let app = spawn_app(backend).await;
    let bare = reqwest::get(app.url("/oauth2/userinfo")).await.unwrap();
    assert_eq!(bare.status(), 401);
    let challenge = bare.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(!challenge.contains("error"), "{challenge}");
    assert_eq!(userinfo_status(&app, "not-a-token").await, 401);
    let bad = reqwest::Client::new()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    let challenge = bad.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

async fn repeated_parameters_are_an_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let browser = app.signed_in_browser("chenba", false).await;
    let base = format!(
        "/oauth2/authorize?response_type=code&scope=openid&client_id={}&redirect_uri={}",
        registered.client_id,
        url::form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>()
    );
    // The client and its address are known: the client hears it.
    let to_client = browser
        .get(app.url(&format!("{base}&state=a&state=b")))
        .send()
        .await
        .unwrap();
    assert_eq!(to_client.status(), 302);
    let target = location(&to_client);
    assert!(target.starts_with(CALLBACK), "{target}");
    assert_eq!(
        query_param(&target, "error").as_deref(),
        Some("invalid_request")
    );
    // The client itself is ambiguous: our page.
    let ours = browser
        .get(app.url(&format!("{base}&client_id=other")))
        .send()
        .await
        .unwrap();
    assert_eq!(ours.status(), 400);
    assert!(
        ours.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(ours.headers().get("location").is_none());
}
