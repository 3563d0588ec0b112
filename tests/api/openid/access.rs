//! Who gets in, and who is kept out: unknown clients, prompts, consent, deactivation,
//! forged tokens, revocation, logout, discovery.

use super::*;

backend_tests!(
    unknown_clients_and_unregistered_redirects_get_our_page_not_a_redirect,
    prompt_none_max_age_and_prompt_login,
    consent_is_asked_once_and_a_refusal_goes_back_to_the_client,
    deactivation_and_logout_end_client_tokens_at_once,
    tokens_in_other_algorithms_or_of_another_kind_are_refused,
    revocation_ends_the_clients_session,
    logout_without_a_hint_asks_first_and_redirects_only_where_registered,
);

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
