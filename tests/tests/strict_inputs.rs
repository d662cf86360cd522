//! Strict inputs (issue 16), end to end over HTTP with the real binary, on SQLite and on
//! PostgreSQL: an unknown query parameter or body field is a 400 `bad_request` naming it in
//! `error.field` (with a suggestion when it looks like a known one), on routes with query
//! parameters and on routes without; Camunda's `{"variables": …}` start body is refused, naming
//! `data`; `limit` and `cursor` page tasks and Requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Api, Serve, ServeConfig};

const MODEL: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:strict">
  <bpmn:process id="review" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check"/>
    <bpmn:userTask id="check" name="Check"/>
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// Asserts a 400 `bad_request` naming `field`, and (when given) suggesting `suggestion`.
fn refused(answer: (u16, Value), field: &str, suggestion: Option<&str>) {
    let (status, body) = answer;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_request", "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    match suggestion {
        Some(s) => assert!(message.contains(&format!("did you mean `{s}`?")), "{message}"),
        None => assert!(!message.contains("did you mean"), "{message}"),
    }
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list[key].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
}

fn run(name: &str, db: &Db) {
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env: vec![], address_space: None };
    let serve = Serve::start(&config, name);
    let api = Api { addr: serve.addr };
    let (status, body) = api.deploy(MODEL.as_bytes()).unwrap();
    assert_eq!(status, 201, "{body}");

    // Camunda's typed variables are refused, naming the field Sluice reads; nothing started.
    let camunda = json!({"variables": {"amount": {"value": 1, "type": "Integer"}}});
    refused(api.post_json("/api/v1/processes/review/requests", &camunda).unwrap(), "variables", Some("data"));
    let (_, list) = api.get("/api/v1/requests?process=review").unwrap();
    assert!(ids(&list, "requests").is_empty(), "{list}");

    for n in 0..3 {
        let (status, r) = api.post_json("/api/v1/processes/review/requests", &json!({"data": {"n": n}})).unwrap();
        assert_eq!(status, 201, "{r}");
        assert_eq!(r["data"]["n"], n, "{r}");
    }

    // Query parameters: misspelt, unknown, and on a route that takes none.
    refused(api.get("/api/v1/tasks?asignee=me").unwrap(), "asignee", Some("assignee"));
    refused(api.get("/api/v1/tasks?limt=2").unwrap(), "limt", Some("limit"));
    refused(api.get("/api/v1/requests?order_id=7").unwrap(), "order_id", None);
    refused(api.get("/api/v1/requests?proces=review").unwrap(), "proces", Some("process"));
    refused(api.get("/api/v1/processes?all=true").unwrap(), "all", None);
    refused(api.get("/healthz?verbose=1").unwrap(), "verbose", None);

    // Tasks, two a page.
    let (status, page) = api.get("/api/v1/tasks?limit=2").unwrap();
    assert_eq!(status, 200, "{page}");
    let first = ids(&page, "tasks");
    assert_eq!(first.len(), 2, "{page}");
    let cursor = page["next_cursor"].as_str().expect("a next page").to_string();
    let (status, page) = api.get(&format!("/api/v1/tasks?limit=2&cursor={cursor}")).unwrap();
    assert_eq!(status, 200, "{page}");
    let second = ids(&page, "tasks");
    assert_eq!(second.len(), 1, "{page}");
    assert!(!first.contains(&second[0]), "no task twice");
    assert!(page["next_cursor"].is_null(), "{page}");
    // Requests likewise.
    let (_, page) = api.get("/api/v1/requests?limit=1").unwrap();
    assert_eq!(ids(&page, "requests").len(), 1, "{page}");
    assert!(page["next_cursor"].is_string(), "{page}");

    // Body fields: misspelt at the top.
    let task = &first[0];
    refused(
        api.post_json(&format!("/api/v1/tasks/{task}/complete"), &json!({"date": {"ok": true}})).unwrap(),
        "date",
        Some("data"),
    );
    refused(
        api.post_json("/api/v1/messages", &json!({"name": "m", "corelation_key": "k"})).unwrap(),
        "corelation_key",
        Some("correlation_key"),
    );
    refused(api.post_json("/api/v1/signals", &json!({"name": "s", "payload": {}})).unwrap(), "payload", None);
    // The task was not completed by the refused call.
    let (_, t) = api.get("/api/v1/tasks?limit=3&status=active").unwrap();
    assert_eq!(ids(&t, "tasks").len(), 3, "{t}");
}

#[test]
fn strict_inputs_over_http_on_sqlite() {
    let name = "strict-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn strict_inputs_over_http_on_postgres() {
    let Some(db) = Db::postgres("strict_inputs::strict_inputs_over_http_on_postgres") else {
        return;
    };
    run("strict-postgres", &db);
}
