//! Changes a person makes to their own account, and the actions an admin takes on
//! someone else's. Each runs in one transaction; admin actions write their audit entry in
//! the same transaction, so an action without its record cannot exist.

use super::{AccountError, hash_password, verify_password};
use crate::db::models::{NewAuditEntry, NewLinkedAccount, ROLE_ADMIN, ROLE_USER, User, now};
use crate::db::{DbConn, admin, sessions, users, write_transaction};
use crate::domain::{ProviderIdentity, ProviderKind, UserId};

/// Links a provider account to a signed-in user (from "My account").
pub fn link_to_user(
    conn: &mut DbConn,
    userid: UserId,
    identity: &ProviderIdentity,
) -> Result<(), AccountError> {
    write_transaction(conn, |conn| {
        if let Some(existing) = users::find_link(conn, identity.provider, &identity.uid)? {
            return if existing.userid == userid {
                Ok(())
            } else {
                Err(AccountError::LinkedElsewhere(identity.provider))
            };
        }
        if users::links_of(conn, userid)?
            .iter()
            .any(|l| l.types == identity.provider)
        {
            return Err(AccountError::AlreadyLinked(identity.provider));
        }
        users::insert_link(conn, &NewLinkedAccount::new(userid, identity)).map_err(|e| {
            if e.is_unique_violation() {
                AccountError::LinkedElsewhere(identity.provider)
            } else {
                e.into()
            }
        })
    })
}

/// Refused when it would leave the user no way to log in (no password, no other link).
fn unlink_in_transaction(
    conn: &mut DbConn,
    userid: UserId,
    types: ProviderKind,
) -> Result<(), AccountError> {
    let user = users::find_by_id(conn, userid)?.ok_or(AccountError::NotFound)?;
    let links = users::links_of(conn, userid)?;
    if !links.iter().any(|l| l.types == types) {
        return Err(AccountError::NotFound);
    }
    if user.password_hash.is_none() && links.len() == 1 {
        return Err(AccountError::LastLoginMethod);
    }
    admin::delete_link(conn, userid, types)?;
    Ok(())
}

pub fn unlink(conn: &mut DbConn, userid: UserId, types: ProviderKind) -> Result<(), AccountError> {
    write_transaction(conn, |conn| unlink_in_transaction(conn, userid, types))
}

/// The hash of a user's new password; changing an existing one needs the current one.
/// CPU-bound (argon2id): callers run it on the password-check threads.
pub fn new_password_hash(
    user: &User,
    current: Option<&str>,
    new: &str,
) -> Result<String, AccountError> {
    if user.password_hash.is_some()
        && !verify_password(user.password_hash.as_deref(), current.unwrap_or(""))
    {
        return Err(AccountError::BadCredentials);
    }
    Ok(hash_password(new)?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    Unlink(ProviderKind),
    EndSessions,
    Deactivate,
    Reactivate,
    GrantAdmin,
    RevokeAdmin,
}

impl AdminAction {
    /// `provider` is the number of `sflogin.types`; an unknown one makes no action.
    pub fn parse(name: &str, provider: Option<i32>) -> Option<AdminAction> {
        Some(match name {
            "unlink" => AdminAction::Unlink(match provider {
                Some(number) => ProviderKind::from_number(number)?,
                None => ProviderKind::DingTalk,
            }),
            "end-sessions" => AdminAction::EndSessions,
            "deactivate" => AdminAction::Deactivate,
            "reactivate" => AdminAction::Reactivate,
            "grant-admin" => AdminAction::GrantAdmin,
            "revoke-admin" => AdminAction::RevokeAdmin,
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            AdminAction::Unlink(_) => "unlink",
            AdminAction::EndSessions => "end-sessions",
            AdminAction::Deactivate => "deactivate",
            AdminAction::Reactivate => "reactivate",
            AdminAction::GrantAdmin => "grant-admin",
            AdminAction::RevokeAdmin => "revoke-admin",
        }
    }

    fn detail(&self) -> String {
        match self {
            AdminAction::Unlink(types) => format!("provider={}", types.name()),
            _ => String::new(),
        }
    }
}

pub fn apply_admin_action(
    conn: &mut DbConn,
    actor: &User,
    target: UserId,
    action: AdminAction,
) -> Result<(), AccountError> {
    // An admin cannot lock themselves out; another admin can.
    if target == actor.id && matches!(action, AdminAction::Deactivate | AdminAction::RevokeAdmin) {
        return Err(AccountError::SelfLockout);
    }
    write_transaction(conn, |conn| {
        users::find_by_id(conn, target)?.ok_or(AccountError::NotFound)?;
        match action {
            AdminAction::Unlink(types) => unlink_in_transaction(conn, target, types)?,
            AdminAction::EndSessions => {
                sessions::revoke_all_sessions(conn, target, "ended by an admin")?;
            }
            AdminAction::Deactivate => {
                users::set_active(conn, target, false)?;
                sessions::revoke_all_sessions(conn, target, "deactivated")?;
            }
            AdminAction::Reactivate => {
                users::set_active(conn, target, true)?;
            }
            AdminAction::GrantAdmin => {
                users::set_role(conn, target, ROLE_ADMIN)?;
            }
            AdminAction::RevokeAdmin => {
                users::set_role(conn, target, ROLE_USER)?;
            }
        }
        record(conn, actor, target, action.name(), &action.detail())
    })?;
    tracing::info!(
        event = "admin_action",
        admin = %actor.id,
        %target,
        action = action.name(),
        "admin action"
    );
    Ok(())
}

/// An admin pre-creates a provider-only user: a phone, no password. Their first provider
/// login with that number binds to them (`linking`); until then nobody can log in as them.
pub fn create_provider_only_user(
    conn: &mut DbConn,
    actor: &User,
    username: String,
    name: Option<String>,
    phone: String,
) -> Result<User, AccountError> {
    write_transaction(conn, |conn| {
        let user = super::create_local_user(
            conn,
            super::NewLocalUser {
                username,
                name,
                phone: Some(phone),
                password: None,
                admin: false,
            },
        )?;
        let detail = format!("phone={}", user.phone.as_deref().unwrap_or(""));
        record(conn, actor, user.id, "create-user", &detail)?;
        Ok(user)
    })
}

/// Ends every login session of `target` (the actor's own, or as an admin someone else's),
/// with its audit entry in the same transaction.
pub fn end_all_sessions(
    conn: &mut DbConn,
    actor: &User,
    target: UserId,
) -> Result<usize, AccountError> {
    let reason = if actor.id == target {
        "ended by user"
    } else {
        "ended by an admin"
    };
    write_transaction(conn, |conn| {
        // Nobody to end sessions of, and no audit row that would point at nobody.
        if users::find_by_id(conn, target)?.is_none() {
            return Ok(0);
        }
        let ended = sessions::revoke_all_sessions(conn, target, reason)?;
        record(conn, actor, target, AdminAction::EndSessions.name(), "")?;
        Ok(ended)
    })
}

fn record(
    conn: &mut DbConn,
    actor: &User,
    target: UserId,
    action: &str,
    detail: &str,
) -> Result<(), AccountError> {
    admin::record(
        conn,
        &NewAuditEntry {
            actor_id: Some(actor.id),
            actor_username: &actor.username,
            action,
            target_user_id: Some(target),
            detail,
            created_at: now(),
        },
    )?;
    Ok(())
}
