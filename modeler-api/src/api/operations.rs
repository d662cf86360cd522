//! Background operations on many Requests (operators): `POST /api/v1/operations` migrates,
//! retries or cancels every Request a filter matches, in the background, one Request per
//! transaction; `GET /api/v1/operations/{id}` follows its progress. A server that stops or dies
//! during one leaves it to the next server that looks, which goes on where it stopped.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sluice_store::{OperationFilter, OperationRow, RequestId};
use utoipa::ToSchema;

use super::views::{ErrorBody, time};
use super::{ApiError, ApiJson, AppState, Caller, Client, Details};

type ApiResult<T> = Result<T, ApiError>;

/// What an operation does to each Request.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Move to `version` of the process (with `mapping`), as `POST /api/v1/requests/{id}/migrate`.
    Migrate,
    /// Retry every open incident.
    Retry,
    /// Cancel.
    Cancel,
}

impl OperationKind {
    fn as_str(self) -> &'static str {
        match self {
            OperationKind::Migrate => "migrate",
            OperationKind::Retry => "retry",
            OperationKind::Cancel => "cancel",
        }
    }
}

/// Which Requests an operation takes: those matching every filter given, created before the
/// operation.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct FilterBody {
    pub process: Option<String>,
    #[schema(minimum = 1)]
    pub version: Option<i64>,
    /// `active`, `error`, `completed` or `canceled`.
    pub status: Option<String>,
    pub started_by: Option<String>,
    /// A token waits at this element.
    pub element: Option<String>,
    /// With (`true`) or without (`false`) an open incident.
    pub incident: Option<bool>,
    #[schema(format = DateTime)]
    pub created_after: Option<String>,
    #[schema(format = DateTime)]
    pub created_before: Option<String>,
    /// Conditions on the Request's data, all of which must hold, each written `PATH OP VALUE`
    /// with `=`, `!=`, `<`, `<=`, `>`, `>=` (`["customer.name=Acme", "amount>=1000"]`), as a
    /// Request search takes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationBody {
    pub kind: OperationKind,
    #[serde(default)]
    pub filter: FilterBody,
    /// `migrate`: the version to move to.
    #[schema(minimum = 1)]
    pub version: Option<i64>,
    /// `migrate`: element ids of the old version mapped to the new (the rest by their own id).
    pub mapping: Option<HashMap<String, String>>,
}

/// A Request an operation could not handle, and why.
#[derive(Serialize, ToSchema)]
pub struct OperationFailure {
    #[schema(format = "uuid")]
    pub request_id: String,
    pub error: String,
}

#[derive(Serialize, ToSchema)]
pub struct OperationView {
    #[schema(format = "uuid")]
    pub id: String,
    pub kind: String,
    /// `running`, `done`, or `failed` (the operation itself could not go on: see `error`).
    pub status: String,
    /// The Requests it takes, counted when it was created.
    pub total: i64,
    /// Handled so far.
    pub done: i64,
    /// Refused so far (the first 20 are in `failures`).
    pub failed: i64,
    pub failures: Vec<OperationFailure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub filter: FilterBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping: Option<HashMap<String, String>>,
    #[schema(required = true)]
    pub created_by: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(format = DateTime, required = true)]
    pub finished_at: Option<String>,
}

impl From<OperationRow> for OperationView {
    fn from(op: OperationRow) -> Self {
        let failures = serde_json::from_value::<Vec<serde_json::Value>>(op.failures)
            .unwrap_or_default()
            .into_iter()
            .map(|f| OperationFailure {
                request_id: f["request_id"].as_str().unwrap_or_default().to_string(),
                error: f["error"].as_str().unwrap_or_default().to_string(),
            })
            .collect();
        let f = op.filter;
        OperationView {
            id: op.id.to_string(),
            kind: op.kind,
            status: op.status,
            total: op.total,
            done: op.done,
            failed: op.failed,
            failures,
            error: op.error,
            filter: FilterBody {
                process: f.process,
                version: f.version,
                status: f.status,
                started_by: f.started_by,
                element: f.element,
                incident: f.incident,
                created_after: f.created_after.map(time),
                created_before: f.created_before.map(time),
                data: f.data,
            },
            version: op.params["version"].as_i64(),
            mapping: serde_json::from_value(op.params["mapping"].clone()).ok(),
            created_by: op.created_by,
            created_at: time(op.created_at),
            updated_at: time(op.updated_at),
            finished_at: op.finished_at.map(time),
        }
    }
}

fn bad(field: &str, message: String) -> ApiError {
    ApiError::bad_request(message).with(Details::Field(Some(field.into())))
}

/// Starts a background operation on every Request a filter matches.
#[utoipa::path(
    post, path = "/api/v1/operations", tag = "requests",
    request_body = OperationBody,
    responses(
        (status = 202, description = "The operation, running", body = OperationView),
        (status = 400, description = "`bad_request`: an unknown field, a time or status that is none, a migration without `version` or `filter.process`", body = ErrorBody),
        (status = 422, description = "`migration_invalid`: the process has no such version", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    ApiJson(body): ApiJson<OperationBody>,
) -> ApiResult<Response> {
    let f = body.filter;
    if let Some(v) = f.version.filter(|v| *v < 1) {
        return Err(bad("filter.version", format!("`version` must be 1 or more, not {v}")));
    }
    let filter = OperationFilter {
        process: f.process.filter(|s| !s.is_empty()),
        version: f.version,
        status: f.status,
        started_by: f.started_by.filter(|s| !s.is_empty()),
        element: f.element.filter(|s| !s.is_empty()),
        incident: f.incident,
        created_after: super::rfc3339("filter.created_after", f.created_after)?,
        created_before: super::rfc3339("filter.created_before", f.created_before)?,
        data: f.data,
    };
    for (i, c) in filter.data.iter().enumerate() {
        sluice_store::parse_condition(c).map_err(|why| bad(&format!("filter.data[{i}]"), why))?;
    }
    filter.to_request_filter().map_err(|why| bad("filter.status", why))?;
    let params = match body.kind {
        OperationKind::Migrate => {
            let Some(version) = body.version else {
                return Err(bad("version", "a migration needs the `version` to move to".into()));
            };
            let Some(key) = &filter.process else {
                return Err(bad(
                    "filter.process",
                    "a migration moves the Requests of one process: give `filter.process`".into(),
                ));
            };
            let versions = state.store().process_versions(key).await?;
            if !versions.iter().any(|v| v.version == version) {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "migration_invalid",
                    format!("process `{key}` has no version {version}"),
                ));
            }
            serde_json::json!({"version": version, "mapping": body.mapping.unwrap_or_default()})
        }
        OperationKind::Retry | OperationKind::Cancel => {
            if body.version.is_some() {
                return Err(bad("version", "only a migration takes a `version`".into()));
            }
            if body.mapping.is_some() {
                return Err(bad("mapping", "only a migration takes a `mapping`".into()));
            }
            serde_json::json!({})
        }
    };
    let op = state
        .store()
        .create_operation(body.kind.as_str(), &filter, &params, Some(&caller.username), Utc::now())
        .await?;
    let details = serde_json::json!({"kind": op.kind, "total": op.total, "params": params});
    state.audit(Some(&caller), &client, "operation_started", Some(op.id.to_string()), details).await;
    Ok((StatusCode::ACCEPTED, Json(OperationView::from(op))).into_response())
}

/// An operation and its progress.
#[utoipa::path(
    get, path = "/api/v1/operations/{id}", tag = "requests",
    params(("id" = String, Path, format = "uuid", description = "The operation id")),
    responses(
        (status = 200, description = "The operation", body = OperationView),
        (status = 404, description = "`operation_not_found`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<OperationView>> {
    let missing = || ApiError::not_found("operation_not_found", format!("no operation {id}"));
    let op_id: RequestId = id.parse().map_err(|_| missing())?;
    let op = state.store().operation(op_id).await?.ok_or_else(missing)?;
    Ok(Json(OperationView::from(op)))
}
