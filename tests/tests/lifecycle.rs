//! Suspending and resuming a process over HTTP with the real binary, on SQLite and on
//! PostgreSQL: a suspended process starts no Request (the API answers 409 `process_suspended`,
//! a message start event starts nothing, a call activity fails), its running Requests go on,
//! and once resumed it starts Requests again. Deleting a version: only one no Request uses
//! and that is not the latest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Api, Serve, ServeConfig};

const MODEL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="urn:lifecycle">
<message id="m_go" name="go"/>
<process id="work" isExecutable="true">
  <startEvent id="s"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="task"/>
  <userTask id="task"/>
  <sequenceFlow id="f2" sourceRef="task" targetRef="e"/>
  <endEvent id="e"/>
</process>
<process id="by_message" isExecutable="true">
  <startEvent id="ms"><messageEventDefinition messageRef="m_go"/></startEvent>
  <sequenceFlow id="g1" sourceRef="ms" targetRef="mtask"/>
  <userTask id="mtask"/>
  <sequenceFlow id="g2" sourceRef="mtask" targetRef="me"/>
  <endEvent id="me"/>
</process>
<process id="caller" isExecutable="true">
  <startEvent id="cs"/>
  <sequenceFlow id="h1" sourceRef="cs" targetRef="call"/>
  <callActivity id="call" calledElement="work"/>
  <sequenceFlow id="h2" sourceRef="call" targetRef="ce"/>
  <endEvent id="ce"/>
</process>
</definitions>"#;

fn start(api: &Api, key: &str) -> (u16, Value) {
    api.post_json(&format!("/api/v1/processes/{key}/requests"), &json!({})).unwrap()
}

fn get(api: &Api, path: &str) -> Value {
    let (status, v) = api.get(path).unwrap();
    assert_eq!(status, 200, "{path}: {v}");
    v
}

/// Waits until `check` holds for the Request (the worker runs call activities in the background).
fn wait_for(api: &Api, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = get(api, &format!("/api/v1/requests/{id}"));
        if check(&r) {
            return r;
        }
        assert!(std::time::Instant::now() < deadline, "timed out: {r}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn complete_task(api: &Api, id: &str) -> Value {
    let tasks = get(api, &format!("/api/v1/tasks?request={id}&status=active"));
    let task = tasks["tasks"][0]["id"].as_str().unwrap().to_string();
    let (status, r) = api.post_json(&format!("/api/v1/tasks/{task}/complete"), &json!({})).unwrap();
    assert_eq!(status, 200, "{r}");
    r
}

fn run(name: &str, db: &Db) {
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env: vec![], address_space: None };
    let serve = Serve::start(&config, name);
    let api = serve.api();
    let (status, d) = api.deploy(MODEL.as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");
    let (status, running) = start(&api, "work");
    assert_eq!(status, 201, "{running}");
    let running = running["id"].as_str().unwrap().to_string();
    assert_eq!(get(&api, "/api/v1/processes/work")["suspended"], false);

    // Suspended: no start by the API, nor by a call activity; the running Request goes on.
    let (status, p) = api.post_json("/api/v1/processes/work/suspend", &json!({})).unwrap();
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["suspended"], true, "{p}");
    assert!(p["suspended_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{p}");
    assert!(p["suspended_by"].as_str().is_some(), "{p}");
    let (status, again) = api.post_json("/api/v1/processes/work/suspend", &json!({})).unwrap();
    assert_eq!((status, &again["suspended_at"]), (200, &p["suspended_at"]), "suspending twice changes nothing");
    let (status, e) = start(&api, "work");
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("process_suspended")), "{e}");
    let (status, c) = start(&api, "caller");
    assert_eq!(status, 201, "{c}");
    let caller = c["id"].as_str().unwrap().to_string();
    let c = wait_for(&api, &caller, |r| r["status"] == "error");
    assert!(c["incidents"][0]["message"].as_str().unwrap().contains("suspended"), "{c}");
    assert_eq!(complete_task(&api, &running)["status"], "completed");

    // A message start event of a suspended process starts nothing.
    let (status, p) = api.post_json("/api/v1/processes/by_message/suspend", &json!({})).unwrap();
    assert_eq!(status, 200, "{p}");
    let (status, m) = api.post_json("/api/v1/messages", &json!({"name": "go"})).unwrap();
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["requests"], json!([]), "{m}");
    assert_eq!(get(&api, "/api/v1/requests?process=by_message")["requests"], json!([]));

    // Resumed: it starts Requests again, by each way.
    for key in ["work", "by_message"] {
        let (status, p) = api.post_json(&format!("/api/v1/processes/{key}/resume"), &json!({})).unwrap();
        assert_eq!(status, 200, "{p}");
        assert_eq!(p["suspended"], false, "{p}");
        assert!(p.get("suspended_at").is_none(), "{p}");
    }
    let (status, r) = start(&api, "work");
    assert_eq!(status, 201, "{r}");
    let (status, m) = api.post_json("/api/v1/messages", &json!({"name": "go"})).unwrap();
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["requests"].as_array().unwrap().len(), 1, "{m}");
    // A call activity starts it again: the child Request is there.
    let (status, c) = start(&api, "caller");
    assert_eq!(status, 201, "{c}");
    let caller = c["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while get(&api, &format!("/api/v1/requests?parent={caller}"))["requests"].as_array().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no child Request");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(get(&api, &format!("/api/v1/requests/{caller}"))["status"], "active");

    versions(&api);
    suspended_requests(&api);

    // Unknown processes.
    for action in ["suspend", "resume"] {
        let (status, e) = api.post_json(&format!("/api/v1/processes/nope/{action}"), &json!({})).unwrap();
        assert_eq!((status, e["error"]["code"].as_str()), (404, Some("process_not_found")), "{action}: {e}");
    }
}

/// `DELETE /api/v1/processes/{key}/versions/{version}`: only a version no Request uses and that
/// is not the latest.
fn versions(api: &Api) {
    let model = |name: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:versions">
<process id="versioned" name="{name}" isExecutable="true">
  <startEvent id="s"/><sequenceFlow id="f" sourceRef="s" targetRef="t"/><userTask id="t"/>
</process>
</definitions>"#
        )
    };
    for name in ["one", "two"] {
        let (status, d) = api.deploy(model(name).as_bytes()).unwrap();
        assert_eq!(status, 201, "{d}");
    }
    let body = json!({"version": 1});
    let (status, r) = api.post_json("/api/v1/processes/versioned/requests", &body).unwrap();
    assert_eq!(status, 201, "{r}");
    let delete = |version: &str| {
        api.call("DELETE", &format!("/api/v1/processes/versioned/versions/{version}"), None, b"").unwrap()
    };
    let (status, e) = delete("1");
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("version_in_use")), "{e}");
    let (status, e) = delete("2");
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("version_is_latest")), "{e}");
    let (status, d) = api.deploy(model("three").as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");
    let (status, e) = delete("2");
    assert_eq!(status, 204, "{e}");
    let p = get(api, "/api/v1/processes/versioned");
    let listed: Vec<i64> = p["versions"].as_array().unwrap().iter().filter_map(|v| v["version"].as_i64()).collect();
    assert_eq!(listed, [1, 3], "{p}");
    let (status, e) = api.post_json("/api/v1/processes/versioned/requests", &json!({"version": 2})).unwrap();
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("process_not_found")), "{e}");
    for version in ["2", "9", "x"] {
        let (status, e) = delete(version);
        assert_eq!((status, e["error"]["code"].as_str()), (404, Some("process_not_found")), "{version}: {e}");
    }
    let (status, r) = api.post_json("/api/v1/processes/versioned/requests", &json!({})).unwrap();
    assert_eq!((status, &r["process_version"]), (201, &json!(3)), "{r}");
}

/// A suspended Request takes nothing but resume and cancel, and its timer waits.
fn suspended_requests(api: &Api) {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:held">
<message id="m_poke" name="poke" sluice:correlationKey="= key"/>
<process id="held" isExecutable="true">
  <startEvent id="s"/>
  <sequenceFlow id="f0" sourceRef="s" targetRef="fork"/>
  <parallelGateway id="fork"/>
  <sequenceFlow id="f1" sourceRef="fork" targetRef="timer"/>
  <intermediateCatchEvent id="timer"><timerEventDefinition><timeDuration>PT1S</timeDuration></timerEventDefinition></intermediateCatchEvent>
  <sequenceFlow id="f1b" sourceRef="timer" targetRef="after_timer"/>
  <userTask id="after_timer"/>
  <sequenceFlow id="f2" sourceRef="fork" targetRef="task"/>
  <userTask id="task"/>
  <sequenceFlow id="f3" sourceRef="fork" targetRef="poked"/>
  <intermediateCatchEvent id="poked"><messageEventDefinition messageRef="m_poke"/></intermediateCatchEvent>
</process>
</definitions>"#;
    let (status, d) = api.deploy(xml.as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");
    let (status, r) = api.post_json("/api/v1/processes/held/requests", &json!({"data": {"key": "k1"}})).unwrap();
    assert_eq!(status, 201, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    let (status, r) = api.post_json(&format!("/api/v1/requests/{id}/suspend"), &json!({})).unwrap();
    assert_eq!((status, &r["suspended"]), (200, &json!(true)), "{r}");
    let (status, again) = api.post_json(&format!("/api/v1/requests/{id}/suspend"), &json!({})).unwrap();
    assert_eq!((status, &again["suspended"]), (200, &json!(true)), "{again}");
    // Its timer waits past its due time; its task cannot be completed; a message passes it by.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let r = get(api, &format!("/api/v1/requests/{id}"));
    let at = |r: &Value| {
        let mut v: Vec<String> =
            r["tokens"].as_array().unwrap().iter().map(|t| t["element_id"].as_str().unwrap().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(at(&r), ["poked", "task", "timer"], "{r}");
    let tasks = get(api, &format!("/api/v1/tasks?request={id}&status=active"));
    let task = tasks["tasks"][0]["id"].as_str().unwrap().to_string();
    let (status, e) = api.post_json(&format!("/api/v1/tasks/{task}/complete"), &json!({})).unwrap();
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("request_suspended")), "{e}");
    let (status, m) = api.post_json("/api/v1/messages", &json!({"name": "poke", "correlation_key": "k1"})).unwrap();
    assert_eq!((status, &m["requests"]), (200, &json!([])), "{m}");

    // Resumed: the timer that came due fires, the task completes, a message correlates.
    let (status, r) = api.post_json(&format!("/api/v1/requests/{id}/resume"), &json!({})).unwrap();
    assert_eq!(status, 200, "{r}");
    assert!(r.get("suspended").is_none(), "{r}");
    wait_for(api, &id, |r| at(r).contains(&"after_timer".to_string()));
    let (status, r) = api.post_json(&format!("/api/v1/tasks/{task}/complete"), &json!({})).unwrap();
    assert_eq!(status, 200, "{r}");
    let (status, m) = api.post_json("/api/v1/messages", &json!({"name": "poke", "correlation_key": "k1"})).unwrap();
    assert_eq!((status, m["requests"].as_array().unwrap().len()), (200, 1), "{m}");
    assert_eq!(at(&get(api, &format!("/api/v1/requests/{id}"))), ["after_timer"]);
    let h = get(api, &format!("/api/v1/requests/{id}/events?limit=1000"));
    let kinds: Vec<&str> = h["events"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "request_suspended").count(), 1, "{h}");
    assert_eq!(kinds.iter().filter(|k| **k == "request_resumed").count(), 1, "{h}");
    // A suspended Request can be canceled; a finished one cannot be suspended.
    let (status, r) = api.post_json(&format!("/api/v1/requests/{id}/suspend"), &json!({})).unwrap();
    assert_eq!(status, 200, "{r}");
    let (status, r) = api.post_json(&format!("/api/v1/requests/{id}/cancel"), &json!({})).unwrap();
    assert_eq!((status, &r["status"]), (200, &json!("canceled")), "{r}");
    let (status, e) = api.post_json(&format!("/api/v1/requests/{id}/suspend"), &json!({})).unwrap();
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("request_not_active")), "{e}");
}

#[test]
fn suspend_and_resume_on_sqlite() {
    let name = "lifecycle-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn suspend_and_resume_on_postgres() {
    let Some(db) = Db::postgres("lifecycle::suspend_and_resume_on_postgres") else {
        return;
    };
    run("lifecycle-postgres", &db);
}
