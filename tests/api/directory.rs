//! Issue #23: the organisation's directory mirrored from DingTalk (here the sandbox
//! organisation: a three-level tree, one department of more than 100 people), and what a
//! departure does to the person's account: deactivated, every session and token ended;
//! a rehire undoes only that.

use std::collections::{BTreeMap, BTreeSet};

use dingtalk_login::db::directory;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, PASSWORD, TestApp, error_code, spawn_app_with};

backend_tests!(
    a_full_sync_mirrors_the_tree_and_every_person_once,
    a_failed_sync_changes_nothing_and_the_next_one_offboards,
    a_rehire_undoes_only_what_leaving_did,
    a_sync_that_would_empty_the_organisation_is_refused,
    one_instance_syncs_at_a_time,
);

const CORP: &str = "dingsandboxcorp1";

/// The app with the directory on, once its start-up sync is done (so that each test's
/// own syncs are the only ones), and an admin's token.
async fn directory_app(backend: Backend) -> (TestApp, String) {
    let app = spawn_app_with(
        backend,
        &[("DINGTALK_CORP_IDS", CORP), ("DINGTALK_DIRECTORY", "true")],
    )
    .await;
    app.create_user("boss", None, true);
    let login: Value = app.api_login("boss", PASSWORD).await.json().await.unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    wait_for_first_sync(&app).await;
    (app, token)
}

/// Waits until the sync the app runs at start-up is over (it starts at once, in the
/// background), so that a test's own syncs and changes do not race it.
pub(crate) async fn wait_for_first_sync(app: &TestApp) {
    wait_for_syncs(app, 1).await;
}

/// Waits until `count` syncs are recorded (a second instance on the same database runs
/// its own at start-up).
pub(crate) async fn wait_for_syncs(app: &TestApp, count: i64) {
    use diesel::prelude::*;
    let recorded = || -> i64 {
        dingtalk_login::db::schema::directory_syncs::table
            .count()
            .get_result(&mut *app.conn())
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while recorded() < count {
        assert!(
            std::time::Instant::now() < deadline,
            "the start-up sync never ended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn sync(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/admin/directory/sync"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn overview(app: &TestApp, token: &str) -> Value {
    let response = app
        .client
        .get(app.url("/api/admin/directory"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// What the sandbox organisation is now, as DingTalk would tell it.
async fn sandbox_org(app: &TestApp) -> Value {
    app.client
        .get(app.url("/sandbox/dingtalk/directory"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A change in the sandbox organisation, and what became of its event (`event` is null
/// when the service takes no events).
pub(crate) async fn change_person(app: &TestApp, userid: &str, change: &str, body: Value) -> Value {
    let response = app
        .client
        .post(app.url(&format!(
            "/sandbox/dingtalk/directory/people/{userid}/{change}"
        )))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{change} {userid}");
    response.json().await.unwrap()
}

async fn set_faults(app: &TestApp, faults: Value) {
    let response = app
        .client
        .put(app.url("/sandbox/dingtalk/directory/faults"))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

/// The sandbox's userid of a preset person.
pub(crate) async fn userid_of(app: &TestApp, name: &str) -> String {
    let org = sandbox_org(app).await;
    org["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} is in the sandbox organisation"))["userid"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn member<'a>(overview: &'a Value, userid: &str) -> &'a Value {
    overview["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["userid"] == userid)
        .unwrap_or_else(|| panic!("{userid} is in the mirror"))
}

async fn a_full_sync_mirrors_the_tree_and_every_person_once(backend: Backend) {
    let (app, admin) = directory_app(backend).await;
    let answer = sync(&app, &admin).await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    let org = sandbox_org(&app).await;
    let people = org["people"].as_array().unwrap();
    assert_eq!(answer["members"], people.len());
    assert_eq!(
        answer["departments"],
        org["departments"].as_array().unwrap().len()
    );

    let mirror = overview(&app, &admin).await;
    assert_eq!(mirror["lastSync"]["error"], Value::Null);
    let tree: BTreeMap<i64, Option<i64>> = mirror["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_i64().unwrap(), d["parentId"].as_i64()))
        .collect();
    let expected: BTreeMap<i64, Option<i64>> = org["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["dept_id"].as_i64().unwrap(), d["parent_id"].as_i64()))
        .collect();
    assert_eq!(tree, expected);
    let depth = |mut id: i64| {
        let mut levels = 1;
        while let Some(Some(parent)) = tree.get(&id) {
            id = *parent;
            levels += 1;
        }
        levels
    };
    assert_eq!(tree.keys().map(|&id| depth(id)).max(), Some(3));

    // Each person once, in every department they are in.
    let members = mirror["members"].as_array().unwrap();
    let mirrored: BTreeSet<&str> = members
        .iter()
        .map(|m| m["userid"].as_str().unwrap())
        .collect();
    assert_eq!(mirrored.len(), members.len(), "nobody twice");
    let present: BTreeSet<&str> = people
        .iter()
        .map(|p| p["userid"].as_str().unwrap())
        .collect();
    assert_eq!(mirrored, present);
    for person in people {
        let mirrored = member(&mirror, person["userid"].as_str().unwrap());
        let mut depts: Vec<i64> = person["dept_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_i64().unwrap())
            .collect();
        depts.sort_unstable();
        assert_eq!(mirrored["departmentIds"], json!(depts), "{person}");
        assert_eq!(mirrored["unionid"], person["unionid"]);
        assert_eq!(mirrored["active"], true);
    }
    // Past the first page: the large department's every person is there.
    let mut per_department: BTreeMap<i64, usize> = BTreeMap::new();
    for m in members {
        for d in m["departmentIds"].as_array().unwrap() {
            *per_department.entry(d.as_i64().unwrap()).or_default() += 1;
        }
    }
    assert!(
        per_department.values().any(|&n| n > 100),
        "{per_department:?}"
    );
    let zhang = userid_of(&app, "张三").await;
    assert_eq!(
        member(&mirror, &zhang)["departmentIds"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "张三 is in two departments"
    );
}

/// A DingTalk login of a sandbox person; returns the handoff's tokens.
async fn signed_in(app: &TestApp, identity: &str) -> std::collections::HashMap<String, String> {
    app.dingtalk_tokens(&[("identity", identity), ("corp_id", CORP)])
        .await
}

async fn a_failed_sync_changes_nothing_and_the_next_one_offboards(backend: Backend) {
    let (app, admin) = directory_app(backend).await;
    let zhang_tokens = signed_in(&app, "zhangsan").await;
    app.create_user("bob", None, false);
    let bob: Value = app.api_login("bob", PASSWORD).await.json().await.unwrap();
    let before = overview(&app, &admin).await;
    let (zhang, wang) = (userid_of(&app, "张三").await, userid_of(&app, "王五").await);

    change_person(&app, &zhang, "leave", json!({})).await;
    change_person(&app, &wang, "move", json!({"dept_ids": [2]})).await;
    // The largest department is listed last: the sync fails after reading the others.
    set_faults(&app, json!({"failing_department": 4})).await;
    let failed = sync(&app, &admin).await;
    assert_eq!(failed.status(), 502);
    let failed: Value = failed.json().await.unwrap();
    assert_eq!(failed["code"], 50201);
    assert!(
        failed["msg"].as_str().unwrap().contains("user/list"),
        "{failed}"
    );
    let after = overview(&app, &admin).await;
    assert_eq!(
        after["members"], before["members"],
        "the mirror is as it was"
    );
    assert_eq!(after["departments"], before["departments"]);
    assert!(after["lastSync"]["error"].is_string(), "admins see why");
    assert_eq!(app.me(&zhang_tokens["token"]).await.status(), 200);

    set_faults(&app, json!({})).await;
    let done: Value = sync(&app, &admin).await.json().await.unwrap();
    assert_eq!(
        (done["departed"].clone(), done["offboarded"].clone()),
        (json!(1), json!(1))
    );
    let mirror = overview(&app, &admin).await;
    let gone = member(&mirror, &zhang);
    assert_eq!(gone["active"], false);
    assert!(gone["leftAt"].is_string());
    assert_eq!(gone["localUsers"][0]["isActive"], false);
    assert_eq!(gone["localUsers"][0]["deactivatedBy"], "directory");
    assert_eq!(member(&mirror, &wang)["departmentIds"], json!([2]));
    // Everything 张三 held here ends; a password user is never touched.
    assert_eq!(
        error_code(app.me(&zhang_tokens["token"]).await, 401).await,
        40104
    );
    assert_eq!(
        app.refresh(&zhang_tokens["refreshToken"]).await.status(),
        401
    );
    let relogin = app
        .dingtalk_login(
            &crate::helpers::browser(),
            &[("identity", "zhangsan"), ("corp_id", CORP)],
        )
        .await;
    assert_eq!(
        relogin.status(),
        403,
        "a deactivated account cannot sign in again"
    );
    assert_eq!(app.me(bob["token"].as_str().unwrap()).await.status(), 200);
}

async fn a_rehire_undoes_only_what_leaving_did(backend: Backend) {
    let (app, admin) = directory_app(backend).await;
    let zhang_tokens = signed_in(&app, "zhangsan").await;
    let wang_tokens = signed_in(&app, "wangwu").await;
    // An administrator deactivated 王五 while he was still employed.
    let boss = dingtalk_login::db::users::find_by_username(&mut app.conn(), "boss")
        .unwrap()
        .unwrap();
    let wang_user: i32 = wang_tokens["userid"].parse().unwrap();
    dingtalk_login::accounts::apply_admin_action(
        &mut app.conn(),
        &boss,
        dingtalk_login::domain::UserId(wang_user),
        dingtalk_login::accounts::AdminAction::Deactivate,
    )
    .unwrap();
    let (zhang, wang) = (userid_of(&app, "张三").await, userid_of(&app, "王五").await);
    for userid in [&zhang, &wang] {
        change_person(&app, userid, "leave", json!({})).await;
    }
    let left: Value = sync(&app, &admin).await.json().await.unwrap();
    assert_eq!(left["departed"], 2);
    assert_eq!(
        left["offboarded"], 1,
        "王五 was inactive already: only his sessions end"
    );
    for userid in [&zhang, &wang] {
        change_person(&app, userid, "rejoin", json!({})).await;
    }
    let back: Value = sync(&app, &admin).await.json().await.unwrap();
    assert_eq!(back["rehired"], 1);
    let mirror = overview(&app, &admin).await;
    assert_eq!(member(&mirror, &zhang)["active"], true);
    assert_eq!(member(&mirror, &zhang)["localUsers"][0]["isActive"], true);
    assert_eq!(member(&mirror, &wang)["localUsers"][0]["isActive"], false);
    assert_eq!(
        member(&mirror, &wang)["localUsers"][0]["deactivatedBy"],
        "admin"
    );
    // 张三 signs in as before (his old tokens stay ended); 王五 stays out.
    assert_eq!(app.me(&zhang_tokens["token"]).await.status(), 401);
    let again = signed_in(&app, "zhangsan").await;
    assert_eq!(again["userid"], zhang_tokens["userid"]);
    assert_eq!(app.me(&again["token"]).await.status(), 200);
    let refused = app
        .dingtalk_login(
            &crate::helpers::browser(),
            &[("identity", "wangwu"), ("corp_id", CORP)],
        )
        .await;
    assert_eq!(refused.status(), 403);
    let audit = dingtalk_login::db::admin::audit_for(
        &mut app.conn(),
        dingtalk_login::domain::UserId(zhang_tokens["userid"].parse().unwrap()),
    )
    .unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        ["rehire", "offboard"],
        "newest first, by the directory"
    );
    assert!(audit.iter().all(|a| a.actor_username == "directory"));
}

/// DingTalk answering with most of the company gone (a permission or visibility range
/// taken away) must not offboard the company.
async fn a_sync_that_would_empty_the_organisation_is_refused(backend: Backend) {
    let (app, admin) = directory_app(backend).await;
    let zhang_tokens = signed_in(&app, "zhangsan").await;
    let org = sandbox_org(&app).await;
    let people = org["people"].as_array().unwrap();
    for person in people.iter().take(people.len() / 2 + 1) {
        change_person(&app, person["userid"].as_str().unwrap(), "leave", json!({})).await;
    }
    let before = overview(&app, &admin).await;
    assert_eq!(error_code(sync(&app, &admin).await, 409).await, 40903);
    assert_eq!(overview(&app, &admin).await["members"], before["members"]);
    assert_eq!(app.me(&zhang_tokens["token"]).await.status(), 200);
}

/// The full sync holds a lease in the database: while another instance holds it, "sync
/// now" says so and changes nothing.
async fn one_instance_syncs_at_a_time(backend: Backend) {
    let (app, admin) = directory_app(backend).await;
    let until = chrono::Utc::now().naive_utc() + chrono::TimeDelta::minutes(5);
    assert!(
        directory::take_lease(&mut app.conn(), "directory-sync", "another-instance", until)
            .unwrap()
    );
    let syncs = || directory::last_sync(&mut app.conn()).unwrap().unwrap().id;
    let last = syncs();
    assert_eq!(error_code(sync(&app, &admin).await, 409).await, 40902);
    assert_eq!(syncs(), last, "nothing ran");
    directory::release_lease(&mut app.conn(), "directory-sync", "another-instance").unwrap();
    assert_eq!(sync(&app, &admin).await.status(), 200);
    assert!(syncs() > last);
}

/// `doctor` names a missing permission by its console name, says what stops working, and
/// exits 1; with everything granted it exits 0.
#[actix_web::test]
async fn doctor_names_a_missing_permission() {
    let secret = crate::helpers::random_secret();
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("DINGTALK_SANDBOX", "true"),
            ("DINGTALK_CLIENT_ID", "doctor-app"),
            ("DINGTALK_CLIENT_SECRET", &secret),
            ("DINGTALK_CORP_IDS", CORP),
        ],
    )
    .await;
    let sandbox = app.url("/sandbox/dingtalk");
    // On a thread of its own: this test's thread serves the sandbox the command calls.
    let (data_dir, sandbox) = (app.settings.data_dir.clone(), sandbox.clone());
    let doctor = move |secret: String| {
        let mut command = crate::config::binary();
        command
            .current_dir(&data_dir)
            .env("DINGTALK_CLIENT_ID", "doctor-app")
            .env("DINGTALK_CLIENT_SECRET", secret)
            .env("DINGTALK_CORP_IDS", CORP)
            .env("DINGTALK_API_BASE", &sandbox)
            .env("DINGTALK_OAPI_BASE", &sandbox)
            .env("DATA_DIR", &data_dir)
            .arg("doctor");
        async move {
            actix_web::rt::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap()
        }
    };
    let healthy = doctor(secret.clone()).await;
    let text = String::from_utf8_lossy(&healthy.stdout).into_owned();
    assert_eq!(healthy.status.code(), Some(0), "{text}");
    assert!(!text.contains("FAIL"), "{text}");

    set_faults(&app, json!({"denied": ["qyapi_get_department_list"]})).await;
    let missing = doctor(secret.clone()).await;
    let text = String::from_utf8_lossy(&missing.stdout).into_owned();
    assert_eq!(missing.status.code(), Some(1), "{text}");
    assert!(
        text.contains("通讯录部门信息读权限 (qyapi_get_department_list)"),
        "{text}"
    );
    assert!(text.contains("without it: the department tree"), "{text}");
    assert_eq!(
        text.matches("FAIL").count(),
        1,
        "only the refused permission: {text}"
    );

    let wrong = doctor("not-the-secret".into()).await;
    let text = String::from_utf8_lossy(&wrong.stdout).into_owned();
    assert_eq!(wrong.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL app credentials"), "{text}");
    assert!(!text.contains(&secret), "the secret is never printed");
}

/// Without `DINGTALK_DIRECTORY` the admin's directory routes say it is off.
#[actix_web::test]
async fn the_directory_routes_say_when_it_is_off() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    app.create_user("boss", None, true);
    let login: Value = app.api_login("boss", PASSWORD).await.json().await.unwrap();
    let token = login["token"].as_str().unwrap();
    assert_eq!(error_code(sync(&app, token).await, 404).await, 40402);
    let overview = app
        .client
        .get(app.url("/api/admin/directory"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(overview, 404).await, 40402);
}
