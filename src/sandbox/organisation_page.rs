//! `GET /sandbox/dingtalk/organisation`: the sandbox organisation for a developer, its
//! departments and people, with a button to make someone leave or rejoin and a form to
//! move them. Each change is sent to the service the way it takes events (HTTP or Stream),
//! and the page says whether the service took it — the whole offboarding, watched on a
//! laptop. A sandbox page: no account of the service is involved.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::contacts::apply_change;
use super::organisation::{SandboxDepartment, SandboxPerson};
use super::state::Sandbox;
use crate::i18n::Lang;

pub const PATH: &str = "/sandbox/dingtalk/organisation";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/organisation", web::get().to(page))
        .route("/organisation/{userid}/{change}", web::post().to(change));
}

/// One department as the page lists it: its depth in the tree and its people.
struct Row {
    department: SandboxDepartment,
    depth: usize,
    people: Vec<SandboxPerson>,
}

#[derive(Template)]
#[template(path = "sandbox_organisation.html")]
struct OrganisationPage {
    lang: Lang,
    rows: Vec<Row>,
    departments: Vec<SandboxDepartment>,
    /// How the service takes events: `http`, `stream`, or none.
    transport: &'static str,
    /// What the last change did, from the redirect back.
    outcome: Option<String>,
}

#[derive(Deserialize)]
struct Outcome {
    outcome: Option<String>,
}

async fn page(lang: Lang, query: web::Query<Outcome>, sandbox: web::Data<Sandbox>) -> HttpResponse {
    let (departments, people) = sandbox.organisation.everyone();
    let mut rows = Vec::new();
    let mut stack: Vec<(Option<i64>, usize)> = vec![(None, 0)];
    // Depth first from the root, siblings in their order.
    while let Some((parent, depth)) = stack.pop() {
        let children: Vec<&SandboxDepartment> =
            departments.iter().filter(|d| d.parent == parent).collect();
        for child in children.into_iter().rev() {
            stack.push((Some(child.id), depth + 1));
        }
        if let Some(id) = parent
            && let Some(department) = departments.iter().find(|d| d.id == id)
        {
            rows.push(Row {
                department: department.clone(),
                depth: depth - 1,
                people: people
                    .iter()
                    .filter(|p| p.dept_ids.first() == Some(&id))
                    .cloned()
                    .collect(),
            });
        }
    }
    let page = OrganisationPage {
        lang,
        rows,
        departments,
        transport: sandbox
            .events
            .as_ref()
            .map_or("", |sender| sender.transport()),
        outcome: query
            .into_inner()
            .outcome
            .map(|o| o.chars().filter(|c| !c.is_control()).take(200).collect()),
    };
    match page.render() {
        Ok(body) => HttpResponse::build(StatusCode::OK)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(_) => HttpResponse::InternalServerError().body("template error"),
    }
}

#[derive(Deserialize)]
struct MoveForm {
    dept_id: Option<i64>,
}

async fn change(
    path: web::Path<(String, String)>,
    form: web::Form<MoveForm>,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let (userid, change) = path.into_inner();
    let dept_ids = form.dept_id.into_iter().collect();
    let outcome = match apply_change(&sandbox, &userid, &change, dept_ids).await {
        None => "no such person or department".to_owned(),
        Some((person, None)) => format!("{}: {change} (events are off)", person.identity.nick),
        Some((person, Some(event))) => format!(
            "{}: {change} → {} {}",
            person.identity.nick,
            event.event_type,
            if event.delivered {
                "delivered"
            } else {
                "NOT delivered"
            }
        ),
    };
    let target = format!(
        "{PATH}?outcome={}",
        url::form_urlencoded::byte_serialize(outcome.as_bytes()).collect::<String>()
    );
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, target))
        .finish()
}
