//! What one state change of a Request writes besides its new state, and the pure translation of
//! the runtime's [`Command`]s into it.
//!
//! A [`Changes`] is applied by the store in this order, inside the Request's transaction:
//! 1. `jobs_removed`, `subscriptions_closed`, `tasks_closed` (rows written by earlier steps);
//! 2. `tasks_created`, `subscriptions_opened`, `jobs_added`;
//! 3. `events`, numbered in order after the Request's new revision.
//!
//! [`Changes::from_commands`] nets out what opens and closes within the same step (a timer armed
//! and closed again, a task created and canceled), so that this fixed order gives the same result
//! as replaying the commands one by one.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sluice_bpmn::{Kind, Process, TaskKind};
use sluice_engine::Command;
use sluice_engine::runtime::{SubscriptionId, TokenId};

use crate::types::{EventId, JobId, JobKind, RequestId, SubscriptionKind, TaskId, TaskStatus};

/// A history event to append.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub id: EventId,
    pub at: DateTime<Utc>,
    /// The event type: `element_completed`, `task_created`, …
    pub kind: String,
    pub element_id: Option<String>,
    /// Further fields, as a JSON object.
    pub payload: Map<String, Value>,
}

/// A user or manual task row to insert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTask {
    pub id: TaskId,
    pub token: TokenId,
    pub element_id: String,
    pub name: Option<String>,
    /// `Active`, or `Canceled` when the task was canceled within the same step.
    pub status: TaskStatus,
}

/// Closes the active task of a token, if it has one.
///
/// Closing with `Completed` also records a `task_completed` event (with the task's id) placed
/// before `events[event_index]`: only the store knows whether the token had an open task (the
/// body token of a multi-instance user task completes the same element without one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskClose {
    pub token: TokenId,
    pub status: TaskStatus,
    pub event_index: usize,
}

/// A job for the worker, committed with the state change (the outbox).
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    pub id: JobId,
    pub kind: JobKind,
    pub due_at: DateTime<Utc>,
    pub subscription: Option<SubscriptionId>,
    pub token: Option<TokenId>,
    pub element_id: Option<String>,
    pub payload: Value,
}

/// A job that is no longer wanted, or done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobRemoval {
    /// A job by id, of any Request: the worker marks the job it handled as done in the same
    /// transaction as the step it caused (a fired timer, a delivered message, a child's result).
    Job(JobId),
    /// This Request's timer job of a subscription.
    Timer(SubscriptionId),
    /// This Request's connector job of a token.
    Connector(TokenId),
}

/// A message or signal subscription row to insert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSubscription {
    pub subscription: SubscriptionId,
    pub kind: SubscriptionKind,
    pub element_id: String,
    pub name: String,
    pub correlation_key: Option<String>,
}

/// Everything one state change writes besides the Request row itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Changes {
    /// When the change happened: the Request's `updated_at` (and `created_at` on creation).
    pub at: DateTime<Utc>,
    pub events: Vec<NewEvent>,
    pub tasks_created: Vec<NewTask>,
    pub tasks_closed: Vec<TaskClose>,
    pub jobs_added: Vec<NewJob>,
    pub jobs_removed: Vec<JobRemoval>,
    pub subscriptions_opened: Vec<NewSubscription>,
    pub subscriptions_closed: Vec<SubscriptionId>,
}

impl Changes {
    /// Nothing but the time of the change.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            at,
            events: Vec::new(),
            tasks_created: Vec::new(),
            tasks_closed: Vec::new(),
            jobs_added: Vec::new(),
            jobs_removed: Vec::new(),
            subscriptions_opened: Vec::new(),
            subscriptions_closed: Vec::new(),
        }
    }

    /// Appends a history event at this change's time.
    pub fn event(&mut self, kind: &str, element_id: Option<String>, payload: Value) {
        let payload = match payload {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => Map::from_iter([("value".to_string(), other)]),
        };
        // A change's events have consecutive ids, which its history row stores once (history.rs).
        let id = self.events.last().and_then(|e| e.id.next()).unwrap_or_else(EventId::first_of_run);
        self.events.push(NewEvent { id, at: self.at, kind: kind.to_string(), element_id, payload });
    }

    /// Marks a job as done within this change (it is deleted in the same transaction).
    pub fn complete_job(&mut self, job: JobId) {
        self.jobs_removed.push(JobRemoval::Job(job));
    }

    /// Translates what one `start` or `step` of `request` emitted into rows and events.
    pub fn from_commands(process: &Process, request: RequestId, commands: &[Command], now: DateTime<Utc>) -> Changes {
        let mut ch = Changes::new(now);
        let element_id = |e: sluice_bpmn::ElementIdx| {
            process.elements.get(e.index()).map(|x| x.id.clone()).unwrap_or_else(|| format!("#{}", e.index()))
        };
        let is_task = |e: sluice_bpmn::ElementIdx| {
            process
                .elements
                .get(e.index())
                .is_some_and(|x| matches!(x.kind, Kind::Task(TaskKind::User | TaskKind::Manual)))
        };
        for c in commands {
            match c {
                Command::ElementActivated { element, .. } => {
                    ch.event("element_activated", Some(element_id(*element)), Value::Null);
                }
                Command::ElementCompleted { token, element } => {
                    // A user or manual task completes only through its person: close its row.
                    if is_task(*element) {
                        ch.close_task(*token, TaskStatus::Completed);
                    }
                    ch.event("element_completed", Some(element_id(*element)), Value::Null);
                }
                Command::ElementTerminated { token, element } => {
                    if is_task(*element) {
                        ch.close_task(*token, TaskStatus::Canceled);
                    }
                    ch.event("element_terminated", Some(element_id(*element)), Value::Null);
                }
                Command::TaskCreated { token, element } => {
                    let el = process.elements.get(element.index());
                    ch.tasks_created.push(NewTask {
                        id: TaskId::new(),
                        token: *token,
                        element_id: element_id(*element),
                        name: el.and_then(|x| x.name.clone()),
                        status: TaskStatus::Active,
                    });
                    let id = ch.tasks_created.last().map(|t| t.id.to_string());
                    ch.event("task_created", Some(element_id(*element)), json!({"task_id": id, "token": token.0}));
                }
                Command::TaskCanceled { token, element } => {
                    ch.close_task(*token, TaskStatus::Canceled);
                    // Recorded here: the runtime says for certain that a task was canceled.
                    ch.event("task_canceled", Some(element_id(*element)), json!({"token": token.0}));
                }
                Command::InvokeConnector { token, element, attempt } => {
                    let id = JobId::new();
                    let eid = element_id(*element);
                    // Stable across redeliveries of this job; new for each runtime attempt and
                    // each time a loop re-enters the element.
                    let key = format!("{request}:{eid}:{attempt}:{id}");
                    ch.jobs_added.push(NewJob {
                        id,
                        kind: JobKind::Connector,
                        due_at: now,
                        subscription: None,
                        token: Some(*token),
                        element_id: Some(eid.clone()),
                        payload: json!({"token": token.0, "element_id": eid, "attempt": attempt, "idempotency_key": key}),
                    });
                    ch.event("connector_invoked", Some(eid), json!({"attempt": attempt, "job_id": id.to_string()}));
                }
                Command::ConnectorCompleted { element, output, .. } => {
                    ch.event("connector_completed", Some(element_id(*element)), json!({"output": output}));
                }
                Command::CancelConnector { token, element } => {
                    let before = ch.jobs_added.len();
                    ch.jobs_added.retain(|j| !(j.kind == JobKind::Connector && j.token == Some(*token)));
                    if ch.jobs_added.len() == before {
                        ch.jobs_removed.push(JobRemoval::Connector(*token));
                    }
                    ch.event("connector_canceled", Some(element_id(*element)), Value::Null);
                }
                Command::ScheduleTimer { subscription, element, due } => {
                    // Re-armed within this step: the later due time wins. (A fired timer's job is
                    // removed by the worker through `complete_job`.)
                    ch.jobs_added.retain(|j| !(j.kind == JobKind::Timer && j.subscription == Some(*subscription)));
                    let eid = element_id(*element);
                    ch.jobs_added.push(NewJob {
                        id: JobId::new(),
                        kind: JobKind::Timer,
                        due_at: *due,
                        subscription: Some(*subscription),
                        token: None,
                        element_id: Some(eid.clone()),
                        payload: json!({"subscription": subscription.0, "element_id": eid}),
                    });
                    ch.event("timer_scheduled", Some(eid), json!({"due": due.to_rfc3339()}));
                }
                Command::OpenMessageSubscription { subscription, element, name, correlation_key } => {
                    ch.subscriptions_opened.push(NewSubscription {
                        subscription: *subscription,
                        kind: SubscriptionKind::Message,
                        element_id: element_id(*element),
                        name: name.clone(),
                        correlation_key: correlation_key.clone(),
                    });
                }
                Command::OpenSignalSubscription { subscription, element, name } => {
                    ch.subscriptions_opened.push(NewSubscription {
                        subscription: *subscription,
                        kind: SubscriptionKind::Signal,
                        element_id: element_id(*element),
                        name: name.clone(),
                        correlation_key: None,
                    });
                }
                Command::CloseSubscription { subscription } => {
                    let (subs, jobs) = (ch.subscriptions_opened.len(), ch.jobs_added.len());
                    ch.subscriptions_opened.retain(|s| s.subscription != *subscription);
                    ch.jobs_added.retain(|j| !(j.kind == JobKind::Timer && j.subscription == Some(*subscription)));
                    if ch.subscriptions_opened.len() == subs && ch.jobs_added.len() == jobs {
                        // Opened by an earlier step: a timer job or a subscription row (the
                        // command does not say which; deleting the absent one costs nothing).
                        ch.jobs_removed.push(JobRemoval::Timer(*subscription));
                        ch.subscriptions_closed.push(*subscription);
                    }
                }
                Command::TimerFired { subscription, element } => {
                    ch.event(
                        "timer_fired",
                        Some(element_id(*element)),
                        json!({"subscription": subscription.0, "at": now.to_rfc3339()}),
                    );
                }
                Command::MessageReceived { element, name, .. } => {
                    ch.event("message_received", Some(element_id(*element)), json!({"name": name}));
                }
                Command::SignalReceived { element, name, .. } => {
                    ch.event("signal_received", Some(element_id(*element)), json!({"name": name}));
                }
                Command::PublishMessage { element, name, correlation_key, data } => {
                    let eid = element_id(*element);
                    ch.job(
                        JobKind::Message,
                        now,
                        Some(eid.clone()),
                        None,
                        json!({"name": name, "correlation_key": correlation_key, "data": data}),
                    );
                    ch.event("message_published", Some(eid), json!({"name": name, "correlation_key": correlation_key}));
                }
                Command::BroadcastSignal { element, name, data } => {
                    let eid = element_id(*element);
                    ch.job(JobKind::Signal, now, Some(eid.clone()), None, json!({"name": name, "data": data}));
                    ch.event("signal_broadcast", Some(eid), json!({"name": name}));
                }
                Command::StartChild { token, element, process_key, data } => {
                    let eid = element_id(*element);
                    ch.job(
                        JobKind::StartChild,
                        now,
                        Some(eid.clone()),
                        Some(*token),
                        json!({"token": token.0, "element_id": eid, "process_key": process_key, "data": data}),
                    );
                    ch.event("call_started", Some(eid), json!({"process_key": process_key}));
                }
                Command::CancelChild { token, element } => {
                    let eid = element_id(*element);
                    ch.job(JobKind::CancelChild, now, Some(eid.clone()), Some(*token), json!({"token": token.0}));
                    ch.event("call_canceled", Some(eid), Value::Null);
                }
                Command::IncidentRaised(i) => {
                    ch.event(
                        "incident_raised",
                        Some(element_id(i.element)),
                        json!({"incident_id": i.id.0, "token": i.token.0, "code": i.code, "message": i.message}),
                    );
                }
                Command::IncidentResolved { incident } => {
                    ch.event("incident_resolved", None, json!({"incident_id": incident.0}));
                }
                Command::ErrorToParent { code, message } => {
                    ch.job(JobKind::ChildError, now, None, None, json!({"code": code, "message": message}));
                    ch.event("error_to_parent", None, json!({"code": code, "message": message}));
                }
                Command::EscalationToParent { code } => {
                    ch.job(JobKind::ChildEscalation, now, None, None, json!({"code": code}));
                    ch.event("escalation_to_parent", None, json!({"code": code}));
                }
                Command::RequestCompleted => {
                    // The child's final data is read from its row when the job runs.
                    ch.job(JobKind::ChildDone, now, None, None, Value::Object(Map::new()));
                    ch.event("request_completed", None, Value::Null);
                }
                Command::RequestCanceled => ch.event("request_canceled", None, Value::Null),
            }
        }
        ch
    }

    fn job(
        &mut self,
        kind: JobKind,
        due_at: DateTime<Utc>,
        element_id: Option<String>,
        token: Option<TokenId>,
        payload: Value,
    ) {
        self.jobs_added.push(NewJob { id: JobId::new(), kind, due_at, subscription: None, token, element_id, payload });
    }

    /// Closes a token's task: one created in this change, else the stored active one.
    fn close_task(&mut self, token: TokenId, status: TaskStatus) {
        if let Some(t) = self.tasks_created.iter_mut().rev().find(|t| t.token == token) {
            if t.status == TaskStatus::Active {
                t.status = status;
                if status == TaskStatus::Completed {
                    let payload = json!({"task_id": t.id.to_string(), "token": token.0});
                    let eid = Some(t.element_id.clone());
                    self.event("task_completed", eid, payload);
                }
            }
            return;
        }
        if !self.tasks_closed.iter().any(|t| t.token == token) {
            self.tasks_closed.push(TaskClose { token, status, event_index: self.events.len() });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use chrono::TimeZone;
    use sluice_bpmn::{ElementIdx, Options, Source};
    use sluice_engine::runtime::{Data, Incident, IncidentId};
    use sluice_engine::{Input, Instance, Start};

    use super::*;

    fn review() -> Arc<Process> {
        let xml = include_str!("../tests/models/review.bpmn");
        let imported =
            sluice_bpmn::import(&[Source { name: "review.bpmn", bytes: xml.as_bytes() }], &Options::default());
        assert!(!imported.has_errors(), "{:?}", imported.diagnostics);
        imported.definitions.process("review").unwrap().clone()
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
    }

    fn el(p: &Process, id: &str) -> ElementIdx {
        p.element_by_id(id).unwrap()
    }

    fn kinds(ch: &Changes) -> Vec<(&str, Option<&str>)> {
        ch.events.iter().map(|e| (e.kind.as_str(), e.element_id.as_deref())).collect()
    }

    #[test]
    fn a_start_creates_the_task_the_timer_job_and_their_events() {
        let p = review();
        let mut out = Vec::new();
        let data = serde_json::from_value(json!({"order_id": "ORD-1"})).unwrap();
        Instance::start(&p, data, Start::Default, t0(), &mut out).unwrap();
        let ch = Changes::from_commands(&p, RequestId::new(), &out, t0());

        assert_eq!(ch.tasks_created.len(), 1);
        let task = &ch.tasks_created[0];
        assert_eq!((task.element_id.as_str(), task.name.as_deref()), ("approve", Some("Approve the order")));
        assert_eq!(task.status, TaskStatus::Active);

        assert_eq!(ch.jobs_added.len(), 1);
        let timer = &ch.jobs_added[0];
        assert_eq!(timer.kind, JobKind::Timer);
        assert_eq!(timer.due_at, t0() + chrono::Duration::hours(1));
        assert_eq!(timer.element_id.as_deref(), Some("too_late"));
        assert!(timer.subscription.is_some());

        let k = kinds(&ch);
        assert!(k.contains(&("element_completed", Some("start"))), "{k:?}");
        assert!(k.contains(&("task_created", Some("approve"))), "{k:?}");
        assert!(k.contains(&("timer_scheduled", Some("too_late"))), "{k:?}");
        assert!(ch.jobs_removed.is_empty() && ch.tasks_closed.is_empty() && ch.subscriptions_closed.is_empty());
        assert!(ch.events.iter().all(|e| e.at == t0()));
    }

    #[test]
    fn completing_the_task_closes_it_drops_the_timer_and_opens_the_correlated_subscription() {
        let p = review();
        let mut out = Vec::new();
        let data = serde_json::from_value(json!({"order_id": "ORD-1"})).unwrap();
        let mut inst = Instance::start(&p, data, Start::Default, t0(), &mut out).unwrap();
        let token = inst.tasks()[0].token;
        let timer = inst.subscriptions()[0].id;
        out.clear();
        inst.step(&p, Input::CompleteTask { token, data: Default::default() }, t0(), &mut out).unwrap();
        let ch = Changes::from_commands(&p, RequestId::new(), &out, t0());

        assert_eq!(ch.tasks_closed.len(), 1);
        assert_eq!((ch.tasks_closed[0].token, ch.tasks_closed[0].status), (token, TaskStatus::Completed));
        // The store's `task_completed` goes right before the task's `element_completed`.
        assert_eq!(ch.events[ch.tasks_closed[0].event_index].kind, "element_completed");
        assert_eq!(ch.events[ch.tasks_closed[0].event_index].element_id.as_deref(), Some("approve"));
        assert_eq!(ch.jobs_removed, vec![JobRemoval::Timer(timer)]);
        assert_eq!(ch.subscriptions_opened.len(), 1);
        let sub = &ch.subscriptions_opened[0];
        assert_eq!(
            (sub.kind, sub.name.as_str(), sub.correlation_key.as_deref(), sub.element_id.as_str()),
            (SubscriptionKind::Message, "paid", Some("ORD-1"), "wait_paid")
        );
    }

    #[test]
    fn what_opens_and_closes_within_one_step_nets_out() {
        let p = review();
        let (task, timer, wait) = (el(&p, "approve"), el(&p, "too_late"), el(&p, "wait_paid"));
        let cmds = vec![
            Command::TaskCreated { token: TokenId(1), element: task },
            Command::ScheduleTimer { subscription: SubscriptionId(1), element: timer, due: t0() },
            Command::OpenMessageSubscription {
                subscription: SubscriptionId(2),
                element: wait,
                name: "paid".into(),
                correlation_key: None,
            },
            Command::InvokeConnector { token: TokenId(2), element: task, attempt: 1 },
            Command::TaskCanceled { token: TokenId(1), element: task },
            Command::CloseSubscription { subscription: SubscriptionId(1) },
            Command::CloseSubscription { subscription: SubscriptionId(2) },
            Command::CancelConnector { token: TokenId(2), element: task },
        ];
        let ch = Changes::from_commands(&p, RequestId::new(), &cmds, t0());
        assert_eq!(ch.tasks_created.len(), 1);
        assert_eq!(ch.tasks_created[0].status, TaskStatus::Canceled);
        assert!(ch.tasks_closed.is_empty());
        assert!(ch.jobs_added.is_empty(), "{:?}", ch.jobs_added);
        assert!(ch.jobs_removed.is_empty(), "{:?}", ch.jobs_removed);
        assert!(ch.subscriptions_opened.is_empty() && ch.subscriptions_closed.is_empty());
    }

    #[test]
    fn closing_what_earlier_steps_opened_removes_the_stored_rows() {
        let p = review();
        let cmds = vec![
            Command::CloseSubscription { subscription: SubscriptionId(4) },
            Command::CancelConnector { token: TokenId(3), element: el(&p, "approve") },
            Command::ElementTerminated { token: TokenId(5), element: el(&p, "approve") },
        ];
        let ch = Changes::from_commands(&p, RequestId::new(), &cmds, t0());
        assert_eq!(ch.jobs_removed, vec![JobRemoval::Timer(SubscriptionId(4)), JobRemoval::Connector(TokenId(3))]);
        assert_eq!(ch.subscriptions_closed, vec![SubscriptionId(4)]);
        assert_eq!(ch.tasks_closed.len(), 1);
        assert_eq!((ch.tasks_closed[0].token, ch.tasks_closed[0].status), (TokenId(5), TaskStatus::Canceled));
    }

    /// One command in, the event type and job kind out.
    fn check(cmd: Command, event: &str, job: Option<JobKind>) {
        let p = review();
        let ch = Changes::from_commands(&p, RequestId::new(), std::slice::from_ref(&cmd), t0());
        assert_eq!(ch.events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), vec![event], "{cmd:?}");
        assert_eq!(ch.jobs_added.iter().map(|j| j.kind).collect::<Vec<_>>(), job.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn every_command_maps_to_its_event_and_job() {
        let p = review();
        let (task, timer, wait) = (el(&p, "approve"), el(&p, "too_late"), el(&p, "wait_paid"));
        let data = Data::new();
        let (t, s) = (TokenId(1), SubscriptionId(1));
        check(Command::ElementActivated { token: t, element: task }, "element_activated", None);
        check(Command::ElementCompleted { token: t, element: wait }, "element_completed", None);
        check(Command::ElementTerminated { token: t, element: wait }, "element_terminated", None);
        check(Command::TaskCreated { token: t, element: task }, "task_created", None);
        check(Command::TaskCanceled { token: t, element: task }, "task_canceled", None);
        check(
            Command::InvokeConnector { token: t, element: task, attempt: 2 },
            "connector_invoked",
            Some(JobKind::Connector),
        );
        check(Command::CancelConnector { token: t, element: task }, "connector_canceled", None);
        check(
            Command::ScheduleTimer { subscription: s, element: timer, due: t0() },
            "timer_scheduled",
            Some(JobKind::Timer),
        );
        check(Command::TimerFired { subscription: s, element: timer }, "timer_fired", None);
        check(
            Command::MessageReceived { subscription: s, element: wait, name: "paid".into() },
            "message_received",
            None,
        );
        check(Command::SignalReceived { subscription: s, element: wait, name: "go".into() }, "signal_received", None);
        let publish =
            Command::PublishMessage { element: task, name: "paid".into(), correlation_key: None, data: data.clone() };
        check(publish, "message_published", Some(JobKind::Message));
        check(
            Command::BroadcastSignal { element: task, name: "go".into(), data: data.clone() },
            "signal_broadcast",
            Some(JobKind::Signal),
        );
        let child = Command::StartChild { token: t, element: task, process_key: "sub".into(), data };
        check(child, "call_started", Some(JobKind::StartChild));
        check(Command::CancelChild { token: t, element: task }, "call_canceled", Some(JobKind::CancelChild));
        let incident = Incident { id: IncidentId(1), element: task, token: t, code: "x".into(), message: "m".into() };
        check(Command::IncidentRaised(incident), "incident_raised", None);
        check(Command::IncidentResolved { incident: IncidentId(1) }, "incident_resolved", None);
        check(Command::ErrorToParent { code: "E".into(), message: None }, "error_to_parent", Some(JobKind::ChildError));
        check(Command::EscalationToParent { code: "E".into() }, "escalation_to_parent", Some(JobKind::ChildEscalation));
        check(Command::RequestCompleted, "request_completed", Some(JobKind::ChildDone));
        check(Command::RequestCanceled, "request_canceled", None);
        // Subscriptions are rows, not history.
        let open = Command::OpenSignalSubscription { subscription: s, element: wait, name: "go".into() };
        let ch = Changes::from_commands(&p, RequestId::new(), &[open], t0());
        assert!(ch.events.is_empty() && ch.subscriptions_opened.len() == 1);
    }

    #[test]
    fn connector_jobs_carry_an_idempotency_key_of_request_element_and_attempt() {
        let p = review();
        let request = RequestId::new();
        let cmd = Command::InvokeConnector { token: TokenId(7), element: el(&p, "approve"), attempt: 3 };
        let ch = Changes::from_commands(&p, request, &[cmd], t0());
        let job = &ch.jobs_added[0];
        let key = job.payload["idempotency_key"].as_str().unwrap();
        assert_eq!(key, format!("{request}:approve:3:{}", job.id));
        assert_eq!(job.payload["token"], 7);
        assert_eq!(job.token, Some(TokenId(7)));
    }
}
