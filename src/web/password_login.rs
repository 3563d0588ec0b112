//! Password login, shared by the login form and `POST /api/login`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header::USER_AGENT;

use super::rate_limit::client_address;
use crate::accounts::{self, AccountError, LoginThrottle};
use crate::db::{self, DbError, DbPool, users};
use crate::tokens::{TokenError, TokenPair, TokenService};

/// argon2id takes 19 MiB and tens of milliseconds per check, so checks run on their own
/// threads, one per two cores: a login flood queues there instead of filling the blocking
/// pool (and memory), and the other half of the machine keeps serving everything else
/// (README, performance section).
pub struct PasswordChecks {
    pool: rayon_core::ThreadPool,
}

impl PasswordChecks {
    pub fn new() -> PasswordChecks {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let threads = (cores / 2).max(1);
        let pool = rayon_core::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("argon2-{i}"))
            .build()
            .expect("starting the password-check threads");
        PasswordChecks { pool }
    }

    /// Runs `work` on the password pool and waits for it without blocking a worker.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, DbError> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            let _ = sender.send(work());
        });
        receiver.await.map_err(|_| DbError::Cancelled)
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

pub async fn log_in_with_password(
    services: LoginServices<'_>,
    req: &HttpRequest,
    username: &str,
    password: &str,
) -> Result<TokenPair, LoginError> {
    let trusted = req
        .app_data::<actix_web::web::Data<crate::config::Settings>>()
        .map(|settings| settings.trusted_proxies.clone())
        .unwrap_or_default();
    let address = client_address(req, &trusted)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    services
        .throttle
        .check(username, &address)
        .map_err(LoginError::Throttled)?;
    // A name no account can have (control characters: PostgreSQL rejects a NUL in a query
    // outright) is looked up nowhere, and answered like any unknown user.
    let user = if accounts::validate_username(username).is_ok() {
        let name = username.to_owned();
        db::run::<_, DbError, _>(services.pool, move |conn| {
            users::find_by_username(conn, &name)
        })
        .await?
    } else {
        None
    };
    let password = password.to_owned();
    let checked = services
        .checks
        .run(move || accounts::check_password(user, &password))
        .await?;
    let user = match checked {
        Ok(user) => user,
        Err(error) => {
            if matches!(error, AccountError::BadCredentials) {
                services.throttle.record_failure(username, &address);
                tracing::info!(
                    security_event = "login_failed",
                    method = "password",
                    "wrong username or password"
                );
            }
            return Err(error.into());
        }
    };
    let user_agent = req
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let tokens = services.tokens.clone();
    let pair = db::run(services.pool, move |conn| {
        tokens.start_session(conn, &user, user_agent.as_deref())
    })
    .await?;
    services.throttle.record_success(username);
    tracing::info!(
        security_event = "login",
        method = "password",
        userid = pair.userid,
        "signed in"
    );
    Ok(pair)
}
