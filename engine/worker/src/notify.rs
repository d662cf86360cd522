//! The notification port: telling people about Requests (when one starts, waits for a person,
//! completes or fails), planned as outbox jobs with the step that caused them and delivered by
//! the worker like any other job.
//!
//! The engine knows no channel kind. A provider implements [`Notifications`]: it supplies each
//! process's settings (which account of the provider posts, and where each event goes) and
//! delivers one [`Notification`]. Slack is the provider today (`sluice-slack-app`'s
//! `SlackNotifier`); another kind (e-mail, a chat other than Slack) implements the same trait with
//! its own meaning of `integration` (an account) and `channel` (a destination). What the engine
//! does around it:
//!
//! - **Planning.** When a step (or a Request's creation) is written, its history events are
//!   mapped to notification events (`request_started`; `task_created` → `task_waiting`;
//!   `task_overdue`; `request_completed`; `incident_raised` → `request_error`) and each configured channel gets
//!   one `notification` job, committed in the same transaction as the step. A crash between the
//!   step and the post loses nothing.
//! - **Delivery.** A retryable failure (rate limit, 5xx, timeout) gives the job back, due again
//!   after the engine's backoff (at least `Retry-After`); after `max_attempts`, or at once for a
//!   permanent failure (for Slack `channel_not_found`, `invalid_auth`, …), a
//!   `notification_failed` event with the provider's error and what to do about it is recorded. A success records
//!   `notification_sent` with the channel and the message's `ts`. Either record commits with
//!   the job's removal.
//! - **A failed notification never touches the Request**: it does not raise an incident, and the
//!   Request goes on as if it had been delivered.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_bpmn::{Kind, Process, TaskKind};
use sluice_engine::{HistoryEvent, NotificationRef, TaskAssignment};
use sluice_store::{
    DirectMessage, JobId, JobKind, JobRow, NewEvent, NewJob, NotificationEvent, NotificationSettings, RequestId, Store,
};

use crate::{Engine, Error};

/// A boxed future, so that [`Notifications`] can be used as `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One notification to deliver to one channel: the payload of a `notification` job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub event: NotificationEvent,
    /// Which of the provider's accounts delivers it (for Slack: the integration's alias).
    pub integration: String,
    /// Where it goes, in the provider's terms (for Slack: a channel id).
    pub channel: String,
    pub request_id: String,
    pub process_key: String,
    #[serde(default)]
    pub process_name: Option<String>,
    /// The element concerned: the waiting task, the failed element.
    #[serde(default)]
    pub element_id: Option<String>,
    #[serde(default)]
    pub element_name: Option<String>,
    /// For `task_waiting`: the task, so the message can carry buttons that complete it.
    #[serde(default)]
    pub task_id: Option<String>,
    /// For `task_waiting`: whether the task is a user task (decided with Approve and Reject).
    #[serde(default)]
    pub user_task: bool,
    /// For `request_error`: why the element failed.
    #[serde(default)]
    pub message: Option<String>,
    /// The Request's page: `<public_url>/requests/<id>`.
    pub url: String,
    /// The notification job's id, set when it is planned: one message per job, however often
    /// its delivery is tried (providers use it to find a message whose answer was lost).
    #[serde(default)]
    pub job_id: Option<String>,
    /// For `task_waiting` and `task_overdue`: the task's documentation, who it is for and when it
    /// is due, as the step that created it evaluated them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation: Option<String>,
    #[serde(default, flatten)]
    pub assignment: TaskAssignment,
    /// A direct message to this Sluice user (by username) instead of `channel`: the provider
    /// finds the person's account and opens the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_to: Option<String>,
    /// Not a message of its own: the user task `task_id` was completed, so the provider changes
    /// the messages it sent about it waiting to say who completed it and how, without buttons.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closes_task: bool,
    /// With `closes_task`: the decision the completion carried (`approved` in its data), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<bool>,
    /// With `closes_task`: the token whose task was completed (the provider reads the task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<u32>,
}

/// The person a task is meant for: its assignee, else its only candidate user when it has no
/// candidate group. `None` when it is for a group or for nobody in particular.
pub fn meant_for(a: &TaskAssignment) -> Option<&str> {
    a.assignee.as_deref().or(match (a.candidate_users.as_slice(), a.candidate_groups.is_empty()) {
        ([only], true) => Some(only.as_str()),
        _ => None,
    })
}

/// Where a delivered notification went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The channel's id.
    pub channel: String,
    /// Slack's id of the message within the channel.
    pub ts: String,
}

/// Why a notification was not delivered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Worth trying again later (rate limited, Slack unavailable, no answer in time).
    #[error("{message}")]
    Retryable { message: String, retry_after: Option<Duration> },
    /// Will not work until someone changes something: `message` says what.
    #[error("{message}")]
    Failed {
        /// The provider's error code (`channel_not_found`), when it gave one.
        code: Option<String>,
        message: String,
    },
}

/// What the engine needs from a notification provider.
pub trait Notifications: Send + Sync + 'static {
    /// The notification settings of a process key (may be cached briefly: see [`CachedSettings`]).
    fn settings<'a>(
        &'a self,
        process_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<NotificationSettings>, sluice_store::Error>>;

    /// Delivers one notification. `attempt` counts from 1.
    fn deliver<'a>(
        &'a self,
        notification: &'a Notification,
        attempt: u32,
    ) -> BoxFuture<'a, Result<Delivered, NotifyError>>;

    /// Changes the messages sent about a task waiting, now that it is completed
    /// ([`Notification::closes_task`]); answers the history events that record what became of
    /// each. Default: nothing to change.
    fn close_task<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<Vec<HistoryEvent>, NotifyError>> {
        let _ = notification;
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// Notification settings read from the store and kept for `ttl`, so that planning a step costs no
/// query most of the time. A change saved through this node is seen at once
/// ([`CachedSettings::invalidate`]); one saved through another node within `ttl`.
pub struct CachedSettings {
    store: Store,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Option<NotificationSettings>)>>,
}

impl CachedSettings {
    pub fn new(store: Store, ttl: Duration) -> Self {
        CachedSettings { store, ttl, cache: Mutex::new(HashMap::new()) }
    }

    pub async fn get(&self, process_key: &str) -> Result<Option<NotificationSettings>, sluice_store::Error> {
        if let Ok(cache) = self.cache.lock()
            && let Some((at, settings)) = cache.get(process_key)
            && at.elapsed() < self.ttl
        {
            return Ok(settings.clone());
        }
        let settings = self.store.notification_settings(process_key).await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(process_key.to_string(), (Instant::now(), settings.clone()));
        }
        Ok(settings)
    }

    /// Forgets what is cached for a process key (after saving its settings).
    pub fn invalidate(&self, process_key: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(process_key);
        }
    }
}

/// The notification jobs for what one step recorded: one per configured channel of each
/// notification event among `events` (plus `request_started` when `started`), in event order.
/// `completed`: the tokens whose stored tasks this step completed, and `approved` the decision
/// their completion carried (`approved` in its data): one job each changes the task's messages.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    settings: &NotificationSettings,
    process: &Process,
    request: RequestId,
    url: &str,
    started: bool,
    events: &[NewEvent],
    completed: &[u32],
    approved: Option<bool>,
    now: DateTime<Utc>,
) -> Vec<NewJob> {
    let element = |id: Option<&str>| id.and_then(|id| process.element_by_id(id)).map(|e| process.element(e));
    let mut planned: Vec<(NotificationEvent, Option<&NewEvent>)> = Vec::new();
    if started {
        planned.push((NotificationEvent::RequestStarted, None));
    }
    for e in events {
        if let Some(event) = e.event.notification() {
            planned.push((event, Some(e)));
        }
    }
    let mut jobs = Vec::new();
    for (event, source) in planned {
        let element_id = source.and_then(|e| e.element_id.clone());
        let el = element(element_id.as_deref());
        let task_id = source.and_then(|e| match &e.event {
            HistoryEvent::TaskCreated { task_id, .. } => task_id.clone(),
            _ => None,
        });
        let message = source.and_then(|e| match &e.event {
            HistoryEvent::IncidentRaised { message, .. } => Some(message.clone()),
            HistoryEvent::TaskOverdue { due, .. } => Some(format!("It was due {due}.")),
            _ => None,
        });
        let assignment = source
            .and_then(|e| match &e.event {
                HistoryEvent::TaskCreated { assignment, .. } => Some(assignment.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let documentation = el.and_then(|e| e.human.as_ref()).and_then(|h| h.documentation.clone());
        // A task meant for one person may go to them directly, besides or instead of the channels.
        let person = (event == NotificationEvent::TaskWaiting).then(|| meant_for(&assignment)).flatten();
        let direct = settings.options.direct_message;
        let mut targets: Vec<(String, Option<String>)> = Vec::new();
        if !(direct == DirectMessage::Only && person.is_some()) {
            targets.extend(settings.channels(event).iter().map(|c| (c.clone(), None)));
        }
        if let (Some(person), DirectMessage::Also | DirectMessage::Only) = (person, direct) {
            targets.push((format!("@{person}"), Some(person.to_string())));
        }
        for (channel, direct_to) in targets {
            let job_id = JobId::new();
            let n = Notification {
                event,
                integration: settings.integration.clone(),
                channel: channel.clone(),
                request_id: request.to_string(),
                process_key: process.key.clone(),
                process_name: process.name.clone(),
                element_id: element_id.clone(),
                element_name: el.and_then(|e| e.name.clone()),
                task_id: task_id.clone(),
                user_task: event == NotificationEvent::TaskWaiting
                    && el.is_some_and(|e| matches!(e.kind, Kind::Task(TaskKind::User))),
                message: message.clone(),
                url: url.to_string(),
                job_id: Some(job_id.to_string()),
                documentation: documentation.clone(),
                assignment: assignment.clone(),
                direct_to,
                closes_task: false,
                approved: None,
                token: None,
            };
            jobs.push(NewJob {
                id: job_id,
                kind: JobKind::Notification,
                due_at: now,
                subscription: None,
                token: None,
                element_id: element_id.clone(),
                payload: serde_json::to_value(&n).unwrap_or(Value::Null),
            });
        }
    }
    // A completed task whose waiting may have been told: its messages are changed to say so.
    let told = !settings.channels(NotificationEvent::TaskWaiting).is_empty()
        || settings.options.direct_message != DirectMessage::Off;
    for &token in completed.iter().filter(|_| told) {
        let job_id = JobId::new();
        let n = Notification {
            event: NotificationEvent::TaskWaiting,
            integration: settings.integration.clone(),
            channel: String::new(),
            request_id: request.to_string(),
            process_key: process.key.clone(),
            process_name: process.name.clone(),
            element_id: None,
            element_name: None,
            task_id: None,
            user_task: true,
            message: None,
            url: url.to_string(),
            job_id: Some(job_id.to_string()),
            documentation: None,
            assignment: TaskAssignment::default(),
            direct_to: None,
            closes_task: true,
            approved,
            token: Some(token),
        };
        jobs.push(NewJob {
            id: job_id,
            kind: JobKind::Notification,
            due_at: now,
            subscription: None,
            token: None,
            element_id: None,
            payload: serde_json::to_value(&n).unwrap_or(Value::Null),
        });
    }
    jobs
}

impl Engine {
    /// Plans and delivers notifications through `notifications` (without, none are planned).
    pub fn with_notifications(mut self, notifications: Arc<dyn Notifications>) -> Self {
        self.notifications = Some(notifications);
        self
    }

    /// The notification jobs of a step of `request` that recorded `events` (and, when `started`,
    /// created the Request). A settings lookup that fails fails the step: it is tried again
    /// rather than written without its notifications.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn notification_jobs(
        &self,
        process: &Process,
        request: RequestId,
        started: bool,
        events: &[NewEvent],
        completed: &[u32],
        approved: Option<bool>,
        now: DateTime<Utc>,
    ) -> Result<Vec<NewJob>, Error> {
        let Some(n) = &self.notifications else { return Ok(Vec::new()) };
        let relevant = started || !completed.is_empty() || events.iter().any(|e| e.event.notification().is_some());
        if !relevant {
            return Ok(Vec::new());
        }
        let Some(settings) = n.settings(&process.key).await? else { return Ok(Vec::new()) };
        let url = format!("{}/requests/{request}", self.options.public_url.trim_end_matches('/'));
        Ok(plan(&settings, process, request, &url, started, events, completed, approved, now))
    }

    /// Runs a `notification` job: delivers it, then records the outcome in the Request's history
    /// with the job's removal, or gives the job back for a retry.
    pub(crate) async fn run_notification(&self, job: &JobRow, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(request) = job.request_id else { return self.drop_job(job).await };
        let notification: Notification = match serde_json::from_value(job.payload.clone()) {
            Ok(n) => n,
            Err(e) => {
                let message = format!("the notification job cannot be read ({e}); nothing was sent");
                let event = failed_event(None, job.element_id.clone(), None, &message, job.attempts, now);
                self.store.record_notification(request, Some(job.id), &[event]).await?;
                return Ok(());
            }
        };
        let attempts = job.attempts.max(1);
        if notification.closes_task {
            return self.close_task(request, job, &notification, attempts, now).await;
        }
        let result = match &self.notifications {
            Some(n) => n.deliver(&notification, u32::try_from(attempts).unwrap_or(u32::MAX)).await,
            None => Err(NotifyError::Failed {
                code: None,
                message: "this node has no notification provider configured; nothing was sent".into(),
            }),
        };
        let posts = &sluice_store::metrics::engine_metrics().slack_posts;
        match &result {
            Ok(_) => posts.inc(&["sent"]),
            Err(NotifyError::Retryable { retry_after: Some(_), .. }) => posts.inc(&["rate_limited"]),
            Err(NotifyError::Retryable { .. }) => posts.inc(&["retryable"]),
            Err(NotifyError::Failed { .. }) => posts.inc(&["failed"]),
        }
        let event = match result {
            Ok(delivered) => {
                let mut about = notification.about();
                about.channel = delivered.channel;
                let event = HistoryEvent::NotificationSent { about, ts: delivered.ts, attempts };
                NewEvent::new(notification.element_id.clone(), event, now)
            }
            Err(NotifyError::Retryable { message, retry_after }) => {
                if attempts < i64::from(self.options.max_attempts) {
                    let mut delay = self.options.backoff.delay(attempts, self.next_unit());
                    if let Some(after) = retry_after.and_then(|d| chrono::Duration::from_std(d).ok()) {
                        delay = delay.max(after);
                    }
                    tracing::info!(job = %job.id, channel = notification.channel, error = message, "notification will be retried");
                    self.store.release_job(job.id, &message, now + delay).await?;
                    return Ok(());
                }
                let message = format!("{message} (gave up after {attempts} attempts)");
                failed_event(Some(&notification), notification.element_id.clone(), None, &message, attempts, now)
            }
            Err(NotifyError::Failed { code, message }) => failed_event(
                Some(&notification),
                notification.element_id.clone(),
                code.as_deref(),
                &message,
                attempts,
                now,
            ),
        };
        if let HistoryEvent::NotificationFailed { message, .. } = &event.event {
            tracing::warn!(request = %request, channel = notification.channel, event = %notification.event,
                message, "a notification could not be delivered");
        }
        self.store.record_notification(request, Some(job.id), &[event]).await?;
        Ok(())
    }

    /// Runs a job that changes the messages of a completed task: records what became of each,
    /// with the job's removal, or gives the job back for a retry.
    async fn close_task(
        &self,
        request: RequestId,
        job: &JobRow,
        n: &Notification,
        attempts: i64,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let result = match &self.notifications {
            Some(provider) => provider.close_task(n).await,
            None => Ok(Vec::new()),
        };
        let events: Vec<NewEvent> = match result {
            Ok(events) => events.into_iter().map(|e| NewEvent::new(n.element_id.clone(), e, now)).collect(),
            Err(NotifyError::Retryable { message, retry_after }) if attempts < i64::from(self.options.max_attempts) => {
                let mut delay = self.options.backoff.delay(attempts, self.next_unit());
                if let Some(after) = retry_after.and_then(|d| chrono::Duration::from_std(d).ok()) {
                    delay = delay.max(after);
                }
                self.store.release_job(job.id, &message, now + delay).await?;
                return Ok(());
            }
            Err(NotifyError::Retryable { message, .. } | NotifyError::Failed { message, .. }) => {
                let message = format!("the messages of the completed task could not be changed: {message}");
                tracing::warn!(request = %request, message, "a notification could not be updated");
                vec![failed_event(None, n.element_id.clone(), None, &message, attempts, now)]
            }
        };
        self.store.record_notification(request, Some(job.id), &events).await?;
        Ok(())
    }
}

impl Notification {
    /// Which notification this is, for the history events about it.
    pub fn about(&self) -> NotificationRef {
        NotificationRef {
            notification: self.event,
            integration: self.integration.clone(),
            channel: self.channel.clone(),
            task_id: self.task_id.clone(),
        }
    }
}

fn failed_event(
    n: Option<&Notification>,
    element_id: Option<String>,
    code: Option<&str>,
    message: &str,
    attempts: i64,
    now: DateTime<Utc>,
) -> NewEvent {
    let event = HistoryEvent::NotificationFailed {
        about: n.map(Notification::about),
        ts: None,
        error: code.map(str::to_string),
        message: message.to_string(),
        attempts: Some(attempts),
    };
    NewEvent::new(element_id, event, now)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sluice_bpmn::{Options, Source};

    use super::*;

    const MODEL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:t">
  <bpmn:process id="p" name="Purchase" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
    <bpmn:userTask id="review" name="Review order"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="e"/>
    <bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>"#;

    fn event(event: HistoryEvent, element: Option<&str>) -> NewEvent {
        NewEvent::new(element.map(str::to_string), event, Utc::now())
    }

    #[test]
    fn a_task_meant_for_one_person_goes_to_them_directly_as_the_settings_say() {
        let imported = sluice_bpmn::import(&[Source { name: "p.bpmn", bytes: MODEL.as_bytes() }], &Options::default());
        let process = imported.definitions.process("p").cloned().expect("the model imports");
        let created = |assignment: TaskAssignment| {
            [event(HistoryEvent::TaskCreated { task_id: Some("t-1".into()), token: 1, assignment }, Some("review"))]
        };
        let for_ann = TaskAssignment { assignee: Some("ann".into()), ..Default::default() };
        let only_bob = TaskAssignment { candidate_users: vec!["bob".into()], ..Default::default() };
        let group = TaskAssignment {
            candidate_users: vec!["bob".into()],
            candidate_groups: vec!["sales".into()],
            ..Default::default()
        };
        let targets = |direct: DirectMessage, a: &TaskAssignment| {
            let settings = NotificationSettings {
                process_key: "p".into(),
                integration: "default".into(),
                events: BTreeMap::from([(NotificationEvent::TaskWaiting, vec!["C1".to_string()])]),
                options: sluice_store::NotificationOptions { direct_message: direct, ..Default::default() },
                updated_at: Utc::now(),
            };
            plan(&settings, &process, RequestId::new(), "u", false, &created(a.clone()), &[], None, Utc::now())
                .iter()
                .map(|j| serde_json::from_value::<Notification>(j.payload.clone()).expect("a notification"))
                .map(|n| (n.channel, n.direct_to, n.assignment))
                .collect::<Vec<_>>()
        };
        let channel = |a: &TaskAssignment| ("C1".to_string(), None, a.clone());
        let direct = |who: &str, a: &TaskAssignment| (format!("@{who}"), Some(who.to_string()), a.clone());
        assert_eq!(targets(DirectMessage::Off, &for_ann), [channel(&for_ann)]);
        assert_eq!(targets(DirectMessage::Also, &for_ann), [channel(&for_ann), direct("ann", &for_ann)]);
        assert_eq!(targets(DirectMessage::Only, &for_ann), [direct("ann", &for_ann)]);
        assert_eq!(targets(DirectMessage::Only, &only_bob), [direct("bob", &only_bob)]);
        // A task for a group is for nobody in particular: the channels only.
        assert_eq!(targets(DirectMessage::Only, &group), [channel(&group)]);
        assert_eq!(targets(DirectMessage::Also, &TaskAssignment::default()), [channel(&TaskAssignment::default())]);
    }

    #[test]
    fn steps_are_mapped_to_one_job_per_configured_channel() {
        let imported = sluice_bpmn::import(&[Source { name: "p.bpmn", bytes: MODEL.as_bytes() }], &Options::default());
        let process = imported.definitions.process("p").cloned().expect("the model imports");
        let settings = NotificationSettings {
            process_key: "p".into(),
            integration: "default".into(),
            events: BTreeMap::from([
                (NotificationEvent::RequestStarted, vec!["C1".to_string()]),
                (NotificationEvent::TaskWaiting, vec!["C2".to_string(), "C3".to_string()]),
                (NotificationEvent::RequestError, vec!["C4".to_string()]),
            ]),
            options: Default::default(),
            updated_at: Utc::now(),
        };
        let id = RequestId::new();
        let events = [
            event(HistoryEvent::ElementCompleted, Some("s")),
            event(
                HistoryEvent::TaskCreated { task_id: Some("t-1".into()), token: 1, assignment: Default::default() },
                Some("review"),
            ),
            event(HistoryEvent::RequestCompleted, None),
            event(
                HistoryEvent::IncidentRaised { incident_id: 1, token: 1, code: "x".into(), message: "boom".into() },
                Some("review"),
            ),
        ];
        let jobs = plan(&settings, &process, id, "http://x/requests/1", true, &events, &[], None, Utc::now());
        let got: Vec<Notification> =
            jobs.iter().map(|j| serde_json::from_value(j.payload.clone()).expect("a notification")).collect();
        let summary: Vec<(NotificationEvent, &str)> = got.iter().map(|n| (n.event, n.channel.as_str())).collect();
        // request_completed has no channels: nothing planned for it.
        assert_eq!(
            summary,
            [
                (NotificationEvent::RequestStarted, "C1"),
                (NotificationEvent::TaskWaiting, "C2"),
                (NotificationEvent::TaskWaiting, "C3"),
                (NotificationEvent::RequestError, "C4"),
            ]
        );
        assert!(jobs.iter().all(|j| j.kind == JobKind::Notification));
        assert_eq!(got[1].task_id.as_deref(), Some("t-1"));
        assert!(got[1].user_task);
        assert_eq!(got[1].element_name.as_deref(), Some("Review order"));
        assert_eq!(got[3].message.as_deref(), Some("boom"));
        assert_eq!(got[0].process_name.as_deref(), Some("Purchase"));
        assert_eq!(got[0].request_id, id.to_string());
        // Nothing relevant, nothing planned.
        assert!(plan(&settings, &process, id, "u", false, &events[..1], &[], None, Utc::now()).is_empty());
    }

    #[test]
    fn an_overdue_task_is_notified_with_its_due_date() {
        let imported = sluice_bpmn::import(&[Source { name: "p.bpmn", bytes: MODEL.as_bytes() }], &Options::default());
        let process = imported.definitions.process("p").cloned().expect("the model imports");
        let settings = NotificationSettings {
            process_key: "p".into(),
            integration: "default".into(),
            events: BTreeMap::from([(NotificationEvent::TaskOverdue, vec!["C9".to_string()])]),
            options: Default::default(),
            updated_at: Utc::now(),
        };
        let due = "2026-12-05T09:00:00+00:00".to_string();
        let events = [event(HistoryEvent::TaskOverdue { token: 1, due: due.clone() }, Some("review"))];
        let jobs =
            plan(&settings, &process, RequestId::new(), "http://x/requests/1", false, &events, &[], None, Utc::now());
        let got: Vec<Notification> =
            jobs.iter().map(|j| serde_json::from_value(j.payload.clone()).expect("a notification")).collect();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].event, got[0].channel.as_str()), (NotificationEvent::TaskOverdue, "C9"));
        assert_eq!(got[0].element_name.as_deref(), Some("Review order"));
        assert_eq!(got[0].message, Some(format!("It was due {due}.")));
        assert_eq!(NotificationEvent::parse("task_overdue"), Some(NotificationEvent::TaskOverdue));
    }
}
