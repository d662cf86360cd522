//! The translation of what one `start` or `step` of a Request emitted (the runtime's commands)
//! into what the store writes with it: history events, task rows, outbox jobs, subscriptions.
//!
//! The history comes from [`HistoryEntry::of_command`], the same as `sluice run`'s traces; this
//! adds the durable-only parts (task ids, job ids, rows). What opens and closes within the same
//! step (a timer armed and closed again, a task created and canceled) nets out here, so that the
//! store's fixed order of writing gives the same result as replaying the commands one by one.

use chrono::{DateTime, Utc};
use sluice_bpmn::{ElementIdx, Kind, Process, TaskKind};
use sluice_engine::runtime::TokenId;
use sluice_engine::{Command, HistoryEntry, HistoryEvent};
use sluice_store::{
    Changes, JobId, JobKind, JobRemoval, NewIncident, NewJob, NewSubscription, NewTask, RequestId, SubscriptionKind,
    TaskClose, TaskId, TaskStatus,
};

use crate::payload::{
    CancelChildJob, ChildDoneJob, ChildErrorJob, ChildEscalationJob, ConnectorJob, MessageJob, SignalJob,
    StartChildJob, TimerJob, WorkerJob, to_value,
};

/// The rows of a step's commands. A completion's result for a parent is only kept for a Request
/// that has one: every finished Request would otherwise write a guarded insert of its own (the
/// write checks again for those that have one: a parent may be gone).
pub(crate) fn changes_of(
    process: &Process,
    id: RequestId,
    commands: &[Command],
    now: DateTime<Utc>,
    has_parent: bool,
    registry: &sluice_connector_api::Registry,
) -> Changes {
    let mut changes = from_commands(process, id, commands, now);
    to_workers(process, &mut changes, |t| !registry.contains(t));
    if !has_parent {
        changes.jobs_added.retain(|j| !j.kind.for_parent());
    }
    changes
}

/// The retries a worker job starts with when its task names none (Camunda 8's default).
pub const DEFAULT_JOB_RETRIES: i64 = 3;

/// Turns the connector jobs of tasks whose type `is_job_type` (no registered connector runs it;
/// the deploy made sure workers may take it) into jobs for external workers: written with the
/// step like any job, never run by a node.
pub(crate) fn to_workers(process: &Process, changes: &mut Changes, is_job_type: impl Fn(&str) -> bool) {
    for j in changes.jobs_added.iter_mut().filter(|j| j.kind == JobKind::Connector) {
        let Ok(c) = serde_json::from_value::<ConnectorJob>(j.payload.clone()) else { continue };
        let Some(el) = process.element_by_id(&c.element_id) else { continue };
        let Kind::Task(TaskKind::Connector(call)) = &process.element(el).kind else { continue };
        if !is_job_type(&call.connector) {
            continue;
        }
        let payload = WorkerJob {
            token: c.token,
            element_id: c.element_id,
            attempt: c.attempt,
            job_type: call.connector.clone(),
            retries: call.retries.map_or(DEFAULT_JOB_RETRIES, i64::from),
        };
        j.kind = JobKind::Worker;
        j.payload = to_value(&payload);
    }
}

/// Translates what one `start` or `step` of `request` emitted into rows and events.
pub fn from_commands(process: &Process, request: RequestId, commands: &[Command], now: DateTime<Utc>) -> Changes {
    let mut ch = Changes::new(now);
    let element_id = |e: ElementIdx| {
        process.elements.get(e.index()).map(|x| x.id.clone()).unwrap_or_else(|| format!("#{}", e.index()))
    };
    let is_task = |e: ElementIdx| {
        process.elements.get(e.index()).is_some_and(|x| matches!(x.kind, Kind::Task(TaskKind::User | TaskKind::Manual)))
    };
    for c in commands {
        let mut entry = HistoryEntry::of_command(process, c, now);
        // The rows a command writes besides its history event; the event's durable ids.
        match c {
            Command::ElementCompleted { token, element, .. } if is_task(*element) => {
                // A user or manual task completes only through its person: close its row.
                close_task(&mut ch, *token, TaskStatus::Completed);
            }
            Command::ElementTerminated { token, element } if is_task(*element) => {
                close_task(&mut ch, *token, TaskStatus::Canceled);
            }
            Command::TaskCreated { token, element, assignment } => {
                let id = TaskId::new();
                let el = process.elements.get(element.index());
                ch.tasks_created.push(NewTask {
                    id,
                    token: *token,
                    element_id: element_id(*element),
                    name: el.and_then(|x| x.name.clone()),
                    status: TaskStatus::Active,
                    process_key: process.key.clone(),
                    assignment: (**assignment).clone(),
                    documentation: el.and_then(|x| x.human.as_ref()).and_then(|h| h.documentation.clone()),
                });
                if let Some(HistoryEntry { event: HistoryEvent::TaskCreated { task_id, .. }, .. }) = &mut entry {
                    *task_id = Some(id.to_string());
                }
            }
            // Recorded as its event: the runtime says for certain that a task was canceled.
            Command::TaskCanceled { token, .. } => close_task(&mut ch, *token, TaskStatus::Canceled),
            Command::InvokeConnector { token, element, attempt } => {
                let id = JobId::new();
                let eid = element_id(*element);
                let idempotency_key = format!("{request}:{eid}:{attempt}:{id}");
                let payload =
                    ConnectorJob { token: token.0, element_id: eid.clone(), attempt: *attempt, idempotency_key };
                ch.jobs_added.push(NewJob {
                    id,
                    kind: JobKind::Connector,
                    due_at: now,
                    subscription: None,
                    token: Some(*token),
                    element_id: Some(eid),
                    payload: to_value(&payload),
                });
                if let Some(HistoryEntry { event: HistoryEvent::ConnectorInvoked { job_id, .. }, .. }) = &mut entry {
                    *job_id = Some(id.to_string());
                }
            }
            Command::CancelConnector { token, .. } => {
                let before = ch.jobs_added.len();
                ch.jobs_added
                    .retain(|j| !(matches!(j.kind, JobKind::Connector | JobKind::Worker) && j.token == Some(*token)));
                if ch.jobs_added.len() == before {
                    ch.jobs_removed.push(JobRemoval::Connector(*token));
                }
            }
            Command::ScheduleTimer { subscription, element, due } => {
                // Re-armed within this step: the later due time wins. (A fired timer's job is
                // removed by the worker through `complete_job`.)
                ch.jobs_added.retain(|j| !(j.kind == JobKind::Timer && j.subscription == Some(*subscription)));
                let eid = element_id(*element);
                let payload = TimerJob { subscription: subscription.0, element_id: eid.clone() };
                ch.jobs_added.push(NewJob {
                    id: JobId::new(),
                    kind: JobKind::Timer,
                    due_at: *due,
                    subscription: Some(*subscription),
                    token: None,
                    element_id: Some(eid),
                    payload: to_value(&payload),
                });
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
                    // Opened by an earlier step: a timer job or a subscription row (the command
                    // does not say which; deleting the absent one costs nothing).
                    ch.jobs_removed.push(JobRemoval::Timer(*subscription));
                    ch.subscriptions_closed.push(*subscription);
                }
            }
            Command::PublishMessage { element, name, correlation_key, data } => {
                let payload = MessageJob {
                    name: name.clone(),
                    correlation_key: correlation_key.clone(),
                    data: data.clone(),
                    expires_at: None,
                };
                job(&mut ch, JobKind::Message, Some(element_id(*element)), None, to_value(&payload));
            }
            Command::BroadcastSignal { element, name, data } => {
                let payload = SignalJob { name: name.clone(), data: data.clone() };
                job(&mut ch, JobKind::Signal, Some(element_id(*element)), None, to_value(&payload));
            }
            Command::StartChild { token, element, process_key, data } => {
                let eid = element_id(*element);
                let payload = StartChildJob {
                    token: token.0,
                    element_id: eid.clone(),
                    process_key: process_key.clone(),
                    data: data.clone(),
                };
                job(&mut ch, JobKind::StartChild, Some(eid), Some(*token), to_value(&payload));
            }
            Command::CancelChild { token, element } => {
                let payload = CancelChildJob { token: token.0 };
                job(&mut ch, JobKind::CancelChild, Some(element_id(*element)), Some(*token), to_value(&payload));
            }
            Command::ErrorToParent { code, message } => {
                let payload = ChildErrorJob { code: code.clone(), message: message.clone() };
                job(&mut ch, JobKind::ChildError, None, None, to_value(&payload));
            }
            Command::EscalationToParent { code } => {
                let payload = ChildEscalationJob { code: code.clone() };
                job(&mut ch, JobKind::ChildEscalation, None, None, to_value(&payload));
            }
            Command::IncidentRaised(i) => ch.incidents_raised.push(NewIncident {
                incident: i.id.0,
                process_key: process.key.clone(),
                element_id: element_id(i.element),
                token: i.token,
                code: i.code.clone(),
                message: i.message.clone(),
            }),
            Command::IncidentResolved { incident } => {
                // Opened and resolved within this step: no row at all.
                let opened = ch.incidents_raised.len();
                ch.incidents_raised.retain(|i| i.incident != incident.0);
                if ch.incidents_raised.len() == opened {
                    ch.incidents_resolved.push(incident.0);
                }
            }
            // The child's final data is read from its row when the job runs.
            Command::RequestCompleted => job(&mut ch, JobKind::ChildDone, None, None, to_value(&ChildDoneJob {})),
            // History only. Named one by one, as the simulator's driver does (`sim.rs`), so that a
            // new command does not compile until it is decided here too.
            Command::ElementActivated { .. }
            | Command::ElementCompleted { .. }
            | Command::ElementTerminated { .. }
            | Command::ConnectorCompleted { .. }
            | Command::TaskOverdue { .. }
            | Command::TimerFired { .. }
            | Command::MessageReceived { .. }
            | Command::SignalReceived { .. }
            | Command::DecisionEvaluated { .. }
            | Command::RequestCanceled
            | Command::Modified { .. }
            | Command::DataChanged { .. }
            | Command::Migrated { .. } => {}
            Command::Suspended => ch.suspension = Some(true),
            Command::Resumed => ch.suspension = Some(false),
        }
        if let Some(entry) = entry {
            ch.record(entry);
        }
    }
    ch
}

fn job(
    ch: &mut Changes,
    kind: JobKind,
    element_id: Option<String>,
    token: Option<TokenId>,
    payload: serde_json::Value,
) {
    let due_at = ch.at;
    ch.jobs_added.push(NewJob { id: JobId::new(), kind, due_at, subscription: None, token, element_id, payload });
}

/// Closes a token's task: one created in this change, else the stored active one.
fn close_task(ch: &mut Changes, token: TokenId, status: TaskStatus) {
    if let Some(t) = ch.tasks_created.iter_mut().rev().find(|t| t.token == token) {
        if t.status == TaskStatus::Active {
            t.status = status;
            if status == TaskStatus::Completed {
                let event = HistoryEvent::TaskCompleted { task_id: Some(t.id.to_string()), token: Some(token.0) };
                let entry = HistoryEntry::new(Some(t.element_id.clone()), event);
                ch.record(entry);
            }
        }
        return;
    }
    if !ch.tasks_closed.iter().any(|t| t.token == token) {
        ch.tasks_closed.push(TaskClose { token, status, event_index: ch.events.len() });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use chrono::TimeZone;
    use serde_json::json;
    use sluice_bpmn::{Options, Source};
    use sluice_engine::runtime::SubscriptionId;
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
        ch.events.iter().map(|e| (e.event.name(), e.element_id.as_deref())).collect()
    }

    #[test]
    fn a_start_creates_the_task_the_timer_job_and_their_events() {
        let p = review();
        let mut out = Vec::new();
        let data = serde_json::from_value(json!({"order_id": "ORD-1"})).unwrap();
        Instance::start(&p, data, Start::Default, t0(), &mut out).unwrap();
        let ch = from_commands(&p, RequestId::new(), &out, t0());

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
        let ch = from_commands(&p, RequestId::new(), &out, t0());

        assert_eq!(ch.tasks_closed.len(), 1);
        assert_eq!((ch.tasks_closed[0].token, ch.tasks_closed[0].status), (token, TaskStatus::Completed));
        // The store's `task_completed` goes right before the task's `element_completed`.
        assert_eq!(ch.events[ch.tasks_closed[0].event_index].event.name(), "element_completed");
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
            Command::TaskCreated { token: TokenId(1), element: task, assignment: Box::default() },
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
        let ch = from_commands(&p, RequestId::new(), &cmds, t0());
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
        let ch = from_commands(&p, RequestId::new(), &cmds, t0());
        assert_eq!(ch.jobs_removed, vec![JobRemoval::Timer(SubscriptionId(4)), JobRemoval::Connector(TokenId(3))]);
        assert_eq!(ch.subscriptions_closed, vec![SubscriptionId(4)]);
        assert_eq!(ch.tasks_closed.len(), 1);
        assert_eq!((ch.tasks_closed[0].token, ch.tasks_closed[0].status), (TokenId(5), TaskStatus::Canceled));
    }

    /// One command in, the event type and job kind out.
    fn check(cmd: Command, event: &str, job: Option<JobKind>) {
        let p = review();
        let ch = from_commands(&p, RequestId::new(), std::slice::from_ref(&cmd), t0());
        assert_eq!(ch.events.iter().map(|e| e.event.name()).collect::<Vec<_>>(), vec![event], "{cmd:?}");
        assert_eq!(ch.jobs_added.iter().map(|j| j.kind).collect::<Vec<_>>(), job.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn every_command_maps_to_its_event_and_job() {
        let p = review();
        let (task, timer, wait) = (el(&p, "approve"), el(&p, "too_late"), el(&p, "wait_paid"));
        let data = Data::new();
        let (t, s) = (TokenId(1), SubscriptionId(1));
        check(Command::ElementActivated { token: t, element: task }, "element_activated", None);
        check(Command::ElementCompleted { token: t, element: wait, waited_us: None }, "element_completed", None);
        check(Command::ElementTerminated { token: t, element: wait }, "element_terminated", None);
        check(Command::TaskCreated { token: t, element: task, assignment: Box::default() }, "task_created", None);
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
        let ch = from_commands(&p, RequestId::new(), &[open], t0());
        assert!(ch.events.is_empty() && ch.subscriptions_opened.len() == 1);
    }

    #[test]
    fn connector_jobs_carry_an_idempotency_key_of_request_element_and_attempt() {
        let p = review();
        let request = RequestId::new();
        let cmd = Command::InvokeConnector { token: TokenId(7), element: el(&p, "approve"), attempt: 3 };
        let ch = from_commands(&p, request, &[cmd], t0());
        let job = &ch.jobs_added[0];
        let key = job.payload["idempotency_key"].as_str().unwrap();
        assert_eq!(key, format!("{request}:approve:3:{}", job.id));
        assert_eq!(job.payload["token"], 7);
        // The same key in the connector_invoked event's job id.
        assert_eq!(ch.events[0].event, HistoryEvent::ConnectorInvoked { attempt: 3, job_id: Some(job.id.to_string()) });
        assert_eq!(job.token, Some(TokenId(7)));
    }

    #[test]
    fn a_worker_job_starts_with_the_retries_its_task_names() {
        let xml = r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="urn:t">
<process id="p" isExecutable="true"><startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="gw"/>
<parallelGateway id="gw"/><sequenceFlow id="f2" sourceRef="gw" targetRef="five"/><sequenceFlow id="f3" sourceRef="gw" targetRef="plain"/>
<serviceTask id="five"><extensionElements><zeebe:taskDefinition type="ship" retries="5"/></extensionElements></serviceTask>
<serviceTask id="plain"><extensionElements><zeebe:taskDefinition type="ship"/></extensionElements></serviceTask>
</process></definitions>"#;
        let imported = sluice_bpmn::import(&[Source { name: "j.bpmn", bytes: xml.as_bytes() }], &Options::default());
        assert!(!imported.has_errors(), "{:?}", imported.diagnostics);
        let p = imported.definitions.process("p").unwrap().clone();
        let mut out = Vec::new();
        Instance::start(&p, Data::new(), Start::Default, t0(), &mut out).unwrap();
        let mut ch = from_commands(&p, RequestId::new(), &out, t0());
        to_workers(&p, &mut ch, |t| t == "ship");
        let mut retries: Vec<(String, i64)> = ch
            .jobs_added
            .iter()
            .filter(|j| j.kind == JobKind::Worker)
            .map(|j| serde_json::from_value::<WorkerJob>(j.payload.clone()).unwrap())
            .map(|w| (w.element_id, w.retries))
            .collect();
        retries.sort();
        assert_eq!(retries, [("five".to_string(), 5), ("plain".to_string(), DEFAULT_JOB_RETRIES)]);
    }
}
