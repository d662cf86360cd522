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

pub(super) const TOKEN: &str = "unit-test-token";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

pub(super) async fn state() -> AppState {
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
    path.replace("{key}", "k").replace("{id}", "01a20a24-f9a9-74e8-8fbe-9e76b2f8b724").replace("{alias}", "sales")
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
        if path == "/api/v1/session" && method == "post" {
            // Signing in needs no credentials; its 401 is a wrong password's.
            assert!(!secured && status == StatusCode::BAD_REQUEST, "{method} {path}: {status}");
            assert!(op["responses"]["401"].is_object(), "{method} {path}: its 401 is documented");
            continue;
        }
        if path == "/api/v1/auth/oidc/callback" {
            // The provider sends the browser back without credentials; its 401 is a bad ID token's
            // (without a code and state: 400).
            assert!(!secured && status == StatusCode::BAD_REQUEST, "{method} {path}: {status}");
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
    let expected = [
        "process",
        "status",
        "limit",
        "cursor",
        "include",
        "parent",
        "version",
        "started_by",
        "created_after",
        "created_before",
        "element",
        "incident",
    ];
    assert_eq!(names, expected);
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

// ---- people: the permission matrix, visibility, sessions ----

/// Who may call each authenticated route, written out here on its own (not read from
/// `auth::RULES`), so that a changed rule or a new route without a line here fails: the roles that
/// may (an admin always may), or `None` for any signed-in caller (routes on their own things).
const MATRIX: &[(&str, &str, Option<&[&str]>)] = &[
    ("post", "/api/v1/processes", Some(&["designer"])),
    ("get", "/api/v1/processes", Some(&["designer", "operator", "participant"])),
    ("get", "/api/v1/processes/{key}", Some(&["designer", "operator", "participant"])),
    ("get", "/api/v1/processes/{key}/counts", Some(&["designer", "operator"])),
    ("post", "/api/v1/processes/{key}/requests", Some(&["participant", "operator"])),
    ("post", "/api/v1/processes/{key}/suspend", Some(&["designer", "operator"])),
    ("post", "/api/v1/processes/{key}/resume", Some(&["designer", "operator"])),
    ("delete", "/api/v1/processes/{key}/versions/{version}", Some(&["designer"])),
    ("get", "/api/v1/requests", Some(&["participant", "operator"])),
    ("get", "/api/v1/requests/{id}", Some(&["participant", "operator"])),
    ("get", "/api/v1/requests/{id}/events", Some(&["participant", "operator"])),
    ("post", "/api/v1/requests/{id}/cancel", Some(&["operator"])),
    ("post", "/api/v1/requests/{id}/retry", Some(&["operator"])),
    ("post", "/api/v1/requests/{id}/modify", Some(&["operator"])),
    ("patch", "/api/v1/requests/{id}/data", Some(&["operator"])),
    ("post", "/api/v1/requests/{id}/migrate", Some(&["operator"])),
    ("post", "/api/v1/requests/{id}/suspend", Some(&["operator"])),
    ("post", "/api/v1/requests/{id}/resume", Some(&["operator"])),
    ("get", "/api/v1/incidents", Some(&["operator"])),
    ("post", "/api/v1/operations", Some(&["operator"])),
    ("get", "/api/v1/operations/{id}", Some(&["operator"])),
    ("post", "/api/v1/incidents/retry", Some(&["operator"])),
    ("get", "/api/v1/tasks", Some(&["participant", "operator"])),
    ("get", "/api/v1/tasks/{id}", Some(&["participant", "operator"])),
    ("post", "/api/v1/tasks/{id}/complete", Some(&["participant", "operator"])),
    ("post", "/api/v1/tasks/{id}/claim", Some(&["participant", "operator"])),
    ("post", "/api/v1/tasks/{id}/unclaim", Some(&["participant", "operator"])),
    ("post", "/api/v1/tasks/{id}/assign", Some(&["operator"])),
    ("post", "/api/v1/tasks/{id}/delegate", Some(&["participant", "operator"])),
    ("post", "/api/v1/tasks/{id}/resolve", Some(&["participant", "operator"])),
    ("post", "/api/v1/messages", Some(&["operator"])),
    ("post", "/api/v1/signals", Some(&["operator"])),
    ("get", "/api/v1/connectors", Some(&["designer", "operator"])),
    ("get", "/api/v1/connectors/templates", Some(&["designer", "operator"])),
    ("get", "/api/v1/decisions", Some(&["designer", "operator", "participant"])),
    ("get", "/api/v1/decisions/{id}", Some(&["designer", "operator", "participant"])),
    ("post", "/api/v1/decisions/{id}/evaluate", Some(&["designer"])),
    ("post", "/api/v1/jobs/activate", Some(&["worker", "operator"])),
    ("post", "/api/v1/jobs/{id}/complete", Some(&["worker", "operator"])),
    ("post", "/api/v1/jobs/{id}/fail", Some(&["worker", "operator"])),
    ("post", "/api/v1/jobs/{id}/error", Some(&["worker", "operator"])),
    ("post", "/api/v1/jobs/{id}/extend", Some(&["worker", "operator"])),
    ("get", "/api/v1/secrets", Some(&[])),
    ("put", "/api/v1/secrets/{name}", Some(&[])),
    ("delete", "/api/v1/secrets/{name}", Some(&[])),
    ("put", "/api/v1/admin/slack-app", Some(&[])),
    ("get", "/api/v1/integrations/slack", Some(&["designer"])),
    ("post", "/api/v1/integrations/slack", Some(&[])),
    ("get", "/api/v1/integrations/slack/install", Some(&[])),
    ("get", "/api/v1/integrations/slack/manifest", Some(&[])),
    ("delete", "/api/v1/integrations/slack/{alias}", Some(&[])),
    ("get", "/api/v1/integrations/slack/{alias}/channels", Some(&["designer"])),
    ("get", "/api/v1/processes/{key}/notifications", Some(&["designer"])),
    ("put", "/api/v1/processes/{key}/notifications", Some(&["designer"])),
    ("get", "/api/v1/users", Some(&[])),
    ("post", "/api/v1/users", Some(&[])),
    ("get", "/api/v1/users/{id}", Some(&[])),
    ("patch", "/api/v1/users/{id}", Some(&[])),
    ("delete", "/api/v1/users/{id}", Some(&[])),
    ("get", "/api/v1/users/{id}/tokens", None),
    ("post", "/api/v1/users/{id}/tokens", None),
    ("delete", "/api/v1/tokens/{id}", None),
    ("get", "/api/v1/me", None),
    ("put", "/api/v1/me/password", None),
    ("delete", "/api/v1/session", None),
    ("get", "/api/v1/audit", Some(&[])),
    ("get", "/api/v1/auth/oidc", Some(&[])),
    ("put", "/api/v1/auth/oidc", Some(&[])),
    ("delete", "/api/v1/auth/oidc", Some(&[])),
];

/// One request with any headers and a JSON body (or none): status, headers and JSON body.
pub(super) async fn call(
    state: &AppState,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder().method(method.to_ascii_uppercase().as_str()).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let resp = app(state.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

pub(super) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Creates a user with these roles through the API (as the built-in admin) and a token for them.
async fn user_with_token(state: &AppState, username: &str, roles: &[&str]) -> (String, String) {
    let admin = bearer(TOKEN);
    let body = serde_json::json!({"username": username, "name": username, "email": format!("{username}@example.com"),
        "roles": roles, "groups": ["staff"]});
    let (status, _, user) = call(state, "post", "/api/v1/users", &[("authorization", &admin)], Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let id = user["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/users/{id}/tokens");
    let (status, _, token) =
        call(state, "post", &path, &[("authorization", &admin)], Some(serde_json::json!({"name": "t"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    (id, token["token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_permission_matrix_says() {
    let state = state().await;
    let mut callers: Vec<(String, Option<String>)> = vec![("admin".into(), Some(TOKEN.into()))];
    for role in ["designer", "operator", "participant", "worker"] {
        let (_, token) = user_with_token(&state, role, &[role]).await;
        callers.push((role.into(), Some(token)));
    }
    let (_, nobody) = user_with_token(&state, "norole", &[]).await;
    callers.push(("no role".into(), Some(nobody)));
    // An expired token (stored directly: the API refuses an expiry in the past).
    let (expired_user, _) = user_with_token(&state, "expired", &["admin"]).await;
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    state.store().add_user_token(&expired_user, "old", &token_hash("expired-token"), Some(past)).await.unwrap();
    // A revoked token: used once (so it is cached), then revoked; it stops working at once.
    let (_, revoked) = user_with_token(&state, "revoked", &["admin"]).await;
    let (status, _, me) = call(&state, "get", "/api/v1/me", &[("authorization", &bearer(&revoked))], None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let (_, _, tokens) = call(
        &state,
        "get",
        &format!("/api/v1/users/{}/tokens", me["id"].as_str().unwrap()),
        &[("authorization", &bearer(&revoked))],
        None,
    )
    .await;
    let token_id = tokens["tokens"][0]["id"].as_str().unwrap().to_string();
    let (status, _, _) =
        call(&state, "delete", &format!("/api/v1/tokens/{token_id}"), &[("authorization", &bearer(TOKEN))], None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let ops = documented();
    for (method, path, op) in &ops {
        let secured = op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get(BEARER).is_some()));
        let url = concrete(path);
        if !secured {
            assert!(
                MATRIX.iter().all(|(m, p, _)| (m, p) != (&method.as_str(), &path.as_str())),
                "{method} {path} is open but in the matrix"
            );
            for (who, token) in &callers {
                let auth = token.as_deref().map(bearer);
                let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
                let (status, _, body) = call(&state, method, &url, &headers, None).await;
                assert_ne!(status, StatusCode::FORBIDDEN, "{method} {path} as {who}: {body}");
            }
            continue;
        }
        let Some((_, _, allowed)) = MATRIX.iter().find(|(m, p, _)| (m, p) == (&method.as_str(), &path.as_str())) else {
            panic!(
                "{method} {path} is a route without a line in the permission matrix: add one (and a rule in auth::RULES)"
            );
        };
        let rule = super::auth::rule_for(&method.to_ascii_uppercase().parse().unwrap(), path);
        assert!(rule.is_some(), "{method} {path} has no rule in auth::RULES");
        for token in [None, Some("expired-token"), Some(revoked.as_str()), Some("not-a-token")] {
            let auth = token.map(bearer);
            let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
            let (status, _, body) = call(&state, method, &url, &headers, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with {token:?}: {body}");
            assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        }
        for (who, token) in &callers {
            let auth = bearer(token.as_deref().unwrap());
            let (status, _, body) = call(&state, method, &url, &[("authorization", &auth)], None).await;
            let may = who == "admin" || allowed.is_none_or(|roles| roles.contains(&who.as_str()));
            if may {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{method} {path} as {who} may: {status} {body}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {who} may not: {body}");
                assert_eq!(body["error"]["code"], "forbidden", "{body}");
                let message = body["error"]["message"].as_str().unwrap();
                let needed = allowed.unwrap();
                let named = if needed.is_empty() { vec!["admin"] } else { needed.to_vec() };
                for role in named {
                    assert!(message.contains(&format!("`{role}`")), "{method} {path} as {who}: {message}");
                }
            }
        }
    }
    for (m, p, _) in MATRIX {
        assert!(
            ops.iter().any(|(om, op, _)| (om.as_str(), op.as_str()) == (*m, *p)),
            "{m} {p} is in the matrix but not routed"
        );
    }
}

pub(super) const ONE_TASK: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:t">
  <bpmn:process id="leave" isExecutable="true">
    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <bpmn:userTask id="t" name="Approve"/><bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
    <bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>"#;

pub(super) async fn deploy_one_task(state: &AppState) {
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/processes")
        .header("authorization", bearer(TOKEN))
        .header("content-type", "application/xml")
        .body(Body::from(ONE_TASK))
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_participant_sees_their_own_requests_and_tasks_and_no_one_elses() {
    let state = state().await;
    deploy_one_task(&state).await;
    let (_, ann) = user_with_token(&state, "ann", &["participant"]).await;
    let (_, bob) = user_with_token(&state, "bob", &["participant"]).await;
    let (_, olga) = user_with_token(&state, "olga", &["operator"]).await;
    let (ann, bob, olga) = (bearer(&ann), bearer(&bob), bearer(&olga));
    let start = |auth: String| {
        let state = state.clone();
        async move {
            let (status, _, r) = call(
                &state,
                "post",
                "/api/v1/processes/leave/requests",
                &[("authorization", &auth)],
                Some(serde_json::json!({})),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{r}");
            r
        }
    };
    let mine = start(ann.clone()).await;
    assert_eq!(mine["started_by"], "ann");
    let theirs = start(bob.clone()).await;
    let (mine_id, theirs_id) = (mine["id"].as_str().unwrap(), theirs["id"].as_str().unwrap());

    let (status, _, r) =
        call(&state, "get", &format!("/api/v1/requests/{mine_id}"), &[("authorization", &ann)], None).await;
    assert_eq!((status, r["started_by"].as_str()), (StatusCode::OK, Some("ann")));
    for path in [format!("/api/v1/requests/{theirs_id}"), format!("/api/v1/requests/{theirs_id}/events")] {
        let (status, _, body) = call(&state, "get", &path, &[("authorization", &ann)], None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("request_not_found")),
            "{path}"
        );
    }
    let (_, _, list) = call(&state, "get", "/api/v1/requests", &[("authorization", &ann)], None).await;
    let ids: Vec<&str> = list["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [mine_id]);
    assert_eq!(list["requests"][0]["started_by"], "ann");
    let (_, _, all) = call(&state, "get", "/api/v1/requests", &[("authorization", &olga)], None).await;
    assert_eq!(all["requests"].as_array().unwrap().len(), 2);

    // Tasks: ann sees hers only, cannot complete bob's (404), completes hers.
    let (_, _, tasks) = call(&state, "get", "/api/v1/tasks", &[("authorization", &ann)], None).await;
    let tasks = tasks["tasks"].as_array().unwrap().clone();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["request_id"], mine_id);
    let (_, _, all_tasks) = call(&state, "get", "/api/v1/tasks", &[("authorization", &olga)], None).await;
    let bobs = all_tasks["tasks"].as_array().unwrap().iter().find(|t| t["request_id"] == theirs_id).unwrap().clone();
    let complete = |id: &str| format!("/api/v1/tasks/{id}/complete");
    let (status, _, body) =
        call(&state, "post", &complete(bobs["id"].as_str().unwrap()), &[("authorization", &ann)], None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("task_not_found")));
    let (status, _, done) =
        call(&state, "post", &complete(tasks[0]["id"].as_str().unwrap()), &[("authorization", &ann)], None).await;
    assert_eq!((status, done["completed_by"].as_str()), (StatusCode::OK, Some("ann")), "{done}");
    // The operator completes bob's task: bob's Request now shows up for the operator's... and
    // for olga's own listing as a participant would (she took part); bob still sees his.
    let (status, _, done) =
        call(&state, "post", &complete(bobs["id"].as_str().unwrap()), &[("authorization", &olga)], None).await;
    assert_eq!((status, done["completed_by"].as_str()), (StatusCode::OK, Some("olga")), "{done}");
    let (status, _, _) =
        call(&state, "get", &format!("/api/v1/requests/{theirs_id}"), &[("authorization", &bob)], None).await;
    assert_eq!(status, StatusCode::OK);

    // A participant who completed a task of someone else's Request sees that Request.
    let (_, carl) = user_with_token(&state, "carl", &["participant", "operator"]).await;
    let third = start(bearer(&carl)).await;
    let (_, _, t) = call(
        &state,
        "get",
        &format!("/api/v1/tasks?request={}", third["id"].as_str().unwrap()),
        &[("authorization", &olga)],
        None,
    )
    .await;
    let tid = t["tasks"][0]["id"].as_str().unwrap().to_string();
    // dana is a participant and operator for the completion, then only a participant.
    let (dana_id, dana) = user_with_token(&state, "dana", &["operator"]).await;
    let (status, _, _) = call(&state, "post", &complete(&tid), &[("authorization", &bearer(&dana))], None).await;
    assert_eq!(status, StatusCode::OK);
    let patch = serde_json::json!({"roles": ["participant"]});
    let (status, _, _) =
        call(&state, "patch", &format!("/api/v1/users/{dana_id}"), &[("authorization", &bearer(TOKEN))], Some(patch))
            .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, list) = call(&state, "get", "/api/v1/requests", &[("authorization", &bearer(&dana))], None).await;
    let ids: Vec<&str> = list["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [third["id"].as_str().unwrap()], "the new role applies at once on this node");
}

#[tokio::test]
async fn sessions_set_safe_cookies_need_the_csrf_token_for_writes_and_end_on_sign_out() {
    let state = state().await.with_secure_cookies(true);
    let body = serde_json::json!({"username": "Ann", "name": "Ann", "email": "ann@example.com",
        "password": "short", "roles": ["participant"]});
    let admin = bearer(TOKEN);
    let (status, _, e) = call(&state, "post", "/api/v1/users", &[("authorization", &admin)], Some(body.clone())).await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("password")), "{e}");
    let mut body = body;
    body["password"] = "a long enough passphrase".into();
    let (status, _, user) =
        call(&state, "post", "/api/v1/users", &[("authorization", &admin)], Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["username"], "ann");
    assert!(user.get("password").is_none() && user.get("password_hash").is_none(), "{user}");
    let (status, _, e) = call(&state, "post", "/api/v1/users", &[("authorization", &admin)], Some(body)).await;
    assert_eq!((status, e["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("user_exists")));

    let sign_in = serde_json::json!({"username": "ann", "password": "a long enough passphrase"});
    let (status, headers, session) = call(&state, "post", "/api/v1/session", &[], Some(sign_in)).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let cookies: Vec<&str> = headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    let session_cookie = cookies.iter().find(|c| c.starts_with("sluice_session=")).unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] {
        assert!(session_cookie.contains(flag), "{session_cookie}");
    }
    let csrf_cookie = cookies.iter().find(|c| c.starts_with("sluice_csrf=")).unwrap();
    assert!(!csrf_cookie.contains("HttpOnly"), "{csrf_cookie}");
    let csrf = session["csrf_token"].as_str().unwrap();
    assert!(csrf_cookie.starts_with(&format!("sluice_csrf={csrf};")), "{csrf_cookie}");
    let cookie = session_cookie.split(';').next().unwrap().to_string();

    let (status, _, me) = call(&state, "get", "/api/v1/me", &[("cookie", &cookie)], None).await;
    assert_eq!((status, me["username"].as_str()), (StatusCode::OK, Some("ann")));
    let path = format!("/api/v1/users/{}/tokens", me["id"].as_str().unwrap());
    let token_body = serde_json::json!({"name": "laptop"});
    let (status, _, e) = call(&state, "post", &path, &[("cookie", &cookie)], Some(token_body.clone())).await;
    assert_eq!((status, e["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("csrf")), "{e}");
    let (status, _, e) =
        call(&state, "post", &path, &[("cookie", &cookie), ("x-csrf-token", "nope")], Some(token_body.clone())).await;
    assert_eq!((status, e["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("csrf")), "{e}");
    let (status, _, t) =
        call(&state, "post", &path, &[("cookie", &cookie), ("x-csrf-token", csrf)], Some(token_body)).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    // A participant may not create users, session or not.
    let (status, _, e) = call(&state, "get", "/api/v1/users", &[("cookie", &cookie)], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("`admin`"), "{e}");

    let (status, headers, _) =
        call(&state, "delete", "/api/v1/session", &[("cookie", &cookie), ("x-csrf-token", csrf)], None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(headers.get_all("set-cookie").iter().any(|v| v.to_str().unwrap().starts_with("sluice_session=;")));
    let (status, _, _) = call(&state, "get", "/api/v1/me", &[("cookie", &cookie)], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The token made through the session still works.
    let (status, _, _) =
        call(&state, "get", "/api/v1/me", &[("authorization", &bearer(t["token"].as_str().unwrap()))], None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn failed_sign_ins_look_alike_are_limited_and_audited_without_secrets() {
    let state = state().await;
    let admin = bearer(TOKEN);
    let body = serde_json::json!({"username": "ann", "name": "Ann", "email": "ann@example.com",
        "password": "a long enough passphrase", "roles": ["participant"]});
    let (status, _, _) = call(&state, "post", "/api/v1/users", &[("authorization", &admin)], Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let attempt = |username: &str, password: &str| serde_json::json!({"username": username, "password": password});
    let (s1, _, unknown) =
        call(&state, "post", "/api/v1/session", &[], Some(attempt("nobody", "my secret passphrase"))).await;
    let (s2, _, wrong) = call(&state, "post", "/api/v1/session", &[], Some(attempt("ann", "not her passphrase"))).await;
    assert_eq!((s1, s2), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(unknown, wrong, "the same answer for an unknown user and a wrong password");
    for _ in 0..4 {
        call(&state, "post", "/api/v1/session", &[], Some(attempt("ann", "not her passphrase"))).await;
    }
    let (status, headers, e) =
        call(&state, "post", "/api/v1/session", &[], Some(attempt("ann", "a long enough passphrase"))).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts")),
        "{e}"
    );
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait > 800 && wait <= 900, "{wait}");

    let (status, _, page) =
        call(&state, "get", "/api/v1/audit?action=sign_in_failed", &[("authorization", &admin)], None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 6, "{page}");
    assert!(entries.iter().all(|e| e["action"] == "sign_in_failed"));
    assert_eq!(entries.last().unwrap()["actor"], Value::Null, "an unknown name is not recorded: {page}");
    let (_, _, by_ann) =
        call(&state, "get", "/api/v1/audit?actor=ann&limit=2", &[("authorization", &admin)], None).await;
    assert_eq!(by_ann["entries"].as_array().unwrap().len(), 2);
    let next = by_ann["next_cursor"].as_str().unwrap();
    let (_, _, more) = call(
        &state,
        "get",
        &format!("/api/v1/audit?actor=ann&limit=10&cursor={next}"),
        &[("authorization", &admin)],
        None,
    )
    .await;
    assert_eq!(more["entries"].as_array().unwrap().len(), 3);
    let (_, _, all) = call(&state, "get", "/api/v1/audit?limit=1000", &[("authorization", &admin)], None).await;
    let text = all.to_string();
    for secret in ["passphrase", "my secret", TOKEN] {
        assert!(!text.contains(secret), "the audit log holds `{secret}`: {text}");
    }
    assert!(text.contains("user_created"), "{text}");
}

#[tokio::test]
async fn head_is_ruled_like_get_and_an_unknown_method_is_still_405() {
    let state = state().await;
    let (status, _, _) = call(&state, "head", "/api/v1/requests", &[("authorization", &bearer(TOKEN))], None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, participant) = user_with_token(&state, "ann", &["participant"]).await;
    let (status, _, _) = call(&state, "head", "/api/v1/users", &[("authorization", &bearer(&participant))], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = call(&state, "post", "/api/v1/me", &[("authorization", &bearer(TOKEN))], None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
}

#[tokio::test]
async fn a_patch_that_changes_nothing_is_refused() {
    let state = state().await;
    let path = format!("/api/v1/users/{}", sluice_store::BUILTIN_ADMIN_ID);
    let (status, _, body) = call(&state, "patch", &path, &[("authorization", &bearer(TOKEN))], None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let patch = serde_json::json!({"roles": ["designer"]});
    let (status, _, body) = call(&state, "patch", &path, &[("authorization", &bearer(TOKEN))], Some(patch)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("builtin_user")), "{body}");
    let (status, _, body) = call(&state, "delete", &path, &[("authorization", &bearer(TOKEN))], None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("builtin_user")), "{body}");
}
