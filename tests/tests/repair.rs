//! Repairing a Request over HTTP with the real binary, on SQLite and on PostgreSQL
//! (`POST /api/v1/requests/{id}/modify`): a move (cancel a task and start before another with
//! data), a restart inside a sub-process, start after, and the refused repairs (an unknown
//! element, a start into a join without saying so, nothing at the element to cancel, an unknown
//! field, a finished Request), each of which changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Api, Serve, ServeConfig};

const MODEL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="urn:repair">
<process id="repair" isExecutable="true">
  <startEvent id="s"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="a"/>
  <userTask id="a"/>
  <sequenceFlow id="f2" sourceRef="a" targetRef="fork"/>
  <parallelGateway id="fork"/>
  <sequenceFlow id="f3" sourceRef="fork" targetRef="b"/>
  <sequenceFlow id="f4" sourceRef="fork" targetRef="sub"/>
  <userTask id="b"/>
  <subProcess id="sub">
    <startEvent id="ss"/>
    <sequenceFlow id="g1" sourceRef="ss" targetRef="inner"/>
    <userTask id="inner"/>
    <sequenceFlow id="g2" sourceRef="inner" targetRef="se"/>
    <endEvent id="se"/>
  </subProcess>
  <sequenceFlow id="f5" sourceRef="b" targetRef="join"/>
  <sequenceFlow id="f6" sourceRef="sub" targetRef="join"/>
  <parallelGateway id="join"/>
  <sequenceFlow id="f7" sourceRef="join" targetRef="c"/>
  <userTask id="c"/>
  <sequenceFlow id="f8" sourceRef="c" targetRef="e"/>
  <endEvent id="e"/>
</process>
</definitions>"#;

fn start(api: &Api) -> String {
    let (status, r) = api.post_json("/api/v1/processes/repair/requests", &json!({"data": {"n": 1}})).unwrap();
    assert_eq!(status, 201, "{r}");
    r["id"].as_str().unwrap().to_string()
}

/// The elements where the Request's tokens are, sorted.
fn at(r: &Value) -> Vec<String> {
    let mut v: Vec<String> =
        r["tokens"].as_array().unwrap().iter().map(|t| t["element_id"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

fn modify(api: &Api, id: &str, body: Value) -> (u16, Value) {
    api.post_json(&format!("/api/v1/requests/{id}/modify"), &body).unwrap()
}

fn get(api: &Api, id: &str) -> Value {
    let (status, r) = api.get(&format!("/api/v1/requests/{id}")).unwrap();
    assert_eq!(status, 200, "{r}");
    r
}

fn events(api: &Api, id: &str, kind: &str) -> Vec<Value> {
    let (status, e) = api.get(&format!("/api/v1/requests/{id}/events?limit=1000")).unwrap();
    assert_eq!(status, 200, "{e}");
    e["events"].as_array().unwrap().iter().filter(|e| e["type"] == kind).cloned().collect()
}

/// Completes the active task of Request `id` at `element`.
fn complete(api: &Api, id: &str, element: &str) {
    let (status, list) = api.get(&format!("/api/v1/tasks?request={id}&status=active")).unwrap();
    assert_eq!(status, 200, "{list}");
    let task = list["tasks"].as_array().unwrap().iter().find(|t| t["element_id"] == element).cloned();
    let task = task.unwrap_or_else(|| panic!("no active task at {element}: {list}"));
    let path = format!("/api/v1/tasks/{}/complete", task["id"].as_str().unwrap());
    let (status, done) = api.post_json(&path, &json!({})).unwrap();
    assert_eq!(status, 200, "{done}");
}

fn run(name: &str, db: &Db) {
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env: vec![], address_space: None };
    let serve = Serve::start(&config, name);
    let api = serve.api();
    let (status, d) = api.deploy(MODEL.as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");

    // A move: the token at `a` goes before `c`, with data fixed on the way.
    let id = start(&api);
    assert_eq!(at(&get(&api, &id)), ["a"]);
    let (status, r) =
        modify(&api, &id, json!({"cancel": ["a"], "start_before": [{"element_id": "c", "data": {"fixed": true}}]}));
    assert_eq!(status, 200, "{r}");
    assert_eq!(at(&r), ["c"], "{r}");
    assert_eq!(r["data"], json!({"n": 1, "fixed": true}));
    let modified = events(&api, &id, "request_modified");
    let changes: Vec<(&str, &str)> =
        modified.iter().map(|e| (e["change"].as_str().unwrap(), e["element_id"].as_str().unwrap())).collect();
    assert_eq!(changes, [("start_before", "c"), ("cancel", "a")], "{modified:?}");
    // The task at `a` was canceled with its token; the new one at `c` is active.
    let (_, tasks) = api.get(&format!("/api/v1/tasks?request={id}")).unwrap();
    let mut states: Vec<(String, String)> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["element_id"].as_str().unwrap().to_string(), t["status"].as_str().unwrap().to_string()))
        .collect();
    states.sort();
    assert_eq!(states, [("a".to_string(), "canceled".to_string()), ("c".to_string(), "active".to_string())]);
    complete(&api, &id, "c");
    assert_eq!(get(&api, &id)["status"], "completed");
    // A finished Request is not repaired.
    let (status, e) = modify(&api, &id, json!({"start_before": [{"element_id": "c"}]}));
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("request_not_active")), "{e}");

    // Start after `a`: the fork sends tokens to `b` and into the sub-process.
    let id = start(&api);
    let (status, r) = modify(&api, &id, json!({"cancel": ["a"], "start_after": [{"element_id": "a"}]}));
    assert_eq!(status, 200, "{r}");
    assert_eq!(at(&r), ["b", "inner", "sub"], "{r}");
    // Restart `inner` inside the active sub-process; the join still waits for both branches.
    let (status, r) = modify(&api, &id, json!({"cancel": ["inner"], "start_before": [{"element_id": "inner"}]}));
    assert_eq!(status, 200, "{r}");
    assert_eq!(at(&r), ["b", "inner", "sub"], "{r}");
    complete(&api, &id, "inner");
    complete(&api, &id, "b");
    assert_eq!(at(&get(&api, &id)), ["c"]);

    // Refused repairs change nothing.
    let id = start(&api);
    let before = get(&api, &id);
    let refusals = [
        (json!({"cancel": ["nope"]}), 422, "invalid_input", "`nope`"),
        (json!({"cancel": ["a"], "start_before": [{"element_id": "join"}]}), 422, "modification_invalid", "`join`"),
        (json!({"cancel": ["b"], "start_before": [{"element_id": "c"}]}), 422, "modification_invalid", "`b`"),
        (json!({"start_before": [{"element_id": "inner"}]}), 422, "modification_invalid", "`sub`"),
        (json!({"start_after": [{"element_id": "e"}]}), 422, "modification_invalid", "`e`"),
        (json!({}), 422, "invalid_input", "nothing"),
    ];
    for (body, want_status, code, needle) in refusals {
        let (status, e) = modify(&api, &id, body.clone());
        assert_eq!((status, e["error"]["code"].as_str()), (want_status, Some(code)), "{body}: {e}");
        assert!(e["error"]["message"].as_str().unwrap().contains(needle), "{body}: {e}");
    }
    // An unknown field: 400 `bad_request` naming it by its path in the body.
    for (body, field) in [
        (json!({"cancel": ["a"], "start": ["c"]}), "start"),
        (json!({"start_before": [{"element": "c"}]}), "start_before[0].element"),
    ] {
        let (status, e) = modify(&api, &id, body.clone());
        assert_eq!((status, e["error"]["code"].as_str()), (400, Some("bad_request")), "{body}: {e}");
        assert_eq!(e["error"]["field"], field, "{body}: {e}");
    }
    let after = get(&api, &id);
    assert_eq!((at(&after), &after["data"]), (at(&before), &before["data"]));
    assert!(events(&api, &id, "request_modified").is_empty());
    // Said explicitly, a start before the join is allowed: the gateway lets it through.
    let (status, r) = modify(&api, &id, json!({"start_before": [{"element_id": "join"}], "allow_join": true}));
    assert_eq!(status, 200, "{r}");
    assert_eq!(at(&r), ["a", "c"], "{r}");
    data_patches(&api);
    // Unknown Request.
    let (status, e) = modify(&api, "00000000-0000-0000-0000-000000000000", json!({"cancel": ["a"]}));
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("request_not_found")), "{e}");
}

fn patch(api: &Api, id: &str, content_type: &str, body: &str) -> (u16, Value) {
    api.call("PATCH", &format!("/api/v1/requests/{id}/data"), Some(content_type), body.as_bytes()).unwrap()
}

/// `PATCH /api/v1/requests/{id}/data`: a JSON merge patch, kept in the history with who sent
/// it; refused (changing nothing) when it is not an object, not JSON, or the Request is finished.
fn data_patches(api: &Api) {
    let id = start(api);
    let merge = "application/merge-patch+json";
    let body = json!({"n": null, "customer": {"name": "Acme", "tier": "gold"}, "amount": 1200});
    let (status, r) = patch(api, &id, merge, &body.to_string());
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["data"], json!({"customer": {"name": "Acme", "tier": "gold"}, "amount": 1200}), "{r}");
    // Nested: `null` removes a key inside an object, the rest of the object stays.
    let (status, r) = patch(api, &id, "application/json", r#"{"customer": {"tier": null, "since": 2020}}"#);
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["data"], json!({"customer": {"name": "Acme", "since": 2020}, "amount": 1200}), "{r}");
    let changes = events(api, &id, "data_changed");
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0]["patch"], body, "{changes:?}");
    let mut changed: Vec<&str> = changes[0]["changed"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    changed.sort_unstable();
    assert_eq!(changed, ["amount", "customer", "n"], "{changes:?}");
    assert!(changes.iter().all(|c| c["by"].as_str().is_some_and(|by| !by.is_empty())), "{changes:?}");
    // The work goes on with the new data.
    assert_eq!(at(&get(api, &id)), ["a"]);

    // Refusals change nothing.
    let before = get(api, &id);
    for (content_type, body, want, code) in [
        ("application/json", "[1]", 400, "invalid_json"),
        ("application/json", "{\"a\": ", 400, "invalid_json"),
        ("text/plain", "{\"a\": 1}", 415, "unsupported_media_type"),
    ] {
        let (status, e) = patch(api, &id, content_type, body);
        assert_eq!((status, e["error"]["code"].as_str()), (want, Some(code)), "{body}: {e}");
    }
    assert_eq!(get(api, &id)["data"], before["data"]);
    let (status, r) = api.post_json(&format!("/api/v1/requests/{id}/cancel"), &json!({})).unwrap();
    assert_eq!(status, 200, "{r}");
    let (status, e) = patch(api, &id, merge, r#"{"amount": 1}"#);
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("request_not_active")), "{e}");
    assert_eq!(get(api, &id)["data"], before["data"]);
    assert_eq!(events(api, &id, "data_changed").len(), 2);
    let (status, e) = patch(api, "00000000-0000-0000-0000-000000000000", merge, "{}");
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("request_not_found")), "{e}");
}

#[test]
fn repair_over_http_on_sqlite() {
    let name = "repair-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn repair_over_http_on_postgres() {
    let Some(db) = Db::postgres("repair::repair_over_http_on_postgres") else {
        return;
    };
    run("repair-postgres", &db);
}
