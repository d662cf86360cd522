//! The handlers of the API routes: each translates between JSON and one `Engine` or `Store` call.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sluice_engine::runtime::Data;
use sluice_store::{RequestFilter, RequestId, RequestStatus, TaskId, TaskRow, TaskStatus};
use sluice_worker::DeployError;

use super::{ApiError, ApiJson, AppState, RawBody, content_type};

type ApiResult<T> = Result<T, ApiError>;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn request_id(s: &str) -> ApiResult<RequestId> {
    s.parse().map_err(|_| ApiError::not_found("request_not_found", format!("no Request {s}")))
}

fn task_id(s: &str) -> ApiResult<TaskId> {
    s.parse().map_err(|_| ApiError::not_found("task_not_found", format!("no task {s}")))
}

pub async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    // A read proves the database answers.
    state.store().count_requests(Some("active")).await?;
    Ok(Json(json!({"status": "ok"})))
}

// ---- processes ----

pub async fn deploy(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ct = content_type(&headers);
    if !ct.as_deref().is_some_and(|c| c == "application/xml" || c == "text/xml" || c.ends_with("+xml")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected BPMN XML with `Content-Type: application/xml`",
        ));
    }
    let engine = state.inner.engine.clone();
    let files = vec![("model.bpmn".to_string(), body.to_vec())];
    // `Engine::deploy`'s future is not `Send` (the importer's options hold a `&dyn
    // ConnectorCatalog`, which is not `Sync`), so it runs on a blocking thread of its own.
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || handle.block_on(engine.deploy(&files)))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let deployed = match result {
        Ok(d) => d,
        Err(DeployError::Invalid(diagnostics)) => {
            let list: Vec<Value> = diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| {
                    json!({
                        "line": d.pos.line,
                        "column": d.pos.column,
                        "element": d.element,
                        "code": d.code,
                        "message": d.message,
                    })
                })
                .collect();
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_bpmn", "the BPMN model has errors")
                .with("diagnostics", Value::Array(list)));
        }
        Err(DeployError::NotUtf8(_)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_bpmn",
                "the model is not UTF-8: save it as UTF-8 to deploy it",
            )
            .with("diagnostics", json!([])));
        }
        Err(DeployError::Store(e)) => return Err(e.into()),
    };
    if deployed.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_bpmn",
            "the model has no executable process",
        )
        .with("diagnostics", json!([])));
    }
    state.wake_worker();
    let status = if deployed.iter().any(|d| d.created) { StatusCode::CREATED } else { StatusCode::OK };
    let processes: Vec<Value> =
        deployed.iter().map(|d| json!({"key": d.key, "version": d.version, "name": d.name})).collect();
    Ok((status, Json(json!({ "processes": processes }))))
}

pub async fn list_processes(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let latest = state.store().latest_processes().await?;
    let processes: Vec<Value> =
        latest.iter().map(|p| json!({"key": p.key, "version": p.version, "name": p.name})).collect();
    Ok(Json(json!({ "processes": processes })))
}

pub async fn get_process(State(state): State<AppState>, Path(key): Path<String>) -> ApiResult<Json<Value>> {
    let versions = state.store().process_versions(&key).await?;
    let Some(latest) = versions.last() else {
        return Err(ApiError::not_found("process_not_found", format!("no process `{key}` is deployed")));
    };
    let xml = state.store().process_xml(&key, latest.version).await?;
    let all: Vec<Value> = versions
        .iter()
        .map(|v| json!({"version": v.version, "name": v.name, "deployed_at": time(v.deployed_at)}))
        .collect();
    Ok(Json(json!({
        "key": latest.key,
        "version": latest.version,
        "name": latest.name,
        "deployed_at": time(latest.deployed_at),
        "versions": all,
        "xml": xml,
    })))
}

// ---- requests ----

#[derive(Deserialize)]
pub struct StartBody {
    #[serde(default)]
    data: Data,
    #[serde(default)]
    version: Option<i64>,
}

pub async fn start_request(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<StartBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let versions = state.store().process_versions(&key).await?;
    let known = match body.version {
        Some(v) => versions.iter().any(|p| p.version == v),
        None => !versions.is_empty(),
    };
    if !known {
        let which = body.version.map(|v| format!(" version {v}")).unwrap_or_default();
        return Err(ApiError::not_found("process_not_found", format!("no process `{key}`{which} is deployed")));
    }
    let id = state.engine().start_request(&key, body.version, body.data, Utc::now()).await?;
    state.wake_worker();
    Ok((StatusCode::CREATED, Json(request_json(&state, id).await?)))
}

/// A Request as the API shows it (CONTRACT.md).
async fn request_json(state: &AppState, id: RequestId) -> ApiResult<Value> {
    let r = state.store().load_request(id).await?;
    let process = state.process(&r.meta.process_key, r.meta.process_version).await?;
    let tokens: Vec<Value> = r
        .instance
        .tokens()
        .iter()
        .map(|t| json!({"element_id": process.element(t.element).id, "state": t.state}))
        .collect();
    let incidents: Vec<Value> = r
        .instance
        .incidents()
        .iter()
        .map(|i| {
            json!({"id": i.id.0, "element_id": process.element(i.element).id, "code": i.code, "message": i.message})
        })
        .collect();
    let m = &r.meta;
    Ok(json!({
        "id": m.id.to_string(),
        "process_key": m.process_key,
        "process_version": m.process_version,
        "status": m.status.as_str(),
        "data": m.data,
        "tokens": tokens,
        "incidents": incidents,
        "created_at": time(m.created_at),
        "completed_at": m.completed_at.map(time),
    }))
}

#[derive(Deserialize)]
pub struct ListQuery {
    process: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The most Requests one page holds.
const MAX_PAGE: u32 = 200;

pub async fn list_requests(State(state): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    let status = match q.status.as_deref() {
        Some(s) => Some(RequestStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("unknown status `{s}`: use active, completed, canceled or error"))
        })?),
        None => None,
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!("`limit` must be between 1 and {MAX_PAGE}")));
    }
    let filter = RequestFilter { process_key: q.process, status };
    let page = state.store().list_requests(&filter, limit, q.cursor.as_deref()).await?;
    let mut requests = Vec::with_capacity(page.requests.len());
    for r in &page.requests {
        match request_json(&state, r.id).await {
            Ok(v) => requests.push(v),
            // Pruned between the listing and the load: leave it out.
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Json(json!({ "requests": requests, "next_cursor": page.next_cursor })))
}

pub async fn get_request(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(request_json(&state, request_id(&id)?).await?))
}

pub async fn request_events(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = request_id(&id)?;
    // 404 for an unknown Request rather than an empty history.
    state.store().request(id).await?;
    let events = state.store().request_events(id).await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            let mut obj = Map::new();
            obj.insert("at".into(), Value::String(time(e.at)));
            obj.insert("type".into(), Value::String(e.kind));
            obj.insert("element_id".into(), e.element_id.map(Value::String).unwrap_or(Value::Null));
            if let Value::Object(extra) = e.payload {
                for (k, v) in extra {
                    obj.entry(k).or_insert(v);
                }
            }
            Value::Object(obj)
        })
        .collect();
    Ok(Json(json!({ "events": events })))
}

pub async fn cancel_request(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = request_id(&id)?;
    state.engine().cancel(id, Utc::now()).await?;
    state.wake_worker();
    Ok(Json(request_json(&state, id).await?))
}

pub async fn retry_request(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = request_id(&id)?;
    state.engine().retry(id, Utc::now()).await?;
    state.wake_worker();
    Ok(Json(request_json(&state, id).await?))
}

// ---- tasks ----

#[derive(Deserialize)]
pub struct TaskQuery {
    request: Option<String>,
    status: Option<String>,
}

fn task_json(t: &TaskRow) -> Value {
    json!({
        "id": t.id.to_string(),
        "request_id": t.request_id.to_string(),
        "element_id": t.element_id,
        "name": t.name,
        "status": t.status.as_str(),
        "created_at": time(t.created_at),
        "completed_at": t.completed_at.map(time),
    })
}

pub async fn list_tasks(State(state): State<AppState>, Query(q): Query<TaskQuery>) -> ApiResult<Json<Value>> {
    let request = match q.request.as_deref() {
        Some(r) => {
            Some(r.parse::<RequestId>().map_err(|_| ApiError::bad_request(format!("invalid Request id `{r}`")))?)
        }
        None => None,
    };
    let status = match q.status.as_deref() {
        Some(s) => Some(TaskStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("unknown task status `{s}`: use active, completed or canceled"))
        })?),
        None => None,
    };
    let tasks = state.store().tasks(request, status).await?;
    Ok(Json(json!({ "tasks": tasks.iter().map(task_json).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
pub struct CompleteBody {
    #[serde(default)]
    data: Data,
}

pub async fn complete_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CompleteBody>,
) -> ApiResult<Json<Value>> {
    let id = task_id(&id)?;
    match state.engine().complete_task(id, body.data, Utc::now()).await {
        Ok(()) => {}
        Err(sluice_worker::Error::NotFound(_)) => {
            return Err(ApiError::not_found("task_not_found", format!("no task {id}")));
        }
        Err(e) => return Err(e.into()),
    }
    state.wake_worker();
    let task =
        state.store().task(id).await?.ok_or_else(|| ApiError::not_found("task_not_found", format!("no task {id}")))?;
    Ok(Json(task_json(&task)))
}

// ---- messages and connectors ----

#[derive(Deserialize)]
pub struct MessageBody {
    name: String,
    #[serde(default)]
    correlation_key: Option<String>,
    #[serde(default)]
    data: Data,
}

pub async fn publish_message(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<MessageBody>,
) -> ApiResult<Json<Value>> {
    let reached =
        state.engine().publish_message(&body.name, body.correlation_key.as_deref(), body.data, Utc::now()).await?;
    state.wake_worker();
    let mut requests = Vec::with_capacity(reached.len());
    for id in reached {
        requests.push(request_json(&state, id).await?);
    }
    Ok(Json(json!({ "requests": requests })))
}

pub async fn list_connectors(State(state): State<AppState>) -> Json<Value> {
    let connectors: Vec<Value> = state
        .inner
        .connectors
        .iter()
        .map(|c| json!({"type": c.connector_type, "name": c.name, "inputs_schema": c.inputs_schema}))
        .collect();
    Json(json!({ "connectors": connectors }))
}
