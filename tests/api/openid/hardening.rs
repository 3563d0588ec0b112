//! Bad input answered alike on both databases, limits, withdrawals, and claims that mean
//! what they say.

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use super::{
    AFTER_LOGOUT, CALLBACK, client_for, http, oauth_error, register, request, token_call,
    tokens_via, until_client, user_where,
};
use crate::backend_tests;
use crate::helpers::{Backend, TestApp, location, query_param, spawn_app, spawn_app_with};

backend_tests!(
    bad_text_is_answered_alike_on_every_database,
    the_authorize_endpoint_has_a_ceiling,
    a_code_issued_before_a_withdrawal_no_longer_exchanges,
    phone_number_verified_means_this_very_number,
    a_refresh_may_narrow_the_scope,
    claims_supported_names_every_claim_we_return,
);

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
        .request_async(&http())
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
