//! Searching Requests over HTTP with the real binary, on SQLite and on PostgreSQL:
//! `GET /api/v1/requests` by data (`data.customer.name=Acme`, `data.amount>=1000` sent as
//! `data.amount%3E=1000`, as a browser encodes it; on indexed
//! paths from `SLUICE_SEARCH_FIELDS` and on any other path), by version, starter, creation
//! time, the element a token waits at and open incidents, all combined with AND and paged; and
//! the refused searches, each naming the parameter. Tasks are searched by their Request's data
//! the same way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Api, Serve, ServeConfig};

/// `orders`: a gateway lets `amount > 100` through to the task `approve`; a smaller amount is an
/// incident at `route`. `shipping` waits at the message catch `wait`. `{label}` changes the XML
/// so that a deployment again is a new version.
fn model(label: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
             xmlns:sluice="urn:sluice:bpmn:1" id="defs" targetNamespace="urn:search">
<message id="m" name="shipped" sluice:correlationKey="= order"/>
<process id="orders" name="{label}" isExecutable="true">
  <startEvent id="s"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="route"/>
  <exclusiveGateway id="route"/>
  <sequenceFlow id="f2" sourceRef="route" targetRef="approve">
    <conditionExpression xsi:type="tFormalExpression">= amount &gt; 100</conditionExpression>
  </sequenceFlow>
  <userTask id="approve"/>
  <sequenceFlow id="f3" sourceRef="approve" targetRef="e"/>
  <endEvent id="e"/>
</process>
<process id="shipping" isExecutable="true">
  <startEvent id="ss"/>
  <sequenceFlow id="g1" sourceRef="ss" targetRef="wait"/>
  <intermediateCatchEvent id="wait"><messageEventDefinition messageRef="m"/></intermediateCatchEvent>
  <sequenceFlow id="g2" sourceRef="wait" targetRef="se"/>
  <endEvent id="se"/>
</process>
</definitions>"#
    )
}

fn start(api: &Api, key: &str, data: Value) -> String {
    let (status, r) = api.post_json(&format!("/api/v1/processes/{key}/requests"), &json!({ "data": data })).unwrap();
    assert_eq!(status, 201, "{r}");
    r["id"].as_str().unwrap().to_string()
}

/// The ids a search finds (every page of `limit`), as a set.
fn found(api: &Api, query: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let sep = if query.is_empty() { "?" } else { "&" };
        let path = format!("/api/v1/requests{query}{sep}limit=2&cursor={cursor}");
        let (status, page) = api.get(&path).unwrap();
        assert_eq!(status, 200, "{path}: {page}");
        for r in page["requests"].as_array().unwrap() {
            assert!(ids.insert(r["id"].as_str().unwrap().to_string()), "{path}: a Request twice");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => return ids,
        }
    }
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).clone()).collect()
}

fn run(name: &str, db: &Db) {
    let config = ServeConfig {
        database_url: db.url(),
        log_dir: db.log_dir(name),
        env: vec![("SLUICE_SEARCH_FIELDS".into(), "customer.name, amount".into())],
        address_space: None,
    };
    let serve = Serve::start(&config, name);
    let api = serve.api();
    let (status, d) = api.deploy(model("v1").as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");

    let acme_big = start(&api, "orders", json!({"customer": {"name": "Acme", "tier": "gold"}, "amount": 2500}));
    let acme_mid = start(&api, "orders", json!({"customer": {"name": "Acme"}, "amount": 1000, "vip": true}));
    let acme_small = start(&api, "orders", json!({"customer": {"name": "Acme"}, "amount": 40}));
    let globex = start(&api, "orders", json!({"customer": {"name": "Globex", "tier": "gold"}, "amount": 1000.5}));
    let coded = start(&api, "orders", json!({"customer": {"name": "1000"}, "amount": "1000", "code": "1000"}));
    let ship = start(&api, "shipping", json!({"order": "A-1", "customer": {"name": "Acme"}}));
    let midpoint = chrono::Utc::now() + chrono::Duration::milliseconds(5);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let (status, d) = api.deploy(model("v2").as_bytes()).unwrap();
    assert_eq!(status, 201, "{d}");
    let v2 = start(&api, "orders", json!({"customer": {"name": "Initech"}, "amount": 300, "region": "EU"}));

    // Data: equality on an indexed path, ranges on numbers, AND.
    let acme = set(&[&acme_big, &acme_mid, &acme_small, &ship]);
    assert_eq!(found(&api, "?data.customer.name=Acme"), acme);
    assert_eq!(found(&api, "?data.customer.name=Acme&process=orders"), set(&[&acme_big, &acme_mid, &acme_small]));
    assert_eq!(found(&api, "?data.amount%3E=1000"), set(&[&acme_big, &acme_mid, &globex]));
    assert_eq!(found(&api, "?data.amount%3E1000"), set(&[&acme_big, &globex]));
    assert_eq!(found(&api, "?data.amount%3C=300"), set(&[&acme_small, &v2]));
    assert_eq!(found(&api, "?data.amount%3C300"), set(&[&acme_small]));
    assert_eq!(found(&api, "?data.amount=1000"), set(&[&acme_mid]));
    assert_eq!(found(&api, "?data.amount%3E=1000&data.customer.name=Acme"), set(&[&acme_big, &acme_mid]));
    // Kinds stay apart: the number 1000 is not the string "1000".
    assert_eq!(found(&api, "?data.amount=%221000%22"), set(&[&coded]));
    assert_eq!(found(&api, "?data.customer.name=1000"), BTreeSet::new());
    assert_eq!(found(&api, "?data.customer.name=%221000%22"), set(&[&coded]));
    // Paths not declared searchable work too; booleans; `!=` takes the missing ones as well.
    assert_eq!(found(&api, "?data.region=EU"), set(&[&v2]));
    assert_eq!(found(&api, "?data.vip=true"), set(&[&acme_mid]));
    assert_eq!(found(&api, "?data.customer.tier=gold"), set(&[&acme_big, &globex]));
    assert_eq!(found(&api, "?process=orders&data.customer.tier!=gold"), set(&[&acme_mid, &acme_small, &coded, &v2]));
    assert_eq!(found(&api, "?data.customer.name=Nobody"), BTreeSet::new());

    // Version, starter, creation time, where a token waits, incidents.
    let v1_orders = set(&[&acme_big, &acme_mid, &acme_small, &globex, &coded]);
    assert_eq!(found(&api, "?process=orders&version=1"), v1_orders);
    assert_eq!(found(&api, "?process=orders&version=2"), set(&[&v2]));
    let (status, me) = api.get("/api/v1/me").unwrap();
    assert_eq!(status, 200, "{me}");
    let username = me["username"].as_str().unwrap();
    assert_eq!(found(&api, &format!("?started_by={username}")).len(), 7);
    assert_eq!(found(&api, "?started_by=somebody-else"), BTreeSet::new());
    let midpoint = midpoint.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert_eq!(found(&api, &format!("?created_after={midpoint}")), set(&[&v2]));
    assert_eq!(found(&api, &format!("?created_before={midpoint}")).len(), 6);
    assert_eq!(found(&api, "?element=approve"), set(&[&acme_big, &acme_mid, &globex, &v2]));
    assert_eq!(found(&api, "?element=wait"), set(&[&ship]));
    // Amounts of 100 or less (and the text "1000") stop at the gateway.
    assert_eq!(found(&api, "?element=route"), set(&[&acme_small, &coded]));
    assert_eq!(found(&api, "?incident=true"), set(&[&acme_small, &coded]));
    assert_eq!(found(&api, "?incident=true&data.customer.name=Acme"), set(&[&acme_small]));
    assert_eq!(found(&api, "?incident=false&process=orders").len(), 4);

    // Tasks by their Request's data, likewise.
    let tasks = |query: &str| -> BTreeSet<String> {
        let (status, l) = api.get(&format!("/api/v1/tasks?status=active&{query}")).unwrap();
        assert_eq!(status, 200, "{query}: {l}");
        l["tasks"].as_array().unwrap().iter().map(|t| t["request_id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(tasks("data.customer.name=Acme"), set(&[&acme_big, &acme_mid]));
    assert_eq!(tasks("data.amount%3E=1000&process=orders"), set(&[&acme_big, &acme_mid, &globex]));
    assert_eq!(tasks("data.customer.tier=gold&data.amount%3C2000"), set(&[&globex]));
    let (status, e) = api.get("/api/v1/tasks?data.a..b=1").unwrap();
    assert_eq!((status, e["error"]["field"].as_str()), (400, Some("data.a..b")), "{e}");

    // Refused searches name the parameter.
    for (query, field) in [
        ("?data.customer'name=Acme", "data.customer'name"),
        ("?data.amount%3E=true", "data.amount>"),
        ("?data.a..b=1", "data.a..b"),
        ("?created_after=yesterday", "created_after"),
        ("?version=two", "version"),
        ("?incident=maybe", "incident"),
        ("?datum.amount=1", "datum.amount"),
    ] {
        let (status, e) = api.get(&format!("/api/v1/requests{query}")).unwrap();
        assert_eq!(status, 400, "{query}: {e}");
        assert_eq!(e["error"]["field"], field, "{query}: {e}");
    }
}

#[test]
fn search_over_http_on_sqlite() {
    let name = "search-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn search_over_http_on_postgres() {
    let Some(db) = Db::postgres("search::search_over_http_on_postgres") else {
        return;
    };
    run("search-postgres", &db);
}
