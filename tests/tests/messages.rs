//! Messages as Camunda 8 users know them, over HTTP with the real binary on SQLite and PostgreSQL:
//! a message published before its Request waits for it is kept for its `time_to_live` and taken
//! by the first matching subscription that opens within it (also across a restart); without a
//! time to live, or after it, it is dropped; a `message_id` publishes once; a message start event
//! starts a Request from a publish; bad bodies answer 400 naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Api, Serve, ServeConfig};

/// `order` waits at a user task, then for the message `paid` keyed by its `order_id`, then ends.
/// `shipment` is started by the message `ship`.
const MODEL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
             xmlns:sluice="urn:sluice:bpmn:1" id="defs" targetNamespace="urn:messages">
<message id="m_paid" name="paid" sluice:correlationKey="= order_id"/>
<message id="m_ship" name="ship"/>
<process id="order" isExecutable="true">
  <startEvent id="s"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
  <userTask id="review"/>
  <sequenceFlow id="f2" sourceRef="review" targetRef="wait_paid"/>
  <intermediateCatchEvent id="wait_paid"><messageEventDefinition messageRef="m_paid"/></intermediateCatchEvent>
  <sequenceFlow id="f3" sourceRef="wait_paid" targetRef="e"/>
  <endEvent id="e"/>
</process>
<process id="shipment" isExecutable="true">
  <startEvent id="ss"><messageEventDefinition messageRef="m_ship"/></startEvent>
  <sequenceFlow id="g1" sourceRef="ss" targetRef="pack"/>
  <userTask id="pack"/>
  <sequenceFlow id="g2" sourceRef="pack" targetRef="se"/>
  <endEvent id="se"/>
</process>
</definitions>"#;

fn start(api: &Api, order_id: &str) -> String {
    let body = json!({"data": {"order_id": order_id}});
    let (status, r) = api.post_json("/api/v1/processes/order/requests", &body).unwrap();
    assert_eq!(status, 201, "{r}");
    r["id"].as_str().unwrap().to_string()
}

fn get(api: &Api, id: &str) -> Value {
    let (status, r) = api.get(&format!("/api/v1/requests/{id}")).unwrap();
    assert_eq!(status, 200, "{r}");
    r
}

fn publish(api: &Api, body: Value) -> Value {
    let (status, r) = api.post_json("/api/v1/messages", &body).unwrap();
    assert_eq!(status, 200, "{body}: {r}");
    r
}

/// Completes the review of Request `id`: its token moves on to wait for `paid`.
fn review(api: &Api, id: &str) {
    let (status, list) = api.get(&format!("/api/v1/tasks?request={id}&status=active")).unwrap();
    assert_eq!(status, 200, "{list}");
    let task = &list["tasks"][0];
    assert_eq!(task["element_id"], "review", "{list}");
    let (status, done) =
        api.post_json(&format!("/api/v1/tasks/{}/complete", task["id"].as_str().unwrap()), &json!({})).unwrap();
    assert_eq!(status, 200, "{done}");
}

/// Waits (up to 20 s) until Request `id` satisfies `done`, and returns it.
fn wait(api: &Api, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let r = get(api, id);
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < until, "Request {id} never got there: {r}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn waiting_at(r: &Value, element: &str) -> bool {
    r["tokens"].as_array().unwrap().iter().any(|t| t["element_id"] == element)
}

fn run(name: &str, db: &Db) {
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env: vec![], address_space: None };
    let serve = Serve::start(&config, name);
    let api = serve.api();
    let (status, d) = api.deploy(MODEL.as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");

    // Without a time to live, a message nobody waits for is dropped (today's behaviour).
    let a = start(&api, "A");
    let r = publish(&api, json!({"name": "paid", "correlation_key": "A", "data": {"amount": 1}}));
    assert_eq!((r["requests"].clone(), r.get("kept_until"), &r["duplicate"]), (json!([]), None, &json!(false)));
    review(&api, &a);
    let waiting = wait(&api, &a, |r| waiting_at(r, "wait_paid"));
    assert_eq!(waiting["status"], "active");

    // With one, it is kept, and the subscription that opens later takes it with its data.
    let b = start(&api, "B");
    let r =
        publish(&api, json!({"name": "paid", "correlation_key": "B", "data": {"amount": 2}, "time_to_live": 60000}));
    assert_eq!(r["requests"], json!([]), "{r}");
    assert!(r["kept_until"].as_str().unwrap().ends_with('Z'), "{r}");
    review(&api, &b);
    let done = wait(&api, &b, |r| r["status"] == "completed");
    assert_eq!(done["data"]["amount"], 2, "{done}");
    // Taken once: A, waiting with another key, did not get it; its own kept message reaches it.
    assert_eq!(get(&api, &a)["status"], "active");
    let r =
        publish(&api, json!({"name": "paid", "correlation_key": "A", "data": {"amount": 3}, "time_to_live": 60000}));
    assert_eq!(r["requests"][0]["id"], a.as_str(), "a waiting Request gets it at once: {r}");
    assert!(r.get("kept_until").is_none(), "{r}");
    assert_eq!(get(&api, &a)["data"]["amount"], 3);

    // A kept message expires: a subscription opening after its time to live does not get it.
    let c = start(&api, "C");
    publish(&api, json!({"name": "paid", "correlation_key": "C", "time_to_live": 300}));
    std::thread::sleep(Duration::from_millis(700));
    review(&api, &c);
    wait(&api, &c, |r| waiting_at(r, "wait_paid"));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(waiting_at(&get(&api, &c), "wait_paid"), "an expired message was delivered");

    // A message id publishes once: the same id again does nothing, even with a Request waiting.
    let r = publish(&api, json!({"name": "paid", "correlation_key": "C", "message_id": "pay-C-1"}));
    assert_eq!((r["requests"][0]["id"].as_str(), &r["duplicate"]), (Some(c.as_str()), &json!(false)), "{r}");
    let d = start(&api, "C");
    review(&api, &d);
    wait(&api, &d, |r| waiting_at(r, "wait_paid"));
    let r = publish(&api, json!({"name": "paid", "correlation_key": "C", "message_id": "pay-C-1"}));
    assert_eq!((r["requests"].clone(), &r["duplicate"]), (json!([]), &json!(true)), "{r}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(waiting_at(&get(&api, &d), "wait_paid"), "a duplicate was delivered");
    // Another id (or the same id under another message name) is another message.
    let r = publish(&api, json!({"name": "paid", "correlation_key": "C", "message_id": "pay-C-2"}));
    assert_eq!(r["requests"][0]["id"], d.as_str(), "{r}");

    // A message start event starts a Request from a publish, with the message's data.
    let r = publish(&api, json!({"name": "ship", "data": {"box": 7}, "message_id": "ship-1"}));
    let shipment = &r["requests"][0];
    assert_eq!((&shipment["process_key"], &shipment["data"]["box"]), (&json!("shipment"), &json!(7)), "{r}");
    let r = publish(&api, json!({"name": "ship", "data": {"box": 7}, "message_id": "ship-1"}));
    assert_eq!((r["requests"].clone(), &r["duplicate"]), (json!([]), &json!(true)), "{r}");

    // Bad bodies: 400 naming the field.
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "paid", "time_to_live": 90u64 * 24 * 3600 * 1000 + 1}), "time_to_live"),
        (json!({"name": "paid", "message_id": " "}), "message_id"),
        (json!({"name": "paid", "ttl": 5}), "ttl"),
    ] {
        let (status, e) = api.post_json("/api/v1/messages", &body).unwrap();
        assert_eq!((status, e["error"]["code"].as_str()), (400, Some("bad_request")), "{body}: {e}");
        assert_eq!(e["error"]["field"], field, "{body}: {e}");
    }
    let (status, e) = api.post_json("/api/v1/messages", &json!({"name": "paid", "time_to_live": -1})).unwrap();
    assert_eq!(status, 400, "{e}");

    // A kept message survives a restart, and the first subscription opening afterwards gets it.
    let e = start(&api, "E");
    let r =
        publish(&api, json!({"name": "paid", "correlation_key": "E", "data": {"late": true}, "time_to_live": 120000}));
    assert!(r["kept_until"].is_string(), "{r}");
    let status = serve.terminate();
    assert!(status.success(), "{status:?}");
    let serve = Serve::start(&config, name);
    let api = serve.api();
    review(&api, &e);
    let done = wait(&api, &e, |r| r["status"] == "completed");
    assert_eq!(done["data"]["late"], true, "{done}");
}

#[test]
fn messages_are_kept_for_their_time_to_live_and_published_once_on_sqlite() {
    let name = "messages-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn messages_are_kept_for_their_time_to_live_and_published_once_on_postgres() {
    let Some(db) = Db::postgres("messages::messages_are_kept_for_their_time_to_live_and_published_once_on_postgres")
    else {
        return;
    };
    run("messages-postgres", &db);
}
