//! A Request's history, typed: every event Sluice records about a Request, defined once.
//!
//! The runtime's [`Command`]s become events through [`HistoryEntry::of_command`], which both
//! drivers use: the durable worker (its events are stored as the Request's history) and the
//! in-memory simulator behind `sluice run` (its events become trace lines). The match there names
//! every command, so a new command that has no history decision does not compile.
//!
//! Events are serialized only at the edges. An event is `{"type": <name>, "payload": {…}}`
//! (`payload` left out for events that carry nothing), with the element it concerns beside it;
//! the store writes that form and the API shows it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_bpmn::{ElementIdx, Process};

use crate::runtime::{Command, DecisionMatch, ModifyChange, TaskAssignment};

/// What a process can notify about (each maps from a history event: see
/// [`HistoryEvent::notification`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationEvent {
    /// A Request of the process started.
    RequestStarted,
    /// A Request of the process completed.
    RequestCompleted,
    /// An element of a Request failed (an incident was raised).
    RequestError,
    /// A user or manual task waits for a person.
    TaskWaiting,
    /// A task's due date passed while it was open.
    TaskOverdue,
}

impl NotificationEvent {
    pub const ALL: [NotificationEvent; 5] = [
        NotificationEvent::RequestStarted,
        NotificationEvent::RequestCompleted,
        NotificationEvent::RequestError,
        NotificationEvent::TaskWaiting,
        NotificationEvent::TaskOverdue,
    ];

    /// The name stored in the database and used by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationEvent::RequestStarted => "request_started",
            NotificationEvent::RequestCompleted => "request_completed",
            NotificationEvent::RequestError => "request_error",
            NotificationEvent::TaskWaiting => "task_waiting",
            NotificationEvent::TaskOverdue => "task_overdue",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        NotificationEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl std::fmt::Display for NotificationEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event of a Request's history. Field order is the order in which they are written.
///
/// Several variants repeat a runtime [`Command`]'s fields (`ErrorToParent`, `RequestCompleted`, …):
/// an event is the stored record of what a command did, a type of its own so that the history
/// that is kept (and shown by the API) does not change when a command's shape does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "snake_case")]
pub enum HistoryEvent {
    RequestStarted {
        process_key: String,
        /// The deployed version (the simulator has none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        process_version: Option<i64>,
    },
    ElementActivated,
    ElementCompleted,
    ElementTerminated,
    TaskCreated {
        /// The task's id (a durable Request's task row; the simulator has none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task_id: Option<String>,
        token: u32,
        /// Who the task is for and when it is due (left out when the model says nothing).
        #[serde(default, flatten)]
        assignment: TaskAssignment,
    },
    /// The task's due date passed while it was open (once per task).
    TaskOverdue {
        token: u32,
        due: String,
    },
    TaskCompleted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<u32>,
    },
    TaskCanceled {
        token: u32,
    },
    ConnectorInvoked {
        attempt: u32,
        /// The outbox job that runs the call (durable Requests).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job_id: Option<String>,
    },
    ConnectorCompleted {
        output: Value,
    },
    ConnectorCanceled,
    /// A placeholder in a connector input resolved to nothing (no such variable or field, as in
    /// a typo `{{ order.nmae }}`) and was rendered empty. Recorded with the call's result.
    TemplateWarning {
        input: String,
        path: String,
    },
    TimerScheduled {
        due: String,
    },
    TimerFired {
        subscription: u32,
        at: String,
    },
    MessageReceived {
        name: String,
    },
    SignalReceived {
        name: String,
    },
    MessagePublished {
        name: String,
        correlation_key: Option<String>,
    },
    SignalBroadcast {
        name: String,
    },
    CallStarted {
        process_key: String,
    },
    CallCanceled,
    /// A business rule task evaluated its decision: the version, every table's matched rules,
    /// and the value stored in the result variable.
    DecisionEvaluated {
        decision_id: String,
        version: i64,
        matched: Vec<DecisionMatch>,
        output: Value,
    },
    IncidentRaised {
        incident_id: u32,
        token: u32,
        code: String,
        message: String,
    },
    IncidentResolved {
        incident_id: u32,
    },
    // These last variants mirror `Command`'s in `runtime/mod.rs` field for field: the command is
    // what the engine asks its driver to do, this is the stored record of it (serialized under its
    // own names), so each enum lists its fields and a change to one is a decision for the other.
    ErrorToParent {
        code: String,
        message: Option<String>,
    },
    EscalationToParent {
        code: String,
    },
    RequestCompleted,
    RequestCanceled,
    /// An operator repaired the Request: one change (`cancel`, `start_before`, `start_after`) at
    /// the element, with the tokens it canceled or started.
    RequestModified {
        change: ModifyChange,
        tokens: Vec<u32>,
    },
    /// An operator suspended the Request (its jobs wait), or resumed it.
    RequestSuspended,
    RequestResumed,
    /// The Request moved to another version of its process; `renamed`: the elements whose id
    /// changed on the way, old to new.
    RequestMigrated {
        from_version: i64,
        to_version: i64,
        renamed: std::collections::BTreeMap<String, String>,
    },
    /// An operator changed the Request's data with a JSON merge patch: the patch, the top-level
    /// keys it changed, and who (`by`).
    DataChanged {
        patch: serde_json::Map<String, Value>,
        changed: Vec<String>,
        by: Option<String>,
    },
    /// A notification was delivered (see the worker's notifications).
    NotificationSent {
        #[serde(flatten)]
        about: NotificationRef,
        ts: String,
        attempts: i64,
    },
    /// A delivered notification's message was changed to say who decided its task.
    NotificationUpdated {
        #[serde(flatten)]
        about: NotificationRef,
        ts: String,
        /// Who completed the task: their Slack user id when Slack knows them, else their username.
        decided_by: String,
        decided_by_name: Option<String>,
        /// The decision (`approved` in the Request's data); `None` for a task completed without one.
        #[serde(default)]
        approved: Option<bool>,
    },
    /// A click on Approve or Reject in Slack that did not count: the Slack user is linked to no
    /// Sluice user, or to one who may not complete the task. The task stays open.
    SlackClickRefused {
        task_id: String,
        /// The Slack user id of who clicked, and the integration the message came from.
        slack_user: String,
        integration: String,
        /// Their Sluice username, when they have one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        approved: bool,
        /// Why, as the ephemeral reply said it.
        reason: String,
    },
    /// A notification could not be delivered (or its message not updated).
    NotificationFailed {
        #[serde(flatten)]
        about: Option<NotificationRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ts: Option<String>,
        /// The provider's error code, when it gave one.
        error: Option<String>,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempts: Option<i64>,
    },
}

/// Which notification a notification event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRef {
    pub notification: NotificationEvent,
    pub integration: String,
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
}

impl HistoryEvent {
    /// The event's name: its `type` in the stored history and the API (serde's name of the
    /// variant; a test checks that they agree). Spelled out rather than serialized to read it:
    /// notification planning and traces ask for it on every event.
    pub fn name(&self) -> &'static str {
        match self {
            HistoryEvent::RequestStarted { .. } => "request_started",
            HistoryEvent::ElementActivated => "element_activated",
            HistoryEvent::ElementCompleted => "element_completed",
            HistoryEvent::ElementTerminated => "element_terminated",
            HistoryEvent::TaskCreated { .. } => "task_created",
            HistoryEvent::TaskOverdue { .. } => "task_overdue",
            HistoryEvent::TaskCompleted { .. } => "task_completed",
            HistoryEvent::TaskCanceled { .. } => "task_canceled",
            HistoryEvent::ConnectorInvoked { .. } => "connector_invoked",
            HistoryEvent::ConnectorCompleted { .. } => "connector_completed",
            HistoryEvent::ConnectorCanceled => "connector_canceled",
            HistoryEvent::TemplateWarning { .. } => "template_warning",
            HistoryEvent::TimerScheduled { .. } => "timer_scheduled",
            HistoryEvent::TimerFired { .. } => "timer_fired",
            HistoryEvent::MessageReceived { .. } => "message_received",
            HistoryEvent::SignalReceived { .. } => "signal_received",
            HistoryEvent::MessagePublished { .. } => "message_published",
            HistoryEvent::SignalBroadcast { .. } => "signal_broadcast",
            HistoryEvent::CallStarted { .. } => "call_started",
            HistoryEvent::CallCanceled => "call_canceled",
            HistoryEvent::DecisionEvaluated { .. } => "decision_evaluated",
            HistoryEvent::IncidentRaised { .. } => "incident_raised",
            HistoryEvent::IncidentResolved { .. } => "incident_resolved",
            HistoryEvent::ErrorToParent { .. } => "error_to_parent",
            HistoryEvent::EscalationToParent { .. } => "escalation_to_parent",
            HistoryEvent::RequestCompleted => "request_completed",
            HistoryEvent::RequestCanceled => "request_canceled",
            HistoryEvent::RequestModified { .. } => "request_modified",
            HistoryEvent::DataChanged { .. } => "data_changed",
            HistoryEvent::RequestMigrated { .. } => "request_migrated",
            HistoryEvent::RequestSuspended => "request_suspended",
            HistoryEvent::RequestResumed => "request_resumed",
            HistoryEvent::NotificationSent { .. } => "notification_sent",
            HistoryEvent::NotificationUpdated { .. } => "notification_updated",
            HistoryEvent::SlackClickRefused { .. } => "slack_click_refused",
            HistoryEvent::NotificationFailed { .. } => "notification_failed",
        }
    }

    /// The notification this event is the occasion of, if any (`request_started` is not an
    /// event of a step: the driver plans it with the Request's creation).
    pub fn notification(&self) -> Option<NotificationEvent> {
        match self {
            HistoryEvent::TaskCreated { .. } => Some(NotificationEvent::TaskWaiting),
            HistoryEvent::TaskOverdue { .. } => Some(NotificationEvent::TaskOverdue),
            HistoryEvent::RequestCompleted => Some(NotificationEvent::RequestCompleted),
            HistoryEvent::IncidentRaised { .. } => Some(NotificationEvent::RequestError),
            _ => None,
        }
    }
}

/// A history event with the element it concerns.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    pub element_id: Option<String>,
    pub event: HistoryEvent,
}

impl HistoryEntry {
    pub fn new(element_id: Option<String>, event: HistoryEvent) -> Self {
        HistoryEntry { element_id, event }
    }

    /// The history event a command leaves, if any, at `now`. Commands that only open or close
    /// something (subscriptions) leave none; the driver keeps those as rows of their own.
    /// Durable-only ids (`task_id`, `job_id`) are left empty for the driver to fill in.
    pub fn of_command(process: &Process, command: &Command, now: DateTime<Utc>) -> Option<HistoryEntry> {
        let id = |e: ElementIdx| {
            Some(process.elements.get(e.index()).map(|x| x.id.clone()).unwrap_or_else(|| format!("#{}", e.index())))
        };
        let (element_id, event) = match command {
            Command::ElementActivated { element, .. } => (id(*element), HistoryEvent::ElementActivated),
            Command::ElementCompleted { element, .. } => (id(*element), HistoryEvent::ElementCompleted),
            Command::ElementTerminated { element, .. } => (id(*element), HistoryEvent::ElementTerminated),
            Command::TaskCreated { token, element, assignment } => (
                id(*element),
                HistoryEvent::TaskCreated { task_id: None, token: token.0, assignment: (**assignment).clone() },
            ),
            Command::TaskOverdue { token, element, due } => {
                (id(*element), HistoryEvent::TaskOverdue { token: token.0, due: due.to_rfc3339() })
            }
            Command::TaskCanceled { token, element } => (id(*element), HistoryEvent::TaskCanceled { token: token.0 }),
            Command::InvokeConnector { element, attempt, .. } => {
                (id(*element), HistoryEvent::ConnectorInvoked { attempt: *attempt, job_id: None })
            }
            Command::ConnectorCompleted { element, output, .. } => {
                (id(*element), HistoryEvent::ConnectorCompleted { output: output.clone() })
            }
            Command::CancelConnector { element, .. } => (id(*element), HistoryEvent::ConnectorCanceled),
            Command::ScheduleTimer { element, due, .. } => {
                (id(*element), HistoryEvent::TimerScheduled { due: due.to_rfc3339() })
            }
            Command::TimerFired { subscription, element } => {
                (id(*element), HistoryEvent::TimerFired { subscription: subscription.0, at: now.to_rfc3339() })
            }
            Command::MessageReceived { element, name, .. } => {
                (id(*element), HistoryEvent::MessageReceived { name: name.clone() })
            }
            Command::SignalReceived { element, name, .. } => {
                (id(*element), HistoryEvent::SignalReceived { name: name.clone() })
            }
            Command::PublishMessage { element, name, correlation_key, .. } => (
                id(*element),
                HistoryEvent::MessagePublished { name: name.clone(), correlation_key: correlation_key.clone() },
            ),
            Command::BroadcastSignal { element, name, .. } => {
                (id(*element), HistoryEvent::SignalBroadcast { name: name.clone() })
            }
            Command::StartChild { element, process_key, .. } => {
                (id(*element), HistoryEvent::CallStarted { process_key: process_key.clone() })
            }
            Command::CancelChild { element, .. } => (id(*element), HistoryEvent::CallCanceled),
            Command::DecisionEvaluated { element, outcome, .. } => (
                id(*element),
                HistoryEvent::DecisionEvaluated {
                    decision_id: outcome.decision_id.clone(),
                    version: outcome.version,
                    matched: outcome.matched.clone(),
                    output: outcome.output.clone(),
                },
            ),
            Command::IncidentRaised(i) => (
                id(i.element),
                HistoryEvent::IncidentRaised {
                    incident_id: i.id.0,
                    token: i.token.0,
                    code: i.code.clone(),
                    message: i.message.clone(),
                },
            ),
            Command::IncidentResolved { incident } => {
                (None, HistoryEvent::IncidentResolved { incident_id: incident.0 })
            }
            Command::ErrorToParent { code, message } => {
                (None, HistoryEvent::ErrorToParent { code: code.clone(), message: message.clone() })
            }
            Command::EscalationToParent { code } => (None, HistoryEvent::EscalationToParent { code: code.clone() }),
            Command::RequestCompleted => (None, HistoryEvent::RequestCompleted),
            Command::RequestCanceled => (None, HistoryEvent::RequestCanceled),
            Command::Modified { change, element, tokens } => (
                id(*element),
                HistoryEvent::RequestModified { change: *change, tokens: tokens.iter().map(|t| t.0).collect() },
            ),
            Command::Suspended => (None, HistoryEvent::RequestSuspended),
            Command::Resumed => (None, HistoryEvent::RequestResumed),
            Command::Migrated { from_version, to_version, renamed } => (
                None,
                HistoryEvent::RequestMigrated {
                    from_version: *from_version,
                    to_version: *to_version,
                    renamed: renamed.iter().cloned().collect(),
                },
            ),
            Command::DataChanged { patch, changed, by } => {
                (None, HistoryEvent::DataChanged { patch: patch.clone(), changed: changed.clone(), by: by.clone() })
            }
            // Subscriptions are kept as rows (durable) or in the instance (simulator), not history.
            Command::OpenMessageSubscription { .. }
            | Command::OpenSignalSubscription { .. }
            | Command::CloseSubscription { .. } => return None,
        };
        Some(HistoryEntry { element_id, event })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn events_serialize_as_type_and_payload_and_read_back() {
        let e =
            HistoryEvent::TaskCreated { task_id: Some("t-1".into()), token: 3, assignment: TaskAssignment::default() };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"type": "task_created", "payload": {"task_id": "t-1", "token": 3}})
        );
        let unit = HistoryEvent::RequestCompleted;
        assert_eq!(serde_json::to_value(&unit).unwrap(), json!({"type": "request_completed"}));
        for e in [e, unit] {
            let back: HistoryEvent = serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
            assert_eq!(back, e);
            assert_eq!(serde_json::to_value(&e).unwrap()["type"], e.name());
        }
        let failed = HistoryEvent::NotificationFailed {
            about: None,
            ts: None,
            error: None,
            message: "the notification job cannot be read".into(),
            attempts: Some(1),
        };
        let v = serde_json::to_value(&failed).unwrap();
        assert_eq!(
            v["payload"],
            json!({"error": null, "message": "the notification job cannot be read", "attempts": 1})
        );
    }

    #[test]
    fn every_name_is_the_serialized_type() {
        let about = NotificationRef {
            notification: NotificationEvent::TaskWaiting,
            integration: "default".into(),
            channel: "C1".into(),
            task_id: None,
        };
        let s = String::new;
        let all = [
            HistoryEvent::RequestStarted { process_key: s(), process_version: Some(1) },
            HistoryEvent::ElementActivated,
            HistoryEvent::ElementCompleted,
            HistoryEvent::ElementTerminated,
            HistoryEvent::TaskCreated { task_id: None, token: 1, assignment: TaskAssignment::default() },
            HistoryEvent::TaskCompleted { task_id: None, token: None },
            HistoryEvent::TaskCanceled { token: 1 },
            HistoryEvent::ConnectorInvoked { attempt: 1, job_id: None },
            HistoryEvent::ConnectorCompleted { output: Value::Null },
            HistoryEvent::ConnectorCanceled,
            HistoryEvent::TemplateWarning { input: s(), path: s() },
            HistoryEvent::TimerScheduled { due: s() },
            HistoryEvent::TimerFired { subscription: 1, at: s() },
            HistoryEvent::MessageReceived { name: s() },
            HistoryEvent::SignalReceived { name: s() },
            HistoryEvent::MessagePublished { name: s(), correlation_key: None },
            HistoryEvent::SignalBroadcast { name: s() },
            HistoryEvent::CallStarted { process_key: s() },
            HistoryEvent::CallCanceled,
            HistoryEvent::DecisionEvaluated {
                decision_id: s(),
                version: 1,
                matched: vec![DecisionMatch {
                    decision_id: s(),
                    rule_ids: vec![s()],
                    rule_indexes: vec![1],
                    output: Value::Null,
                }],
                output: Value::Null,
            },
            HistoryEvent::IncidentRaised { incident_id: 1, token: 1, code: s(), message: s() },
            HistoryEvent::IncidentResolved { incident_id: 1 },
            HistoryEvent::ErrorToParent { code: s(), message: None },
            HistoryEvent::EscalationToParent { code: s() },
            HistoryEvent::RequestCompleted,
            HistoryEvent::RequestCanceled,
            HistoryEvent::RequestModified { change: ModifyChange::StartBefore, tokens: vec![1] },
            HistoryEvent::NotificationSent { about: about.clone(), ts: s(), attempts: 1 },
            HistoryEvent::NotificationUpdated {
                about: about.clone(),
                ts: s(),
                decided_by: s(),
                decided_by_name: None,
                approved: Some(true),
            },
            HistoryEvent::SlackClickRefused {
                task_id: s(),
                slack_user: s(),
                integration: s(),
                user: None,
                approved: false,
                reason: s(),
            },
            HistoryEvent::NotificationFailed {
                about: Some(about),
                ts: None,
                error: None,
                message: s(),
                attempts: None,
            },
        ];
        for e in all {
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v["type"], e.name(), "{v}");
            let back: HistoryEvent = serde_json::from_value(v).unwrap();
            assert_eq!(back, e);
        }
    }
}
