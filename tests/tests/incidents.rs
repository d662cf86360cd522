//! Incidents at a glance over HTTP with the real binary, on SQLite and on PostgreSQL:
//! `GET /api/v1/incidents` across Requests (filters by process, element, code, message, Request
//! and age; pages), and `POST /api/v1/incidents/retry` on a filter's result, before and after
//! the data behind the incidents was fixed with `PATCH /api/v1/requests/{id}/data`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Api, Serve, ServeConfig};

/// A gateway whose only way out needs `amount > 100`: a smaller amount is a `no_outgoing_flow`
/// incident at the gateway (`gateway` names it).
fn model(key: &str, gateway: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d-{key}" targetNamespace="urn:incidents">
<process id="{key}" isExecutable="true">
  <startEvent id="s"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="{gateway}"/>
  <exclusiveGateway id="{gateway}"/>
  <sequenceFlow id="f2" sourceRef="{gateway}" targetRef="approve">
    <conditionExpression xsi:type="tFormalExpression">= amount &gt; 100</conditionExpression>
  </sequenceFlow>
  <userTask id="approve"/>
  <sequenceFlow id="f3" sourceRef="approve" targetRef="e"/>
  <endEvent id="e"/>
</process>
</definitions>"#
    )
}

fn start(api: &Api, key: &str, amount: i64) -> String {
    let (status, r) =
        api.post_json(&format!("/api/v1/processes/{key}/requests"), &json!({"data": {"amount": amount}})).unwrap();
    assert_eq!(status, 201, "{r}");
    r["id"].as_str().unwrap().to_string()
}

fn list(api: &Api, query: &str) -> Value {
    let (status, l) = api.get(&format!("/api/v1/incidents{query}")).unwrap();
    assert_eq!(status, 200, "{query}: {l}");
    l
}

/// The Request ids of a listing, in its order.
fn requests(l: &Value) -> Vec<String> {
    l["incidents"].as_array().unwrap().iter().map(|i| i["request_id"].as_str().unwrap().to_string()).collect()
}

fn run(name: &str, db: &Db) {
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env: vec![], address_space: None };
    let serve = Serve::start(&config, name);
    let api = serve.api();
    for xml in [model("orders", "route"), model("billing", "check")] {
        let (status, d) = api.deploy(xml.as_bytes()).unwrap();
        assert_eq!(status, 201, "{d}");
    }
    let small: Vec<String> = (0..3).map(|_| start(&api, "orders", 5)).collect();
    let billing = start(&api, "billing", 7);
    let fine = start(&api, "orders", 500);

    // Every open incident, newest first, with where and why.
    let all = list(&api, "");
    let mut newest_first: Vec<String> = small.clone();
    newest_first.push(billing.clone());
    newest_first.reverse();
    assert_eq!(requests(&all), newest_first, "{all}");
    assert_eq!(all["next_cursor"], Value::Null);
    let first = &all["incidents"][0];
    assert_eq!(first["id"], format!("{billing}:{}", first["incident"]), "{first}");
    assert_eq!((first["process_key"].as_str(), first["element_id"].as_str()), (Some("billing"), Some("check")));
    assert_eq!(first["code"], "no_outgoing_flow");
    assert!(first["message"].as_str().unwrap().contains("`check`"), "{first}");
    let at = first["created_at"].as_str().unwrap();
    assert!(at.ends_with('Z') && at.len() == "2026-01-01T00:00:00.000Z".len(), "{at}");
    assert!(!requests(&all).contains(&fine));

    // Filters.
    assert_eq!(requests(&list(&api, "?process=orders")).len(), 3);
    assert_eq!(requests(&list(&api, "?element=check")), std::slice::from_ref(&billing));
    assert_eq!(requests(&list(&api, "?code=no_outgoing_flow")).len(), 4);
    assert_eq!(requests(&list(&api, "?code=expression_failed")).len(), 0);
    assert_eq!(requests(&list(&api, "?message=%60route%60")).len(), 3);
    assert_eq!(requests(&list(&api, &format!("?request={}", small[1]))), [small[1].clone()]);
    assert_eq!(requests(&list(&api, "?process=orders&element=check")).len(), 0);
    let future = "2099-01-01T00:00:00Z";
    assert_eq!(requests(&list(&api, &format!("?created_before={future}"))).len(), 4);
    assert_eq!(requests(&list(&api, &format!("?created_after={future}"))).len(), 0);
    assert_eq!(requests(&list(&api, "?created_before=2000-01-01T00:00:00Z")).len(), 0);

    // Pages: every incident once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = list(&api, &format!("?limit=3&cursor={cursor}"));
        assert!(page["incidents"].as_array().unwrap().len() <= 3);
        seen.extend(requests(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, newest_first);

    // Bad queries name what is wrong.
    for (query, code, field) in [
        ("?limit=0", "bad_request", Some("limit")),
        ("?limit=5000", "bad_request", Some("limit")),
        ("?created_before=yesterday", "bad_request", Some("created_before")),
        ("?request=42", "bad_request", Some("request")),
        ("?proces=orders", "bad_request", Some("proces")),
        ("?cursor=nonsense", "invalid_cursor", None),
    ] {
        let (status, e) = api.get(&format!("/api/v1/incidents{query}")).unwrap();
        assert_eq!((status, e["error"]["code"].as_str()), (400, Some(code)), "{query}: {e}");
        if let Some(field) = field {
            assert_eq!(e["error"]["field"], field, "{query}: {e}");
        }
    }

    // A bulk retry before anything was fixed: retried, and open again at the same gateway.
    let (status, r) = api.post_json("/api/v1/incidents/retry", &json!({"process": "orders", "limit": 1})).unwrap();
    assert_eq!(status, 200, "{r}");
    assert_eq!((r["matched"].as_u64(), r["retried"].as_u64(), r["more"].as_bool()), (Some(3), Some(1), Some(true)));
    assert_eq!(requests(&list(&api, "?process=orders")).len(), 3);
    let (status, e) = api.post_json("/api/v1/incidents/retry", &json!({"proces": "orders"})).unwrap();
    assert_eq!((status, e["error"]["field"].as_str()), (400, Some("proces")), "{e}");

    // Fix the data, then retry what the filter matches: every order goes on to its task.
    for id in &small {
        let (status, r) = api
            .call(
                "PATCH",
                &format!("/api/v1/requests/{id}/data"),
                Some("application/merge-patch+json"),
                br#"{"amount": 250}"#,
            )
            .unwrap();
        assert_eq!(status, 200, "{r}");
    }
    let (status, r) = api.post_json("/api/v1/incidents/retry", &json!({"process": "orders"})).unwrap();
    assert_eq!(status, 200, "{r}");
    assert_eq!((r["matched"].as_u64(), r["retried"].as_u64(), r["more"].as_bool()), (Some(3), Some(3), Some(false)));
    assert_eq!(r["failed"], json!([]));
    assert_eq!(requests(&list(&api, "")), std::slice::from_ref(&billing));
    for id in &small {
        let (status, r) = api.get(&format!("/api/v1/requests/{id}")).unwrap();
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["status"], "active", "{r}");
        let at: HashSet<&str> =
            r["tokens"].as_array().unwrap().iter().filter_map(|t| t["element_id"].as_str()).collect();
        assert_eq!(at, HashSet::from(["approve"]), "{r}");
    }

    // A canceled Request has no open incident any more.
    let (status, r) = api.post_json(&format!("/api/v1/requests/{billing}/cancel"), &json!({})).unwrap();
    assert_eq!(status, 200, "{r}");
    assert_eq!(list(&api, "")["incidents"], json!([]));
}

#[test]
fn incidents_over_http_on_sqlite() {
    let name = "incidents-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn incidents_over_http_on_postgres() {
    let Some(db) = Db::postgres("incidents::incidents_over_http_on_postgres") else {
        return;
    };
    run("incidents-postgres", &db);
}
