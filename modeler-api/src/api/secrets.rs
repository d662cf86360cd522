//! The routes of connector secrets (admin only): set one, list their names, remove one. A value
//! goes in once and never comes out: not in an answer, the audit log or a log line.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::json;

use super::views::{ErrorBody, SecretBody, SecretList, SecretView, time};
use super::{ApiError, ApiJson, AppState};
use super::{Caller, Client};

type ApiResult<T> = Result<T, ApiError>;

/// Sets the secret `name` (new or replaced), sealed with `SLUICE_SECRET_KEY`. Connector inputs
/// use it as `{{ secrets.NAME }}`; the value is never answered again.
#[utoipa::path(
    put, path = "/api/v1/secrets/{name}", tag = "connectors",
    params(("name" = String, Path, description = "The secret's name: letters, digits, `_`, `-`, `.` (say SLACK_OAUTH_TOKEN)")),
    request_body = SecretBody,
    responses(
        (status = 204, description = "Stored"),
        (status = 422, description = "`invalid_input`: a name or value that does not fit", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<SecretBody>,
) -> ApiResult<StatusCode> {
    let key = name.clone();
    let created = state.on_engine(move |engine| async move { engine.put_secret(&key, &body.value).await }).await?;
    let action = if created { "secret_created" } else { "secret_replaced" };
    state.audit(Some(&caller), &client, action, Some(name), json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists the secrets' names and dates; never a value.
#[utoipa::path(
    get, path = "/api/v1/secrets", tag = "connectors",
    responses((status = 200, description = "The secrets, by name", body = SecretList)),
    security(("bearer" = [])),
)]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<SecretList>> {
    let secrets = state.on_engine(move |engine| async move { engine.secrets().await }).await?;
    let secrets = secrets
        .into_iter()
        .map(|s| SecretView { name: s.name, created_at: time(s.created_at), updated_at: time(s.updated_at) })
        .collect();
    Ok(Json(SecretList { secrets }))
}

/// Removes the secret `name`; connector tasks that use it raise an incident naming it until it is
/// set again.
#[utoipa::path(
    delete, path = "/api/v1/secrets/{name}", tag = "connectors",
    params(("name" = String, Path, description = "The secret's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "`secret_not_found`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let key = name.clone();
    let removed = state.on_engine(move |engine| async move { engine.delete_secret(&key).await }).await?;
    if !removed {
        return Err(ApiError::not_found("secret_not_found", format!("no secret `{name}`")));
    }
    state.audit(Some(&caller), &client, "secret_deleted", Some(name), json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}
