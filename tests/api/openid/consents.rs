//! Consents and clients over time: the registration policy, the admin's view, key
//! rotation, withdrawal, scopes, deleting a client.

use super::*;

backend_tests!(
    the_registration_policy_applies_to_openid_logins,
    admins_see_the_clients_and_who_granted_them,
    people_see_and_withdraw_their_consents,
    the_phone_scope_alone_gives_the_number_and_nothing_else,
    deleting_a_client_ends_its_consents_and_sessions,
);

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
