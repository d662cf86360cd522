//! `GET /api/v1/openapi.json`: a hand-written OpenAPI 3 description of the routes of [`super::app`].
//! A test checks that every route of the router is described here.

use axum::Json;
use serde_json::{Map, Value, json};

/// One operation: method, path template, summary, whether it needs the token, success status,
/// the request body's media type, and the schema of its success answer.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub auth: bool,
    pub status: u16,
    pub body: Option<&'static str>,
    pub answer: &'static str,
}

macro_rules! op {
    ($m:literal $p:literal $auth:literal $status:literal $body:expr, $answer:literal, $summary:literal) => {
        Operation {
            method: $m,
            path: $p,
            summary: $summary,
            auth: $auth,
            status: $status,
            body: $body,
            answer: $answer,
        }
    };
}

const XML: Option<&str> = Some("application/xml");
const JSON: Option<&str> = Some("application/json");

/// Every route the API serves.
pub const OPERATIONS: &[Operation] = &[
    op!("post" "/api/v1/processes" true 201 XML, "Deployed", "Deploy BPMN XML (200 when unchanged; 422 invalid_bpmn)"),
    op!("get" "/api/v1/processes" true 200 None, "Processes", "Latest version of every process"),
    op!("get" "/api/v1/processes/{key}" true 200 None, "ProcessDetail", "Latest version with versions and xml"),
    op!("post" "/api/v1/processes/{key}/requests" true 201 JSON, "Request", "Start a Request (404 process_not_found)"),
    op!("get" "/api/v1/requests" true 200 None, "RequestPage", "Requests, newest first (process, status, limit, cursor)"),
    op!("get" "/api/v1/requests/{id}" true 200 None, "Request", "One Request"),
    op!("get" "/api/v1/requests/{id}/events" true 200 None, "Events", "A Request's history, oldest first"),
    op!("post" "/api/v1/requests/{id}/cancel" true 200 None, "Request", "Cancel a Request"),
    op!("post" "/api/v1/requests/{id}/retry" true 200 None, "Request", "Retry every open incident of a Request"),
    op!("get" "/api/v1/tasks" true 200 None, "Tasks", "User tasks (request, status filters)"),
    op!("post" "/api/v1/tasks/{id}/complete" true 200 JSON, "Task", "Complete a task (409 task_not_active)"),
    op!("post" "/api/v1/messages" true 200 JSON, "Requests", "Publish a message; answers the Requests it reached"),
    op!("get" "/api/v1/connectors" true 200 None, "Connectors", "Connector types with their inputs' JSON Schema"),
    op!("put" "/api/v1/admin/slack-app" true 200 JSON, "SlackApp", "Set the Slack app's client id, client secret and signing secret (stored encrypted, never returned)"),
    op!("post" "/api/v1/integrations/slack" true 201 JSON, "SlackIntegration", "Register a Slack workspace with a bot token, checked by auth.test (422 slack_auth_failed)"),
    op!("get" "/api/v1/integrations/slack" true 200 None, "SlackIntegrations", "The Slack integrations (never a token)"),
    op!("get" "/api/v1/integrations/slack/install" true 302 None, "SlackInstall", "Start an OAuth install of ?alias=…: 302 to Slack's authorize page (signed, single-use state)"),
    op!("get" "/api/v1/integrations/slack/oauth/callback" false 200 None, "SlackIntegration", "Slack's OAuth redirect (?code, ?state): exchanges the code and stores the integration; no API token, the state authorizes it"),
    op!("get" "/api/v1/integrations/slack/{alias}/channels" true 200 None, "SlackChannels", "Public channels and the private ones the bot was invited to (every page; ?refresh=true skips the 30 s cache)"),
    op!("delete" "/api/v1/integrations/slack/{alias}" true 204 None, "Any", "Remove a Slack integration (404 integration_not_found)"),
    op!("put" "/api/v1/processes/{key}/notifications" true 200 JSON, "NotificationSettings", "Set who is notified of what in Slack (422 invalid_notification_settings)"),
    op!("get" "/api/v1/processes/{key}/notifications" true 200 None, "NotificationSettings", "A process's notification settings"),
    op!("post" "/api/v1/slack/interactions" false 200 Some("application/x-www-form-urlencoded"), "Any", "Slack's signed interactivity requests (401 unless Slack's v0 signature holds)"),
    op!("get" "/api/v1/openapi.json" false 200 None, "Any", "This document"),
    op!("get" "/healthz" false 200 None, "Any", "Liveness (no token)"),
    op!("get" "/metrics" false 200 None, "Any", "Prometheus metrics (no token)"),
];

fn schemas() -> Value {
    let process = json!({"type": "object", "properties": {
        "key": {"type": "string"}, "version": {"type": "integer"}, "name": {"type": ["string", "null"]}}});
    let request = json!({"type": "object", "required": ["id", "process_key", "process_version", "status", "data", "tokens", "incidents", "created_at", "completed_at"], "properties": {
        "id": {"type": "string", "format": "uuid"},
        "process_key": {"type": "string"},
        "process_version": {"type": "integer"},
        "status": {"type": "string", "enum": ["active", "completed", "canceled", "error"]},
        "data": {"type": "object"},
        "tokens": {"type": "array", "items": {"type": "object", "properties": {"element_id": {"type": "string"}, "state": {"type": "string"}}}},
        "incidents": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}, "element_id": {"type": "string"}, "message": {"type": "string"}}}},
        "created_at": {"type": "string", "format": "date-time"},
        "completed_at": {"type": ["string", "null"], "format": "date-time"}}});
    let task = json!({"type": "object", "properties": {
        "id": {"type": "string"}, "request_id": {"type": "string"}, "element_id": {"type": "string"},
        "name": {"type": ["string", "null"]}, "status": {"type": "string", "enum": ["active", "completed", "canceled"]}}});
    let r = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    json!({
        "Process": process,
        "Request": request,
        "Task": task,
        "Any": {},
        "NotificationSettings": {"type": "object", "properties": {
            "process_key": {"type": "string"}, "integration": {"type": "string"},
            "events": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}, "maxItems": 20}},
            "updated_at": {"type": "string", "format": "date-time"}}},
        "Deployed": {"type": "object", "properties": {"processes": {"type": "array", "items": r("Process")}}},
        "Processes": {"type": "object", "properties": {"processes": {"type": "array", "items": r("Process")}}},
        "ProcessDetail": {"type": "object", "properties": {"key": {"type": "string"}, "version": {"type": "integer"},
            "versions": {"type": "array", "items": {"type": "object"}}, "xml": {"type": "string"}}},
        "RequestPage": {"type": "object", "properties": {"requests": {"type": "array", "items": r("Request")},
            "next_cursor": {"type": ["string", "null"]}}},
        "Requests": {"type": "object", "properties": {"requests": {"type": "array", "items": r("Request")}}},
        "Events": {"type": "object", "properties": {"events": {"type": "array", "items": {"type": "object", "properties": {
            "at": {"type": "string", "format": "date-time"}, "type": {"type": "string"}, "element_id": {"type": ["string", "null"]}}}}}},
        "Tasks": {"type": "object", "properties": {"tasks": {"type": "array", "items": r("Task")}}},
        "Connectors": {"type": "object", "properties": {"connectors": {"type": "array", "items": {"type": "object", "properties": {
            "type": {"type": "string"}, "name": {"type": "string"}, "inputs_schema": {"type": "object"}}}}}},
        "SlackApp": {"type": "object", "properties": {"client_id": {"type": ["string", "null"]},
            "client_secret_set": {"type": "boolean"}, "signing_secret_set": {"type": "boolean"}}},
        "SlackIntegration": {"type": "object", "required": ["id", "alias", "team"], "properties": {
            "id": {"type": "string", "format": "uuid"}, "alias": {"type": "string"},
            "team": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}},
            "source": {"type": "string", "enum": ["oauth", "token"]},
            "installed_at": {"type": "string", "format": "date-time"},
            "token_expires_at": {"type": "string", "format": "date-time"}}},
        "SlackIntegrations": {"type": "object", "properties": {"integrations": {"type": "array", "items": r("SlackIntegration")}}},
        "SlackInstall": {"type": "object", "properties": {"url": {"type": "string", "format": "uri"}}},
        "SlackChannels": {"type": "object", "properties": {"note": {"type": "string"}, "channels": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "is_private": {"type": "boolean"}, "is_member": {"type": "boolean"}}}}}},
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                "diagnostics": {"type": "array", "items": {"type": "object", "properties": {
                    "line": {"type": "integer"}, "column": {"type": "integer"}, "element": {"type": ["string", "null"]}, "message": {"type": "string"}}}}}}}},
    })
}

/// The document.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for op in OPERATIONS {
        let mut o = json!({
            "summary": op.summary,
            "responses": {
                op.status.to_string(): {"description": "success", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", op.answer)}}}},
                "default": {"description": "an error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if let Some(obj) = o.as_object_mut() {
            let params: Vec<Value> = op
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
                .collect();
            if !params.is_empty() {
                obj.insert("parameters".into(), Value::Array(params));
            }
            if let Some(media) = op.body {
                obj.insert(
                    "requestBody".into(),
                    json!({"required": media == "application/xml", "content": {media: {"schema": {}}}}),
                );
            }
            if !op.auth {
                obj.insert("security".into(), json!([]));
            }
        }
        let entry = paths.entry(op.path.to_string()).or_insert_with(|| json!({}));
        if let Some(e) = entry.as_object_mut() {
            e.insert(op.method.to_string(), o);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Sluice API", "version": env!("CARGO_PKG_VERSION")},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        },
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}
