//! Per-element counts of tokens and open incidents over a process version's open Requests
//! (schema 17), on SQLite and on PostgreSQL like `store.rs`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::json;
use sluice_bpmn::Process;
use sluice_engine::{Input, Instance, Start};
use sluice_store::{ElementCount, NewRequest, RequestId, RequestStatus, Store};
use sluice_test_support::{TestDb, both, data, process, t0};

const GATE: &str = include_str!("models/gate.bpmn");

async fn start(store: &Store, p: &Process, version: i64, x: i64) -> (RequestId, Instance) {
    let mut out = Vec::new();
    let inst = Instance::start(p, data(json!({ "x": x })), Start::Default, t0(), &mut out).unwrap();
    let id = RequestId::new();
    let changes = sluice_worker::from_commands(p, id, &out, t0());
    let new = NewRequest { id, process_key: "gate", process_version: version, parent: None, state: &inst };
    store.create_request(&new, &changes).await.unwrap();
    (id, inst)
}

async fn tokens_and_incidents_per_element(db: Arc<TestDb>) {
    let store = db.open().await;
    assert_eq!(store.deploy_version("gate", None, GATE, "h1").await.unwrap(), (1, true));
    assert_eq!(
        store.deploy_version("gate", None, &GATE.replace("x &gt; 1", "x &gt; 2"), "h2").await.unwrap(),
        (2, true)
    );
    let p = process(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models"), "gate.bpmn", "gate");
    let idx = |id: &str| i64::try_from(p.element_by_id(id).unwrap().index()).unwrap();
    assert_eq!(store.element_counts("gate", 1).await.unwrap(), []);

    // Three wait at the task, two are stuck at the gateway (no flow's condition holds: an
    // incident), one of the waiting ones completes; v2 has one of its own.
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(start(&store, &p, 1, 5).await);
    }
    for _ in 0..2 {
        let (id, _) = start(&store, &p, 1, 0).await;
        assert_eq!(store.request(id).await.unwrap().status, RequestStatus::Error);
    }
    start(&store, &p, 2, 5).await;
    let (id, mut inst) = waiting.remove(0);
    let token = inst.tasks()[0].token;
    let mut out = Vec::new();
    inst.step(&p, Input::CompleteTask { token, data: data(json!({})) }, t0(), &mut out).unwrap();
    let changes = sluice_worker::from_commands(&p, id, &out, t0());
    store.apply_step(id, 1, &inst, &changes).await.unwrap();
    assert_eq!(store.request(id).await.unwrap().status, RequestStatus::Completed);

    let counts = store.element_counts("gate", 1).await.unwrap();
    let mut expected = vec![
        ElementCount { element: idx("check"), active: 2, incidents: 2 },
        ElementCount { element: idx("approve"), active: 2, incidents: 0 },
    ];
    expected.sort_by_key(|c| c.element);
    assert_eq!(counts, expected);
    assert_eq!(
        store.element_counts("gate", 2).await.unwrap(),
        [ElementCount { element: idx("approve"), active: 1, incidents: 0 }]
    );
    assert_eq!(store.element_counts("other", 1).await.unwrap(), []);
    // Finished Requests keep no positions; open ones keep where their tokens are.
    assert_eq!(db.count("SELECT COUNT(*) FROM requests WHERE status = 'completed' AND positions IS NULL").await, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM requests WHERE status <> 'completed' AND positions IS NULL").await, 0);
    let (check, approve) = (idx("check"), idx("approve"));
    assert_eq!(db.count(&format!("SELECT COUNT(*) FROM requests WHERE positions = '{check};{check}'")).await, 2);
    assert_eq!(db.count(&format!("SELECT COUNT(*) FROM requests WHERE positions = '{approve}'")).await, 3);

    // Rows written before schema 31 have no positions: they are counted from their state, and
    // mixed with rows that have them.
    db.exec(&format!(
        "UPDATE requests SET positions = NULL WHERE id IN
             (SELECT id FROM requests WHERE positions IN ('{check};{check}', '{approve}') ORDER BY id LIMIT 3)"
    ))
    .await;
    assert_eq!(db.count("SELECT COUNT(*) FROM requests WHERE status <> 'completed' AND positions IS NULL").await, 3);
    assert_eq!(store.element_counts("gate", 1).await.unwrap(), expected);
    db.exec("UPDATE requests SET positions = NULL").await;
    assert_eq!(store.element_counts("gate", 1).await.unwrap(), expected);
    store.close().await;
}
both!(tokens_and_incidents_per_element);
