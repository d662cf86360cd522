//! The routes that change how a process or a Request lives, for designers and operators:
//! suspend, resume and delete versions of a process; migrate, suspend, resume a Request and
//! change its data. Each translates between JSON and one `Engine` or `Store` call, as
//! `handlers.rs` does for the rest.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;

use super::handlers::{get_process, request_answer, request_id};
use super::views::{ErrorBody, MigrateBody, ProcessDetail, ProcessQuery, RequestView};
use super::{ApiError, ApiJson, ApiQuery, AppState, Caller, Client};

type ApiResult<T> = Result<T, ApiError>;

/// Suspends a process: it starts no Request (by the API, a message, a signal, a timer or a call
/// activity) until it is resumed; its running Requests go on.
#[utoipa::path(
    post, path = "/api/v1/processes/{key}/suspend", tag = "processes",
    params(("key" = String, Path, description = "The process key")),
    responses(
        (status = 200, description = "The process, suspended", body = ProcessDetail),
        (status = 404, description = "`process_not_found`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn suspend_process(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(key): Path<String>,
) -> ApiResult<Json<ProcessDetail>> {
    let changed = match state.store().suspend_process(&key, Some(&caller.username), Utc::now()).await {
        Err(sluice_store::Error::ProcessNotFound { .. }) => {
            return Err(ApiError::not_found("process_not_found", format!("no process `{key}` is deployed")));
        }
        other => other?,
    };
    if changed {
        state.audit(Some(&caller), &client, "process_suspended", Some(key.clone()), serde_json::json!({})).await;
    }
    get_process(State(state), Path(key), ApiQuery(ProcessQuery { version: None })).await
}

/// Deletes a version of a process that no Request uses and that is not its latest.
#[utoipa::path(
    delete, path = "/api/v1/processes/{key}/versions/{version}", tag = "processes",
    params(
        ("key" = String, Path, description = "The process key"),
        ("version" = i64, Path, minimum = 1, description = "The version to delete"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`process_not_found` (key or version)", body = ErrorBody),
        (status = 409, description = "`version_in_use`: Requests use it (migrate them or let them be pruned first); `version_is_latest`: deploy a newer version first", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn delete_version(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path((key, version)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let missing =
        || ApiError::not_found("process_not_found", format!("no process `{key}` version {version} is deployed"));
    let n: i64 = version.parse().map_err(|_| missing())?;
    let k = key.clone();
    match state.on_engine(move |engine| async move { engine.delete_version(&k, n).await }).await {
        Err(e) if e.code == "process_not_found" => return Err(missing()),
        other => other?,
    }
    state.audit(Some(&caller), &client, "process_version_deleted", Some(key), serde_json::json!({"version": n})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Resumes a suspended process: it starts Requests again.
#[utoipa::path(
    post, path = "/api/v1/processes/{key}/resume", tag = "processes",
    params(("key" = String, Path, description = "The process key")),
    responses(
        (status = 200, description = "The process, no longer suspended", body = ProcessDetail),
        (status = 404, description = "`process_not_found`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn resume_process(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(key): Path<String>,
) -> ApiResult<Json<ProcessDetail>> {
    if state.store().resume_process(&key).await? {
        state.audit(Some(&caller), &client, "process_resumed", Some(key.clone()), serde_json::json!({})).await;
    }
    get_process(State(state), Path(key), ApiQuery(ProcessQuery { version: None })).await
}

/// Migrates a Request to another version of its process: each element where it has something
/// goes to the element the mapping names, else to the one with its own id; timers, message and
/// signal subscriptions and boundary events are re-created on the new version's elements. All or
/// nothing; a Request already on that version is answered as it is.
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/migrate", tag = "requests",
    params(("id" = String, Path, format = "uuid", description = "The Request id")),
    request_body = MigrateBody,
    responses(
        (status = 200, description = "The Request on the new version", body = RequestView),
        (status = 400, description = "`bad_request`: an unknown field", body = ErrorBody),
        (status = 404, description = "`request_not_found`", body = ErrorBody),
        (status = 422, description = "`migration_invalid`: the plan does not fit, naming every element that does not (or no such version, or a finished Request)", body = ErrorBody),
        (status = 503, description = "`busy`: the Request kept changing concurrently; try again", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn migrate_request(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MigrateBody>,
) -> ApiResult<Response> {
    let id = request_id(&id)?;
    let actor = Some(caller.username.clone());
    let version = body.version;
    let mapping = body.mapping;
    let detail = serde_json::json!({"version": version, "mapping": mapping});
    let done = state
        .on_engine(move |engine| async move { engine.migrate(id, version, &mapping, actor, Utc::now()).await })
        .await?;
    if let sluice_worker::Migration::Moved { from } = done {
        let mut detail = detail;
        detail["from_version"] = serde_json::json!(from);
        state.audit(Some(&caller), &client, "request_migrated", Some(id.to_string()), detail).await;
    }
    request_answer(&state, id).await
}

/// Suspends a Request: it takes no input but resume and cancel (completing its tasks is 409
/// `request_suspended`, messages do not correlate to it), and its jobs (timers, connector calls,
/// job worker jobs) wait; a timer that comes due meanwhile fires right after the resume.
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/suspend", tag = "requests",
    params(("id" = String, Path, format = "uuid", description = "The Request id")),
    responses(
        (status = 200, description = "The Request, suspended", body = RequestView),
        (status = 404, description = "`request_not_found`", body = ErrorBody),
        (status = 409, description = "`request_not_active`: it is finished", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn suspend_request(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    suspend_or_resume(state, caller, client, id, true).await
}

/// Resumes a suspended Request: its jobs are due again as they were.
#[utoipa::path(
    post, path = "/api/v1/requests/{id}/resume", tag = "requests",
    params(("id" = String, Path, format = "uuid", description = "The Request id")),
    responses(
        (status = 200, description = "The Request, running again", body = RequestView),
        (status = 404, description = "`request_not_found`", body = ErrorBody),
        (status = 409, description = "`request_not_active`: it is finished", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn resume_request(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    suspend_or_resume(state, caller, client, id, false).await
}

async fn suspend_or_resume(
    state: AppState,
    caller: Caller,
    client: Client,
    id: String,
    suspend: bool,
) -> ApiResult<Response> {
    let id = request_id(&id)?;
    let actor = Some(caller.username.clone());
    state.on_engine(move |engine| async move { engine.suspend(id, suspend, actor, Utc::now()).await }).await?;
    let action = if suspend { "request_suspended" } else { "request_resumed" };
    state.audit(Some(&caller), &client, action, Some(id.to_string()), serde_json::json!({})).await;
    request_answer(&state, id).await
}

/// Changes a Request's data with a JSON merge patch (RFC 7396): a key set to `null` is removed,
/// an object merges into an object, anything else replaces. Recorded in the history
/// (`data_changed`, with the patch and who sent it) and in the audit log.
#[utoipa::path(
    patch, path = "/api/v1/requests/{id}/data", tag = "requests",
    params(("id" = String, Path, format = "uuid", description = "The Request id")),
    request_body(content = Object, description = "A JSON merge patch of the Request's data", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The Request with its new data", body = RequestView),
        (status = 400, description = "`invalid_json`: not a JSON object", body = ErrorBody),
        (status = 404, description = "`request_not_found`", body = ErrorBody),
        (status = 409, description = "`request_not_active`: the Request is finished", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorBody),
        (status = 503, description = "`busy`: the Request kept changing concurrently; try again", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn patch_request_data(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<Response> {
    let id = request_id(&id)?;
    let detail = serde_json::json!({"keys": patch.keys().collect::<Vec<_>>()});
    let actor = Some(caller.username.clone());
    state.on_engine(move |engine| async move { engine.patch_data(id, patch, actor, Utc::now()).await }).await?;
    state.audit(Some(&caller), &client, "request_data_changed", Some(id.to_string()), detail).await;
    request_answer(&state, id).await
}
