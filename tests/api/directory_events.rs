//! Issue #23: the directory's events over HTTP (`DINGTALK_EVENTS=http`). A departure the
//! sandbox organisation sends, sealed and signed as DingTalk does, ends everything the
//! person held, on every instance, before DingTalk gets its `success`; nothing unverified
//! is written.

use std::time::{Duration, Instant};

use dingtalk_login::config::Secret;
use dingtalk_login::providers::dingtalk::event_crypto::EventCipher;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::directory::change_person;
use crate::helpers::{Backend, TestApp, error_code, random_secret, spawn_app_with};

backend_tests!(
    a_departure_event_offboards_on_every_instance_at_once,
    unverified_events_write_nothing_and_redeliveries_nothing_twice,
    events_keep_the_mirror_current,
    a_developer_watches_an_offboarding_on_the_sandbox_page,
);

const CORP: &str = "dingsandboxcorp1";
const APP: &str = "events-app";

/// The console's event token and key of one test (random, never a real one).
struct Keys {
    token: String,
    aes_key: String,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            token: random_secret()[..16].to_owned(),
            // 43 characters of base64, as the console makes them.
            aes_key: random_secret()[..43].to_owned(),
        }
    }

    fn cipher(&self, receiver: &str) -> EventCipher {
        EventCipher::new(
            Secret::new(self.token.clone()),
            &self.aes_key,
            receiver.to_owned(),
        )
        .unwrap()
    }
}

async fn events_app(backend: Backend, keys: &Keys, extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![
        ("DINGTALK_SANDBOX", "true"),
        ("DINGTALK_CLIENT_ID", APP),
        ("DINGTALK_CORP_IDS", CORP),
        ("DINGTALK_DIRECTORY", "true"),
        ("DINGTALK_EVENTS", "http"),
        ("DINGTALK_EVENT_TOKEN", keys.token.as_str()),
        ("DINGTALK_EVENT_AES_KEY", keys.aes_key.as_str()),
    ];
    settings.extend_from_slice(extra);
    let app = spawn_app_with(backend, &settings).await;
    crate::directory::wait_for_first_sync(&app).await;
    app
}

async fn a_departure_event_offboards_on_every_instance_at_once(backend: Backend) {
    let keys = Keys::new();
    let (jwt, session) = (random_secret(), random_secret());
    let shared = [
        ("JWT_SECRET", jwt.as_str()),
        ("SESSION_SECRET", session.as_str()),
    ];
    let first = events_app(backend, &keys, &shared).await;
    let mut second_settings = shared.to_vec();
    second_settings.push(("DATABASE_URL", first.database_url.as_str()));
    // Behind the same load balancer: the same public address.
    second_settings.push(("PUBLIC_BASE_URL", first.settings.base_url()));
    let second = events_app(backend, &keys, &second_settings).await;
    // Its own start-up sync, done: the departure below does not race it.
    crate::directory::wait_for_syncs(&second, 2).await;
    let tokens = first
        .dingtalk_tokens(&[("identity", "zhangsan"), ("corp_id", CORP)])
        .await;
    assert_eq!(second.me(&tokens["token"]).await.status(), 200);

    let zhang = crate::directory::userid_of(&first, "张三").await;
    let started = Instant::now();
    let report = change_person(&first, &zhang, "leave", json!({})).await;
    assert_eq!(report["event"]["event_type"], "user_leave_org");
    assert_eq!(report["event"]["delivered"], true, "{report}");
    // DingTalk got its `success` after the commit: both instances refuse at once.
    for instance in [&first, &second] {
        assert_eq!(
            error_code(instance.me(&tokens["token"]).await, 401).await,
            40104
        );
        assert_eq!(
            instance.refresh(&tokens["refreshToken"]).await.status(),
            401
        );
    }
    let elapsed = started.elapsed();
    println!("departure to refusal on both instances: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

/// Posts `message` sealed with `cipher`, signed with `timestamp`.
async fn post_event(
    app: &TestApp,
    cipher: &EventCipher,
    message: &str,
    timestamp: &str,
) -> reqwest::Response {
    let encrypt = cipher.seal(message);
    let nonce = "n0nce123";
    let signature = cipher.signature(timestamp, nonce, &encrypt);
    app.client
        .post(app.url("/dingtalk/events"))
        .query(&[
            ("msg_signature", signature.as_str()),
            ("timestamp", timestamp),
            ("nonce", nonce),
        ])
        .json(&json!({ "encrypt": encrypt }))
        .send()
        .await
        .unwrap()
}

fn now_ms() -> String {
    chrono::Utc::now().timestamp_millis().to_string()
}

fn leave_event(userid: &str, corp: &str, event_id: &str) -> String {
    json!({
        "EventType": "user_leave_org", "EventTime": 1, "CorpId": corp, "BizId": "b",
        "eventId": event_id, "timeStamp": now_ms(), "userId": [userid],
    })
    .to_string()
}

/// Whether the answer is the sealed `success` DingTalk waits for.
async fn is_success(response: reqwest::Response, cipher: &EventCipher) -> bool {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let text = |key: &str| body[key].as_str().unwrap().to_owned();
    cipher.open(
        &text("msg_signature"),
        &text("timeStamp"),
        &text("nonce"),
        &text("encrypt"),
    ) == Ok("success".into())
}

/// An app taking events over HTTP, with 张三 signed in: the keys, the app, his tokens and
/// his userid in the sandbox organisation.
async fn zhangsan_signed_in(
    backend: Backend,
) -> (
    Keys,
    TestApp,
    std::collections::HashMap<String, String>,
    String,
) {
    let keys = Keys::new();
    let app = events_app(backend, &keys, &[]).await;
    let tokens = app
        .dingtalk_tokens(&[("identity", "zhangsan"), ("corp_id", CORP)])
        .await;
    let zhang = crate::directory::userid_of(&app, "张三").await;
    (keys, app, tokens, zhang)
}

async fn unverified_events_write_nothing_and_redeliveries_nothing_twice(backend: Backend) {
    let (keys, app, tokens, zhang) = zhangsan_signed_in(backend).await;
    let ours = keys.cipher(APP);
    let still_in = |app: &TestApp| {
        let app_base = app.base.clone();
        let token = tokens["token"].clone();
        async move {
            reqwest::Client::new()
                .get(format!("{app_base}/api/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                == 200
        }
    };

    // The console's handshake.
    let check = post_event(&app, &ours, r#"{"EventType":"check_url"}"#, &now_ms()).await;
    assert!(is_success(check, &ours).await);

    let message = leave_event(&zhang, CORP, "evt-1");
    // A forged signature (someone without the token).
    let forger = EventCipher::new(
        Secret::new("not-the-token".to_owned()),
        &keys.aes_key,
        APP.into(),
    )
    .unwrap();
    let forged = post_event(&app, &forger, &message, &now_ms()).await;
    assert_eq!(error_code(forged, 403).await, 40306);
    // Sealed for another app (the receiver inside).
    let elsewhere = post_event(&app, &keys.cipher("another-app"), &message, &now_ms()).await;
    assert_eq!(error_code(elsewhere, 403).await, 40306);
    // Signed, but ten minutes old: a captured request played back.
    let stale = (chrono::Utc::now().timestamp_millis() - 600_000).to_string();
    let replayed = post_event(&app, &ours, &message, &stale).await;
    assert_eq!(error_code(replayed, 403).await, 40306);
    // About another organisation.
    let foreign = post_event(
        &app,
        &ours,
        &leave_event(&zhang, "dingothercorp", "evt-2"),
        &now_ms(),
    )
    .await;
    assert_eq!(error_code(foreign, 403).await, 40306);
    assert!(still_in(&app).await, "nothing was written");
    let events: i64 = count_events(&app);
    assert_eq!(events, 0);

    // The genuine event, then DingTalk delivering it again.
    assert!(is_success(post_event(&app, &ours, &message, &now_ms()).await, &ours).await);
    assert!(!still_in(&app).await);
    let user = dingtalk_login::domain::UserId(tokens["userid"].parse().unwrap());
    let audited = || {
        dingtalk_login::db::admin::audit_for(&mut app.conn(), user)
            .unwrap()
            .len()
    };
    let after_first = audited();
    assert!(is_success(post_event(&app, &ours, &message, &now_ms()).await, &ours).await);
    assert_eq!(audited(), after_first, "a redelivery writes nothing");
    assert_eq!(count_events(&app), 1);
}

fn count_events(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    dingtalk_login::db::schema::directory_events::table
        .count()
        .get_result(&mut *app.conn())
        .unwrap()
}

/// Moves, departures and returns arrive as events and keep the mirror current.
async fn events_keep_the_mirror_current(backend: Backend) {
    let keys = Keys::new();
    let app = events_app(backend, &keys, &[("DINGTALK_EVENT_RECEIVER", "corp")]).await;
    let tokens = app
        .dingtalk_tokens(&[("identity", "zhangsan"), ("corp_id", CORP)])
        .await;
    let (zhang, wang) = (
        crate::directory::userid_of(&app, "张三").await,
        crate::directory::userid_of(&app, "王五").await,
    );
    let moved = change_person(&app, &wang, "move", json!({"dept_ids": [2, 22]})).await;
    assert_eq!(
        moved["event"]["delivered"], true,
        "sealed for the corpId: {moved}"
    );
    let member = |userid: &str| {
        dingtalk_login::db::directory::member(&mut app.conn(), userid)
            .unwrap()
            .unwrap()
    };
    assert_eq!(member(&wang).dept_ids, "2,22");

    change_person(&app, &zhang, "leave", json!({})).await;
    assert!(!member(&zhang).active);
    let back = change_person(&app, &zhang, "rejoin", json!({})).await;
    assert_eq!(back["event"]["event_type"], "user_add_org");
    assert!(member(&zhang).active);
    let again = app
        .dingtalk_tokens(&[("identity", "zhangsan"), ("corp_id", CORP)])
        .await;
    assert_eq!(
        again["userid"], tokens["userid"],
        "rehired, signs in as before"
    );
}

/// The sandbox's page for developers: the organisation, and a button that makes someone
/// leave, sent to the service as DingTalk's event; the page says the service took it.
async fn a_developer_watches_an_offboarding_on_the_sandbox_page(backend: Backend) {
    let (_keys, app, tokens, zhang) = zhangsan_signed_in(backend).await;
    let page = app
        .page(&app.client, "/sandbox/dingtalk/organisation")
        .await;
    assert!(page.contains("客服部") && page.contains("张三"), "{page}");
    let leave = format!("/sandbox/dingtalk/organisation/{zhang}/leave");
    assert!(page.contains(&leave), "a leave button for 张三");
    // As a browser submits the form: form-encoded, no fields.
    let answer = app
        .client
        .post(app.url(&leave))
        .form(&[] as &[(&str, &str)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let back = crate::helpers::location(&answer);
    let page = app.page(&app.client, &back).await;
    assert!(page.contains("leave → user_leave_org delivered"), "{page}");
    assert!(
        page.contains(&format!("/sandbox/dingtalk/organisation/{zhang}/rejoin")),
        "张三 can now rejoin"
    );
    assert_eq!(error_code(app.me(&tokens["token"]).await, 401).await, 40104);
}
