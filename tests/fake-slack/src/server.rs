//! The HTTP side of the fake: an accept loop that can hang up on a caller mid-call, and the one
//! handler that turns a request into a [`Call`] and a [`Reply`] into Slack's kind of answer.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::state::{Call, Inner, Params, Reply};

type Shared = Arc<Mutex<Inner>>;

/// Lets a handler close its own connection without answering.
#[derive(Clone)]
struct Hangup(Arc<Notify>);

pub(crate) async fn serve(listener: TcpListener, shared: Shared) {
    let app = Router::new()
        .route("/api/{method}", any(handle))
        .route("/oauth/v2/authorize", axum::routing::get(authorize))
        .route("/response/{key}", axum::routing::post(response_url))
        .with_state(shared);
    // Dropping the set (when the server task is aborted) closes every open connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, app.clone()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "fake Slack could not accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(stream: TcpStream, app: Router) {
    let hangup = Arc::new(Notify::new());
    let for_requests = hangup.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(Hangup(for_requests.clone()));
        app.clone().oneshot(request)
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = hangup.notified() => {}
    }
}

/// A response URL of an interaction (Slack's `hooks.slack.com/actions/…`): what is posted there is
/// kept for the test to read.
async fn response_url(State(shared): State<Shared>, Path(key): Path<String>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    shared.lock().unwrap_or_else(|e| e.into_inner()).responses.push((key, body));
    (StatusCode::OK, "ok").into_response()
}

async fn handle(
    State(shared): State<Shared>,
    Path(method): Path<String>,
    Extension(hangup): Extension<Hangup>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match parse_call(method, &headers, query.as_deref(), &body) {
        Ok(call) => call,
        Err(reply) => return respond(reply),
    };
    let (reply, scopes) = {
        let mut inner = shared.lock().unwrap_or_else(|e| e.into_inner());
        let scopes = inner.scopes_of(&call);
        (inner.handle(call), scopes)
    };
    if let Reply::Hangup = reply {
        hangup.0.notify_one();
        return std::future::pending::<Response>().await;
    }
    let mut response = respond(reply);
    // Slack names the token's scopes on every answer to a call made with a token it knows.
    if let Some(value) = scopes.and_then(|s| HeaderValue::from_str(&s).ok()) {
        response.headers_mut().insert("x-oauth-scopes", value);
    }
    response
}

/// Slack's install page, approving at once: 302 back to `redirect_uri` with a fresh code and the
/// `state` (or `error=access_denied` when installs are being denied); 400 for a bad client id.
async fn authorize(State(shared): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let outcome = shared.lock().unwrap_or_else(|e| e.into_inner()).authorize(pairs.into_iter().collect());
    match outcome {
        Ok(location) => match HeaderValue::from_str(&location) {
            Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
            Err(_) => (StatusCode::BAD_REQUEST, "fake Slack: bad redirect_uri").into_response(),
        },
        Err(problem) => (StatusCode::BAD_REQUEST, format!("fake Slack: {problem}")).into_response(),
    }
}

fn respond(reply: Reply) -> Response {
    match reply {
        Reply::Json(body) => axum::Json(body).into_response(),
        Reply::RateLimited { retry_after_secs } => {
            let mut response =
                (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({"ok": false, "error": "ratelimited"})))
                    .into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        Reply::Status(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, "<html><body>fake Slack: injected failure</body></html>").into_response()
        }
        // Only reached when a hang-up could not be delivered; an empty 500 is the nearest thing.
        Reply::Hangup => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Reads the arguments as Slack does: query string, then a JSON or form body on top.
fn parse_call(method: String, headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Result<Call, Reply> {
    let mut params = Map::new();
    if let Some(query) = query {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        params.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v))));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let json = content_type.starts_with("application/json");
    if json {
        if !body.is_empty() {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(map)) => params.extend(map),
                _ => return Err(Reply::Json(json!({"ok": false, "error": "invalid_json"}))),
            }
        }
    } else if !body.is_empty() {
        match serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
            Ok(pairs) => params.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v)))),
            Err(_) => return Err(Reply::Json(json!({"ok": false, "error": "invalid_form_data"}))),
        }
    }
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let bearer = authorization.strip_prefix("Bearer ").map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let basic = authorization.strip_prefix("Basic ").and_then(|b| {
        let decoded = base64::engine::general_purpose::STANDARD.decode(b.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some((user.to_string(), password.to_string()))
    });
    Ok(Call { method, params: Params(params), bearer, basic, json })
}
