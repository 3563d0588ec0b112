//! Signing people in and out, as one service beside `accounts` and `tokens`: password
//! login (throttled, argon2 on its own threads), provider login (bind or register and the
//! login session in one transaction, or proof first when a phone number is owned), linking
//! a provider, one-time handoff codes, refresh, ending one or all sessions, changing a
//! password, unlinking. Every database call runs off
//! the async workers. The web layer only translates HTTP to these calls and back; nothing
//! here knows HTTP.

mod failed_logins;
mod lifecycle;
mod password_checks;
mod purge;
mod request_budget;
mod used_states;

pub use failed_logins::FailedLogins;
pub use password_checks::{PasswordCheckError, PasswordChecks};
pub use purge::{purge_ended_sessions, purge_periodically};
pub use request_budget::RequestBudget;
pub use used_states::UsedStates;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::accounts::{self, AccountError, LinkOutcome, PhoneMatch, SignupPolicy};
use crate::db::models::{LinkedAccount, User};
use crate::db::oidc::UserGrant;
use crate::db::{self, DbConn, DbError, DbPool, sessions, users, write_transaction};
use crate::domain::{ProviderIdentity, ProviderKind, UserId};
use crate::tokens::{Authenticated, TokenError, TokenPair, TokenService};

/// How long a handoff code may wait for its exchange.
const HANDOFF_CODE_SECONDS: i64 = 60;

/// Who is asking, as far as the login rules care: the client's address (for throttling)
/// and its User-Agent (shown in the list of sessions).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub address: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// A login session as a browser or a token names it.
#[derive(Debug, Clone)]
pub struct SessionRef {
    pub userid: UserId,
    pub session_id: String,
}

#[derive(thiserror::Error)]
pub enum LoginError {
    /// One answer for an unknown user, a wrong password and a user without one.
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed attempts")]
    Throttled(Duration),
    #[error("this account is deactivated")]
    Inactive,
    /// The session that started a linking round trip is gone (logged out, revoked).
    #[error("the login session has ended")]
    SessionEnded,
    /// A rule of `accounts` said no (already linked elsewhere, last way to log in, …).
    #[error(transparent)]
    Refused(AccountError),
    #[error(transparent)]
    PasswordChecks(#[from] PasswordCheckError),
    #[error("the database failed")]
    Db(#[from] DbError),
}

crate::report::debug_as_chain!(LoginError);

impl From<AccountError> for LoginError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Inactive => LoginError::Inactive,
            AccountError::BadCredentials => LoginError::BadCredentials,
            AccountError::Db(db) => LoginError::Db(db),
            other => LoginError::Refused(other),
        }
    }
}

impl From<TokenError> for LoginError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Db(db) => LoginError::Db(db),
            TokenError::Inactive => LoginError::Inactive,
            _ => LoginError::SessionEnded,
        }
    }
}

impl From<diesel::result::Error> for LoginError {
    fn from(error: diesel::result::Error) -> Self {
        LoginError::Db(DbError::Query(error))
    }
}

/// How a provider login ended.
#[derive(Debug)]
pub enum ProviderLogin {
    SignedIn(TokenPair),
    /// The provider's phone number belongs to an account that can already log in. Nothing
    /// was written: the person proves they own it (`link_with_password`) or continues as a
    /// new account (`register_instead`).
    ProofNeeded(ProviderIdentity),
}

pub struct LoginService {
    pool: DbPool,
    tokens: Arc<TokenService>,
    throttle: FailedLogins,
    used: UsedStates,
    checks: PasswordChecks,
    signup: SignupPolicy,
}

impl LoginService {
    /// `password_queue`: how many password checks may wait at once; `signup`: who may
    /// come in through a provider for the first time.
    pub fn new(
        pool: DbPool,
        tokens: TokenService,
        password_queue: usize,
        signup: SignupPolicy,
        (throttle, used): (FailedLogins, UsedStates),
    ) -> LoginService {
        LoginService {
            pool,
            tokens: Arc::new(tokens),
            throttle,
            used,
            checks: PasswordChecks::new(password_queue),
            signup,
        }
    }

    pub fn signup(&self) -> SignupPolicy {
        self.signup
    }

    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// Runs `f` on a pooled connection off the async workers.
    async fn db<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        db::run(&self.pool, f).await
    }

    /// Whether the database answers and takes writes within `budget`: without both, nobody
    /// can sign in (the readiness probe).
    pub async fn ready(&self, budget: Duration) -> Result<(), DbError> {
        db::run_within(&self.pool, budget, |conn| -> Result<(), DbError> {
            users::ping(conn)?;
            db::check_writable(conn)
        })
        .await
    }

    /// The database connections in use and idle (for the metrics).
    pub fn database_connections(&self) -> (u32, u32) {
        self.pool.connections()
    }

    /// What the person's account page lists: their linked providers and the
    /// applications (OpenID clients) they allowed.
    pub async fn account_overview(
        &self,
        userid: UserId,
    ) -> Result<(Vec<LinkedAccount>, Vec<UserGrant>), DbError> {
        self.db(move |conn| {
            Ok((
                users::links_of(conn, userid)?,
                db::oidc::grants_of(conn, userid)?,
            ))
        })
        .await
    }

    /// Whether a login session still counts, and for whom, as of now: one indexed lookup,
    /// so logout, revocation, deactivation and role changes apply from the next request.
    pub async fn authenticate(&self, session: SessionRef) -> Result<Authenticated, TokenError> {
        self.db(move |conn| TokenService::load_session(conn, &session.session_id, session.userid))
            .await
    }

    pub async fn password_login(
        &self,
        client: &ClientInfo,
        username: &str,
        password: &str,
    ) -> Result<TokenPair, LoginError> {
        let user = self.check_password(client, username, password).await?;
        let pair = self
            .in_transaction(client, move |_| Ok((user, None)), "password")
            .await?;
        self.throttle.record_success(username).await;
        Ok(pair)
    }

    /// The user `username` if `password` is theirs: throttled per account and address,
    /// one argon2 check whatever the answer (threat T-29).
    async fn check_password(
        &self,
        client: &ClientInfo,
        username: &str,
        password: &str,
    ) -> Result<User, LoginError> {
        let address = client.address.map(|ip| ip.to_string()).unwrap_or_default();
        self.throttle
            .check(username, &address)
            .await
            .map_err(|wait| {
                tracing::warn!(
                    event = "lockout",
                    "too many failed logins for this account or address"
                );
                crate::metrics::login("password", "throttled");
                crate::metrics::rate_limited("failed_logins");
                LoginError::Throttled(wait)
            })?;
        // A name no account can have (control characters: PostgreSQL rejects a NUL in a
        // query outright) is looked up nowhere, and answered like any unknown user.
        let user = if accounts::validate_username(username).is_ok() {
            let name = username.to_owned();
            self.db::<_, DbError, _>(move |conn| users::find_by_username(conn, &name))
                .await?
        } else {
            None
        };
        let password = password.to_owned();
        let checked = self
            .checks
            .run(move || accounts::check_password(user, &password))
            .await?;
        if let Err(AccountError::BadCredentials) = &checked {
            self.throttle.record_failure(username, &address).await;
            crate::metrics::login("password", "failed");
            tracing::info!(
                event = "login_failed",
                method = "password",
                "wrong username or password"
            );
        }
        Ok(checked?)
    }

    /// Finds or makes the user with `who` and starts their login session, in one short
    /// write transaction: a failure leaves nothing half-written.
    async fn in_transaction<F>(
        &self,
        client: &ClientInfo,
        who: F,
        method: &'static str,
    ) -> Result<TokenPair, LoginError>
    where
        F: FnOnce(&mut DbConn) -> Result<(User, Option<LinkOutcome>), LoginError> + Send + 'static,
    {
        let tokens = self.tokens.clone();
        let user_agent = client.user_agent.clone();
        let signed_in = self
            .db(move |conn| {
                write_transaction(conn, |conn| -> Result<_, LoginError> {
                    let (user, outcome) = who(conn)?;
                    let pair = tokens.start_session(conn, &user, user_agent.as_deref(), method)?;
                    Ok((pair, outcome))
                })
            })
            .await;
        let (pair, outcome) = match signed_in {
            Ok(signed_in) => signed_in,
            Err(error) => {
                let outcome = match &error {
                    LoginError::Refused(AccountError::PhoneOwned) => "proof_needed",
                    LoginError::Refused(AccountError::SignupClosed) => "refused_signup",
                    LoginError::Inactive => "refused_inactive",
                    _ => "failed",
                };
                crate::metrics::login(method, outcome);
                if outcome != "proof_needed" {
                    tracing::info!(event = "login_failed", method, outcome, "sign-in refused");
                }
                return Err(error);
            }
        };
        let outcome = match outcome {
            Some(LinkOutcome::BoundByPhone) => "bound",
            Some(LinkOutcome::Registered) => "registered",
            Some(LinkOutcome::Returning) | None => "returning",
        };
        crate::metrics::login(method, outcome);
        tracing::info!(event = "login", method, userid = %pair.userid, outcome, "signed in");
        Ok(pair)
    }

    /// Signs in whoever `identity` is: the linked user, or a bound or new one (see
    /// `accounts::sign_in_with_provider`) — unless its phone number belongs to an account
    /// that can already log in, which needs proof first.
    pub async fn provider_login(
        &self,
        client: &ClientInfo,
        identity: ProviderIdentity,
    ) -> Result<ProviderLogin, LoginError> {
        let method = identity.provider.name();
        let attempt = identity.clone();
        let policy = self.signup;
        let signed_in = self
            .in_transaction(
                client,
                move |conn| {
                    let (user, outcome) = accounts::sign_in_with_provider(
                        conn,
                        &attempt,
                        PhoneMatch::BindUnclaimed,
                        policy,
                    )?;
                    Ok((user, Some(outcome)))
                },
                method,
            )
            .await;
        match signed_in {
            Ok(pair) => Ok(ProviderLogin::SignedIn(pair)),
            Err(LoginError::Refused(AccountError::PhoneOwned)) => {
                tracing::info!(
                    event = "phone_owned",
                    provider = method,
                    "a provider identity's phone belongs to an account that can log in: proof needed"
                );
                Ok(ProviderLogin::ProofNeeded(identity))
            }
            Err(error) => Err(error),
        }
    }

    /// The person whose phone number matched an existing account chose a new account.
    pub async fn register_instead(
        &self,
        client: &ClientInfo,
        identity: ProviderIdentity,
    ) -> Result<TokenPair, LoginError> {
        let method = identity.provider.name();
        let policy = self.signup;
        self.in_transaction(
            client,
            move |conn| {
                let (user, outcome) = accounts::sign_in_with_provider(
                    conn,
                    &identity,
                    PhoneMatch::RegisterAnyway,
                    policy,
                )?;
                Ok((user, Some(outcome)))
            },
            method,
        )
        .await
    }

    /// The person proved they own an account with its password: `identity` is linked to it
    /// and they are signed in as its user.
    pub async fn link_with_password(
        &self,
        client: &ClientInfo,
        identity: ProviderIdentity,
        username: &str,
        password: &str,
    ) -> Result<TokenPair, LoginError> {
        let user = self.check_password(client, username, password).await?;
        let userid = user.id;
        let provider = identity.provider;
        let pair = self
            .in_transaction(
                client,
                move |conn| {
                    accounts::link_to_user(conn, user.id, &identity)?;
                    Ok((user, None))
                },
                "password",
            )
            .await?;
        self.throttle.record_success(username).await;
        tracing::info!(event = "link", %provider, %userid, "linked after proving the password");
        Ok(pair)
    }

    /// Links `identity` to the user of `session`, which must still be alive.
    pub async fn link_provider(
        &self,
        session: SessionRef,
        identity: ProviderIdentity,
    ) -> Result<(), LoginError> {
        let userid = session.userid;
        let provider = identity.provider;
        self.db(move |conn| -> Result<(), LoginError> {
            TokenService::load_session(conn, &session.session_id, session.userid)?;
            Ok(accounts::link_to_user(conn, session.userid, &identity)?)
        })
        .await?;
        tracing::info!(
            event = "link",
            %provider,
            %userid,
            "linked a provider account"
        );
        Ok(())
    }

    /// Sets a first password, or changes it given the current one. Every other login
    /// session of the user ends with it (whoever knew the old password, or held a token,
    /// is out: threat T-48); the session that changed it stays.
    pub async fn change_password(
        &self,
        session: SessionRef,
        user: User,
        current: Option<String>,
        new: String,
    ) -> Result<(), LoginError> {
        let userid = user.id;
        let hash = self
            .checks
            .run(move || accounts::new_password_hash(&user, current.as_deref(), &new))
            .await??;
        let ended = self
            .db(move |conn| {
                write_transaction(conn, |conn| -> Result<usize, DbError> {
                    users::set_password_hash(conn, userid, &hash)?;
                    sessions::revoke_other_sessions(
                        conn,
                        userid,
                        &session.session_id,
                        "password changed",
                    )
                })
            })
            .await?;
        tracing::info!(event = "password_set", %userid, other_sessions_ended = ended, "password set");
        Ok(())
    }

    /// Refused when it would leave the user no way to log in.
    pub async fn unlink(&self, userid: UserId, provider: ProviderKind) -> Result<(), LoginError> {
        self.db(move |conn| accounts::unlink(conn, userid, provider))
            .await
            .map_err(LoginError::from)?;
        tracing::info!(event = "unlink", %userid, %provider, "unlinked an account");
        Ok(())
    }
}
