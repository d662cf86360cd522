//! Notifications through the outbox, with a scripted provider and explicit time (nothing sleeps):
//! jobs commit with the step that caused them, retryable failures wait out the backoff (at least
//! `Retry-After`) and give up after `max_attempts`, permanent failures are recorded at once, and
//! none of it touches the Request. On SQLite; the store functions it uses are tested on both
//! backends in `sluice-store`.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use sluice_connector_api::Registry;
use sluice_store::{JobKind, NotificationEvent, NotificationSettings, RequestStatus, TaskStatus};
use sluice_test_support::{Kind, fresh};
use sluice_worker::{Backoff, BoxFuture, Delivered, Engine, EngineOptions, Notification, Notifications, NotifyError};

const TASK: &str = include_str!("models/task.bpmn");

/// Answers per channel, in order; the last answer repeats.
struct Scripted {
    answers: Mutex<HashMap<String, Vec<Result<(), NotifyError>>>>,
    delivered: Mutex<Vec<(String, u32)>>,
}

impl Notifications for Scripted {
    fn settings<'a>(
        &'a self,
        process_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<NotificationSettings>, sluice_store::Error>> {
        let settings = NotificationSettings {
            process_key: process_key.to_string(),
            integration: "default".into(),
            events: BTreeMap::from([
                (NotificationEvent::RequestStarted, vec!["C1".to_string()]),
                (NotificationEvent::TaskWaiting, vec!["C2".to_string()]),
                (NotificationEvent::RequestCompleted, vec!["C3".to_string()]),
            ]),
            options: Default::default(),
            updated_at: Utc::now(),
        };
        Box::pin(std::future::ready(Ok(Some(settings))))
    }

    fn deliver<'a>(&'a self, n: &'a Notification, attempt: u32) -> BoxFuture<'a, Result<Delivered, NotifyError>> {
        self.delivered.lock().unwrap().push((n.channel.clone(), attempt));
        let mut answers = self.answers.lock().unwrap();
        let queue = answers.get_mut(&n.channel).unwrap();
        let answer = if queue.len() > 1 { queue.remove(0) } else { queue[0].clone() };
        let result = answer.map(|()| Delivered { channel: n.channel.clone(), ts: format!("1.{attempt}") });
        Box::pin(std::future::ready(result))
    }
}

fn retry(after: Option<u64>) -> Result<(), NotifyError> {
    Err(NotifyError::Retryable { message: "Slack is unavailable".into(), retry_after: after.map(Duration::from_secs) })
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

#[tokio::test]
async fn notifications_go_through_the_outbox_and_never_touch_the_request() {
    let db = fresh(Kind::Sqlite, "notify-worker").await.unwrap();
    let store = db.open().await;
    let scripted = Arc::new(Scripted {
        answers: Mutex::new(HashMap::from([
            ("C1".to_string(), vec![retry(Some(10)), Ok(())]),
            (
                "C2".to_string(),
                vec![Err(NotifyError::Failed {
                    code: Some("not_in_channel".into()),
                    message: "invite the bot to C2".into(),
                })],
            ),
            ("C3".to_string(), vec![retry(None)]),
        ])),
        delivered: Mutex::new(Vec::new()),
    });
    let options = EngineOptions {
        max_attempts: 3,
        backoff: Backoff { base: Duration::from_secs(1), max: Duration::from_secs(60), jitter: 0.0, seed: 1 },
        public_url: "http://sluice.test".into(),
        ..EngineOptions::default()
    };
    let engine =
        Engine::new(store.clone(), Registry::default(), options).await.unwrap().with_notifications(scripted.clone());
    engine.deploy(&[("task.bpmn".into(), TASK.as_bytes().to_vec())]).await.unwrap();

    let id = engine.start_request("approval", None, Default::default(), t0()).await.unwrap();
    // Committed with the creation: started (C1) and waiting (C2).
    let due = store.due_jobs(t0(), 10).await.unwrap();
    let notes: Vec<&Value> =
        due.iter().filter(|j| j.kind == JobKind::Notification).map(|j| &j.payload["channel"]).collect();
    assert_eq!(notes, ["C1", "C2"]);
    let waiting = due.iter().find(|j| j.payload["channel"] == "C2").unwrap();
    let task = store.tasks(Some(id), Some(TaskStatus::Active)).await.unwrap()[0].id;
    assert_eq!(waiting.payload["task_id"], task.to_string());
    assert_eq!(waiting.payload["url"], format!("http://sluice.test/requests/{id}"));

    engine.run_due_jobs(t0(), 10).await.unwrap();
    // C1 waits for Retry-After (10 s), longer than the backoff (1 s).
    engine.run_due_jobs(t0() + chrono::Duration::seconds(5), 10).await.unwrap();
    assert_eq!(*scripted.delivered.lock().unwrap(), [("C1".to_string(), 1), ("C2".to_string(), 1)]);
    engine.run_due_jobs(t0() + chrono::Duration::seconds(11), 10).await.unwrap();

    engine.complete_task(task, Default::default(), t0() + chrono::Duration::seconds(20)).await.unwrap();
    for minutes in 1..10 {
        engine.run_due_jobs(t0() + chrono::Duration::minutes(minutes), 10).await.unwrap();
    }
    assert!(store.due_jobs(t0() + chrono::Duration::days(1), 10).await.unwrap().is_empty(), "nothing left behind");
    let c3: Vec<u32> = scripted.delivered.lock().unwrap().iter().filter(|(c, _)| c == "C3").map(|(_, a)| *a).collect();
    assert_eq!(c3, [1, 2, 3], "tried max_attempts times");

    let history = store.request_events(id).await.unwrap();
    let notes: Vec<(String, String)> = history
        .iter()
        .filter(|e| e.kind.starts_with("notification_"))
        .map(|e| (e.kind.clone(), e.payload["channel"].as_str().unwrap().to_string()))
        .collect();
    let expected = [("notification_failed", "C2"), ("notification_sent", "C1"), ("notification_failed", "C3")];
    assert_eq!(notes, expected.map(|(k, c)| (k.to_string(), c.to_string())));
    let by = |channel: &str| history.iter().find(|e| e.payload["channel"] == channel).unwrap();
    assert_eq!(by("C1").payload["attempts"], 2);
    assert_eq!(by("C1").payload["ts"], "1.2");
    assert_eq!(by("C2").payload["error"], "not_in_channel");
    assert_eq!(by("C2").payload["message"], "invite the bot to C2");
    assert_eq!(by("C2").element_id.as_deref(), Some("approve"));
    let gave_up = by("C3").payload["message"].as_str().unwrap();
    assert!(gave_up.contains("Slack is unavailable") && gave_up.contains("gave up after 3 attempts"), "{gave_up}");

    // The Request went on as if every notification had arrived.
    let r = store.request(id).await.unwrap();
    assert_eq!(r.status, RequestStatus::Completed);
}
