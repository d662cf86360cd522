//! Background operations over HTTP with the real binary, on SQLite and on PostgreSQL: 1,000
//! Requests waiting at a user task, a timer, a message catch and a user task inside a
//! sub-process are migrated to version 2 by `POST /api/v1/operations`; the server is killed
//! (SIGKILL) in the middle and started again, and the operation goes on where it stopped. Then
//! every Request is on version 2 exactly once (one `request_migrated` event each), its timer
//! fires by the new definition, messages correlate, the boundary event version 2 added catches;
//! and a cancel operation takes the Requests a filter matches. Bad operations are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Api, Serve, ServeConfig};

const REQUESTS: usize = 1000;
const PATHS: [&str; 4] = ["task", "timer", "message", "sub"];

/// Version 1 or 2 of `order`: `path` routes a Request to wait at `review`, the timer `wait_t`
/// (an hour; a second in version 2), the message catch `wait_m`, or `inner` in `sub` (which has
/// a message boundary event `abort` in version 2); each then waits at `final`.
fn model(v: u32) -> String {
    let timer = if v == 1 { "PT1H" } else { "PT1S" };
    let boundary = if v == 1 {
        ""
    } else {
        r#"<boundaryEvent id="abort" attachedToRef="sub"><messageEventDefinition messageRef="m_abort"/></boundaryEvent>
  <sequenceFlow id="fa" sourceRef="abort" targetRef="aborted"/>
  <endEvent id="aborted"/>"#
    };
    let cond =
        |p: &str| format!(r#"<conditionExpression xsi:type="tFormalExpression">= path = "{p}"</conditionExpression>"#);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
             xmlns:sluice="urn:sluice:bpmn:1" id="defs" targetNamespace="urn:operations">
<message id="m_paid" name="paid" sluice:correlationKey="= order_id"/>
<message id="m_abort" name="abort" sluice:correlationKey="= order_id"/>
<process id="order" isExecutable="true">
  <startEvent id="s"/>
  <sequenceFlow id="f0" sourceRef="s" targetRef="route"/>
  <exclusiveGateway id="route"/>
  <sequenceFlow id="f1" sourceRef="route" targetRef="review">{c1}</sequenceFlow>
  <userTask id="review"/>
  <sequenceFlow id="f1b" sourceRef="review" targetRef="merge"/>
  <sequenceFlow id="f2" sourceRef="route" targetRef="wait_t">{c2}</sequenceFlow>
  <intermediateCatchEvent id="wait_t"><timerEventDefinition><timeDuration>{timer}</timeDuration></timerEventDefinition></intermediateCatchEvent>
  <sequenceFlow id="f2b" sourceRef="wait_t" targetRef="merge"/>
  <sequenceFlow id="f3" sourceRef="route" targetRef="wait_m">{c3}</sequenceFlow>
  <intermediateCatchEvent id="wait_m"><messageEventDefinition messageRef="m_paid"/></intermediateCatchEvent>
  <sequenceFlow id="f3b" sourceRef="wait_m" targetRef="merge"/>
  <sequenceFlow id="f4" sourceRef="route" targetRef="sub">{c4}</sequenceFlow>
  <subProcess id="sub">
    <startEvent id="ss"/>
    <sequenceFlow id="g1" sourceRef="ss" targetRef="inner"/>
    <userTask id="inner"/>
    <sequenceFlow id="g2" sourceRef="inner" targetRef="se"/>
    <endEvent id="se"/>
  </subProcess>
  {boundary}
  <sequenceFlow id="f4b" sourceRef="sub" targetRef="merge"/>
  <exclusiveGateway id="merge"/>
  <sequenceFlow id="f5" sourceRef="merge" targetRef="final"/>
  <userTask id="final"/>
  <sequenceFlow id="f6" sourceRef="final" targetRef="e"/>
  <endEvent id="e"/>
</process>
</definitions>"#,
        c1 = cond("task"),
        c2 = cond("timer"),
        c3 = cond("message"),
        c4 = cond("sub"),
    )
}

fn get(api: &Api, path: &str) -> Value {
    let (status, v) = api.get(path).unwrap();
    assert_eq!(status, 200, "{path}: {v}");
    v
}

/// Every Request id a search finds (all pages).
fn all(api: &Api, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(api, &format!("/api/v1/requests?{query}&limit=200&cursor={cursor}"));
        ids.extend(page["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => return ids,
        }
    }
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + timeout;
    loop {
        let Some(why_not) = check() else { return };
        assert!(Instant::now() < deadline, "{what}: {why_not}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run(name: &str, db: &Db) {
    // A pause after each Request, so that the operation is still running when the server dies.
    let env = vec![("SLUICE_OPERATION_PACE_MS".to_string(), "4".to_string())];
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env, address_space: None };
    let serve = Serve::start(&config, &format!("{name}-0"));
    let api = serve.api();
    let (status, d) = api.deploy(model(1).as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");
    let mut requests: Vec<(String, &str, String)> = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let (path, order) = (PATHS[i % 4], format!("o-{i}"));
        let body = json!({"data": {"path": path, "order_id": order}});
        let (status, r) = api.post_json("/api/v1/processes/order/requests", &body).unwrap();
        assert_eq!(status, 201, "{r}");
        requests.push((r["id"].as_str().unwrap().to_string(), path, order));
    }
    let (status, d) = api.deploy(model(2).as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");

    // Refused operations.
    for (body, status, field) in [
        (json!({"kind": "migrate", "filter": {"process": "order"}}), 400, Some("version")),
        (json!({"kind": "migrate", "version": 2}), 400, Some("filter.process")),
        (json!({"kind": "migrate", "version": 9, "filter": {"process": "order"}}), 422, None),
        (json!({"kind": "cancel", "version": 2}), 400, Some("version")),
        (json!({"kind": "cancel", "filter": {"status": "sleeping"}}), 400, Some("filter.status")),
        (json!({"kind": "cancel", "filter": {"proces": "order"}}), 400, Some("filter.proces")),
        (json!({"kind": "cancel", "filter": {"data": ["order_id=o-1", "amount"]}}), 400, Some("filter.data[1]")),
        (json!({"kind": "explode"}), 400, Some("kind")),
    ] {
        let (got, e) = api.post_json("/api/v1/operations", &body).unwrap();
        assert_eq!(got, status, "{body}: {e}");
        if let Some(field) = field {
            assert_eq!(e["error"]["field"], field, "{body}: {e}");
        }
    }
    let (status, e) = api.get("/api/v1/operations/00000000-0000-0000-0000-000000000000").unwrap();
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("operation_not_found")), "{e}");

    // Migrate them all in the background; kill the server in the middle.
    let body = json!({"kind": "migrate", "filter": {"process": "order", "version": 1}, "version": 2});
    let (status, op) = api.post_json("/api/v1/operations", &body).unwrap();
    assert_eq!(status, 202, "{op}");
    assert_eq!((op["status"].as_str(), op["total"].as_i64()), (Some("running"), Some(REQUESTS as i64)), "{op}");
    let op_path = format!("/api/v1/operations/{}", op["id"].as_str().unwrap());
    wait_for("the operation gets going", Duration::from_secs(60), || {
        let op = get(&api, &op_path);
        (op["done"].as_i64().unwrap() < 100).then(|| op.to_string())
    });
    serve.kill9();
    let serve = Serve::start(&config, &format!("{name}-1"));
    let api = serve.api();
    let at_kill = get(&api, &op_path);
    assert!(at_kill["done"].as_i64().unwrap() < REQUESTS as i64, "killed too late to tell: {at_kill}");
    assert_eq!(at_kill["status"], "running", "{at_kill}");
    wait_for("the operation goes on after the restart", Duration::from_secs(120), || {
        let op = get(&api, &op_path);
        (op["status"] != "done").then(|| op.to_string())
    });
    let op = get(&api, &op_path);
    assert_eq!((op["done"].as_i64(), op["failed"].as_i64()), (Some(REQUESTS as i64), Some(0)), "{op}");
    assert!(op["finished_at"].as_str().is_some(), "{op}");

    // Every Request on version 2, migrated exactly once.
    assert_eq!(all(&api, "process=order&version=2").len(), REQUESTS);
    assert!(all(&api, "process=order&version=1").is_empty());
    for (id, path, _) in &requests {
        let h = get(&api, &format!("/api/v1/requests/{id}/events?limit=1000"));
        let n = h["events"].as_array().unwrap().iter().filter(|e| e["type"] == "request_migrated").count();
        assert_eq!(n, 1, "{path} Request {id}: {h}");
    }

    // They go on at version 2: the timers (a second now) fire, messages correlate, the new
    // boundary event catches.
    wait_for("every timer fires", Duration::from_secs(60), || {
        let n = all(&api, "process=order&element=final").len();
        (n < REQUESTS / 4).then(|| format!("{n} at `final`"))
    });
    for (id, path, order) in requests.iter().take(8) {
        let name = match *path {
            "message" => "paid",
            "sub" => "abort",
            _ => continue,
        };
        let (status, m) = api.post_json("/api/v1/messages", &json!({"name": name, "correlation_key": order})).unwrap();
        let reached: Vec<&str> = m["requests"].as_array().unwrap().iter().filter_map(|r| r["id"].as_str()).collect();
        assert_eq!((status, reached), (200, vec![id.as_str()]), "{m}");
    }
    let aborted: Vec<&String> = requests.iter().take(8).filter(|(_, p, _)| *p == "sub").map(|(id, _, _)| id).collect();
    for id in aborted {
        wait_for("aborted by the new boundary event", Duration::from_secs(20), || {
            let r = get(&api, &format!("/api/v1/requests/{id}"));
            (r["status"] != "completed").then(|| r.to_string())
        });
    }

    // A cancel operation takes what its filter matches: the Requests waiting at `review`.
    let body = json!({"kind": "cancel", "filter": {"process": "order", "element": "review"}});
    let (status, op) = api.post_json("/api/v1/operations", &body).unwrap();
    assert_eq!((status, op["total"].as_i64()), (202, Some((REQUESTS / 4) as i64)), "{op}");
    let op_path = format!("/api/v1/operations/{}", op["id"].as_str().unwrap());
    wait_for("the cancel operation ends", Duration::from_secs(60), || {
        let op = get(&api, &op_path);
        (op["status"] != "done").then(|| op.to_string())
    });
    assert_eq!(all(&api, "process=order&status=canceled").len(), REQUESTS / 4);

    // A filter on the data: its conditions all hold (o-10 waits for a message).
    let body = json!({"kind": "cancel", "filter": {"process": "order", "data": ["order_id=o-10", "path=task"]}});
    let (status, op) = api.post_json("/api/v1/operations", &body).unwrap();
    assert_eq!((status, op["total"].as_i64()), (202, Some(0)), "{op}");
    let body = json!({"kind": "cancel", "filter": {"process": "order", "data": ["order_id=o-10", "path!=task"]}});
    let (status, op) = api.post_json("/api/v1/operations", &body).unwrap();
    assert_eq!((status, op["total"].as_i64()), (202, Some(1)), "{op}");
    assert_eq!(op["filter"]["data"], json!(["order_id=o-10", "path!=task"]), "{op}");
    let (o10, _, _) = &requests[10];
    wait_for("o-10 canceled", Duration::from_secs(60), || {
        let r = get(&api, &format!("/api/v1/requests/{o10}"));
        (r["status"] != "canceled").then(|| r.to_string())
    });
    assert_eq!(all(&api, "process=order&status=canceled").len(), REQUESTS / 4 + 1);
}

#[test]
fn operations_survive_a_kill_on_sqlite() {
    let name = "operations-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn operations_survive_a_kill_on_postgres() {
    let Some(db) = Db::postgres("operations::operations_survive_a_kill_on_postgres") else {
        return;
    };
    run("operations-postgres", &db);
}
