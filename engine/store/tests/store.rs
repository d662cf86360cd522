//! Every store test runs twice: on SQLite (a temporary file) and on PostgreSQL
//! (`SLUICE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`, each test in a
//! schema of its own). Set `SLUICE_TEST_SKIP_POSTGRES=1` to skip PostgreSQL where none runs.
#![allow(clippy::unwrap_used)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sluice_bpmn::Process;
use sluice_engine::runtime::{Data, SubscriptionId, TokenId};
use sluice_engine::{Input, Instance, Start};
use sluice_store::{
    Backend, CallChild, Changes, Error, JobKind, NewJob, NewRequest, NewSubscription, RequestFilter, RequestId,
    RequestStatus, SCHEMA_VERSION, StepOutcome, StepWrite, Store, StoreOptions, SubscriptionKind, TaskStatus,
};
use sluice_test_support::{Kind, TestDb, both, data, process, t0};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::SqlitePoolOptions;

const REVIEW: &str = include_str!("models/review.bpmn");

// ---- helpers ----

fn review() -> Arc<Process> {
    process(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models"), "review.bpmn", "review")
}

/// Deploys the review model as version 1.
async fn deploy(store: &Store) {
    assert_eq!(store.deploy_version("review", Some("Review an order"), REVIEW, "h1").await.unwrap(), (1, true));
}

/// Starts a review Request for `order` at `at` and stores it; returns its id and state.
async fn start(store: &Store, p: &Process, order: &str, at: DateTime<Utc>) -> (RequestId, Instance) {
    let mut out = Vec::new();
    let inst = Instance::start(p, data(json!({"order_id": order})), Start::Default, at, &mut out).unwrap();
    let id = RequestId::new();
    let changes = sluice_worker::from_commands(p, id, &out, at);
    let new = NewRequest { id, process_key: "review", process_version: 1, parent: None, state: &inst };
    store.create_request(&new, &changes).await.unwrap();
    (id, inst)
}

/// Loads, steps and writes one input; returns the new revision.
async fn step(
    store: &Store,
    p: &Process,
    id: RequestId,
    input: Input,
    at: DateTime<Utc>,
    done: &[sluice_store::JobId],
) -> i64 {
    let mut loaded = store.load_request(id).await.unwrap();
    let mut out = Vec::new();
    loaded.instance.step(p, input, at, &mut out).unwrap();
    let mut changes = sluice_worker::from_commands(p, id, &out, at);
    for j in done {
        changes.complete_job(*j);
    }
    store.apply_step(id, loaded.revision, &loaded.instance, &changes).await.unwrap()
}

async fn event_types(store: &Store, id: RequestId) -> Vec<String> {
    store.request_events(id).await.unwrap().into_iter().map(|e| e.kind).collect()
}

// ---- tests ----

async fn migrations_run_and_a_newer_schema_is_refused(db: Arc<TestDb>) {
    let store = db.open().await;
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    store.close().await;
    // Opening again finds nothing to do.
    let store = db.open().await;
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    store.close().await;

    let newer = SCHEMA_VERSION + 4;
    db.exec(&format!("INSERT INTO sluice_schema (version, name, applied_at) VALUES ({newer}, 'future', 0)")).await;
    let err = Store::open(&db.url, db.options()).await.unwrap_err();
    assert!(matches!(err, Error::SchemaTooNew { found, known, .. } if found == newer && known == SCHEMA_VERSION));
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("has schema version {newer}; this sluice knows up to {SCHEMA_VERSION}: upgrade sluice")),
        "{msg}"
    );
}
both!(migrations_run_and_a_newer_schema_is_refused);

async fn deploying_the_same_xml_answers_the_same_version(db: Arc<TestDb>) {
    let store = db.open().await;
    assert_eq!(store.deploy_version("review", Some("Review"), REVIEW, "h1").await.unwrap(), (1, true));
    assert_eq!(store.deploy_version("review", Some("Review"), REVIEW, "h1").await.unwrap(), (1, false));
    assert_eq!(store.deploy_version("review", Some("Review v2"), "<changed/>", "h2").await.unwrap(), (2, true));
    assert_eq!(store.deploy_version("review", Some("Review v2"), "<changed/>", "h2").await.unwrap(), (2, false));
    // Going back to the first file is a change too: the latest version counts.
    assert_eq!(store.deploy_version("review", Some("Review"), REVIEW, "h1").await.unwrap(), (3, true));
    assert_eq!(store.deploy_version("other", None, "<x/>", "h9").await.unwrap(), (1, true));

    let versions = store.process_versions("review").await.unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(versions[1].name.as_deref(), Some("Review v2"));
    let latest = store.latest_processes().await.unwrap();
    assert_eq!(
        latest.iter().map(|v| (v.key.as_str(), v.version)).collect::<Vec<_>>(),
        vec![("other", 1), ("review", 3)]
    );
    assert_eq!(store.process_xml("review", 2).await.unwrap(), "<changed/>");
    assert!(matches!(store.process_xml("review", 7).await, Err(Error::ProcessNotFound { .. })));
    assert!(store.process_versions("nothing").await.unwrap().is_empty());
}
both!(deploying_the_same_xml_answers_the_same_version);

async fn decisions_are_versioned_per_id_and_the_same_file_is_the_same_version(db: Arc<TestDb>) {
    use sluice_store::{NewDecision, NewDecisionFile};
    let store = db.open().await;
    let file = |xml: &'static str, hash: &'static str, tag: Option<&'static str>| NewDecisionFile {
        file_name: "orders.dmn",
        definitions_id: "orders",
        xml,
        hash,
        decisions: vec![
            NewDecision { decision_id: "discount", name: Some("Discount"), version_tag: tag },
            NewDecision { decision_id: "level", name: None, version_tag: None },
        ],
    };
    assert_eq!(store.deploy_decisions(&file("<a/>", "h1", Some("2026-q1"))).await.unwrap(), vec![(1, true), (1, true)]);
    // The same content again: no new version.
    assert_eq!(
        store.deploy_decisions(&file("<a/>", "h1", Some("2026-q1"))).await.unwrap(),
        vec![(1, false), (1, false)]
    );
    assert_eq!(store.deploy_decisions(&file("<b/>", "h2", None)).await.unwrap(), vec![(2, true), (2, true)]);
    let other = NewDecisionFile {
        file_name: "other.dmn",
        definitions_id: "other",
        xml: "<c/>",
        hash: "h3",
        decisions: vec![NewDecision { decision_id: "approval", name: Some("Approval"), version_tag: None }],
    };
    assert_eq!(store.deploy_decisions(&other).await.unwrap(), vec![(1, true)]);

    let latest = store.latest_decisions().await.unwrap();
    assert_eq!(
        latest.iter().map(|d| (d.decision_id.as_str(), d.version)).collect::<Vec<_>>(),
        vec![("approval", 1), ("discount", 2), ("level", 2)]
    );
    let versions = store.decision_versions("discount").await.unwrap();
    assert_eq!(versions.iter().map(|d| d.version).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(versions[0].version_tag.as_deref(), Some("2026-q1"));
    assert_eq!((versions[0].definitions_id.as_str(), versions[0].file_name.as_str()), ("orders", "orders.dmn"));
    assert_eq!(versions[1].version_tag, None);

    // Bindings: the newest, the newest with a tag, nothing for an unknown id or tag.
    assert_eq!(store.decision_version_for("discount", None).await.unwrap(), Some(2));
    assert_eq!(store.decision_version_for("discount", Some("2026-q1")).await.unwrap(), Some(1));
    assert_eq!(store.decision_version_for("discount", Some("nope")).await.unwrap(), None);
    assert_eq!(store.decision_version_for("nothing", None).await.unwrap(), None);

    let (v, xml) = store.decision_xml("discount", 1).await.unwrap();
    assert_eq!((v.version, xml.as_str(), v.name.as_deref()), (1, "<a/>", Some("Discount")));
    assert!(matches!(store.decision_xml("discount", 9).await, Err(Error::DecisionNotFound { .. })));
    assert!(store.decision_versions("nothing").await.unwrap().is_empty());
}
both!(decisions_are_versioned_per_id_and_the_same_file_is_the_same_version);

async fn a_request_runs_through_task_and_message_with_its_rows_in_step(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let (id, _) = start(&store, &p, "ORD-1", t0()).await;

    // After the start: one active task, one timer job due in an hour, no subscription yet.
    let req = store.request(id).await.unwrap();
    assert_eq!((req.status, req.revision, req.process_version), (RequestStatus::Active, 1, 1));
    assert_eq!(req.data["order_id"], "ORD-1");
    let tasks = store.tasks(Some(id), Some(TaskStatus::Active)).await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!((tasks[0].element_id.as_str(), tasks[0].name.as_deref()), ("approve", Some("Approve the order")));
    assert_eq!(store.task(tasks[0].id).await.unwrap().as_ref(), Some(&tasks[0]));
    assert!(store.due_jobs(t0(), 10).await.unwrap().is_empty(), "the timer is not due yet");
    let due = store.due_jobs(t0() + chrono::Duration::hours(1), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].kind, due[0].request_id, due[0].element_id.as_deref()),
        (JobKind::Timer, Some(id), Some("too_late"))
    );
    let types = event_types(&store, id).await;
    assert_eq!(types.first().map(String::as_str), Some("request_started"));
    assert!(types.contains(&"task_created".to_string()) && types.contains(&"timer_scheduled".to_string()));

    // The person completes the task: task closed, timer job gone, message subscription open.
    let token = tasks[0].token;
    let at = t0() + chrono::Duration::minutes(5);
    assert_eq!(step(&store, &p, id, Input::CompleteTask { token, data: data(json!({"ok": true})) }, at, &[]).await, 2);
    let task = store.task(tasks[0].id).await.unwrap().unwrap();
    assert_eq!((task.status, task.completed_at), (TaskStatus::Completed, Some(at)));
    assert!(store.due_jobs(t0() + chrono::Duration::days(1), 10).await.unwrap().is_empty());
    let sub = store.find_message_subscription("paid", Some("ORD-1")).await.unwrap().unwrap();
    assert_eq!((sub.request_id, sub.kind, sub.element_id.as_str()), (id, SubscriptionKind::Message, "wait_paid"));
    assert!(store.find_message_subscription("paid", Some("ORD-2")).await.unwrap().is_none());
    assert!(store.find_message_subscription("paid", None).await.unwrap().is_none());
    let events = store.request_events(id).await.unwrap();
    let done = events.iter().position(|e| e.kind == "task_completed").unwrap();
    assert_eq!(events[done].element_id.as_deref(), Some("approve"));
    assert_eq!(events[done].payload["task_id"], tasks[0].id.to_string());
    assert_eq!(
        (events[done + 1].kind.as_str(), events[done + 1].element_id.as_deref()),
        ("element_completed", Some("approve"))
    );

    // The message arrives: the Request completes and waits for nothing.
    let at2 = at + chrono::Duration::minutes(1);
    let input = Input::MessageReceived { subscription: sub.subscription, data: data(json!({"paid": 42})) };
    assert_eq!(step(&store, &p, id, input, at2, &[]).await, 3);
    let req = store.request(id).await.unwrap();
    assert_eq!(
        (req.status, req.completed_at, req.data["paid"].clone()),
        (RequestStatus::Completed, Some(at2), json!(42))
    );
    assert!(store.find_message_subscription("paid", Some("ORD-1")).await.unwrap().is_none());
    let types = event_types(&store, id).await;
    assert!(
        types.ends_with(&[
            "message_received".into(),
            "element_completed".into(),
            "element_activated".into(),
            "element_completed".into(),
            "request_completed".into()
        ]),
        "{types:?}"
    );
    // No parent: no `child_done` job.
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs").await, 0);
    let loaded = store.load_request(id).await.unwrap();
    assert_eq!((loaded.revision, loaded.instance.status()), (3, sluice_engine::Status::Completed));
}
both!(a_request_runs_through_task_and_message_with_its_rows_in_step);

/// Steps of several Requests in one batch that remove timer jobs by subscription (on PostgreSQL
/// one statement for the batch): each Request's own timer goes, another Request's stays.
async fn a_batch_of_steps_removes_each_requests_own_timer(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let mut ops = Vec::new();
    let mut stepped = Vec::new();
    for order in ["ORD-1", "ORD-2", "ORD-3"] {
        let (id, _) = start(&store, &p, order, t0()).await;
        let mut loaded = store.load_request(id).await.unwrap();
        let token = store.tasks(Some(id), Some(TaskStatus::Active)).await.unwrap()[0].token;
        let mut out = Vec::new();
        let input = Input::CompleteTask { token, data: data(json!({"ok": true})) };
        loaded.instance.step(&p, input, t0(), &mut out).unwrap();
        let changes = sluice_worker::from_commands(&p, id, &out, t0());
        assert!(!changes.jobs_removed.is_empty(), "completing the task removes its timer");
        ops.push(sluice_store::WriteOp::Step {
            request: id,
            expected_revision: loaded.revision,
            state: sluice_store::StateColumns::of(&loaded.instance).unwrap(),
            changes,
            lease: sluice_store::LeaseChange::Keep,
        });
        stepped.push(id);
    }
    let (untouched, _) = start(&store, &p, "ORD-4", t0()).await;
    let results = store.write_batch(&ops).await.unwrap();
    assert!(results.iter().all(|r| matches!(r, Ok(sluice_store::WriteResult::Applied { .. }))), "{results:?}");
    let due = store.due_jobs(t0() + chrono::Duration::days(1), 10).await.unwrap();
    assert_eq!(
        due.iter().map(|j| (j.kind, j.request_id)).collect::<Vec<_>>(),
        vec![(JobKind::Timer, Some(untouched))],
        "the stepped Requests' timers are gone, the other one's stays"
    );
    for id in stepped {
        // Still running (waiting for the message), so the rows went one by one, not with the
        // cleanup of finished Requests.
        assert_eq!(store.request(id).await.unwrap().status, RequestStatus::Active);
    }
}
both!(a_batch_of_steps_removes_each_requests_own_timer);

/// A node shutting down gives up its claim on a running operation: another node (or the same
/// one started again under a new id) takes it at once, not when the claim would have run out.
async fn a_released_operation_claim_is_taken_at_once(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let filter = sluice_store::OperationFilter { process: Some("review".into()), ..Default::default() };
    let op = store.create_operation("cancel", &filter, &json!({}), None, t0()).await.unwrap();
    let until = t0() + chrono::Duration::seconds(15);
    assert_eq!(store.claim_operation("a", t0(), until).await.unwrap().map(|o| o.id), Some(op.id));
    assert!(store.claim_operation("b", t0(), until).await.unwrap().is_none(), "a holds it");
    assert_eq!(store.release_operations("b").await.unwrap(), 0, "b holds nothing");
    assert_eq!(store.release_operations("a").await.unwrap(), 1);
    assert_eq!(store.claim_operation("b", t0(), until).await.unwrap().map(|o| o.id), Some(op.id));
}
both!(a_released_operation_claim_is_taken_at_once);

/// Where PostgreSQL's autovacuum is off, the store analyzes the tables whose rows changed by more
/// than a tenth (and a thousand) since their last analysis, once; elsewhere it does nothing.
async fn tables_are_maintained_where_autovacuum_is_off(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    for i in 0..1_500 {
        start(&store, &p, &format!("ORD-{i}"), t0()).await;
    }
    let autovacuum_off = match db.kind {
        Kind::Sqlite => false,
        Kind::Postgres => {
            db.count("SELECT COUNT(*) FROM pg_settings WHERE name = 'autovacuum' AND setting = 'off'").await == 1
        }
    };
    // PostgreSQL's counts of changed rows reach its statistics views within about a second.
    let mut analyzed = store.maintain_tables().await.unwrap();
    for _ in 0..20 {
        if !autovacuum_off || !analyzed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        analyzed = store.maintain_tables().await.unwrap();
    }
    if autovacuum_off {
        assert!(analyzed.contains(&"requests".to_string()), "{analyzed:?}");
        assert!(store.maintain_tables().await.unwrap().is_empty(), "analyzed once");
    } else {
        assert!(analyzed.is_empty(), "{analyzed:?}");
    }
}
both!(tables_are_maintained_where_autovacuum_is_off);

async fn a_fired_timer_job_is_completed_with_the_step_it_caused(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let (id, inst) = start(&store, &p, "ORD-1", t0()).await;
    let at = t0() + chrono::Duration::hours(1);
    let jobs = store.claim_jobs("node-a", at, 10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].locked_by.as_deref(), jobs[0].attempts), (Some("node-a"), 1));
    let subscription = jobs[0].subscription.unwrap();
    assert_eq!(inst.subscriptions()[0].id, subscription);

    step(&store, &p, id, Input::TimerFired { subscription }, at, &[jobs[0].id]).await;
    assert_eq!(store.request(id).await.unwrap().status, RequestStatus::Completed);
    let tasks = store.tasks(Some(id), None).await.unwrap();
    assert_eq!(tasks.iter().map(|t| t.status).collect::<Vec<_>>(), vec![TaskStatus::Canceled]);
    assert!(!store.complete_job(jobs[0].id).await.unwrap(), "the step already removed the job");
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs").await, 0);
    assert!(event_types(&store, id).await.contains(&"timer_fired".to_string()));
}
both!(a_fired_timer_job_is_completed_with_the_step_it_caused);

async fn a_stale_revision_is_refused_and_writes_nothing(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let (id, _) = start(&store, &p, "ORD-1", t0()).await;
    let (other, _) = start(&store, &p, "ORD-2", t0()).await;

    // Two workers load revision 1; the first wins.
    let loaded = store.load_request(id).await.unwrap();
    let token = loaded.instance.tasks()[0].token;
    let mut a = loaded.instance.clone();
    let mut out = Vec::new();
    a.step(&p, Input::CompleteTask { token, data: Data::new() }, t0(), &mut out).unwrap();
    let changes = sluice_worker::from_commands(&p, id, &out, t0());
    assert_eq!(store.apply_step(id, 1, &a, &changes).await.unwrap(), 2);

    let (events, tasks, jobs, subs) = (
        db.count(EVENT_COUNT).await,
        db.count("SELECT COUNT(*) FROM tasks WHERE status = 'active'").await,
        db.count("SELECT COUNT(*) FROM jobs").await,
        db.count("SELECT COUNT(*) FROM subscriptions").await,
    );
    let err = store.apply_step(id, 1, &a, &changes).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { request, expected: 1 } if request == id), "{err}");
    assert!(matches!(store.apply_step(RequestId::new(), 1, &a, &changes).await, Err(Error::RequestNotFound(_))));
    assert_eq!(store.request(id).await.unwrap().revision, 2);
    assert_eq!(db.count(EVENT_COUNT).await, events);
    assert_eq!(db.count("SELECT COUNT(*) FROM tasks WHERE status = 'active'").await, tasks);
    assert_eq!(db.count("SELECT COUNT(*) FROM jobs").await, jobs);
    assert_eq!(db.count("SELECT COUNT(*) FROM subscriptions").await, subs);

    // In a batch, the stale write is skipped alone and the other commits.
    let o = store.load_request(other).await.unwrap();
    let mut b = o.instance.clone();
    let mut out = Vec::new();
    b.step(&p, Input::Cancel, t0(), &mut out).unwrap();
    let cancel = sluice_worker::from_commands(&p, other, &out, t0());
    let outcome = store
        .apply_steps(
            &[],
            &[
                StepWrite { request: id, expected_revision: 1, state: &a, changes: &changes },
                StepWrite { request: other, expected_revision: o.revision, state: &b, changes: &cancel },
            ],
        )
        .await
        .unwrap();
    assert_eq!(outcome, vec![StepOutcome::Conflict, StepOutcome::Applied { revision: 2 }]);
    assert_eq!(store.request(other).await.unwrap().status, RequestStatus::Canceled);
    assert_eq!(store.request(id).await.unwrap().revision, 2);
}
both!(a_stale_revision_is_refused_and_writes_nothing);

async fn a_failing_statement_leaves_nothing_half_applied(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let (id, inst) = start(&store, &p, "ORD-1", t0()).await;
    let before = (
        db.count(EVENT_COUNT).await,
        db.count("SELECT COUNT(*) FROM jobs").await,
        db.count("SELECT COUNT(*) FROM subscriptions").await,
    );
    // A well-formed change whose last subscription collides with the one before it.
    let mut changes = Changes::new(t0());
    changes.record(sluice_engine::HistoryEntry::new(
        Some("approve".into()),
        sluice_engine::HistoryEvent::ElementActivated,
    ));
    changes.jobs_added.push(NewJob {
        id: sluice_store::JobId::new(),
        kind: JobKind::Signal,
        due_at: t0(),
        subscription: None,
        token: None,
        element_id: None,
        payload: json!({}),
    });
    let sub = NewSubscription {
        subscription: SubscriptionId(90),
        kind: SubscriptionKind::Signal,
        element_id: "wait_paid".into(),
        name: "go".into(),
        correlation_key: None,
    };
    changes.subscriptions_opened = vec![sub.clone(), sub];
    let err = store.apply_step(id, 1, &inst, &changes).await.unwrap_err();
    assert!(matches!(err, Error::Db(_)), "{err}");
    assert_eq!(store.request(id).await.unwrap().revision, 1);
    let after = (
        db.count(EVENT_COUNT).await,
        db.count("SELECT COUNT(*) FROM jobs").await,
        db.count("SELECT COUNT(*) FROM subscriptions").await,
    );
    assert_eq!(before, after);

    // A batch with one broken creation writes none of its steps either.
    let fresh = RequestId::new();
    let new = NewRequest { id: fresh, process_key: "review", process_version: 1, parent: None, state: &inst };
    let ok = Changes::new(t0());
    let err = store.apply_steps(&[(new, &ok), (new, &ok)], &[]).await.unwrap_err();
    assert!(matches!(err, Error::RequestExists(r) if r == fresh), "{err}");
    assert!(matches!(store.request(fresh).await, Err(Error::RequestNotFound(_))));
    // An unknown process version is refused before anything is written.
    let bad = NewRequest { id: fresh, process_key: "review", process_version: 9, parent: None, state: &inst };
    assert!(matches!(store.create_request(&bad, &ok).await, Err(Error::ProcessNotFound { .. })));
}
both!(a_failing_statement_leaves_nothing_half_applied);

async fn a_reopened_database_has_everything(db: Arc<TestDb>) {
    let p = review();
    let store = db.open().await;
    deploy(&store).await;
    let (id, inst) = start(&store, &p, "ORD-1", t0()).await;
    let events = store.request_events(id).await.unwrap();
    store.close().await;
    drop(store);

    let store = db.open().await;
    let loaded = store.load_request(id).await.unwrap();
    assert_eq!(loaded.revision, 1);
    assert_eq!(serde_json::to_value(&loaded.instance).unwrap(), serde_json::to_value(&inst).unwrap());
    assert_eq!(store.request_events(id).await.unwrap(), events);
    assert_eq!(store.tasks(Some(id), Some(TaskStatus::Active)).await.unwrap().len(), 1);
    assert_eq!(store.due_jobs(t0() + chrono::Duration::hours(2), 10).await.unwrap().len(), 1);
    assert_eq!(store.process_xml("review", 1).await.unwrap(), REVIEW);
}
both!(a_reopened_database_has_everything);

async fn requests_page_newest_first_with_a_cursor(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let mut ids = Vec::new();
    for i in 0..5 {
        let (id, _) = start(&store, &p, &format!("ORD-{i}"), t0() + chrono::Duration::seconds(i)).await;
        ids.push(id);
    }
    // Two in the same millisecond are ordered by id.
    let (same, _) = start(&store, &p, "ORD-same", t0() + chrono::Duration::seconds(4)).await;
    let mut newest_first: Vec<RequestId> = ids.clone();
    newest_first.push(same);
    newest_first.sort_by_key(|id| {
        std::cmp::Reverse((if *id == same { 4 } else { ids.iter().position(|x| x == id).unwrap() as i64 }, *id))
    });

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store.list_requests(&RequestFilter::default(), 4, cursor.as_deref()).await.unwrap();
        pages += 1;
        seen.extend(page.requests.iter().map(|r| r.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(seen, newest_first);

    // The same pages with each Request's state, as `load_request` gives it.
    let (first, next) = store.list_loaded_requests(&RequestFilter::default(), 4, None).await.unwrap();
    let (rest, last) = store.list_loaded_requests(&RequestFilter::default(), 4, next.as_deref()).await.unwrap();
    assert_eq!(last, None);
    let loaded: Vec<RequestId> = first.iter().chain(&rest).map(|r| r.meta.id).collect();
    assert_eq!(loaded, newest_first);
    for r in first.iter().chain(&rest) {
        let one = store.load_request(r.meta.id).await.unwrap();
        assert_eq!((&r.meta, r.revision), (&one.meta, one.revision));
        assert_eq!(serde_json::to_value(&r.instance).unwrap(), serde_json::to_value(&one.instance).unwrap());
    }

    // Cancel one; filter by status and process.
    let o = store.load_request(ids[0]).await.unwrap();
    let mut inst = o.instance.clone();
    let mut out = Vec::new();
    inst.step(&p, Input::Cancel, t0(), &mut out).unwrap();
    store.apply_step(ids[0], 1, &inst, &sluice_worker::from_commands(&p, ids[0], &out, t0())).await.unwrap();
    let canceled = RequestFilter { status: Some(RequestStatus::Canceled), ..Default::default() };
    let page = store.list_requests(&canceled, 10, None).await.unwrap();
    assert_eq!((page.requests.iter().map(|r| r.id).collect::<Vec<_>>(), page.next_cursor), (vec![ids[0]], None));
    let active =
        RequestFilter { process_key: Some("review".into()), status: Some(RequestStatus::Active), ..Default::default() };
    assert_eq!(store.list_requests(&active, 10, None).await.unwrap().requests.len(), 5);
    let none = RequestFilter { process_key: Some("other".into()), ..Default::default() };
    assert!(store.list_requests(&none, 10, None).await.unwrap().requests.is_empty());
    assert!(matches!(
        store.list_requests(&RequestFilter::default(), 10, Some("garbage")).await,
        Err(Error::BadCursor(_))
    ));
}
both!(requests_page_newest_first_with_a_cursor);

async fn subscriptions_are_found_by_name_and_key(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let (a, inst_a) = start(&store, &p, "ORD-1", t0()).await;
    let (b, inst_b) = start(&store, &p, "ORD-2", t0()).await;
    let open = |id: u32, kind, name: &str, key: Option<&str>| NewSubscription {
        subscription: SubscriptionId(id),
        kind,
        element_id: "wait_paid".into(),
        name: name.into(),
        correlation_key: key.map(str::to_string),
    };
    let mut ca = Changes::new(t0());
    ca.subscriptions_opened =
        vec![open(50, SubscriptionKind::Signal, "go", None), open(51, SubscriptionKind::Message, "any", None)];
    store.apply_step(a, 1, &inst_a, &ca).await.unwrap();
    let mut cb = Changes::new(t0() + chrono::Duration::seconds(1));
    cb.subscriptions_opened =
        vec![open(60, SubscriptionKind::Signal, "go", None), open(61, SubscriptionKind::Message, "keyed", Some("K"))];
    store.apply_step(b, 1, &inst_b, &cb).await.unwrap();

    let signals = store.signal_subscriptions("go").await.unwrap();
    assert_eq!(
        signals.iter().map(|s| (s.request_id, s.subscription)).collect::<Vec<_>>(),
        vec![(a, SubscriptionId(50)), (b, SubscriptionId(60))]
    );
    assert!(store.signal_subscriptions("stop").await.unwrap().is_empty());
    // A subscription without a key takes any message of its name.
    assert_eq!(store.find_message_subscription("any", Some("whatever")).await.unwrap().map(|s| s.request_id), Some(a));
    assert_eq!(store.find_message_subscription("any", None).await.unwrap().map(|s| s.request_id), Some(a));
    assert_eq!(store.find_message_subscription("keyed", Some("K")).await.unwrap().map(|s| s.request_id), Some(b));
    assert!(store.find_message_subscription("keyed", Some("L")).await.unwrap().is_none());
    assert!(store.find_message_subscription("keyed", None).await.unwrap().is_none());

    // Closing removes the row.
    let mut close = Changes::new(t0());
    close.subscriptions_closed.push(SubscriptionId(61));
    store.apply_step(b, 2, &inst_b, &close).await.unwrap();
    assert!(store.find_message_subscription("keyed", Some("K")).await.unwrap().is_none());
}
both!(subscriptions_are_found_by_name_and_key);

async fn concurrent_claims_never_hand_out_a_job_twice(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let (id, inst) = start(&store, &p, "ORD-1", t0()).await;
    let mut changes = Changes::new(t0());
    for i in 0..60u32 {
        changes.jobs_added.push(NewJob {
            id: sluice_store::JobId::new(),
            kind: JobKind::Connector,
            due_at: t0(),
            subscription: None,
            token: Some(TokenId(100 + i)),
            element_id: Some("approve".into()),
            payload: json!({"n": i}),
        });
    }
    store.apply_step(id, 1, &inst, &changes).await.unwrap();

    // Two processes' worth of pools claim at once.
    let other = db.open().await;
    let now = t0() + chrono::Duration::seconds(1);
    let claim = |s: Store, node: &'static str| async move {
        let mut got = Vec::new();
        loop {
            let jobs = s.claim_jobs(node, now, 4, Duration::from_secs(30)).await.unwrap();
            if jobs.is_empty() {
                break got;
            }
            got.extend(jobs.into_iter().map(|j| j.id));
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(claim(store.clone(), "a")), tokio::spawn(claim(other.clone(), "b")));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut all: Vec<_> = a.iter().chain(b.iter()).copied().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), a.len() + b.len(), "a job was claimed twice");
    // Every due job was claimed (the review's timer is not due yet).
    assert_eq!(all.len(), 60, "claimed {} + {}", a.len(), b.len());
}
both!(concurrent_claims_never_hand_out_a_job_twice);

async fn claims_respect_leases(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let (id, _) = start(&store, &p, "ORD-1", t0()).await;
    let due = t0() + chrono::Duration::hours(1);
    let secs = chrono::Duration::seconds;
    // Node a claims the job (a long job lease) and then leases its Request for 30 s, as the worker does.
    let first = store.claim_jobs("a", due, 10, Duration::from_secs(600)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(store.request_lease(id).await.unwrap(), Some(("a".to_string(), due + secs(5))), "provisional");
    assert_eq!(store.claim_request_leases("a", &[id], due, due + secs(30)).await.unwrap(), vec![id]);
    assert!(store.claim_jobs("b", due + secs(10), 10, Duration::from_secs(600)).await.unwrap().is_empty());
    assert!(store.claim_jobs("a", due + secs(10), 10, Duration::from_secs(600)).await.unwrap().is_empty());
    assert!(store.due_jobs(due + secs(10), 10).await.unwrap().is_empty());
    // Node a died: once its Request lease ran out (long before the job lease) the job is handed
    // out again, a second attempt, and the Request provisionally leased to b.
    let again = store.claim_jobs("b", due + secs(31), 10, Duration::from_secs(600)).await.unwrap();
    assert_eq!(
        (again.len(), again[0].id, again[0].attempts, again[0].locked_by.as_deref()),
        (1, first[0].id, 2, Some("b"))
    );
    assert_eq!(store.request_lease(id).await.unwrap(), Some(("b".to_string(), due + secs(36))));
    // Node b dies before taking its real lease: the provisional one frees the job after 5 s.
    assert!(store.claim_jobs("c", due + secs(36), 10, Duration::from_secs(600)).await.unwrap().is_empty());
    let third = store.claim_jobs("c", due + secs(37), 10, Duration::from_secs(600)).await.unwrap();
    assert_eq!((third.len(), third[0].attempts, third[0].locked_by.as_deref()), (1, 3, Some("c")));
    // A claim never shortens the claimer's own live lease.
    assert_eq!(store.claim_request_leases("c", &[id], due + secs(37), due + secs(100)).await.unwrap(), vec![id]);
    assert!(store.unclaim_job(third[0].id, "c").await.unwrap());
    assert_eq!(store.claim_jobs("c", due + secs(38), 10, Duration::from_secs(600)).await.unwrap().len(), 1);
    assert_eq!(store.request_lease(id).await.unwrap(), Some(("c".to_string(), due + secs(100))));
    // Nor does the holder claim its own job again while it holds it.
    assert!(store.claim_jobs("c", due + secs(50), 10, Duration::from_secs(600)).await.unwrap().is_empty());
    // A failure gives it back for later, with the error kept.
    let retry = due + chrono::Duration::minutes(5);
    assert!(store.release_job(third[0].id, "connection refused", retry).await.unwrap());
    assert!(store.due_jobs(retry - chrono::Duration::seconds(1), 10).await.unwrap().is_empty());
    let back = store.due_jobs(retry, 10).await.unwrap();
    assert_eq!((back[0].last_error.as_deref(), back[0].locked_by.as_deref()), (Some("connection refused"), None));
    assert!(store.complete_job(back[0].id).await.unwrap());
    assert!(store.due_jobs(retry, 10).await.unwrap().is_empty());
}
both!(claims_respect_leases);

async fn prune_removes_only_long_finished_requests(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let (old, inst) = start(&store, &p, "ORD-1", t0()).await;
    let (live, _) = start(&store, &p, "ORD-2", t0()).await;
    let (recent, inst_r) = start(&store, &p, "ORD-3", t0()).await;
    for (id, inst, at) in [(old, inst, t0()), (recent, inst_r, t0() + chrono::Duration::days(10))] {
        let mut i = inst.clone();
        let mut out = Vec::new();
        i.step(&p, Input::Cancel, at, &mut out).unwrap();
        store.apply_step(id, 1, &i, &sluice_worker::from_commands(&p, id, &out, at)).await.unwrap();
    }
    let live_events = store.request_events(live).await.unwrap().len();
    let stats = store.prune_history(t0() + chrono::Duration::days(1), 1).await.unwrap();
    assert_eq!(stats.requests, 1);
    assert!(stats.events > 0);
    assert!(matches!(store.request(old).await, Err(Error::RequestNotFound(_))));
    assert!(store.request_events(old).await.unwrap().is_empty());
    assert!(store.tasks(Some(old), None).await.unwrap().is_empty());
    assert_eq!(store.request_events(live).await.unwrap().len(), live_events);
    assert_eq!(store.request(recent).await.unwrap().status, RequestStatus::Canceled);
    assert_eq!(db.count(&format!("SELECT COUNT(*) FROM event_batches WHERE request_id = '{old}'")).await, 0);
}
both!(prune_removes_only_long_finished_requests);

// ---- schema 2: tokens, settings, worker queries ----

const V1_SQLITE: &str = include_str!("../migrations/sqlite/0001_init.sql");
const V1_POSTGRES: &str = include_str!("../migrations/postgres/0001_init.sql");

async fn a_schema_1_database_migrates_to_2(db: Arc<TestDb>) {
    // A database as schema 1 left it, with a deployed version and a Request, built by hand.
    db.create_empty().await;
    let v1 = if db.kind == Kind::Sqlite { V1_SQLITE } else { V1_POSTGRES };
    db.exec(v1).await;
    db.exec(
        "CREATE TABLE sluice_schema (version BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);
         INSERT INTO sluice_schema (version, name, applied_at) VALUES (1, 'init', 0);
         INSERT INTO process_versions (process_key, version, name, xml, content_hash, deployed_at)
         VALUES ('old', 1, 'Old', '<old/>', 'h0', 0);
         INSERT INTO requests (id, process_key, process_version, status, state, data, revision, created_at, updated_at)
         VALUES ('0190b4c4-0000-7000-8000-000000000001', 'old', 1, 'active', '{}', '{}', 1, 0, 0);",
    )
    .await;

    let store = db.open().await;
    // Every later migration ran too (numbers may have gaps: one row per migration).
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert!(db.count("SELECT COUNT(*) FROM sluice_schema WHERE version = 2").await == 1);
    // What schema 1 held is still there and readable.
    assert_eq!(store.process_xml("old", 1).await.unwrap(), "<old/>");
    assert_eq!(store.count_requests(None).await.unwrap(), 1);
    assert_eq!(store.count_requests(Some("active")).await.unwrap(), 1);
    // The new tables work.
    assert_eq!(store.setting_or_insert("k", "v").await.unwrap(), "v");
    store.add_api_token("ci", "hash-1").await.unwrap();
    assert_eq!(store.api_token_hashes().await.unwrap(), vec!["hash-1".to_string()]);
    store.close().await;
    // And a newer schema than this build's is still refused.
    let future = SCHEMA_VERSION + 1;
    db.exec(&format!("INSERT INTO sluice_schema (version, name, applied_at) VALUES ({future}, 'future', 0)")).await;
    let err = Store::open(&db.url, db.options()).await.unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooNew { found, known, .. } if found == future && known == SCHEMA_VERSION),
        "{err}"
    );
}
both!(a_schema_1_database_migrates_to_2);

async fn history_written_by_schema_7_reads_the_same_after_8(db: Arc<TestDb>) {
    // A database as schema 7 left it, with a Request whose history rows carry every field (and
    // the `seq` that schema 7 wrote).
    db.create_empty().await;
    db.exec("CREATE TABLE sluice_schema (version BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
        .await;
    let backend = if db.kind == Kind::Sqlite { Backend::Sqlite } else { Backend::Postgres };
    for (version, name, sql) in sluice_store::migration_scripts(backend).take_while(|(v, ..)| *v <= 7) {
        db.exec(sql).await;
        db.exec(&format!("INSERT INTO sluice_schema (version, name, applied_at) VALUES ({version}, '{name}', 0)"))
            .await;
    }
    let rid = "0190b4c4-0000-7000-8000-000000000001";
    let (e1, e2, e3) = (
        "0190b4c4-0000-7000-8000-0000000000e1",
        "0190b4c4-0000-7000-8000-0000000000e2",
        "0190b4c4-0000-7000-8000-0000000000e3",
    );
    db.exec(&format!(
        r#"INSERT INTO process_versions (process_key, version, name, xml, content_hash, deployed_at)
           VALUES ('old', 1, 'Old', '<old/>', 'h0', 0);
           INSERT INTO requests (id, process_key, process_version, status, state, data, revision, created_at, updated_at)
           VALUES ('{rid}', 'old', 1, 'active', '{{}}', '{{}}', 2, 1000, 2000);
           INSERT INTO event_batches (request_id, revision, part, n, events) VALUES
           ('{rid}', 1, 0, 2, '[{{"id":"{e1}","seq":0,"at":1000,"type":"request_started","element_id":null,"payload":{{"process_key":"old","process_version":1}}}},{{"id":"{e2}","seq":1,"at":1000,"type":"element_activated","element_id":"start","payload":{{}}}}]'),
           ('{rid}', 2, 0, 1, '[{{"id":"{e3}","seq":0,"at":2000,"type":"element_completed","element_id":"start","payload":{{}}}}]');"#
    ))
    .await;

    let store = db.open().await;
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let events = store.request_events(rid.parse().unwrap()).await.unwrap();
    let seen: Vec<_> = events
        .iter()
        .map(|e| {
            (e.id.to_string(), e.at.timestamp_millis(), e.kind.as_str(), e.element_id.as_deref(), e.payload.clone())
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (e1.to_string(), 1000, "request_started", None, json!({"process_key": "old", "process_version": 1})),
            (e2.to_string(), 1000, "element_activated", Some("start"), json!({})),
            (e3.to_string(), 2000, "element_completed", Some("start"), json!({})),
        ]
    );

    // A Request written now reads back with every field, though its rows leave the usual values
    // out (an event without an element, `{}` payloads, the previous event's time).
    deploy(&store).await;
    let p = review();
    let (id, _) = start(&store, &p, "A-1", t0()).await;
    let events = store.request_events(id).await.unwrap();
    assert_eq!(events[0].kind, "request_started");
    assert_eq!(events[0].element_id, None);
    assert_eq!(events[0].payload, json!({"process_key": "review", "process_version": 1}));
    assert!(events.iter().all(|e| e.at == t0() && e.payload.is_object()), "{events:?}");
    assert!(events.iter().skip(1).all(|e| e.element_id.is_some()), "{events:?}");
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), events.len());
    let verbose = db
        .count(&format!(
            r#"SELECT COUNT(*) FROM event_batches WHERE request_id = '{id}'
               AND (events LIKE '%"seq"%' OR events LIKE '%"element_id":null%' OR events LIKE '%"payload":{{}}%')"#
        ))
        .await;
    assert_eq!(verbose, 0, "the usual values are left out of the rows");
    store.close().await;
}
both!(history_written_by_schema_7_reads_the_same_after_8);

async fn api_tokens_and_settings(db: Arc<TestDb>) {
    let store = db.open().await;
    assert!(store.api_token_hashes().await.unwrap().is_empty());
    store.add_api_token("ci", "hash-a").await.unwrap();
    store.add_api_token("laptop", "hash-b").await.unwrap();
    assert_eq!(store.api_token_hashes().await.unwrap(), vec!["hash-a".to_string(), "hash-b".to_string()]);
    // The same hash twice is refused (unique), and nothing else changes.
    assert!(store.add_api_token("again", "hash-a").await.is_err());
    assert_eq!(store.api_token_hashes().await.unwrap().len(), 2);

    assert_eq!(store.setting("secret").await.unwrap(), None);
    assert_eq!(store.setting_or_insert("secret", "first").await.unwrap(), "first");
    assert_eq!(store.setting_or_insert("secret", "second").await.unwrap(), "first");
    assert_eq!(store.setting("secret").await.unwrap().as_deref(), Some("first"));
    store.set_setting("secret", "third").await.unwrap();
    assert_eq!(store.setting("secret").await.unwrap().as_deref(), Some("third"));
    store.set_setting("other", "x").await.unwrap();
    assert_eq!(store.setting("other").await.unwrap().as_deref(), Some("x"));

    // Two nodes starting together agree on one value.
    let other = db.open().await;
    let mut handles = Vec::new();
    for i in 0..8 {
        let s = if i % 2 == 0 { store.clone() } else { other.clone() };
        handles.push(tokio::spawn(async move { s.setting_or_insert("node_secret", &format!("v{i}")).await.unwrap() }));
    }
    let mut values = Vec::new();
    for h in handles {
        values.push(h.await.unwrap());
    }
    values.dedup();
    assert_eq!(values.len(), 1, "{values:?}");
    assert_eq!(store.setting("node_secret").await.unwrap(), values.pop());
}
both!(api_tokens_and_settings);

async fn worker_queries_find_children_due_times_and_counts(db: Arc<TestDb>) {
    let store = db.open().await;
    assert_eq!(store.next_due_at().await.unwrap(), None);
    assert_eq!(store.count_requests(None).await.unwrap(), 0);
    assert_eq!(store.count_due_jobs(t0()).await.unwrap(), 0);
    deploy(&store).await;
    let p = review();
    let (parent, _) = start(&store, &p, "ORD-1", t0()).await;
    let due = t0() + chrono::Duration::hours(1);
    assert_eq!(store.next_due_at().await.unwrap(), Some(due));

    // A child of the parent's token 7.
    let mut out = Vec::new();
    let child_inst = Instance::start(&p, data(json!({"order_id": "C"})), Start::Default, t0(), &mut out).unwrap();
    let child = RequestId::new();
    let changes = sluice_worker::from_commands(&p, child, &out, t0());
    let new = NewRequest {
        id: child,
        process_key: "review",
        process_version: 1,
        parent: Some((parent, TokenId(7))),
        state: &child_inst,
    };
    store.create_request(&new, &changes).await.unwrap();
    assert_eq!(store.child_of(parent, 7).await.unwrap(), Some(child));
    assert_eq!(store.child_of(parent, 8).await.unwrap(), None);
    assert_eq!(store.child_of(child, 7).await.unwrap(), None);
    // Listing a Request's children (the web app's links), finished or not.
    let children = RequestFilter { parent: Some(parent), ..Default::default() };
    let listed = store.list_requests(&children, 10, None).await.unwrap();
    assert_eq!(
        listed.requests.iter().map(|r| (r.id, r.parent)).collect::<Vec<_>>(),
        [(child, Some((parent, TokenId(7))))]
    );
    let of_child = RequestFilter { parent: Some(child), ..Default::default() };
    assert!(store.list_requests(&of_child, 10, None).await.unwrap().requests.is_empty());
    assert_eq!(store.count_requests(None).await.unwrap(), 2);
    assert_eq!(store.count_due_jobs(due - chrono::Duration::seconds(1)).await.unwrap(), 0);
    assert_eq!(store.count_due_jobs(due).await.unwrap(), 2);

    // A claimed job counts again (and is next due) when its lease runs out.
    let claimed = store.claim_jobs("a", due, 1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(store.count_due_jobs(due).await.unwrap(), 1);
    assert_eq!(store.count_due_jobs(due + chrono::Duration::seconds(30)).await.unwrap(), 2);
    store.claim_jobs("a", due, 1, Duration::from_secs(60)).await.unwrap();
    assert_eq!(store.next_due_at().await.unwrap(), Some(due + chrono::Duration::seconds(30)));

    // A finished child is no longer the token's child.
    step(&store, &p, child, Input::Cancel, t0(), &[]).await;
    assert_eq!(store.child_of(parent, 7).await.unwrap(), None);
    assert_eq!(store.count_requests(Some("canceled")).await.unwrap(), 1);
    assert_eq!(store.count_requests(Some("active")).await.unwrap(), 1);
    assert_eq!(store.count_requests(Some("bogus")).await.unwrap(), 0);
}
both!(worker_queries_find_children_due_times_and_counts);

/// A review Request called by `parent`'s `token`, as a creation op (completing `job`, if any).
fn child_op(p: &Process, parent: RequestId, token: u32, job: Option<sluice_store::JobId>) -> sluice_store::WriteOp {
    let mut out = Vec::new();
    let inst = Instance::start_called(p, data(json!({"order_id": "C"})), 0, t0(), &mut out).unwrap();
    let id = RequestId::new();
    let mut changes = sluice_worker::from_commands(p, id, &out, t0());
    if let Some(job) = job {
        changes.complete_job(job);
    }
    sluice_store::WriteOp::Create {
        id,
        process_key: "review".into(),
        process_version: 1,
        parent: Some((parent, TokenId(token))),
        state: sluice_store::StateColumns::of(&inst).unwrap(),
        changes,
        require_latest: false,
        lease: sluice_store::LeaseChange::Keep,
    }
}

fn op_id(op: &sluice_store::WriteOp) -> RequestId {
    match op {
        sluice_store::WriteOp::Create { id, .. } => *id,
        sluice_store::WriteOp::Step { request, .. } => *request,
    }
}

/// A job of `request` for its `token` (`start_child` or `cancel_child`), written with a step that
/// changes nothing else.
async fn add_call_job(
    store: &Store,
    p: &Process,
    request: RequestId,
    kind: JobKind,
    token: u32,
) -> sluice_store::JobId {
    let loaded = store.load_request(request).await.unwrap();
    let mut changes = sluice_worker::from_commands(p, request, &[], t0());
    let id = sluice_store::JobId::new();
    changes.jobs_added.push(NewJob {
        id,
        kind,
        due_at: t0(),
        subscription: None,
        token: Some(TokenId(token)),
        element_id: None,
        payload: json!({"token": token}),
    });
    store.apply_step(request, loaded.revision, &loaded.instance, &changes).await.unwrap();
    id
}

/// Cancel is final: a child is created only under callers that are all unfinished, and only by
/// the write that completes its `start_child` job while that job is still there; what a
/// `cancel_child` job finds of a call; a Request is not pruned before its `cancel_child` jobs ran.
async fn children_are_created_only_under_unfinished_callers(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let (root, _) = start(&store, &p, "ROOT", t0()).await;
    let (other, _) = start(&store, &p, "OTHER", t0()).await;
    // root → mid (token 7), started by a start_child job of root's.
    let job = add_call_job(&store, &p, root, JobKind::StartChild, 7).await;
    assert_eq!(store.call_child(root, 7).await.unwrap(), CallChild::Starting);
    let mid_op = child_op(&p, root, 7, Some(job));
    let mid = op_id(&mid_op);
    assert_eq!(store.write_one(&mid_op).await.unwrap(), sluice_store::WriteResult::Created { leased: false });
    assert_eq!(store.call_child(root, 7).await.unwrap(), CallChild::Running(mid));
    assert_eq!(store.call_child(root, 8).await.unwrap(), CallChild::None);
    // The same job again (a second run of it): its child exists already, no second one.
    let again = store.write_one(&child_op(&p, root, 7, Some(job))).await;
    assert!(matches!(again, Err(Error::JobGone(j)) if j == job), "{again:?}");

    // The root is canceled; mid itself is still active (its cancel_child job has not run).
    step(&store, &p, root, Input::Cancel, t0(), &[]).await;
    let requests = || async { db.count("SELECT COUNT(*) FROM requests").await };
    assert_eq!(requests().await, 3);
    for (parent, why) in
        [(root, "the parent ended"), (mid, "a caller further up ended"), (RequestId::new(), "no parent")]
    {
        let refused = store.write_one(&child_op(&p, parent, 1, None)).await;
        assert!(matches!(refused, Err(Error::ParentEnded(r)) if r == parent), "{why}: {refused:?}");
    }
    let job = add_call_job(&store, &p, mid, JobKind::StartChild, 2).await;
    let refused = store.write_one(&child_op(&p, mid, 2, Some(job))).await;
    assert!(matches!(refused, Err(Error::ParentEnded(r)) if r == mid), "{refused:?}");
    assert_eq!(store.call_child(mid, 2).await.unwrap(), CallChild::Starting, "the job is left to the worker");
    // In a batch, a refused child holds up nothing.
    let fine = child_op(&p, other, 1, None);
    let fine_id = op_id(&fine);
    let results = store.write_batch(&[child_op(&p, mid, 3, None), fine]).await.unwrap();
    assert!(matches!(results[0], Err(Error::ParentEnded(_))), "{:?}", results[0]);
    assert_eq!(results[1].as_ref().unwrap(), &sluice_store::WriteResult::Created { leased: false });
    assert_eq!(store.request(fine_id).await.unwrap().parent, Some((other, TokenId(1))));
    assert_eq!(requests().await, 4);

    // The canceled root is kept while a cancel_child job of its waits, then pruned.
    let cancel = add_call_job(&store, &p, root, JobKind::CancelChild, 7).await;
    let later = t0() + chrono::Duration::days(2);
    assert_eq!(store.prune_history(later, 10).await.unwrap().requests, 0);
    store.complete_job(cancel).await.unwrap();
    assert_eq!(store.prune_history(later, 10).await.unwrap().requests, 1);
    assert!(matches!(store.request(root).await, Err(Error::RequestNotFound(_))));
}
both!(children_are_created_only_under_unfinished_callers);

async fn original_bytes_are_kept_beside_the_text(db: Arc<TestDb>) {
    let store = db.open().await;
    let bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><x n=\"Pr\xFCfen\"/>".to_vec();
    let text = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><x n=\"Pr\u{fc}fen\"/>";
    assert_eq!(store.deploy_source("latin", None, text, &bytes, "h1").await.unwrap(), (1, true));
    assert_eq!(store.deploy_source("latin", None, text, &bytes, "h1").await.unwrap(), (1, false));
    assert_eq!(store.process_source("latin", 1).await.unwrap(), bytes);
    assert_eq!(store.process_xml("latin", 1).await.unwrap(), text);
    // UTF-8 files keep only their text; the source is that text's bytes.
    store.deploy_version("plain", None, "<y/>", "h2").await.unwrap();
    assert_eq!(store.process_source("plain", 1).await.unwrap(), b"<y/>".to_vec());
    assert_eq!(db.count("SELECT COUNT(*) FROM process_versions WHERE xml_bytes IS NULL").await, 1);
    assert!(matches!(store.process_source("nothing", 1).await, Err(Error::ProcessNotFound { .. })));
    // Kept across a reopen.
    store.close().await;
    let store = db.open().await;
    assert_eq!(store.process_source("latin", 1).await.unwrap(), bytes);
}
both!(original_bytes_are_kept_beside_the_text);

async fn request_leases_are_taken_atomically_and_expire(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let (r1, _) = start(&store, &p, "ORD-1", t0()).await;
    let (r2, _) = start(&store, &p, "ORD-2", t0()).await;
    let until = t0() + chrono::Duration::seconds(30);
    assert_eq!(store.request_lease(r1).await.unwrap(), None);
    let mut both = vec![r1, r2];
    both.sort();
    assert_eq!(store.claim_request_leases("a", &[r2, r1, r1, RequestId::new()], t0(), until).await.unwrap(), both);
    assert_eq!(store.request_lease(r1).await.unwrap(), Some(("a".to_string(), until)));
    // Another node gets nothing while a's leases live (up to and including lease_until)...
    assert!(store.claim_request_leases("b", &[r1, r2], until, until).await.unwrap().is_empty());
    // ...and its claims skip their jobs, which stay due.
    let due = t0() + chrono::Duration::hours(1);
    let later = until + chrono::Duration::hours(1);
    assert_eq!(store.renew_leases("a", later).await.unwrap(), 2);
    assert!(store.claim_jobs("b", due, 10, Duration::from_secs(30)).await.unwrap().is_empty());
    assert_eq!(store.count_due_jobs(due).await.unwrap(), 2);
    // a itself may claim them, and renew its own lease by claiming again.
    let jobs = store.claim_jobs("a", due, 1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(jobs.len(), 1);
    // Giving a claim back undoes it: unlocked, no attempt counted; only the holder can.
    assert!(!store.unclaim_job(jobs[0].id, "b").await.unwrap());
    assert!(store.unclaim_job(jobs[0].id, "a").await.unwrap());
    let back = store.due_jobs(due, 10).await.unwrap();
    assert_eq!(back.len(), 2);
    assert!(back.iter().all(|j| j.attempts == 0 && j.locked_by.is_none()), "{back:?}");
    // Expired: b takes one atomically, the other stays a's once renewed.
    let after = later + chrono::Duration::milliseconds(1);
    assert_eq!(
        store.claim_request_leases("b", &[r1], after, after + chrono::Duration::seconds(30)).await.unwrap(),
        vec![r1]
    );
    assert_eq!(store.renew_leases("a", after + chrono::Duration::seconds(30)).await.unwrap(), 1);
    assert_eq!(store.request_lease(r1).await.unwrap().map(|(o, _)| o), Some("b".to_string()));
    assert_eq!(store.request_lease(r2).await.unwrap().map(|(o, _)| o), Some("a".to_string()));
    // Racing takers of a free Request: exactly one wins.
    assert_eq!(store.release_leases("b").await.unwrap(), 1);
    let other = db.open().await;
    let take = |s: Store, node: &'static str| async move {
        s.claim_request_leases(node, &[r1], after, after + chrono::Duration::seconds(30)).await.unwrap()
    };
    let (x, y) = tokio::join!(tokio::spawn(take(store.clone(), "x")), tokio::spawn(take(other, "y")));
    assert_eq!(x.unwrap().len() + y.unwrap().len(), 1);
    // Releasing gives everything back at once.
    assert_eq!(store.release_leases("a").await.unwrap(), 1);
    assert_eq!(store.request_lease(r2).await.unwrap(), None);
    assert!(matches!(store.request_lease(RequestId::new()).await, Err(Error::RequestNotFound(_))));
}
both!(request_leases_are_taken_atomically_and_expire);

/// The worker's claim: jobs and the leases of their Requests in one write, the lease taken
/// whole (not the provisional grace of a bare claim), and a Request another node holds left out
/// of both.
async fn jobs_and_their_request_leases_are_claimed_in_one_write(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let (r1, _) = start(&store, &p, "ORD-1", t0()).await;
    let (r2, _) = start(&store, &p, "ORD-2", t0()).await;
    let due = t0() + chrono::Duration::hours(1);
    let until = due + chrono::Duration::seconds(30);
    assert_eq!(store.claim_request_leases("b", &[r2], t0(), until).await.unwrap(), vec![r2]);
    let (jobs, held) = store.claim_jobs_leased("a", due, 10, Duration::from_secs(30), until).await.unwrap();
    assert_eq!(jobs.iter().map(|j| j.request_id).collect::<Vec<_>>(), vec![Some(r1)]);
    assert_eq!(held, vec![r1]);
    assert_eq!(store.request_lease(r1).await.unwrap(), Some(("a".to_string(), until)));
    assert_eq!(store.request_lease(r2).await.unwrap(), Some(("b".to_string(), until)));
    // Nothing else is claimable now: r1's job is claimed, r2's Request is b's.
    let (none, held) = store.claim_jobs_leased("c", due, 10, Duration::from_secs(30), until).await.unwrap();
    assert!(none.is_empty() && held.is_empty());
}
both!(jobs_and_their_request_leases_are_claimed_in_one_write);

/// The rows of a table as text, one string per row, in a stable order (ids of events left out:
/// they are fresh UUIDs on every write).
async fn dump(db: &TestDb, store_schema: Option<&str>, sql: &str) -> Vec<String> {
    match db.kind {
        Kind::Sqlite => {
            let url = match store_schema {
                Some(file) => format!("sqlite://{}", db.dir.as_ref().unwrap().join(file).display()),
                None => db.url.clone(),
            };
            let pool = SqlitePoolOptions::new().max_connections(1).connect(&url).await.unwrap();
            let rows = sqlx::query_scalar::<_, String>(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        }
        Kind::Postgres => {
            let mut o = PgConnectOptions::from_str(&db.url).unwrap();
            let schema = store_schema.map(str::to_string).or_else(|| db.schema.clone()).unwrap();
            o = o.options([("search_path", schema.as_str())]);
            let pool = PgPoolOptions::new().max_connections(1).connect_with(o).await.unwrap();
            let rows = sqlx::query_scalar::<_, String>(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows
        }
    }
}

const DUMPS: [&str; 5] = [
    "SELECT id || '|' || process_key || '|' || CAST(process_version AS TEXT) || '|' || status || '|' || state || '|' \
     || data || '|' || CAST(revision AS TEXT) || '|' || CAST(created_at AS TEXT) || '|' || CAST(updated_at AS TEXT) \
     || '|' || COALESCE(CAST(completed_at AS TEXT), '-') FROM requests ORDER BY id",
    "SELECT id || '|' || request_id || '|' || CAST(token AS TEXT) || '|' || element_id || '|' || status || '|' \
     || CAST(created_at AS TEXT) || '|' || COALESCE(CAST(completed_at AS TEXT), '-') FROM tasks ORDER BY id",
    "SELECT id || '|' || COALESCE(request_id, '-') || '|' || kind || '|' || COALESCE(CAST(subscription AS TEXT), '-') \
     || '|' || CAST(due_at AS TEXT) || '|' || payload || '|' || CAST(attempts AS TEXT) FROM jobs ORDER BY id",
    "SELECT request_id || '|' || CAST(subscription AS TEXT) || '|' || kind || '|' || name || '|' \
     || COALESCE(correlation_key, '-') FROM subscriptions ORDER BY request_id, subscription",
    "SELECT request_id || '|' || CAST(revision AS TEXT) || '|' || CAST(part AS TEXT) || '|' || CAST(n AS TEXT) \
     FROM event_batches ORDER BY request_id, revision, part",
];

/// How many history events the database holds (`event_batches` rows hold `n` each).
const EVENT_COUNT: &str = "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM event_batches";

/// The same ops written one by one (`write_one`) and as batches (`write_batch`) leave the same
/// rows; per-op refusals inside a batch (a stale revision, an unknown version) hold up nothing.
/// Another empty store beside the test's (a file `<tag>.db`, or a schema `<schema>_<tag>`) and
/// the name [`dump`] reads it by.
async fn other_store(db: &TestDb, tag: &str) -> (Store, String) {
    match db.kind {
        Kind::Sqlite => {
            let file = format!("{tag}.db");
            let url = format!("sqlite://{}", db.dir.as_ref().unwrap().join(&file).display());
            (Store::open(&url, StoreOptions::default()).await.unwrap(), file)
        }
        Kind::Postgres => {
            let schema = format!("{}_{tag}", db.schema.as_ref().unwrap());
            let options = StoreOptions { postgres_schema: Some(schema.clone()), ..StoreOptions::default() };
            (Store::open(&db.url, options).await.unwrap(), schema)
        }
    }
}

async fn a_batch_writes_the_same_rows_as_one_op_at_a_time(db: Arc<TestDb>) {
    use sluice_store::{LeaseChange, StateColumns, WriteOp, WriteResult};
    let one = db.open().await;
    let (second, second_name) = other_store(&db, "b").await;
    // A third store is written through the group-commit writer: on SQLite, it runs the
    // statements on its own connection, not through sqlx.
    let (third, third_name) = other_store(&db, "c").await;
    let committer = sluice_store::Committer::start(third.clone(), 64);
    // All of a phase's ops at once, so they share batches.
    let committed = |ops: &[WriteOp]| {
        let handles: Vec<_> = ops
            .iter()
            .cloned()
            .map(|op| {
                let c = committer.clone();
                tokio::spawn(async move { c.write(op).await.map_err(|e| e.to_string()) })
            })
            .collect();
        async move {
            let mut out = Vec::new();
            for h in handles {
                out.push(h.await.unwrap());
            }
            out
        }
    };
    let p = review();
    for s in [&one, &second, &third] {
        deploy(s).await;
    }
    let ids: Vec<RequestId> = (0..6).map(|_| RequestId::new()).collect();
    let mut states: Vec<Instance> = Vec::new();

    // Phase 1: six creations and one of an unknown version.
    let mut phase: Vec<WriteOp> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut out = Vec::new();
        let at = t0() + chrono::Duration::seconds(i as i64);
        let inst =
            Instance::start(&p, data(json!({"order_id": format!("ORD-{i}")})), Start::Default, at, &mut out).unwrap();
        let changes = sluice_worker::from_commands(&p, *id, &out, at);
        phase.push(WriteOp::Create {
            id: *id,
            process_key: "review".into(),
            process_version: 1,
            parent: None,
            state: StateColumns::of(&inst).unwrap(),
            changes,
            require_latest: true,
            lease: LeaseChange::Keep,
        });
        states.push(inst);
    }
    let mut out = Vec::new();
    let inst = Instance::start(&p, Data::new(), Start::Default, t0(), &mut out).unwrap();
    let ghost = RequestId::new();
    phase.push(WriteOp::Create {
        id: ghost,
        process_key: "review".into(),
        process_version: 7,
        parent: None,
        state: StateColumns::of(&inst).unwrap(),
        changes: sluice_worker::from_commands(&p, ghost, &out, t0()),
        require_latest: false,
        lease: LeaseChange::Keep,
    });
    let phases = [phase];

    // Later phases are computed from the states, the same for both stores.
    let tasks_of = |store: &Store| {
        let store = store.clone();
        async move { store.tasks(None, Some(TaskStatus::Active)).await.unwrap() }
    };
    let mut results_one = Vec::new();
    for op in &phases[0] {
        results_one.push(one.write_one(op).await.map_err(|e| e.to_string()));
    }
    let results_batch: Vec<Result<WriteResult, String>> =
        second.write_batch(&phases[0]).await.unwrap().into_iter().map(|r| r.map_err(|e| e.to_string())).collect();
    assert_eq!(results_one, results_batch);
    assert_eq!(committed(&phases[0]).await, results_batch);
    assert_eq!(results_batch[..6], vec![Ok(WriteResult::Created { leased: false }); 6]);
    assert!(results_batch[6].as_ref().unwrap_err().contains("version 7"), "{:?}", results_batch[6]);

    // Phase 2: tasks 0..4 completed, Request 4 canceled, Request 5 written at a stale revision.
    let tasks = tasks_of(&one).await;
    let mut phase = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let at = t0() + chrono::Duration::minutes(5 + i as i64);
        let mut out = Vec::new();
        let input = match i {
            0..4 => {
                let token = tasks.iter().find(|t| t.request_id == *id).unwrap().token;
                Input::CompleteTask { token, data: data(json!({"ok": i})) }
            }
            _ => Input::Cancel,
        };
        states[i].step(&p, input, at, &mut out).unwrap();
        let changes = sluice_worker::from_commands(&p, *id, &out, at);
        let expected_revision = if i == 5 { 7 } else { 1 };
        phase.push(WriteOp::Step {
            request: *id,
            expected_revision,
            state: StateColumns::of(&states[i]).unwrap(),
            changes,
            lease: LeaseChange::Keep,
        });
    }
    let mut results_one = Vec::new();
    for op in &phase {
        results_one.push(one.write_one(op).await.unwrap());
    }
    let results_batch = second.write_batch(&phase).await.unwrap().into_iter().map(Result::unwrap).collect::<Vec<_>>();
    assert_eq!(results_one, results_batch);
    assert_eq!(committed(&phase).await, results_batch.iter().copied().map(Ok).collect::<Vec<_>>());
    assert_eq!(results_batch[5], WriteResult::Conflict);
    assert_eq!(results_batch[0], WriteResult::Applied { revision: 2, leased: false });

    // Phase 3: the payment messages reach Requests 0..2, which complete.
    let mut phase = Vec::new();
    for (i, id) in ids.iter().enumerate().take(3) {
        let at = t0() + chrono::Duration::hours(1) + chrono::Duration::seconds(i as i64);
        let sub = one.find_message_subscription("paid", Some(&format!("ORD-{i}"))).await.unwrap().unwrap();
        let mut out = Vec::new();
        let input = Input::MessageReceived { subscription: sub.subscription, data: data(json!({"paid": i})) };
        states[i].step(&p, input, at, &mut out).unwrap();
        let changes = sluice_worker::from_commands(&p, *id, &out, at);
        phase.push(WriteOp::Step {
            request: *id,
            expected_revision: 2,
            state: StateColumns::of(&states[i]).unwrap(),
            changes,
            lease: LeaseChange::Keep,
        });
    }
    for op in &phase {
        assert_eq!(one.write_one(op).await.unwrap(), WriteResult::Applied { revision: 3, leased: false });
    }
    for r in second.write_batch(&phase).await.unwrap() {
        assert_eq!(r.unwrap(), WriteResult::Applied { revision: 3, leased: false });
    }
    for r in committed(&phase).await {
        assert_eq!(r.unwrap(), WriteResult::Applied { revision: 3, leased: false });
    }

    for sql in DUMPS {
        let a = dump(&db, None, sql).await;
        let b = dump(&db, Some(&second_name), sql).await;
        assert!(!a.is_empty() || sql.contains("subscriptions") || sql.contains("jobs"), "{sql}");
        assert_eq!(a, b, "{sql}");
        assert_eq!(a, dump(&db, Some(&third_name), sql).await, "{sql} (through the group-commit writer)");
    }
    // The events themselves, but for their ids (fresh UUIDs on every write).
    for id in &ids {
        let strip = |events: Vec<sluice_store::EventRow>| {
            events.into_iter().map(|e| (e.at, e.kind, e.element_id, e.payload)).collect::<Vec<_>>()
        };
        let a = strip(one.request_events(*id).await.unwrap());
        assert!(!a.is_empty());
        assert_eq!(a, strip(second.request_events(*id).await.unwrap()));
        assert_eq!(a, strip(third.request_events(*id).await.unwrap()));
    }
    assert_eq!(one.count_requests(Some("completed")).await.unwrap(), 3);
    second.close().await;
    drop(committer);
    third.close().await;
    if db.kind == Kind::Postgres {
        db.exec(&format!("DROP SCHEMA IF EXISTS {second_name} CASCADE")).await;
        db.exec(&format!("DROP SCHEMA IF EXISTS {third_name} CASCADE")).await;
    }
}
both!(a_batch_writes_the_same_rows_as_one_op_at_a_time);

/// A connector job for the review Request (the store does not check that a token waits for it).
fn connector_job(token: u32, due: DateTime<Utc>) -> NewJob {
    NewJob {
        id: sluice_store::JobId::new(),
        kind: JobKind::Connector,
        due_at: due,
        subscription: None,
        token: Some(TokenId(token)),
        element_id: Some("approve".into()),
        payload: json!({}),
    }
}

async fn handed_off_writes_take_the_lease_and_claim_their_jobs(db: Arc<TestDb>) {
    use sluice_store::{LeaseChange, StateColumns, WriteOp, WriteResult};
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let secs = chrono::Duration::seconds;
    let take = |node: &str, now: DateTime<Utc>, jobs: Vec<sluice_store::JobId>| LeaseChange::Take {
        node: node.into(),
        now,
        until: now + secs(30),
        jobs_until: now + secs(30),
        jobs,
    };

    // A creation that hands its connector job off to node a: leased, the job claimed (attempt 1).
    let mut out = Vec::new();
    let inst = Instance::start(&p, data(json!({"order_id": "ORD-1"})), Start::Default, t0(), &mut out).unwrap();
    let id = RequestId::new();
    let mut changes = sluice_worker::from_commands(&p, id, &out, t0());
    let j1 = connector_job(100, t0());
    let j1_id = j1.id;
    changes.jobs_added.push(j1);
    let state = || StateColumns::of(&inst).unwrap();
    let created = store
        .write_one(&WriteOp::Create {
            id,
            process_key: "review".into(),
            process_version: 1,
            parent: None,
            state: state(),
            changes,
            require_latest: false,
            lease: take("a", t0(), vec![j1_id]),
        })
        .await
        .unwrap();
    assert_eq!(created, WriteResult::Created { leased: true });
    assert_eq!(store.request_lease(id).await.unwrap(), Some(("a".to_string(), t0() + secs(30))));
    // Nobody claims it through the job table while a runs it, a included.
    assert!(store.claim_jobs("b", t0() + secs(1), 10, Duration::from_secs(30)).await.unwrap().is_empty());
    assert!(store.claim_jobs("a", t0() + secs(1), 10, Duration::from_secs(30)).await.unwrap().is_empty());

    // Node b writes a step while a's lease lives: the lease stays a's and b's new job is left unclaimed.
    let at = t0() + secs(2);
    let mut changes = Changes::new(at);
    let j2 = connector_job(101, at);
    let j2_id = j2.id;
    changes.jobs_added.push(j2);
    let op =
        WriteOp::Step { request: id, expected_revision: 1, state: state(), changes, lease: take("b", at, vec![j2_id]) };
    assert_eq!(store.write_one(&op).await.unwrap(), WriteResult::Applied { revision: 2, leased: false });
    assert_eq!(store.request_lease(id).await.unwrap().map(|(o, _)| o), Some("a".to_string()));
    let claimed = store.claim_jobs("a", at, 10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(claimed.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(), vec![(j2_id, 1)]);
    assert!(store.unclaim_job(j2_id, "a").await.unwrap());

    // Node a's chain ends: it lets go of the lease in the step itself; a release by b does nothing.
    let at = t0() + secs(3);
    let release = |expected_revision: i64, node: &str| WriteOp::Step {
        request: id,
        expected_revision,
        state: state(),
        changes: Changes::new(at),
        lease: LeaseChange::Release { node: node.into() },
    };
    assert_eq!(store.write_one(&release(2, "b")).await.unwrap(), WriteResult::Applied { revision: 3, leased: false });
    assert_eq!(store.request_lease(id).await.unwrap().map(|(o, _)| o), Some("a".to_string()));
    assert_eq!(store.write_one(&release(3, "a")).await.unwrap(), WriteResult::Applied { revision: 4, leased: false });
    assert_eq!(store.request_lease(id).await.unwrap(), None);

    // A free Request: b's step takes it and claims its job; a stale revision takes nothing.
    let at = t0() + secs(4);
    let mut changes = Changes::new(at);
    let j3 = connector_job(102, at);
    let j3_id = j3.id;
    changes.jobs_added.push(j3);
    let stale = WriteOp::Step {
        request: id,
        expected_revision: 3,
        state: state(),
        changes: changes.clone(),
        lease: take("c", at, vec![j3_id]),
    };
    assert_eq!(store.write_one(&stale).await.unwrap(), WriteResult::Conflict);
    assert_eq!(store.request_lease(id).await.unwrap(), None);
    let op =
        WriteOp::Step { request: id, expected_revision: 4, state: state(), changes, lease: take("b", at, vec![j3_id]) };
    assert_eq!(store.write_one(&op).await.unwrap(), WriteResult::Applied { revision: 5, leased: true });
    assert_eq!(store.request_lease(id).await.unwrap(), Some(("b".to_string(), at + secs(30))));
    // b's job (claimed) and j2 (free, but the Request is b's) are not a's to claim.
    assert!(store.claim_jobs("a", at, 10, Duration::from_secs(30)).await.unwrap().is_empty());

    // b dies: once its lease has run out, a takes over its jobs, j3 as its second attempt (and
    // j1, whose claim ran out long ago, as its second too).
    let later = at + secs(31);
    let mut taken = store.claim_jobs("a", later, 10, Duration::from_secs(30)).await.unwrap();
    taken.sort_by_key(|j| j.token.map(|t| t.0));
    assert_eq!(taken.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(), vec![(j1_id, 2), (j2_id, 1), (j3_id, 2)]);
    // a's claim leased the Request provisionally (5 s); once that ran out, the next step that
    // asks for the lease takes it.
    let at = later + secs(6);
    let op = WriteOp::Step {
        request: id,
        expected_revision: 5,
        state: state(),
        changes: Changes::new(at),
        lease: take("c", at, vec![]),
    };
    assert_eq!(store.write_one(&op).await.unwrap(), WriteResult::Applied { revision: 6, leased: true });
    assert_eq!(store.request_lease(id).await.unwrap().map(|(o, _)| o), Some("c".to_string()));
}
both!(handed_off_writes_take_the_lease_and_claim_their_jobs);

both!(a_history_read_in_pages_is_the_whole_history);

async fn a_history_read_in_pages_is_the_whole_history(db: Arc<TestDb>) {
    let store = db.open().await;
    deploy(&store).await;
    let p = review();
    let (id, inst) = start(&store, &p, "ORD-9", t0()).await;
    let token = inst.tasks()[0].token;
    let at = t0() + chrono::Duration::minutes(5);
    step(&store, &p, id, Input::CompleteTask { token, data: data(json!({"ok": true})) }, at, &[]).await;
    // And two notifications recorded beside the steps (rows of their own under one revision).
    for n in 0..2 {
        let event = sluice_engine::HistoryEvent::IncidentResolved { incident_id: n };
        store.record_notification(id, None, &[sluice_store::NewEvent::new(None, event, at)]).await.unwrap();
    }
    let whole = store.request_events(id).await.unwrap();
    assert!(whole.len() >= 8, "{whole:?}");
    for limit in 1..=whole.len() + 1 {
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..=whole.len() + 1 {
            let (page, next) = store.request_events_page(id, limit, cursor.as_deref()).await.unwrap();
            assert!(page.len() <= limit);
            paged.extend(page);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(paged, whole, "limit {limit}");
    }
    assert!(matches!(store.request_events_page(id, 5, Some("x.y")).await, Err(sluice_store::Error::BadCursor(_))));
}
