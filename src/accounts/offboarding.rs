//! A person's life in the organisation, applied to their account here. Leaving ends
//! everything they hold: the user is deactivated and every login session ends (the SPA's
//! refresh-token families and every OpenID client's tokens are sessions too); the guard
//! reads both on every request, so this holds on every instance at the next request; the
//! OpenID clients that registered a back-channel logout URI get a logout token from the
//! outbox. A rehire undoes only what leaving did: an administrator's deactivation stays.

use crate::db::admin;
use crate::db::models::{NewAuditEntry, now};
use crate::db::{DbConn, DbError, directory, oidc, sessions, users};
use crate::domain::UserId;

/// Who the audit log names as the actor of the directory's changes.
const DIRECTORY_ACTOR: &str = "directory";

/// What leaving did to one local user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offboarded {
    pub userid: UserId,
    /// Login sessions that were live and are now ended.
    pub sessions_ended: usize,
    /// Logout tokens queued for OpenID clients (Back-Channel Logout).
    pub applications_told: usize,
}

/// The person with this DingTalk unionId left (`via`: how we learnt it). Runs in the
/// caller's transaction; users not linked to them are never touched.
pub fn offboard(conn: &mut DbConn, unionid: &str, via: &str) -> Result<Vec<Offboarded>, DbError> {
    let mut done = Vec::new();
    for userid in directory::users_linked_to(conn, unionid)? {
        let deactivated = users::deactivate_for_leaving(conn, userid)?;
        // Before the sessions end: the applications that asked to hear of it are told,
        // from the outbox, after the commit.
        let told = oidc::queue_backchannel_logouts(conn, userid)?;
        let sessions_ended = sessions::revoke_all_sessions(conn, userid, "left the organisation")?;
        if deactivated || sessions_ended > 0 {
            audit(conn, userid, "offboard", &format!("via={via}"))?;
            done.push(Offboarded {
                userid,
                sessions_ended,
                applications_told: told,
            });
        }
    }
    Ok(done)
}

/// The person with this unionId is back: users whom leaving deactivated are active again.
/// Returns who was reactivated.
pub fn rehire(conn: &mut DbConn, unionid: &str, via: &str) -> Result<Vec<UserId>, DbError> {
    let mut back = Vec::new();
    for userid in directory::users_linked_to(conn, unionid)? {
        if users::reactivate_after_rehire(conn, userid)? {
            audit(conn, userid, "rehire", &format!("via={via}"))?;
            back.push(userid);
        }
    }
    Ok(back)
}

fn audit(conn: &mut DbConn, target: UserId, action: &str, detail: &str) -> Result<(), DbError> {
    admin::record(
        conn,
        &NewAuditEntry {
            actor_id: None,
            actor_username: DIRECTORY_ACTOR,
            action,
            target_user_id: Some(target),
            detail,
            created_at: now(),
        },
    )
}
