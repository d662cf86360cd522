//! An in-memory driver with a virtual clock: runs Requests (and their call-activity children)
//! without a database, for `sluice run`, tests and benchmarks.
//!
//! It does what the durable worker does, synchronously: starts child Requests, correlates
//! messages, broadcasts signals, calls connectors through a host callback, and fires timers when
//! asked to move the clock. It records a trace of everything as JSON objects.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sluice_bpmn::{ConnectorCall, ElementIdx, Kind, Process, TaskKind, Trigger};

use crate::history::{HistoryEntry, HistoryEvent};
use crate::runtime::{
    Command, Data, Decisions, FoundDecision, Input, Instance, Start, StartError, Status, StepError, SubscriptionKind,
    TaskView, TokenId,
};

/// Index of a Request in a [`Sim`].
pub type RequestNo = usize;

/// What a connector call returned.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectorOutcome {
    Completed(Value),
    /// A job worker's completion (a job task in a dry run): the data is the task's result, mapped
    /// by its outputs or merged into the Request's (`Input::JobCompleted`).
    JobCompleted(Data),
    /// A BPMN error, caught by error boundary events.
    BpmnError {
        code: String,
        message: Option<String>,
    },
    /// A failure for a person to fix: an incident.
    Failed(String),
}

impl ConnectorOutcome {
    /// The input that hands this outcome to the connector task of `token`.
    pub fn into_input(self, token: TokenId) -> Input {
        match self {
            ConnectorOutcome::Completed(output) => Input::ConnectorCompleted { token, output },
            ConnectorOutcome::JobCompleted(data) => Input::JobCompleted { token, data },
            ConnectorOutcome::BpmnError { code, message } => Input::ThrowError { token, code, message },
            ConnectorOutcome::Failed(message) => Input::ConnectorFailed { token, message },
        }
    }
}

/// One connector invocation as the host sees it.
pub struct ConnectorInvocation<'a> {
    pub request: RequestNo,
    pub process: &'a Process,
    pub element_id: &'a str,
    pub call: &'a ConnectorCall,
    /// Every variable the task sees.
    pub variables: &'a Data,
    pub attempt: u32,
}

/// Runs connectors for the simulator.
pub trait ConnectorHost {
    fn invoke(&mut self, call: ConnectorInvocation<'_>) -> ConnectorOutcome;
}

/// Completes every connector task at once with an empty object: for dry runs of models whose
/// connectors should not really be called.
pub struct StubConnectors;

impl ConnectorHost for StubConnectors {
    fn invoke(&mut self, _call: ConnectorInvocation<'_>) -> ConnectorOutcome {
        ConnectorOutcome::Completed(Value::Object(Data::new()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no process `{0}` is deployed")]
    UnknownProcess(String),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Step(#[from] StepError),
    #[error("no Request number {0}")]
    UnknownRequest(RequestNo),
}

struct SimRequest {
    process: Arc<Process>,
    inst: Instance,
    parent: Option<Caller>,
}

/// The call activity that started a child Request.
#[derive(Clone, Copy)]
struct Caller {
    request: RequestNo,
    token: TokenId,
    element: ElementIdx,
}

/// The decisions of a dry run: each decision of the given `.dmn` files as version 1 (a version
/// tag binding picks it when its `versionTag` is that tag).
#[derive(Default)]
pub struct SimDecisions {
    by_id: HashMap<String, (Arc<sluice_dmn::Definitions>, Option<String>)>,
}

impl SimDecisions {
    /// Every decision of `definitions`; a later file's decision of the same id wins.
    pub fn add(&mut self, definitions: Arc<sluice_dmn::Definitions>) {
        for d in definitions.decisions() {
            self.by_id.insert(d.id, (definitions.clone(), d.version_tag));
        }
    }
}

impl Decisions for SimDecisions {
    fn find(&self, decision_id: &str, binding: &sluice_bpmn::DecisionBinding) -> Option<FoundDecision<'_>> {
        let (definitions, tag) = self.by_id.get(decision_id)?;
        let fits = match binding {
            sluice_bpmn::DecisionBinding::Latest | sluice_bpmn::DecisionBinding::Version(1) => true,
            sluice_bpmn::DecisionBinding::Version(_) => false,
            sluice_bpmn::DecisionBinding::VersionTag(t) => tag.as_deref() == Some(t.as_str()),
        };
        fits.then_some(FoundDecision { definitions, version: 1 })
    }
}

/// A set of deployed processes and the Requests running on them.
pub struct Sim {
    processes: HashMap<String, Arc<Process>>,
    decisions: SimDecisions,
    now: DateTime<Utc>,
    requests: Vec<SimRequest>,
    /// Work produced by steps and not handled yet: (request, command).
    pending: Vec<(RequestNo, Command)>,
    trace: Vec<Value>,
    /// When each open task was created, to hand tasks out oldest first.
    task_seq: HashMap<(RequestNo, TokenId), u64>,
    next_seq: u64,
    /// Record `element_activated` lines too (off by default: traces stay readable).
    pub trace_activations: bool,
}

impl Sim {
    pub fn new(processes: impl IntoIterator<Item = Arc<Process>>, now: DateTime<Utc>) -> Self {
        Self {
            processes: processes.into_iter().map(|p| (p.key.clone(), p)).collect(),
            decisions: SimDecisions::default(),
            now,
            requests: Vec::new(),
            pending: Vec::new(),
            trace: Vec::new(),
            task_seq: HashMap::new(),
            next_seq: 0,
            trace_activations: false,
        }
    }

    /// Deploys the decisions of a `.dmn` file (each as version 1), for business rule tasks.
    pub fn add_decisions(&mut self, definitions: Arc<sluice_dmn::Definitions>) {
        self.decisions.add(definitions);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub fn trace(&self) -> &[Value] {
        &self.trace
    }

    pub fn process_of(&self, r: RequestNo) -> Option<&Arc<Process>> {
        self.requests.get(r).map(|x| &x.process)
    }

    pub fn instance(&self, r: RequestNo) -> Option<&Instance> {
        self.requests.get(r).map(|x| &x.inst)
    }

    pub fn requests(&self) -> usize {
        self.requests.len()
    }

    /// Starts a Request through the process's none start event; run [`Sim::settle`] after.
    pub fn start(&mut self, key: &str, data: Data) -> Result<RequestNo, SimError> {
        self.start_at(key, data, Start::Default, None)
    }

    /// Starts a Request through one start event (message, signal or timer start), by element id.
    pub fn start_event(&mut self, key: &str, element_id: &str, data: Data) -> Result<RequestNo, SimError> {
        let process = self.processes.get(key).cloned().ok_or_else(|| SimError::UnknownProcess(key.to_string()))?;
        let e = process
            .element_by_id(element_id)
            .ok_or_else(|| SimError::Start(StartError::NotAStartEvent(element_id.to_string(), key.to_string())))?;
        self.start_at(key, data, Start::Event(e), None)
    }

    fn start_at(&mut self, key: &str, data: Data, start: Start, parent: Option<Caller>) -> Result<RequestNo, SimError> {
        let process = self.processes.get(key).cloned().ok_or_else(|| SimError::UnknownProcess(key.to_string()))?;
        let mut out = Vec::new();
        let inst = if let Some(caller) = parent {
            let depth = self.requests.get(caller.request).map_or(0, |r| r.inst.call_depth());
            Instance::start_called_with(&process, &self.decisions, data, depth, self.now, &mut out)?
        } else {
            Instance::start_with(&process, &self.decisions, data, start, None, self.now, &mut out)?
        };
        let no = self.requests.len();
        self.requests.push(SimRequest { process, inst, parent });
        self.record(no, json!({"event": "request_started", "process": key}));
        self.absorb(no, out);
        Ok(no)
    }

    /// Replaces values in a Request's data (to fix what an incident complained about, say).
    pub fn merge_data(&mut self, r: RequestNo, data: Data) {
        if let Some(req) = self.requests.get_mut(r) {
            req.inst.merge_data(data);
        }
    }

    /// Applies an input to a Request and records what it did.
    pub fn step(&mut self, r: RequestNo, input: Input) -> Result<(), SimError> {
        let req = self.requests.get_mut(r).ok_or(SimError::UnknownRequest(r))?;
        let mut out = Vec::new();
        let process = req.process.clone();
        req.inst.step_with(&process, &self.decisions, input, self.now, &mut out)?;
        self.absorb(r, out);
        Ok(())
    }

    fn absorb(&mut self, r: RequestNo, out: Vec<Command>) {
        for c in out {
            if let Command::TaskCreated { token, .. } = c {
                self.task_seq.insert((r, token), self.next_seq);
                self.next_seq += 1;
            }
            self.record_command(r, &c);
            self.pending.push((r, c));
        }
    }

    /// Handles internal work until nothing is left: children, messages, signals, connectors.
    pub fn settle(&mut self, connectors: &mut dyn ConnectorHost) {
        while !self.pending.is_empty() {
            let batch = std::mem::take(&mut self.pending);
            for (r, c) in batch {
                self.handle(r, c, connectors);
            }
        }
    }

    fn handle(&mut self, r: RequestNo, c: Command, connectors: &mut dyn ConnectorHost) {
        match c {
            Command::InvokeConnector { token, element, attempt } => {
                let Some(req) = self.requests.get(r) else { return };
                let process = req.process.clone();
                let vars = req.inst.flattened_variables(token);
                let el = process.element(element);
                let Kind::Task(TaskKind::Connector(call)) = &el.kind else { return };
                let outcome = connectors.invoke(ConnectorInvocation {
                    request: r,
                    process: &process,
                    element_id: &el.id,
                    call,
                    variables: &vars,
                    attempt,
                });
                self.step_or_record(r, outcome.into_input(token), Some(element));
            }
            Command::StartChild { token, element, process_key, data } => {
                let caller = Caller { request: r, token, element };
                if let Err(e) = self.start_at(&process_key, data, Start::Default, Some(caller)) {
                    self.record(r, json!({"event": "call_failed", "message": e.to_string()}));
                    let input = Input::ChildError { token, code: "call_failed".into(), message: Some(e.to_string()) };
                    self.step_or_record(r, input, Some(element));
                }
            }
            Command::CancelChild { token, .. } => {
                if let Some(child) = self.child_of(r, token) {
                    self.step_or_record(child, Input::Cancel, None);
                }
            }
            Command::RequestCompleted => {
                if let Some(caller) = self.requests.get(r).and_then(|x| x.parent) {
                    let data = self.requests[r].inst.data().clone();
                    let input = Input::ChildCompleted { token: caller.token, data };
                    self.step_or_record(caller.request, input, Some(caller.element));
                }
            }
            Command::ErrorToParent { code, message } => {
                if let Some(caller) = self.requests.get(r).and_then(|x| x.parent) {
                    let input = Input::ChildError { token: caller.token, code, message };
                    self.step_or_record(caller.request, input, Some(caller.element));
                }
            }
            Command::EscalationToParent { code } => {
                if let Some(caller) = self.requests.get(r).and_then(|x| x.parent) {
                    let input = Input::ChildEscalation { token: caller.token, code };
                    self.step_or_record(caller.request, input, Some(caller.element));
                }
            }
            Command::PublishMessage { name, correlation_key, data, .. } => {
                self.publish_message(&name, correlation_key.as_deref(), data);
            }
            Command::BroadcastSignal { name, data, .. } => self.broadcast_signal(&name, data),
            // Every command is named (the worker's `changes.rs` lists the same ones for its rows):
            // a new command does not compile until each driver decides what to do with it.
            // History only (traced by `record_command`), or state the instance keeps itself:
            // user tasks wait for `complete_task`, timers for `advance_to`, subscriptions are
            // found in the instances when a message or signal comes.
            Command::ElementActivated { .. }
            | Command::ElementCompleted { .. }
            | Command::ElementTerminated { .. }
            | Command::TaskCreated { .. }
            | Command::TaskCanceled { .. }
            | Command::TaskOverdue { .. }
            | Command::CancelConnector { .. }
            | Command::ConnectorCompleted { .. }
            | Command::ScheduleTimer { .. }
            | Command::OpenMessageSubscription { .. }
            | Command::OpenSignalSubscription { .. }
            | Command::CloseSubscription { .. }
            | Command::TimerFired { .. }
            | Command::MessageReceived { .. }
            | Command::SignalReceived { .. }
            | Command::DecisionEvaluated { .. }
            | Command::IncidentRaised(_)
            | Command::IncidentResolved { .. }
            | Command::RequestCanceled
            | Command::Modified { .. }
            | Command::DataChanged { .. }
            | Command::Migrated { .. }
            | Command::Suspended
            | Command::Resumed => {}
        }
    }

    /// Applies an input the simulator itself produced (a connector's answer, a child's end, a
    /// timer, a message, a signal) for `element`; one the Request refuses is recorded as
    /// `input_refused`, naming the element and the input, and dropped, as the worker drops it.
    fn step_or_record(&mut self, r: RequestNo, input: Input, element: Option<ElementIdx>) {
        let kind = input_kind(&input);
        if let Err(e) = self.step(r, input) {
            let mut line = json!({"event": "input_refused", "input": kind, "message": e.to_string()});
            if let (Some(e), Some(req), Value::Object(m)) = (element, self.requests.get(r), &mut line)
                && let Some(el) = req.process.elements.get(e.index())
            {
                m.insert("element_id".into(), json!(el.id));
            }
            self.record(r, line);
        }
    }

    fn child_of(&self, parent: RequestNo, token: TokenId) -> Option<RequestNo> {
        self.requests.iter().position(|x| {
            x.parent.is_some_and(|c| c.request == parent && c.token == token) && x.inst.status() == Status::Active
        })
    }

    /// Delivers a message to the first open subscription it matches (or starts a Request at a
    /// matching message start event). Returns the Requests it reached; a message that matches
    /// nothing is recorded and dropped.
    pub fn publish_message(&mut self, name: &str, key: Option<&str>, data: Data) -> Vec<RequestNo> {
        let mut hit = None;
        'outer: for (r, req) in self.requests.iter().enumerate() {
            if req.inst.status() != Status::Active {
                continue;
            }
            for s in req.inst.subscriptions() {
                if let SubscriptionKind::Message { name: n, correlation_key } = &s.kind
                    && n == name
                    && (correlation_key.is_none() || correlation_key.as_deref() == key)
                {
                    hit = Some((r, s.id, s.element));
                    break 'outer;
                }
            }
        }
        if let Some((r, subscription, element)) = hit {
            self.step_or_record(r, Input::MessageReceived { subscription, data }, Some(element));
            return vec![r];
        }
        let start = self.processes.values().find_map(|p| {
            p.scope(sluice_bpmn::ScopeIdx::ROOT).event_starts.iter().find_map(|&e| match &p.element(e).kind {
                Kind::StartEvent { trigger: Trigger::Message(m), .. } if m.name == name => Some((p.key.clone(), e)),
                _ => None,
            })
        });
        if let Some((key, e)) = start
            && let Ok(r) = self.start_at(&key, data, Start::Event(e), None)
        {
            return vec![r];
        }
        self.trace.push(json!({"event": "message_unmatched", "name": name, "correlation_key": key}));
        Vec::new()
    }

    /// Delivers a signal to every open subscription with its name, in every Request.
    pub fn broadcast_signal(&mut self, name: &str, data: Data) {
        let mut hits = Vec::new();
        for (r, req) in self.requests.iter().enumerate() {
            if req.inst.status() != Status::Active {
                continue;
            }
            for s in req.inst.subscriptions() {
                if matches!(&s.kind, SubscriptionKind::Signal { name: n } if n == name) {
                    hits.push((r, s.id, s.element));
                }
            }
        }
        for (r, subscription, element) in hits {
            // An earlier delivery may have closed this one (an interrupting boundary, say).
            let open = self.requests[r].inst.subscriptions().iter().any(|s| s.id == subscription);
            if open {
                let input = Input::SignalReceived { subscription, data: data.clone() };
                self.step_or_record(r, input, Some(element));
            }
        }
        // Every signal start event with this name starts a Request of its process.
        let mut starts: Vec<(String, sluice_bpmn::ElementIdx)> = self
            .processes
            .values()
            .filter(|p| p.executable)
            .flat_map(|p| {
                p.scope(sluice_bpmn::ScopeIdx::ROOT).event_starts.iter().filter_map(move |&e| {
                    match &p.element(e).kind {
                        Kind::StartEvent { trigger: Trigger::Signal(n), .. } if n == name => Some((p.key.clone(), e)),
                        _ => None,
                    }
                })
            })
            .collect();
        starts.sort();
        for (key, e) in starts {
            if let Err(err) = self.start_at(&key, data.clone(), Start::Event(e), None) {
                self.trace.push(json!({"event": "start_failed", "process": key, "message": err.to_string()}));
            }
        }
    }

    /// Open user and manual tasks of every Request, oldest first.
    pub fn tasks(&self) -> Vec<(RequestNo, TaskView)> {
        let mut tasks: Vec<(RequestNo, TaskView)> = self
            .requests
            .iter()
            .enumerate()
            .filter(|(_, r)| r.inst.status() == Status::Active)
            .flat_map(|(n, r)| r.inst.tasks().into_iter().map(move |t| (n, t)))
            .collect();
        tasks.sort_by_key(|(r, t)| self.task_seq.get(&(*r, t.token)).copied().unwrap_or(u64::MAX));
        tasks
    }

    /// The element id of a task.
    pub fn element_id(&self, r: RequestNo, t: &TaskView) -> String {
        self.requests.get(r).map(|x| x.process.element(t.element).id.clone()).unwrap_or_default()
    }

    pub fn complete_task(&mut self, r: RequestNo, token: TokenId, data: Data) -> Result<(), SimError> {
        let element = self.requests.get(r).and_then(|x| {
            x.inst.tasks().into_iter().find(|t| t.token == token).map(|t| x.process.element(t.element).id.clone())
        });
        if let Some(id) = element {
            self.record(r, json!({"event": "task_completed", "element_id": id}));
        }
        self.step(r, Input::CompleteTask { token, data })
    }

    /// The earliest open timer of any Request.
    pub fn next_timer(&self) -> Option<DateTime<Utc>> {
        self.requests
            .iter()
            .filter(|r| r.inst.status() == Status::Active)
            .flat_map(|r| r.inst.subscriptions())
            .filter_map(|s| match s.kind {
                SubscriptionKind::Timer { due, .. } => Some(due),
                _ => None,
            })
            .min()
    }

    /// Moves the clock to `to`, firing every timer due by then in due order.
    pub fn advance_to(&mut self, to: DateTime<Utc>, connectors: &mut dyn ConnectorHost) {
        loop {
            let next = self
                .requests
                .iter()
                .enumerate()
                .filter(|(_, r)| r.inst.status() == Status::Active)
                .flat_map(|(n, r)| r.inst.subscriptions().into_iter().map(move |s| (n, s)))
                .filter_map(|(n, s)| match s.kind {
                    SubscriptionKind::Timer { due, .. } if due <= to => Some((due, n, s.id, s.element)),
                    _ => None,
                })
                .min_by_key(|(due, n, id, _)| (*due, *n, *id));
            let Some((due, r, subscription, element)) = next else { break };
            self.now = self.now.max(due);
            self.step_or_record(r, Input::TimerFired { subscription }, Some(element));
            self.settle(connectors);
        }
        self.now = self.now.max(to);
    }

    fn record(&mut self, r: RequestNo, mut v: Value) {
        if r > 0
            && let Value::Object(m) = &mut v
        {
            m.insert("request".into(), json!(r));
        }
        self.trace.push(v);
    }

    fn record_command(&mut self, r: RequestNo, c: &Command) {
        let Some(req) = self.requests.get(r) else { return };
        let Some(entry) = HistoryEntry::of_command(&req.process, c, self.now) else { return };
        if let Some(line) = trace_line(&entry, self.trace_activations) {
            self.record(r, line);
        }
    }
}

/// An input's name, as it is serialized (`kind`): what an `input_refused` line says was refused.
fn input_kind(input: &Input) -> &'static str {
    match input {
        Input::CompleteTask { .. } => "complete_task",
        Input::ThrowError { .. } => "throw_error",
        Input::ConnectorCompleted { .. } => "connector_completed",
        Input::JobCompleted { .. } => "job_completed",
        Input::ConnectorFailed { .. } => "connector_failed",
        Input::TimerFired { .. } => "timer_fired",
        Input::MessageReceived { .. } => "message_received",
        Input::SignalReceived { .. } => "signal_received",
        Input::ChildCompleted { .. } => "child_completed",
        Input::ChildError { .. } => "child_error",
        Input::ChildEscalation { .. } => "child_escalation",
        Input::Cancel => "cancel",
        Input::Retry { .. } => "retry",
        Input::Park { .. } => "park",
        Input::Modify(_) => "modify",
        Input::PatchData { .. } => "patch_data",
        Input::Suspend => "suspend",
        Input::Resume => "resume",
    }
}

/// A history event as a trace line, or none for the events traces leave out (kept short to
/// read: the stored history of a durable Request has them all). Every event is named here, so a
/// new one must be decided on.
fn trace_line(entry: &HistoryEntry, activations: bool) -> Option<Value> {
    let at = |event: &str| json!({"event": event, "element_id": entry.element_id.clone().unwrap_or_default()});
    let with = |event: &str, fields: Value| {
        let mut line = at(event);
        if let (Value::Object(line), Value::Object(fields)) = (&mut line, fields) {
            line.extend(fields);
        }
        line
    };
    let e = &entry.event;
    let name = e.name();
    Some(match e {
        HistoryEvent::ElementActivated if activations => at(name),
        HistoryEvent::ElementCompleted | HistoryEvent::ElementTerminated | HistoryEvent::TaskCreated { .. } => at(name),
        HistoryEvent::ConnectorInvoked { attempt, .. } => with(name, json!({"attempt": attempt})),
        HistoryEvent::TimerScheduled { due } | HistoryEvent::TaskOverdue { due, .. } => with(name, json!({"due": due})),
        HistoryEvent::TimerFired { at: fired, .. } => with(name, json!({"at": fired})),
        HistoryEvent::MessageReceived { name: n } | HistoryEvent::SignalReceived { name: n } => {
            with(name, json!({"name": n}))
        }
        HistoryEvent::MessagePublished { name: n, correlation_key } => {
            with(name, json!({"name": n, "correlation_key": correlation_key}))
        }
        HistoryEvent::SignalBroadcast { name: n } => with(name, json!({"name": n})),
        HistoryEvent::CallStarted { process_key } => with(name, json!({"process": process_key})),
        HistoryEvent::DecisionEvaluated { decision_id, matched, output, .. } => {
            let rules: Vec<Value> =
                matched.iter().map(|m| json!({"decision": m.decision_id, "rules": m.rule_ids})).collect();
            with(name, json!({"decision": decision_id, "matched": rules, "output": output}))
        }
        HistoryEvent::IncidentRaised { code, message, .. } => with(name, json!({"code": code, "message": message})),
        HistoryEvent::ErrorToParent { code, .. } => json!({"event": name, "code": code}),
        HistoryEvent::IncidentResolved { .. } | HistoryEvent::RequestCompleted | HistoryEvent::RequestCanceled => {
            json!({"event": name})
        }
        HistoryEvent::RequestModified { change, .. } => with(name, json!({"change": change.as_str()})),
        HistoryEvent::DataChanged { changed, .. } => json!({"event": name, "changed": changed}),
        HistoryEvent::RequestMigrated { to_version, .. } => json!({"event": name, "to_version": to_version}),
        HistoryEvent::RequestSuspended | HistoryEvent::RequestResumed => json!({"event": name}),
        // Left out of traces: activations unless asked for, what follows from another line
        // (a canceled task or connector, a canceled call, a connector's output), escalations.
        HistoryEvent::ElementActivated
        | HistoryEvent::TaskCanceled { .. }
        | HistoryEvent::ConnectorCompleted { .. }
        | HistoryEvent::ConnectorCanceled
        | HistoryEvent::CallCanceled
        | HistoryEvent::EscalationToParent { .. } => return None,
        // The simulator writes its own lines for these; they never come from a command.
        HistoryEvent::RequestStarted { .. }
        | HistoryEvent::TaskCompleted { .. }
        | HistoryEvent::TemplateWarning { .. }
        | HistoryEvent::NotificationSent { .. }
        | HistoryEvent::NotificationUpdated { .. }
        | HistoryEvent::SlackClickRefused { .. }
        | HistoryEvent::NotificationFailed { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::Map;

    use super::*;
    use crate::runtime::{IncidentId, SubscriptionId};

    #[test]
    fn input_kinds_are_the_serialized_names() {
        let (token, subscription) = (TokenId(1), SubscriptionId(2));
        let inputs = [
            Input::CompleteTask { token, data: Map::new() },
            Input::ThrowError { token, code: "c".into(), message: None },
            Input::ConnectorCompleted { token, output: Value::Null },
            Input::ConnectorFailed { token, message: "m".into() },
            Input::TimerFired { subscription },
            Input::MessageReceived { subscription, data: Map::new() },
            Input::SignalReceived { subscription, data: Map::new() },
            Input::ChildCompleted { token, data: Map::new() },
            Input::ChildError { token, code: "c".into(), message: None },
            Input::ChildEscalation { token, code: "c".into() },
            Input::Cancel,
            Input::Retry { incident: IncidentId(3) },
            Input::Park { input: Box::new(Input::TimerFired { subscription }), message: "m".into() },
        ];
        for input in inputs {
            assert_eq!(serde_json::to_value(&input).unwrap()["kind"], input_kind(&input));
        }
    }
}
