//! Incidents at a glance: `GET /api/v1/incidents` lists the open incidents of every Request,
//! newest first, by process, element, code, message and age; `POST /api/v1/incidents/retry`
//! retries the incidents a filter matches, a page at a time (operators).

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sluice_store::{IncidentFilter, IncidentRow, RequestId};
use utoipa::{IntoParams, ToSchema};

use super::views::{ErrorBody, ErrorDetail, time};
use super::{ApiError, ApiJson, ApiQuery, AppState, Caller, Client, Details};

type ApiResult<T> = Result<T, ApiError>;

/// The most incidents one page (or one bulk retry) takes.
const MAX_PAGE: u32 = 1000;

/// Filters of `GET /api/v1/incidents` (all optional, combined with AND).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IncidentQuery {
    /// Only incidents of this process key.
    pub process: Option<String>,
    /// Only incidents at this element id.
    pub element: Option<String>,
    /// Only incidents with this code (`expression_failed`, `connector_failed`, `uncaught_error`, …).
    pub code: Option<String>,
    /// Only incidents whose message contains this text.
    pub message: Option<String>,
    /// Only incidents of this Request.
    #[param(format = "uuid")]
    pub request: Option<String>,
    /// Only incidents opened before this time (RFC 3339): older ones.
    #[param(format = "date-time")]
    pub created_before: Option<String>,
    /// Only incidents opened at or after this time (RFC 3339): newer ones.
    #[param(format = "date-time")]
    pub created_after: Option<String>,
    /// Incidents per page (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// One open incident.
#[derive(Serialize, ToSchema)]
pub struct IncidentView {
    /// `REQUEST_ID:N`, N the incident's number within its Request.
    pub id: String,
    #[schema(format = "uuid")]
    pub request_id: String,
    /// The incident's number within its Request.
    pub incident: u32,
    pub process_key: String,
    pub element_id: String,
    pub code: String,
    pub message: String,
    /// When it was opened (RFC 3339, UTC, milliseconds).
    pub created_at: String,
}

impl From<&IncidentRow> for IncidentView {
    fn from(i: &IncidentRow) -> Self {
        IncidentView {
            id: i.id(),
            request_id: i.request_id.to_string(),
            incident: i.incident,
            process_key: i.process_key.clone(),
            element_id: i.element_id.clone(),
            code: i.code.clone(),
            message: i.message.clone(),
            created_at: time(i.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IncidentList {
    /// Newest first.
    pub incidents: Vec<IncidentView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Which incidents `POST /api/v1/incidents/retry` retries: the filters of the listing.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    pub process: Option<String>,
    pub element: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
    #[schema(format = "uuid")]
    pub request: Option<String>,
    #[schema(format = "date-time")]
    pub created_before: Option<String>,
    #[schema(format = "date-time")]
    pub created_after: Option<String>,
    /// The most incidents to retry in this call, oldest first (default and at most 1000).
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// An incident a bulk retry could not retry, and why.
#[derive(Serialize, ToSchema)]
pub struct RetryFailure {
    pub id: String,
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct RetryAnswer {
    /// How many incidents matched the filter before the retry.
    pub matched: u64,
    /// How many were retried (each in its own step; a retry may raise a new incident).
    pub retried: u64,
    pub failed: Vec<RetryFailure>,
    /// Whether more matched than `limit` took: call again for the rest.
    pub more: bool,
}

/// Open incidents, newest first.
#[utoipa::path(
    get, path = "/api/v1/incidents", tag = "requests",
    params(IncidentQuery),
    responses(
        (status = 200, description = "A page of open incidents", body = IncidentList),
        (status = 400, description = "`invalid_query`, `bad_request` (a limit, time or Request id that does not parse) or `invalid_cursor`", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<IncidentQuery>,
) -> ApiResult<Json<IncidentList>> {
    let limit = page_limit(q.limit, 50)?;
    let filter = filter(q.process, q.element, q.code, q.message, q.request, q.created_before, q.created_after)?;
    let cursor = q.cursor.as_deref().filter(|c| !c.is_empty());
    let (rows, next_cursor) = state.store().list_incidents(&filter, limit, cursor).await?;
    Ok(Json(IncidentList { incidents: rows.iter().map(IncidentView::from).collect(), next_cursor }))
}

/// Retries the open incidents a filter matches, up to `limit` of them (each its own step, so
/// one that cannot be retried does not stop the rest): after the cause was fixed, say.
#[utoipa::path(
    post, path = "/api/v1/incidents/retry", tag = "requests",
    request_body(content = Option<RetryBody>, description = "May be left out (same as `{}`: every open incident, up to 1000)"),
    responses(
        (status = 200, description = "How many matched, were retried and failed", body = RetryAnswer),
        (status = 400, description = "`bad_request`: an unknown field, a limit, time or Request id that does not parse", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    client: Client,
    ApiJson(body): ApiJson<RetryBody>,
) -> ApiResult<Json<RetryAnswer>> {
    let limit = page_limit(body.limit, MAX_PAGE)?;
    let filter = filter(
        body.process,
        body.element,
        body.code,
        body.message,
        body.request,
        body.created_before,
        body.created_after,
    )?;
    let matched = state.store().count_incidents(&filter).await?;
    let (rows, _) = state.store().list_incidents(&filter, limit, None).await?;
    let mut retried = 0;
    let mut failed = Vec::new();
    // Oldest first: the page came newest first.
    for row in rows.iter().rev() {
        let (id, n) = (row.request_id, row.incident);
        match state.on_engine(move |engine| async move { engine.retry_incident(id, n, Utc::now()).await }).await {
            Ok(()) => retried += 1,
            Err(e) => failed.push(RetryFailure { id: row.id(), error: e.detail() }),
        }
    }
    let details = serde_json::json!({
        "filter": {
            "process": filter.process_key, "element": filter.element_id, "code": filter.code,
            "message": filter.message, "request": filter.request.map(|r| r.to_string()),
        },
        "retried": retried,
        "failed": failed.len(),
    });
    state.audit(Some(&caller), &client, "incidents_retried", None, details).await;
    Ok(Json(RetryAnswer { matched, retried, failed, more: matched > u64::from(limit) }))
}

fn bad(field: &str, message: String) -> ApiError {
    ApiError::bad_request(message).with(Details::Field(Some(field.into())))
}

fn page_limit(limit: Option<u32>, default: u32) -> ApiResult<u32> {
    let limit = limit.unwrap_or(default);
    if limit == 0 || limit > MAX_PAGE {
        return Err(bad("limit", format!("`limit` must be between 1 and {MAX_PAGE}")));
    }
    Ok(limit)
}

fn filter(
    process: Option<String>,
    element: Option<String>,
    code: Option<String>,
    message: Option<String>,
    request: Option<String>,
    created_before: Option<String>,
    created_after: Option<String>,
) -> ApiResult<IncidentFilter> {
    let request = match request {
        None => None,
        Some(r) => Some(r.parse::<RequestId>().map_err(|_| bad("request", format!("invalid Request id `{r}`")))?),
    };
    let some = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(IncidentFilter {
        process_key: some(process),
        element_id: some(element),
        code: some(code),
        message: some(message),
        created_before: super::rfc3339("created_before", created_before)?,
        created_after: super::rfc3339("created_after", created_after)?,
        request,
    })
}
