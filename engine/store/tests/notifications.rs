//! Notification settings and the history notifications leave, on SQLite and on PostgreSQL
//! (`SLUICE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`, each test in a
//! schema of its own; `SLUICE_TEST_SKIP_POSTGRES=1` skips PostgreSQL).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use serde_json::{Map, json};
use sluice_bpmn::Process;
use sluice_engine::{HistoryEvent, Input, Instance, NotificationRef, Start};
use sluice_store::{
    DirectMessage, JobId, JobKind, NewEvent, NewJob, NewRequest, NotificationEvent, NotificationOptions,
    NotificationSettings, RequestId, Store,
};
use sluice_test_support::{both, process, t0};

const REVIEW: &str = include_str!("models/review.bpmn");

fn review() -> Arc<Process> {
    process(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models"), "review.bpmn", "review")
}

/// A `notification_sent` event whose `attempts` is `n` (to tell the records apart).
fn sent(n: u32) -> NewEvent {
    let about = NotificationRef {
        notification: NotificationEvent::TaskWaiting,
        integration: "default".into(),
        channel: "C1".into(),
        task_id: None,
    };
    let event = HistoryEvent::NotificationSent { about, ts: "1.2".into(), attempts: i64::from(n) };
    NewEvent::new(None, event, Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, n).unwrap())
}

both!(settings_are_stored_per_process_and_replaced, sluice_test_support::with_store);
async fn settings_are_stored_per_process_and_replaced(store: &Store) {
    assert_eq!(store.notification_settings("review").await.unwrap(), None);
    let mut s = NotificationSettings {
        process_key: "review".into(),
        integration: "default".into(),
        events: BTreeMap::from([
            (NotificationEvent::RequestStarted, vec!["C1".to_string(), "C2".to_string()]),
            (NotificationEvent::TaskWaiting, vec!["G3".to_string()]),
        ]),
        options: NotificationOptions {
            direct_message: DirectMessage::Also,
            templates: BTreeMap::from([(NotificationEvent::TaskWaiting, "Amount: {{ amount }}".to_string())]),
        },
        updated_at: t0(),
    };
    store.put_notification_settings(&s).await.unwrap();
    assert_eq!(store.notification_settings("review").await.unwrap().as_ref(), Some(&s));
    assert_eq!(store.notification_settings("other").await.unwrap(), None);
    s.integration = "sales".into();
    s.events = BTreeMap::from([(NotificationEvent::RequestError, vec!["C9".to_string()])]);
    s.options = NotificationOptions::default();
    store.put_notification_settings(&s).await.unwrap();
    let got = store.notification_settings("review").await.unwrap().unwrap();
    assert_eq!(got, s);
    assert_eq!(got.channels(NotificationEvent::RequestStarted), &[] as &[String]);
}

both!(settings_are_found_by_the_integration_they_use, sluice_test_support::with_store);
async fn settings_are_found_by_the_integration_they_use(store: &Store) {
    assert!(store.notification_settings_using("ops").await.unwrap().is_empty());
    for (key, integration) in [("zeta", "ops"), ("alpha", "ops"), ("mid", "sales")] {
        let s = NotificationSettings {
            process_key: key.into(),
            integration: integration.into(),
            events: BTreeMap::from([(NotificationEvent::RequestStarted, vec!["C1".to_string()])]),
            options: NotificationOptions::default(),
            updated_at: t0(),
        };
        store.put_notification_settings(&s).await.unwrap();
    }
    assert_eq!(store.notification_settings_using("ops").await.unwrap(), ["alpha", "zeta"]);
    assert_eq!(store.notification_settings_using("sales").await.unwrap(), ["mid"]);
    assert!(store.notification_settings_using("Ops").await.unwrap().is_empty(), "aliases are exact");
}

both!(a_secret_setting_is_replaced, sluice_test_support::with_store);
async fn a_secret_setting_is_replaced(store: &Store) {
    store.replace_secret_setting("k", "sealed").await.unwrap();
    assert_eq!(store.setting("k").await.unwrap().as_deref(), Some("sealed"));
    store.set_setting("k", "plain").await.unwrap();
    store.replace_secret_setting("k", "sealed again").await.unwrap();
    assert_eq!(store.setting("k").await.unwrap().as_deref(), Some("sealed again"));
    // The store goes on writing as before (secure_delete is off again on SQLite).
    store.set_setting("other", "x").await.unwrap();
    assert_eq!(store.setting("other").await.unwrap().as_deref(), Some("x"));
}

both!(notifications_are_recorded_after_their_step_with_their_job_removed, sluice_test_support::with_store);
async fn notifications_are_recorded_after_their_step_with_their_job_removed(store: &Store) {
    let p = review();
    store.deploy_version("review", Some("Review"), REVIEW, "h1").await.unwrap();
    let t0 = t0();
    let mut out = Vec::new();
    let mut inst = Instance::start(&p, Map::new(), Start::Default, t0, &mut out).unwrap();
    let id = RequestId::new();
    let mut changes = sluice_worker::from_commands(&p, id, &out, t0);
    let job = JobId::new();
    changes.jobs_added.push(NewJob {
        id: job,
        kind: JobKind::Notification,
        due_at: t0,
        subscription: None,
        token: None,
        element_id: None,
        payload: json!({"event": "request_started"}),
    });
    let new = NewRequest { id, process_key: "review", process_version: 1, parent: None, state: &inst };
    store.create_request(&new, &changes).await.unwrap();
    let jobs = |s: &Store| {
        let s = s.clone();
        async move { s.due_jobs(t0 + chrono::Duration::days(1), 100).await.unwrap() }
    };
    assert!(jobs(store).await.iter().any(|j| j.id == job && j.kind == JobKind::Notification));

    assert!(store.record_notification(id, Some(job), &[sent(1)]).await.unwrap());
    assert!(!jobs(store).await.iter().any(|j| j.id == job), "the job went with its record");

    // A step after it (revision 2), then several notifications at once: none collides, and the
    // history keeps the order in which they were written.
    let r = store.load_request(id).await.unwrap();
    let task = store.tasks(Some(id), None).await.unwrap()[0].token;
    out.clear();
    inst.step(&p, Input::CompleteTask { token: task, data: Map::new() }, t0, &mut out).unwrap();
    let changes = sluice_worker::from_commands(&p, id, &out, t0);
    store.apply_step(id, r.revision, &inst, &changes).await.unwrap();
    let mut writers = Vec::new();
    for n in 2..12 {
        let s = store.clone();
        writers.push(tokio::spawn(async move { s.record_notification(id, None, &[sent(n)]).await }));
    }
    for w in writers {
        assert!(w.await.unwrap().unwrap());
    }
    let history = store.request_events(id).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    let first = kinds.iter().position(|k| *k == "notification_sent").unwrap();
    assert_eq!(kinds[0], "request_started");
    assert!(kinds[..first].contains(&"task_created"), "{kinds:?}");
    assert!(kinds[first + 1..].contains(&"task_completed"), "the step came after the first record: {kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "notification_sent").count(), 11);
    let last = history.last().unwrap();
    assert_eq!(last.kind, "notification_sent", "{kinds:?}");

    // A Request that is gone: nothing recorded, the job removed all the same.
    assert!(!store.record_notification(RequestId::new(), None, &[sent(0)]).await.unwrap());
}
