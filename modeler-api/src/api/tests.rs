//! Tests of the router without a socket (`app(state).oneshot(request)`), of the OpenAPI
//! document against the router, and of the copy of the document the repository holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use sluice_connector_api::Registry;
use sluice_store::{Store, StoreOptions};
use sluice_worker::{Engine, EngineOptions};
use tower::ServiceExt;

use super::openapi::{BEARER, document};
use super::{AppState, app, bearer_token, token_hash};

const TOKEN: &str = "unit-test-token";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn state() -> AppState {
    let store = Store::open("sqlite::memory:", StoreOptions::default()).await.unwrap();
    let registry = Registry::default();
    let connectors = registry.list();
    let engine = Engine::new(store, registry, EngineOptions::default()).await.unwrap();
    AppState::new(Arc::new(engine), connectors, vec![token_hash(TOKEN)])
}

async fn send_as(state: &AppState, token: Option<&str>, method: &str, path: &str) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method.to_ascii_uppercase().as_str()).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app(state.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn send(state: &AppState, method: &str, path: &str) -> (StatusCode, Value) {
    send_as(state, Some(TOKEN), method, path).await
}

/// Every (method, path template) of the document.
fn documented() -> Vec<(String, String, Value)> {
    let doc = document();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                ops.push((method.to_string(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

fn concrete(path: &str) -> String {
    path.replace("{key}", "k").replace("{id}", "01a20a24-f9a9-74e8-8fbe-9e76b2f8b724")
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_secured_as_documented() {
    let state = state().await;
    let ops = documented();
    assert!(ops.len() >= 16, "{ops:?}");
    for (method, path, op) in ops {
        let url = concrete(&path);
        let (status, body) = send(&state, &method, &url).await;
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(
            code != "route_not_found" && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but not routed ({status} {body})"
        );
        let secured = op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get(BEARER).is_some()));
        let (status, _) = send_as(&state, None, &method, &url).await;
        if path == "/api/v1/slack/interactions" {
            // Authenticated by Slack's signature instead of the bearer token: 401 without one.
            assert!(!secured && status == StatusCode::UNAUTHORIZED, "{method} {path}: {status}");
            assert!(op["responses"]["401"].is_object(), "{method} {path}: its 401 is documented");
            continue;
        }
        assert_eq!(status == StatusCode::UNAUTHORIZED, secured, "{method} {path}: without a token it answers {status}");
        assert_eq!(op["responses"]["401"].is_object(), secured, "{method} {path}: 401 documented iff secured");
    }
}

#[test]
fn every_route_of_the_router_is_documented() {
    let documented: Vec<(String, String)> = documented().into_iter().map(|(m, p, _)| (m, p)).collect();
    // The routes as `app` registers them: `.route("PATH", get(…).post(…))`.
    let source = include_str!("mod.rs");
    let mut routed = Vec::new();
    for line in source.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
        let path = line.trim_start_matches(".route(\"").split('"').next().unwrap();
        for method in METHODS {
            if line.contains(&format!("{method}(")) {
                routed.push((method.to_string(), path.to_string()));
            }
        }
    }
    for r in &routed {
        assert!(documented.contains(r), "{r:?} is routed but not in openapi.json");
    }
    for d in &documented {
        assert!(routed.contains(d), "{d:?} is in openapi.json but not routed");
    }
}

#[test]
fn the_document_describes_errors_bodies_and_parameters() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["components"]["securitySchemes"][BEARER]["scheme"], "bearer");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error"]), "{error}");
    let deploy = &doc["paths"]["/api/v1/processes"]["post"];
    assert!(deploy["requestBody"]["content"]["application/xml"].is_object(), "{deploy}");
    for status in ["200", "201", "401", "408", "413", "415", "422"] {
        let r = &deploy["responses"][status];
        assert!(r.is_object(), "deploy lacks {status}: {deploy}");
    }
    assert_eq!(
        deploy["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    let list = &doc["paths"]["/api/v1/requests"]["get"];
    let names: Vec<&str> = list["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["process", "status", "limit", "cursor", "include"]);
    let complete = &doc["paths"]["/api/v1/tasks/{id}/complete"]["post"];
    for status in ["200", "400", "404", "409", "413", "415"] {
        assert!(complete["responses"][status].is_object(), "complete lacks {status}: {complete}");
    }
    // The open routes carry no security requirement.
    assert!(doc["paths"]["/healthz"]["get"]["security"].is_null());
}

#[tokio::test]
async fn errors_are_uniform() {
    let state = state().await;
    let (status, body) = send(&state, "get", "/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "route_not_found");
    let (status, body) = send(&state, "get", "/api/v1/requests?limit=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (body["error"]["code"].as_str(), body["error"]["field"].as_str()),
        (Some("invalid_query"), Some("limit"))
    );
    let (status, body) = send(&state, "get", "/api/v1/tasks?status=sleeping").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "status", "{body}");
    let (status, body) = send(&state, "post", "/api/v1/messages").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("name"), "{body}");
    let (status, body) = send(&state, "post", "/api/v1/signals").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("name"), "{body}");
    let (status, body) = send(&state, "post", "/api/v1/tasks/01a20a24-f9a9-74e8-8fbe-9e76b2f8b724/complete").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("task_not_found")), "{body}");
}

/// The repository's copy of the document: `docs/openapi.json`, pretty-printed.
const COMMITTED_DOCUMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

/// `docs/openapi.json` is the document the server serves (`GET /api/v1/openapi.json`), so the
/// repository holds the API's reference. `UPDATE_OPENAPI=1 cargo test -p sluice-modeler-api
/// openapi` writes it again from the code.
#[test]
fn docs_openapi_json_is_the_generated_document() {
    let generated = serde_json::to_string_pretty(&document()).unwrap() + "\n";
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(COMMITTED_DOCUMENT, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED_DOCUMENT).unwrap_or_default();
    if committed != generated {
        let why = if committed.is_empty() {
            "is missing".to_string()
        } else {
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(c, g)| c != g)
                .unwrap_or(committed.lines().count().min(generated.lines().count()));
            format!("differs from the OpenAPI document the code generates (first at line {})", line + 1)
        };
        panic!(
            "docs/openapi.json {why}. Regenerate it with `UPDATE_OPENAPI=1 cargo test -p sluice-modeler-api openapi` \
             and commit it."
        );
    }
}

#[test]
fn the_bearer_scheme_is_read_case_insensitively() {
    for value in ["Bearer abc", "bearer abc", "BEARER abc", "Bearer   abc ", "bearer\tabc"] {
        assert_eq!(bearer_token(value), Some("abc"), "{value:?}");
    }
    for value in ["Bearer", "Bearer ", "Basic abc", "Bearerabc", "", "bear abc"] {
        assert_eq!(bearer_token(value), None, "{value:?}");
    }
}

#[tokio::test]
async fn a_lower_case_bearer_scheme_is_accepted() {
    let state = state().await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let req = Request::builder()
            .uri("/api/v1/requests")
            .header("authorization", format!("{scheme} {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        let resp = app(state.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{scheme}");
    }
}
