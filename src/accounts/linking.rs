//! First-login policy for a third-party account, written down (ASVS 6.1.3):
//! 1. a link for (provider, uid) exists → its user; else a link with the same unionId
//!    (the id that survives re-creating the DingTalk app) → its user, and its uid is updated;
//! 2. else a user with the same phone (E.164, with DingTalk's stateCode; WeChat and Weibo
//!    give no phone, so their first login never binds by phone):
//!    - who has no way to log in yet (no password, no link; an admin pre-created them for
//!      this) and is not an admin → bound to them;
//!    - anyone else → nothing is written: the person must prove they own that account (its
//!      password) or continue as a new account (`AccountError::PhoneOwned`). Phone numbers
//!      are recycled and the provider's word on a number is no proof (threat T-16,
//!      Keycloak's "first broker login");
//!    - an empty or masked phone matches nobody;
//! 3. else register a new user without a password: name = nick, username = the phone,
//!    or a generated one when there is no phone or the name is taken.
//!
//! All of it runs in one write transaction, so a failure leaves no half-written rows and
//! two first logins of the same account at the same moment end with one user and one link.

use diesel::Connection;
use rand::Rng;

use super::AccountError;
use crate::db::models::{NewLinkedAccount, NewUser, ROLE_USER, User, now};
use crate::db::users::{self, LinkRefresh};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::{Phone, ProviderIdentity, ProviderKind, SignupPolicy, UNIONID_UID_PREFIX};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Returning,
    BoundByPhone,
    Registered,
}

/// What a first login does with a user who has the same phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneMatch {
    /// Bind to them only if they cannot log in yet; refuse (`PhoneOwned`) otherwise.
    BindUnclaimed,
    /// The person chose a new account: register, keeping the phone only if it is free.
    RegisterAnyway,
}

/// How often a first login retries after losing a race to a concurrent one.
const RACE_RETRIES: usize = 3;

pub fn sign_in_with_provider(
    conn: &mut DbConn,
    identity: &ProviderIdentity,
    phone_match: PhoneMatch,
    policy: SignupPolicy,
) -> Result<(User, LinkOutcome), AccountError> {
    write_transaction(conn, |conn| {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(user) = returning_user(conn, identity)? {
                return active(user).map(|u| (u, LinkOutcome::Returning));
            }
            match first_login(conn, identity, phone_match, policy) {
                Err(AccountError::Db(error))
                    if error.is_unique_violation() && attempt < RACE_RETRIES =>
                {
                    // Another login of the same account (or for the same username) won the
                    // race; its rows are committed now, so look again.
                    continue;
                }
                // A concurrent first login of the same person may have committed its user
                // and link between our lookup of the link and of the phone (each statement
                // sees what is committed when it starts): the "owner" may be this very
                // identity's user. Looking once more finds the link if so.
                Err(AccountError::PhoneOwned) if attempt == 1 => continue,
                result => return result,
            }
        }
    })
}

fn active(user: User) -> Result<User, AccountError> {
    if user.is_active {
        Ok(user)
    } else {
        Err(AccountError::Inactive)
    }
}

fn returning_user(
    conn: &mut DbConn,
    identity: &ProviderIdentity,
) -> Result<Option<User>, AccountError> {
    let mut found = users::find_link_with_user(conn, identity.provider, &identity.uid)?;
    if found.is_none()
        && let Some(unionid) = identity.unionid.as_deref()
        && let Some(link) = users::find_link_by_unionid(conn, identity.provider, unionid)?
    {
        let user = users::find_by_id(conn, link.userid)?
            .ok_or(DbError::Query(diesel::result::Error::NotFound))?;
        found = Some((link, user));
    }
    let Some((link, user)) = found else {
        return Ok(None);
    };
    if user.is_active {
        let mut refresh = link_refresh(identity);
        // An in-client login knows no openId: the web flow's stays.
        if identity.uid.starts_with(UNIONID_UID_PREFIX) {
            refresh.uid = &link.uid;
        }
        users::refresh_link(conn, link.id, &refresh)?;
    }
    Ok(Some(user))
}

fn link_refresh(identity: &ProviderIdentity) -> LinkRefresh<'_> {
    LinkRefresh {
        uid: &identity.uid,
        unionid: identity.unionid.as_deref(),
        nick: &identity.nick,
        avatar_url: identity.avatar_url.as_deref(),
        phone: identity.phone.as_ref().map(|p| p.as_str()),
    }
}

fn first_login(
    conn: &mut DbConn,
    identity: &ProviderIdentity,
    phone_match: PhoneMatch,
    policy: SignupPolicy,
) -> Result<(User, LinkOutcome), AccountError> {
    // A savepoint: when a concurrent login wins, both the user and the link are undone.
    conn.transaction(|conn| {
        let owner = match &identity.phone {
            Some(phone) => users::find_by_phone(conn, phone.as_str())?,
            None => None,
        };
        let binding = phone_match == PhoneMatch::BindUnclaimed && policy.bind_by_phone;
        let (user, outcome) = match owner {
            Some(owner) if binding => {
                if owner.is_admin() || !unclaimed(conn, &owner)? {
                    return Err(AccountError::PhoneOwned);
                }
                (active(owner)?, LinkOutcome::BoundByPhone)
            }
            _ if !policy.open => return Err(AccountError::SignupClosed),
            // The number stays with its owner; the new user has none.
            Some(_) => (register(conn, identity, None)?, LinkOutcome::Registered),
            None => (
                register(conn, identity, identity.phone.as_ref())?,
                LinkOutcome::Registered,
            ),
        };
        users::insert_link(conn, &NewLinkedAccount::new(user.id, identity))?;
        Ok((user, outcome))
    })
}

/// A user nobody can log in as yet: no password and no linked account.
fn unclaimed(conn: &mut DbConn, user: &User) -> Result<bool, AccountError> {
    Ok(user.password_hash.is_none() && users::links_of(conn, user.id)?.is_empty())
}

fn register(
    conn: &mut DbConn,
    identity: &ProviderIdentity,
    phone: Option<&Phone>,
) -> Result<User, AccountError> {
    let preferred = phone.map(|p| p.local_form().to_owned());
    let username = match preferred {
        Some(name) if !users::username_taken(conn, &name)? => name,
        _ => generated_username(conn, identity.provider)?,
    };
    let name = if identity.nick.trim().is_empty() {
        username.clone()
    } else {
        identity.nick.clone()
    };
    let at = now();
    Ok(users::insert_user(
        conn,
        &NewUser {
            username: &username,
            name: &name,
            phone: phone.map(Phone::as_str),
            // No usable password: the tutorial's "password = phone" let anyone who knew
            // the number log in.
            password_hash: None,
            role: ROLE_USER,
            is_active: true,
            created_at: at,
            updated_at: at,
        },
    )?)
}

/// `wechat_1a2b3c4d`: unique, and says where the person came from.
fn generated_username(conn: &mut DbConn, provider: ProviderKind) -> Result<String, AccountError> {
    loop {
        let candidate = format!("{provider}_{:08x}", rand::rng().random::<u32>());
        if !users::username_taken(conn, &candidate)? {
            return Ok(candidate);
        }
    }
}
