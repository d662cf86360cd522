//! The one error type of the HTTP API and the uniform error body it answers with.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::views::{DiagnosticView, ErrorBody, ErrorDetail};

/// An error answered as `{"error": {"code", "message", …details}}` ([`ErrorBody`]).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Details,
    /// Seconds for a `Retry-After` header (a 503 that will pass).
    pub retry_after: Option<u64>,
}

/// Extra fields of the `error` object.
#[derive(Debug, Default)]
pub enum Details {
    #[default]
    None,
    /// `field`: the path of the input field that did not fit (null: the input as a whole).
    Field(Option<String>),
    /// `diagnostics`: every problem of an invalid BPMN model.
    Diagnostics(Vec<DiagnosticView>),
    /// `problems`: every problem of invalid settings (`{"field", "message"}` each).
    Problems(Vec<serde_json::Value>),
    /// `decision` and `rule`: where a decision's evaluation failed (the rule, when one is to blame).
    Decision { decision: String, rule: Option<String> },
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), details: Details::None, retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// A bug or an outage: logged here, once, and answered without details.
    /// 408: the request ran out of time before anything was written; nothing was done.
    pub fn timed_out() -> Self {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request took too long and was stopped before anything was written: nothing was done",
        )
    }

    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error")
    }

    pub fn with(mut self, details: Details) -> Self {
        self.details = details;
        self
    }

    /// Answers with `Retry-After: secs` (at least 1).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// The code the uniform body carries for a status that no handler chose a code for (axum's
    /// own rejections, unknown routes, wrong methods).
    pub fn code_for(status: StatusCode) -> &'static str {
        match status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            404 => "not_found",
            405 => "method_not_allowed",
            408 => "request_timeout",
            409 => "conflict",
            413 => "payload_too_large",
            414 => "uri_too_long",
            415 => "unsupported_media_type",
            422 => "unprocessable_entity",
            431 => "headers_too_large",
            500..=599 => "internal_error",
            _ => "error",
        }
    }
}

impl ApiError {
    /// The `error` object this error answers with, to report inside another answer.
    pub(crate) fn detail(self) -> super::views::ErrorDetail {
        self.into_body().error
    }

    fn into_body(self) -> ErrorBody {
        let (mut field, mut diagnostics, mut problems, mut decision, mut rule) = (None, None, None, None, None);
        match self.details {
            Details::None => {}
            Details::Field(f) => field = Some(f),
            Details::Diagnostics(d) => diagnostics = Some(d),
            Details::Problems(p) => problems = Some(p),
            Details::Decision { decision: d, rule: r } => (decision, rule) = (Some(d), Some(r)),
        }
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field,
                diagnostics,
                problems,
                decision,
                rule,
            },
        }
    }

    /// The uniform body as JSON bytes (for answers written outside axum).
    pub fn body_json(self) -> Vec<u8> {
        serde_json::to_vec(&self.into_body())
            .unwrap_or_else(|_| br#"{"error":{"code":"error","message":"error"}}"#.to_vec())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let retry_after = self.retry_after;
        let mut response = (status, axum::Json(self.into_body())).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        response
    }
}

impl From<sluice_store::Error> for ApiError {
    fn from(e: sluice_store::Error) -> Self {
        use sluice_store::Error as E;
        match e {
            E::RequestNotFound(id) => ApiError::not_found("request_not_found", format!("no Request {id}")),
            E::ProcessNotFound { key, version } => {
                ApiError::not_found("process_not_found", format!("no process `{key}` version {version} is deployed"))
            }
            E::DecisionNotFound { decision_id, version } => ApiError::not_found(
                "decision_not_found",
                format!("no decision `{decision_id}` version {version} is deployed"),
            ),
            E::BadCursor(c) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor", format!("invalid pagination cursor `{c}`"))
            }
            E::BadId(id) => ApiError::bad_request(format!("invalid id `{id}`: expected a UUID")),
            E::BadSearch(why) => ApiError::bad_request(format!("invalid search: {why}")),
            e @ E::VersionInUse { .. } => ApiError::new(StatusCode::CONFLICT, "version_in_use", e.to_string()),
            e @ E::VersionIsLatest { .. } => ApiError::new(StatusCode::CONFLICT, "version_is_latest", e.to_string()),
            E::ProcessSuspended(key) => ApiError::new(
                StatusCode::CONFLICT,
                "process_suspended",
                format!("process `{key}` is suspended: it starts no Request until it is resumed"),
            ),
            // Only while shutting down: nothing was written, the client may try another node.
            E::WriterStopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down; nothing was written, try again",
            ),
            other => ApiError::internal(&other),
        }
    }
}

impl From<sluice_worker::Error> for ApiError {
    fn from(e: sluice_worker::Error) -> Self {
        use sluice_worker::Error as E;
        match e {
            E::Store(s) => s.into(),
            E::ProcessNotFound(key) => {
                ApiError::not_found("process_not_found", format!("no process `{key}` is deployed"))
            }
            E::RequestNotFound(id) => ApiError::not_found("request_not_found", format!("no Request {id}")),
            E::TaskNotFound(id) => ApiError::not_found("task_not_found", format!("no task {id}")),
            E::VersionsChurning(key) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!("process `{key}` keeps getting new versions; try again"),
            ),
            E::TaskNotActive(id) => {
                ApiError::new(StatusCode::CONFLICT, "task_not_active", format!("task {id} is not active"))
            }
            E::Start(s) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "cannot_start", s.to_string()),
            E::Step(sluice_engine::StepError::Refused(why)) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "modification_invalid", why)
            }
            E::Step(sluice_engine::StepError::Suspended) => ApiError::new(
                StatusCode::CONFLICT,
                "request_suspended",
                "the Request is suspended: resume it first".to_string(),
            ),
            E::Step(s) => ApiError::new(StatusCode::CONFLICT, "request_not_active", s.to_string()),
            E::Busy(id) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!("Request {id} kept changing concurrently; try again"),
            ),
            E::StaleVersion => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "a newer version of the process was being deployed; try again".to_string(),
            ),
            E::GaveUp => ApiError::timed_out(),
            E::Invalid(message) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message),
            e @ E::MigrationInvalid(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "migration_invalid", e.to_string())
            }
            e @ E::JobNotFound(_) => ApiError::not_found("job_not_found", e.to_string()),
            e @ E::JobLockLost(_) => ApiError::new(StatusCode::CONFLICT, "job_lock_lost", e.to_string()),
            other @ (E::BadProcess { .. } | E::BadDecision { .. } | E::BadJob { .. }) => ApiError::internal(&other),
        }
    }
}
