//! The OpenID provider against what the specifications say an OP must do, and against
//! the holes a hostile probe found: logout CSRF, methods, error formats, bad text on
//! PostgreSQL, limits, withdrawals and claims that mean what they say.

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, location, query_param, spawn_app, spawn_app_with};
use crate::openid::{
    AFTER_LOGOUT, CALLBACK, account_status, agree, client_for, continue_target, hidden_fields,
    oauth_error, register, request, token_call, tokens_via, until_client, user_where,
    userinfo_status,
};

backend_tests!(
    someone_elses_id_token_only_asks_and_ends_nothing,
    an_ended_or_invalid_hint_asks_and_says_why,
    authorization_requests_may_be_posted,
    logout_requests_may_be_posted,
    oauth_endpoints_answer_every_refusal_in_oauth_json,
    userinfo_without_credentials_learns_only_the_scheme,
    repeated_parameters_are_an_invalid_request,
    bad_text_is_answered_alike_on_every_database,
    the_authorize_endpoint_has_a_ceiling,
    a_code_issued_before_a_withdrawal_no_longer_exchanges,
    phone_number_verified_means_this_very_number,
    a_refresh_may_narrow_the_scope,
    claims_supported_names_every_claim_we_return,
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
        .request_async(&crate::openid::http())
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

/// A NUL byte (PostgreSQL refuses it) wherever a text reaches the database.
async fn bad_text_is_answered_alike_on_every_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let browser = app.signed_in_browser("admin1", true).await;
    let nul = "grafana\u{0}x";

    let authorize = browser
        .get(app.url("/oauth2/authorize"))
        .query(&[
            ("client_id", nul),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(authorize.status(), 400, "an unknown client: our page");

    let nonce = browser
        .get(app.url("/oauth2/authorize"))
        .query(&[
            ("client_id", registered.client_id.as_str()),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", "openid"),
            ("nonce", "n\u{0}n"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(nonce.status(), 302);
    assert_eq!(
        query_param(&location(&nonce), "error").as_deref(),
        Some("invalid_request")
    );

    for endpoint in ["/oauth2/token", "/oauth2/revoke"] {
        let answer = reqwest::Client::new()
            .post(app.url(endpoint))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("token", "x"),
                ("client_id", nul),
                ("client_secret", "s"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            oauth_error(answer, 401).await,
            "invalid_client",
            "{endpoint}"
        );
    }

    let logout = browser
        .get(app.url("/oauth2/logout"))
        .query(&[
            ("client_id", nul),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 400, "an address no client vouches for");

    let withdraw = app
        .submit(
            &browser,
            "/account",
            "/account/apps/withdraw",
            &[("client_id", nul)],
        )
        .await;
    assert_eq!(withdraw.status(), 303, "nothing to withdraw");

    let before = app.counts();
    let create = app
        .submit(
            &browser,
            "/admin/accounts",
            "/admin/users",
            &[
                ("username", "newbie"),
                ("name", "New\u{0}bie"),
                ("phone", ""),
            ],
        )
        .await;
    assert_eq!(create.status(), 400);
    assert!(create.text().await.unwrap().contains("姓名无效"));
    assert_eq!(app.counts(), before, "no user was made");
}

async fn the_authorize_endpoint_has_a_ceiling(backend: Backend) {
    let app = spawn_app_with(backend, &[("RATE_LIMIT_CEILING_PER_MINUTE", "3")]).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("qianjiu", false).await;
    // A consented client asking with prompt=none gets a code (a row) per request.
    tokens_via(&app, &client, &browser, &[]).await;
    let url = format!("{}&prompt=none", request(&client, &[]).url);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(browser.get(&url).send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses[..2].iter().all(|s| *s == 302), "{statuses:?}");
}

async fn a_code_issued_before_a_withdrawal_no_longer_exchanges(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("zhoushi", false).await;
    let request = request(&client, &["profile"]);
    let redirect = until_client(&app, &browser, &request.url).await;
    let code = query_param(&redirect, "code").unwrap();

    let withdraw = app
        .submit(
            &browser,
            "/account",
            "/account/apps/withdraw",
            &[("client_id", registered.client_id.as_str())],
        )
        .await;
    assert_eq!(withdraw.status(), 303);
    let exchange = client
        .exchange_code(openidconnect::AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(request.verifier)
        .request_async(&crate::openid::http())
        .await;
    assert!(exchange.is_err(), "the code is worth nothing now");
    assert!(
        !app.page(&browser, "/account")
            .await
            .contains("<strong class=\"app-name\">Grafana</strong>"),
        "and no session the person cannot see"
    );
}

async fn userinfo(app: &TestApp, token: &str) -> Value {
    reqwest::Client::new()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn phone_number_verified_means_this_very_number(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    // 张三 signs in with DingTalk, which vouches for his number.
    let browser = crate::helpers::browser();
    app.dingtalk_login(&browser, &[("identity", "zhangsan")])
        .await;
    let (tokens, _) = tokens_via(&app, &client, &browser, &["phone"]).await;
    let access = tokens.access_token().secret().clone();
    let info = userinfo(&app, &access).await;
    assert_eq!(info["phone_number_verified"], true, "{info}");

    // The number here changes; DingTalk never vouched for the new one.
    let user = user_where(&app, "张三", true);
    {
        use diesel::prelude::*;
        use dingtalk_login::db::schema::susers;
        diesel::update(susers::table.find(user.id))
            .set(susers::phone.eq("+8613912345678"))
            .execute(&mut app.conn())
            .unwrap();
    }
    let info = userinfo(&app, &access).await;
    assert_eq!(info["phone_number"], "+8613912345678");
    assert_eq!(info["phone_number_verified"], false, "{info}");
}

async fn a_refresh_may_narrow_the_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = app.signed_in_browser("wujia", false).await;
    let (tokens, _) = tokens_via(&app, &client, &browser, &["profile", "offline_access"]).await;
    let secret = registered.secret.clone().unwrap();
    let basic = Some((registered.client_id.as_str(), secret.as_str()));
    let refresh = tokens.refresh_token().unwrap().secret().clone();

    let narrowed = token_call(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("scope", "openid"),
        ],
        basic,
    )
    .await;
    assert_eq!(narrowed.status(), 200);
    let narrowed: Value = narrowed.json().await.unwrap();
    assert_eq!(narrowed["scope"], "openid");
    let info = userinfo(&app, narrowed["access_token"].as_str().unwrap()).await;
    assert!(info.get("preferred_username").is_none(), "{info}");
    assert!(info.get("sub").is_some());

    // Without `scope`: the whole grant again.
    let next = narrowed["refresh_token"].as_str().unwrap();
    let whole = token_call(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", next),
            ("scope", ""),
        ],
        basic,
    )
    .await;
    let whole: Value = whole.json().await.unwrap();
    assert_eq!(whole["scope"], "openid profile offline_access");
    let info = userinfo(&app, whole["access_token"].as_str().unwrap()).await;
    assert_eq!(info["preferred_username"], "wujia");

    let wider = token_call(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", whole["refresh_token"].as_str().unwrap()),
            ("scope", "openid phone"),
        ],
        basic,
    )
    .await;
    assert_eq!(oauth_error(wider, 400).await, "invalid_scope");
}

async fn claims_supported_names_every_claim_we_return(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = register(&app, "Grafana", false, "RS256");
    let client = client_for(&app, &registered).await;
    let browser = crate::helpers::browser();
    app.dingtalk_login(&browser, &[("identity", "zhangsan")])
        .await;
    let (tokens, _) = tokens_via(
        &app,
        &client,
        &browser,
        &["profile", "phone", "offline_access"],
    )
    .await;
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let supported: Vec<&str> = discovery["claims_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let info = userinfo(&app, tokens.access_token().secret()).await;
    let id_token = tokens.id_token().unwrap().to_string();
    let payload = id_token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    for returned in [&info, &claims] {
        for name in returned.as_object().unwrap().keys() {
            assert!(supported.contains(&name.as_str()), "{name} is not listed");
        }
    }
    assert!(info.get("providers").is_some(), "{info}");
}
