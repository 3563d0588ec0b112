//! What the directory needs from DingTalk, checked by calling it: the app's credentials,
//! then each permission, so a missing one is named as DingTalk's console names it, with
//! what stops working without it (peers' most common report: "the sync succeeded and found
//! no users", an app without the department permission).

use crate::providers::ProviderError;
use crate::providers::dingtalk::directory::{DirectoryApi, ROOT_DEPARTMENT};

#[derive(Debug)]
pub enum Outcome {
    Ok(String),
    /// The app lacks a permission (by its code and console name).
    Missing {
        permission: String,
        console_name: &'static str,
    },
    /// Another failure (credentials, network, an unexpected answer).
    Failed(String),
    /// Not checked: an earlier check failed.
    Skipped,
}

#[derive(Debug)]
pub struct Finding {
    pub check: &'static str,
    /// What stops working when this check fails.
    pub needed_for: &'static str,
    pub outcome: Outcome,
}

impl Finding {
    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }
}

fn outcome(result: Result<String, ProviderError>) -> Outcome {
    match result {
        Ok(detail) => Outcome::Ok(detail),
        Err(ProviderError::PermissionMissing {
            permission,
            console_name,
            ..
        }) => Outcome::Missing {
            permission,
            console_name,
        },
        Err(error) => Outcome::Failed(error.to_string()),
    }
}

/// Every check, in order; a failed credential check skips the rest.
pub async fn examine(api: &DirectoryApi) -> Vec<Finding> {
    let credentials = match api.check_credentials().await {
        Ok(()) => Outcome::Ok("the app token was issued".into()),
        Err(error) => Outcome::Failed(error.to_string()),
    };
    let usable = matches!(credentials, Outcome::Ok(_));
    let mut findings = vec![Finding {
        check: "app credentials (DINGTALK_CLIENT_ID, DINGTALK_CLIENT_SECRET)",
        needed_for: "every call of the organisation's APIs",
        outcome: credentials,
    }];
    let departments = if usable {
        let read = async {
            let root = api.root().await?;
            let children = api.subdepartments(ROOT_DEPARTMENT).await?;
            Ok(format!(
                "{} with {} departments under it",
                root.name,
                children.len()
            ))
        };
        outcome(read.await)
    } else {
        Outcome::Skipped
    };
    findings.push(Finding {
        check: "departments (topapi/v2/department/listsub)",
        needed_for: "the department tree: without it a sync finds no departments, so no people, and access by department refuses everyone",
        outcome: departments,
    });
    let mut someone = None;
    let members = if usable {
        let read = api.members_page(ROOT_DEPARTMENT, 0).await.map(|page| {
            someone = page.people.first().map(|p| p.userid.clone());
            format!(
                "{} people directly in the root department",
                page.people.len()
            )
        });
        outcome(read)
    } else {
        Outcome::Skipped
    };
    findings.push(Finding {
        check: "people of a department (topapi/v2/user/list)",
        needed_for: "the people: without it the mirror stays empty and nobody who leaves is offboarded by the sync",
        outcome: members,
    });
    let person = match (&someone, usable) {
        (Some(userid), true) => {
            let read = api.person(userid).await.map(|found| match found {
                Some(person) => format!("read {}", person.name),
                None => "the person was not found".to_owned(),
            });
            outcome(read)
        }
        (None, true) => Outcome::Ok("nobody directly in the root department to read".into()),
        _ => Outcome::Skipped,
    };
    findings.push(Finding {
        check: "one person (topapi/v2/user/get)",
        needed_for: "events: a person added or changed is read when the event arrives",
        outcome: person,
    });
    findings
}
