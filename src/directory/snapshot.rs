//! What DingTalk says the organisation is right now: every department from the root down,
//! and every person once, however many departments they are in. Read completely before
//! anything is written, so a sync that fails half-way changes nothing.

use std::collections::{BTreeMap, HashSet, VecDeque};

use crate::providers::ProviderError;
use crate::providers::dingtalk::directory::{Department, DirectoryApi, Person, ROOT_DEPARTMENT};

/// More departments than any organisation has: a tree that never ends is DingTalk's
/// trouble, not a reason to loop.
const MAX_DEPARTMENTS: usize = 100_000;

pub struct Snapshot {
    /// Breadth first from the root; siblings in DingTalk's order.
    pub departments: Vec<Department>,
    pub people: BTreeMap<String, Person>,
}

pub async fn read(api: &DirectoryApi) -> Result<Snapshot, ProviderError> {
    let departments = tree(api).await?;
    let mut people = BTreeMap::new();
    for department in &departments {
        members_of(api, department.id, &mut people).await?;
    }
    Ok(Snapshot {
        departments,
        people,
    })
}

async fn tree(api: &DirectoryApi) -> Result<Vec<Department>, ProviderError> {
    let root = api.root().await?;
    let mut seen = HashSet::from([root.id]);
    let mut queue = VecDeque::from([ROOT_DEPARTMENT]);
    let mut departments = vec![root];
    while let Some(parent) = queue.pop_front() {
        for child in api.subdepartments(parent).await? {
            // Non-positive ids are the home-school (家校) address books, not the company.
            if child.id <= 0 || !seen.insert(child.id) {
                continue;
            }
            if departments.len() >= MAX_DEPARTMENTS {
                return Err(ProviderError::Malformed {
                    step: "topapi/v2/department/listsub",
                    detail: format!("more than {MAX_DEPARTMENTS} departments"),
                });
            }
            queue.push_back(child.id);
            departments.push(child);
        }
    }
    Ok(departments)
}

/// Every page of the people directly in `dept`, merged into `people`: someone listed in
/// several departments is one person in all of them.
async fn members_of(
    api: &DirectoryApi,
    dept: i64,
    people: &mut BTreeMap<String, Person>,
) -> Result<(), ProviderError> {
    let mut cursor = 0;
    loop {
        let page = api.members_page(dept, cursor).await?;
        for mut person in page.people {
            if !person.dept_ids.contains(&dept) {
                person.dept_ids.push(dept);
            }
            match people.get_mut(&person.userid) {
                Some(known) => {
                    for id in person.dept_ids {
                        if !known.dept_ids.contains(&id) {
                            known.dept_ids.push(id);
                        }
                    }
                }
                None => {
                    people.insert(person.userid.clone(), person);
                }
            }
        }
        match page.next_cursor {
            Some(next) => cursor = next,
            None => return Ok(()),
        }
    }
}
