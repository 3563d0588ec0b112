//! The administrators' console without HTTP: the users with their linked accounts and the
//! counters, one user's details (links, live sessions, audit trail), creating a
//! provider-only user, the audited actions, and the OpenID clients with who granted them
//! what. The rules themselves are `accounts`'; this service runs them off the async
//! workers and hands the web layer the rows it shows.

use crate::accounts::{self, AccountError, AdminAction};
use crate::db::models::now;
use crate::db::{self, DbError, DbPool, admin, oidc, sessions, users};
use crate::domain::UserId;

pub use crate::db::admin::{AccountsPage, Counts, PAGE_SIZE};
pub use crate::db::models::{AuditEntry, LoginSession};

use crate::accounts::{LinkedAccount, User};
use crate::oidc::{GrantRow, OidcClient};

/// One user as their admin page shows them.
pub struct UserDetails {
    pub user: User,
    pub links: Vec<LinkedAccount>,
    /// Live login sessions (the SPA's, the browser's, OpenID clients').
    pub sessions: Vec<LoginSession>,
    pub audit: Vec<AuditEntry>,
}

/// A registered OpenID client and the people who allowed it.
pub type ClientWithGrants = (OidcClient, Vec<GrantRow>);

pub struct AdminService {
    pool: DbPool,
}

impl AdminService {
    pub fn new(pool: DbPool) -> AdminService {
        AdminService { pool }
    }

    /// A page of users matching `query` (newest first), and the counters.
    pub async fn accounts(
        &self,
        query: String,
        page: i64,
    ) -> Result<(AccountsPage, Counts), DbError> {
        db::run(&self.pool, move |conn| {
            Ok((
                admin::accounts_page(conn, &query, page)?,
                admin::counts(conn)?,
            ))
        })
        .await
    }

    /// `None`: no such user.
    pub async fn user(&self, id: UserId) -> Result<Option<UserDetails>, DbError> {
        db::run(&self.pool, move |conn| {
            let Some(user) = users::find_by_id(conn, id)? else {
                return Ok(None);
            };
            Ok(Some(UserDetails {
                links: users::links_of(conn, id)?,
                sessions: sessions::active_sessions(conn, id, now())?,
                audit: admin::audit_for(conn, id)?,
                user,
            }))
        })
        .await
    }

    /// A user an admin vouches for by phone (no password), audited.
    pub async fn create_user(
        &self,
        actor: User,
        username: String,
        name: Option<String>,
        phone: String,
    ) -> Result<User, AccountError> {
        db::run(&self.pool, move |conn| {
            accounts::create_provider_only_user(conn, &actor, username, name, phone)
        })
        .await
    }

    /// One audited action of `actor` on `target`.
    pub async fn act(
        &self,
        actor: User,
        target: UserId,
        action: AdminAction,
    ) -> Result<(), AccountError> {
        db::run(&self.pool, move |conn| {
            accounts::apply_admin_action(conn, &actor, target, action)
        })
        .await
    }

    /// Every registered OpenID client with the grants people gave it.
    pub async fn clients(&self) -> Result<Vec<ClientWithGrants>, DbError> {
        let (clients, grants) = db::run(&self.pool, |conn| -> Result<_, DbError> {
            Ok((oidc::list_clients(conn)?, oidc::grants(conn)?))
        })
        .await?;
        Ok(clients
            .into_iter()
            .map(|client| {
                let granted = grants
                    .iter()
                    .filter(|g| g.client_id == client.client_id)
                    .cloned()
                    .collect();
                (client, granted)
            })
            .collect())
    }
}
