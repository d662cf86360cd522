//! Migrating Requests to a new version over HTTP with the real binary, on SQLite and on
//! PostgreSQL (`POST /api/v1/requests/{id}/migrate`): Requests waiting at a user task (renamed in
//! the new version, so mapped), a timer (whose duration changed), a message catch and a user
//! task inside a sub-process (which gained a boundary event) move to version 2, and afterwards
//! every one goes on there: the timer fires by its new definition, the message correlates, the
//! new boundary event catches. A plan that would lose a token is refused naming the element, and
//! changes nothing. Requests inside a parallel multi-instance task move too, and finish their
//! loop on the new version.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Api, Serve, ServeConfig};

/// Version 1 (`v == 1`), 2 or 3 of `order`. Its data's `path` routes a Request to wait at a user
/// task, a timer, a message or a user task in a sub-process; each then goes to `final`.
/// Version 2 renames `review` to `check`, makes the timer one second, and gives `sub` a message
/// boundary event `abort`. Version 3 has no message catch.
fn model(v: u32) -> String {
    let review = if v == 1 { "review" } else { "check" };
    let timer = if v == 1 { "PT1H" } else { "PT1S" };
    let boundary = if v == 1 {
        String::new()
    } else {
        r#"<boundaryEvent id="abort" attachedToRef="sub"><messageEventDefinition messageRef="m_abort"/></boundaryEvent>
  <sequenceFlow id="fa" sourceRef="abort" targetRef="aborted"/>
  <endEvent id="aborted"/>"#
            .to_string()
    };
    let message = if v == 3 {
        r#"<userTask id="wait_m2"/>
  <sequenceFlow id="f_m" sourceRef="route" targetRef="wait_m2"><conditionExpression xsi:type="tFormalExpression">= path = "message"</conditionExpression></sequenceFlow>
  <sequenceFlow id="f_m2" sourceRef="wait_m2" targetRef="merge"/>"#
            .to_string()
    } else {
        r#"<intermediateCatchEvent id="wait_m"><messageEventDefinition messageRef="m_paid"/></intermediateCatchEvent>
  <sequenceFlow id="f_m" sourceRef="route" targetRef="wait_m"><conditionExpression xsi:type="tFormalExpression">= path = "message"</conditionExpression></sequenceFlow>
  <sequenceFlow id="f_m2" sourceRef="wait_m" targetRef="merge"/>"#
            .to_string()
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
             xmlns:sluice="urn:sluice:bpmn:1" id="defs" targetNamespace="urn:migrate">
<message id="m_paid" name="paid" sluice:correlationKey="= order_id"/>
<message id="m_abort" name="abort" sluice:correlationKey="= order_id"/>
<process id="order" isExecutable="true">
  <startEvent id="s"/>
  <sequenceFlow id="f0" sourceRef="s" targetRef="route"/>
  <exclusiveGateway id="route"/>
  <sequenceFlow id="f_r" sourceRef="route" targetRef="{review}"><conditionExpression xsi:type="tFormalExpression">= path = "task"</conditionExpression></sequenceFlow>
  <userTask id="{review}"/>
  <sequenceFlow id="f_r2" sourceRef="{review}" targetRef="merge"/>
  <sequenceFlow id="f_t" sourceRef="route" targetRef="wait_t"><conditionExpression xsi:type="tFormalExpression">= path = "timer"</conditionExpression></sequenceFlow>
  <intermediateCatchEvent id="wait_t"><timerEventDefinition><timeDuration>{timer}</timeDuration></timerEventDefinition></intermediateCatchEvent>
  <sequenceFlow id="f_t2" sourceRef="wait_t" targetRef="merge"/>
  {message}
  <sequenceFlow id="f_s" sourceRef="route" targetRef="sub"><conditionExpression xsi:type="tFormalExpression">= path = "sub"</conditionExpression></sequenceFlow>
  <subProcess id="sub">
    <startEvent id="ss"/>
    <sequenceFlow id="g1" sourceRef="ss" targetRef="inner"/>
    <userTask id="inner"/>
    <sequenceFlow id="g2" sourceRef="inner" targetRef="se"/>
    <endEvent id="se"/>
  </subProcess>
  {boundary}
  <sequenceFlow id="f_s2" sourceRef="sub" targetRef="merge"/>
  <exclusiveGateway id="merge"/>
  <sequenceFlow id="f_f" sourceRef="merge" targetRef="final"/>
  <userTask id="final"/>
  <sequenceFlow id="f_e" sourceRef="final" targetRef="e"/>
  <endEvent id="e"/>
</process>
</definitions>"#
    )
}

const PATHS: [&str; 4] = ["task", "timer", "message", "sub"];

fn get(api: &Api, path: &str) -> Value {
    let (status, v) = api.get(path).unwrap();
    assert_eq!(status, 200, "{path}: {v}");
    v
}

/// The elements where a Request's tokens are, sorted.
fn at(r: &Value) -> Vec<String> {
    let mut v: Vec<String> =
        r["tokens"].as_array().unwrap().iter().map(|t| t["element_id"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

fn wait_until(api: &Api, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = get(api, &format!("/api/v1/requests/{id}"));
        if check(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "{what}: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn complete(api: &Api, id: &str, element: &str) {
    let tasks = get(api, &format!("/api/v1/tasks?request={id}&status=active"));
    let task = tasks["tasks"].as_array().unwrap().iter().find(|t| t["element_id"] == element).cloned();
    let task = task.unwrap_or_else(|| panic!("no active task at {element}: {tasks}"));
    let path = format!("/api/v1/tasks/{}/complete", task["id"].as_str().unwrap());
    let (status, r) = api.post_json(&path, &json!({})).unwrap();
    assert_eq!(status, 200, "{r}");
}

fn migrate(api: &Api, id: &str, body: Value) -> (u16, Value) {
    api.post_json(&format!("/api/v1/requests/{id}/migrate"), &body).unwrap()
}

fn run(name: &str, db: &Db) {
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env: vec![], address_space: None };
    let serve = Serve::start(&config, name);
    let api = serve.api();
    let (status, d) = api.deploy(model(1).as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");

    // Ten Requests waiting at each kind of element.
    let mut requests: Vec<(String, &str, String)> = Vec::new();
    for i in 0..40 {
        let path = PATHS[i % 4];
        let order = format!("o-{i}");
        let body = json!({"data": {"path": path, "order_id": order}});
        let (status, r) = api.post_json("/api/v1/processes/order/requests", &body).unwrap();
        assert_eq!(status, 201, "{r}");
        requests.push((r["id"].as_str().unwrap().to_string(), path, order));
    }
    let (status, d) = api.deploy(model(2).as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");
    let (status, d) = api.deploy(model(3).as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");

    // Refused plans change nothing: a token would have no element (version 3 has no `wait_m`),
    // `review` left unmapped (version 2 has only `check`), a mapping to another kind of element,
    // a version that does not exist.
    let (message_id, _, _) = requests.iter().find(|(_, p, _)| *p == "message").unwrap();
    let (task_id, _, _) = requests.iter().find(|(_, p, _)| *p == "task").unwrap();
    for (id, body, needle) in [
        (message_id, json!({"version": 3}), "`wait_m`"),
        (task_id, json!({"version": 2}), "`review`"),
        (task_id, json!({"version": 2, "mapping": {"review": "wait_t"}}), "another kind"),
        (task_id, json!({"version": 9}), "no version 9"),
    ] {
        let before = get(&api, &format!("/api/v1/requests/{id}"));
        let (status, e) = migrate(&api, id, body.clone());
        assert_eq!((status, e["error"]["code"].as_str()), (422, Some("migration_invalid")), "{body}: {e}");
        assert!(e["error"]["message"].as_str().unwrap().contains(needle), "{body}: {e}");
        let after = get(&api, &format!("/api/v1/requests/{id}"));
        assert_eq!((&after["process_version"], at(&after)), (&before["process_version"], at(&before)));
    }
    let (status, e) = migrate(&api, task_id, json!({"version": 2, "mapping": {}, "map": {}}));
    assert_eq!((status, e["error"]["field"].as_str()), (400, Some("map")), "{e}");

    // Every Request to version 2 (the renamed task mapped), once; a second run changes nothing.
    let plan = json!({"version": 2, "mapping": {"review": "check"}});
    for (id, path, _) in &requests {
        let (status, r) = migrate(&api, id, plan.clone());
        assert_eq!(status, 200, "{path}: {r}");
        assert_eq!(r["process_version"], 2, "{r}");
        let want: &[&str] = match *path {
            "task" => &["check"],
            "timer" => &["wait_t"],
            "message" => &["wait_m"],
            _ => &["inner", "sub"],
        };
        assert_eq!(at(&r), want, "{path}: {r}");
    }
    let (id, _, _) = &requests[0];
    let (status, r) = migrate(&api, id, plan.clone());
    assert_eq!((status, &r["process_version"]), (200, &json!(2)), "{r}");
    let (status, h) = api.get(&format!("/api/v1/requests/{id}/events?limit=1000")).unwrap();
    assert_eq!(status, 200, "{h}");
    let migrated: Vec<&Value> =
        h["events"].as_array().unwrap().iter().filter(|e| e["type"] == "request_migrated").collect();
    assert_eq!(migrated.len(), 1, "{h}");
    assert_eq!((&migrated[0]["from_version"], &migrated[0]["to_version"]), (&json!(1), &json!(2)));
    assert_eq!(migrated[0]["renamed"], json!({"review": "check"}));
    assert_eq!(
        get(&api, "/api/v1/requests?process=order&version=2&limit=200")["requests"].as_array().unwrap().len(),
        40
    );
    // The renamed task is listed at its new element.
    let tasks = get(&api, &format!("/api/v1/tasks?request={id}&status=active"));
    assert_eq!(tasks["tasks"][0]["element_id"], "check", "{tasks}");

    // Afterwards each goes on at version 2: the task completes, the timer fires by its new
    // definition (a second, not an hour), the message correlates, the new boundary event catches.
    for (i, (id, path, order)) in requests.iter().enumerate() {
        match *path {
            "task" => complete(&api, id, "check"),
            "timer" => {}
            "message" => {
                let (status, m) =
                    api.post_json("/api/v1/messages", &json!({"name": "paid", "correlation_key": order})).unwrap();
                assert_eq!((status, m["requests"].as_array().unwrap().len()), (200, 1), "{m}");
            }
            _ if i % 8 == 3 => {
                let (status, m) =
                    api.post_json("/api/v1/messages", &json!({"name": "abort", "correlation_key": order})).unwrap();
                assert_eq!((status, m["requests"].as_array().unwrap().len()), (200, 1), "{m}");
                wait_until(&api, id, "aborted by the new boundary event", |r| r["status"] == "completed");
                continue;
            }
            _ => complete(&api, id, "inner"),
        }
        let r = wait_until(&api, id, "at `final`", |r| at(r) == ["final"]);
        assert_eq!(r["process_version"], 2);
        complete(&api, id, "final");
        wait_until(&api, id, "completed", |r| r["status"] == "completed");
    }
    let (status, e) = migrate(&api, &requests[0].0, json!({"version": 1}));
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("migration_invalid")), "{e}");
}

/// `batch`: a parallel multi-instance user task `review` over `reviewers` (each collects its
/// `ok`). Version 2 keeps it and gains a message boundary event `recall` on it and a `file` task
/// after it; version 3 makes `review` sequential.
fn batch_model(v: u32) -> String {
    let sequential = if v == 3 { "true" } else { "false" };
    let (boundary, next) = if v == 1 {
        (String::new(), "done")
    } else {
        (
            r#"<boundaryEvent id="recall" attachedToRef="review"><messageEventDefinition messageRef="m_recall"/></boundaryEvent>
  <sequenceFlow id="fr" sourceRef="recall" targetRef="recalled"/>
  <endEvent id="recalled"/>
  <userTask id="file"/>
  <sequenceFlow id="ff" sourceRef="file" targetRef="done"/>"#
                .to_string(),
            "file",
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="defs" targetNamespace="urn:migrate-mi">
<message id="m_recall" name="recall" sluice:correlationKey="= batch_id"/>
<process id="batch" isExecutable="true">
  <startEvent id="s"/>
  <sequenceFlow id="f0" sourceRef="s" targetRef="review"/>
  <userTask id="review">
    <multiInstanceLoopCharacteristics isSequential="{sequential}" sluice:collection="= reviewers" sluice:elementVariable="reviewer" sluice:outputCollection="verdicts" sluice:outputElement="= ok"/>
  </userTask>
  {boundary}
  <sequenceFlow id="f1" sourceRef="review" targetRef="{next}"/>
  <endEvent id="done"/>
</process>
</definitions>"#
    )
}

/// Requests in the middle of a parallel multi-instance task move to a version where it has a
/// boundary event and a task after it: the open instances stay open, the outputs collected so far
/// stay, the loop finishes on the new version, and the new boundary event is armed on the loop.
/// A version where the loop runs another way is refused naming it.
fn run_multi_instance(name: &str, db: &Db) {
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env: vec![], address_space: None };
    let serve = Serve::start(&config, name);
    let api = serve.api();
    let (status, d) = api.deploy(batch_model(1).as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");
    let mut ids = Vec::new();
    for i in 0..2 {
        let body = json!({"data": {"batch_id": format!("b-{i}"), "reviewers": ["ann", "bob", "cy"]}});
        let (status, r) = api.post_json("/api/v1/processes/batch/requests", &body).unwrap();
        assert_eq!(status, 201, "{r}");
        let id = r["id"].as_str().unwrap().to_string();
        // One instance done before the migration: its output must survive it.
        let tasks = get(&api, &format!("/api/v1/tasks?request={id}&status=active"));
        assert_eq!(tasks["tasks"].as_array().unwrap().len(), 3, "{tasks}");
        let path = format!("/api/v1/tasks/{}/complete", tasks["tasks"][0]["id"].as_str().unwrap());
        let (status, r) = api.post_json(&path, &json!({"data": {"ok": "first"}})).unwrap();
        assert_eq!(status, 200, "{r}");
        ids.push(id);
    }
    for v in [2, 3] {
        let (status, d) = api.deploy(batch_model(v).as_bytes()).unwrap();
        assert_eq!(status, 201, "{d}");
    }
    let (status, e) = migrate(&api, &ids[0], json!({"version": 3}));
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("migration_invalid")), "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("`review` is a running parallel multi-instance activity"), "{e}");
    assert!(message.contains("is sequential"), "{e}");
    assert_eq!(get(&api, &format!("/api/v1/requests/{}", ids[0]))["process_version"], 1);

    for id in &ids {
        let (status, r) = migrate(&api, id, json!({"version": 2}));
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["process_version"], 2, "{r}");
        let tasks = get(&api, &format!("/api/v1/tasks?request={id}&status=active"));
        assert_eq!(tasks["tasks"].as_array().unwrap().len(), 2, "the two open instances stay: {tasks}");
    }
    // The first finishes its loop on version 2: the outputs of before and after, then `file`.
    let id = &ids[0];
    for ok in ["second", "third"] {
        let tasks = get(&api, &format!("/api/v1/tasks?request={id}&status=active"));
        let path = format!("/api/v1/tasks/{}/complete", tasks["tasks"][0]["id"].as_str().unwrap());
        let (status, r) = api.post_json(&path, &json!({"data": {"ok": ok}})).unwrap();
        assert_eq!(status, 200, "{r}");
    }
    let r = wait_until(&api, id, "at `file`", |r| at(r) == ["file"]);
    let mut verdicts: Vec<String> =
        r["data"]["verdicts"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    verdicts.sort();
    assert_eq!(verdicts, ["first", "second", "third"], "{r}");
    complete(&api, id, "file");
    wait_until(&api, id, "completed", |r| r["status"] == "completed");
    // The second is recalled by the boundary event version 2 added: the loop and its open
    // instances end.
    let (status, m) = api.post_json("/api/v1/messages", &json!({"name": "recall", "correlation_key": "b-1"})).unwrap();
    assert_eq!((status, m["requests"].as_array().unwrap().len()), (200, 1), "{m}");
    wait_until(&api, &ids[1], "recalled", |r| r["status"] == "completed");
    let tasks = get(&api, &format!("/api/v1/tasks?request={}&status=active", ids[1]));
    assert!(tasks["tasks"].as_array().unwrap().is_empty(), "{tasks}");
}

#[test]
fn multi_instance_migration_over_http_on_sqlite() {
    let name = "migrate-mi-sqlite";
    run_multi_instance(name, &Db::sqlite(name));
}

#[test]
fn multi_instance_migration_over_http_on_postgres() {
    let Some(db) = Db::postgres("migrate::multi_instance_migration_over_http_on_postgres") else {
        return;
    };
    run_multi_instance("migrate-mi-postgres", &db);
}

#[test]
fn migration_over_http_on_sqlite() {
    let name = "migrate-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn migration_over_http_on_postgres() {
    let Some(db) = Db::postgres("migrate::migration_over_http_on_postgres") else {
        return;
    };
    run("migrate-postgres", &db);
}
