//! The sandbox organisation (the first of `SANDBOX_ORGANISATIONS`): a department tree three
//! levels deep with people in it, one department too large for one page of DingTalk's
//! `user/list`, and the preset people among them, so the directory can be mirrored,
//! paged and watched on a laptop. A developer (or a test) makes someone leave, move or
//! rejoin, and can break what DingTalk may break: a department that fails to list, a
//! permission the app lacks.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::identities::{SandboxIdentity, preset_identities};

#[derive(Debug, Clone)]
pub struct SandboxDepartment {
    pub id: i64,
    pub parent: Option<i64>,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct SandboxPerson {
    pub userid: String,
    pub identity: SandboxIdentity,
    pub dept_ids: Vec<i64>,
    /// In the organisation now (`false`: left).
    pub present: bool,
}

/// What the sandbox can be told to get wrong.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// `user/list` of this department answers DingTalk's "system busy".
    pub failing_department: Option<i64>,
    /// Permissions the app is refused, by code (`qyapi_get_department_list`).
    pub denied: BTreeSet<String>,
}

pub struct Organisation {
    inner: Mutex<State>,
}

struct State {
    departments: Vec<SandboxDepartment>,
    people: Vec<SandboxPerson>,
    faults: Faults,
}

/// The department with more people than one page holds.
pub const LARGE_DEPARTMENT: i64 = 4;
const LARGE_DEPARTMENT_SIZE: usize = 120;

impl Default for Organisation {
    fn default() -> Self {
        let department = |id, parent, name: &str| SandboxDepartment {
            id,
            parent,
            name: name.to_owned(),
        };
        let departments = vec![
            department(1, None, "沙箱科技"),
            department(2, Some(1), "研发部"),
            department(3, Some(1), "财务部"),
            department(LARGE_DEPARTMENT, Some(1), "客服部"),
            department(21, Some(2), "后端组"),
            department(22, Some(2), "前端组"),
        ];
        let person = |identity: SandboxIdentity, dept_ids: Vec<i64>| SandboxPerson {
            userid: identity.staff_userid(),
            identity,
            dept_ids,
            present: true,
        };
        let mut people = Vec::new();
        for (key, identity) in preset_identities() {
            // 李四 is an external contact: not in the address book.
            match key {
                "zhangsan" => people.push(person(identity, vec![21, 3])),
                "wangwu" => people.push(person(identity, vec![3])),
                _ => {}
            }
        }
        people.push(person(SandboxIdentity::new("赵总", None), vec![1]));
        for (nick, dept) in [("孙七", 21), ("周八", 21), ("吴九", 22), ("郑十", 22)] {
            people.push(person(SandboxIdentity::new(nick, None), vec![dept]));
        }
        for n in 1..=LARGE_DEPARTMENT_SIZE {
            let nick = format!("客服{n:03}");
            people.push(person(
                SandboxIdentity::new(&nick, None),
                vec![LARGE_DEPARTMENT],
            ));
        }
        Organisation {
            inner: Mutex::new(State {
                departments,
                people,
                faults: Faults::default(),
            }),
        }
    }
}

impl Organisation {
    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn department(&self, id: i64) -> Option<SandboxDepartment> {
        self.state()
            .departments
            .iter()
            .find(|d| d.id == id)
            .cloned()
    }

    pub fn children(&self, parent: i64) -> Option<Vec<SandboxDepartment>> {
        let state = self.state();
        state.departments.iter().any(|d| d.id == parent).then(|| {
            state
                .departments
                .iter()
                .filter(|d| d.parent == Some(parent))
                .cloned()
                .collect()
        })
    }

    /// The people present directly in `dept`, in the address book's order.
    pub fn members(&self, dept: i64) -> Vec<SandboxPerson> {
        self.state()
            .people
            .iter()
            .filter(|p| p.present && p.dept_ids.contains(&dept))
            .cloned()
            .collect()
    }

    /// A person present now, by userid.
    pub fn person(&self, userid: &str) -> Option<SandboxPerson> {
        self.state()
            .people
            .iter()
            .find(|p| p.present && p.userid == userid)
            .cloned()
    }

    /// A person present now, by unionId.
    pub fn person_by_unionid(&self, unionid: &str) -> Option<SandboxPerson> {
        self.state()
            .people
            .iter()
            .find(|p| p.present && p.identity.union_id == unionid)
            .cloned()
    }

    /// Everyone who ever was in the organisation, and every department.
    pub fn everyone(&self) -> (Vec<SandboxDepartment>, Vec<SandboxPerson>) {
        let state = self.state();
        (state.departments.clone(), state.people.clone())
    }

    /// Someone leaves (`false`) or comes back (`true`); `None` for an unknown userid.
    pub fn set_present(&self, userid: &str, present: bool) -> Option<SandboxPerson> {
        let mut state = self.state();
        let person = state.people.iter_mut().find(|p| p.userid == userid)?;
        person.present = present;
        Some(person.clone())
    }

    /// Someone moves to other departments (all of them must exist).
    pub fn move_to(&self, userid: &str, dept_ids: Vec<i64>) -> Option<SandboxPerson> {
        let mut state = self.state();
        let known = dept_ids
            .iter()
            .all(|id| state.departments.iter().any(|d| d.id == *id));
        if dept_ids.is_empty() || !known {
            return None;
        }
        let person = state.people.iter_mut().find(|p| p.userid == userid)?;
        person.dept_ids = dept_ids;
        Some(person.clone())
    }

    pub fn faults(&self) -> Faults {
        self.state().faults.clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state().faults = faults;
    }
}
