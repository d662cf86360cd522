//! The handlers of the API routes: each translates between JSON and one `Engine` or `Store` call.
//! Each carries its `#[utoipa::path]`: the statuses it answers with, besides the ones every route
//! of its kind shares (added by `openapi::Common`: 401, 400, 408, 413, 415).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use sluice_store::{LoadedRequest, RequestFilter, RequestId, RequestRow, Store};
use sluice_worker::{CommitGate, DeployError, DeployedKind, Engine};

use super::views::{
    ConnectorList, ConnectorView, DeployedDecision, DiagnosticView, ErrorBody, EventList, EventQuery, EventView,
    Health, IncidentInfo, Include, ListQuery, ListedRequest, MessageAnswer, MessageBody, ModifyBody, ProcessDetail,
    ProcessList, ProcessQuery, ProcessSummary, RequestPage, RequestSummary, RequestView, SignalBody, SignalReached,
    StartAtBody, StartBody, TemplateQuery, TokenInfo, TokenState, VersionView, time,
};
use super::{ApiError, ApiJson, ApiQuery, AppState, Caller, Client, Details, RawBody, SearchQuery, content_type};

type ApiResult<T> = Result<T, ApiError>;

pub(super) fn request_id(s: &str) -> ApiResult<RequestId> {
    s.parse().map_err(|_| ApiError::not_found("request_not_found", format!("no Request {s}")))
}

/// Liveness and readiness: 200 when the database answers a read.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, description = "`unavailable`: the database does not answer", body = ErrorBody),
    ),
)]
pub async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    let ok = || Ok(Json(Health { status: "ok".into() }));
    let health = &state.inner.health;
    let age = health.age();
    if age < HealthCache::FRESH {
        return ok();
    }
    if age < HealthCache::STALE {
        // Answer at once from the last ping and refresh it in the background: a probe never
        // waits behind a busy database (a large commit, a full pool) that answered a moment ago.
        if !health.checking.swap(true, Ordering::AcqRel) {
            let state = state.clone();
            tokio::spawn(async move {
                let h = &state.inner.health;
                if let Ok(Ok(())) = tokio::time::timeout(HealthCache::STALE, state.store().ping()).await {
                    h.answered();
                }
                h.checking.store(false, Ordering::Release);
            });
        }
        return ok();
    }
    match tokio::time::timeout(Duration::from_secs(2), state.store().ping()).await {
        Ok(Ok(())) => {
            health.answered();
            ok()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: the database does not answer");
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database does not answer"))
        }
        Err(_) => {
            tracing::warn!("health check: the database did not answer within 2 s");
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database does not answer"))
        }
    }
}

/// When the database last answered a health check's ping. A check within [`HealthCache::FRESH`]
/// of it answers at once; within [`HealthCache::STALE`] it answers at once and pings in the
/// background; later it waits for a ping (at most 2 s), so a database that stopped answering
/// shows as 503 within about 10 s.
#[derive(Default)]
pub(super) struct HealthCache {
    /// Milliseconds since the Unix epoch of the last answer; 0 for never.
    last_ok: AtomicI64,
    checking: AtomicBool,
}

impl HealthCache {
    const FRESH: Duration = Duration::from_secs(1);
    const STALE: Duration = Duration::from_secs(10);

    fn age(&self) -> Duration {
        let last = self.last_ok.load(Ordering::Acquire);
        let now = Utc::now().timestamp_millis();
        if last == 0 { Duration::MAX } else { Duration::from_millis(u64::try_from(now - last).unwrap_or(0)) }
    }

    fn answered(&self) {
        self.last_ok.store(Utc::now().timestamp_millis(), Ordering::Release);
    }
}

// ---- processes ----

fn invalid_bpmn(message: &str, diagnostics: Vec<DiagnosticView>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_bpmn", message).with(Details::Diagnostics(diagnostics))
}

/// Deploys every executable process of a BPMN file, or every decision of a DMN file (told apart
/// by the root element), each as a new version unless unchanged.
#[utoipa::path(
    post, path = "/api/v1/processes", tag = "processes",
    request_body(content = String, content_type = "application/xml", description = "BPMN 2.0 XML, or DMN 1.3–1.5 XML"),
    responses(
        (status = 201, description = "At least one process or decision got a new version", body = ProcessList),
        (status = 200, description = "The same XML again: nothing changed, the same versions", body = ProcessList),
        (status = 422, description = "`invalid_bpmn`, with `diagnostics`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn deploy(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<ProcessList>)> {
    let ct = content_type(&headers);
    if !ct.as_deref().is_some_and(|c| c == "application/xml" || c == "text/xml" || c.ends_with("+xml")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected BPMN XML with `Content-Type: application/xml`",
        ));
    }
    let engine = state.inner.engine.clone();
    // `Engine::deploy`'s future is not `Send` (the importer's options hold a `&dyn
    // ConnectorCatalog`, which is not `Sync`), so it runs on a blocking thread of its own, in the
    // engine's runtime, behind this request's commit gate (a 408 means nothing was stored).
    let handle = state.engine_runtime();
    let gate = CommitGate::current().unwrap_or_default();
    // BPMN and DMN are told apart by the root element (as `Engine::deploy` does); the name is
    // the one a stored decision's `file` shows.
    let dmn = sluice_worker::is_dmn_file(&body);
    let name = if dmn { "decisions.dmn" } else { "model.bpmn" };
    let files = vec![(name.to_string(), body.to_vec())];
    let result = tokio::task::spawn_blocking(move || handle.block_on(gate.scope(engine.deploy(&files))))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let deployed = match result {
        Ok(d) => d,
        Err(DeployError::Invalid(diagnostics)) => {
            let list = diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| DiagnosticView {
                    line: d.pos.line,
                    column: d.pos.column,
                    element: d.element.clone(),
                    code: d.code.to_string(),
                    message: d.message.clone(),
                })
                .collect();
            let what = if dmn { "the DMN model has errors" } else { "the BPMN model has errors" };
            return Err(invalid_bpmn(what, list));
        }
        Err(DeployError::NotUtf8(_)) => {
            return Err(invalid_bpmn("the model is not UTF-8: save it as UTF-8 to deploy it", Vec::new()));
        }
        Err(DeployError::Store(e)) => return Err(e.into()),
        Err(DeployError::GaveUp) => return Err(ApiError::timed_out()),
    };
    if deployed.is_empty() {
        return Err(invalid_bpmn("the model has no executable process", Vec::new()));
    }
    let status = if deployed.iter().any(|d| d.created) { StatusCode::CREATED } else { StatusCode::OK };
    if status == StatusCode::CREATED {
        let keys = deployed.iter().map(|d| d.key.as_str()).collect::<Vec<_>>().join(",");
        let versions: Vec<serde_json::Value> = deployed
            .iter()
            .map(|d| {
                let kind = if d.kind == DeployedKind::Process { "process" } else { "decision" };
                serde_json::json!({"key": d.key, "version": d.version, "new": d.created, "kind": kind})
            })
            .collect();
        let details = serde_json::json!({"processes": versions});
        state.audit(Some(&caller), &client, "process_deployed", Some(keys), details).await;
    }
    let (mut processes, mut decisions) = (Vec::new(), Vec::new());
    for d in deployed {
        match d.kind {
            DeployedKind::Process => processes.push(ProcessSummary { key: d.key, version: d.version, name: d.name }),
            DeployedKind::Decision { definitions_id, version_tag } => decisions.push(DeployedDecision {
                id: d.key,
                version: d.version,
                name: d.name,
                version_tag,
                definitions_id,
            }),
        }
    }
    Ok((status, Json(ProcessList { processes, decisions })))
}

/// The latest version of every deployed process.
#[utoipa::path(
    get, path = "/api/v1/processes", tag = "processes",
    responses((status = 200, description = "Latest versions, by key", body = ProcessList)),
    security(("bearer" = [])),
)]
pub async fn list_processes(State(state): State<AppState>) -> ApiResult<Json<ProcessList>> {
    let latest = state.store().latest_processes().await?;
    Ok(Json(ProcessList { processes: latest.iter().map(ProcessSummary::from).collect(), decisions: Vec::new() }))
}

/// A process: its latest version (or the one asked for), every version, and that version's XML.
#[utoipa::path(
    get, path = "/api/v1/processes/{key}", tag = "processes",
    params(("key" = String, Path, description = "The process id of the BPMN file"), ProcessQuery),
    responses(
        (status = 200, description = "The process", body = ProcessDetail),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 404, description = "`process_not_found` (key or version)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_process(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<ProcessQuery>,
) -> ApiResult<Json<ProcessDetail>> {
    let versions = state.store().process_versions(&key).await?;
    let chosen = match q.version {
        None => versions.last(),
        Some(n) => versions.iter().find(|v| v.version == n),
    };
    let Some(chosen) = chosen else {
        let message = match q.version {
            None => format!("no process `{key}` is deployed"),
            Some(n) => format!("no process `{key}` version {n} is deployed"),
        };
        return Err(ApiError::not_found("process_not_found", message));
    };
    let xml = state.store().process_xml(&key, chosen.version).await?;
    let suspension = state.store().process_suspension(&key).await?;
    let all = versions
        .iter()
        .map(|v| VersionView { version: v.version, name: v.name.clone(), deployed_at: time(v.deployed_at) })
        .collect();
    Ok(Json(ProcessDetail {
        key: chosen.key.clone(),
        version: chosen.version,
        name: chosen.name.clone(),
        deployed_at: time(chosen.deployed_at),
        versions: all,
        xml,
        suspended: suspension.is_some(),
        suspended_at: suspension.as_ref().map(|s| time(s.at)),
        suspended_by: suspension.and_then(|s| s.by),
    }))
}

// ---- requests ----

/// Starts a Request of the latest (or the given) version of a process.
#[utoipa::path(
    post, path = "/api/v1/processes/{key}/requests", tag = "requests",
    params(("key" = String, Path, description = "The process key")),
    request_body(content = StartBody, description = "May be left out (same as `{}`)"),
    responses(
        (status = 201, description = "The new Request", body = RequestView),
        (status = 404, description = "`process_not_found` (key or version)", body = ErrorBody),
        (status = 409, description = "`process_suspended`: the process is suspended", body = ErrorBody),
        (status = 422, description = "`cannot_start`: the process cannot be started this way", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn start_request(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<StartBody>,
) -> ApiResult<Response> {
    // The Request as written (no second read); an unknown key or version is the engine's 404.
    let by = Some(caller.username.clone());
    let (view, size) = state
        .on_engine(move |engine| async move {
            let r = engine.start_request_by(&key, body.version, body.data, by, Utc::now()).await?;
            request_view(&engine, r).await
        })
        .await?;
    json_answer(StatusCode::CREATED, view, size).await
}

/// A Request as the API shows it, and about how large its data is. Read and shaped on the
/// engine's runtime, in one hop: a large Request's state is parsed there, not on a thread that
/// answers HTTP.
async fn request_json(state: &AppState, id: RequestId) -> ApiResult<(RequestView, u64)> {
    state
        .on_engine(move |engine| async move {
            let r = engine.store().load_request(id).await?;
            request_view(&engine, r).await
        })
        .await
}

/// [`request_json`] as the answer.
pub(super) async fn request_answer(state: &AppState, id: RequestId) -> ApiResult<Response> {
    let (view, size) = request_json(state, id).await?;
    json_answer(StatusCode::OK, view, size).await
}

/// 404 `request_not_found` unless the caller may see the Request: operators and admins see every
/// one, participants those they started or took part in (completed a task of).
async fn may_see_request(state: &AppState, caller: &Caller, id: RequestId) -> ApiResult<()> {
    let Some(username) = caller.visible_to() else { return Ok(()) };
    if state.store().took_part(id, &username).await? {
        return Ok(());
    }
    Err(ApiError::not_found("request_not_found", format!("no Request {id}")))
}

/// Serializes an answer on a blocking thread when it is large (`size`: about its bytes), so that
/// a thread answering HTTP never spends long on one (whole Requests can hold megabytes of data).
async fn json_answer<T: serde::Serialize + Send + 'static>(
    status: StatusCode,
    value: T,
    size: u64,
) -> ApiResult<Response> {
    if size < super::OFFLOAD_BYTES {
        return Ok((status, Json(value)).into_response());
    }
    let bytes = tokio::task::spawn_blocking(move || serde_json::to_vec(&value))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    Ok((status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// The view of a Request and about how large its data is (run on the engine's runtime).
async fn request_view(engine: &Engine, r: LoadedRequest) -> Result<(RequestView, u64), sluice_worker::Error> {
    let size = r.instance.data_size();
    // The engine's cache of imported processes names the elements of tokens and incidents.
    let process = engine.process(&r.meta.process_key, r.meta.process_version).await?;
    let tokens = r
        .instance
        .tokens()
        .iter()
        .map(|t| TokenInfo {
            element_id: process.element(t.element).id.to_string(),
            state: TokenState::from_runtime(t.state),
        })
        .collect();
    let incidents = r
        .instance
        .incidents()
        .iter()
        .map(|i| IncidentInfo {
            id: i.id.0,
            element_id: process.element(i.element).id.to_string(),
            code: i.code.clone(),
            message: i.message.clone(),
        })
        .collect();
    let suspended = r.instance.is_suspended();
    let m = r.meta;
    let view = RequestView {
        id: m.id.to_string(),
        process_key: m.process_key,
        process_version: m.process_version,
        status: m.status.into(),
        data: m.data,
        tokens,
        incidents,
        created_at: time(m.created_at),
        completed_at: m.completed_at.map(time),
        started_by: m.started_by,
        parent_request_id: m.parent.map(|(id, _)| id.to_string()),
        suspended,
    };
    Ok((view, size))
}

/// The most Requests one page holds.
const MAX_PAGE: u32 = 200;

/// Requests, newest first, one page at a time, found by process, version, status, starter,
/// creation time, where a token waits, open incidents and data.
///
/// Data conditions are parameters `data.PATH` (a dotted path of object keys) with an operator:
/// `data.customer.name=Acme`, `data.amount>=1000` (encoded `data.amount%3E=1000`), `>`, `<`,
/// `<=`, `!=`. A value that reads as a JSON number, `true`, `false`, `null` or a quoted string is
/// that value (`data.code="1000"` is the string); anything else is text. Every condition must
/// hold. Paths named in `SLUICE_SEARCH_FIELDS` are indexed; others are searched by reading
/// every Request the other filters leave.
#[utoipa::path(
    get, path = "/api/v1/requests", tag = "requests",
    params(ListQuery),
    responses(
        (status = 200, description = "One page", body = RequestPage),
        (status = 400, description = "`invalid_query`, `bad_request` (limit, parent, a time, a data condition that is not one) or `invalid_cursor`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_requests(
    State(state): State<AppState>,
    caller: Caller,
    SearchQuery { query: q, data }: SearchQuery<ListQuery>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!("`limit` must be between 1 and {MAX_PAGE}"))
            .with(Details::Field(Some("limit".into()))));
    }
    let parent = match q.parent.as_deref() {
        Some(p) => Some(p.parse::<RequestId>().map_err(|_| {
            ApiError::bad_request(format!("invalid Request id `{p}`")).with(Details::Field(Some("parent".into())))
        })?),
        None => None,
    };
    if let Some(v) = q.version.filter(|v| *v < 1) {
        return Err(ApiError::bad_request(format!("`version` must be 1 or more, not {v}"))
            .with(Details::Field(Some("version".into()))));
    }
    let filter = RequestFilter {
        process_key: q.process,
        status: q.status.map(Into::into),
        visible_to: caller.visible_to(),
        parent,
        version: q.version,
        started_by: q.started_by.filter(|s| !s.is_empty()),
        created_after: super::rfc3339("created_after", q.created_after)?,
        created_before: super::rfc3339("created_before", q.created_before)?,
        waiting_at: q.element.filter(|s| !s.is_empty()),
        incident: q.incident,
        data,
    };
    // An empty cursor is no cursor: the first page.
    let cursor = q.cursor.as_deref().filter(|c| !c.is_empty());
    let whole = q.include == Some(Include::Data);
    let (summaries, next_cursor) = state.store().list_request_summaries(&filter, limit, cursor, whole).await?;
    if !whole {
        let requests = summaries.into_iter().map(|(r, _)| ListedRequest::Summary(summary(r))).collect();
        return Ok(Json(RequestPage { requests, next_cursor }).into_response());
    }
    // Whole Requests, as many as fit in the budget (at least one), so that a page of large
    // Requests cannot make an answer (and the memory behind it) of hundreds of megabytes.
    let mut budget = LIST_DATA_BUDGET;
    let mut taken = 0;
    for (_, bytes) in &summaries {
        if taken > 0 && *bytes > budget {
            break;
        }
        budget = budget.saturating_sub(*bytes);
        taken += 1;
    }
    let next_cursor = match summaries.get(taken) {
        Some(_) => summaries.get(taken - 1).map(|(r, _)| Store::cursor_after(r)),
        None => next_cursor,
    };
    let ids: Vec<RequestId> = summaries[..taken].iter().map(|(r, _)| r.id).collect();
    let (requests, size) = state
        .on_engine(move |engine| async move {
            let mut loaded: HashMap<RequestId, LoadedRequest> =
                engine.store().load_requests(&ids).await?.into_iter().map(|r| (r.meta.id, r)).collect();
            let mut requests = Vec::with_capacity(ids.len());
            let mut size = 0;
            for id in ids {
                // A Request pruned between the two reads is left out.
                if let Some(r) = loaded.remove(&id) {
                    let (view, bytes) = request_view(&engine, r).await?;
                    size += bytes;
                    requests.push(ListedRequest::Whole(view));
                }
            }
            Ok((requests, size))
        })
        .await?;
    json_answer(StatusCode::OK, RequestPage { requests, next_cursor }, size).await
}

/// The most bytes of stored data and state one page of whole Requests loads (`include=data`).
const LIST_DATA_BUDGET: u64 = 8 << 20;

fn summary(r: RequestRow) -> RequestSummary {
    RequestSummary {
        id: r.id.to_string(),
        process_key: r.process_key,
        process_version: r.process_version,
        status: r.status.into(),
        created_at: time(r.created_at),
        completed_at: r.completed_at.map(time),
        started_by: r.started_by,
    }
}

/// One Request.
#[utoipa::path(
    get, path = "/api/v1/requests/{id}", tag = "requests",
    params(("id" = String, Path, format = "uuid", description = "The Request id")),
    responses(
        (status = 200, description = "The Request", body = RequestView),
        (status = 404, description = "`request_not_found`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_request(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let id = request_id(&id)?;
    may_see_request(&state, &caller, id).await?;
    request_answer(&state, id).await
}

/// A Request's history, oldest first.
#[utoipa::path(
    get, path = "/api/v1/requests/{id}/events", tag = "requests",
    params(("id" = String, Path, format = "uuid", description = "The Request id"), EventQuery),
    responses(
        (status = 200, description = "One page of the history", body = EventList),
        (status = 400, description = "`invalid_query`, `bad_request` (limit) or `invalid_cursor`", body = ErrorBody),
        (status = 404, description = "`request_not_found`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn request_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Json<EventList>> {
    let id = request_id(&id)?;
    may_see_request(&state, &caller, id).await?;
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > MAX_EVENT_PAGE {
        return Err(ApiError::bad_request(format!("`limit` must be between 1 and {MAX_EVENT_PAGE}"))
            .with(Details::Field(Some("limit".into()))));
    }
    // 404 for an unknown Request rather than an empty history.
    state.store().request(id).await?;
    let cursor = q.cursor.as_deref().filter(|c| !c.is_empty());
    let (events, next_cursor) = state.store().request_events_page(id, limit as usize, cursor).await?;
    let events = events
        .into_iter()
        .map(|e| {
            let mut extra = match e.payload {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            // The fixed fields win over a payload's fields of the same name.
            for fixed in ["at", "type", "element_id"] {
                extra.remove(fixed);
            }
            EventView { at: time(e.at), kind: e.kind, element_id: e.element_id, extra }
        })
        .collect();
    Ok(Json(EventList { events, next_cursor }))
}

/// The most events one page of a history holds.
const MAX_EVENT_PAGE: u32 = 10_000;

/// Cancels a Request: its tokens, tasks, timers and subscriptions end.
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/cancel", tag = "requests",
    params(("id" = String, Path, format = "uuid", description = "The Request id")),
    responses(
        (status = 200, description = "The Request, now `canceled`", body = RequestView),
        (status = 404, description = "`request_not_found`", body = ErrorBody),
        (status = 409, description = "`request_not_active`: already completed or canceled", body = ErrorBody),
        (status = 503, description = "`busy`: the Request kept changing concurrently; try again", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn cancel_request(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = request_id(&id)?;
    state.on_engine(move |engine| async move { engine.cancel(id, Utc::now()).await }).await?;
    state.audit(Some(&caller), &client, "request_canceled", Some(id.to_string()), serde_json::json!({})).await;
    request_answer(&state, id).await
}

// Its OpenAPI attribute and body follow `cancel_request` above: utoipa wants each endpoint's
// path and answers written out, and the engine call (`retry`, not `cancel`) is all that differs.
/// Retries every open incident of a Request.
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/retry", tag = "requests",
    params(("id" = String, Path, format = "uuid", description = "The Request id")),
    responses(
        (status = 200, description = "The Request, resumed (unchanged when it had no open incident)", body = RequestView),
        (status = 404, description = "`request_not_found`", body = ErrorBody),
        (status = 409, description = "`request_not_active`: the incident was resolved concurrently", body = ErrorBody),
        (status = 503, description = "`busy`: the Request kept changing concurrently; try again", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn retry_request(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = request_id(&id)?;
    state.on_engine(move |engine| async move { engine.retry(id, Utc::now()).await }).await?;
    state.audit(Some(&caller), &client, "request_retried", Some(id.to_string()), serde_json::json!({})).await;
    request_answer(&state, id).await
}

/// Repairs a Request: cancels the tokens at elements and starts tokens before or after elements,
/// in one step (all or nothing), one history entry (`request_modified`) per change.
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/modify", tag = "requests",
    params(("id" = String, Path, format = "uuid", description = "The Request id")),
    request_body = ModifyBody,
    responses(
        (status = 200, description = "The Request after the change", body = RequestView),
        (status = 400, description = "`bad_request`: an unknown field or a malformed body", body = ErrorBody),
        (status = 404, description = "`request_not_found`", body = ErrorBody),
        (status = 409, description = "`request_not_active`: the Request has ended", body = ErrorBody),
        (status = 422, description = "`invalid_input` (an element id not in the Request's version, or nothing to change) \
            or `modification_invalid` (the model's rules refuse it: no token to cancel, a start into a join, \
            into a sub-process with no active instance), naming the element", body = ErrorBody),
        (status = 503, description = "`busy`: the Request kept changing concurrently; try again", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn modify_request(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ModifyBody>,
) -> ApiResult<Response> {
    let id = request_id(&id)?;
    let detail = serde_json::json!({
        "cancel": body.cancel,
        "start_before": body.start_before.iter().map(|s| &s.element_id).collect::<Vec<_>>(),
        "start_after": body.start_after.iter().map(|s| &s.element_id).collect::<Vec<_>>(),
    });
    let starts = |list: Vec<StartAtBody>| list.into_iter().map(|s| (s.element_id, s.data)).collect();
    let repair = sluice_worker::Repair {
        cancel: body.cancel,
        start_before: starts(body.start_before),
        start_after: starts(body.start_after),
        allow_join: body.allow_join,
    };
    let actor = Some(caller.username.clone());
    state.on_engine(move |engine| async move { engine.modify(id, repair, actor, Utc::now()).await }).await?;
    state.audit(Some(&caller), &client, "request_modified", Some(id.to_string()), detail).await;
    request_answer(&state, id).await
}

// ---- messages and connectors ----

/// The longest time to live a message may have: 90 days.
const MAX_MESSAGE_TTL_MS: u64 = 90 * 24 * 3600 * 1000;

/// Publishes a message: to the oldest Request waiting on it, else to a message start event; else
/// it is kept for its `time_to_live` (or dropped). A `message_id` published before is not
/// published again.
#[utoipa::path(
    post, path = "/api/v1/messages", tag = "requests",
    request_body = MessageBody,
    responses(
        (status = 200, description = "The Requests the message reached (possibly none), until when it is kept, and whether it was a duplicate", body = MessageAnswer),
        (status = 400, description = "`bad_request`: an empty name or message id, or a time to live over 90 days", body = ErrorBody),
        (status = 503, description = "`busy`: a Request kept changing concurrently; try again", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn publish_message(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<MessageBody>,
) -> ApiResult<Response> {
    if body.name.trim().is_empty() {
        return Err(ApiError::bad_request("the message needs a name").with(Details::Field(Some("name".into()))));
    }
    if body.time_to_live > MAX_MESSAGE_TTL_MS {
        return Err(ApiError::bad_request(format!(
            "`time_to_live` is {} ms; at most {MAX_MESSAGE_TTL_MS} (90 days)",
            body.time_to_live
        ))
        .with(Details::Field(Some("time_to_live".into()))));
    }
    if body.message_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
        return Err(ApiError::bad_request("`message_id` is empty: leave it out or give an id")
            .with(Details::Field(Some("message_id".into()))));
    }
    let publish = sluice_worker::Publish {
        name: body.name,
        correlation_key: body.correlation_key,
        data: body.data,
        time_to_live: std::time::Duration::from_millis(body.time_to_live),
        message_id: body.message_id,
    };
    let published = state.on_engine(move |engine| async move { engine.publish(publish, Utc::now()).await }).await?;
    let mut requests = Vec::with_capacity(published.reached.len());
    let mut size = 0;
    for id in published.reached {
        let (view, bytes) = request_json(&state, id).await?;
        size += bytes;
        requests.push(view);
    }
    let answer = MessageAnswer { requests, kept_until: published.kept_until.map(time), duplicate: published.duplicate };
    json_answer(StatusCode::OK, answer, size).await
}

/// Broadcasts a signal: every Request waiting for it (signal catch and boundary events) gets it,
/// and every process whose latest version has a signal start event of that name starts a Request.
#[utoipa::path(
    post, path = "/api/v1/signals", tag = "requests",
    request_body = SignalBody,
    responses(
        (status = 200, description = "The ids of the Requests the signal started and stepped (possibly none)", body = SignalReached),
        (status = 400, description = "`invalid_json`: the name is missing; `bad_request`: it is empty", body = ErrorBody),
        (status = 503, description = "`busy`: a Request kept changing concurrently; try again", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn broadcast_signal(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignalBody>,
) -> ApiResult<Json<SignalReached>> {
    if body.name.trim().is_empty() {
        return Err(ApiError::bad_request("the signal needs a name").with(Details::Field(Some("name".into()))));
    }
    let reached = state
        .on_engine(move |engine| async move { engine.broadcast_signal(&body.name, body.data, Utc::now()).await })
        .await?;
    let ids = |ids: Vec<RequestId>| ids.into_iter().map(|id| id.to_string()).collect();
    Ok(Json(SignalReached { started: ids(reached.started), stepped: ids(reached.stepped) }))
}

/// Element templates for Camunda Modeler made from the connectors' JSON Schemas: save the answer
/// as a `.json` file in Camunda Modeler's `resources/element-templates` folder.
#[utoipa::path(
    get, path = "/api/v1/connectors/templates", tag = "connectors",
    params(TemplateQuery),
    responses(
        (status = 200, description = "A JSON array of element templates, one per connector (Camunda's own connectors left out)", body = Vec<Object>),
        (status = 400, description = "`bad_request`: an unknown dialect", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn connector_templates(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TemplateQuery>,
) -> Json<serde_json::Value> {
    let dialect = q.dialect.unwrap_or(crate::templates::Dialect::Camunda8);
    Json(crate::templates::element_templates(&state.inner.connectors, dialect))
}

/// The connector types this server knows, with the JSON Schema of their inputs.
#[utoipa::path(
    get, path = "/api/v1/connectors", tag = "connectors",
    responses((status = 200, description = "The connectors", body = ConnectorList)),
    security(("bearer" = [])),
)]
pub async fn list_connectors(State(state): State<AppState>) -> Json<ConnectorList> {
    let connectors = state
        .inner
        .connectors
        .iter()
        .map(|c| ConnectorView {
            connector_type: c.connector_type.to_string(),
            name: c.name.to_string(),
            inputs_schema: c.inputs_schema.clone(),
        })
        .collect();
    Json(ConnectorList { connectors })
}
