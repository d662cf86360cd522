//! Cancel is final (issue 18): canceling a Request cancels every Request below it, durably
//! (across a restart too), and a canceled tree gets no new children, not even from a
//! `start_child` job that was already running when the cancel committed.
//!
//! Every test runs twice, on SQLite and on PostgreSQL (see `worker.rs`). Time is passed
//! explicitly: nothing sleeps, but for the PostgreSQL half of the race test, which waits until a
//! transaction is seen blocked.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sluice_connector_api::Registry;
use sluice_engine::Instance;
use sluice_engine::runtime::Data;
use sluice_store::{Error as StoreError, LeaseChange, RequestId, RequestStatus, StateColumns, WriteOp, WriteResult};
use sluice_test_support::{Kind, TestDb, both, model_file, process, t0};
use sluice_worker::{Backoff, Engine, EngineOptions, from_commands};

/// This crate's test models.
const MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models");
/// The runtime's test models (the process that calls itself).
const ENGINE_MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/models");

// ---- helpers ----

fn options(node: &str) -> EngineOptions {
    EngineOptions {
        node_id: node.to_string(),
        backoff: Backoff { base: Duration::from_secs(10), max: Duration::from_secs(600), jitter: 0.0, seed: 7 },
        ..EngineOptions::default()
    }
}

/// An engine of node `node` on a store of its own on the test's database (as a process would
/// open it after a restart).
async fn engine(db: &TestDb, node: &str) -> Engine {
    Engine::new(db.open().await, Registry::default(), options(node)).await.unwrap()
}

async fn deploy(engine: &Engine, dir: &str, name: &str) {
    engine.deploy(&[model_file(dir, name)]).await.unwrap();
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// Runs due jobs at `now` until none is due; returns how many ran.
async fn drain(engine: &Engine, now: DateTime<Utc>) -> usize {
    let mut total = 0;
    for _ in 0..500 {
        let n = engine.run_due_jobs(now, 100).await.unwrap();
        if n == 0 {
            return total;
        }
        total += n;
    }
    panic!("jobs keep coming at {now}");
}

/// Runs the worker until no job is left at all: at `from`, then ten minutes later and so on
/// (jobs given back wait out their backoff, a dead node's claims its leases).
async fn settle(engine: &Engine, from: DateTime<Utc>) {
    for k in 0..50 {
        drain(engine, from + chrono::Duration::minutes(10 * k)).await;
        if engine.store().next_due_at().await.unwrap().is_none() {
            return;
        }
    }
    panic!("jobs are still left: {:?}", engine.store().next_due_at().await.unwrap());
}

/// How many rows `sql` (a `SELECT COUNT(*) …`) counts.
async fn count(db: &TestDb, sql: &str) -> i64 {
    db.count(sql).await
}

async fn requests(db: &TestDb) -> i64 {
    count(db, "SELECT COUNT(*) FROM requests").await
}

/// Requests not finished: active, or waiting on an incident.
async fn unfinished(db: &TestDb) -> i64 {
    count(db, "SELECT COUNT(*) FROM requests WHERE status IN ('active', 'error')").await
}

async fn status(engine: &Engine, id: RequestId) -> RequestStatus {
    engine.store().request(id).await.unwrap().status
}

/// Every Request in the database is `root` or below it: walks the parent links up from each.
async fn all_below(engine: &Engine, db: &TestDb, root: RequestId) {
    let total = requests(db).await;
    let mut cursor = None;
    let mut seen = 0;
    loop {
        let page = engine.store().list_requests(&Default::default(), 100, cursor.as_deref()).await.unwrap();
        for r in &page.requests {
            let mut at = r.clone();
            while let Some((parent, _)) = at.parent {
                at = engine.store().request(parent).await.unwrap();
            }
            assert_eq!(at.id, root, "Request {} is not below the root", r.id);
            seen += 1;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, total);
}

// ---- tests ----

/// A root calling three Requests that each call three more, whose leaves wait on user tasks: a
/// cancel of the root reaches all thirteen, and their tasks.
async fn canceling_a_root_cancels_its_whole_tree(db: Arc<TestDb>) {
    let engine = engine(&db, "node-a").await;
    deploy(&engine, MODELS, "tree.bpmn").await;
    let root = engine.start_request("tree_root", None, Data::new(), t0()).await.unwrap();
    settle(&engine, t0()).await;
    assert_eq!((requests(&db).await, unfinished(&db).await), (13, 13));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM tasks WHERE status = 'active'").await, 9);
    all_below(&engine, &db, root).await;

    engine.cancel(root, t0() + secs(1)).await.unwrap();
    settle(&engine, t0() + secs(1)).await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM requests WHERE status = 'canceled'").await, 13);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM tasks WHERE status = 'canceled'").await, 9);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM jobs").await, 0);
}
both!(canceling_a_root_cancels_its_whole_tree);

/// The process that calls itself (one call: a chain; two side by side: a tree that doubles with
/// every level). Once its root's cancel commits, not one more Request is created, though every
/// leaf still has a `start_child` job due, and the cancel reaches every Request.
async fn a_process_that_calls_itself_stops_growing_once_its_root_is_canceled(db: Arc<TestDb>) {
    let engine = engine(&db, "node-a").await;
    deploy(&engine, ENGINE_MODELS, "self_call.bpmn").await;
    deploy(&engine, MODELS, "self_call_twice.bpmn").await;
    for (key, grown) in [("again", 7), ("twice", 127)] {
        db.exec("DELETE FROM requests").await;
        let root = engine.start_request(key, None, Data::new(), t0()).await.unwrap();
        // The worker runs a while: every round starts the children of the newest level.
        for _ in 0..6 {
            engine.run_due_jobs(t0(), 1000).await.unwrap();
        }
        assert_eq!(requests(&db).await, grown, "{key}");
        let starting = count(&db, "SELECT COUNT(*) FROM jobs WHERE kind = 'start_child'").await;
        assert!(starting > 0, "{key}: the tree is still growing");

        engine.cancel(root, t0()).await.unwrap();
        settle(&engine, t0()).await;
        assert_eq!(requests(&db).await, grown, "{key}: no Request was created after the cancel");
        assert_eq!(unfinished(&db).await, 0, "{key}");
        all_below(&engine, &db, root).await;
        // And it stays so.
        settle(&engine, t0() + chrono::Duration::days(1)).await;
        assert_eq!((requests(&db).await, unfinished(&db).await), (grown, 0), "{key}");
    }
}
both!(a_process_that_calls_itself_stops_growing_once_its_root_is_canceled);

/// The node dies after the root's cancel committed, one level into carrying it out, with two of
/// the root's `cancel_child` jobs claimed: another node, on a store opened afresh, finishes the
/// cancel from the outbox (the dead node's claims once their leases ran out).
async fn a_cancel_is_carried_out_after_a_restart(db: Arc<TestDb>) {
    let a = engine(&db, "node-a").await;
    deploy(&a, MODELS, "tree.bpmn").await;
    let root = a.start_request("tree_root", None, Data::new(), t0()).await.unwrap();
    settle(&a, t0()).await;
    assert_eq!(unfinished(&db).await, 13);

    a.cancel(root, t0()).await.unwrap();
    assert_eq!(count(&db, "SELECT COUNT(*) FROM jobs WHERE kind = 'cancel_child'").await, 3);
    assert_eq!(a.run_due_jobs(t0(), 1).await.unwrap(), 1, "one of the root's children canceled");
    let claimed = a.store().claim_jobs("node-a", t0(), 2, Duration::from_secs(30)).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let leased: Vec<RequestId> = claimed.iter().filter_map(|j| j.request_id).collect();
    a.store().claim_request_leases("node-a", &leased, t0(), t0() + secs(30)).await.unwrap();
    drop(a);

    let b = engine(&db, "node-b").await;
    drain(&b, t0()).await;
    // The canceled child's three children are canceled; the root's two other children wait for
    // the dead node's leases.
    assert_eq!(unfinished(&db).await, 8);
    settle(&b, t0() + secs(60)).await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM requests WHERE status = 'canceled'").await, 13);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM tasks WHERE status = 'active'").await, 0);
    assert_eq!(status(&b, root).await, RequestStatus::Canceled);
}
both!(a_cancel_is_carried_out_after_a_restart);

/// What the worker writes for a `start_child` job of `parent` (its first due one): the child's
/// creation, completing the job.
async fn child_creation(engine: &Engine, parent: RequestId) -> WriteOp {
    let jobs = engine.store().due_jobs(t0() + chrono::Duration::days(1), 100).await.unwrap();
    let job = jobs.iter().find(|j| j.request_id == Some(parent) && j.kind == sluice_store::JobKind::StartChild);
    let job = job.expect("a start_child job of the parent");
    let p = process(MODELS, "child.bpmn", "child");
    let mut out = Vec::new();
    let instance = Instance::start_called(&p, Data::new(), 0, t0(), &mut out).unwrap();
    let id = RequestId::new();
    let mut changes = from_commands(&p, id, &out, t0());
    changes.complete_job(job.id);
    WriteOp::Create {
        id,
        process_key: "child".into(),
        process_version: 1,
        parent: Some((parent, job.token.unwrap())),
        state: StateColumns::of(&instance).unwrap(),
        changes,
        require_latest: false,
        lease: LeaseChange::Keep,
    }
}

/// `f`, which must not wait on a transaction the test holds open (a test that hangs would say
/// less than one that fails).
async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f).await.expect("not held up by the open transaction")
}

fn created_id(op: &WriteOp) -> RequestId {
    match op {
        WriteOp::Create { id, .. } => *id,
        WriteOp::Step { request, .. } => *request,
    }
}

/// A `start_child` job that runs after its parent was canceled creates nothing: the creation is
/// refused in its own transaction, and the parent's `cancel_child` job waits for the
/// `start_child` job instead of finding no child and going away. On PostgreSQL, a creation that
/// read the parent just before the cancel committed does commit after it: that child is canceled
/// too.
async fn a_child_started_while_its_parent_is_canceled_does_not_outlive_it(db: Arc<TestDb>) {
    let engine = engine(&db, "node-a").await;
    engine.deploy(&[model_file(MODELS, "child.bpmn"), model_file(MODELS, "parent.bpmn")]).await.unwrap();

    // The creation comes after the cancel: refused, nothing written, the job left to the worker.
    let parent = engine.start_request("parent", None, Data::new(), t0()).await.unwrap();
    let creation = child_creation(&engine, parent).await;
    engine.cancel(parent, t0()).await.unwrap();
    let refused = engine.store().write_one(&creation).await;
    assert!(matches!(refused, Err(StoreError::ParentEnded(p)) if p == parent), "{refused:?}");
    assert_eq!(requests(&db).await, 1);
    // The start_child job is not due yet (say, given back after a failure): the cancel_child job
    // waits for it rather than being dropped.
    let later = (t0() + chrono::Duration::hours(1)).timestamp_millis();
    db.exec(&format!("UPDATE jobs SET due_at = {later} WHERE kind = 'start_child'")).await;
    assert_eq!(drain(&engine, t0()).await, 1, "the cancel_child job ran");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM jobs WHERE kind = 'cancel_child'").await, 1, "and waits");
    settle(&engine, t0()).await;
    assert_eq!(requests(&db).await, 1, "no child");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM jobs").await, 0);

    if db.kind != Kind::Postgres {
        // On SQLite the creation and the cancel take the write lock in turn: the creation's check
        // sees the cancel or comes before it, never in between.
        return;
    }
    // The creation reads the parent, then waits while the cancel commits and the cancel_child
    // job runs: a row with the child's id is being inserted here, uncommitted, so the creation's
    // insert of the child waits to see whether it commits. (Meanwhile it holds the start_child
    // job's row, which the worker's claim skips.)
    let parent = engine.start_request("parent", None, Data::new(), t0()).await.unwrap();
    let creation = child_creation(&engine, parent).await;
    let child = created_id(&creation);
    let pool = db.pg_pool().await;
    let mut lock = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO requests (id, process_key, process_version, status, state, data, revision, created_at, updated_at)
         VALUES ($1, 'child', 1, 'active', '{}', '{}', 1, 0, 0)",
    )
    .bind(child.to_string())
    .execute(&mut *lock)
    .await
    .unwrap();
    let holder: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *lock).await.unwrap();
    let store = engine.store().clone();
    let creating = tokio::spawn(async move { store.write_one(&creation).await });
    let blocked = format!("SELECT COUNT(*) FROM pg_stat_activity WHERE {holder} = ANY(pg_blocking_pids(pid))");
    for _ in 0..500 {
        if count(&db, &blocked).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count(&db, &blocked).await, 1, "the creation waits");

    within(engine.cancel(parent, t0())).await.unwrap();
    assert_eq!(within(drain(&engine, t0())).await, 1, "the cancel_child job ran");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM jobs WHERE kind = 'cancel_child'").await, 1, "and waits");
    lock.rollback().await.unwrap();
    pool.close().await;
    assert_eq!(creating.await.unwrap().unwrap(), WriteResult::Created { leased: false });
    assert_eq!(status(&engine, child).await, RequestStatus::Active, "created under a canceled parent");

    settle(&engine, t0()).await;
    assert_eq!(status(&engine, child).await, RequestStatus::Canceled);
    assert_eq!(unfinished(&db).await, 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM jobs").await, 0);
}
both!(a_child_started_while_its_parent_is_canceled_does_not_outlive_it);
