//! The code flow end to end with a real client: codes, PKCE, client authentication.

use super::*;

backend_tests!(
    the_whole_dance_with_a_real_client,
    an_es256_client_gets_es256_id_tokens,
    a_public_client_needs_pkce_and_the_right_verifier,
    codes_are_single_use_and_a_replay_revokes_what_they_issued,
    codes_are_bound_to_their_client_redirect_uri_and_lifetime,
    a_code_is_worthless_once_its_sign_in_has_ended,
    clients_authenticate_with_basic_or_post_and_wrong_secrets_are_401,
);

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
