//! Driving the app as a browser or a program would: the provider round trips, forms with
//! their CSRF tokens, the API calls, and reading what came back.

use super::*;

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub fn counts(&self) -> Counts {
        let mut conn = self.pool.get().unwrap();
        use diesel::prelude::*;
        use dingtalk_login::db::schema::{login_sessions, refresh_tokens, sflogin, susers};
        let users = susers::table.count().get_result(&mut *conn).unwrap();
        let links = sflogin::table.count().get_result(&mut *conn).unwrap();
        let sessions = login_sessions::table
            .count()
            .get_result(&mut *conn)
            .unwrap();
        let refresh_tokens = refresh_tokens::table
            .count()
            .get_result(&mut *conn)
            .unwrap();
        Counts {
            users,
            links,
            sessions,
            refresh_tokens,
        }
    }

    pub fn conn(&self) -> db::PooledConn {
        self.pool.get().unwrap()
    }

    /// `GET /user/dingtalk/authorize` in `browser`; returns DingTalk's URL and the state in it.
    pub async fn start_dingtalk_login(&self, browser: &reqwest::Client) -> (String, String) {
        self.start_login(browser, "dingtalk").await
    }

    /// `GET /user/{provider}/authorize` in `browser`; returns the provider's URL and the
    /// state in it.
    pub async fn start_login(&self, browser: &reqwest::Client, provider: &str) -> (String, String) {
        let response = browser
            .get(self.url(&format!("/user/{provider}/authorize")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        let location = location(&response);
        let state = query_param(&location, "state").expect("state in the authorize URL");
        (location, state)
    }

    /// The whole login with `provider` in `browser` as a sandbox identity; returns the
    /// callback's response.
    pub async fn provider_login(
        &self,
        browser: &reqwest::Client,
        provider: &str,
        identity: &[(&str, &str)],
    ) -> reqwest::Response {
        let (authorize_url, _) = self.start_login(browser, provider).await;
        let callback = self.sandbox_consent(&authorize_url, identity).await;
        browser.get(callback).send().await.unwrap()
    }

    /// "Link" `provider` on the account page of `client`; returns its authorize URL.
    pub async fn start_linking_to(&self, client: &reqwest::Client, provider: &str) -> String {
        let action = format!("/account/link/{provider}");
        let start = self.submit(client, "/account", &action, &[]).await;
        assert_eq!(start.status(), 303, "linking starts");
        location(&start)
    }

    /// Agrees on the sandbox consent page as `identity` (form fields) and returns the
    /// callback URL the sandbox redirects to.
    pub async fn sandbox_consent(&self, authorize_url: &str, identity: &[(&str, &str)]) -> String {
        let page = reqwest::get(authorize_url).await.unwrap();
        assert_eq!(page.status(), 200, "the sandbox consent page opens");
        driver::agree(&browser(), authorize_url, identity)
            .await
            .expect("the sandbox agrees")
    }

    /// Refuses on the sandbox page behind `authorize_url`; returns the callback URL.
    pub async fn sandbox_refusal(&self, authorize_url: &str) -> String {
        driver::decide(&browser(), authorize_url, "deny", &[])
            .await
            .expect("the sandbox refuses")
    }

    /// The page at `path` as a browser that prefers English sees it.
    pub async fn page_in_english(&self, client: &reqwest::Client, path: &str) -> String {
        let response = client
            .get(self.url(path))
            .header("Accept-Language", "en-US,en;q=0.9,zh;q=0.5")
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    }

    /// The whole DingTalk login in `browser` as a sandbox identity; returns the callback's response.
    pub async fn dingtalk_login(
        &self,
        browser: &reqwest::Client,
        identity: &[(&str, &str)],
    ) -> reqwest::Response {
        let (authorize_url, _) = self.start_dingtalk_login(browser).await;
        let callback = self.sandbox_consent(&authorize_url, identity).await;
        browser.get(callback).send().await.unwrap()
    }

    pub fn create_user(
        &self,
        username: &str,
        phone: Option<&str>,
        admin: bool,
    ) -> dingtalk_login::db::models::User {
        let mut conn = self.conn();
        dingtalk_login::accounts::create_local_user(
            &mut conn,
            dingtalk_login::accounts::NewLocalUser {
                username: username.into(),
                name: None,
                phone: phone.map(str::to_owned),
                password: Some(PASSWORD.into()),
                admin,
            },
        )
        .unwrap()
    }

    /// A user an admin made for a provider login: a phone, no password, no link yet.
    pub fn create_provider_only_user(
        &self,
        username: &str,
        phone: &str,
    ) -> dingtalk_login::db::models::User {
        dingtalk_login::accounts::create_local_user(
            &mut self.conn(),
            dingtalk_login::accounts::NewLocalUser {
                username: username.into(),
                name: None,
                phone: Some(phone.into()),
                password: None,
                admin: false,
            },
        )
        .unwrap()
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// No user, link, session or refresh token exists.
pub fn assert_nothing_written(app: &TestApp) {
    let counts = app.counts();
    assert_eq!(
        (
            counts.users,
            counts.links,
            counts.sessions,
            counts.refresh_tokens
        ),
        (0, 0, 0, 0)
    );
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    driver::query_param(url, name)
}

/// The four values of the SPA handoff `…/#/login?userid=..&username=..&token=..&refreshToken=..`.
pub fn handoff(location: &str) -> HashMap<String, String> {
    driver::handoff_values(location).unwrap_or_else(|| panic!("a handoff to #/login: {location}"))
}

impl TestApp {
    pub async fn api_login(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/login"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Logs a new DingTalk (sandbox) user in and returns the handoff values.
    pub async fn dingtalk_tokens(&self, identity: &[(&str, &str)]) -> HashMap<String, String> {
        handoff(&location(&self.dingtalk_login(&browser(), identity).await))
    }

    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/token/refresh"))
            .json(&serde_json::json!({ "refreshToken": refresh_token }))
            .send()
            .await
            .unwrap()
    }
}

/// The `{"code", "msg"}` of an error answer, after checking its status.
pub async fn error_code(response: reqwest::Response, status: u16) -> i64 {
    assert_eq!(response.status(), status);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["msg"].is_string(), "{body}");
    body["code"].as_i64().unwrap()
}

pub const PASSWORD: &str = "correct horse battery staple";

/// The hidden CSRF field of the page at `path`, fetched the way a browser does.
pub async fn csrf_from(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    csrf_at(client, &app.url(path)).await
}

/// The CSRF token of the form on the page at `url`.
pub async fn csrf_at(client: &reqwest::Client, url: &str) -> String {
    let html = client.get(url).send().await.unwrap().text().await.unwrap();
    csrf_in(&html)
}

/// The CSRF token of the form in `html`.
pub fn csrf_in(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("a CSRF field in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub async fn csrf_token(app: &TestApp, client: &reqwest::Client) -> String {
    csrf_from(app, client, "/login").await
}

impl TestApp {
    /// The HTML of the page at `path`, as `client` sees it.
    pub async fn page(&self, client: &reqwest::Client, path: &str) -> String {
        let response = client.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// Submits a form the way a browser does: the CSRF token from the page at `page`,
    /// then `fields`, posted to `action`.
    pub async fn submit(
        &self,
        client: &reqwest::Client,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let csrf = csrf_from(self, client, page).await;
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        client
            .post(self.url(action))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// DingTalk's redirect back to `client`, with `code` and `state` as given (not
    /// encoded: tests pass malformed ones on purpose).
    pub async fn callback(
        &self,
        client: &reqwest::Client,
        code: &str,
        state: &str,
    ) -> reqwest::Response {
        let path = format!("/user/dingtalkCallback/?authCode={code}&state={state}");
        client.get(self.url(&path)).send().await.unwrap()
    }

    /// "Link DingTalk" on the account page of `client`; returns DingTalk's authorize URL.
    pub async fn start_linking(&self, client: &reqwest::Client) -> String {
        self.start_linking_to(client, "dingtalk").await
    }

    /// A browser signed in (through the login form) as a new user `username`.
    pub async fn signed_in_browser(&self, username: &str, admin: bool) -> reqwest::Client {
        self.create_user(username, None, admin);
        let client = browser();
        self.form_login(&client, username).await;
        client
    }

    /// Signs `client` in through the login form; returns the 303 that hands the tokens over.
    pub async fn form_login(&self, client: &reqwest::Client, username: &str) -> reqwest::Response {
        let fields = [("username", username), ("password", PASSWORD)];
        let response = self.submit(client, "/login", "/login", &fields).await;
        assert_eq!(response.status(), 303, "form login of {username}");
        response
    }
}
