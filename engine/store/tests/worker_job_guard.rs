//! A job worker's completion is a step guarded by the job's activation (`Changes::job_guard`):
//! written only while the job is still at that generation, in the step's own transaction, so a
//! completion racing a new activation after its lock ran out, or coming after the job was let go
//! by a failure with retries left, changes nothing. On SQLite and on
//! PostgreSQL like `store.rs`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::Duration;
use serde_json::json;
use sluice_engine::runtime::TokenId;
use sluice_engine::{Instance, Start};
use sluice_store::{Changes, Error, JobId, JobKind, NewJob, NewRequest, RequestId, Store};
use sluice_test_support::{TestDb, both, data, process, t0};

const GATE: &str = include_str!("models/gate.bpmn");

async fn guarded_steps(db: Arc<TestDb>) {
    let store: Store = db.open().await;
    store.deploy_version("gate", None, GATE, "h1").await.unwrap();
    let p = process(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models"), "gate.bpmn", "gate");
    let mut out = Vec::new();
    let inst = Instance::start(&p, data(json!({ "x": 5 })), Start::Default, t0(), &mut out).unwrap();
    let id = RequestId::new();
    let job = JobId::new();
    let mut changes = Changes::new(t0());
    changes.jobs_added.push(NewJob {
        id: job,
        kind: JobKind::Worker,
        due_at: t0(),
        subscription: None,
        token: Some(TokenId(1)),
        element_id: Some("approve".into()),
        payload: json!({ "job_type": "t", "retries": 3 }),
    });
    let new = NewRequest { id, process_key: "gate", process_version: 1, parent: None, state: &inst };
    store.create_request(&new, &changes).await.unwrap();

    // Activation 1, whose lock runs out; activation 2 takes the job.
    let types = ["t".to_owned()];
    let first = store.activate_worker_jobs("a", Some(&types), t0(), 10, t0() + Duration::seconds(1)).await.unwrap();
    assert_eq!(first.iter().map(|j| j.generation).collect::<Vec<_>>(), [1]);
    let later = t0() + Duration::seconds(2);
    let second = store.activate_worker_jobs("b", Some(&types), later, 10, later + Duration::seconds(60)).await.unwrap();
    assert_eq!(second.iter().map(|j| j.generation).collect::<Vec<_>>(), [2]);

    // The first worker's completion: refused, nothing written.
    let completion = |generation: i64| {
        let mut ch = Changes::new(later);
        ch.complete_job(job);
        ch.job_guard = Some((job, generation));
        ch
    };
    let err = store.apply_step(id, 1, &inst, &completion(1)).await.unwrap_err();
    assert!(matches!(err, Error::JobLockLost(j) if j == job), "{err:?}");
    assert_eq!(store.request(id).await.unwrap().revision, 1);
    assert!(store.worker_job(job).await.unwrap().is_some());

    // The second fails with retries left: the job is let go, and the same activation can no
    // longer complete it.
    assert!(matches!(store.retry_worker_job(job, 2, 2, later, "busy").await.unwrap(), sluice_store::Held::Yes(_)));
    let err = store.apply_step(id, 1, &inst, &completion(2)).await.unwrap_err();
    assert!(matches!(err, Error::JobLockLost(j) if j == job), "{err:?}");
    assert_eq!(store.request(id).await.unwrap().revision, 1);

    // The third activation's completion: written, the job deleted with it; once more, the job is
    // gone.
    let third = store.activate_worker_jobs("c", Some(&types), later, 10, later + Duration::seconds(60)).await.unwrap();
    assert_eq!(third.iter().map(|j| j.generation).collect::<Vec<_>>(), [3]);
    assert_eq!(store.apply_step(id, 1, &inst, &completion(3)).await.unwrap(), 2);
    assert!(store.worker_job(job).await.unwrap().is_none());
    let err = store.apply_step(id, 2, &inst, &completion(3)).await.unwrap_err();
    assert!(matches!(err, Error::JobGone(j) if j == job), "{err:?}");
    assert_eq!(store.request(id).await.unwrap().revision, 2);
    store.close().await;
}
both!(guarded_steps);
