//! Password login, shared by the login form and `POST /api/login`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header::USER_AGENT;
use tokio::sync::Semaphore;

use crate::accounts::{self, AccountError, LoginThrottle};
use crate::db::{self, DbError, DbPool};
use crate::tokens::{TokenError, TokenPair, TokenService};

/// argon2id takes ~19 MiB and tens of milliseconds per check; this bounds how many run at
/// once so a login flood cannot exhaust memory or the blocking pool.
pub struct PasswordChecks(pub Arc<Semaphore>);

impl PasswordChecks {
    pub fn new() -> PasswordChecks {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        PasswordChecks(Arc::new(Semaphore::new(cores * 2)))
    }
}

impl Default for PasswordChecks {
    fn default() -> Self {
        PasswordChecks::new()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed attempts")]
    Throttled(Duration),
    #[error("this account is deactivated")]
    Inactive,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl From<AccountError> for LoginError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Inactive => LoginError::Inactive,
            AccountError::Db(db) => LoginError::Db(db),
            _ => LoginError::BadCredentials,
        }
    }
}

pub struct LoginServices<'a> {
    pub pool: &'a DbPool,
    pub tokens: Arc<TokenService>,
    pub throttle: &'a LoginThrottle,
    pub checks: &'a PasswordChecks,
}

pub fn client_address(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default()
}

pub async fn log_in_with_password(
    services: LoginServices<'_>,
    req: &HttpRequest,
    username: &str,
    password: &str,
) -> Result<TokenPair, LoginError> {
    let address = client_address(req);
    services
        .throttle
        .check(username, &address)
        .map_err(LoginError::Throttled)?;
    let _permit = services
        .checks
        .0
        .acquire()
        .await
        .map_err(|_| DbError::Cancelled)?;
    let user_agent = req
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let tokens = services.tokens.clone();
    let (username_owned, password) = (username.to_owned(), password.to_owned());
    let result = db::run(
        services.pool,
        move |conn| -> Result<TokenPair, LoginError> {
            let user = accounts::authenticate_password(conn, &username_owned, &password)?;
            Ok(tokens.start_session(conn, &user, user_agent.as_deref())?)
        },
    )
    .await;
    match &result {
        Ok(pair) => {
            services.throttle.record_success(username);
            tracing::info!(
                security_event = "login",
                method = "password",
                userid = pair.userid,
                "signed in"
            );
        }
        Err(LoginError::BadCredentials) => {
            services.throttle.record_failure(username, &address);
            tracing::info!(
                security_event = "login_failed",
                method = "password",
                "wrong username or password"
            );
        }
        Err(_) => {}
    }
    result
}
