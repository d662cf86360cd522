//! The job worker routes (issue 17): activate jobs of given types (long-polling), then complete,
//! fail, throw a BPMN error or extend the lock of each by the key the activation gave. The
//! protocol is in `docs/workers.md`; the engine side in `engine/worker/src/job_workers.rs`.
//!
//! Who may take which types: admins and operators any; a `worker` user the types its groups
//! name, a group `jobs:T` for type `T` (`jobs:*` for any). A job of another type is answered as
//! unknown (404).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sluice_engine::runtime::Data;
use sluice_worker::{Activation, JobTypes};
use utoipa::ToSchema;

use super::auth::Role;
use super::views::{ErrorBody, time};
use super::{ApiError, ApiJson, AppState, Caller};

type ApiResult<T> = Result<T, ApiError>;

/// The longest an activation waits for a job (`wait_ms` is capped to it, and to half the
/// request timeout).
const MAX_WAIT: Duration = Duration::from_secs(20);
/// The longest lock an activation or an extension gives.
const MAX_LOCK_MS: u64 = 24 * 3600 * 1000;
/// The most jobs one activation hands out.
const MAX_JOBS: u32 = 1000;
/// The longest back-off a failure may ask for.
const MAX_RETRY_AFTER_MS: u64 = 7 * 24 * 3600 * 1000;

/// What a worker asks for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateBody {
    /// The job types it takes (1 to 32).
    pub types: Vec<String>,
    /// Its name, kept on the jobs it holds.
    pub worker: String,
    /// The most jobs to get (1 to 1000).
    #[schema(minimum = 1, maximum = 1000)]
    pub max_jobs: u32,
    /// How long it holds each job (ms, up to a day); after that the job may be activated again.
    #[schema(minimum = 1)]
    pub lock_ms: u64,
    /// How long to wait for a job when none is free (ms; capped at 20 s). Default 0: answer at once.
    #[serde(default)]
    pub wait_ms: Option<u64>,
}

/// A job handed to a worker.
#[derive(Serialize, ToSchema)]
pub struct JobView {
    /// The activation's key: name it in the job's later calls (`<job id>.<activation>`).
    pub id: String,
    #[serde(rename = "type")]
    pub job_type: String,
    #[schema(format = "uuid")]
    pub request_id: String,
    pub element_id: String,
    /// The Request's variables as the task sees them (its inputs, when the task maps some).
    #[schema(value_type = Object)]
    pub data: Data,
    /// The task's headers (`zeebe:taskHeaders`).
    #[schema(value_type = Object)]
    pub headers: serde_json::Map<String, serde_json::Value>,
    /// The retries left.
    pub retries: i64,
    #[schema(format = DateTime)]
    pub lock_expires_at: String,
}

/// The jobs an activation got (none when the wait ran out).
#[derive(Serialize, ToSchema)]
pub struct ActivatedJobs {
    pub jobs: Vec<JobView>,
}

/// A completion.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteJobBody {
    /// Variables merged into the Request's data.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Option<Data>,
}

/// A failure.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailJobBody {
    pub message: String,
    /// The retries left after this failure; 0: no more tries, the Request gets an incident.
    #[schema(minimum = 0)]
    pub retries: i64,
    /// How long before the job may be activated again (ms).
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
}

/// A BPMN error thrown at the job's task.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobErrorBody {
    /// The error code boundary error events match.
    pub code: String,
    #[serde(default)]
    pub message: Option<String>,
}

/// A longer lock.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendJobBody {
    /// The lock from now (ms).
    #[schema(minimum = 1)]
    pub lock_ms: u64,
}

/// The job types `caller` may take.
fn allowed(caller: &Caller) -> JobTypes {
    if caller.has(Role::Operator) {
        return JobTypes::Any;
    }
    let types: Vec<String> = caller.groups.iter().filter_map(|g| g.strip_prefix("jobs:")).map(str::to_owned).collect();
    if types.iter().any(|t| t == "*") {
        JobTypes::Any
    } else if types.is_empty() {
        JobTypes::None
    } else {
        JobTypes::Only(types)
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message)
}

fn lock(ms: u64) -> ApiResult<Duration> {
    if ms == 0 || ms > MAX_LOCK_MS {
        return Err(invalid(format!("`lock_ms` must be between 1 and {MAX_LOCK_MS}")));
    }
    Ok(Duration::from_millis(ms))
}

/// Activates jobs of the given types, waiting up to `wait_ms` for one.
#[utoipa::path(
    post, path = "/api/v1/jobs/activate", tag = "jobs",
    request_body = ActivateBody,
    responses(
        (status = 200, description = "The jobs activated (none when the wait ran out)", body = ActivatedJobs),
        (status = 403, description = "`forbidden`: a type the caller may not take", body = ErrorBody),
        (status = 422, description = "`invalid_input`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn activate(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ActivateBody>,
) -> ApiResult<Json<ActivatedJobs>> {
    if body.types.is_empty() || body.types.len() > 32 || body.types.iter().any(|t| t.trim().is_empty()) {
        return Err(invalid("`types` must name 1 to 32 job types"));
    }
    if body.worker.trim().is_empty() || body.worker.len() > 200 {
        return Err(invalid("`worker` must be a name of 1 to 200 bytes"));
    }
    if body.max_jobs == 0 || body.max_jobs > MAX_JOBS {
        return Err(invalid(format!("`max_jobs` must be between 1 and {MAX_JOBS}")));
    }
    let allowed = allowed(&caller);
    if let Some(t) = body.types.iter().find(|t| !allowed.allows(t)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "`{}` may not take jobs of type `{t}`: a worker takes the types its groups name (`jobs:{t}`, or `jobs:*`)",
                caller.username
            ),
        ));
    }
    let cap = MAX_WAIT.min(state.request_timeout() / 2);
    let activation = Activation {
        worker: body.worker,
        types: body.types,
        max_jobs: body.max_jobs,
        lock: lock(body.lock_ms)?,
        wait: Duration::from_millis(body.wait_ms.unwrap_or(0)).min(cap),
    };
    let jobs = state.on_engine(move |engine| async move { engine.activate_jobs(&activation).await }).await?;
    let jobs = jobs
        .into_iter()
        .map(|j| JobView {
            id: j.key,
            job_type: j.job_type,
            request_id: j.request_id.to_string(),
            element_id: j.element_id,
            data: j.data,
            headers: j.headers,
            retries: j.retries,
            lock_expires_at: time(j.lock_expires_at),
        })
        .collect();
    Ok(Json(ActivatedJobs { jobs }))
}

/// Completes a job: its data is merged into the Request's and the task moves on.
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/complete", tag = "jobs",
    params(("id" = String, Path, description = "The activation's key (`id` of the activated job)")),
    request_body = CompleteJobBody,
    responses(
        (status = 204, description = "Completed; the Request moved on"),
        (status = 404, description = "`job_not_found`: done, its task was left, or not the caller's type", body = ErrorBody),
        (status = 409, description = "`job_lock_lost`: the lock ran out and another worker took the job", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CompleteJobBody>,
) -> ApiResult<StatusCode> {
    let data = body.data.unwrap_or_default();
    let allowed = allowed(&caller);
    state.on_engine(move |engine| async move { engine.complete_job(&id, data, &allowed).await }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reports a failure: with retries left the job comes back after `retry_after_ms`; with none,
/// the Request gets an incident at the task (`POST /api/v1/requests/{id}/retry` makes a new job).
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/fail", tag = "jobs",
    params(("id" = String, Path, description = "The activation's key")),
    request_body = FailJobBody,
    responses(
        (status = 204, description = "Recorded"),
        (status = 404, description = "`job_not_found`", body = ErrorBody),
        (status = 409, description = "`job_lock_lost`", body = ErrorBody),
        (status = 422, description = "`invalid_input`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn fail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FailJobBody>,
) -> ApiResult<StatusCode> {
    if body.retries < 0 {
        return Err(invalid("`retries` must be 0 or more"));
    }
    let after = body.retry_after_ms.unwrap_or(0);
    if after > MAX_RETRY_AFTER_MS {
        return Err(invalid(format!("`retry_after_ms` must be at most {MAX_RETRY_AFTER_MS}")));
    }
    let allowed = allowed(&caller);
    let retry_after = Duration::from_millis(after);
    state
        .on_engine(move |engine| async move {
            engine.fail_job(&id, body.message, body.retries, retry_after, &allowed).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Throws a BPMN error at the job's task: its error boundary events (or the enclosing scopes'
/// handlers) catch it; uncaught, it is an incident.
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/error", tag = "jobs",
    params(("id" = String, Path, description = "The activation's key")),
    request_body = JobErrorBody,
    responses(
        (status = 204, description = "Thrown"),
        (status = 404, description = "`job_not_found`", body = ErrorBody),
        (status = 409, description = "`job_lock_lost`", body = ErrorBody),
        (status = 422, description = "`invalid_input`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn error(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<JobErrorBody>,
) -> ApiResult<StatusCode> {
    if body.code.trim().is_empty() {
        return Err(invalid("`code` must not be empty"));
    }
    let allowed = allowed(&caller);
    state
        .on_engine(move |engine| async move { engine.job_error(&id, body.code, body.message, &allowed).await })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Extends the job's lock to `lock_ms` from now.
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/extend", tag = "jobs",
    params(("id" = String, Path, description = "The activation's key")),
    request_body = ExtendJobBody,
    responses(
        (status = 204, description = "Extended"),
        (status = 404, description = "`job_not_found`", body = ErrorBody),
        (status = 409, description = "`job_lock_lost`", body = ErrorBody),
        (status = 422, description = "`invalid_input`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn extend(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ExtendJobBody>,
) -> ApiResult<StatusCode> {
    let d = lock(body.lock_ms)?;
    let allowed = allowed(&caller);
    state.on_engine(move |engine| async move { engine.extend_job(&id, d, &allowed).await }).await?;
    Ok(StatusCode::NO_CONTENT)
}
