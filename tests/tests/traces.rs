//! Traces over OTLP, end to end with the real binary on SQLite and PostgreSQL: with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a stand-in collector, a Request started over HTTP, a
//! task completed with a caller's W3C `traceparent`, and a connector call that becomes an
//! incident reach the collector as OTLP/HTTP JSON: a server span per HTTP call, a `start` or
//! `step` span as its child, the handed-off connector call in the same trace, ids and times well
//! formed; and an HTTP connector's call to a service carries its span's W3C `traceparent`. The export waits 60 s between batches here, so every span arriving shows the server
//! sends what it holds when it stops (SIGTERM).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::otlp_collector::Collector;
use sluice_tests::server::{Serve, ServeConfig, TOKEN, must_exchange};

const MODELS: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:traces">
  <bpmn:process id="traced" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:userTask id="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
  <bpmn:process id="broken" isExecutable="true">
    <bpmn:startEvent id="begin"/>
    <bpmn:sequenceFlow id="g1" sourceRef="begin" targetRef="call"/>
    <bpmn:serviceTask id="call" implementation="http"><bpmn:extensionElements><sluice:input name="url" value="ftp://nowhere.example/x"/></bpmn:extensionElements></bpmn:serviceTask>
  </bpmn:process>
  <bpmn:process id="calling" isExecutable="true">
    <bpmn:startEvent id="go"/>
    <bpmn:sequenceFlow id="h1" sourceRef="go" targetRef="hook"/>
    <bpmn:serviceTask id="hook" implementation="http"><bpmn:extensionElements><sluice:input name="method" value="POST"/><sluice:input name="url" value="{{ hook }}"/><sluice:input name="body" value="{}"/></bpmn:extensionElements></bpmn:serviceTask>
    <bpmn:sequenceFlow id="h2" sourceRef="hook" targetRef="done"/>
    <bpmn:endEvent id="done"/>
  </bpmn:process>
</bpmn:definitions>"#;

const CALLER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn attr(span: &Value, key: &str) -> Option<Value> {
    span["attributes"].as_array()?.iter().find(|a| a["key"] == key).map(|a| {
        let v = &a["value"];
        v.get("stringValue")
            .or_else(|| v.get("intValue"))
            .or_else(|| v.get("boolValue"))
            .cloned()
            .unwrap_or(Value::Null)
    })
}

fn is_hex(s: &Value, len: usize) -> bool {
    s.as_str().is_some_and(|s| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
}

fn nanos(v: &Value) -> u128 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a string of nanoseconds: {v}"))
}

fn run(name: &str, db: &Db) {
    let collector = Collector::start();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
        ("OTEL_SERVICE_NAME", "sluice-traces".to_string()),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000".to_string()),
    ];
    let env = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env, address_space: None };
    let server = Serve::start(&config, name);
    let api = server.api();
    let (status, body) = api.deploy(MODELS.as_bytes()).unwrap();
    assert_eq!(status, 201, "{body}");

    let (status, r) = api.post_json("/api/v1/processes/traced/requests", &json!({"data": {}})).unwrap();
    assert_eq!(status, 201, "{r}");
    let a = r["id"].as_str().unwrap().to_string();
    let (status, r) = api.post_json("/api/v1/processes/broken/requests", &json!({"data": {}})).unwrap();
    assert_eq!(status, 201, "{r}");
    let c = r["id"].as_str().unwrap().to_string();
    let (_, list) = api.get(&format!("/api/v1/tasks?request={a}&status=active")).unwrap();
    let task = list["tasks"][0]["id"].as_str().unwrap().to_string();
    let auth = format!("Bearer {TOKEN}");
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let answer = must_exchange(
        server.addr,
        "POST",
        &format!("/api/v1/tasks/{task}/complete"),
        &[("Authorization", &auth), ("Content-Type", "application/json"), ("traceparent", &traceparent)],
        b"{}",
    );
    assert!(answer.status == 200 || answer.status == 204, "{answer:?}");
    // A connector call that reaches a service: it sends its span's trace context along.
    let hook = format!("{}/hook", collector.endpoint());
    let (status, r) = api.post_json("/api/v1/processes/calling/requests", &json!({"data": {"hook": hook}})).unwrap();
    assert_eq!(status, 201, "{r}");
    let h = r["id"].as_str().unwrap().to_string();
    until("the connector's incident", || api.get(&format!("/api/v1/requests/{c}")).unwrap().1["status"] == "error");
    until("the hook's call", || api.get(&format!("/api/v1/requests/{h}")).unwrap().1["status"] == "completed");
    assert_eq!(api.get(&format!("/api/v1/requests/{a}")).unwrap().1["status"], "completed");
    // Nothing was exported yet (the batch waits 60 s): the stop sends it all.
    let status = server.terminate();
    assert!(status.success(), "{status}");

    let exports = collector.exports();
    let (hooks, exports): (Vec<_>, Vec<_>) = exports.into_iter().partition(|e| e.path == "/hook");
    assert!(!exports.is_empty(), "nothing reached the collector");
    for e in &exports {
        assert_eq!(e.path, "/v1/traces");
        assert_eq!(e.content_type, "application/json");
    }
    assert_eq!(hooks.len(), 1, "the connector called once: {hooks:?}");
    let spans = collector.spans();
    for (resource, span) in &spans {
        let service = resource["attributes"].as_array().unwrap().iter().find(|a| a["key"] == "service.name");
        assert_eq!(service.unwrap()["value"]["stringValue"], "sluice-traces", "{resource}");
        assert!(is_hex(&span["traceId"], 32) && is_hex(&span["spanId"], 16), "{span}");
        assert!(span["parentSpanId"].is_null() || is_hex(&span["parentSpanId"], 16), "{span}");
        assert!(nanos(&span["startTimeUnixNano"]) <= nanos(&span["endTimeUnixNano"]), "{span}");
    }
    let spans: Vec<Value> = spans.into_iter().map(|(_, s)| s).collect();
    let by_id: HashMap<&str, &Value> = spans.iter().map(|s| (s["spanId"].as_str().unwrap(), s)).collect();
    assert_eq!(by_id.len(), spans.len(), "span ids are unique");
    let named = |name: &str| -> Vec<&Value> { spans.iter().filter(|s| s["name"] == name).collect() };
    let parent_of = |s: &Value| by_id.get(s["parentSpanId"].as_str().unwrap_or_default()).copied();

    // The start of Request `a`: a server span for the call, the Request's first step inside it.
    let starts = named("POST /api/v1/processes/{key}/requests");
    assert_eq!(starts.len(), 3, "{spans:#?}");
    for s in &starts {
        assert_eq!(s["kind"], 2, "{s}");
        assert_eq!(attr(s, "http.response.status_code"), Some(json!("201")), "{s}");
        assert_eq!(attr(s, "http.route"), Some(json!("/api/v1/processes/{key}/requests")), "{s}");
        assert!(s["parentSpanId"].is_null(), "{s}");
    }
    let first_step =
        named("start").into_iter().find(|s| attr(s, "request_id") == Some(json!(a))).expect("a start span");
    let http = parent_of(first_step).expect("the start step's parent was exported");
    assert_eq!(http["name"], "POST /api/v1/processes/{key}/requests");
    assert_eq!(first_step["traceId"], http["traceId"]);
    assert_eq!(attr(first_step, "process"), Some(json!("traced")));

    // The completion joins the caller's trace: its server span's parent is the caller's span.
    let completes = named("POST /api/v1/tasks/{id}/complete");
    assert_eq!(completes.len(), 1, "{spans:#?}");
    let complete = completes[0];
    assert_eq!(complete["traceId"], CALLER_TRACE);
    assert_eq!(complete["parentSpanId"], CALLER_SPAN);
    let step = named("step")
        .into_iter()
        .find(|s| s["parentSpanId"] == complete["spanId"])
        .expect("the completion's step is a child of its HTTP span");
    assert_eq!(step["traceId"], CALLER_TRACE);
    assert_eq!(attr(step, "request_id"), Some(json!(a)));

    // The connector call of `c` ran handed off after its start, in the trace of that HTTP call,
    // and failed: its span says so.
    let call = named("connector_call")
        .into_iter()
        .find(|s| attr(s, "request_id") == Some(json!(c)))
        .expect("a connector_call span for the broken Request");
    assert_eq!(call["kind"], 3, "{call}");
    assert_eq!(attr(call, "connector"), Some(json!("http")), "{call}");
    assert_eq!(attr(call, "element_id"), Some(json!("call")), "{call}");
    assert_eq!(attr(call, "outcome"), Some(json!("incident")), "{call}");
    assert_eq!(call["status"]["code"], 2, "{call}");
    let mut root = call;
    while let Some(p) = parent_of(root) {
        root = p;
    }
    assert_eq!(root["name"], "POST /api/v1/processes/{key}/requests", "{spans:#?}");
    assert_eq!(root["traceId"], call["traceId"]);
    assert!(
        spans.iter().any(|s| s["name"] == "start"
            && attr(s, "request_id") == Some(json!(c))
            && s["traceId"] == call["traceId"]),
        "{spans:#?}"
    );

    // The HTTP connector's request carried `traceparent`: the trace of Request `h`'s connector
    // call, with that call's (client) span as the parent of whatever the service does.
    let hook_call = named("connector_call")
        .into_iter()
        .find(|s| attr(s, "request_id") == Some(json!(h)))
        .expect("a connector_call span for the hook's Request");
    assert_eq!(attr(hook_call, "outcome"), Some(json!("ok")), "{hook_call}");
    let sent = hooks[0].traceparent.as_deref().expect("a traceparent header on the connector's request");
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    assert_eq!((parts[0], parts[3]), ("00", "01"), "version 00, sampled: {sent}");
    assert_eq!(json!(parts[1]), hook_call["traceId"], "{sent}");
    assert_eq!(json!(parts[2]), hook_call["spanId"], "{sent}");
}

#[test]
fn traces_over_otlp_on_sqlite() {
    let name = "traces-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn traces_over_otlp_on_postgres() {
    let Some(db) = Db::postgres("traces::traces_over_otlp_on_postgres") else {
        return;
    };
    run("traces-postgres", &db);
}
