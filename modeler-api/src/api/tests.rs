//! Tests of the router without a socket (`app(state).oneshot(request)`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use sluice_connector_api::Registry;
use sluice_store::{Store, StoreOptions};
use sluice_worker::{Engine, EngineOptions};
use tokio::sync::Notify;
use tower::ServiceExt;

use super::openapi::{OPERATIONS, document};
use super::{AppState, app, token_hash};

const TOKEN: &str = "unit-test-token";

async fn state() -> AppState {
    let store = Store::open("sqlite::memory:", StoreOptions::default()).await.unwrap();
    let registry = Registry::default();
    let connectors = registry.list();
    let engine = Engine::new(store, registry, EngineOptions::default()).await.unwrap();
    AppState::new(Arc::new(engine), connectors, vec![token_hash(TOKEN)], Arc::new(Notify::new()))
}

async fn send(state: &AppState, method: &str, path: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method.to_ascii_uppercase().as_str())
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let state = state().await;
    for op in OPERATIONS {
        let path = op.path.replace("{key}", "k").replace("{id}", "01a20a24-f9a9-74e8-8fbe-9e76b2f8b724");
        let (status, body) = send(&state, op.method, &path).await;
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(
            code != "route_not_found" && status != StatusCode::METHOD_NOT_ALLOWED,
            "{} {} is documented but not routed ({status} {body})",
            op.method,
            op.path
        );
    }
}

#[test]
fn every_route_of_the_router_is_documented() {
    let doc = document();
    // The routes as `app` registers them: `.route("PATH", get(…).post(…))`.
    let source = include_str!("mod.rs");
    let mut seen = 0;
    for line in source.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
        let path = line.trim_start_matches(".route(\"").split('"').next().unwrap();
        for method in ["get", "post", "put", "patch", "delete"] {
            if line.contains(&format!("{method}(")) {
                assert!(doc["paths"][path][method].is_object(), "{method} {path} is routed but not in openapi.json");
                seen += 1;
            }
        }
    }
    assert_eq!(seen, OPERATIONS.len(), "the router and OPERATIONS differ in size");
}

#[tokio::test]
async fn errors_are_uniform() {
    let state = state().await;
    let (status, body) = send(&state, "get", "/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "route_not_found");
    let (status, body) = send(&state, "get", "/api/v1/requests?limit=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("limit"), "{body}");
    let (status, body) = send(&state, "post", "/api/v1/messages").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("name"), "{body}");
    let (status, body) = send(&state, "post", "/api/v1/tasks/01a20a24-f9a9-74e8-8fbe-9e76b2f8b724/complete").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("task_not_found")), "{body}");
}
