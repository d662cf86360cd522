//! The generic HTTP connector (type `http`): one HTTP request per task, its answer stored in the
//! Request's data.
//!
//! Inputs (`sluice:input`, all templates over the Request's data):
//! - `method`: `GET` (default), `POST`, `PUT`, `PATCH`, `DELETE`, … (any case);
//! - `url`: `http://` or `https://`;
//! - `headers`: an object of header names to values, or that object as JSON text;
//! - `body`: sent as it is (text, typically JSON); a JSON value given by `pm:config` is sent as JSON;
//! - `content_type`: the body's `Content-Type`, default `application/json`;
//! - `timeout_seconds`: for this request, default 30 (the registry's own timeout still applies);
//! - `error_code`: when set, a 4xx answer (but 429) becomes a BPMN error with this code, which an
//!   error boundary event on the task can catch; without it a 4xx is an incident.
//!
//! Output: `{"status": 200, "headers": {"content-type": "…"}, "body": …}`, the body parsed when
//! the answer says it is JSON, else text (`null` when empty).
//!
//! A 5xx, a 429 (with its `Retry-After` seconds), a timeout or a connection failure is
//! `Retryable`; other 4xx are `Fatal` unless `error_code` is set. `POST` and `PATCH` requests carry
//! an `Idempotency-Key: <request id>/<element id>` header unless the model sets one, so servers
//! that support it can ignore a retried request. When traces are exported, every request carries
//! the call's W3C `traceparent` (unless the model sets one), so the service's spans join the
//! Request's trace.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use rustls_platform_verifier::BuilderVerifierExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sluice_connector_api::{Connector, ConnectorError, Context};

/// How long one request may take when the model does not say.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Answers larger than this are refused, so a runaway endpoint cannot fill the memory.
pub const MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;
/// How much of an error answer's body goes into the error message.
const ERROR_BODY_CHARS: usize = 300;

/// Why the connector could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

// Same shape as other serde structs of optional fields (the Slack client's `HistoryMessage`, the
// worker's `Notification`): this is the `http` task's own input schema (also its JSON Schema), so
// it lists its fields.
/// The inputs of an `http` task.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct HttpInput {
    /// The HTTP method; default `GET`.
    #[serde(default)]
    pub method: Option<String>,
    /// The URL, `http://` or `https://`.
    pub url: String,
    /// Request headers: an object of names to values, or that object as JSON text.
    #[serde(default)]
    pub headers: Option<Headers>,
    /// The request body, sent as it is (a JSON value is sent as JSON text).
    #[serde(default)]
    pub body: Option<Value>,
    /// The body's `Content-Type`; default `application/json`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Seconds this request may take; default 30.
    #[serde(default)]
    pub timeout_seconds: Option<f64>,
    /// When set, a 4xx answer (but 429) is thrown as a BPMN error with this code.
    #[serde(default)]
    pub error_code: Option<String>,
}

/// Headers as a model gives them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Headers {
    Object(Map<String, Value>),
    /// A JSON object as text, e.g. rendered from `{{ headers }}`.
    Text(String),
}

/// What an `http` task stores in the Request's data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpOutput {
    pub status: u16,
    /// Header names in lower case; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// Parsed JSON when the answer's `Content-Type` says JSON, else text; `null` when empty.
    pub body: Value,
}

/// The `http` connector. Build one per process and share it: it holds a connection pool.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    /// A connector that checks TLS certificates against the operating system's trust store.
    pub fn new() -> Result<Self, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_platform_verifier()?
            .with_no_client_auth();
        Ok(Http::with_tls(tls)?)
    }

    /// A connector with a TLS configuration of your own (extra roots, client certificates).
    pub fn with_tls(tls: rustls::ClientConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Http { client })
    }
}

impl Connector for Http {
    const TYPE: &'static str = "http";
    const NAME: &'static str = "HTTP request";
    type Input = HttpInput;
    type Output = HttpOutput;

    async fn invoke(&self, cx: &Context, input: HttpInput) -> Result<HttpOutput, ConnectorError> {
        let request = self.build(cx, &input)?;
        let response = request.send().await.map_err(|e| send_error(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_body(response).await?;
        if status.is_client_error() || status.is_server_error() {
            return Err(status_error(status, &headers, &body, input.error_code.as_deref()));
        }
        Ok(HttpOutput { status: status.as_u16(), headers: header_map(&headers), body: parse_body(&headers, body) })
    }
}

impl Http {
    fn build(&self, cx: &Context, input: &HttpInput) -> Result<reqwest::RequestBuilder, ConnectorError> {
        let method = match input.method.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
            None => Method::GET,
            Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .map_err(|_| ConnectorError::fatal(format!("`{m}` is not an HTTP method")))?,
        };
        let url = reqwest::Url::parse(input.url.trim())
            .map_err(|e| ConnectorError::fatal(format!("`{}` is not a URL: {e}", input.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConnectorError::fatal(format!("`{url}` is not an http:// or https:// URL")));
        }
        let mut headers = headers(input.headers.as_ref())?;
        if matches!(method, Method::POST | Method::PATCH) && !headers.contains_key("idempotency-key") {
            let key = HeaderValue::from_str(&cx.idempotency_key().step())
                .map_err(|_| ConnectorError::fatal("the idempotency key is not a valid header value"))?;
            headers.insert(HeaderName::from_static("idempotency-key"), key);
        }
        // The call's trace context (W3C Trace Context), unless the model sends its own.
        if let Some(tp) = cx.traceparent.as_deref()
            && !headers.contains_key("traceparent")
            && let Ok(value) = HeaderValue::from_str(tp)
        {
            headers.insert(HeaderName::from_static("traceparent"), value);
        }
        let timeout = match input.timeout_seconds {
            None => DEFAULT_REQUEST_TIMEOUT,
            Some(s) => Duration::try_from_secs_f64(s)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| ConnectorError::fatal(format!("`timeout_seconds` must be above 0, not {s}")))?,
        };
        let mut request = self.client.request(method, url).timeout(timeout);
        if let Some(body) = &input.body {
            let text = match body {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            if let Some(text) = text {
                if !headers.contains_key(CONTENT_TYPE) {
                    let ct = input.content_type.as_deref().unwrap_or("application/json");
                    let ct = HeaderValue::from_str(ct)
                        .map_err(|_| ConnectorError::fatal(format!("`{ct}` is not a valid content type")))?;
                    headers.insert(CONTENT_TYPE, ct);
                }
                request = request.body(text);
            }
        }
        Ok(request.headers(headers))
    }
}

fn headers(given: Option<&Headers>) -> Result<HeaderMap, ConnectorError> {
    let parsed;
    let object = match given {
        None => return Ok(HeaderMap::new()),
        Some(Headers::Object(m)) => m,
        Some(Headers::Text(t)) if t.trim().is_empty() => return Ok(HeaderMap::new()),
        Some(Headers::Text(t)) => {
            parsed = match serde_json::from_str::<Value>(t) {
                Ok(Value::Object(m)) => m,
                _ => return Err(ConnectorError::fatal(format!("`headers` must be a JSON object, not `{t}`"))),
            };
            &parsed
        }
    };
    let mut out = HeaderMap::new();
    for (name, value) in object {
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConnectorError::fatal(format!("`{name}` is not a valid header name")))?;
        let value = HeaderValue::from_str(&text)
            .map_err(|_| ConnectorError::fatal(format!("the value of header `{name}` is not valid")))?;
        out.append(name, value);
    }
    Ok(out)
}

fn send_error(e: &reqwest::Error) -> ConnectorError {
    // The URL is in the error's text already.
    let message = error_chain(e);
    if e.is_builder() {
        ConnectorError::fatal(message)
    } else if e.is_timeout() {
        ConnectorError::retryable(format!("timed out: {message}"))
    } else {
        // Connection refused or reset, DNS, TLS handshake: worth another try later.
        ConnectorError::retryable(message)
    }
}

/// The error and its causes in one line (reqwest's own text leaves out the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, ConnectorError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| send_error(&e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(ConnectorError::fatal(format!("the answer is larger than {MAX_RESPONSE_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        out.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    out
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        essence == "application/json" || essence.ends_with("+json")
    })
}

fn parse_body(headers: &HeaderMap, body: Vec<u8>) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    if is_json(headers)
        && let Ok(v) = serde_json::from_slice(&body)
    {
        return v;
    }
    match String::from_utf8(body) {
        Ok(s) => Value::String(s),
        Err(e) => Value::String(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn status_error(status: StatusCode, headers: &HeaderMap, body: &[u8], error_code: Option<&str>) -> ConnectorError {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut message = format!("the server answered {status}");
    if !text.is_empty() {
        let snippet: String = text.chars().take(ERROR_BODY_CHARS).collect();
        message.push_str(": ");
        message.push_str(&snippet);
        if snippet.len() < text.len() {
            message.push('…');
        }
    }
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return ConnectorError::Retryable { message, retry_after: retry_after(headers) };
    }
    match error_code.map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => ConnectorError::Bpmn { code: code.to_owned(), message },
        None => ConnectorError::Fatal { message },
    }
}

/// `Retry-After` in seconds. The HTTP-date form is rare for APIs and is ignored (the engine's
/// backoff applies instead).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs)
}
