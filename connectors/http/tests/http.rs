//! The `http` connector against a server on 127.0.0.1, called through the registry as the engine
//! calls it.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use serde_json::{Map, Value, json};
use sluice_connector_api::{ConnectorError, Context, IdempotencyKey, Registry};
use sluice_connector_http::Http;

async fn echo(method: Method, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let headers: Map<String, Value> =
        headers.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_str().unwrap().to_owned()))).collect();
    axum::Json(json!({"method": method.as_str(), "headers": headers, "body": String::from_utf8_lossy(&body)}))
}

fn app() -> Router {
    Router::new()
        .route("/echo", any(echo))
        .route("/text", get(|| async { "hello" }))
        .route("/empty", any(|| async { StatusCode::NO_CONTENT }))
        .route("/fail", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database is down") }))
        .route("/unavailable", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "3")], "") }))
        .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "no such invoice") }))
        .route("/busy", get(|| async { (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "7")], "slow down") }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
}

/// Starts the test server; returns its base URL.
async fn server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app()).await.unwrap() });
    format!("http://{addr}")
}

fn cx() -> Context {
    let key = IdempotencyKey { request_id: "r-7".into(), element_id: "send_invoice".into(), attempt: 1 };
    Context::new(key, "invoice_payment", "http://sluice.test/requests/r-7")
}

async fn call(inputs: Value, data: Value) -> Result<Value, ConnectorError> {
    let registry = Registry::default().with(Http::new().unwrap());
    let (inputs, data) = (inputs.as_object().unwrap().clone(), data.as_object().unwrap().clone());
    registry.invoke("http", &inputs, &data, cx()).await
}

#[tokio::test]
async fn get_json_by_default() {
    let base = server().await;
    let out = call(json!({"url": "{{ api }}/echo?id={{ id }}"}), json!({"api": base, "id": 5})).await.unwrap();
    assert_eq!(out["status"], 200);
    assert_eq!(out["headers"]["content-type"], "application/json");
    assert_eq!(out["body"]["method"], "GET");
    assert_eq!(out["body"]["body"], "");
    assert!(out["body"]["headers"].get("idempotency-key").is_none(), "GET carries no idempotency key");
}

#[tokio::test]
async fn post_a_templated_body_with_headers() {
    let base = server().await;
    let out = call(
        json!({
            "method": "post",
            "url": format!("{base}/echo"),
            "headers": "{\"X-Order\": \"{{ order_id }}\", \"X-Count\": 2}",
            "body": "{\"amount\": {{ amount }}, \"customer\": \"{{ customer.name }}\"}",
        }),
        json!({"order_id": "ORD-1", "amount": 450, "customer": {"name": "Acme"}}),
    )
    .await
    .unwrap();
    let seen = &out["body"];
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["body"], r#"{"amount": 450, "customer": "Acme"}"#);
    assert_eq!(seen["headers"]["content-type"], "application/json");
    assert_eq!(seen["headers"]["x-order"], "ORD-1");
    assert_eq!(seen["headers"]["x-count"], "2");
    assert_eq!(seen["headers"]["idempotency-key"], "r-7/send_invoice");
}

#[tokio::test]
async fn headers_as_an_object_content_type_and_json_body_values() {
    let base = server().await;
    let out = call(
        json!({"method": "PUT", "url": format!("{base}/echo"), "headers": {"Idempotency-Key": "mine"},
               "body": "name=Acme", "content_type": "application/x-www-form-urlencoded"}),
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(out["body"]["headers"]["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(out["body"]["headers"]["idempotency-key"], "mine");
    assert_eq!(out["body"]["body"], "name=Acme");
    let out = call(json!({"method": "PATCH", "url": format!("{base}/echo"), "body": {"a": [1, 2]}}), json!({}))
        .await
        .unwrap();
    assert_eq!(out["body"]["body"], r#"{"a":[1,2]}"#);
}

#[tokio::test]
async fn text_and_empty_answers() {
    let base = server().await;
    let out = call(json!({"url": format!("{base}/text")}), json!({})).await.unwrap();
    assert_eq!(out["body"], "hello");
    let out = call(json!({"method": "DELETE", "url": format!("{base}/empty")}), json!({})).await.unwrap();
    assert_eq!((out["status"].clone(), out["body"].clone()), (json!(204), Value::Null));
}

/// The Retryable error that asks to wait `secs` seconds.
fn retryable_after(message: &str, secs: u64) -> ConnectorError {
    ConnectorError::Retryable { message: message.into(), retry_after: Some(Duration::from_secs(secs)) }
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let base = server().await;
    let err = call(json!({"url": format!("{base}/fail")}), json!({})).await.unwrap_err();
    assert_eq!(err, ConnectorError::retryable("the server answered 500 Internal Server Error: database is down"));
    let err = call(json!({"url": format!("{base}/unavailable")}), json!({})).await.unwrap_err();
    assert_eq!(err, retryable_after("the server answered 503 Service Unavailable", 3));
}

#[tokio::test]
async fn too_many_requests_honours_retry_after_even_with_an_error_code() {
    let base = server().await;
    let err = call(json!({"url": format!("{base}/busy"), "error_code": "rejected"}), json!({})).await.unwrap_err();
    assert_eq!(err, retryable_after("the server answered 429 Too Many Requests: slow down", 7));
}

#[tokio::test]
async fn client_errors_are_fatal_or_a_bpmn_error_with_error_code() {
    let base = server().await;
    let err = call(json!({"url": format!("{base}/missing")}), json!({})).await.unwrap_err();
    assert_eq!(err, ConnectorError::fatal("the server answered 404 Not Found: no such invoice"));
    let err =
        call(json!({"url": format!("{base}/missing"), "error_code": "invoice_unknown"}), json!({})).await.unwrap_err();
    assert_eq!(err, ConnectorError::bpmn("invoice_unknown", "the server answered 404 Not Found: no such invoice"));
}

#[tokio::test]
async fn a_slow_server_times_out_and_is_retryable() {
    let base = server().await;
    let err = call(json!({"url": format!("{base}/slow"), "timeout_seconds": "0.2"}), json!({})).await.unwrap_err();
    match err {
        ConnectorError::Retryable { message, .. } => assert!(message.starts_with("timed out"), "{message}"),
        other => panic!("expected a retryable error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = call(json!({"url": format!("http://{addr}/")}), json!({})).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Retryable { .. }), "{err:?}");
}

#[tokio::test]
async fn bad_inputs_are_fatal() {
    let fatal = |m: &str| Err(ConnectorError::fatal(m));
    assert_eq!(
        call(json!({"url": "{{ nowhere }}/x"}), json!({})).await,
        fatal("`/x` is not a URL: relative URL without a base")
    );
    assert_eq!(
        call(json!({"url": "ftp://example.test/"}), json!({})).await,
        fatal("`ftp://example.test/` is not an http:// or https:// URL")
    );
    assert_eq!(
        call(json!({"url": "http://127.0.0.1:1/", "method": "GE T"}), json!({})).await,
        fatal("`GE T` is not an HTTP method")
    );
    assert_eq!(
        call(json!({"url": "http://127.0.0.1:1/", "headers": "[1]"}), json!({})).await,
        fatal("`headers` must be a JSON object, not `[1]`")
    );
    assert_eq!(
        call(json!({"url": "http://127.0.0.1:1/", "timeout_seconds": "0"}), json!({})).await,
        fatal("`timeout_seconds` must be above 0, not 0")
    );
}

#[test]
fn deploy_time_validation() {
    let registry = Registry::default().with(Http::new().unwrap());
    let check = |inputs: Value| registry.validate("http", inputs.as_object().unwrap());
    assert_eq!(check(json!({"url": "{{ api }}/x", "method": "POST", "body": "{}"})), Ok(()));
    assert_eq!(check(json!({"method": "POST"})), Err("missing required input `url`".into()));
    assert_eq!(
        check(json!({"url": "http://x", "timeout_seconds": "soon"})),
        Err("input `timeout_seconds` must be a number or null but is `soon`".into())
    );
    assert_eq!(check(json!({"url": "http://x", "timeout_seconds": "{{ t }}"})), Ok(()));
    let list = registry.list();
    assert_eq!((list[0].connector_type, list[0].name), ("http", "HTTP request"));
    assert!(list[0].inputs_schema["properties"]["headers"].is_object());
}
