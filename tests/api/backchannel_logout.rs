//! Issue #23: a person who leaves is logged out of the applications too. A relying party
//! that registered a `backchannel_logout_uri` receives an OpenID Connect Back-Channel
//! Logout 1.0 logout token for its session, from an outbox in the database: the service
//! restarting between the departure and the delivery loses none.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use dingtalk_login::oidc::clients::{self, NewClient};
use openidconnect::TokenResponse;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::directory::{userid_of, wait_for_first_sync};
use crate::helpers::{Backend, TestApp, browser, random_secret, spawn_app_with};
use crate::openid::{CALLBACK, client_for, tokens_via};

backend_tests!(a_departure_reaches_the_application_even_across_a_restart);

const CORP: &str = "dingsandboxcorp1";

/// A relying party's back-channel logout endpoint: it answers 503 to the next `refusals`
/// requests, and hands every logout token it takes to the test.
struct RelyingParty {
    uri: String,
    refusals: Arc<AtomicUsize>,
    received: tokio::sync::mpsc::UnboundedReceiver<String>,
}

fn relying_party() -> RelyingParty {
    let (sender, received) = tokio::sync::mpsc::unbounded_channel();
    let refusals = Arc::new(AtomicUsize::new(usize::MAX));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!(
        "http://127.0.0.1:{}/backchannel-logout",
        listener.local_addr().unwrap().port()
    );
    let (is_down, sender) = (refusals.clone(), Arc::new(Mutex::new(sender)));
    let server = HttpServer::new(move || {
        let (is_down, sender) = (is_down.clone(), sender.clone());
        App::new().route(
            "/backchannel-logout",
            web::post().to(move |form: web::Form<Vec<(String, String)>>| {
                let (is_down, sender) = (is_down.clone(), sender.clone());
                async move {
                    let refused = is_down
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if refused {
                        return HttpResponse::ServiceUnavailable().finish();
                    }
                    for (key, value) in form.into_inner() {
                        if key == "logout_token" {
                            let _ = sender.lock().unwrap().send(value);
                        }
                    }
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    RelyingParty {
        uri,
        refusals,
        received,
    }
}

/// The app in an actix system of its own, as a process would be: stopping the system ends
/// its server and every task it runs (the outbox's delivery among them).
fn app_in_its_own_system(
    backend: Backend,
    settings: Vec<(String, String)>,
) -> (TestApp, actix_web::rt::System, std::thread::JoinHandle<()>) {
    let (sender, receiver) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        system.block_on(async move {
            let overrides: Vec<(&str, &str)> = settings
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let app = spawn_app_with(backend, &overrides).await;
            sender
                .send((app, actix_web::rt::System::current()))
                .unwrap();
        });
        system.run().unwrap();
    });
    let (app, system) = receiver.recv().unwrap();
    (app, system, thread)
}

/// The claims of a JWT, after checking its signature with the issuer's published keys.
async fn verified_claims(app: &TestApp, token: &str) -> (jsonwebtoken::Header, Value) {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(app.url("/oauth2/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[app.settings.base_url()]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat"]);
    // The audience is the client's generated id, checked below.
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("a logout token signed with the issuer's key")
    .claims;
    (header, claims)
}

async fn a_departure_reaches_the_application_even_across_a_restart(backend: Backend) {
    let mut party = relying_party();
    let (jwt, session, token, aes_key) = (
        random_secret(),
        random_secret(),
        random_secret()[..16].to_owned(),
        random_secret()[..43].to_owned(),
    );
    let settings: Vec<(String, String)> = [
        ("JWT_SECRET", jwt.as_str()),
        ("SESSION_SECRET", session.as_str()),
        ("DINGTALK_CORP_IDS", CORP),
        ("DINGTALK_DIRECTORY", "true"),
        ("DINGTALK_EVENTS", "http"),
        ("DINGTALK_EVENT_TOKEN", token.as_str()),
        ("DINGTALK_EVENT_AES_KEY", aes_key.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let (first, system, thread) = app_in_its_own_system(backend, settings.clone());
    wait_for_first_sync(&first).await;
    let registered = clients::register(
        &mut first.conn(),
        NewClient {
            name: "backchannel-app".into(),
            redirect_uris: vec![CALLBACK.into()],
            post_logout_redirect_uris: Vec::new(),
            public: false,
            id_token_alg: "ES256".into(),
            backchannel_logout_uri: Some(party.uri.clone()),
        },
    )
    .unwrap();
    let person = browser();
    first
        .dingtalk_login(&person, &[("identity", "zhangsan"), ("corp_id", CORP)])
        .await;
    let client = client_for(&first, &registered).await;
    let (tokens, _) = tokens_via(&first, &client, &person, &["openid"]).await;
    let id_token = tokens.id_token().unwrap().to_string();
    let (_, id_claims) = verified_claims(&first, &id_token).await;

    // The application is down when the person leaves; then the service restarts.
    let zhang = userid_of(&first, "张三").await;
    let left: Value = browser()
        .post(first.url(&format!("/sandbox/dingtalk/directory/people/{zhang}/leave")))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(left["event"]["delivered"], true, "{left}");
    system.stop();
    thread.join().unwrap();
    // Back, but the first delivery after the restart is refused: it is tried again.
    party.refusals.store(1, Ordering::SeqCst);
    let mut second_settings = settings;
    second_settings.push(("DATABASE_URL".into(), first.database_url.clone()));
    second_settings.push((
        "PUBLIC_BASE_URL".into(),
        first.settings.base_url().to_owned(),
    ));
    let overrides: Vec<(&str, &str)> = second_settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let second = spawn_app_with(backend, &overrides).await;
    crate::directory::wait_for_syncs(&second, 2).await;

    let logout_token = tokio::time::timeout(Duration::from_secs(20), party.received.recv())
        .await
        .expect("the logout token arrives after the restart")
        .unwrap();
    let (header, claims) = verified_claims(&second, &logout_token).await;
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(
        header.alg,
        jsonwebtoken::Algorithm::ES256,
        "the client's algorithm"
    );
    assert_eq!(claims["aud"], registered.client_id);
    assert_eq!(claims["sub"], id_claims["sub"]);
    assert_eq!(
        claims["sid"], id_claims["sid"],
        "the session the application knows"
    );
    assert!(claims["jti"].is_string());
    assert!(claims.get("nonce").is_none(), "a logout token has no nonce");
    assert_eq!(
        claims["events"],
        json!({"http://schemas.openid.net/event/backchannel-logout": {}})
    );
    // Delivered, and nothing else waits in the outbox.
    let waiting: i64 = {
        use diesel::prelude::*;
        use dingtalk_login::db::schema::logout_outbox;
        logout_outbox::table
            .filter(logout_outbox::delivered_at.is_null())
            .count()
            .get_result(&mut *second.conn())
            .unwrap()
    };
    assert_eq!(waiting, 0);
    assert_eq!(
        party.refusals.load(Ordering::SeqCst),
        0,
        "one refusal, then taken"
    );
    let discovery: Value = reqwest::get(second.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);
}
