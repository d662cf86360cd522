//! `GET /api/v1/processes/{key}/counts`: per element of one process version, the tokens on it and
//! its open incidents over all its open Requests (what a process's page draws on the diagram, as
//! Camunda Operate does). One aggregate in the store (`Store::element_counts`); the element
//! indexes it answers are named here with the version's process graph.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::views::{ErrorBody, ProcessQuery};
use super::{ApiError, ApiQuery, AppState};

type ApiResult<T> = Result<T, ApiError>;

/// One element's figures.
#[derive(Serialize, ToSchema, Debug, PartialEq, Eq)]
pub struct ElementFigures {
    /// Tokens on the element (waiting, ready, joining, in an incident, or inside it for a
    /// sub-process or multi-instance body).
    pub active: i64,
    /// Open incidents raised at the element.
    pub incidents: i64,
}

/// The counts of one process version.
#[derive(Serialize, ToSchema)]
pub struct ElementCounts {
    pub key: String,
    pub version: i64,
    /// By BPMN element id; elements with no token and no incident are left out.
    pub elements: BTreeMap<String, ElementFigures>,
}

/// Per element: active tokens and open incidents over all open Requests of a process version.
#[utoipa::path(
    get, path = "/api/v1/processes/{key}/counts", tag = "processes",
    params(("key" = String, Path, description = "The process id of the BPMN file"), ProcessQuery),
    responses(
        (status = 200, description = "The counts", body = ElementCounts),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 404, description = "`process_not_found` (key or version)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn element_counts(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<ProcessQuery>,
) -> ApiResult<Json<ElementCounts>> {
    let versions = state.store().process_versions(&key).await?;
    let chosen = match q.version {
        None => versions.last(),
        Some(n) => versions.iter().find(|v| v.version == n),
    };
    let Some(version) = chosen.map(|v| v.version) else {
        let message = match q.version {
            None => format!("no process `{key}` is deployed"),
            Some(n) => format!("no process `{key}` version {n} is deployed"),
        };
        return Err(ApiError::not_found("process_not_found", message));
    };
    let rows = state.store().element_counts(&key, version).await?;
    let process_key = key.clone();
    let process = state.on_engine(move |engine| async move { engine.process(&process_key, version).await }).await?;
    let mut elements = BTreeMap::new();
    for row in rows {
        let element = usize::try_from(row.element).ok().and_then(|i| process.elements.get(i));
        let Some(element) = element else {
            // A state naming an element this version does not have: reported, not dropped.
            return Err(ApiError::internal(&format!(
                "a Request of `{key}` v{version} holds a token on element #{} the process does not have",
                row.element
            )));
        };
        elements.insert(element.id.to_string(), ElementFigures { active: row.active, incidents: row.incidents });
    }
    Ok(Json(ElementCounts { key, version, elements }))
}
