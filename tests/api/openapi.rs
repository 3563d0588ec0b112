//! The OpenAPI document (issue #12 §3): generated from the code, valid OpenAPI 3.1, naming
//! every JSON route the app serves and nothing else, with the error schema's codes being
//! the README's.

use std::collections::BTreeSet;

use crate::backend_tests;
use crate::helpers::{Backend, spawn_app};

backend_tests!(the_document_is_valid_and_names_exactly_the_served_json_routes);

/// A path template as a pattern: `{id}` stands for one segment.
fn matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty()))
}

/// Every `$ref` in `value` points at a schema the document defines.
fn refs(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", serde_json::Value::String(r)) => found.push(r.clone()),
                    _ => refs(v, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

/// The codes of the README's error table (`| 401 | 40103 | … |`).
fn readme_codes() -> BTreeSet<u64> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells.len() > 3 && cells[1].len() == 3 && cells[2].len() == 5)
                .then(|| cells[2].parse().ok())
                .flatten()
        })
        .collect()
}

async fn the_document_is_valid_and_names_exactly_the_served_json_routes(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();

    // A real OpenAPI 3.1 parser accepts it.
    let spec = oas3::from_json(&text).expect("a valid OpenAPI 3.1 document");
    assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();

    // Every reference resolves.
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for reference in found {
        let pointer = reference.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "{reference} resolves");
    }

    // The routes: each served one documented with its method, each documented one served.
    let documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let served = dingtalk_login::web::registered_json_routes();
    assert!(served.len() >= 13, "{served:?}");
    for (method, path) in &served {
        assert!(
            documented
                .iter()
                .any(|(m, t)| m == method && matches(t, path)),
            "{method} {path} is served but not documented"
        );
    }
    for (method, template) in &documented {
        assert!(
            served
                .iter()
                .any(|(m, p)| m == method && matches(template, p)),
            "{method} {template} is documented but not served"
        );
        // And the app answers there (a refusal, not "no such route").
        let path = template
            .replace("{id}", "1")
            .replace("{provider}", "dingtalk");
        let request = match method.as_str() {
            "get" => app.client.get(app.url(&path)),
            _ => app.client.post(app.url(&path)).json(&serde_json::json!({})),
        };
        let status = request.send().await.unwrap().status().as_u16();
        assert!(![404, 405].contains(&status), "{method} {path}: {status}");
    }

    // Errors: `{"code","msg"}` with exactly the README's codes; the bearer scheme.
    let codes: BTreeSet<u64> =
        doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
    assert_eq!(codes, readme_codes());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["paths"]["/api/me"]["get"]["security"][0]["bearer"],
        serde_json::json!([])
    );
    assert!(
        doc["paths"]["/api/login"]["post"]["responses"]["200"]["content"]["application/json"]
            .to_string()
            .contains("TokenAnswer")
    );
}
