//! The element tree to model processes, with every validation (the "lift" half).
//!
//! Structural checks (ids, references, boundaries, default flows) run on every process;
//! execution checks (expressions, timers, implementations, reachability) only on executable
//! ones, so descriptive models from modelling tools import without errors.
//!
//! Why one file of this size: every check reads the same per-process lifting state (`ProcLift`:
//! the element table, id lookups, the diagnostics sink with positions), and the checks are ordered
//! (structure, then references, then execution); split by element kind they would pass that state
//! across modules without making any one rule easier to find than a search for its code.

use std::collections::{HashMap, HashSet};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::Dfs;
use serde_json::{Map, Value};
use sluice_feel::Expression;
use sluice_feel::iso8601;

use crate::ConnectorCatalog;
use crate::model::*;
use crate::report::Report;
use crate::xml::{Doc, Node, Ns};

mod assign;
mod form;
mod io;
mod vendor;

/// A `calledElement` to resolve once every file of the import is lifted.
pub(crate) struct Call {
    pub called: String,
    pub offset: usize,
    pub element: String,
}

/// A lifted process, with what the cross-file checks need.
pub(crate) struct Lifted {
    pub process: Process,
    pub offset: usize,
    pub calls: Vec<Call>,
    /// The decisions its business rule tasks evaluate (`called` is the decision id).
    pub decisions: Vec<Call>,
}

/// Where an expression's text sits, to point diagnostics into it.
#[derive(Clone, Copy)]
enum At {
    /// In a node's text, starting at this offset of `Node::text`.
    Text(usize, usize),
    /// In an attribute value starting at this source offset.
    Attr(usize),
}

struct Message {
    name: String,
    correlation_key: Option<Expression>,
}

/// Root-level definitions of one file, by id.
struct Defs<'d> {
    messages: HashMap<&'d str, Message>,
    /// (code, name) of `error`s.
    errors: HashMap<&'d str, (Option<&'d str>, Option<&'d str>)>,
    escalations: HashMap<&'d str, (Option<&'d str>, Option<&'d str>)>,
    signals: HashMap<&'d str, Option<&'d str>>,
    /// Every BPMN id in the file, with the element's name (for data references).
    names: HashMap<&'d str, Option<&'d str>>,
    /// Every BPMN id in the file, with its element's node (the first, should ids repeat).
    nodes: HashMap<&'d str, usize>,
    processes: HashSet<&'d str>,
}

/// Looks a reference up, accepting a QName prefix (`tns:foo`) that some tools add.
fn lookup<'m, V>(map: &'m HashMap<&str, V>, r: &str) -> Option<&'m V> {
    map.get(r).or_else(|| r.split_once(':').and_then(|(_, local)| map.get(local)))
}

fn lookup_owned<'m, V>(map: &'m HashMap<String, V>, r: &str) -> Option<&'m V> {
    map.get(r).or_else(|| r.split_once(':').and_then(|(_, local)| map.get(local)))
}

/// Lifts every process of one parsed file.
pub(crate) fn lift_file(doc: &Doc<'_>, rep: &mut Report<'_>, connectors: Option<&dyn ConnectorCatalog>) -> Vec<Lifted> {
    let Some(root) = doc.root else {
        rep.error(0, "xml-syntax", "the file holds no XML element", None);
        return Vec::new();
    };
    let rn = doc.node(root);
    if !rn.is(Ns::Bpmn, "definitions") {
        rep.error(
            rn.offset,
            "not-bpmn",
            format!("the root element is `{}`, not BPMN `definitions` (namespace {})", rn.local, crate::xml::NS_BPMN),
            None,
        );
        return Vec::new();
    }
    let defs = collect_defs(doc, root, rep);
    let mut out = Vec::new();
    for (ci, c) in doc.children(root) {
        if c.ns != Ns::Bpmn {
            continue;
        }
        match c.local {
            "process" => {
                let exec = c.get("isExecutable").is_some_and(|v| v.trim() == "true");
                let key = c.get_nonempty("id").unwrap_or("").to_owned();
                let mut p = ProcLift {
                    doc,
                    rep: &mut *rep,
                    defs: &defs,
                    exec,
                    connectors,
                    elements: Vec::new(),
                    nodes: Vec::new(),
                    ids: HashMap::new(),
                    flow_nodes: Vec::new(),
                    flow_of: Vec::new(),
                    calls: Vec::new(),
                    decisions: Vec::new(),
                };
                let process = p.lift(ci, key);
                let calls = std::mem::take(&mut p.calls);
                let decisions = std::mem::take(&mut p.decisions);
                out.push(Lifted { process, offset: c.offset, calls, decisions });
            }
            "collaboration" => {
                for (_, part) in doc.children(ci) {
                    if part.is(Ns::Bpmn, "participant")
                        && let Some(a) = part.attr("processRef")
                    {
                        let r = a.value.trim();
                        let known = defs.processes.contains(r)
                            || r.split_once(':').is_some_and(|(_, l)| defs.processes.contains(l));
                        if !r.is_empty() && !known {
                            rep.error(
                                a.offset,
                                "dangling-reference",
                                format!("participant refers to process `{r}`, which does not exist in this file"),
                                part.get("id"),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Reads messages, errors, escalations and signals, and checks ids are unique in the file.
fn collect_defs<'d>(doc: &'d Doc<'_>, root: usize, rep: &mut Report<'_>) -> Defs<'d> {
    let mut defs = Defs {
        messages: HashMap::new(),
        errors: HashMap::new(),
        escalations: HashMap::new(),
        signals: HashMap::new(),
        names: HashMap::new(),
        nodes: HashMap::new(),
        processes: HashSet::new(),
    };
    // Ids: walk every BPMN element, but not into extension elements (opaque vendor content).
    let mut stack = vec![root];
    while let Some(i) = stack.pop() {
        let n = doc.node(i);
        if n.ns != Ns::Bpmn {
            continue;
        }
        if let Some(id) = n.get_nonempty("id") {
            defs.nodes.entry(id).or_insert(i);
        }
        if let Some(id) = n.get_nonempty("id")
            && defs.names.insert(id, n.get_nonempty("name")).is_some()
        {
            rep.error(
                n.attr("id").map_or(n.offset, |a| a.offset),
                "duplicate-id",
                format!("id `{id}` is used by more than one element in this file"),
                Some(id),
            );
        }
        if n.local != "extensionElements" {
            stack.extend(n.children.iter().rev());
        }
    }
    for (ci, c) in doc.children(root) {
        if c.ns != Ns::Bpmn {
            continue;
        }
        let Some(id) = c.get_nonempty("id") else { continue };
        match c.local {
            "message" => {
                let name = c.get_nonempty("name").unwrap_or(id).to_owned();
                let mut key = c.ext_attr(Ns::Sluice, "correlationKey").map(|a| (a.value.clone(), a.offset));
                if key.is_none()
                    && let Some((ei, _)) = doc.child(ci, Ns::Bpmn, "extensionElements")
                    && let Some((_, sub)) = doc.child(ei, Ns::Zeebe, "subscription")
                    && let Some(a) = sub.attr("correlationKey")
                {
                    key = Some((a.value.clone(), a.offset));
                }
                let correlation_key = key.and_then(|(src, off)| match Expression::parse(&src) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        rep.error(
                            off + e.offset.min(src.len()),
                            "invalid-expression",
                            format!("correlation key of message `{name}` is not a valid expression: {}", e.message),
                            Some(id),
                        );
                        None
                    }
                });
                defs.messages.insert(id, Message { name, correlation_key });
            }
            "error" => {
                defs.errors.insert(id, (c.get_nonempty("errorCode"), c.get_nonempty("name")));
            }
            "escalation" => {
                defs.escalations.insert(id, (c.get_nonempty("escalationCode"), c.get_nonempty("name")));
            }
            "signal" => {
                defs.signals.insert(id, c.get_nonempty("name"));
            }
            "process" => {
                defs.processes.insert(id);
            }
            _ => {}
        }
    }
    defs
}

const FLOW_NODES: &[&str] = &[
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "implicitThrowEvent",
    "task",
    "userTask",
    "manualTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "scriptTask",
    "businessRuleTask",
    "subProcess",
    "transaction",
    "adHocSubProcess",
    "callActivity",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
    "complexGateway",
    "callChoreography",
    "choreographyTask",
    "subChoreography",
];

const EVENT_DEFINITIONS: &[&str] = &[
    "messageEventDefinition",
    "timerEventDefinition",
    "errorEventDefinition",
    "escalationEventDefinition",
    "signalEventDefinition",
    "linkEventDefinition",
    "terminateEventDefinition",
    "compensateEventDefinition",
    "cancelEventDefinition",
    "conditionalEventDefinition",
];

/// A name a person understands for an event definition.
fn definition_label(local: &str) -> &str {
    match local {
        "messageEventDefinition" => "message",
        "timerEventDefinition" => "timer",
        "errorEventDefinition" => "error",
        "escalationEventDefinition" => "escalation",
        "signalEventDefinition" => "signal",
        "linkEventDefinition" => "link",
        "terminateEventDefinition" => "terminate",
        "compensateEventDefinition" => "compensation",
        "cancelEventDefinition" => "cancel",
        "conditionalEventDefinition" => "conditional",
        _ => "unknown",
    }
}

/// `an error`, `a timer`: an event definition's label with its article.
fn with_article(label: &str) -> String {
    let vowel = label.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {label}", if vowel { "an" } else { "a" })
}

/// What a data association's `sourceRef` or `targetRef` stands for.
enum DataVar {
    /// A variable, by name.
    Name(String),
    /// bpmn-js's `__targetRef_placeholder` property: a line in the drawing, no variable.
    Placeholder,
}

/// What a flow node sits in directly, for the rules that depend on it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    Process,
    /// An embedded or ad-hoc sub-process.
    SubProcess,
    EventSubProcess,
    Transaction,
}

/// Why the BPMN specification does not allow an event definition (`None`: a none event) on
/// this kind of event in this place (BPMN 2.0.2 §10.5.2 start, §10.5.3 end, §10.5.4
/// intermediate and boundary events), or `None` when it does. Whether Sluice can run an allowed
/// one (compensation, conditional, ...) is another question, answered by `unsupported-element`.
fn misplaced_definition(
    event: &str,
    def: Option<&str>,
    container: Container,
    host_is_transaction: bool,
) -> Option<String> {
    let cannot = |what: &str| format!("{what} cannot have {} definition", with_article(def.unwrap_or("none")));
    match (event, def) {
        ("startEvent", None) => None,
        ("startEvent", Some(d)) if container == Container::SubProcess || container == Container::Transaction => {
            Some(format!(
                "the start event of a sub-process is a none start event, not {} one; a start event with a trigger belongs in an event sub-process (`triggeredByEvent=\"true\"`)",
                with_article(d)
            ))
        }
        ("startEvent", Some("error" | "escalation" | "compensation")) if container == Container::Process => {
            Some(format!("{} start event is allowed only in an event sub-process", with_article(def.unwrap_or_default())))
        }
        ("startEvent", Some("message" | "timer" | "signal" | "conditional" | "error" | "escalation" | "compensation")) => {
            None
        }
        ("startEvent", Some(_)) => Some(cannot("a start event")),
        ("endEvent", None | Some("message" | "error" | "escalation" | "signal" | "terminate" | "compensation")) => None,
        ("endEvent", Some("cancel")) if container == Container::Transaction => None,
        ("endEvent", Some("cancel")) => Some("a cancel end event is allowed only inside a transaction".into()),
        ("endEvent", Some(_)) => Some(cannot("an end event")),
        ("intermediateCatchEvent", Some("message" | "timer" | "signal" | "link" | "conditional")) => None,
        ("intermediateCatchEvent", None) => Some(
            "an intermediate catch event needs an event definition (message, timer, signal or link); without one it is a throw event".into(),
        ),
        ("intermediateCatchEvent", Some(d @ ("error" | "escalation" | "compensation"))) => Some(format!(
            "an intermediate catch event cannot catch {}; catch it with a boundary event or an event sub-process",
            with_article(d)
        )),
        ("intermediateCatchEvent", Some(_)) => Some(cannot("an intermediate catch event")),
        ("intermediateThrowEvent", None | Some("message" | "signal" | "link" | "escalation" | "compensation")) => None,
        ("intermediateThrowEvent", Some(d @ ("error" | "terminate"))) => {
            Some(format!("an intermediate throw event cannot throw {0}; use {0} end event", with_article(d)))
        }
        ("intermediateThrowEvent", Some(d @ ("timer" | "conditional"))) => {
            Some(format!("a {d} is caught, not thrown; use an intermediate catch event"))
        }
        ("intermediateThrowEvent", Some(_)) => Some(cannot("an intermediate throw event")),
        (_, Some("message" | "timer" | "signal" | "error" | "escalation" | "conditional" | "compensation")) => None,
        (_, Some("cancel")) if host_is_transaction => None,
        (_, Some("cancel")) => Some("a cancel boundary event is allowed only on a transaction".into()),
        (_, None) => Some(
            "a boundary event needs an event definition (message, timer, signal, error or escalation)".into(),
        ),
        (_, Some(_)) => Some(cannot("a boundary event")),
    }
}

/// True for the element names of activities.
fn is_activity_node(local: &str) -> bool {
    matches!(
        local,
        "task"
            | "userTask"
            | "manualTask"
            | "serviceTask"
            | "sendTask"
            | "receiveTask"
            | "scriptTask"
            | "businessRuleTask"
            | "subProcess"
            | "transaction"
            | "adHocSubProcess"
            | "callActivity"
    )
}

/// True for a `subProcess` with `triggeredByEvent="true"`.
fn is_event_subprocess(n: &Node<'_>) -> bool {
    n.local == "subProcess" && n.get("triggeredByEvent").is_some_and(|v| v.trim() == "true")
}

/// True for the script formats Sluice runs: FEEL.
fn is_feel_format(format: Option<&str>) -> bool {
    match format.map(|f| f.trim().to_ascii_lowercase()) {
        None => true,
        Some(f) => {
            f.is_empty() || matches!(f.as_str(), "feel" | "text/feel" | "text/x-feel" | "application/feel" | "x-feel")
        }
    }
}

struct ProcLift<'d, 'r, 't> {
    doc: &'d Doc<'d>,
    rep: &'r mut Report<'t>,
    defs: &'d Defs<'d>,
    exec: bool,
    connectors: Option<&'d dyn ConnectorCatalog>,
    elements: Vec<Element>,
    /// The tree node of each element.
    nodes: Vec<usize>,
    ids: HashMap<String, ElementIdx>,
    /// Sequence flow nodes with the sub-process they sit in.
    flow_nodes: Vec<(usize, Option<ElementIdx>)>,
    /// The tree node of each built flow (dangling flows are not built).
    flow_of: Vec<usize>,
    calls: Vec<Call>,
    decisions: Vec<Call>,
}

impl<'d> ProcLift<'d, '_, '_> {
    fn node(&self, i: usize) -> &'d Node<'d> {
        self.doc.node(i)
    }

    /// Structural problems: errors in executable processes; in descriptive ones only warnings,
    /// since modelling tools export such models (Signavio puts flows in the wrong pool, Bizagi
    /// refers to messages it did not export) and they must still import.
    fn err(&mut self, offset: usize, code: &'static str, msg: impl Into<String>, el: &str) {
        if self.exec {
            self.rep.error(offset, code, msg, Some(el));
        } else {
            self.rep.warn(offset, code, msg, Some(el));
        }
    }

    /// Errors in every process.
    fn hard_err(&mut self, offset: usize, code: &'static str, msg: impl Into<String>, el: &str) {
        self.rep.error(offset, code, msg, Some(el));
    }

    /// Errors that only matter when the process is meant to run.
    fn exec_err(&mut self, offset: usize, code: &'static str, msg: impl Into<String>, el: &str) {
        if self.exec {
            self.rep.error(offset, code, msg, Some(el));
        }
    }

    fn lift(&mut self, pi: usize, key: String) -> Process {
        let pn = self.node(pi);
        self.collect(pi, None);
        self.vendor_settings(pi, &key);
        for i in 0..self.elements.len() {
            // The id lent out and back, not cloned: a process may have 100,000 elements.
            let id = std::mem::take(&mut self.elements[i].id);
            self.vendor_settings(self.nodes[i], &id);
            self.elements[i].id = id;
            let kind = self.kind_of(ElementIdx::from(i));
            self.elements[i].kind = kind;
        }
        for i in 0..self.elements.len() {
            self.elements[i].looping = self.looping(ElementIdx::from(i));
            if matches!(self.elements[i].kind, Kind::Task(TaskKind::User | TaskKind::Manual)) {
                self.elements[i].human = self.human(ElementIdx::from(i));
            }
            if matches!(self.elements[i].kind, Kind::Task(TaskKind::User)) {
                self.elements[i].form = self.form(ElementIdx::from(i));
            }
        }
        if self.exec {
            for i in 0..self.elements.len() {
                self.data_associations(ElementIdx::from(i));
            }
        }
        let flows = self.flows();
        self.default_flows(&flows);
        let file = self.rep.file.clone();
        let pos = self.rep.pos(pn.offset);
        let elements = std::mem::take(&mut self.elements);
        let process =
            Process::build(key, pn.get_nonempty("name").map(str::to_owned), self.exec, file, pos, elements, flows);
        self.check_structure(&process);
        if self.exec {
            self.check_executable(&process, pn);
        }
        process
    }

    /// Registers every flow node (recursively into sub-processes) and every sequence flow.
    fn collect(&mut self, container: usize, parent: Option<ElementIdx>) {
        let doc = self.doc;
        for (ci, c) in doc.children(container) {
            if c.ns != Ns::Bpmn {
                continue;
            }
            if c.local == "sequenceFlow" {
                self.flow_nodes.push((ci, parent));
                continue;
            }
            if !FLOW_NODES.contains(&c.local) {
                continue;
            }
            let idx = ElementIdx::from(self.elements.len());
            let id = c.get_nonempty("id").map(str::to_owned).unwrap_or_else(|| format!("{}@{}", c.local, c.offset));
            let pos = self.rep.pos(c.offset);
            let mut e = Element::new(id.clone(), Kind::Unsupported { what: c.local.to_owned() }, pos);
            e.name = c.get("name").map(str::to_owned);
            e.parent = parent;
            self.elements.push(e);
            self.nodes.push(ci);
            self.ids.entry(id).or_insert(idx);
            if matches!(c.local, "subProcess" | "transaction" | "adHocSubProcess") {
                self.collect(ci, Some(idx));
            }
        }
    }

    fn unsupported(&mut self, ni: usize, id: &str, what: String, hint: &str) -> Kind {
        let off = self.node(ni).offset;
        self.exec_err(off, "unsupported-element", format!("{what} is not supported by Sluice{hint}"), id);
        Kind::Unsupported { what }
    }

    fn kind_of(&mut self, idx: ElementIdx) -> Kind {
        let ni = self.nodes[idx.index()];
        let n = self.node(ni);
        let id = self.elements[idx.index()].id.clone();
        let id = id.as_str();
        // A compensation handler runs only when its activity is compensated, which Sluice does
        // not do; taken as an ordinary activity it would run as soon as its scope starts.
        if n.get("isForCompensation").is_some_and(|v| v.trim() == "true") {
            let what = format!("{} for compensation (`isForCompensation=\"true\"`)", n.local);
            return self.unsupported(ni, id, what, "");
        }
        match n.local {
            // A ProcessMaker form task (a `task` showing a screen) waits for a person.
            "task" if n.ext_attr(Ns::Pm, "screenRef").is_some() => Kind::Task(TaskKind::User),
            "task" => Kind::Task(TaskKind::Plain),
            "userTask" => Kind::Task(TaskKind::User),
            "manualTask" => Kind::Task(TaskKind::Manual),
            "businessRuleTask" if self.names_decision(ni) => self.decision_task(ni, id),
            "serviceTask" | "sendTask" | "businessRuleTask" => self.service_like(ni, id),
            "receiveTask" => match self.message_ref(ni, id, "receive task") {
                Some(m) => Kind::Task(TaskKind::Receive(m)),
                None => Kind::Unsupported { what: "receiveTask without a message".into() },
            },
            "scriptTask" => self.script(ni, id),
            "subProcess" => {
                Kind::SubProcess { triggered_by_event: n.get("triggeredByEvent").is_some_and(|v| v.trim() == "true") }
            }
            "callActivity" => self.call_activity(ni, id),
            "exclusiveGateway" => Kind::Gateway(GatewayKind::Exclusive),
            "parallelGateway" => Kind::Gateway(GatewayKind::Parallel),
            "inclusiveGateway" => Kind::Gateway(GatewayKind::Inclusive),
            "eventBasedGateway" if n.get("instantiate").is_some_and(|v| v.trim() == "true") => self.unsupported(
                ni,
                id,
                "eventBasedGateway that starts the process (`instantiate=\"true\"`)".into(),
                "; use message or signal start events",
            ),
            "eventBasedGateway" if n.get("eventGatewayType").is_some_and(|v| v.trim() == "Parallel") => {
                self.unsupported(ni, id, "parallel eventBasedGateway (`eventGatewayType=\"Parallel\"`)".into(), "")
            }
            "eventBasedGateway" => Kind::Gateway(GatewayKind::EventBased),
            "complexGateway" => self.unsupported(ni, id, "complexGateway".into(), "; use an inclusive gateway"),
            "transaction" => {
                self.unsupported(ni, id, "transaction".into(), "; use a sub-process with error boundary events")
            }
            "adHocSubProcess" => self.unsupported(ni, id, "adHocSubProcess".into(), "; use a sub-process"),
            "startEvent" | "endEvent" | "intermediateCatchEvent" | "intermediateThrowEvent" | "boundaryEvent" => {
                self.event(idx, ni, id)
            }
            other => self.unsupported(ni, id, other.to_owned(), ""),
        }
    }

    /// The event definitions of an event, in document order.
    fn definitions(&self, ni: usize) -> Vec<usize> {
        self.doc
            .children(ni)
            .filter(|(_, c)| {
                c.ns == Ns::Bpmn && (EVENT_DEFINITIONS.contains(&c.local) || c.local == "eventDefinitionRef")
            })
            .map(|(i, _)| i)
            .collect()
    }

    fn event(&mut self, idx: ElementIdx, ni: usize, id: &str) -> Kind {
        let n = self.node(ni);
        let defs = self.definitions(ni);
        let kind_label = match n.local {
            "startEvent" => "start event",
            "endEvent" => "end event",
            "intermediateCatchEvent" => "intermediate catch event",
            "intermediateThrowEvent" => "intermediate throw event",
            _ => "boundary event",
        };
        // Attachment first: a boundary event attached to nothing is that problem, whatever else.
        let host = if n.local == "boundaryEvent" {
            match self.host(idx, ni, id) {
                Ok(h) => Some(h),
                Err(kind) => return kind,
            }
        } else {
            None
        };
        if defs.len() > 1 {
            return self.unsupported(ni, id, format!("{kind_label} with several event definitions"), "");
        }
        let def = defs.first().map(|&d| (d, self.node(d)));
        if let Some((_, d)) = def
            && d.local == "eventDefinitionRef"
        {
            return self.unsupported(ni, id, format!("{kind_label} with a referenced event definition"), "");
        }
        // Where the specification allows which definition (BPMN 2.0.2 §10.5.2–10.5.4).
        let label = def.map(|(_, d)| definition_label(d.local));
        let host_is_transaction = host.is_some_and(|h| self.node(self.nodes[h.index()]).local == "transaction");
        if let Some(why) = misplaced_definition(n.local, label, self.container(idx), host_is_transaction) {
            let at = def.map_or(n.offset, |(_, d)| d.offset);
            self.err(at, "invalid-event-definition", format!("`{id}`: {why}"), id);
            let what = format!("{kind_label} with a {} definition", label.unwrap_or("none"));
            return Kind::Unsupported { what };
        }
        let catching = matches!(n.local, "startEvent" | "intermediateCatchEvent" | "boundaryEvent");
        if catching {
            let trigger = match def {
                None => Trigger::None,
                Some((di, d)) => match self.trigger(di, d, ni, id) {
                    Ok(t) => t,
                    Err(kind) => return kind,
                },
            };
            // An error catcher always interrupts (BPMN 2.0.2 §10.5.4: `cancelActivity` and
            // `isInterrupting` must be true for errors).
            let attr = if n.local == "startEvent" { "isInterrupting" } else { "cancelActivity" };
            let interrupting = n.get(attr).is_none_or(|v| v.trim() != "false");
            if !interrupting
                && matches!(trigger, Trigger::Error(_))
                && let Some(a) = n.attr(attr)
            {
                self.err(
                    a.offset,
                    "invalid-event-definition",
                    format!("`{id}`: an error {kind_label} always interrupts; remove `{attr}=\"false\"`"),
                    id,
                );
            }
            match n.local {
                "startEvent" => Kind::StartEvent { trigger, interrupting },
                "intermediateCatchEvent" => Kind::CatchEvent { trigger },
                _ => match host {
                    Some(attached_to) => Kind::BoundaryEvent { attached_to, trigger, interrupting },
                    None => Kind::Unsupported { what: "boundary event attached to nothing".into() },
                },
            }
        } else {
            let result = match def {
                None => Throw::None,
                Some((di, d)) => match self.throw(di, d, ni, id, kind_label) {
                    Ok(t) => t,
                    Err(kind) => return kind,
                },
            };
            match n.local {
                "endEvent" => Kind::EndEvent { result },
                _ => Kind::ThrowEvent { result },
            }
        }
    }

    /// What element `idx` sits in directly.
    fn container(&self, idx: ElementIdx) -> Container {
        let Some(parent) = self.elements[idx.index()].parent else { return Container::Process };
        let n = self.node(self.nodes[parent.index()]);
        match n.local {
            "transaction" => Container::Transaction,
            "subProcess" if is_event_subprocess(n) => Container::EventSubProcess,
            _ => Container::SubProcess,
        }
    }

    /// The activity a boundary event is attached to; `Err` carries the kind to use instead.
    fn host(&mut self, idx: ElementIdx, ni: usize, id: &str) -> Result<ElementIdx, Kind> {
        let n = self.node(ni);
        let Some(a) = n.attr("attachedToRef") else {
            self.err(n.offset, "dangling-reference", format!("boundary event `{id}` has no `attachedToRef`"), id);
            return Err(Kind::Unsupported { what: "boundary event attached to nothing".into() });
        };
        let r = a.value.trim();
        let Some(&host) = lookup_owned(&self.ids, r) else {
            self.err(
                a.offset,
                "dangling-reference",
                format!("boundary event `{id}` is attached to `{r}`, which does not exist in this process"),
                id,
            );
            return Err(Kind::Unsupported { what: "boundary event attached to nothing".into() });
        };
        let host_node = self.node(self.nodes[host.index()]);
        let is_activity = is_activity_node(host_node.local);
        if !is_activity || host == idx {
            self.err(
                a.offset,
                "invalid-boundary",
                format!(
                    "boundary event `{id}` is attached to `{r}` (a {}), but only activities can have boundary events",
                    host_node.local
                ),
                id,
            );
            return Err(Kind::Unsupported { what: "boundary event attached to a non-activity".into() });
        }
        if is_event_subprocess(host_node) {
            self.err(
                a.offset,
                "invalid-boundary",
                format!("boundary event `{id}` is attached to `{r}`, an event sub-process, which cannot have boundary events"),
                id,
            );
            return Err(Kind::Unsupported { what: "boundary event attached to an event sub-process".into() });
        }
        if self.elements[host.index()].parent != self.elements[idx.index()].parent {
            self.err(
                a.offset,
                "invalid-boundary",
                format!("boundary event `{id}` is attached to `{r}`, which sits in another (sub-)process; a boundary event sits beside its activity"),
                id,
            );
            return Err(Kind::Unsupported { what: "boundary event in another scope than its activity".into() });
        }
        Ok(host)
    }

    /// A catching event definition. `Err` carries the kind to use instead (already reported).
    fn trigger(&mut self, di: usize, d: &'d Node<'d>, ni: usize, id: &str) -> Result<Trigger, Kind> {
        match d.local {
            "messageEventDefinition" => match self.message_ref(di, id, "message event") {
                Some(m) => Ok(Trigger::Message(m)),
                None => Err(Kind::Unsupported { what: "message event without a message".into() }),
            },
            "timerEventDefinition" => self.timer(di, id).map(Trigger::Timer),
            "signalEventDefinition" => Ok(Trigger::Signal(self.signal(d, id))),
            "errorEventDefinition" => {
                let code = d.get_nonempty("errorRef").and_then(|r| match lookup(&self.defs.errors, r) {
                    Some((code, _)) => code.map(str::to_owned),
                    None => Some(r.to_owned()),
                });
                Ok(Trigger::Error(code))
            }
            "escalationEventDefinition" => {
                let code = d.get_nonempty("escalationRef").and_then(|r| match lookup(&self.defs.escalations, r) {
                    Some((code, _)) => code.map(str::to_owned),
                    None => Some(r.to_owned()),
                });
                Ok(Trigger::Escalation(code))
            }
            "linkEventDefinition" => Ok(Trigger::Link(self.link_name(d, id))),
            other => {
                let label = definition_label(other);
                let what = format!("{} with a {label} definition", self.node(ni).local);
                Err(self.unsupported(ni, id, what, ""))
            }
        }
    }

    fn throw(&mut self, di: usize, d: &'d Node<'d>, ni: usize, id: &str, kind_label: &str) -> Result<Throw, Kind> {
        match d.local {
            "terminateEventDefinition" => Ok(Throw::Terminate),
            "messageEventDefinition" => match self.message_ref(di, id, "message event") {
                Some(m) => Ok(Throw::Message(m)),
                None => Err(Kind::Unsupported { what: "message event without a message".into() }),
            },
            "signalEventDefinition" => Ok(Throw::Signal(self.signal(d, id))),
            "linkEventDefinition" => Ok(Throw::Link(self.link_name(d, id))),
            "errorEventDefinition" => {
                let r = d.get_nonempty("errorRef");
                let found = r.and_then(|r| lookup(&self.defs.errors, r));
                let (code, message) = match (r, found) {
                    (Some(_), Some((code, name))) => {
                        (code.or(*name).or(r).unwrap_or_default().to_owned(), name.map(str::to_owned))
                    }
                    (Some(r), None) => (r.to_owned(), None),
                    // No `errorRef`: only catch-all catchers match it.
                    (None, _) => (String::new(), None),
                };
                Ok(Throw::Error { code, message })
            }
            "escalationEventDefinition" => {
                let r = d.get_nonempty("escalationRef");
                let code = match r.map(|r| (r, lookup(&self.defs.escalations, r))) {
                    Some((r, Some((code, name)))) => code.or(*name).unwrap_or(r).to_owned(),
                    Some((r, None)) => r.to_owned(),
                    None => String::new(),
                };
                Ok(Throw::Escalation(code))
            }
            other => {
                let label = definition_label(other);
                Err(self.unsupported(ni, id, format!("{kind_label} with a {label} definition"), ""))
            }
        }
    }

    fn signal(&self, d: &Node<'_>, id: &str) -> String {
        match d.get_nonempty("signalRef") {
            Some(r) => match lookup(&self.defs.signals, r) {
                Some(Some(name)) => (*name).to_owned(),
                _ => r.to_owned(),
            },
            // A signal without a reference: the element id is the best name there is.
            None => id.to_owned(),
        }
    }

    fn link_name(&self, d: &Node<'_>, id: &str) -> String {
        d.get_nonempty("name").unwrap_or(id).to_owned()
    }

    /// The message a node's `messageRef` names; reports a missing or dangling reference.
    fn message_ref(&mut self, ni: usize, id: &str, what: &str) -> Option<MessageRef> {
        let n = self.node(ni);
        let Some(a) = n.attr("messageRef").filter(|a| !a.value.trim().is_empty()) else {
            self.exec_err(
                n.offset,
                "missing-message",
                format!("{what} `{id}` names no message: add `messageRef` pointing to a `message`"),
                id,
            );
            return None;
        };
        let r = a.value.trim();
        match lookup(&self.defs.messages, r) {
            Some(m) => Some(MessageRef { name: m.name.clone(), correlation_key: m.correlation_key.clone() }),
            None => {
                self.err(
                    a.offset,
                    "dangling-reference",
                    format!("{what} `{id}` refers to message `{r}`, which does not exist in this file"),
                    id,
                );
                None
            }
        }
    }

    fn timer(&mut self, di: usize, id: &str) -> Result<Timer, Kind> {
        let doc = self.doc;
        let parts =
            [("timeDuration", TimerKind::Duration), ("timeDate", TimerKind::Date), ("timeCycle", TimerKind::Cycle)];
        let found = parts.iter().find_map(|&(name, kind)| doc.child(di, Ns::Bpmn, name).map(|(ci, c)| (ci, c, kind)));
        let Some((ci, c, kind)) = found else {
            self.exec_err(
                doc.node(di).offset,
                "invalid-timer",
                format!("timer of `{id}` has no `timeDuration`, `timeDate` or `timeCycle`"),
                id,
            );
            return Err(Kind::Unsupported { what: "timer without a value".into() });
        };
        let (text, start) = c.trimmed_text();
        let bad = |what: &str| Kind::Unsupported { what: format!("timer with an invalid {what}") };
        if text.starts_with('=') || text.starts_with("${") || text.starts_with("#{") {
            return match self.expr(text, At::Text(ci, start), &format!("timer of `{id}`"), id) {
                Some(expr) => Ok(Timer::Expr { kind, expr }),
                None => Err(bad("expression")),
            };
        }
        let parsed = match kind {
            TimerKind::Duration => iso8601::parse_duration(text).map(TimerSpec::Duration),
            TimerKind::Date => iso8601::parse_date_time(text).map(TimerSpec::Date),
            TimerKind::Cycle => iso8601::parse_cycle(text).map(TimerSpec::Cycle),
        };
        match parsed {
            Ok(TimerSpec::Duration(d)) if d.is_negative() => {
                let off = c.text_source_offset(start);
                let msg = format!("timer of `{id}`: `{text}` is a negative duration: a timer waits forward in time");
                self.exec_err(off, "invalid-timer", msg, id);
                Err(bad("value"))
            }
            Ok(spec) => Ok(Timer::Fixed(spec)),
            Err(e) => {
                let off = c.text_source_offset(start);
                self.exec_err(off, "invalid-timer", format!("timer of `{id}`: `{text}` is not valid: {e}"), id);
                Err(bad("value"))
            }
        }
    }

    /// Parses an expression; in executable processes a failure is reported at the exact place.
    fn expr(&mut self, src: &str, at: At, what: &str, id: &str) -> Option<Expression> {
        match Expression::parse(src) {
            Ok(e) => Some(e),
            Err(e) => {
                let off = match at {
                    At::Text(ni, start) => self.node(ni).text_source_offset(start + e.offset.min(src.len())),
                    At::Attr(off) => off + e.offset.min(src.len()),
                };
                self.exec_err(
                    off,
                    "invalid-expression",
                    format!("{what} is not a valid expression: {}", e.message),
                    id,
                );
                None
            }
        }
    }

    /// An expression in a child element's text, e.g. `loopCardinality`.
    fn child_expr(&mut self, parent: usize, name: &str, what: &str, id: &str) -> Option<Expression> {
        let (ci, c) = self.doc.child(parent, Ns::Bpmn, name)?;
        let (text, start) = c.trimmed_text();
        if text.is_empty() {
            return None;
        }
        self.expr(text, At::Text(ci, start), what, id)
    }

    fn attr_expr(&mut self, n: &Node<'_>, ns: Ns, name: &str, what: &str, id: &str) -> Option<Expression> {
        let a = n.ext_attr(ns, name)?;
        let v = a.value.trim();
        if v.is_empty() {
            return None;
        }
        let lead = a.value.len() - a.value.trim_start().len();
        self.expr(v, At::Attr(a.offset + lead), what, id)
    }

    fn extension(&self, ni: usize) -> Option<usize> {
        self.doc.child(ni, Ns::Bpmn, "extensionElements").map(|(i, _)| i)
    }

    fn service_like(&mut self, ni: usize, id: &str) -> Kind {
        let doc = self.doc;
        let n = self.node(ni);
        let ext = self.extension(ni);
        let mut connector = n
            .attr("implementation")
            .map(|a| a.value.trim())
            .filter(|v| {
                !v.is_empty() && !v.eq_ignore_ascii_case("##WebService") && !v.eq_ignore_ascii_case("##unspecified")
            })
            .map(str::to_owned);
        let mut retries = None;
        if connector.is_none()
            && let Some(e) = ext
            && let Some((_, td)) = doc.child(e, Ns::Zeebe, "taskDefinition")
        {
            connector = td.get_nonempty("type").map(str::to_owned);
            // The retries a worker job starts with: a number is honoured; an expression is not.
            if let Some(a) = td.attr("retries").filter(|a| !a.value.trim().is_empty()) {
                match a.value.trim().parse::<u32>() {
                    Ok(n) => retries = Some((n, a.offset)),
                    Err(_) => self.rep.warn(
                        a.offset,
                        "unsupported-vendor-setting",
                        format!(
                            "`zeebe:taskDefinition retries` of `{id}` is not honoured by Sluice: it is `{}`, not a \
                             number (a worker job then starts with 3 retries)",
                            a.value.trim()
                        ),
                        Some(id),
                    ),
                }
            }
        }
        let mut camunda_connector = None;
        if connector.is_none()
            && let Some(e) = ext
            && let Some((c, ci)) = self.camunda_connector(e, id)
        {
            connector = Some(c);
            camunda_connector = Some(ci);
        }
        // Camunda 7's external task: its topic is the job type workers fetch.
        if connector.is_none()
            && n.ext(Ns::Camunda, "type").is_some_and(|t| t.trim() == "external")
            && let Some(topic) = n.ext(Ns::Camunda, "topic").map(str::trim).filter(|t| !t.is_empty())
        {
            connector = Some(topic.to_owned());
        }
        let Some(connector) = connector else {
            return match n.local {
                "sendTask" if n.attr("messageRef").is_some() => match self.message_ref(ni, id, "send task") {
                    Some(m) => Kind::Task(TaskKind::SendMessage(m)),
                    None => Kind::Unsupported { what: "sendTask without a message".into() },
                },
                "sendTask" => {
                    self.exec_err(
                        n.offset,
                        "missing-message",
                        format!(
                            "send task `{id}` names neither a message (`messageRef`) nor a connector (`implementation`)"
                        ),
                        id,
                    );
                    Kind::Unsupported { what: "sendTask without a message".into() }
                }
                "businessRuleTask" => self.unsupported(
                    ni,
                    id,
                    "businessRuleTask without a connector".into(),
                    "; set `implementation` to a connector type or name a decision (`sluice:decisionRef`)",
                ),
                _ => {
                    let java = [
                        ("class", "a Java class"),
                        ("delegateExpression", "a delegate expression"),
                        ("expression", "an expression"),
                    ]
                    .iter()
                    .find(|(a, _)| n.ext_attr(Ns::Camunda, a).is_some())
                    .map(|(_, what)| format!(" (Camunda's {what} cannot run in Sluice)"))
                    .unwrap_or_default();
                    self.exec_err(
                        n.offset,
                        "missing-implementation",
                        format!(
                            "service task `{id}` names no connector: set `implementation` to a connector type{java}"
                        ),
                        id,
                    );
                    Kind::Unsupported { what: "serviceTask without a connector".into() }
                }
            };
        };
        let mut inputs = Map::new();
        let mut result_variable = n
            .ext(Ns::Sluice, "resultVariable")
            .or_else(|| n.ext(Ns::Camunda, "resultVariable"))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        if let Some(e) = ext {
            for (_, inp) in doc.children(e).filter(|(_, c)| c.is(Ns::Sluice, "input")) {
                let Some(name) = inp.get_nonempty("name") else {
                    self.hard_err(
                        inp.offset,
                        "invalid-connector-config",
                        format!("an input of `{id}` has no `name`"),
                        id,
                    );
                    continue;
                };
                let value = match inp.get("value") {
                    Some(v) => v.to_owned(),
                    None => input_text(&inp.text),
                };
                if name == "result_variable" {
                    result_variable = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
                } else {
                    inputs.insert(name.to_owned(), Value::String(value));
                }
            }
        }
        if let Some(a) = n.ext_attr(Ns::Pm, "config").filter(|a| !a.value.trim().is_empty()) {
            match serde_json::from_str::<Value>(&a.value) {
                Ok(Value::Object(map)) => {
                    for (k, v) in map {
                        if k == "result_variable" {
                            if let Value::String(s) = &v {
                                result_variable = Some(s.clone());
                            }
                        } else {
                            inputs.entry(k).or_insert(v);
                        }
                    }
                }
                Ok(_) => self.hard_err(
                    a.offset,
                    "invalid-connector-config",
                    format!("`pm:config` of `{id}` is not a JSON object"),
                    id,
                ),
                Err(e) => self.hard_err(
                    a.offset,
                    "invalid-connector-config",
                    format!("`pm:config` of `{id}` is not valid JSON: {e}"),
                    id,
                ),
            }
        }
        // Camunda 7: `camunda:inputOutput` on the task and on its `camunda:connector`.
        let mut c7 = io::CamundaIo::default();
        if let Some(ci) = camunda_connector {
            self.camunda_io(ci, id, Some(&connector), &mut c7);
        }
        if let Some(e) = ext {
            self.camunda_io(e, id, None, &mut c7);
        }
        for (k, v) in c7.inputs {
            inputs.entry(k).or_insert(v);
        }
        let mut outputs = c7.outputs;
        // Camunda 8: `zeebe:ioMapping` inputs (dotted targets build nested inputs; `=` sources are
        // FEEL, evaluated when the connector runs) and the connector's result headers.
        let mut computed = c7.computed;
        let mut result_expression = None;
        let mut headers = Map::new();
        // The inputs as written, FEEL sources included, for the deploy-time checks: only built
        // when there is an `ioMapping` (most tasks have none; a deploy may hold 100,000).
        let io_mapping = ext.and_then(|e| doc.child(e, Ns::Zeebe, "ioMapping")).map(|(mi, _)| mi);
        let mut written = io_mapping.map(|_| inputs.clone());
        let mut input_at: HashMap<String, usize> = HashMap::new();
        if let (Some(mi), Some(written)) = (io_mapping, written.as_mut()) {
            for (_, inp) in doc.children(mi).filter(|(_, c)| c.is(Ns::Zeebe, "input")) {
                let target = inp.get("target").map(str::trim).unwrap_or_default();
                let path: Vec<String> = target.split('.').map(|s| s.trim().to_owned()).collect();
                if path.iter().any(String::is_empty) {
                    self.hard_err(
                        inp.offset,
                        "invalid-connector-config",
                        format!("a `zeebe:input` of `{id}` has no valid `target` (`{target}`)"),
                        id,
                    );
                    continue;
                }
                input_at.entry(path[0].clone()).or_insert(inp.offset);
                let (source, source_at) = match inp.attr("source") {
                    Some(a) => (a.value.as_str(), a.offset),
                    None => ("", inp.offset),
                };
                let lead = source.len() - source.trim_start().len();
                if let Some(feel) = source.trim_start().strip_prefix('=') {
                    let what = format!("the input `{target}` of `{id}`");
                    if let Some(expr) = self.expr(feel, At::Attr(source_at + lead + 1), &what, id) {
                        computed.push(ComputedInput { target: path.clone(), expr });
                    }
                    insert_at(written, &path, Value::String(source.trim().to_owned()));
                } else {
                    insert_at(&mut inputs, &path, Value::String(source.to_owned()));
                    insert_at(written, &path, Value::String(source.to_owned()));
                }
            }
        }
        if let Some(mi) = io_mapping {
            self.zeebe_outputs(mi, id, &mut outputs);
        }
        if let Some(e) = ext
            && let Some((hi, _)) = doc.child(e, Ns::Zeebe, "taskHeaders")
        {
            for (_, h) in doc.children(hi).filter(|(_, c)| c.is(Ns::Zeebe, "header")) {
                let Some(attr) = h.attr("value") else { continue };
                let value = attr.value.trim();
                match h.get("key").map(str::trim) {
                    Some("resultVariable") if !value.is_empty() && result_variable.is_none() => {
                        result_variable = Some(value.to_owned());
                    }
                    Some("resultExpression") if !value.is_empty() => {
                        let lead = attr.value.len() - attr.value.trim_start().len();
                        let feel = value.strip_prefix('=').unwrap_or(value);
                        let skip = usize::from(value.starts_with('='));
                        let what = format!("the result expression of `{id}`");
                        result_expression =
                            self.expr(feel, At::Attr(attr.offset + lead + skip), &what, id).map(Box::new);
                    }
                    Some(key @ ("errorExpression" | "retryBackoff" | "retries")) => self.rep.warn(
                        h.offset,
                        "unsupported-vendor-setting",
                        format!(
                            "the task header `{key}` of `{id}` is not honoured by Sluice: connector errors follow \
                             Sluice's retries (SLUICE_MAX_ATTEMPTS) and a connector's BPMN errors"
                        ),
                        Some(id),
                    ),
                    Some(key) if !key.is_empty() => {
                        headers.insert(key.to_owned(), Value::String(attr.value.clone()));
                    }
                    _ => {}
                }
            }
        }
        if self.exec
            && let Some(cat) = self.connectors
            && let Some((_, at)) = retries
            && cat.is_connector(&connector)
        {
            self.rep.warn(
                at,
                "unsupported-vendor-setting",
                format!(
                    "`zeebe:taskDefinition retries` of `{id}` is not honoured by Sluice for the connector \
                     `{connector}`: connector calls follow Sluice's retries (SLUICE_MAX_ATTEMPTS); it counts only \
                     for a job type workers take"
                ),
                Some(id),
            );
        }
        if self.exec
            && let Some(cat) = self.connectors
        {
            let written = written.as_ref().unwrap_or(&inputs);
            if let Err(msg) = cat.validate(&connector, written) {
                self.hard_err(
                    n.offset,
                    "invalid-connector",
                    format!("connector task `{id}` (`{connector}`): {msg}"),
                    id,
                );
            }
            for (input, msg) in cat.problems(&connector, written) {
                let at = input_at.get(&input).copied().unwrap_or(n.offset);
                self.hard_err(at, "invalid-connector", format!("connector task `{id}` (`{connector}`): {msg}"), id);
            }
        }
        Kind::Task(TaskKind::Connector(Box::new(ConnectorCall {
            connector,
            inputs,
            result_variable,
            computed,
            result_expression,
            headers,
            outputs,
            retries: retries.map(|(n, _)| n),
        })))
    }

    fn script(&mut self, ni: usize, id: &str) -> Kind {
        let doc = self.doc;
        let n = self.node(ni);
        let ext = self.extension(ni);
        // Camunda 8 writes the script as a FEEL expression in `zeebe:script`.
        if let Some(e) = ext
            && let Some((_, zs)) = doc.child(e, Ns::Zeebe, "script")
            && zs.attr("expression").is_some()
        {
            let result_variable = zs.get_nonempty("resultVariable").map(str::to_owned);
            return match self.attr_expr(zs, Ns::None, "expression", &format!("script of `{id}`"), id) {
                Some(script) => Kind::Task(TaskKind::Script { script, result_variable }),
                None => Kind::Unsupported { what: "scriptTask with an invalid script".into() },
            };
        }
        let format = n.get("scriptFormat");
        if !is_feel_format(format) {
            let f = format.unwrap_or_default().trim();
            self.exec_err(
                n.attr("scriptFormat").map_or(n.offset, |a| a.offset),
                "unsupported-script-format",
                format!("script task `{id}` is written in `{f}`; Sluice runs FEEL scripts only"),
                id,
            );
            return Kind::Unsupported { what: format!("scriptTask in {f}") };
        }
        let result_variable = n
            .ext(Ns::Sluice, "resultVariable")
            .or_else(|| n.ext(Ns::Camunda, "resultVariable"))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let body = doc.child(ni, Ns::Bpmn, "script").map(|(si, s)| (si, s.trimmed_text()));
        match body {
            Some((si, (text, start))) if !text.is_empty() => {
                match self.expr(text, At::Text(si, start), &format!("script of `{id}`"), id) {
                    Some(script) => Kind::Task(TaskKind::Script { script, result_variable }),
                    None => Kind::Unsupported { what: "scriptTask with an invalid script".into() },
                }
            }
            // An empty script does nothing; nayra's test models are full of them.
            _ => match Expression::parse("null") {
                Ok(script) => Kind::Task(TaskKind::Script { script, result_variable }),
                Err(_) => Kind::Unsupported { what: "scriptTask without a script".into() },
            },
        }
    }

    /// A business rule task names a decision (rather than a connector).
    fn names_decision(&self, ni: usize) -> bool {
        let n = self.node(ni);
        n.ext_attr(Ns::Sluice, "decisionRef").is_some()
            || n.ext_attr(Ns::Camunda, "decisionRef").is_some()
            || self.extension(ni).is_some_and(|e| self.doc.child(e, Ns::Zeebe, "calledDecision").is_some())
    }

    /// A business rule task evaluating a DMN decision: Sluice's `sluice:decisionRef`
    /// (`sluice:resultVariable`, `sluice:decisionVersion`, `sluice:decisionVersionTag`), Camunda
    /// 7's `camunda:decisionRef` (`camunda:resultVariable`, `camunda:mapDecisionResult`,
    /// `camunda:decisionRefBinding` with `camunda:decisionRefVersion` or
    /// `camunda:decisionRefVersionTag`), Camunda 8's `zeebe:calledDecision` (`decisionId`,
    /// `resultVariable`, `bindingType`, `versionTag`).
    fn decision_task(&mut self, ni: usize, id: &str) -> Kind {
        let doc = self.doc;
        let n = self.node(ni);
        let unsupported = || Kind::Unsupported { what: "businessRuleTask with an invalid decision reference".into() };
        let trimmed = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        // (decision id, its offset, result variable, binding, result mapping, dialect)
        let (decision, offset, result_variable, binding, result, dialect);
        if let Some(a) = n.ext_attr(Ns::Sluice, "decisionRef") {
            (decision, offset, dialect) = (a.value.trim().to_owned(), a.offset, "sluice");
            result_variable = n.ext(Ns::Sluice, "resultVariable").and_then(trimmed);
            result = DecisionResult::Value;
            binding = match (n.ext_attr(Ns::Sluice, "decisionVersion"), n.ext(Ns::Sluice, "decisionVersionTag")) {
                (Some(v), _) => match v.value.trim().parse::<i64>() {
                    Ok(version) if version >= 1 => DecisionBinding::Version(version),
                    _ => {
                        let msg = format!(
                            "`sluice:decisionVersion` of `{id}` is `{}`, not a version number (1, 2, ...)",
                            v.value.trim()
                        );
                        self.exec_err(v.offset, "invalid-decision-reference", msg, id);
                        return unsupported();
                    }
                },
                (None, Some(tag)) if !tag.trim().is_empty() => DecisionBinding::VersionTag(tag.trim().to_owned()),
                _ => DecisionBinding::Latest,
            };
        } else if let Some(a) = n.ext_attr(Ns::Camunda, "decisionRef") {
            (decision, offset, dialect) = (a.value.trim().to_owned(), a.offset, "camunda");
            result_variable = n.ext(Ns::Camunda, "resultVariable").and_then(trimmed);
            result = match n.ext(Ns::Camunda, "mapDecisionResult").map(str::trim) {
                None | Some("" | "resultList") => DecisionResult::ResultList,
                Some("singleResult") => DecisionResult::SingleResult,
                Some("singleEntry") => DecisionResult::SingleEntry,
                Some("collectEntries") => DecisionResult::CollectEntries,
                Some(other) => {
                    let off = n.ext_attr(Ns::Camunda, "mapDecisionResult").map_or(n.offset, |a| a.offset);
                    let msg = format!(
                        "`camunda:mapDecisionResult` of `{id}` is `{other}`; it is one of singleEntry, \
                         singleResult, collectEntries, resultList"
                    );
                    self.exec_err(off, "invalid-decision-reference", msg, id);
                    return unsupported();
                }
            };
            let bind_at = n.ext_attr(Ns::Camunda, "decisionRefBinding").map_or(n.offset, |a| a.offset);
            binding = match n.ext(Ns::Camunda, "decisionRefBinding").map(str::trim) {
                None | Some("" | "latest") => DecisionBinding::Latest,
                Some("version") => match n.ext(Ns::Camunda, "decisionRefVersion").map(str::trim) {
                    Some(v) if let Some(version) = v.parse::<i64>().ok().filter(|v| *v >= 1) => {
                        DecisionBinding::Version(version)
                    }
                    v => {
                        let msg = format!(
                            "`{id}` binds its decision by version but `camunda:decisionRefVersion` is {}; \
                             give a version number (1, 2, ...)",
                            v.map_or("missing".to_owned(), |v| format!("`{v}`"))
                        );
                        self.exec_err(bind_at, "invalid-decision-reference", msg, id);
                        return unsupported();
                    }
                },
                Some("versionTag") => match n.ext(Ns::Camunda, "decisionRefVersionTag").and_then(trimmed) {
                    Some(tag) => DecisionBinding::VersionTag(tag),
                    None => {
                        let msg = format!(
                            "`{id}` binds its decision by version tag but has no `camunda:decisionRefVersionTag`"
                        );
                        self.exec_err(bind_at, "invalid-decision-reference", msg, id);
                        return unsupported();
                    }
                },
                Some(other) => {
                    let msg = format!(
                        "`camunda:decisionRefBinding` of `{id}` is `{other}`; Sluice binds a decision by \
                         `latest`, `version` or `versionTag`"
                    );
                    self.exec_err(bind_at, "invalid-decision-reference", msg, id);
                    return unsupported();
                }
            };
        } else if let Some(e) = self.extension(ni)
            && let Some((_, cd)) = doc.child(e, Ns::Zeebe, "calledDecision")
        {
            let a = cd.attr("decisionId");
            (decision, offset, dialect) =
                (a.map(|a| a.value.trim().to_owned()).unwrap_or_default(), a.map_or(cd.offset, |a| a.offset), "zeebe");
            result_variable = cd.get_nonempty("resultVariable").map(str::to_owned);
            result = DecisionResult::Value;
            binding = match cd.get_nonempty("bindingType") {
                None | Some("latest") => DecisionBinding::Latest,
                Some("versionTag") => match cd.get_nonempty("versionTag") {
                    Some(tag) => DecisionBinding::VersionTag(tag.to_owned()),
                    None => {
                        let msg = format!("`{id}` binds its decision by version tag but has no `versionTag`");
                        self.exec_err(cd.offset, "invalid-decision-reference", msg, id);
                        return unsupported();
                    }
                },
                Some(other) => {
                    let msg = format!(
                        "`bindingType` of `{id}` is `{other}`; Sluice binds a decision by `latest` or `versionTag`"
                    );
                    self.exec_err(cd.offset, "invalid-decision-reference", msg, id);
                    return unsupported();
                }
            };
        } else {
            return unsupported();
        }
        if decision.is_empty() {
            self.exec_err(
                offset,
                "invalid-decision-reference",
                format!("business rule task `{id}` names no decision"),
                id,
            );
            return unsupported();
        }
        if decision.starts_with('=') || decision.contains("${") || decision.contains("#{") {
            let msg = format!(
                "business rule task `{id}` computes its decision id (`{decision}`); Sluice evaluates a decision \
                 named by its id only: write the id itself"
            );
            self.exec_err(offset, "invalid-decision-reference", msg, id);
            return unsupported();
        }
        if result_variable.is_none() {
            let (code, attr) = match dialect {
                "sluice" => ("missing-result-variable", "`sluice:resultVariable`"),
                "zeebe" => ("missing-result-variable", "`resultVariable` on `zeebe:calledDecision`"),
                _ => ("", "`camunda:resultVariable`"),
            };
            let msg = format!(
                "business rule task `{id}` evaluates decision `{decision}` but names no result variable ({attr})"
            );
            if code.is_empty() {
                if self.exec {
                    self.rep.warn(
                        offset,
                        "missing-result-variable",
                        format!("{msg}: its result is not kept"),
                        Some(id),
                    );
                }
            } else {
                self.exec_err(offset, code, msg, id);
                return unsupported();
            }
        }
        if self.exec {
            self.decisions.push(Call { called: decision.clone(), offset, element: id.to_owned() });
        }
        Kind::Task(TaskKind::Decision(DecisionCall { decision_id: decision, binding, result_variable, result }))
    }

    fn call_activity(&mut self, ni: usize, id: &str) -> Kind {
        let doc = self.doc;
        let n = self.node(ni);
        let mut called = n.attr("calledElement").map(|a| (a.value.trim().to_owned(), a.offset));
        if called.as_ref().is_none_or(|(c, _)| c.is_empty())
            && let Some(e) = self.extension(ni)
            && let Some((_, ce)) = doc.child(e, Ns::Zeebe, "calledElement")
            && let Some(a) = ce.attr("processId")
        {
            called = Some((a.value.trim().to_owned(), a.offset));
        }
        let (called, offset) = called.unwrap_or((String::new(), n.offset));
        if self.exec {
            self.calls.push(Call { called: called.clone(), offset, element: id.to_owned() });
        }
        Kind::CallActivity(CallActivity { called_element: called })
    }

    fn looping(&mut self, idx: ElementIdx) -> Option<Loop> {
        let doc = self.doc;
        let ni = self.nodes[idx.index()];
        let id = self.elements[idx.index()].id.clone();
        let id = id.as_str();
        if let Some((si, s)) = doc.child(ni, Ns::Bpmn, "standardLoopCharacteristics") {
            let condition = self.child_expr(si, "loopCondition", &format!("loop condition of `{id}`"), id);
            let test_before = s.get("testBefore").is_some_and(|v| v.trim() == "true");
            let maximum = s.get_nonempty("loopMaximum").and_then(|v| v.parse::<u32>().ok());
            return Some(Loop::Standard { condition, test_before, maximum });
        }
        let (mi, m) = doc.child(ni, Ns::Bpmn, "multiInstanceLoopCharacteristics")?;
        let sequential = m.get("isSequential").is_some_and(|v| v.trim() == "true");
        let cardinality = self.child_expr(mi, "loopCardinality", &format!("loop cardinality of `{id}`"), id);
        let completion = self.child_expr(mi, "completionCondition", &format!("completion condition of `{id}`"), id);
        let what_coll = format!("multi-instance collection of `{id}`");
        let mut collection = None;
        let mut element_variable = None;
        let mut output_collection = None;
        let mut output_element = None;
        // Where an output element was given (offset, what), to warn when nothing collects it.
        let mut element_at: Option<(usize, String)> = None;
        let name_attr = |n: &Node<'_>, ns: Ns, name: &str| {
            n.ext(ns, name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
        };
        let node = doc.node(ni);
        for holder in [m, node] {
            if collection.is_none() && holder.ext_attr(Ns::Sluice, "collection").is_some() {
                collection = self.attr_expr(holder, Ns::Sluice, "collection", &what_coll, id);
                element_variable = name_attr(holder, Ns::Sluice, "elementVariable");
            }
            // An output collection is filled whether the instances come from a collection or a
            // cardinality.
            if output_collection.is_none() && holder.ext_attr(Ns::Sluice, "outputCollection").is_some() {
                output_collection = name_attr(holder, Ns::Sluice, "outputCollection");
                output_element =
                    self.attr_expr(holder, Ns::Sluice, "outputElement", &format!("output element of `{id}`"), id);
            }
            if element_at.is_none()
                && let Some(a) = holder.ext_attr(Ns::Sluice, "outputElement")
                && !a.value.trim().is_empty()
            {
                element_at = Some((a.offset, "`sluice:outputElement`".to_owned()));
            }
        }
        if collection.is_none() && m.ext_attr(Ns::Camunda, "collection").is_some() {
            collection = self.attr_expr(m, Ns::Camunda, "collection", &what_coll, id);
            element_variable = name_attr(m, Ns::Camunda, "elementVariable");
        }
        if collection.is_none()
            && let Some(e) = self.extension(mi)
            && let Some((_, z)) = doc.child(e, Ns::Zeebe, "loopCharacteristics")
        {
            if z.attr("inputCollection").is_some() {
                collection = self.attr_expr(z, Ns::None, "inputCollection", &what_coll, id);
            }
            element_variable = z.get_nonempty("inputElement").map(str::to_owned);
            if output_collection.is_none() {
                output_collection = z.get_nonempty("outputCollection").map(str::to_owned);
            }
            if let Some(a) = z.attr("outputElement")
                && !a.value.trim().is_empty()
            {
                output_element = self.attr_expr(z, Ns::None, "outputElement", &format!("output element of `{id}`"), id);
                element_at = Some((a.offset, "`outputElement` on `zeebe:loopCharacteristics`".to_owned()));
            }
        }
        if collection.is_none()
            && let Some((ri, r)) = doc.child(mi, Ns::Bpmn, "loopDataInputRef")
        {
            let (text, start) = r.trimmed_text();
            if !text.is_empty() {
                let name = self.data_name(text);
                collection = match Expression::parse(&name) {
                    Ok(e) => Some(e),
                    Err(_) => self.expr(&name, At::Text(ri, start), &what_coll, id),
                };
            }
            if let Some((_, item)) = doc.child(mi, Ns::Bpmn, "inputDataItem") {
                element_variable = item.get_nonempty("name").or(item.get_nonempty("id")).map(str::to_owned);
            }
        }
        // The standard output collection, with a collection or a cardinality.
        let output_item = doc.child(mi, Ns::Bpmn, "outputDataItem");
        if output_collection.is_none() {
            let output_ref = doc.child(mi, Ns::Bpmn, "loopDataOutputRef").map(|(_, r)| r);
            match output_ref.map(Node::trimmed_text) {
                Some((text, _)) if !text.is_empty() => {
                    output_collection = Some(self.data_name(text));
                    let item_name = output_item.and_then(|(_, item)| item.attr("name").or(item.attr("id")));
                    match item_name {
                        Some(a) if !a.value.trim().is_empty() => {
                            let lead = a.value.len() - a.value.trim_start().len();
                            let what = format!("the name of the `outputDataItem` of `{id}`");
                            output_element = self.expr(a.value.trim(), At::Attr(a.offset + lead), &what, id);
                        }
                        _ if element_variable.is_none() && self.exec => {
                            let off = output_ref.map_or(m.offset, |r| r.offset);
                            let msg = format!(
                                "multi-instance `{id}` fills the output collection `{text}` but names no \
                                 `outputDataItem` (and no element variable) to collect: every item is null"
                            );
                            self.rep.warn(off, "multi-instance-output", msg, Some(id));
                        }
                        _ => {}
                    }
                }
                _ => {
                    if let Some((_, item)) = output_item {
                        element_at = Some((item.offset, "an `outputDataItem`".to_owned()));
                    }
                }
            }
        }
        if output_collection.is_none()
            && self.exec
            && let Some((off, what)) = element_at
        {
            let msg = format!(
                "multi-instance `{id}` has {what} but no output collection: the instances' outputs are not collected"
            );
            self.rep.warn(off, "multi-instance-output", msg, Some(id));
        }
        if self.exec && collection.is_none() && cardinality.is_none() {
            self.exec_err(
                m.offset,
                "invalid-expression",
                format!("multi-instance `{id}` has neither a loop cardinality nor an input collection"),
                id,
            );
        }
        Some(Loop::Multi(MultiInstance {
            sequential,
            cardinality,
            collection,
            element_variable,
            output_collection,
            output_element,
            completion,
        }))
    }

    /// Reads an element's data associations into its `inputs` and `outputs` (executable
    /// processes only; a descriptive one keeps them as drawings). What Sluice cannot run is an
    /// error at the association: a language other than FEEL, a target that is no variable, a
    /// data store, an association on an event that would move data.
    fn data_associations(&mut self, idx: ElementIdx) {
        let doc = self.doc;
        let ni = self.nodes[idx.index()];
        let n = doc.node(ni);
        let el_id = self.elements[idx.index()].id.clone();
        let activity = is_activity_node(n.local);
        for (ai, a) in doc.children(ni) {
            if a.ns != Ns::Bpmn || !matches!(a.local, "dataInputAssociation" | "dataOutputAssociation") {
                continue;
            }
            let input = a.local == "dataInputAssociation";
            let label = a.get_nonempty("id").unwrap_or(&el_id).to_owned();
            let mappings = self.association(ai, &label);
            if mappings.is_empty() {
                continue;
            }
            if !activity {
                let which = if input { "input" } else { "output" };
                self.exec_err(
                    a.offset,
                    "unsupported-data-association",
                    format!("data {which} association `{label}` of event `{el_id}` would move data, which Sluice does not do on events (a message or signal caught brings its data in as variables as it is; one thrown carries every variable)"),
                    &label,
                );
                continue;
            }
            let e = &mut self.elements[idx.index()];
            if input { e.inputs.extend(mappings) } else { e.outputs.extend(mappings) }
        }
    }

    /// The mappings of one data association, in the order the specification applies them: the
    /// `transformation`, then each `assignment`; without either, a copy of the one `sourceRef`
    /// into `targetRef`. A copy between two names for one variable, or an association that only
    /// draws a line (bpmn-js targets a `__targetRef_placeholder` property for inputs and leaves
    /// outputs without a source), moves nothing and gives none.
    fn association(&mut self, ai: usize, label: &str) -> Vec<DataMapping> {
        let doc = self.doc;
        let refs = |name: &str| -> Vec<(usize, &str)> {
            doc.children(ai)
                .filter(|(_, c)| c.is(Ns::Bpmn, name))
                .map(|(_, c)| {
                    let (text, start) = c.trimmed_text();
                    (c.text_source_offset(start), text)
                })
                .filter(|(_, t)| !t.is_empty())
                .collect()
        };
        let sources = refs("sourceRef");
        let target = refs("targetRef").into_iter().next();
        let mut out = Vec::new();
        let mapping =
            |target: String, source: DataSource| DataMapping { target, source, association: label.to_owned() };
        if let Some((ti, t)) = doc.child(ai, Ns::Bpmn, "transformation") {
            let (text, start) = t.trimmed_text();
            let what = format!("transformation of data association `{label}`");
            let to = target.and_then(|(off, r)| self.data_target(off, r, label));
            if !text.is_empty()
                && self.language_ok(t, text, label, "the transformation")
                && let Some(expr) = self.expr(text, At::Text(ti, start), &what, label)
            {
                match to {
                    Some(to) => out.push(mapping(to, DataSource::Expr(expr))),
                    None if target.is_none() => self.exec_err(
                        t.offset,
                        "unsupported-data-association",
                        format!("data association `{label}` transforms into nothing: it has no `targetRef`"),
                        label,
                    ),
                    None => {}
                }
            }
        }
        let assignments: Vec<usize> =
            doc.children(ai).filter(|(_, c)| c.is(Ns::Bpmn, "assignment")).map(|(i, _)| i).collect();
        for &si in &assignments {
            let from = doc.child(si, Ns::Bpmn, "from");
            let to = doc.child(si, Ns::Bpmn, "to");
            let (Some((fi, f)), Some((_, t))) = (from, to) else {
                self.exec_err(
                    doc.node(si).offset,
                    "unsupported-data-association",
                    format!("an assignment of data association `{label}` needs both `from` and `to`"),
                    label,
                );
                continue;
            };
            let (text, start) = f.trimmed_text();
            let (to_text, to_start) = t.trimmed_text();
            let to_name = self.assignment_target(t.text_source_offset(to_start), to_text, label);
            if text.is_empty() || !self.language_ok(f, text, label, "the assignment") {
                if text.is_empty() {
                    self.exec_err(
                        f.offset,
                        "unsupported-data-association",
                        format!("an assignment of data association `{label}` has an empty `from`"),
                        label,
                    );
                }
                continue;
            }
            let what = format!("`from` of an assignment of data association `{label}`");
            if let Some(expr) = self.expr(text, At::Text(fi, start), &what, label)
                && let Some(to) = to_name
            {
                out.push(mapping(to, DataSource::Expr(expr)));
            }
        }
        if !assignments.is_empty() || doc.child(ai, Ns::Bpmn, "transformation").is_some() {
            return out;
        }
        // A plain copy.
        let Some((toff, tref)) = target else { return out };
        if sources.is_empty() {
            return out;
        }
        if sources.len() > 1 {
            self.exec_err(
                sources[1].0,
                "unsupported-data-association",
                format!("data association `{label}` has several `sourceRef`s and no transformation to combine them; the specification needs one"),
                label,
            );
            return out;
        }
        let (soff, sref) = sources[0];
        let (Some(src), Some(dst)) = (self.data_variable(soff, sref, label), self.data_variable(toff, tref, label))
        else {
            return out;
        };
        match (src, dst) {
            (DataVar::Name(src), DataVar::Name(dst)) if src != dst => out.push(mapping(dst, DataSource::Variable(src))),
            // The same variable under two names, or a line drawn to a placeholder.
            (DataVar::Name(_), DataVar::Name(_)) | (_, DataVar::Placeholder) | (DataVar::Placeholder, _) => {}
        }
        out
    }

    /// The variable a data association's `sourceRef` or `targetRef` (at `off`) stands for; reports
    /// and gives `None` when Sluice has none for it.
    fn data_variable(&mut self, off: usize, r: &str, label: &str) -> Option<DataVar> {
        let found = lookup(&self.defs.nodes, r).map(|&ni| self.node(ni));
        let Some(n) = found else {
            self.exec_err(
                off,
                "dangling-reference",
                format!("data association `{label}` refers to `{r}`, which does not exist in this file"),
                label,
            );
            return None;
        };
        let name_or_id = |n: &Node<'_>| n.get_nonempty("name").or(n.get_nonempty("id")).unwrap_or(r).to_owned();
        match n.local {
            "property" if n.get("name").is_some_and(|v| v.trim() == "__targetRef_placeholder") => {
                Some(DataVar::Placeholder)
            }
            "dataObject" | "dataInput" | "dataOutput" | "property" => Some(DataVar::Name(name_or_id(n))),
            "dataObjectReference" => {
                let object =
                    n.get_nonempty("dataObjectRef").and_then(|o| lookup(&self.defs.nodes, o)).map(|&o| self.node(o));
                let name = n.get_nonempty("name").or_else(|| object.and_then(|o| o.get_nonempty("name")));
                let name = name.or_else(|| object.and_then(|o| o.get_nonempty("id"))).unwrap_or(r);
                Some(DataVar::Name(name.to_owned()))
            }
            "dataStoreReference" | "dataStore" => {
                self.exec_err(
                    off,
                    "unsupported-data-association",
                    format!("data association `{label}` reads or writes data store `{r}`; Sluice keeps no data stores, only the Request's variables"),
                    label,
                );
                None
            }
            other => {
                self.exec_err(
                    off,
                    "unsupported-data-association",
                    format!("data association `{label}` refers to `{r}`, a {other}, not a data object, data input or output, or property"),
                    label,
                );
                None
            }
        }
    }

    /// The variable a `transformation` writes: `targetRef`'s, which a placeholder is not.
    fn data_target(&mut self, off: usize, r: &str, label: &str) -> Option<String> {
        match self.data_variable(off, r, label)? {
            DataVar::Name(name) => Some(name),
            DataVar::Placeholder => {
                self.exec_err(
                    off,
                    "unsupported-data-association",
                    format!("data association `{label}` writes to `{r}`, a placeholder with no variable; point `targetRef` at a data input"),
                    label,
                );
                None
            }
        }
    }

    /// The variable an assignment's `to` (at `off`) names: a data element's id, or a variable
    /// name, as written or as `${name}` / `=name`. A path or any other expression is reported.
    fn assignment_target(&mut self, off: usize, text: &str, label: &str) -> Option<String> {
        let bare = text
            .strip_prefix("${")
            .or_else(|| text.strip_prefix("#{"))
            .and_then(|t| t.strip_suffix('}'))
            .or_else(|| text.strip_prefix('='))
            .unwrap_or(text)
            .trim();
        if lookup(&self.defs.nodes, bare).is_some() {
            return match self.data_variable(off, bare, label)? {
                DataVar::Name(name) => Some(name),
                DataVar::Placeholder => {
                    self.exec_err(
                        off,
                        "unsupported-data-association",
                        format!("an assignment of data association `{label}` writes to `{bare}`, a placeholder with no variable; write to a variable name"),
                        label,
                    );
                    None
                }
            };
        }
        let is_name = bare.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && bare.chars().all(|c| c.is_alphanumeric() || c == '_');
        if is_name {
            return Some(bare.to_owned());
        }
        self.exec_err(
            off,
            "unsupported-data-association",
            format!("the `to` of an assignment of data association `{label}` is `{text}`; Sluice writes to a variable: give its name, or the id of a data object, data input or output, or property"),
            label,
        );
        None
    }

    /// The variable name a data reference (dataInput, property, dataObject) stands for.
    fn data_name(&self, r: &str) -> String {
        match lookup(&self.defs.names, r) {
            Some(Some(name)) => (*name).to_owned(),
            _ => r.to_owned(),
        }
    }

    fn flows(&mut self) -> Vec<Flow> {
        let doc = self.doc;
        let mut flows = Vec::new();
        let flow_nodes = std::mem::take(&mut self.flow_nodes);
        for &(fi, parent) in &flow_nodes {
            let f = doc.node(fi);
            let fid = f.get_nonempty("id").map(str::to_owned);
            let src = f.get("sourceRef").map(str::trim).unwrap_or_default();
            let dst = f.get("targetRef").map(str::trim).unwrap_or_default();
            let label = fid.clone().unwrap_or_else(|| format!("{src}->{dst}"));
            let shown = fid
                .as_deref()
                .map_or_else(|| format!("sequence flow from `{src}` to `{dst}`"), |i| format!("sequence flow `{i}`"));
            let mut ends = [None, None];
            for (k, (attr, r)) in [("sourceRef", src), ("targetRef", dst)].into_iter().enumerate() {
                let at = f.attr(attr).map_or(f.offset, |a| a.offset);
                if r.is_empty() {
                    self.err(at, "dangling-reference", format!("{shown} has no `{attr}`"), &label);
                    continue;
                }
                match lookup_owned(&self.ids, r) {
                    Some(&e) => ends[k] = Some(e),
                    None => {
                        let verb = if k == 0 { "starts at" } else { "points to" };
                        self.err(
                            at,
                            "dangling-reference",
                            format!("{shown} {verb} `{r}`, which does not exist"),
                            &label,
                        );
                    }
                }
            }
            let [Some(source), Some(target)] = ends else { continue };
            for e in [source, target] {
                let el_parent = self.elements[e.index()].parent;
                if el_parent != parent {
                    let other = &self.elements[e.index()].id;
                    self.err(
                        f.offset,
                        "cross-scope-flow",
                        format!("{shown} connects `{other}`, which sits in another (sub-)process; flows cannot cross a sub-process border"),
                        &label,
                    );
                }
            }
            let mut condition = None;
            if let Some((ci, c)) = doc.child(fi, Ns::Bpmn, "conditionExpression") {
                let (text, start) = c.trimmed_text();
                if !text.is_empty() && self.language_ok(c, text, &label, "the condition") {
                    condition = self.expr(text, At::Text(ci, start), &format!("condition of {shown}"), &label);
                }
            }
            self.flow_of.push(fi);
            flows.push(Flow {
                id: fid,
                name: f.get("name").map(str::to_owned),
                source,
                target,
                condition,
                pos: self.rep.pos(f.offset),
            });
        }
        self.flow_nodes = flow_nodes;
        flows
    }

    /// Whether an expression's `language` is one Sluice reads (FEEL, or JUEL-style `${...}`).
    fn language_ok(&mut self, c: &Node<'_>, text: &str, label: &str, what: &str) -> bool {
        let Some(a) = c.attr("language") else { return true };
        let lang = a.value.trim().to_ascii_lowercase();
        let feel = lang.is_empty() || lang.contains("feel");
        let juel = (text.starts_with("${") || text.starts_with("#{"))
            && ["juel", "javascript", "groovy", "ecmascript", "js", "el", "uel"].iter().any(|l| lang.contains(l));
        if feel || juel {
            return true;
        }
        self.exec_err(
            a.offset,
            "unsupported-expression-language",
            format!("expression language `{}` is not supported; write {what} in FEEL", a.value.trim()),
            label,
        );
        false
    }

    fn default_flows(&mut self, flows: &[Flow]) {
        for i in 0..self.elements.len() {
            let n = self.node(self.nodes[i]);
            let Some(a) = n.attr("default") else { continue };
            let r = a.value.trim();
            if r.is_empty() {
                continue;
            }
            let id = self.elements[i].id.clone();
            let may_have_default = matches!(n.local, "exclusiveGateway" | "inclusiveGateway" | "complexGateway")
                || is_activity_node(n.local);
            if !may_have_default {
                self.err(
                    a.offset,
                    "invalid-default-flow",
                    format!(
                        "`{id}` is a {} and has no default flow; only exclusive, inclusive and complex gateways and activities do",
                        n.local
                    ),
                    &id,
                );
                continue;
            }
            let found = flows
                .iter()
                .position(|f| f.id.as_deref() == Some(r))
                .or_else(|| r.split_once(':').and_then(|(_, l)| flows.iter().position(|f| f.id.as_deref() == Some(l))));
            match found {
                None => self.err(
                    a.offset,
                    "dangling-reference",
                    format!("default flow of `{id}` is `{r}`, which does not exist"),
                    &id,
                ),
                Some(fi) if flows[fi].source.index() != i => self.err(
                    a.offset,
                    "invalid-default-flow",
                    format!("default flow of `{id}` is `{r}`, which does not leave `{id}`"),
                    &id,
                ),
                Some(fi) => {
                    self.elements[i].default_flow = Some(FlowIdx::from(fi));
                    if flows[fi].condition.is_some() && self.exec {
                        self.rep.warn(
                            self.rep_offset_of_flow(fi, flows),
                            "condition-ignored",
                            format!("`{r}` is the default flow of `{id}`, so its condition is never evaluated"),
                            Some(r),
                        );
                    }
                }
            }
        }
    }

    fn rep_offset_of_flow(&self, fi: usize, _flows: &[Flow]) -> usize {
        self.flow_of.get(fi).map_or(0, |&n| self.node(n).offset)
    }

    /// Checks that only matter for a process that is meant to run.
    fn check_executable(&mut self, p: &Process, pn: &Node<'_>) {
        if p.elements.is_empty() {
            self.rep.warn(pn.offset, "empty-process", format!("process `{}` has no elements", p.key), Some(&p.key));
            return;
        }
        // Starts, per scope.
        for (si, s) in p.scopes.iter().enumerate() {
            let (owner_id, offset) = match s.owner {
                None => (p.key.clone(), pn.offset),
                Some(o) => (p.element(o).id.clone(), self.node(self.nodes[o.index()]).offset),
            };
            let event_sub =
                s.owner.is_some_and(|o| matches!(p.element(o).kind, Kind::SubProcess { triggered_by_event: true }));
            // An event sub-process's start is checked with the structure (`check_event_subprocesses`).
            if !event_sub && s.none_starts.is_empty() && s.event_starts.is_empty() && s.implicit_starts.is_empty() {
                let what = if si == 0 { "process" } else { "sub-process" };
                self.err(offset, "no-start-event", format!("{what} `{owner_id}` has no start event"), &owner_id);
            }
        }
        for (i, e) in p.elements.iter().enumerate() {
            let eoff = self.node(self.nodes[i]).offset;
            match &e.kind {
                Kind::Gateway(g) => {
                    if e.outgoing.is_empty() {
                        let what = match g {
                            GatewayKind::Exclusive => "exclusive",
                            GatewayKind::Parallel => "parallel",
                            GatewayKind::Inclusive => "inclusive",
                            GatewayKind::EventBased => "event-based",
                        };
                        self.err(
                            eoff,
                            "gateway-without-outgoing",
                            format!("{what} gateway `{}` has no outgoing sequence flow", e.id),
                            &e.id,
                        );
                    }
                    if *g == GatewayKind::Parallel {
                        for &f in &e.outgoing {
                            if p.flow(f).condition.is_some() {
                                let fl = p.flow(f);
                                let label = flow_label(p, fl);
                                let at = self.rep_offset_of_flow(f.index(), &p.flows);
                                self.rep.warn(
                                    at,
                                    "condition-ignored",
                                    format!("`{label}` leaves parallel gateway `{}`, which ignores conditions", e.id),
                                    Some(&label),
                                );
                            }
                        }
                    }
                    if *g != GatewayKind::EventBased && e.incoming.len() <= 1 && e.outgoing.len() == 1 {
                        self.rep.warn(
                            eoff,
                            "gateway-pass-through",
                            format!("gateway `{}` neither splits nor joins (one flow in, one out); BPMN asks a gateway to do one or the other", e.id),
                            Some(&e.id),
                        );
                    }
                    if *g == GatewayKind::EventBased {
                        self.check_event_gateway(p, e, eoff);
                        for &f in &e.outgoing {
                            let fl = p.flow(f);
                            let t = p.element(fl.target);
                            let ok = matches!(
                                &t.kind,
                                Kind::CatchEvent {
                                    trigger: Trigger::Message(_) | Trigger::Timer(_) | Trigger::Signal(_)
                                } | Kind::Task(TaskKind::Receive(_))
                            );
                            let label = flow_label(p, fl);
                            if !ok {
                                self.err(
                                    eoff,
                                    "invalid-event-gateway",
                                    format!("event-based gateway `{}` leads to `{}`, which is not a message, timer or signal catch event or a receive task", e.id, t.id),
                                    &e.id,
                                );
                            }
                            if fl.condition.is_some() {
                                self.err(
                                    eoff,
                                    "invalid-event-gateway",
                                    format!(
                                        "`{label}` leaves event-based gateway `{}` and must not have a condition",
                                        e.id
                                    ),
                                    &e.id,
                                );
                            }
                        }
                    }
                }
                Kind::BoundaryEvent { .. } if e.outgoing.is_empty() => {
                    self.rep.warn(
                        eoff,
                        "boundary-without-outgoing",
                        format!("boundary event `{}` has no outgoing sequence flow: when it triggers, its path ends at once", e.id),
                        Some(&e.id),
                    );
                }
                Kind::ThrowEvent { result: Throw::Link(name) } if !p.scope(e.scope).link_targets.contains_key(name) => {
                    self.err(
                        eoff,
                        "unmatched-link",
                        format!("link `{name}` thrown by `{}` has no catching link event in the same scope", e.id),
                        &e.id,
                    );
                }
                _ => {}
            }
        }
        self.unreachable(p);
    }

    /// The specification's structural rules that hold for every process, runnable or not
    /// (errors in executable processes, warnings in descriptive ones): which elements sequence
    /// flows may enter and leave, an event sub-process's one triggered start, one handler per
    /// error or escalation code in a scope, one link catch event per name in a scope.
    fn check_structure(&mut self, p: &Process) {
        self.check_flow_ends(p);
        self.check_event_subprocesses(p);
        self.check_duplicate_catches(p);
        self.check_duplicate_links(p);
    }

    /// Sequence flows never enter a start event, a boundary event, an event sub-process or a link
    /// catch event, and never leave an end event, an event sub-process or a link throw event
    /// (BPMN 2.0.2 §10.5.2–10.5.4, §10.3.5 Event Sub-Process).
    fn check_flow_ends(&mut self, p: &Process) {
        for (fi, f) in p.flows.iter().enumerate() {
            let label = flow_label(p, f);
            let shown = match &f.id {
                Some(id) => format!("sequence flow `{id}`"),
                None => format!("sequence flow from `{}` to `{}`", p.element(f.source).id, p.element(f.target).id),
            };
            let at = self.rep_offset_of_flow(fi, &p.flows);
            let problems = [self.cannot_leave(p, f.source), self.cannot_enter(p, f.target)];
            for why in problems.into_iter().flatten() {
                self.err(at, "invalid-flow", format!("{shown}: {why}"), &label);
            }
        }
    }

    /// Why no sequence flow may leave `e`, if none may.
    fn cannot_leave(&self, p: &Process, e: ElementIdx) -> Option<String> {
        let n = self.node(self.nodes[e.index()]);
        let id = &p.element(e).id;
        match n.local {
            "endEvent" => Some(format!("end event `{id}` ends its path; no sequence flow leaves it")),
            "subProcess" if is_event_subprocess(n) => Some(format!(
                "`{id}` is an event sub-process, which has no sequence flows in or out: its start event's trigger starts it, and when it ends its scope goes on without it"
            )),
            "intermediateThrowEvent"
                if self.doc.child(self.nodes[e.index()], Ns::Bpmn, "linkEventDefinition").is_some() =>
            {
                Some(format!("link throw event `{id}` jumps to its link catch event; no sequence flow leaves it"))
            }
            _ => None,
        }
    }

    /// Why no sequence flow may enter `e`, if none may.
    fn cannot_enter(&self, p: &Process, e: ElementIdx) -> Option<String> {
        let n = self.node(self.nodes[e.index()]);
        let id = &p.element(e).id;
        match n.local {
            "startEvent" => Some(format!("start event `{id}` begins its scope; no sequence flow enters it")),
            "boundaryEvent" => {
                Some(format!("boundary event `{id}` is triggered on its activity; no sequence flow enters it"))
            }
            "subProcess" if is_event_subprocess(n) => Some(format!(
                "`{id}` is an event sub-process, which has no sequence flows in or out: its start event's trigger starts it"
            )),
            "intermediateCatchEvent"
                if self.doc.child(self.nodes[e.index()], Ns::Bpmn, "linkEventDefinition").is_some() =>
            {
                Some(format!(
                    "link catch event `{id}` is reached from its link throw event; no sequence flow enters it"
                ))
            }
            _ => None,
        }
    }

    /// An event sub-process has exactly one start event, and it has a trigger.
    fn check_event_subprocesses(&mut self, p: &Process) {
        for s in &p.scopes {
            let Some(owner) = s.owner else { continue };
            if !matches!(p.element(owner).kind, Kind::SubProcess { triggered_by_event: true }) {
                continue;
            }
            let esp = p.element(owner).id.clone();
            let starts: Vec<ElementIdx> = s
                .children
                .iter()
                .copied()
                .filter(|&c| self.node(self.nodes[c.index()]).local == "startEvent")
                .collect();
            let Some(&first) = starts.first() else {
                let at = self.node(self.nodes[owner.index()]).offset;
                self.err(
                    at,
                    "no-start-event",
                    format!("event sub-process `{esp}` has no start event: it needs one, with the trigger that starts it (message, timer, signal, error or escalation)"),
                    &esp,
                );
                continue;
            };
            for &extra in &starts[1..] {
                let (first_id, id) = (p.element(first).id.clone(), p.element(extra).id.clone());
                let at = self.node(self.nodes[extra.index()]).offset;
                self.err(
                    at,
                    "invalid-event-subprocess",
                    format!("event sub-process `{esp}` has a second start event `{id}` besides `{first_id}`; it has exactly one, with the trigger that starts it"),
                    &id,
                );
            }
            if let Kind::StartEvent { trigger: Trigger::None, .. } = p.element(first).kind {
                let id = p.element(first).id.clone();
                let at = self.node(self.nodes[first.index()]).offset;
                self.err(
                    at,
                    "invalid-event-subprocess",
                    format!("the start event `{id}` of event sub-process `{esp}` has no trigger; give it the message, timer, signal, error or escalation that starts the event sub-process"),
                    &id,
                );
            }
        }
    }

    /// One handler per error or escalation code (and one catch-all) among an activity's boundary
    /// events, and among the event sub-processes of one scope: the runtime takes the handler for
    /// the exact code, and two of them would leave the choice to the order in the file.
    fn check_duplicate_catches(&mut self, p: &Process) {
        let mut groups: Vec<(String, Vec<ElementIdx>)> = Vec::new();
        for e in &p.elements {
            if !e.boundaries.is_empty() {
                groups.push((format!("`{}`", e.id), e.boundaries.clone()));
            }
        }
        for s in &p.scopes {
            let starts: Vec<ElementIdx> = s
                .event_subprocesses
                .iter()
                .filter_map(|&esp| p.element(esp).inner_scope)
                .flat_map(|inner| p.scope(inner).event_starts.iter().copied())
                .collect();
            if starts.len() > 1 {
                let scope =
                    s.owner.map_or_else(|| format!("process `{}`", p.key), |o| format!("`{}`", p.element(o).id));
                groups.push((scope, starts));
            }
        }
        for (owner, catchers) in groups {
            let mut seen: Vec<((bool, Option<&str>), ElementIdx)> = Vec::new();
            for c in catchers {
                let (escalation, code) = match &p.element(c).kind {
                    Kind::BoundaryEvent { trigger: Trigger::Error(code), .. }
                    | Kind::StartEvent { trigger: Trigger::Error(code), .. } => (false, code.as_deref()),
                    Kind::BoundaryEvent { trigger: Trigger::Escalation(code), .. }
                    | Kind::StartEvent { trigger: Trigger::Escalation(code), .. } => (true, code.as_deref()),
                    _ => continue,
                };
                let Some(&(_, first)) = seen.iter().find(|(k, _)| *k == (escalation, code)) else {
                    seen.push(((escalation, code), c));
                    continue;
                };
                let what = if escalation { "escalation" } else { "error" };
                let caught = code.map_or_else(|| format!("every {what}"), |code| format!("{what} `{code}`"));
                let handler = |e: ElementIdx| match p.element(e).kind {
                    Kind::StartEvent { .. } => {
                        p.element(e).parent.map_or_else(String::new, |esp| p.element(esp).id.clone())
                    }
                    _ => p.element(e).id.clone(),
                };
                let kind = match p.element(c).kind {
                    Kind::StartEvent { .. } => "event sub-processes",
                    _ => "boundary events",
                };
                let (a, b) = (handler(first), handler(c));
                let at = self.node(self.nodes[c.index()]).offset;
                let id = p.element(c).id.clone();
                self.err(
                    at,
                    "duplicate-catch",
                    format!("{kind} `{a}` and `{b}` of {owner} both catch {caught}; keep one handler per code (a handler for the exact code is taken before a catch-all)"),
                    &id,
                );
            }
        }
    }

    /// One link catch event per name in a scope: a link throw jumps to exactly one.
    fn check_duplicate_links(&mut self, p: &Process) {
        for s in &p.scopes {
            let mut seen: HashMap<&str, ElementIdx> = HashMap::new();
            for &c in &s.children {
                let Kind::CatchEvent { trigger: Trigger::Link(name) } = &p.element(c).kind else { continue };
                let Some(&first) = seen.get(name.as_str()) else {
                    seen.insert(name, c);
                    continue;
                };
                let (a, b) = (p.element(first).id.clone(), p.element(c).id.clone());
                let at = self.node(self.nodes[c.index()]).offset;
                self.err(
                    at,
                    "duplicate-link",
                    format!("link catch events `{a}` and `{b}` in one scope are both named `{name}`; a link throw jumps to one only, so give each its own name"),
                    &b,
                );
            }
        }
    }

    /// The event-based gateway rules beyond what may follow it (BPMN 2.0.2 §10.6.6): two or more
    /// outgoing flows, its targets entered from it alone, receive tasks or message catch events
    /// but not both (warnings: Sluice runs such a gateway as drawn); no boundary events on a
    /// receive task that follows it (an error: they would never be armed).
    fn check_event_gateway(&mut self, p: &Process, g: &Element, at: usize) {
        if g.outgoing.len() == 1 {
            self.rep.warn(
                at,
                "event-gateway-shape",
                format!("event-based gateway `{}` has one outgoing sequence flow; it is meant to choose among two or more events", g.id),
                Some(&g.id),
            );
        }
        let (mut receive, mut message) = (None, None);
        for &f in &g.outgoing {
            let t = p.element(p.flow(f).target);
            if t.incoming.len() > 1 {
                self.rep.warn(
                    at,
                    "event-gateway-shape",
                    format!("`{}` follows event-based gateway `{}` and has other incoming sequence flows; the specification has an event after the gateway entered from it alone", t.id, g.id),
                    Some(&g.id),
                );
            }
            match &t.kind {
                Kind::Task(TaskKind::Receive(_)) => {
                    receive.get_or_insert(t.id.clone());
                    if !t.boundaries.is_empty() {
                        self.err(
                            at,
                            "invalid-event-gateway",
                            format!("receive task `{}` follows event-based gateway `{}` and has boundary events, which would never be armed: the message that completes it is the one the gateway waits for", t.id, g.id),
                            &g.id,
                        );
                    }
                }
                Kind::CatchEvent { trigger: Trigger::Message(_) } => {
                    message.get_or_insert(t.id.clone());
                }
                _ => {}
            }
        }
        if let (Some(r), Some(m)) = (receive, message) {
            self.rep.warn(
                at,
                "event-gateway-shape",
                format!("event-based gateway `{}` leads to receive task `{r}` and to message catch event `{m}`; the specification has one or the other", g.id),
                Some(&g.id),
            );
        }
    }

    /// Warns about flow nodes no token can reach.
    fn unreachable(&mut self, p: &Process) {
        let n = p.elements.len();
        // Node n is a virtual root: the process starting.
        let mut g: DiGraph<(), ()> = DiGraph::with_capacity(n + 1, p.flows.len() + n);
        for _ in 0..=n {
            g.add_node(());
        }
        let root = NodeIndex::new(n);
        for f in &p.flows {
            g.add_edge(NodeIndex::new(f.source.index()), NodeIndex::new(f.target.index()), ());
        }
        for (si, s) in p.scopes.iter().enumerate() {
            let from = match s.owner {
                None if si == 0 => root,
                None => continue,
                Some(o) => NodeIndex::new(o.index()),
            };
            let starts =
                s.none_starts.iter().chain(&s.event_starts).chain(&s.implicit_starts).chain(&s.event_subprocesses);
            for &c in starts {
                g.add_edge(from, NodeIndex::new(c.index()), ());
            }
            // Link throws jump to the catch of the same name.
            for &c in &s.children {
                if let Kind::ThrowEvent { result: Throw::Link(name) } = &p.element(c).kind
                    && let Some(&t) = s.link_targets.get(name)
                {
                    g.add_edge(NodeIndex::new(c.index()), NodeIndex::new(t.index()), ());
                }
            }
        }
        for (i, e) in p.elements.iter().enumerate() {
            for &b in &e.boundaries {
                g.add_edge(NodeIndex::new(i), NodeIndex::new(b.index()), ());
            }
        }
        let mut seen = vec![false; n + 1];
        let mut dfs = Dfs::new(&g, root);
        while let Some(x) = dfs.next(&g) {
            seen[x.index()] = true;
        }
        for (i, e) in p.elements.iter().enumerate() {
            if !seen[i] {
                let off = self.node(self.nodes[i]).offset;
                self.rep.warn(off, "unreachable-element", format!("no token can ever reach `{}`", e.id), Some(&e.id));
            }
        }
    }
}

fn flow_label(p: &Process, f: &Flow) -> String {
    f.id.clone().unwrap_or_else(|| format!("{}->{}", p.element(f.source).id, p.element(f.target).id))
}

/// Puts `value` at a dotted target inside `map`, making the objects on the way (as Camunda does:
/// `data.channel` gives `{"data": {"channel": …}}`); a non-object in the way is replaced.
fn insert_at(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut cur = map;
    for seg in parents {
        let slot = cur.entry(seg.clone()).or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else { return };
        cur = next;
    }
    cur.insert(last.clone(), value);
}

/// A `sluice:input` body: the text as written, minus leading and trailing blank lines and the
/// whitespace around them, with CR LF read as LF.
fn input_text(raw: &str) -> String {
    raw.replace("\r\n", "\n").trim().to_owned()
}
