//! Every worker test runs twice: on SQLite (a temporary file) and on PostgreSQL
//! (`SLUICE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`, each test in a
//! schema of its own). Set `SLUICE_TEST_SKIP_POSTGRES=1` to skip PostgreSQL where none runs.
//! Time is passed explicitly: nothing sleeps.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sluice_connector_api::{Connector, ConnectorError, Context, IdempotencyKey, Registry};
use sluice_engine::runtime::Data;
use sluice_store::{RequestId, RequestStatus, TaskStatus};
use sluice_test_support::{TestDb, both, data, model_file, t0};
use sluice_worker::{Backoff, DeployError, Engine, EngineOptions, Error};

/// The tests' engine on a test's database, with a script as its one connector.
trait EngineDb {
    async fn engine(&self, script: &Script, options: EngineOptions) -> Engine;
}

impl EngineDb for TestDb {
    async fn engine(&self, script: &Script, options: EngineOptions) -> Engine {
        let registry = Registry::default().with(script.clone());
        Engine::new(self.open().await, registry, options).await.unwrap()
    }
}

// ---- the scripted test connector ----

/// Counts its calls and answers with scripted outcomes, then `{"echo": order}`.
#[derive(Clone, Default)]
struct Script {
    calls: Arc<AtomicUsize>,
    keys: Arc<Mutex<Vec<IdempotencyKey>>>,
    /// `Context::maybe_done_before` of each call.
    told: Arc<Mutex<Vec<bool>>>,
    outcomes: Arc<Mutex<VecDeque<Result<Value, ConnectorError>>>>,
    /// Requests with a call in flight (shared between scripts to watch two engines at once),
    /// and the Requests that had two calls in flight at the same time.
    in_flight: Arc<Mutex<std::collections::HashSet<String>>>,
    overlaps: Arc<Mutex<Vec<String>>>,
}

impl Script {
    fn then(self, outcome: Result<Value, ConnectorError>) -> Self {
        self.outcomes.lock().unwrap().push_back(outcome);
        self
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// A script of its own that shares this one's watch over calls in flight.
    fn sharing_in_flight(&self) -> Script {
        Script { in_flight: self.in_flight.clone(), overlaps: self.overlaps.clone(), ..Script::default() }
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct ScriptInput {
    order: String,
}

impl Connector for Script {
    const TYPE: &'static str = "script";
    const NAME: &'static str = "Scripted test connector";
    type Input = ScriptInput;
    type Output = Value;

    fn invoke(&self, cx: &Context, input: ScriptInput) -> impl Future<Output = Result<Value, ConnectorError>> + Send {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.keys.lock().unwrap().push(cx.key.clone());
        self.told.lock().unwrap().push(cx.maybe_done_before);
        let next = self.outcomes.lock().unwrap().pop_front();
        let request = cx.key.request_id.clone();
        if !self.in_flight.lock().unwrap().insert(request.clone()) {
            self.overlaps.lock().unwrap().push(request.clone());
        }
        let in_flight = self.in_flight.clone();
        async move {
            // Stay in flight for a moment, so a concurrent call for the same Request would show.
            tokio::time::sleep(Duration::from_millis(2)).await;
            in_flight.lock().unwrap().remove(&request);
            next.unwrap_or_else(|| Ok(json!({"echo": input.order})))
        }
    }
}

// ---- helpers ----

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

fn options() -> EngineOptions {
    EngineOptions {
        backoff: Backoff { base: Duration::from_secs(10), max: Duration::from_secs(600), jitter: 0.0, seed: 7 },
        ..EngineOptions::default()
    }
}

fn file(name: &str) -> (String, Vec<u8>) {
    model_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models"), name)
}

async fn deploy(engine: &Engine, names: &[&str]) {
    let files: Vec<_> = names.iter().map(|n| file(n)).collect();
    engine.deploy(&files).await.unwrap();
}

/// Runs due jobs until none is left at `now`; returns how many ran.
async fn drain(engine: &Engine, now: DateTime<Utc>) -> usize {
    let mut total = 0;
    for _ in 0..50 {
        let n = engine.run_due_jobs(now, 10).await.unwrap();
        if n == 0 {
            return total;
        }
        total += n;
    }
    panic!("jobs keep coming at {now}");
}

async fn status(engine: &Engine, id: RequestId) -> RequestStatus {
    engine.store().request(id).await.unwrap().status
}

async fn event_kinds(engine: &Engine, id: RequestId) -> Vec<String> {
    let events = engine.store().request_events(id).await.unwrap();
    events
        .iter()
        .map(|e| format!("{}{}", e.kind, e.element_id.as_ref().map(|x| format!(":{x}")).unwrap_or_default()))
        .collect()
}

async fn only_task(engine: &Engine, id: RequestId) -> sluice_store::TaskId {
    let tasks = engine.store().tasks(Some(id), Some(TaskStatus::Active)).await.unwrap();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    tasks[0].id
}

// ---- tests ----

async fn deploy_versions_and_requests_keep_theirs(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    let first = engine.deploy(&[file("task.bpmn")]).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].key.as_str(), first[0].version, first[0].created), ("approval", 1, true));
    assert_eq!(first[0].name.as_deref(), Some("Approval"));
    // The same XML again: the same version.
    let again = engine.deploy(&[file("task.bpmn")]).await.unwrap();
    assert_eq!((again[0].version, again[0].created), (1, false));

    let old = engine.start_request("approval", None, Data::new(), t0()).await.unwrap();
    let (name, bytes) = file("task.bpmn");
    let changed = String::from_utf8(bytes).unwrap().replace("name=\"Approve\"", "name=\"Approve it\"");
    let second = engine.deploy(&[(name, changed.into_bytes())]).await.unwrap();
    assert_eq!((second[0].version, second[0].created), (2, true));

    let new = engine.start_request("approval", None, Data::new(), t0()).await.unwrap();
    let pinned = engine.start_request("approval", Some(1), Data::new(), t0()).await.unwrap();
    let store = engine.store();
    let version = |id| async move { store.request(id).await.unwrap().process_version };
    assert_eq!((version(old).await, version(new).await, version(pinned).await), (1, 2, 1));
    let name = |id| async move { store.tasks(Some(id), None).await.unwrap()[0].name.clone() };
    assert_eq!(name(old).await.as_deref(), Some("Approve"));
    assert_eq!(name(new).await.as_deref(), Some("Approve it"));

    // The old Request still completes on its own version.
    engine.complete_task(only_task(&engine, old).await, Data::new(), t0()).await.unwrap();
    assert_eq!(status(&engine, old).await, RequestStatus::Completed);

    // Invalid models are refused with their diagnostics, and nothing is stored.
    let broken = ("broken.bpmn".to_string(), b"<definitions>".to_vec());
    assert!(matches!(engine.deploy(&[broken]).await, Err(DeployError::Invalid(d)) if !d.is_empty()));
    assert!(
        matches!(engine.start_request("nope", None, Data::new(), t0()).await, Err(Error::ProcessNotFound(ref k)) if k == "nope")
    );
}
both!(deploy_versions_and_requests_keep_theirs);

async fn a_user_task_completes_the_request_with_history_in_order(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    deploy(&engine, &["task.bpmn"]).await;
    let id = engine.start_request("approval", None, data(json!({"amount": 5})), t0()).await.unwrap();
    assert_eq!(status(&engine, id).await, RequestStatus::Active);
    let task = only_task(&engine, id).await;
    engine.complete_task(task, data(json!({"approved": true})), t0() + secs(60)).await.unwrap();

    let row = engine.store().request(id).await.unwrap();
    assert_eq!(row.status, RequestStatus::Completed);
    assert_eq!(Value::Object(row.data), json!({"amount": 5, "approved": true}));
    assert_eq!(engine.store().task(task).await.unwrap().unwrap().status, TaskStatus::Completed);
    assert_eq!(
        event_kinds(&engine, id).await,
        [
            "request_started",
            "element_activated:start",
            "element_completed:start",
            "element_activated:approve",
            "task_created:approve",
            "task_completed:approve",
            "element_completed:approve",
            "element_activated:done",
            "element_completed:done",
            "request_completed",
        ]
    );
    // A task cannot be completed twice.
    assert!(matches!(engine.complete_task(task, Data::new(), t0()).await, Err(Error::TaskNotActive(t)) if t == task));
    let unknown = sluice_store::TaskId::new();
    assert!(
        matches!(engine.complete_task(unknown, Data::new(), t0()).await, Err(Error::TaskNotFound(t)) if t == unknown)
    );
}
both!(a_user_task_completes_the_request_with_history_in_order);

async fn a_timer_fires_when_due_and_not_before(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    deploy(&engine, &["timer.bpmn"]).await;
    let id = engine.start_request("reminder", None, Data::new(), t0()).await.unwrap();
    assert_eq!(engine.run_due_jobs(t0() + secs(3599), 10).await.unwrap(), 0);
    assert_eq!(status(&engine, id).await, RequestStatus::Active);
    assert_eq!(engine.run_due_jobs(t0() + secs(3600), 10).await.unwrap(), 1);
    assert_eq!(status(&engine, id).await, RequestStatus::Completed);
    let kinds = event_kinds(&engine, id).await;
    assert_eq!(kinds.iter().filter(|k| k.starts_with("timer_fired")).count(), 1, "{kinds:?}");
    // The timer job went with the step: nothing fires again.
    assert_eq!(engine.run_due_jobs(t0() + secs(7200), 10).await.unwrap(), 0);
}
both!(a_timer_fires_when_due_and_not_before);

async fn a_timer_due_while_down_fires_after_reopening(db: Arc<TestDb>) {
    let id = {
        let engine = db.engine(&Script::default(), options()).await;
        deploy(&engine, &["timer.bpmn"]).await;
        let id = engine.start_request("reminder", None, Data::new(), t0()).await.unwrap();
        engine.store().close().await;
        id
    };
    // Hours later, a new engine (a new process) on the same database.
    let engine = db.engine(&Script::default(), options()).await;
    assert_eq!(status(&engine, id).await, RequestStatus::Active);
    assert_eq!(engine.run_due_jobs(t0() + secs(5 * 3600), 10).await.unwrap(), 1);
    assert_eq!(status(&engine, id).await, RequestStatus::Completed);
}
both!(a_timer_due_while_down_fires_after_reopening);

async fn a_connector_result_is_stored_in_its_variable(db: Arc<TestDb>) {
    let script = Script::default();
    let engine = db.engine(&script, options()).await;
    deploy(&engine, &["connector.bpmn"]).await;
    let id = engine.start_request("invoice", None, data(json!({"order": "ORD-1"})), t0()).await.unwrap();
    assert_eq!(script.calls(), 0, "connectors run from jobs, not inside the start");
    assert_eq!(drain(&engine, t0()).await, 1);
    assert_eq!(script.calls(), 1);
    let row = engine.store().request(id).await.unwrap();
    assert_eq!(row.status, RequestStatus::Completed);
    assert_eq!(row.data["answer"], json!({"echo": "ORD-1"}));
    // The result is in the history too (for Slack: the posted message's channel and ts).
    let events = engine.store().request_events(id).await.unwrap();
    let done = events.iter().find(|e| e.kind == "connector_completed").expect("a connector_completed event");
    assert_eq!(done.payload["output"], json!({"echo": "ORD-1"}));
    let key = script.keys.lock().unwrap()[0].clone();
    assert_eq!((key.request_id, key.element_id.as_str(), key.attempt), (id.to_string(), "call", 1));
}
both!(a_connector_result_is_stored_in_its_variable);

async fn a_template_path_that_resolves_to_nothing_renders_empty_with_a_warning_in_the_history(db: Arc<TestDb>) {
    let script = Script::default();
    let engine = db.engine(&script, options()).await;
    deploy(&engine, &["connector.bpmn"]).await;
    // `{{ order }}` finds nothing: `ordr` is a typo in the data.
    let id = engine.start_request("invoice", None, data(json!({"ordr": "ORD-1"})), t0()).await.unwrap();
    drain(&engine, t0()).await;
    let row = engine.store().request(id).await.unwrap();
    assert_eq!(row.status, RequestStatus::Completed);
    assert_eq!(row.data["answer"], json!({"echo": ""}), "rendered empty, as before");
    let kinds = event_kinds(&engine, id).await;
    let warned = kinds.iter().position(|k| k == "template_warning:call").expect("a template_warning event");
    let completed = kinds.iter().position(|k| k == "connector_completed:call").unwrap();
    assert!(warned < completed, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| k.starts_with("template_warning")).count(), 1, "{kinds:?}");
    let events = engine.store().request_events(id).await.unwrap();
    let w = events.iter().find(|e| e.kind == "template_warning").unwrap();
    assert_eq!(w.payload, json!({"input": "order", "path": "order"}));

    // With the data there, no warning.
    let id = engine.start_request("invoice", None, data(json!({"order": "ORD-2"})), t0()).await.unwrap();
    drain(&engine, t0()).await;
    assert!(!event_kinds(&engine, id).await.iter().any(|k| k.starts_with("template_warning")));
}
both!(a_template_path_that_resolves_to_nothing_renders_empty_with_a_warning_in_the_history);

async fn retryable_errors_back_off_then_succeed(db: Arc<TestDb>) {
    let script = Script::default().then(Err(ConnectorError::retryable("busy"))).then(Err(ConnectorError::Retryable {
        message: "slow down".into(),
        retry_after: Some(Duration::from_secs(25)),
    }));
    let engine = db.engine(&script, options()).await;
    deploy(&engine, &["connector.bpmn"]).await;
    let id = engine.start_request("invoice", None, data(json!({"order": "ORD-2"})), t0()).await.unwrap();
    assert_eq!(engine.run_due_jobs(t0(), 10).await.unwrap(), 1);
    assert_eq!(script.calls(), 1);
    // First backoff: 10 s.
    assert_eq!(engine.run_due_jobs(t0() + secs(9), 10).await.unwrap(), 0);
    assert_eq!(engine.run_due_jobs(t0() + secs(10), 10).await.unwrap(), 1);
    assert_eq!(script.calls(), 2);
    // Second: 20 s by backoff, but the connector asked for 25 s.
    assert_eq!(engine.run_due_jobs(t0() + secs(34), 10).await.unwrap(), 0);
    assert_eq!(status(&engine, id).await, RequestStatus::Active);
    assert_eq!(engine.run_due_jobs(t0() + secs(35), 10).await.unwrap(), 1);
    assert_eq!(script.calls(), 3);
    let row = engine.store().request(id).await.unwrap();
    assert_eq!(row.status, RequestStatus::Completed);
    assert_eq!(row.data["answer"], json!({"echo": "ORD-2"}));
    // Redeliveries of one job keep its idempotency key.
    let keys = script.keys.lock().unwrap().clone();
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
}
both!(retryable_errors_back_off_then_succeed);

async fn a_call_whose_answer_was_lost_tells_the_next_run_and_only_it(db: Arc<TestDb>) {
    let lost = || ConnectorError::Unconfirmed { message: "no answer".into(), retry_after: None };
    let script = Script::default().then(Err(lost())).then(Err(ConnectorError::retryable("busy")));
    let engine = db.engine(&script, options()).await;
    deploy(&engine, &["connector.bpmn"]).await;
    let id = engine.start_request("invoice", None, data(json!({"order": "ORD-9"})), t0()).await.unwrap();
    // Run 1: the answer is lost. Run 2 is told (the mark is in the job's row, for any node);
    // it fails plainly, so run 3 is not told.
    assert_eq!(engine.run_due_jobs(t0(), 10).await.unwrap(), 1);
    let due = engine.store().due_jobs(t0() + secs(3600), 10).await.unwrap();
    assert!(due[0].unconfirmed, "{due:?}");
    assert_eq!(engine.run_due_jobs(t0() + secs(10), 10).await.unwrap(), 1);
    assert_eq!(engine.run_due_jobs(t0() + secs(30), 10).await.unwrap(), 1);
    assert_eq!(*script.told.lock().unwrap(), [false, true, false]);
    assert_eq!(engine.store().request(id).await.unwrap().status, RequestStatus::Completed);

    // A run cut short (the server stopped during it: claimed, never given back) tells the next.
    let id = engine.start_request("invoice", None, data(json!({"order": "ORD-10"})), t0()).await.unwrap();
    let claimed = engine.store().claim_jobs("dead-node", t0(), 10, std::time::Duration::from_secs(5)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(engine.run_due_jobs(t0() + secs(60), 10).await.unwrap(), 1);
    assert_eq!(script.told.lock().unwrap().last(), Some(&true));
    assert_eq!(engine.store().request(id).await.unwrap().status, RequestStatus::Completed);
}
both!(a_call_whose_answer_was_lost_tells_the_next_run_and_only_it);

async fn retryable_errors_give_up_after_max_attempts(db: Arc<TestDb>) {
    let script = Script::default()
        .then(Err(ConnectorError::retryable("down")))
        .then(Err(ConnectorError::retryable("still down")));
    let engine = db.engine(&script, EngineOptions { max_attempts: 2, ..options() }).await;
    deploy(&engine, &["connector.bpmn"]).await;
    let id = engine.start_request("invoice", None, data(json!({"order": "ORD-3"})), t0()).await.unwrap();
    assert_eq!(engine.run_due_jobs(t0(), 10).await.unwrap(), 1);
    assert_eq!(engine.run_due_jobs(t0() + secs(10), 10).await.unwrap(), 1);
    assert_eq!(script.calls(), 2);
    let r = engine.store().load_request(id).await.unwrap();
    assert_eq!(r.meta.status, RequestStatus::Error);
    assert_eq!(r.instance.incidents()[0].message, "still down (gave up after 2 attempts)");
    assert_eq!(engine.run_due_jobs(t0() + secs(3600), 10).await.unwrap(), 0);
}
both!(retryable_errors_give_up_after_max_attempts);

async fn a_fatal_error_is_an_incident_until_retried(db: Arc<TestDb>) {
    let script = Script::default().then(Err(ConnectorError::fatal("the token was revoked")));
    let engine = db.engine(&script, options()).await;
    deploy(&engine, &["connector.bpmn"]).await;
    let id = engine.start_request("invoice", None, data(json!({"order": "ORD-4"})), t0()).await.unwrap();
    drain(&engine, t0()).await;
    let r = engine.store().load_request(id).await.unwrap();
    assert_eq!(r.meta.status, RequestStatus::Error);
    assert_eq!(r.instance.incidents().len(), 1);
    assert_eq!(r.instance.incidents()[0].message, "the token was revoked");
    assert_eq!(drain(&engine, t0() + secs(3600)).await, 0, "a fatal error is not retried by itself");

    engine.retry(id, t0() + secs(3600)).await.unwrap();
    drain(&engine, t0() + secs(3600)).await;
    assert_eq!(script.calls(), 2);
    let row = engine.store().request(id).await.unwrap();
    assert_eq!(row.status, RequestStatus::Completed);
    assert_eq!(row.data["answer"], json!({"echo": "ORD-4"}));
    let kinds = event_kinds(&engine, id).await;
    assert!(kinds.contains(&"incident_raised:call".to_string()) && kinds.contains(&"incident_resolved".to_string()));
    // The second call is a new attempt with a new key.
    assert_eq!(script.keys.lock().unwrap()[1].attempt, 2);
}
both!(a_fatal_error_is_an_incident_until_retried);

async fn messages_correlate_by_key(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    deploy(&engine, &["message.bpmn"]).await;
    let a = engine.start_request("payment", None, data(json!({"order_id": "A"})), t0()).await.unwrap();
    let b = engine.start_request("payment", None, data(json!({"order_id": "B"})), t0()).await.unwrap();

    let unmatched = engine.publish_message("paid", Some("C"), Data::new(), t0()).await.unwrap();
    assert!(unmatched.is_empty());
    let reached = engine.publish_message("paid", Some("B"), data(json!({"amount": 12})), t0()).await.unwrap();
    assert_eq!(reached, vec![b]);
    assert_eq!(status(&engine, a).await, RequestStatus::Active);
    let row = engine.store().request(b).await.unwrap();
    assert_eq!((row.status, &row.data["amount"]), (RequestStatus::Completed, &json!(12)));
    // Its subscription is gone: the same message again reaches nobody.
    assert!(engine.publish_message("paid", Some("B"), Data::new(), t0()).await.unwrap().is_empty());
    assert_eq!(engine.publish_message("paid", Some("A"), Data::new(), t0()).await.unwrap(), vec![a]);
    assert_eq!(status(&engine, a).await, RequestStatus::Completed);
}
both!(messages_correlate_by_key);

async fn a_call_activity_child_completes_and_the_parent_continues(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    deploy(&engine, &["child.bpmn", "parent.bpmn"]).await;
    let parent = engine.start_request("parent", None, data(json!({"customer": "ACME"})), t0()).await.unwrap();
    assert_eq!(drain(&engine, t0()).await, 1, "start_child");
    let page = engine.store().list_requests(&Default::default(), 10, None).await.unwrap();
    let child = page.requests.iter().find(|r| r.process_key == "child").unwrap();
    assert_eq!(child.parent.map(|(p, _)| p), Some(parent));
    assert_eq!(child.data["customer"], "ACME");

    engine.complete_task(only_task(&engine, child.id).await, data(json!({"checked": true})), t0()).await.unwrap();
    assert_eq!(status(&engine, child.id).await, RequestStatus::Completed);
    assert_eq!(drain(&engine, t0()).await, 1, "child_done");
    let row = engine.store().request(parent).await.unwrap();
    assert_eq!(row.status, RequestStatus::Active);
    assert_eq!(row.data["checked"], true);
    let tasks = engine.store().tasks(Some(parent), Some(TaskStatus::Active)).await.unwrap();
    assert_eq!(tasks[0].element_id, "after");
    engine.complete_task(tasks[0].id, Data::new(), t0()).await.unwrap();
    assert_eq!(status(&engine, parent).await, RequestStatus::Completed);

    // Canceling a parent cancels its running child.
    let parent = engine.start_request("parent", None, Data::new(), t0()).await.unwrap();
    drain(&engine, t0()).await;
    engine.cancel(parent, t0()).await.unwrap();
    drain(&engine, t0()).await;
    let page = engine.store().list_requests(&Default::default(), 10, None).await.unwrap();
    let child = page.requests.iter().find(|r| r.parent.map(|(p, _)| p) == Some(parent)).unwrap();
    assert_eq!(child.status, RequestStatus::Canceled);
}
both!(a_call_activity_child_completes_and_the_parent_continues);

async fn two_engines_never_apply_a_task_completion_twice(db: Arc<TestDb>) {
    let a = db.engine(&Script::default(), options()).await;
    let b = db.engine(&Script::default(), EngineOptions { node_id: "other".into(), ..options() }).await;
    deploy(&a, &["task.bpmn"]).await;
    for round in 0..5 {
        let id = a.start_request("approval", None, Data::new(), t0()).await.unwrap();
        let task = only_task(&a, id).await;
        let (ra, rb) = tokio::join!(
            a.complete_task(task, data(json!({"by": "a"})), t0()),
            b.complete_task(task, data(json!({"by": "b"})), t0())
        );
        let ok = [ra.is_ok(), rb.is_ok()];
        assert_eq!(ok.iter().filter(|x| **x).count(), 1, "round {round}: {ra:?} {rb:?}");
        for r in [ra, rb] {
            assert!(matches!(r, Ok(()) | Err(Error::TaskNotActive(_))), "{r:?}");
        }
        let kinds = event_kinds(&a, id).await;
        assert_eq!(kinds.iter().filter(|k| k.starts_with("task_completed")).count(), 1, "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| *k == "request_completed").count(), 1, "{kinds:?}");
        let row = a.store().request(id).await.unwrap();
        assert_eq!((row.status, row.revision), (RequestStatus::Completed, 2));
    }
}
both!(two_engines_never_apply_a_task_completion_twice);

async fn published_messages_and_message_starts_go_through_jobs(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    deploy(&engine, &["message.bpmn", "payer.bpmn"]).await;
    let waiting = engine.start_request("payment", None, data(json!({"order_id": "A"})), t0()).await.unwrap();
    let payer = engine.start_request("payer", None, data(json!({"order_id": "A"})), t0()).await.unwrap();
    assert_eq!(status(&engine, payer).await, RequestStatus::Completed);
    assert_eq!(status(&engine, waiting).await, RequestStatus::Active, "delivered by the message job");
    assert_eq!(drain(&engine, t0()).await, 1);
    assert_eq!(status(&engine, waiting).await, RequestStatus::Completed);

    // No subscription, but a message start event: a new Request.
    let started = engine.publish_message("order_placed", None, data(json!({"n": 1})), t0()).await.unwrap();
    assert_eq!(started.len(), 1);
    let row = engine.store().request(started[0]).await.unwrap();
    assert_eq!((row.process_key.as_str(), &row.data["n"]), ("on_order", &json!(1)));
    // A message job that matches nothing is dropped.
    let payer = engine.start_request("payer", None, data(json!({"order_id": "Z"})), t0()).await.unwrap();
    assert_eq!(drain(&engine, t0()).await, 1);
    assert_eq!(engine.run_due_jobs(t0() + secs(3600), 10).await.unwrap(), 0);
    assert_eq!(status(&engine, payer).await, RequestStatus::Completed);
}
both!(published_messages_and_message_starts_go_through_jobs);

async fn a_signal_reaches_every_listener(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    deploy(&engine, &["signal.bpmn"]).await;
    let l1 = engine.start_request("listener", None, Data::new(), t0()).await.unwrap();
    let l2 = engine.start_request("listener", None, Data::new(), t0()).await.unwrap();
    engine.start_request("broadcaster", None, data(json!({"loud": true})), t0()).await.unwrap();
    assert_eq!(drain(&engine, t0()).await, 1);
    for l in [l1, l2] {
        let row = engine.store().request(l).await.unwrap();
        assert_eq!((row.status, &row.data["loud"]), (RequestStatus::Completed, &json!(true)));
    }
}
both!(a_signal_reaches_every_listener);

async fn a_claimed_job_runs_once_across_engines(db: Arc<TestDb>) {
    let script = Script::default();
    let a = db.engine(&script, options()).await;
    let b = db.engine(&script, EngineOptions { node_id: "other".into(), ..options() }).await;
    deploy(&a, &["connector.bpmn"]).await;
    for n in 0..6 {
        a.start_request("invoice", None, data(json!({"order": format!("ORD-{n}")})), t0()).await.unwrap();
    }
    let (ra, rb) = tokio::join!(a.run_due_jobs(t0(), 10), b.run_due_jobs(t0(), 10));
    assert_eq!(ra.unwrap() + rb.unwrap(), 6);
    assert_eq!(script.calls(), 6);
    let page = a.store().list_requests(&Default::default(), 10, None).await.unwrap();
    assert!(page.requests.iter().all(|r| r.status == RequestStatus::Completed));
}
both!(a_claimed_job_runs_once_across_engines);

async fn jobs_for_a_token_that_no_longer_waits_are_dropped(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    deploy(&engine, &["child.bpmn", "parent.bpmn"]).await;
    let parent = engine.start_request("parent", None, Data::new(), t0()).await.unwrap();
    drain(&engine, t0()).await;
    let page = engine.store().list_requests(&Default::default(), 10, None).await.unwrap();
    let child = page.requests.iter().find(|r| r.process_key == "child").unwrap().id;
    // The child completes (a child_done job for the parent) and the parent is canceled (a
    // cancel_child job for the child) before either job runs.
    engine.complete_task(only_task(&engine, child).await, Data::new(), t0()).await.unwrap();
    engine.cancel(parent, t0()).await.unwrap();
    let before = (event_kinds(&engine, parent).await, event_kinds(&engine, child).await);
    let store = engine.store();
    let revisions = |id| async move { store.request(id).await.unwrap().revision };
    let revs = (revisions(parent).await, revisions(child).await);
    assert_eq!(drain(&engine, t0()).await, 2);
    assert_eq!((event_kinds(&engine, parent).await, event_kinds(&engine, child).await), before);
    assert_eq!((revisions(parent).await, revisions(child).await), revs);
    assert_eq!(status(&engine, parent).await, RequestStatus::Canceled);
    assert_eq!(status(&engine, child).await, RequestStatus::Completed);
    assert_eq!(engine.run_due_jobs(t0() + secs(3600), 10).await.unwrap(), 0);
}
both!(jobs_for_a_token_that_no_longer_waits_are_dropped);

/// `task.bpmn` re-encoded in a single-byte encoding, declared as `encoding`, with process id `id`
/// and the task named `name` (which may hold characters outside ASCII).
fn single_byte_file(encoding: &str, id: &str, name: &str, encode: impl Fn(char) -> u8) -> Vec<u8> {
    let (_, bytes) = file("task.bpmn");
    let text = String::from_utf8(bytes)
        .unwrap()
        .replace("encoding=\"UTF-8\"", &format!("encoding=\"{encoding}\""))
        .replace("id=\"approval\"", &format!("id=\"{id}\""))
        .replace("name=\"Approve\"", &format!("name=\"{name}\""));
    text.chars().map(encode).collect()
}

async fn latin1_and_windows_1252_files_deploy_and_run(db: Arc<TestDb>) {
    let script = Script::default();
    let engine = db.engine(&script, options()).await;
    let latin1 = single_byte_file("ISO-8859-1", "latin", "Pr\u{fc}fen", |c| u8::try_from(u32::from(c)).unwrap());
    assert!(std::str::from_utf8(&latin1).is_err(), "the file really is not UTF-8");
    let cp1252 = single_byte_file("windows-1252", "cp", "Pr\u{fc}fen \u{20ac}", |c| match c {
        '\u{20ac}' => 0x80,
        c => u8::try_from(u32::from(c)).unwrap(),
    });
    let deployed =
        engine.deploy(&[("latin.bpmn".into(), latin1.clone()), ("cp.bpmn".into(), cp1252.clone())]).await.unwrap();
    let mut keys: Vec<_> = deployed.iter().map(|d| (d.key.as_str(), d.version, d.created)).collect();
    keys.sort();
    assert_eq!(keys, vec![("cp", 1, true), ("latin", 1, true)]);

    let store = engine.store();
    // The original bytes are kept (and imported from); the text is decoded for the API.
    assert_eq!(store.process_source("latin", 1).await.unwrap(), latin1);
    assert_eq!(store.process_source("cp", 1).await.unwrap(), cp1252);
    assert!(store.process_xml("latin", 1).await.unwrap().contains("name=\"Pr\u{fc}fen\""));
    assert!(store.process_xml("cp", 1).await.unwrap().contains("name=\"Pr\u{fc}fen \u{20ac}\""));
    // The same bytes again are the same version.
    let again = engine.deploy(&[("latin.bpmn".into(), latin1.clone())]).await.unwrap();
    assert_eq!((again[0].version, again[0].created), (1, false));

    // A fresh engine (empty process cache) imports from the stored bytes and runs the Requests.
    let other = db.engine(&script, options()).await;
    for key in ["latin", "cp"] {
        let id = other.start_request(key, None, Data::new(), t0()).await.unwrap();
        let task = other.store().tasks(Some(id), None).await.unwrap().remove(0);
        assert!(task.name.as_deref().unwrap().starts_with("Pr\u{fc}fen"), "{:?}", task.name);
        other.complete_task(task.id, Data::new(), t0()).await.unwrap();
        assert_eq!(status(&other, id).await, RequestStatus::Completed);
    }
    // A UTF-8 file is stored as text only and reads back byte for byte.
    deploy(&engine, &["task.bpmn"]).await;
    assert_eq!(store.process_source("approval", 1).await.unwrap(), file("task.bpmn").1);
}
both!(latin1_and_windows_1252_files_deploy_and_run);

// ---- Request leases ----

/// The Requests a script's connector calls were for.
fn requests_run_by(script: &Script) -> std::collections::BTreeSet<String> {
    script.keys.lock().unwrap().iter().map(|k| k.request_id.clone()).collect()
}

async fn two_engines_never_advance_one_request_at_once(db: Arc<TestDb>) {
    // Each engine has its own scripted connector, so the calls show which engine ran what; both
    // watch the calls in flight.
    let sa = Script::default();
    let sb = sa.sharing_in_flight();
    let a = db.engine(&sa, EngineOptions { node_id: "a".into(), ..options() }).await;
    let b = db.engine(&sb, EngineOptions { node_id: "b".into(), ..options() }).await;
    deploy(&a, &["chain.bpmn"]).await;
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(a.start_request("chain", None, data(json!({"order": format!("ORD-{n}")})), t0()).await.unwrap());
    }
    // Interleaved, one job at a time, then a few concurrent rounds.
    let mut rounds = 0;
    loop {
        let na = a.run_due_jobs(t0(), 1).await.unwrap();
        let nb = b.run_due_jobs(t0(), 1).await.unwrap();
        rounds += 1;
        assert!(rounds < 100, "jobs keep coming");
        if na + nb == 0 {
            break;
        }
        if rounds == 4 {
            for _ in 0..3 {
                let (ra, rb) = tokio::join!(a.run_due_jobs(t0(), 2), b.run_due_jobs(t0(), 2));
                ra.unwrap();
                rb.unwrap();
            }
        }
    }
    for id in &ids {
        assert_eq!(status(&a, *id).await, RequestStatus::Completed);
    }
    assert_eq!(sa.calls() + sb.calls(), 18, "every call ran once");
    let (ra, rb) = (requests_run_by(&sa), requests_run_by(&sb));
    assert!(!ra.is_empty() && !rb.is_empty(), "both engines had work: {ra:?} {rb:?}");
    assert!(sa.overlaps.lock().unwrap().is_empty(), "advanced by two at once: {:?}", sa.overlaps.lock().unwrap());
}
both!(two_engines_never_advance_one_request_at_once);

async fn a_dead_nodes_leases_expire_and_another_engine_takes_over(db: Arc<TestDb>) {
    let (sa, sb) = (Script::default(), Script::default());
    let lease = EngineOptions { request_lease: Duration::from_secs(30), ..options() };
    let a = db.engine(&sa, EngineOptions { node_id: "a".into(), ..lease.clone() }).await;
    let b = db.engine(&sb, EngineOptions { node_id: "b".into(), ..lease }).await;
    deploy(&a, &["chain.bpmn"]).await;
    let id = a.start_request("chain", None, data(json!({"order": "ORD-1"})), t0()).await.unwrap();
    // a claims the first job and takes the Request's lease until t0 + 30 s, as its worker does,
    // then dies before running it.
    let claimed = a.store().claim_jobs("a", t0(), 10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(a.store().claim_request_leases("a", &[id], t0(), t0() + secs(30)).await.unwrap(), vec![id]);
    assert_eq!(a.store().request_lease(id).await.unwrap(), Some(("a".to_string(), t0() + secs(30))));
    // b leaves the Request alone: no job of it runs, no attempt is counted on b's side.
    assert_eq!(b.run_due_jobs(t0() + secs(10), 10).await.unwrap(), 0);
    // Had a only been slow, its heartbeat keeps the lease and the claim past the first expiry.
    assert_eq!(a.heartbeat(t0() + secs(20)).await.unwrap(), 1);
    assert_eq!(b.run_due_jobs(t0() + secs(40), 10).await.unwrap(), 0);
    assert_eq!(b.run_due_jobs(t0() + secs(50), 10).await.unwrap(), 0, "a lease holds up to its lease_until");
    // a died: after lease_until b takes the Request and finishes it.
    assert_eq!(drain(&b, t0() + secs(51)).await, 3);
    assert_eq!(status(&b, id).await, RequestStatus::Completed);
    assert_eq!((sa.calls(), sb.calls()), (0, 3));
    // b lets go of the Request after each batch of its jobs.
    assert_eq!(b.store().request_lease(id).await.unwrap(), None);
    assert_eq!(a.run_due_jobs(t0() + secs(52), 10).await.unwrap(), 0);

    // A node that shuts down cleanly releases its leases: the other takes over at once.
    let id2 = a.start_request("chain", None, data(json!({"order": "ORD-2"})), t0() + secs(60)).await.unwrap();
    assert_eq!(a.store().claim_request_leases("a", &[id2], t0() + secs(60), t0() + secs(90)).await.unwrap(), vec![id2]);
    assert_eq!(b.run_due_jobs(t0() + secs(61), 10).await.unwrap(), 0);
    assert_eq!(a.release_leases().await.unwrap(), 1);
    assert_eq!(drain(&b, t0() + secs(61)).await, 3);
    assert_eq!(status(&b, id2).await, RequestStatus::Completed);
}
both!(a_dead_nodes_leases_expire_and_another_engine_takes_over);

/// A version one node deleted is gone for the others too, though they parsed it before: a
/// migration to it through another node is refused as invalid, and writes nothing.
async fn a_version_deleted_on_one_node_is_gone_on_the_others(db: Arc<TestDb>) {
    let script = Script::default();
    let a = db.engine(&script, EngineOptions { node_id: "a".into(), ..options() }).await;
    let b = db.engine(&script, EngineOptions { node_id: "b".into(), ..options() }).await;
    let model = |name: &str| {
        format!(
            r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:t">
  <process id="doomed" name="{name}" isExecutable="true">
    <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <userTask id="t"/><sequenceFlow id="f2" sourceRef="t" targetRef="e"/><endEvent id="e"/>
  </process>
</definitions>"#
        )
        .into_bytes()
    };
    a.deploy(&[("doomed.bpmn".into(), model("first"))]).await.unwrap();
    a.deploy(&[("doomed.bpmn".into(), model("second"))]).await.unwrap();
    // b has both versions parsed; a deletes the first (no Request uses it).
    b.process("doomed", 1).await.unwrap();
    b.process("doomed", 2).await.unwrap();
    a.delete_version("doomed", 1).await.unwrap();
    let id = b.start_request("doomed", None, data(json!({})), t0()).await.unwrap();
    let moved = b.migrate(id, 1, &Default::default(), None, t0()).await;
    assert!(matches!(&moved, Err(Error::MigrationInvalid(m)) if m.contains("has no version 1")), "{moved:?}");
    let r = b.store().request(id).await.unwrap();
    assert_eq!((r.process_version, r.revision), (2, 1), "nothing written");
}
both!(a_version_deleted_on_one_node_is_gone_on_the_others);

// ---- handoff ----

/// Waits (up to 10 s) until `done` holds.
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..1000 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn handoff_runs_a_chain_of_connector_jobs_without_the_job_table(db: Arc<TestDb>) {
    let script = Script::default();
    let engine = Arc::new(db.engine(&script, options()).await);
    engine.enable_handoff();
    deploy(&engine, &["chain.bpmn"]).await;
    let now = Utc::now();
    let id = engine.start_request("chain", None, data(json!({"order": "ORD-1"})), now).await.unwrap();
    // Nobody calls run_due_jobs: the node that wrote each step runs the next connector job.
    eventually("the chain to complete", || async { status(&engine, id).await == RequestStatus::Completed }).await;
    assert_eq!(script.calls(), 3);
    let keys = script.keys.lock().unwrap().clone();
    let elements: Vec<(&str, u32)> = keys.iter().map(|k| (k.element_id.as_str(), k.attempt)).collect();
    assert_eq!(elements, vec![("first", 1), ("second", 1), ("third", 1)]);
    let row = engine.store().request(id).await.unwrap();
    assert_eq!((&row.data["one"], &row.data["three"]), (&json!({"echo": "ORD-1"}), &json!({"echo": "ORD-1"})));
    // Nothing is left behind: no job, no lease.
    eventually("the lease to be let go", || async { engine.store().request_lease(id).await.unwrap().is_none() }).await;
    assert_eq!(engine.store().count_due_jobs(now + secs(3600)).await.unwrap(), 0);
    assert_eq!(engine.run_due_jobs(now + secs(3600), 10).await.unwrap(), 0);
    let kinds = event_kinds(&engine, id).await;
    assert_eq!(kinds.iter().filter(|k| k.starts_with("connector_completed")).count(), 3, "{kinds:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("request_completed"));
}
both!(handoff_runs_a_chain_of_connector_jobs_without_the_job_table);

async fn a_handed_off_job_that_fails_goes_back_to_the_job_table(db: Arc<TestDb>) {
    let script = Script::default().then(Err(ConnectorError::retryable("busy")));
    let engine = Arc::new(db.engine(&script, options()).await);
    engine.enable_handoff();
    deploy(&engine, &["connector.bpmn"]).await;
    let now = Utc::now();
    let id = engine.start_request("invoice", None, data(json!({"order": "ORD-2"})), now).await.unwrap();
    eventually("the first call", || async { script.calls() == 1 }).await;
    // The retry waits for its backoff (10 s) in the job table, the Request free for any node.
    eventually("the lease to be let go", || async { engine.store().request_lease(id).await.unwrap().is_none() }).await;
    assert_eq!(status(&engine, id).await, RequestStatus::Active);
    let later = Utc::now() + secs(11);
    assert_eq!(engine.store().count_due_jobs(later).await.unwrap(), 1);
    assert_eq!(engine.run_due_jobs(later, 10).await.unwrap(), 1);
    assert_eq!(script.calls(), 2);
    assert_eq!(status(&engine, id).await, RequestStatus::Completed);
    let keys = script.keys.lock().unwrap().clone();
    assert!(keys.iter().all(|k| *k == keys[0]), "one idempotency key for both attempts: {keys:?}");
}
both!(a_handed_off_job_that_fails_goes_back_to_the_job_table);

async fn after_draining_new_jobs_stay_in_the_job_table_for_any_node(db: Arc<TestDb>) {
    // Node a is shutting down (drained): what it writes now is left for any node's worker.
    // (A node killed while running handed-off jobs is covered by the crash tests of the real
    // binary: its claims and lease run out and another node takes the jobs over.)
    let script = Script::default();
    let options = EngineOptions { node_id: "a".into(), ..options() };
    let a = Arc::new(db.engine(&script, options.clone()).await);
    a.enable_handoff();
    deploy(&a, &["connector.bpmn"]).await;
    a.drain_handoffs().await;
    // Draining closed handoff: this write leaves its job in the table, unclaimed.
    let now = Utc::now();
    let id = a.start_request("invoice", None, data(json!({"order": "ORD-3"})), now).await.unwrap();
    assert_eq!(a.store().request_lease(id).await.unwrap(), None);
    drop(a);
    let b = db.engine(&script, EngineOptions { node_id: "b".into(), ..options }).await;
    assert_eq!(b.run_due_jobs(now, 10).await.unwrap(), 1);
    assert_eq!(status(&b, id).await, RequestStatus::Completed);
    assert_eq!(script.calls(), 1);
}
both!(after_draining_new_jobs_stay_in_the_job_table_for_any_node);

// ---- timer start events ----

/// A process `key` started by a timer start event of `kind` (`timeCycle`, `timeDate`,
/// `timeDuration`) with `value`; with `value` None, a none start event instead.
fn timer_start_model(key: &str, timer: Option<(&str, &str)>) -> (String, Vec<u8>) {
    let start = match timer {
        Some((kind, value)) => format!(
            r#"<bpmn:startEvent id="tick"><bpmn:timerEventDefinition><bpmn:{kind}>{value}</bpmn:{kind}></bpmn:timerEventDefinition></bpmn:startEvent>"#
        ),
        None => r#"<bpmn:startEvent id="tick"/>"#.to_string(),
    };
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs_{key}" targetNamespace="urn:sluice:test">
  <bpmn:process id="{key}" isExecutable="true">
    {start}
    <bpmn:sequenceFlow id="f1" sourceRef="tick" targetRef="done"/>
    <bpmn:endEvent id="done"/>
  </bpmn:process>
</bpmn:definitions>"#
    );
    (format!("{key}.bpmn"), xml.into_bytes())
}

/// The Requests of `key` as (version, status), oldest first.
async fn requests_of(engine: &Engine, key: &str) -> Vec<(i64, RequestStatus)> {
    let page = engine.store().list_requests(&Default::default(), 1000, None).await.unwrap();
    let mut rows: Vec<_> = page.requests.into_iter().filter(|r| r.process_key == key).collect();
    rows.sort_by_key(|r| (r.created_at, r.id));
    rows.into_iter().map(|r| (r.process_version, r.status)).collect()
}

/// The due times of the timer start jobs in the table.
async fn timer_start_dues(engine: &Engine) -> Vec<DateTime<Utc>> {
    let jobs = engine.store().due_jobs(t0() + secs(10 * 365 * 86_400), 1000).await.unwrap();
    jobs.iter().filter(|j| j.kind == sluice_store::JobKind::TimerStart).map(|j| j.due_at).collect()
}

async fn a_timer_cycle_starts_a_request_at_each_due_time(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    let file = timer_start_model("ticker", Some(("timeCycle", "R3/PT2S")));
    engine.deploy_at(std::slice::from_ref(&file), t0()).await.unwrap();
    assert_eq!(timer_start_dues(&engine).await, vec![t0() + secs(2)]);
    // Not before the first due time.
    assert_eq!(drain(&engine, t0() + secs(1)).await, 0);
    assert!(requests_of(&engine, "ticker").await.is_empty());
    // Deploying the same XML again (a restart of `sluice serve`) schedules nothing more.
    engine.deploy_at(std::slice::from_ref(&file), t0() + secs(1)).await.unwrap();
    assert_eq!(timer_start_dues(&engine).await, vec![t0() + secs(2)]);
    for (n, at) in [(1, 2), (2, 4), (3, 6)] {
        assert_eq!(drain(&engine, t0() + secs(at)).await, 1, "firing {n}");
        assert_eq!(requests_of(&engine, "ticker").await.len(), n, "firing {n}");
        // Running again at the same time starts nothing more.
        assert_eq!(drain(&engine, t0() + secs(at)).await, 0, "firing {n}");
    }
    assert!(requests_of(&engine, "ticker").await.iter().all(|r| *r == (1, RequestStatus::Completed)));
    // Three repetitions, then nothing is left.
    assert!(timer_start_dues(&engine).await.is_empty());
    assert_eq!(drain(&engine, t0() + secs(3600)).await, 0);
    assert_eq!(requests_of(&engine, "ticker").await.len(), 3);
}
both!(a_timer_cycle_starts_a_request_at_each_due_time);

async fn an_unbounded_cycle_with_a_start_date_counts_from_the_first_firing_to_come(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    // Daily at 08:00 since 2020: deployed on 2026-03-01 09:00, the next firing is the 2nd at 08:00.
    let file = timer_start_model("daily", Some(("timeCycle", "R/2020-01-01T08:00:00Z/P1D")));
    engine.deploy_at(&[file], t0()).await.unwrap();
    let next = t0() + secs(23 * 3600);
    assert_eq!(timer_start_dues(&engine).await, vec![next]);
    assert_eq!(drain(&engine, next).await, 1);
    assert_eq!(timer_start_dues(&engine).await, vec![next + secs(86_400)]);
    // Down for three days: the missed firings are not made up for, one Request and on from now.
    assert_eq!(drain(&engine, next + secs(3 * 86_400 + 60)).await, 1);
    assert_eq!(timer_start_dues(&engine).await, vec![next + secs(4 * 86_400)]);
    assert_eq!(requests_of(&engine, "daily").await.len(), 2);
}
both!(an_unbounded_cycle_with_a_start_date_counts_from_the_first_firing_to_come);

async fn a_timer_date_starts_one_request(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    let file = timer_start_model("once", Some(("timeDate", "2026-03-01T10:00:00Z")));
    engine.deploy_at(&[file], t0()).await.unwrap();
    assert_eq!(drain(&engine, t0() + secs(3599)).await, 0);
    assert_eq!(drain(&engine, t0() + secs(3600)).await, 1);
    assert_eq!(drain(&engine, t0() + secs(86_400)).await, 0);
    assert_eq!(requests_of(&engine, "once").await, vec![(1, RequestStatus::Completed)]);
    assert!(timer_start_dues(&engine).await.is_empty());
}
both!(a_timer_date_starts_one_request);

async fn a_timer_duration_starts_one_request_after_the_deployment(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    let deployed = t0() + secs(100);
    let file = timer_start_model("later", Some(("timeDuration", "PT5M")));
    engine.deploy_at(&[file], deployed).await.unwrap();
    assert_eq!(timer_start_dues(&engine).await, vec![deployed + secs(300)]);
    assert_eq!(drain(&engine, deployed + secs(299)).await, 0);
    assert_eq!(drain(&engine, deployed + secs(300)).await, 1);
    assert_eq!(drain(&engine, deployed + secs(86_400)).await, 0);
    assert_eq!(requests_of(&engine, "later").await, vec![(1, RequestStatus::Completed)]);
}
both!(a_timer_duration_starts_one_request_after_the_deployment);

async fn a_new_version_replaces_the_timer_starts_of_the_old(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    engine.deploy_at(&[timer_start_model("ticker", Some(("timeCycle", "R/PT10S")))], t0()).await.unwrap();
    assert_eq!(drain(&engine, t0() + secs(10)).await, 1);
    assert_eq!(timer_start_dues(&engine).await, vec![t0() + secs(20)]);
    // Version 2 with another cycle: it counts from its own deployment, the old job is gone.
    let v2 = t0() + secs(15);
    engine.deploy_at(&[timer_start_model("ticker", Some(("timeCycle", "R/PT7S")))], v2).await.unwrap();
    assert_eq!(timer_start_dues(&engine).await, vec![v2 + secs(7)]);
    assert_eq!(drain(&engine, v2 + secs(7)).await, 1);
    assert_eq!(
        requests_of(&engine, "ticker").await,
        vec![(1, RequestStatus::Completed), (2, RequestStatus::Completed)]
    );
    assert_eq!(timer_start_dues(&engine).await, vec![v2 + secs(14)]);
    // Version 3 without a timer start: nothing is scheduled any more.
    engine.deploy_at(&[timer_start_model("ticker", None)], v2 + secs(10)).await.unwrap();
    assert!(timer_start_dues(&engine).await.is_empty());
    assert_eq!(drain(&engine, v2 + secs(3600)).await, 0);
    assert_eq!(requests_of(&engine, "ticker").await.len(), 2);
    // Another process's timer starts are left alone by a deploy of this one.
    engine.deploy_at(&[timer_start_model("other", Some(("timeDuration", "PT1M")))], v2).await.unwrap();
    engine.deploy_at(&[timer_start_model("ticker", Some(("timeDuration", "PT2M")))], v2).await.unwrap();
    assert_eq!(timer_start_dues(&engine).await.len(), 2);
}
both!(a_new_version_replaces_the_timer_starts_of_the_old);

async fn two_engines_start_one_request_per_due_time(db: Arc<TestDb>) {
    let a = db.engine(&Script::default(), options()).await;
    let b = db.engine(&Script::default(), EngineOptions { node_id: "other".into(), ..options() }).await;
    a.deploy_at(&[timer_start_model("ticker", Some(("timeCycle", "R5/PT1S")))], t0()).await.unwrap();
    for n in 1..=5 {
        let at = t0() + secs(n);
        let (ra, rb) = tokio::join!(a.run_due_jobs(at, 10), b.run_due_jobs(at, 10));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra + rb, 1, "due time {n}");
        let (ra, rb) = tokio::join!(a.run_due_jobs(at, 10), b.run_due_jobs(at, 10));
        assert_eq!(ra.unwrap() + rb.unwrap(), 0, "due time {n}");
        assert_eq!(requests_of(&a, "ticker").await.len() as i64, n, "due time {n}");
    }
    assert!(timer_start_dues(&a).await.is_empty());
}
both!(two_engines_start_one_request_per_due_time);

async fn a_timer_start_job_claimed_twice_starts_one_request(db: Arc<TestDb>) {
    // A node claimed the job and died: once its claim runs out, one of two nodes starts the one
    // Request, and the cycle goes on.
    let a = db.engine(&Script::default(), EngineOptions { job_lease: Duration::from_secs(1), ..options() }).await;
    let b = db.engine(&Script::default(), EngineOptions { node_id: "other".into(), ..options() }).await;
    a.deploy_at(&[timer_start_model("ticker", Some(("timeCycle", "R2/PT10S")))], t0()).await.unwrap();
    let claimed = a.store().claim_jobs("gone", t0() + secs(10), 10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let (ra, rb) = tokio::join!(a.run_due_jobs(t0() + secs(12), 10), b.run_due_jobs(t0() + secs(12), 10));
    assert_eq!(ra.unwrap() + rb.unwrap(), 1);
    assert_eq!(requests_of(&a, "ticker").await.len(), 1);
    assert_eq!(timer_start_dues(&a).await, vec![t0() + secs(20)]);

    // The dead node was only slow: it runs the job it claimed after the Request was written (here
    // the row is put back as it was claimed). The Request has the job's id: no second one, and
    // the cycle is not scheduled twice.
    let job = &claimed[0];
    let payload = job.payload.to_string().replace('\'', "''");
    db.exec(&format!(
        "INSERT INTO jobs (id, request_id, kind, element_id, due_at, payload, attempts, created_at)
         VALUES ('{}', NULL, 'timer_start', 'tick', {}, '{payload}', 0, 0)",
        job.id,
        job.due_at.timestamp_millis()
    ))
    .await;
    assert_eq!(drain(&a, t0() + secs(13)).await, 1);
    assert_eq!(requests_of(&a, "ticker").await.len(), 1);
    assert_eq!(timer_start_dues(&a).await, vec![t0() + secs(20)]);
    // The cycle's second and last firing.
    assert_eq!(drain(&b, t0() + secs(20)).await, 1);
    assert_eq!(requests_of(&a, "ticker").await.len(), 2);
    assert!(timer_start_dues(&a).await.is_empty());
}
both!(a_timer_start_job_claimed_twice_starts_one_request);

async fn a_signal_from_outside_starts_and_reaches_requests(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    deploy(&engine, &["signal.bpmn"]).await;
    let (name, xml) = timer_start_model("unused", None);
    let on_go = String::from_utf8(xml).unwrap().replace(
        r#"<bpmn:startEvent id="tick"/>"#,
        r#"<bpmn:startEvent id="tick"><bpmn:signalEventDefinition signalRef="s_go"/></bpmn:startEvent>"#,
    );
    let on_go =
        on_go.replace(r#"<bpmn:process id="unused""#, r#"<bpmn:signal id="s_go" name="go"/><bpmn:process id="on_go""#);
    engine.deploy(&[(name, on_go.into_bytes())]).await.unwrap();
    let l1 = engine.start_request("listener", None, Data::new(), t0()).await.unwrap();
    let reached = engine.broadcast_signal("go", data(json!({"loud": true})), t0()).await.unwrap();
    assert_eq!(reached.stepped, vec![l1]);
    assert_eq!(reached.started.len(), 1);
    let started = engine.store().request(reached.started[0]).await.unwrap();
    assert_eq!((started.process_key.as_str(), &started.data["loud"]), ("on_go", &json!(true)));
    assert_eq!(status(&engine, l1).await, RequestStatus::Completed);
    let none = engine.broadcast_signal("nobody listens", Data::new(), t0()).await.unwrap();
    assert!(none.started.is_empty() && none.stepped.is_empty());
}
both!(a_signal_from_outside_starts_and_reaches_requests);

// ---- the crash-loop guard ----

/// Two nodes claim the due jobs at `at` and die running them (their claims run out a minute
/// later), as a job that kills the process would make them.
async fn crash_twice(engine: &Engine, at: DateTime<Utc>) {
    for (n, node) in ["died-1", "died-2"].into_iter().enumerate() {
        let when = at + secs(120 * n as i64);
        let claimed = engine.store().claim_jobs(node, when, 10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(claimed.len(), 1, "{node} claims the job");
        assert_eq!((claimed[0].attempts, claimed[0].ended), (n as i64 + 1, 0));
    }
}

async fn a_timer_that_killed_the_process_twice_is_an_incident_then_fires_on_retry(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    deploy(&engine, &["timer.bpmn"]).await;
    let id = engine.start_request("reminder", None, Data::new(), t0()).await.unwrap();
    crash_twice(&engine, t0() + secs(3600)).await;
    // The third start does not run it: an incident naming the job instead.
    let later = t0() + secs(3600 + 600);
    assert_eq!(engine.run_due_jobs(later, 10).await.unwrap(), 1);
    let r = engine.store().load_request(id).await.unwrap();
    assert_eq!(r.meta.status, RequestStatus::Error, "an Active Request with an incident");
    let incident = &r.instance.incidents()[0];
    assert_eq!(incident.code, "job_crashed");
    assert!(incident.message.contains("`timer` job was started 2 times"), "{}", incident.message);
    assert!(!event_kinds(&engine, id).await.iter().any(|k| k.starts_with("timer_fired")));
    // Nothing runs by itself any more, even much later.
    assert_eq!(drain(&engine, later + secs(86_400)).await, 0);
    // A person retries: the timer fires as it would have.
    engine.retry(id, later + secs(60)).await.unwrap();
    assert_eq!(status(&engine, id).await, RequestStatus::Completed);
    assert_eq!(event_kinds(&engine, id).await.iter().filter(|k| k.starts_with("timer_fired")).count(), 1);
}
both!(a_timer_that_killed_the_process_twice_is_an_incident_then_fires_on_retry);

async fn a_connector_job_that_killed_the_process_twice_fails_without_a_third_call(db: Arc<TestDb>) {
    let script = Script::default();
    let engine = db.engine(&script, options()).await;
    deploy(&engine, &["connector.bpmn"]).await;
    let id = engine.start_request("invoice", None, data(json!({"order": "ORD-9"})), t0()).await.unwrap();
    crash_twice(&engine, t0()).await;
    assert_eq!(engine.run_due_jobs(t0() + secs(600), 10).await.unwrap(), 1);
    assert_eq!(script.calls(), 0, "the connector is not called a third time");
    let r = engine.store().load_request(id).await.unwrap();
    let incident = &r.instance.incidents()[0];
    assert_eq!(incident.code, "connector_failed");
    assert!(incident.message.contains("server stopped each time"), "{}", incident.message);
    // A retry calls it once more.
    engine.retry(id, t0() + secs(700)).await.unwrap();
    drain(&engine, t0() + secs(700)).await;
    assert_eq!(script.calls(), 1);
    assert_eq!(status(&engine, id).await, RequestStatus::Completed);
}
both!(a_connector_job_that_killed_the_process_twice_fails_without_a_third_call);

async fn a_job_that_failed_with_an_error_is_not_counted_as_a_crash(db: Arc<TestDb>) {
    // Errors end their attempts: five failures in a row are retries, not a crash loop.
    let script = Script::default();
    for _ in 0..3 {
        script.outcomes.lock().unwrap().push_back(Err(ConnectorError::retryable("busy")));
    }
    let engine = db.engine(&script, options()).await;
    deploy(&engine, &["connector.bpmn"]).await;
    let id = engine.start_request("invoice", None, data(json!({"order": "ORD-3"})), t0()).await.unwrap();
    for n in 0..4 {
        drain(&engine, t0() + secs(3600 * n)).await;
    }
    assert_eq!(script.calls(), 4);
    assert_eq!(status(&engine, id).await, RequestStatus::Completed);
}
both!(a_job_that_failed_with_an_error_is_not_counted_as_a_crash);

async fn a_timer_start_job_that_killed_the_process_twice_is_parked(db: Arc<TestDb>) {
    let engine = db.engine(&Script::default(), options()).await;
    engine.deploy_at(&[timer_start_model("ticker", Some(("timeDate", "2026-03-01T10:00:00Z")))], t0()).await.unwrap();
    let due = timer_start_dues(&engine).await[0];
    crash_twice(&engine, due).await;
    assert_eq!(engine.run_due_jobs(due + secs(600), 10).await.unwrap(), 1);
    assert!(requests_of(&engine, "ticker").await.is_empty());
    // Parked with its reason, never due.
    let parked = "SELECT COUNT(*) FROM jobs WHERE kind = 'timer_start' AND last_error LIKE '%`timer_start` job was started 2 times%'";
    assert_eq!(db.count(parked).await, 1);
    assert!(timer_start_dues(&engine).await.is_empty());
}
both!(a_timer_start_job_that_killed_the_process_twice_is_parked);
