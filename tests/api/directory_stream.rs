//! Issue #23: the directory's events in Stream mode (`DINGTALK_EVENTS=stream`): each
//! instance opens its own WebSocket to (the sandbox's) DingTalk, answers its ping, and
//! acknowledges an event only after the change is committed. A connection dropped before
//! the ACK, or DingTalk's `disconnect`, loses nothing and doubles nothing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::backend_tests;
use crate::directory::{change_person, userid_of, wait_for_first_sync};
use crate::helpers::{Backend, TestApp, error_code, random_secret, spawn_app_with};

backend_tests!(
    a_departure_over_stream_offboards_on_every_instance,
    a_dropped_connection_or_a_disconnect_loses_and_doubles_nothing,
);

const CORP: &str = "dingsandboxcorp1";

async fn stream_app(backend: Backend, shared: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![
        ("DINGTALK_SANDBOX", "true"),
        ("DINGTALK_CLIENT_ID", "stream-app"),
        ("DINGTALK_CORP_IDS", CORP),
        ("DINGTALK_DIRECTORY", "true"),
        ("DINGTALK_EVENTS", "stream"),
    ];
    settings.extend_from_slice(shared);
    let app = spawn_app_with(backend, &settings).await;
    wait_for_first_sync(&app).await;
    app
}

async fn a_departure_over_stream_offboards_on_every_instance(backend: Backend) {
    let (jwt, session, secret) = (random_secret(), random_secret(), random_secret());
    let shared = [
        ("JWT_SECRET", jwt.as_str()),
        ("SESSION_SECRET", session.as_str()),
        ("DINGTALK_CLIENT_SECRET", secret.as_str()),
    ];
    let first = stream_app(backend, &shared).await;
    let mut second_settings = shared.to_vec();
    second_settings.push(("DATABASE_URL", first.database_url.as_str()));
    // Behind the same load balancer; both connect to the first's sandbox.
    second_settings.push(("PUBLIC_BASE_URL", first.settings.base_url()));
    let second = stream_app(backend, &second_settings).await;
    // Its own start-up sync, done: the departure below does not race it.
    crate::directory::wait_for_syncs(&second, 2).await;
    let tokens = first
        .dingtalk_tokens(&[("identity", "zhangsan"), ("corp_id", CORP)])
        .await;
    let zhang = userid_of(&first, "张三").await;

    let started = Instant::now();
    let report = change_person(&first, &zhang, "leave", json!({})).await;
    assert_eq!(report["event"]["delivered"], true, "{report}");
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
    println!("stream departure to refusal on both instances: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

async fn a_dropped_connection_or_a_disconnect_loses_and_doubles_nothing(backend: Backend) {
    let app = stream_app(backend, &[]).await;
    let tokens = app
        .dingtalk_tokens(&[("identity", "zhangsan"), ("corp_id", CORP)])
        .await;
    let (zhang, wang) = (userid_of(&app, "张三").await, userid_of(&app, "王五").await);

    // The connection drops right after the event is sent, before its ACK: DingTalk
    // delivers it again on the next connection, and it is applied once.
    let dropped = app
        .client
        .post(app.url("/sandbox/dingtalk/gateway/stream/drop-next"))
        .send()
        .await
        .unwrap();
    assert_eq!(dropped.status(), 204);
    let report = change_person(&app, &zhang, "leave", json!({})).await;
    assert_eq!(report["event"]["delivered"], true, "{report}");
    assert_eq!(app.me(&tokens["token"]).await.status(), 401);
    let user = dingtalk_login::domain::UserId(tokens["userid"].parse().unwrap());
    let offboards = dingtalk_login::db::admin::audit_for(&mut app.conn(), user)
        .unwrap()
        .iter()
        .filter(|entry| entry.action == "offboard")
        .count();
    assert_eq!(offboards, 1, "applied once");

    // DingTalk asks every client to reconnect; the next event finds the new connection.
    let asked: Value = app
        .client
        .post(app.url("/sandbox/dingtalk/gateway/stream/disconnect"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(asked["disconnected"], 1);
    let moved = change_person(&app, &wang, "move", json!({"dept_ids": [22]})).await;
    assert_eq!(moved["event"]["delivered"], true, "{moved}");
    let member = dingtalk_login::db::directory::member(&mut app.conn(), &wang)
        .unwrap()
        .unwrap();
    assert_eq!(member.dept_ids, "22");
}
