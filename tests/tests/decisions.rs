//! DMN decisions end to end, over HTTP with the real binary, on SQLite and on PostgreSQL: a
//! `.dmn` and a `.bpmn` deployed through `POST /api/v1/processes`; the decision listed, shown and
//! evaluated; a Request whose business rule task routes the gateway, with the matched rules in
//! its history; a decision error as an incident naming the decision and the rule, retried after
//! a fixed version is deployed; a Camunda 7 and a Camunda 8 model each run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Api, Serve, ServeConfig};
use sluice_tests::workspace;

fn example(file: &str) -> Vec<u8> {
    std::fs::read(workspace().join("processes").join(file)).unwrap()
}

/// A DMN file with the decision `level` (UNIQUE): `amount` to an approver; the rule `large`'s
/// output entry is `big`.
fn levels(big: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="levels" name="Levels" namespace="urn:e2e">
  <decision id="level" name="Approval level">
    <decisionTable id="t" hitPolicy="UNIQUE">
      <input id="i1"><inputExpression id="e1" typeRef="number"><text>amount</text></inputExpression></input>
      <output id="o1" name="level" typeRef="string"/>
      <rule id="small"><inputEntry id="r1i"><text>&lt; 1000</text></inputEntry><outputEntry id="r1o"><text>"clerk"</text></outputEntry></rule>
      <rule id="large"><inputEntry id="r2i"><text>&gt;= 1000</text></inputEntry><outputEntry id="r2o"><text>{big}</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>"#
    )
}

/// A process `key`: start → the business rule task `decide` → end.
fn model(key: &str, task: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d_{key}" targetNamespace="urn:e2e">
  <process id="{key}" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="decide"/>
    {task}
    <sequenceFlow id="f2" sourceRef="decide" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>"#
    )
}

fn start(api: &Api, key: &str, data: Value) -> String {
    let (status, r) = api.post_json(&format!("/api/v1/processes/{key}/requests"), &json!({ "data": data })).unwrap();
    assert_eq!(status, 201, "{r}");
    r["id"].as_str().unwrap().to_string()
}

fn wait(api: &Api, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, r) = api.get(&format!("/api/v1/requests/{id}")).unwrap();
        assert_eq!(status, 200, "{r}");
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "the Request never got there: {r}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn events(api: &Api, id: &str) -> Vec<Value> {
    let (status, events) = api.get(&format!("/api/v1/requests/{id}/events")).unwrap();
    assert_eq!(status, 200, "{events}");
    events["events"].as_array().unwrap().clone()
}

fn run(name: &str, db: &Db) {
    let config =
        ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env: Vec::new(), address_space: None };
    let serve = Serve::start(&config, name);
    let api = serve.api();

    // Deploy the decisions, then the process; the same file again is the same version.
    let (status, body) = api.deploy(&example("order_discount.dmn")).unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body,
        json!({"processes": [], "decisions": [{"id": "order_discount", "version": 1, "name": "Order discount",
            "version_tag": null, "definitions_id": "order_discount_decisions"}]})
    );
    let (status, again) = api.deploy(&example("order_discount.dmn")).unwrap();
    assert_eq!((status, &again), (200, &body));
    let (status, body) = api.deploy(&example("order_discount.bpmn")).unwrap();
    assert_eq!(status, 201, "{body}");

    // Listed, shown with its XML, evaluated.
    let (status, list) = api.get("/api/v1/decisions").unwrap();
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["decisions"][0]["id"], "order_discount");
    assert_eq!(list["decisions"][0]["version"], 1);
    assert!(list["decisions"][0]["deployed_at"].is_string(), "{list}");
    let (status, detail) = api.get("/api/v1/decisions/order_discount?version=1").unwrap();
    assert_eq!(status, 200, "{detail}");
    assert!(detail["xml"].as_str().unwrap().contains("gold_large"), "{detail}");
    assert_eq!(detail["versions"].as_array().map(Vec::len), Some(1));
    let (status, missing) = api.get("/api/v1/decisions/nothing").unwrap();
    assert_eq!((status, missing["error"]["code"].as_str()), (404, Some("decision_not_found")), "{missing}");
    let (status, ev) = api
        .post_json(
            "/api/v1/decisions/order_discount/evaluate",
            &json!({"data": {"customer": {"tier": "silver"}, "total": 710}}),
        )
        .unwrap();
    assert_eq!(status, 200, "{ev}");
    assert_eq!(ev["value"], json!({"discount": 0.05, "approval": "automatic"}));
    assert_eq!(ev["matched"][0]["rule_ids"], json!(["silver_small"]));

    // The decision routes the gateway: a gold customer's large order waits for a manager...
    let order = json!({"order_id": "ORD-9", "customer": {"name": "Acme", "tier": "gold"},
        "lines": [{"price": 450, "quantity": 12}]});
    let id = start(&api, "order_discount", order);
    let r = wait(&api, &id, |r| r["tokens"].as_array().is_some_and(|t| !t.is_empty()));
    assert_eq!(r["tokens"][0]["element_id"], "approve_discount", "{r}");
    assert_eq!(r["data"]["pricing"], json!({"discount": 0.15, "approval": "manager"}));
    let evaluated: Vec<Value> = events(&api, &id).into_iter().filter(|e| e["type"] == "decision_evaluated").collect();
    assert_eq!(evaluated.len(), 1, "{evaluated:?}");
    assert_eq!(evaluated[0]["element_id"], "decide_discount");
    assert_eq!(evaluated[0]["decision_id"], "order_discount");
    assert_eq!(evaluated[0]["version"], 1);
    assert_eq!(evaluated[0]["matched"][0]["rule_ids"], json!(["gold_large"]));
    assert_eq!(evaluated[0]["output"], json!({"discount": 0.15, "approval": "manager"}));
    // ...a silver customer's small one goes straight through.
    let order = json!({"order_id": "ORD-10", "customer": {"name": "Brightwell", "tier": "silver"},
        "lines": [{"price": 35.5, "quantity": 20}]});
    let id = start(&api, "order_discount", order);
    let r = wait(&api, &id, |r| r["status"] == "completed");
    assert_eq!(r["data"]["net_total"], 674.5);

    // A decision that fails in a rule: an incident naming the decision and the rule; deploying a
    // fixed version and retrying runs the new version.
    let (status, body) = api.deploy(levels("amount / \"x\"").as_bytes()).unwrap();
    assert_eq!(status, 201, "{body}");
    let (status, failed) =
        api.post_json("/api/v1/decisions/level/evaluate", &json!({"data": {"amount": 5000}})).unwrap();
    assert_eq!(status, 422, "{failed}");
    assert_eq!(failed["error"]["code"], "decision_failed");
    assert_eq!(
        (failed["error"]["decision"].as_str(), failed["error"]["rule"].as_str()),
        (Some("level"), Some("large"))
    );
    let task = r#"<businessRuleTask id="decide" sluice:decisionRef="level" sluice:resultVariable="approver"/>"#;
    let (status, body) = api.deploy(model("levels", task).as_bytes()).unwrap();
    assert_eq!(status, 201, "{body}");
    let id = start(&api, "levels", json!({"amount": 5000}));
    let r = wait(&api, &id, |r| r["status"] == "error");
    let incident = &r["incidents"][0];
    assert_eq!(incident["code"], "decision_failed", "{r}");
    let message = incident["message"].as_str().unwrap();
    assert!(message.contains("decision `level`") && message.contains("rule `large`"), "{message}");
    let (status, body) = api.deploy(levels("\"board\"").as_bytes()).unwrap();
    assert_eq!((status, body["decisions"][0]["version"].as_i64()), (201, Some(2)), "{body}");
    let (status, retried) = api.call("POST", &format!("/api/v1/requests/{id}/retry"), None, b"").unwrap();
    assert_eq!(status, 200, "{retried}");
    let r = wait(&api, &id, |r| r["status"] == "completed");
    assert_eq!(r["data"]["approver"], "board");

    // A decision nobody deployed: an incident naming it, not an empty result.
    let task = r#"<businessRuleTask id="decide" sluice:decisionRef="risk" sluice:resultVariable="risk"/>"#;
    api.deploy(model("risky", task).as_bytes()).unwrap();
    let id = start(&api, "risky", json!({}));
    let r = wait(&api, &id, |r| r["status"] == "error");
    assert_eq!(r["incidents"][0]["code"], "decision_not_found", "{r}");
    assert!(r["incidents"][0]["message"].as_str().unwrap().contains("decision `risk`"), "{r}");

    // Camunda 7 and Camunda 8 models.
    let c7 = r#"<businessRuleTask id="decide" camunda:decisionRef="level" camunda:resultVariable="approver" camunda:mapDecisionResult="singleEntry"/>"#;
    let (status, body) = api.deploy(model("camunda7", c7).as_bytes()).unwrap();
    assert_eq!(status, 201, "{body}");
    let id = start(&api, "camunda7", json!({"amount": 10}));
    assert_eq!(wait(&api, &id, |r| r["status"] == "completed")["data"]["approver"], "clerk");
    let c8 = r#"<businessRuleTask id="decide"><extensionElements><zeebe:calledDecision decisionId="level" resultVariable="approver"/></extensionElements></businessRuleTask>"#;
    let (status, body) = api.deploy(model("camunda8", c8).as_bytes()).unwrap();
    assert_eq!(status, 201, "{body}");
    let id = start(&api, "camunda8", json!({"amount": 2000}));
    assert_eq!(wait(&api, &id, |r| r["status"] == "completed")["data"]["approver"], "board");
}

#[test]
fn decisions_over_http_on_sqlite() {
    let name = "decisions-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn decisions_over_http_on_postgres() {
    let Some(db) = Db::postgres("decisions::decisions_over_http_on_postgres") else {
        return;
    };
    run("decisions-postgres", &db);
}

#[test]
fn sluice_processes_deploys_the_dmn_files_beside_the_bpmn_ones() {
    let name = "decisions-folder";
    let db = Db::sqlite(name);
    let dir = sluice_tests::scratch_dir("decisions-folder-models");
    for file in ["order_discount.bpmn", "order_discount.dmn"] {
        std::fs::write(dir.join(file), example(file)).unwrap();
    }
    let env = vec![("SLUICE_PROCESSES".to_string(), dir.display().to_string())];
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env, address_space: None };
    let serve = Serve::start(&config, name);
    let api = serve.api();
    let (status, list) = api.get("/api/v1/decisions").unwrap();
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["decisions"][0]["id"], "order_discount", "{list}");
    assert_eq!(list["decisions"][0]["file"], dir.join("order_discount.dmn").display().to_string());
    let order = json!({"customer": {"tier": "silver"}, "lines": [{"price": 35.5, "quantity": 20}]});
    let id = start(&api, "order_discount", order);
    let r = wait(&api, &id, |r| r["status"] == "completed");
    assert_eq!(r["data"]["pricing"]["discount"], 0.05);
}
