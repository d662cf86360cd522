//! The HTTP API: `app(state)` builds the whole router (handlers, auth, limits, uniform errors,
//! metrics), so tests can drive it without a socket.

pub mod auth;
mod big_numbers;
mod counts;
mod decisions;
mod error;
mod handlers;
mod incidents;
mod jobs;
mod lifecycle;
mod metrics;
mod notifications;
mod oidc;
pub mod openapi;
mod operations;
mod people;
mod search;
mod secrets;
mod slack_admin;
mod strict;
mod tasks;
mod views;
pub mod web;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use sluice_connector_api::ConnectorInfo;
use sluice_worker::{CommitGate, Engine};

pub use auth::{Caller, Client, ClientAddr};

pub use error::{ApiError, Details};
pub use metrics::Metrics;
pub use views::time;

/// JSON bodies and answers larger than this are parsed and written on blocking threads, not on
/// the threads that answer HTTP.
pub const OFFLOAD_BYTES: u64 = 64 * 1024;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 10 * 1024 * 1024;
/// A request still unanswered after this is answered 408 (unless it began writing: see
/// [`timeout`]); `SLUICE_REQUEST_TIMEOUT_SECS` changes it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler shares; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Arc<Engine>,
    /// Tokens, sessions, sign-in limits and password hashing.
    people: auth::People,
    /// Session cookies are `Secure` (the public URL is https).
    secure_cookies: OnceLock<bool>,
    /// The connectors this server registered, for `GET /api/v1/connectors`.
    connectors: Vec<ConnectorInfo>,
    metrics: Metrics,
    /// The Slack integrations (set by `serve`; routes answer 503 without them).
    slack: OnceLock<sluice_slack_app::SlackIntegrations>,
    /// Slack notifications and interactivity (see `AppState::with_notifier`).
    notifier: OnceLock<Arc<sluice_slack_app::SlackNotifier>>,
    /// The runtime engine calls run on (see [`AppState::on_engine`]); the current one without.
    engine_runtime: OnceLock<tokio::runtime::Handle>,
    /// [`REQUEST_TIMEOUT`] unless set.
    request_timeout: OnceLock<Duration>,
    /// When the database last answered a health check's ping (see `handlers::healthz`).
    health: handlers::HealthCache,
    /// The OpenID Connect provider's documents, cached.
    oidc: crate::oidc::Provider,
    /// The URL people reach this server at (redirect URIs); `http://localhost` unless set.
    public_url: OnceLock<String>,
}

impl AppState {
    /// `configured_tokens`: the SHA-256 of the `SLUICE_API_TOKEN` tokens, which belong to the
    /// built-in `admin`. Without one, the startup token stored at first start is accepted too.
    pub fn new(engine: Arc<Engine>, connectors: Vec<ConnectorInfo>, configured_tokens: Vec<String>) -> Self {
        let accept_startup = configured_tokens.is_empty();
        AppState {
            inner: Arc::new(Inner {
                engine,
                people: auth::People::new(configured_tokens, accept_startup),
                secure_cookies: OnceLock::new(),
                connectors,
                metrics: Metrics::default(),
                slack: OnceLock::new(),
                notifier: OnceLock::new(),
                engine_runtime: OnceLock::new(),
                request_timeout: OnceLock::new(),
                health: handlers::HealthCache::default(),
                oidc: crate::oidc::Provider::default(),
                public_url: OnceLock::new(),
            }),
        }
    }

    /// Serves the Slack integration routes with `slack`.
    pub fn with_slack(self, slack: sluice_slack_app::SlackIntegrations) -> Self {
        let _ = self.inner.slack.set(slack);
        self
    }

    /// Serves notification settings and Slack's interactivity through `notifier`.
    pub fn with_notifier(self, notifier: Arc<sluice_slack_app::SlackNotifier>) -> Self {
        let _ = self.inner.notifier.set(notifier);
        self
    }

    /// Runs engine calls on `runtime`: a runtime of their own, so that a heavy step never holds a
    /// thread that answers HTTP (`/healthz`, other Requests' calls).
    pub fn with_engine_runtime(self, runtime: tokio::runtime::Handle) -> Self {
        let _ = self.inner.engine_runtime.set(runtime);
        self
    }

    /// Marks session cookies `Secure` (for an https public URL).
    pub fn with_secure_cookies(self, secure: bool) -> Self {
        let _ = self.inner.secure_cookies.set(secure);
        self
    }

    /// The URL people reach this server at, without a trailing `/` (OpenID Connect's redirect URI).
    pub fn with_public_url(self, url: String) -> Self {
        let _ = self.inner.public_url.set(url.trim_end_matches('/').to_string());
        self
    }

    pub(crate) fn public_url(&self) -> &str {
        self.inner.public_url.get().map_or("http://localhost", String::as_str)
    }

    fn oidc(&self) -> &crate::oidc::Provider {
        &self.inner.oidc
    }

    fn secure_cookies(&self) -> bool {
        self.inner.secure_cookies.get().copied().unwrap_or(false)
    }

    fn people(&self) -> &auth::People {
        &self.inner.people
    }

    /// Appends to the audit log what `caller` did. A failure to write it is logged, not answered:
    /// the action itself is done.
    async fn audit(
        &self,
        caller: Option<&Caller>,
        client: &Client,
        action: &str,
        target: Option<String>,
        details: serde_json::Value,
    ) {
        self.audit_as(caller.map(|c| c.username.clone()), client, action, target, details).await;
    }

    /// [`AppState::audit`] with the actor named.
    async fn audit_as(
        &self,
        actor: Option<String>,
        client: &Client,
        action: &str,
        target: Option<String>,
        details: serde_json::Value,
    ) {
        let entry = sluice_store::AuditEntry {
            at: chrono::Utc::now(),
            actor,
            action: action.to_string(),
            target,
            client: client.0.clone(),
            details,
        };
        if let Err(e) = self.store().append_audit(&entry).await {
            tracing::error!(error = %e, action, "cannot write to the audit log");
        }
    }

    /// Answers 408 after `timeout` instead of [`REQUEST_TIMEOUT`].
    pub fn with_request_timeout(self, timeout: Duration) -> Self {
        let _ = self.inner.request_timeout.set(timeout);
        self
    }

    /// How long a request may take before it is answered 408.
    fn request_timeout(&self) -> Duration {
        self.inner.request_timeout.get().copied().unwrap_or(REQUEST_TIMEOUT)
    }

    fn engine_runtime(&self) -> tokio::runtime::Handle {
        self.inner.engine_runtime.get().cloned().unwrap_or_else(tokio::runtime::Handle::current)
    }

    /// Runs an engine call on the engine's runtime, behind this request's [`CommitGate`] (see
    /// [`timeout`]). If the request is dropped (the client went away, or it timed out) before the
    /// call wrote anything, the call is stopped; once it began writing it runs to its end.
    async fn on_engine<T, F>(&self, call: impl FnOnce(Arc<Engine>) -> F) -> Result<T, ApiError>
    where
        F: Future<Output = Result<T, sluice_worker::Error>> + Send + 'static,
        T: Send + 'static,
    {
        let gate = CommitGate::current().unwrap_or_default();
        // The engine's work is part of the HTTP call's trace.
        let work = gate.clone().scope(call(self.inner.engine.clone()));
        let task = self.engine_runtime().spawn(tracing::Instrument::in_current_span(work));
        let mut task = StopUnwritten { task, gate };
        match (&mut task.task).await {
            Ok(result) => Ok(result?),
            Err(e) => Err(ApiError::internal(&e)),
        }
    }

    fn slack(&self) -> Option<&sluice_slack_app::SlackIntegrations> {
        self.inner.slack.get()
    }

    fn notifier(&self) -> Result<&sluice_slack_app::SlackNotifier, ApiError> {
        self.inner.notifier.get().map(|s| &**s).ok_or_else(|| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "slack_not_configured", "Slack is not set up on this node")
        })
    }

    fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    fn store(&self) -> &sluice_store::Store {
        self.inner.engine.store()
    }
}

/// An engine call's task, stopped when dropped unwaited if it had not begun writing.
struct StopUnwritten<T> {
    task: tokio::task::JoinHandle<T>,
    gate: CommitGate,
}

impl<T> Drop for StopUnwritten<T> {
    fn drop(&mut self) {
        if !self.task.is_finished() && self.gate.close() {
            self.task.abort();
        }
    }
}

/// SHA-256 of a token, lowercase hex: what the store keeps.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

// The `.route(...)` lines below are alike because they are the API's table of paths, one a line.
/// The whole API, and the web app's pages and assets (`web.rs`).
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/v1/processes", post(handlers::deploy).get(handlers::list_processes))
        .route("/api/v1/processes/{key}", get(handlers::get_process))
        .route("/api/v1/processes/{key}/counts", get(counts::element_counts))
        .route("/api/v1/processes/{key}/requests", post(handlers::start_request))
        .route("/api/v1/processes/{key}/suspend", post(lifecycle::suspend_process))
        .route("/api/v1/processes/{key}/resume", post(lifecycle::resume_process))
        .route("/api/v1/processes/{key}/versions/{version}", delete(lifecycle::delete_version))
        .route("/api/v1/requests", get(handlers::list_requests))
        .route("/api/v1/requests/{id}", get(handlers::get_request))
        .route("/api/v1/requests/{id}/events", get(handlers::request_events))
        .route("/api/v1/requests/{id}/cancel", post(handlers::cancel_request))
        .route("/api/v1/requests/{id}/retry", post(handlers::retry_request))
        .route("/api/v1/requests/{id}/modify", post(handlers::modify_request))
        .route("/api/v1/requests/{id}/data", patch(lifecycle::patch_request_data))
        .route("/api/v1/requests/{id}/migrate", post(lifecycle::migrate_request))
        .route("/api/v1/requests/{id}/suspend", post(lifecycle::suspend_request))
        .route("/api/v1/requests/{id}/resume", post(lifecycle::resume_request))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/operations", post(operations::create))
        .route("/api/v1/operations/{id}", get(operations::get))
        .route("/api/v1/incidents/retry", post(incidents::retry))
        .route("/api/v1/tasks", get(tasks::list_tasks))
        .route("/api/v1/tasks/{id}", get(tasks::get_task))
        .route("/api/v1/tasks/{id}/complete", post(tasks::complete_task))
        .route("/api/v1/tasks/{id}/claim", post(tasks::claim_task))
        .route("/api/v1/tasks/{id}/unclaim", post(tasks::unclaim_task))
        .route("/api/v1/tasks/{id}/assign", post(tasks::assign_task))
        .route("/api/v1/tasks/{id}/delegate", post(tasks::delegate_task))
        .route("/api/v1/tasks/{id}/resolve", post(tasks::resolve_task))
        .route("/api/v1/messages", post(handlers::publish_message))
        .route("/api/v1/signals", post(handlers::broadcast_signal))
        .route("/api/v1/connectors", get(handlers::list_connectors))
        .route("/api/v1/connectors/templates", get(handlers::connector_templates))
        .route("/api/v1/decisions", get(decisions::list))
        .route("/api/v1/decisions/{id}", get(decisions::get))
        .route("/api/v1/decisions/{id}/evaluate", post(decisions::evaluate))
        .route("/api/v1/jobs/activate", post(jobs::activate))
        .route("/api/v1/jobs/{id}/complete", post(jobs::complete))
        .route("/api/v1/jobs/{id}/fail", post(jobs::fail))
        .route("/api/v1/jobs/{id}/error", post(jobs::error))
        .route("/api/v1/jobs/{id}/extend", post(jobs::extend))
        .route("/api/v1/secrets", get(secrets::list))
        .route("/api/v1/secrets/{name}", put(secrets::put).delete(secrets::delete))
        .route("/api/v1/admin/slack-app", put(slack_admin::put_app))
        .route("/api/v1/integrations/slack", get(slack_admin::list).post(slack_admin::register))
        .route("/api/v1/integrations/slack/install", get(slack_admin::install))
        .route("/api/v1/integrations/slack/manifest", get(slack_admin::manifest))
        .route("/api/v1/integrations/slack/{alias}", delete(slack_admin::delete))
        .route("/api/v1/integrations/slack/{alias}/channels", get(slack_admin::channels))
        .route("/api/v1/processes/{key}/notifications", get(notifications::get).put(notifications::put))
        .route("/api/v1/users", get(people::list_users).post(people::create_user))
        .route("/api/v1/users/{id}", get(people::get_user).patch(people::update_user).delete(people::delete_user))
        .route("/api/v1/users/{id}/tokens", get(people::list_tokens).post(people::create_token))
        .route("/api/v1/tokens/{id}", delete(people::revoke_token))
        .route("/api/v1/me", get(people::me))
        .route("/api/v1/me/password", put(people::change_password))
        .route("/api/v1/session", delete(people::sign_out))
        .route("/api/v1/audit", get(people::audit))
        .route("/api/v1/auth/oidc", get(oidc::get_config).put(oidc::put_config).delete(oidc::delete_config))
        // Checked after the caller is known (a route's layers run last-added first).
        .route_layer(middleware::from_fn(strict::strict_query))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::auth));
    let open = Router::new()
        .route("/api/v1/openapi.json", get(openapi::serve))
        // Signing in needs no credentials (its limits are per username and address).
        .route("/api/v1/session", post(people::sign_in))
        // OpenID Connect sign-in: a browser on its way to sign in has no credentials; the
        // single-use state bound to it protects the callback.
        .route("/api/v1/auth/methods", get(oidc::methods))
        .route("/api/v1/auth/oidc/start", get(oidc::start))
        .route("/api/v1/auth/oidc/callback", get(oidc::callback))
        .route("/api/v1/integrations/slack/oauth/callback", get(slack_admin::oauth_callback))
        // Slack signs these instead of sending the bearer token (checked in the handler).
        .route("/api/v1/slack/interactions", post(notifications::interactions))
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(metrics::serve))
        .route_layer(middleware::from_fn(strict::strict_query));
    api.merge(open)
        .merge(web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .layer(middleware::from_fn(uniform_errors))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("route_not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is case-insensitive (RFC 9110
/// §11.1) and may be followed by more than one space.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Answers 408 when a request is not done within [`REQUEST_TIMEOUT`], and 408 means nothing was
/// done: the request's engine calls run behind a [`CommitGate`]. If no write began, the gate
/// closes and the calls stop before writing; if one began, the request is finished and answered
/// as it ends.
async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.inner.request_timeout.get().copied().unwrap_or(REQUEST_TIMEOUT);
    let gate = CommitGate::new();
    let mut run = std::pin::pin!(gate.clone().scope(next.run(req)));
    match tokio::time::timeout(limit, &mut run).await {
        Ok(resp) => resp,
        Err(_) if gate.close() => ApiError::timed_out().into_response(),
        Err(_) => {
            tracing::warn!("a request ran past the timeout while writing; answering when its write is done");
            run.await
        }
    }
}

/// Gives every error answer the uniform JSON body, including axum's own (rejections of paths and
/// queries, unknown methods), whose text becomes the message.
async fn uniform_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(resp.headers()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let message = if status.is_server_error() {
        tracing::error!(%status, "an error answer without a body: a bug");
        "internal error".to_string()
    } else {
        match axum::body::to_bytes(body, 64 * 1024).await {
            Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).into_owned(),
            _ => status.canonical_reason().unwrap_or("error").to_string(),
        }
    };
    let mut fixed = ApiError::new(status, ApiError::code_for(status), message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fixed
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("application/problem+json"))
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

/// The body as bytes, with the body limit answered in the uniform shape.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(RawBody(b)),
            Err(rejection) => {
                let status = rejection.status();
                let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    format!("the body is larger than {BODY_LIMIT} bytes")
                } else {
                    rejection.body_text()
                };
                Err(ApiError::new(status, ApiError::code_for(status), message))
            }
        }
    }
}

/// A JSON body: 415 for another content type, 400 naming the field for bad JSON and for integers
/// beyond 64 bits (which serde_json would round). An empty body counts as `{}`, so bodies whose
/// fields are all optional may be left out.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send + 'static> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let ct = content_type(req.headers());
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        if (bytes.len() as u64) < OFFLOAD_BYTES {
            return parse_json_body(ct, bytes).map(ApiJson);
        }
        // A large body is read on a blocking thread (see `OFFLOAD_BYTES`).
        tokio::task::spawn_blocking(move || parse_json_body(ct, bytes))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map(ApiJson)
    }
}

/// A JSON object body as `T`: 415 without a JSON content type (but for an empty body), 400
/// naming what does not fit.
fn parse_json_body<T: DeserializeOwned>(ct: Option<String>, bytes: Bytes) -> Result<T, ApiError> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { Bytes::from_static(b"{}") } else { bytes };
    if bytes.as_ref() != b"{}" && !ct.as_deref().is_some_and(|c| c == "application/json" || c.ends_with("+json")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected `Content-Type: application/json`",
        ));
    }
    // Every body of the API is an object; serde would take an array for a struct's fields.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", "the body must be a JSON object")
            .with(Details::Field(None)));
    }
    // serde_json would round such an integer to a float without a word.
    if let Some((path, literal)) = big_numbers::oversized_integer(&bytes) {
        let shown = if literal.len() > 40 { format!("{}…", &literal[..40]) } else { literal };
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!(
                "invalid JSON body at `{path}`: the integer {shown} does not fit in 64 bits and would lose \
                 precision; send it as a string"
            ),
        )
        .with(Details::Field(Some(path))));
    }
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de).map_err(|e| invalid_input("invalid_json", "JSON body", e))
}

/// The query string: 400 `invalid_query` naming the parameter that does not fit.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

/// A query string as `T`: 400 `invalid_query` naming the parameter that does not fit.
fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| invalid_input("invalid_query", "query", e))
}

/// A time the caller gave for `field` (a query parameter or a body field, named as the caller
/// wrote it): 400 naming the field when it is not RFC 3339.
fn rfc3339(field: &str, value: Option<String>) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    let Some(text) = value else { return Ok(None) };
    chrono::DateTime::parse_from_rfc3339(&text).map(|t| Some(t.with_timezone(&chrono::Utc))).map_err(|_| {
        ApiError::bad_request(format!("`{field}` must be an RFC 3339 time, not `{text}`"))
            .with(Details::Field(Some(field.to_string())))
    })
}

/// The query of a Request search: the `data.PATH…` conditions apart, the rest as `T`.
pub struct SearchQuery<T> {
    pub query: T,
    pub data: Vec<sluice_store::DataCondition>,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for SearchQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or_default();
        let mut rest = form_urlencoded::Serializer::new(String::new());
        let mut data = Vec::new();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            match key.strip_prefix("data.") {
                Some(condition) => data.push(search::data_condition(&key, condition, &value)?),
                None => {
                    rest.append_pair(&key, &value);
                }
            }
        }
        Ok(SearchQuery { query: parse_query(&rest.finish())?, data })
    }
}

/// 400 for input that does not deserialize, naming the field when there is one.
fn invalid_input<E: std::fmt::Display>(code: &'static str, what: &str, e: serde_path_to_error::Error<E>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if let Some(unknown) = strict::unknown_field(&path, &inner.to_string()) {
        return unknown;
    }
    let (message, field) = if path == "." || path.is_empty() {
        (format!("invalid {what}: {inner}"), None)
    } else {
        (format!("invalid {what} at `{path}`: {inner}"), Some(path))
    };
    ApiError::new(StatusCode::BAD_REQUEST, code, message).with(Details::Field(field))
}

/// Seconds since `start`, for the latency histogram.
fn elapsed(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// The route template a request matched (`/api/v1/requests/{id}`), or `unmatched`.
fn route_of(req: &Request<Body>) -> String {
    req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| "unmatched".into())
}

#[cfg(test)]
mod tests;
