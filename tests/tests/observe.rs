//! Seeing what the engine does, end to end with the real binary on SQLite and PostgreSQL: a
//! scenario over HTTP (timers, a user task completed, a Request canceled, a connector call that
//! becomes an incident), then `/metrics` shows the engine's counters (and the durations of the
//! elements that waited) moved by exactly that, and
//! with `SLUICE_LOG_FORMAT=json` every stderr line is one JSON object with an RFC 3339 UTC
//! millisecond timestamp, the lifecycle lines carry `request_id`, the connector's lines its
//! `element_id`, and a secret's value appears nowhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Api, Serve, ServeConfig};

const SECRET_VALUE: &str = "sup3r-s3cret-v4lue-do-not-log";

fn models() -> String {
    r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:observe">
  <bpmn:process id="observed" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDuration>PT0.2S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="review"/>
    <bpmn:userTask id="review"/>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
  <bpmn:process id="broken" isExecutable="true">
    <bpmn:startEvent id="begin"/>
    <bpmn:sequenceFlow id="g1" sourceRef="begin" targetRef="call"/>
    <bpmn:serviceTask id="call" implementation="http"><bpmn:extensionElements><sluice:input name="url" value="ftp://nowhere.example/x"/></bpmn:extensionElements></bpmn:serviceTask>
  </bpmn:process>
</bpmn:definitions>"#
        .to_string()
}

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of one sample line (`name{labels} value`) of the scrape, or 0 when absent.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse::<f64>().unwrap())
        .unwrap_or(0.0)
}

fn scrape(api: &Api) -> String {
    let (status, body) = api.get("/metrics").unwrap();
    assert_eq!(status, 200);
    body.as_str().unwrap().to_string()
}

fn start(api: &Api, key: &str) -> String {
    let (status, r) = api.post_json(&format!("/api/v1/processes/{key}/requests"), &json!({"data": {}})).unwrap();
    assert_eq!(status, 201, "{r}");
    r["id"].as_str().unwrap().to_string()
}

fn run(name: &str, db: &Db) {
    let env = vec![("SLUICE_LOG_FORMAT".to_string(), "json".to_string()), ("RUST_LOG".to_string(), "info".to_string())];
    let log_dir = db.log_dir(name);
    let config = ServeConfig { database_url: db.url(), log_dir: log_dir.clone(), env, address_space: None };
    let server = Serve::start(&config, name);
    let api = server.api();
    let (status, _) = api
        .call(
            "PUT",
            "/api/v1/secrets/observe_key",
            Some("application/json"),
            json!({"value": SECRET_VALUE}).to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(status, 204);
    let (status, body) = api.deploy(models().as_bytes()).unwrap();
    assert_eq!(status, 201, "{body}");

    let before = scrape(&api);
    let a = start(&api, "observed");
    let b = start(&api, "observed");
    let c = start(&api, "broken");
    // Both timers fire: each Request then waits at its user task.
    let task_of = |id: &str| -> Option<String> {
        let (_, list) = api.get(&format!("/api/v1/tasks?request={id}&status=active")).unwrap();
        list["tasks"].as_array().and_then(|t| t.first()).map(|t| t["id"].as_str().unwrap().to_string())
    };
    until("the timers fired", || task_of(&a).is_some() && task_of(&b).is_some());
    let task = task_of(&a).unwrap();
    let (status, body) = api.post_json(&format!("/api/v1/tasks/{task}/complete"), &json!({})).unwrap();
    assert!(status == 200 || status == 204, "{status} {body}");
    let (status, body) = api.post_json(&format!("/api/v1/requests/{b}/cancel"), &json!({})).unwrap();
    assert_eq!(status, 200, "{body}");
    until("the connector's incident", || api.get(&format!("/api/v1/requests/{c}")).unwrap().1["status"] == "error");
    until("a completed Request", || api.get(&format!("/api/v1/requests/{a}")).unwrap().1["status"] == "completed");

    let after = scrape(&api);
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(moved("sluice_requests_started_total{process=\"observed\"}"), 2.0, "{after}");
    assert_eq!(moved("sluice_requests_started_total{process=\"broken\"}"), 1.0, "{after}");
    assert_eq!(moved("sluice_requests_completed_total{process=\"observed\"}"), 1.0, "{after}");
    assert_eq!(moved("sluice_requests_canceled_total{process=\"observed\"}"), 1.0, "{after}");
    assert_eq!(moved("sluice_requests_failed_total{process=\"broken\"}"), 1.0, "{after}");
    assert_eq!(moved("sluice_connector_calls_total{type=\"http\",outcome=\"incident\"}"), 1.0, "{after}");
    assert_eq!(moved("sluice_connector_call_duration_seconds_count{type=\"http\"}"), 1.0, "{after}");
    assert_eq!(moved("sluice_timers_fired_total"), 2.0, "{after}");
    assert_eq!(moved("sluice_timer_lag_seconds_count"), 2.0, "{after}");
    assert_eq!(moved("sluice_timer_lag_seconds_bucket{le=\"+Inf\"}"), 2.0, "{after}");
    assert!(moved("sluice_jobs_claimed_total") >= 2.0, "{after}");
    assert!(moved("sluice_store_commit_duration_seconds_count") >= 1.0, "{after}");
    assert!(moved("sluice_store_commit_batch_size_sum") >= 5.0, "{after}");
    assert_eq!(sample(&after, "sluice_incidents_open"), 1.0, "{after}");
    assert!(after.contains("# TYPE sluice_timer_lag_seconds histogram"), "{after}");
    // Element durations: both timers waited their 0.2 s; the task that was completed took the
    // time until its completion; the canceled Request's task was terminated, not completed.
    let wait = "sluice_element_duration_seconds_count{process=\"observed\",element=\"wait\"}";
    assert_eq!(moved(wait), 2.0, "{after}");
    let waited = moved("sluice_element_duration_seconds_sum{process=\"observed\",element=\"wait\"}");
    assert!(waited >= 0.4, "two timers of 0.2 s waited {waited} s in all: {after}");
    let quick = "sluice_element_duration_seconds_bucket{process=\"observed\",element=\"wait\",le=\"0.1\"}";
    assert_eq!(moved(quick), 0.0, "{after}");
    let review = "sluice_element_duration_seconds_count{process=\"observed\",element=\"review\"}";
    assert_eq!(moved(review), 1.0, "{after}");
    // Elements passed within one step (the start and end events) are not timed.
    assert!(!after.contains("element=\"start\""), "{after}");

    let log = log_dir.join(format!("{name}.log"));
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(SECRET_VALUE), "a secret's value was logged");
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        let ts = l["timestamp"].as_str().unwrap_or_else(|| panic!("no timestamp: {l}"));
        // RFC 3339, UTC, milliseconds, `Z`: 2026-01-02T03:04:05.678Z.
        assert_eq!(ts.len(), 24, "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.' && ts.as_bytes()[10] == b'T', "{ts}");
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        assert!(l["level"].is_string() && l["message"].is_string(), "{l}");
    }
    let event = |kind: &str, id: &str| lines.iter().filter(|l| l["event"] == kind && l["request_id"] == id).count();
    assert_eq!(event("request_started", &a), 1, "{text}");
    assert_eq!(event("request_completed", &a), 1, "{text}");
    assert_eq!(event("request_canceled", &b), 1, "{text}");
    assert_eq!(event("incident_raised", &c), 1, "{text}");
    let incident = lines.iter().find(|l| l["event"] == "incident_raised").unwrap();
    assert_eq!(incident["element_id"], "call", "{incident}");
    assert_eq!(incident["level"], "INFO", "{incident}");
}

#[test]
fn metrics_and_json_logs_on_sqlite() {
    let name = "observe-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn metrics_and_json_logs_on_postgres() {
    let Some(db) = Db::postgres("observe::metrics_and_json_logs_on_postgres") else {
        return;
    };
    run("observe-postgres", &db);
}
