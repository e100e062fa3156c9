//! The OpenAPI document is generated from the code. These tests fail when a route of the
//! original API is missing from it, when a documented route is not served, or when an
//! operation does not say how it is authenticated.

use crate::harness::{Backend, TestApp};
use serde_json::Value;
use std::collections::BTreeSet;

/// Routes of the original specs that no issue has built yet. Each capability removes its
/// routes from here when it lands; nothing else may be missing.
const NOT_YET_BUILT: &[&str] = &[];

/// Routes open without credentials.
const PUBLIC: &[&str] = &["GET /health", "GET /metrics", "POST /dev/users"];

/// `METHOD /path` for every operation, with path parameter names normalised to `{}`
/// (the specs and we may name a parameter differently; the route is the same).
fn operations(doc: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.insert(format!("{} {}", method.to_uppercase(), normalise(path)));
            }
        }
    }
    out
}

fn normalise(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// `shared/reference/api` sits beside the checkout (CI lays `shared/` next to its clone);
/// look upwards from this crate, so any checkout depth (a worktree too) finds it.
fn reference(name: &str) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/reference/api"))
        .find(|p| p.is_dir())
        .expect("shared/reference/api beside the checkout");
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("reference spec parses")
}

async fn document(app: &TestApp) -> Value {
    let r = app.get("/openapi.json", None).await.expect(200);
    assert_eq!(r.body["openapi"], "3.1.0");
    r.body
}

#[actix_web::test]
async fn every_route_of_the_original_api_is_documented() {
    let app = TestApp::spawn(Backend::Memory).await;
    let ours = operations(&document(&app).await);
    let pending: BTreeSet<String> = NOT_YET_BUILT.iter().map(|r| normalise(r)).collect();
    let mut missing = Vec::new();
    for spec in ["people-api.openapi.json", "listing-api.openapi.json"] {
        for op in operations(&reference(spec)) {
            if !ours.contains(&op) && !pending.contains(&op) {
                missing.push(op);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes of the original API missing from /openapi.json: {missing:?}"
    );
    let stale: Vec<_> = pending.iter().filter(|op| ours.contains(*op)).collect();
    assert!(
        stale.is_empty(),
        "built routes still listed in NOT_YET_BUILT: {stale:?}"
    );
}

#[actix_web::test]
async fn every_documented_route_is_served_and_says_how_it_authenticates() {
    let app = TestApp::spawn(Backend::Memory).await;
    let doc = document(&app).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let concrete = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        uuid::Uuid::nil().to_string()
                    } else {
                        seg.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let req = app
                .client
                .request(method.to_uppercase().parse().unwrap(), app.url(&concrete));
            let r = app.send(req).await;
            let unrouted = r.status == 404 && r.message().starts_with("Cannot ");
            assert!(
                !unrouted,
                "{} {path} is documented but not routed",
                method.to_uppercase()
            );
            assert!(
                r.status != 500,
                "{} {path} answered 500 to an empty request: {}",
                method.to_uppercase(),
                r.text
            );
            let key = format!("{} {path}", method.to_uppercase());
            let secured = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            assert!(
                secured || PUBLIC.contains(&key.as_str()),
                "{key} does not document its authentication"
            );
            assert!(
                op.get("responses")
                    .and_then(Value::as_object)
                    .is_some_and(|r| !r.is_empty()),
                "{key} has no responses"
            );
        }
    }
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for scheme in ["bearer", "gateway", "internal", "alchemy"] {
        assert!(schemes.contains_key(scheme), "security scheme {scheme}");
    }
}

#[actix_web::test]
async fn swagger_ui_is_served_offline() {
    let app = TestApp::spawn(Backend::Memory).await;
    let page = app.get("/docs", None).await.expect(200);
    assert!(page.text.contains("SwaggerUIBundle") && page.text.contains("/openapi.json"));
    let js = app
        .get("/docs/swagger-ui-bundle.js", None)
        .await
        .expect(200);
    assert!(js.text.len() > 100_000, "the vendored bundle is served");
    app.get("/docs/swagger-ui.css", None).await.expect(200);
}
