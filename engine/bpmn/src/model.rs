//! The validated, immutable process definition: what the importer produces and the runtime executes.
//!
//! The importer fills in each element's own facts (kind, parent scope, position) and each sequence
//! flow; [`Process::build`] derives everything else once (adjacency, scopes, the petgraph graph,
//! inclusive-join reachability), so the runtime never searches the model at run time.
//!
//! Why one file of this size: it is the model's vocabulary (element kinds, tasks, events, data
//! settings) and `Process::build`, which derives from all of them at once; every other module of
//! the crate and the runtime read these types together, and split apart they would import each
//! other file by file.

use std::collections::HashMap;
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;
use serde_json::{Map, Value};
use sluice_feel::Expression;
use sluice_feel::iso8601::{Cycle, IsoDuration};

macro_rules! index_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl $name {
            /// The position in the owning vector.
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl From<usize> for $name {
            #[inline]
            fn from(i: usize) -> Self {
                // Models are bounded by the importer's input size limits, far below u32::MAX.
                Self(i as u32)
            }
        }
    };
}

index_type!(
    /// A flow node of a [`Process`] (an index into `Process::elements`).
    ElementIdx
);
index_type!(
    /// A sequence flow of a [`Process`] (an index into `Process::flows`).
    FlowIdx
);
index_type!(
    /// A scope of a [`Process`]: 0 is the process itself, the others are sub-processes.
    ScopeIdx
);

impl ScopeIdx {
    /// The process-level scope.
    pub const ROOT: ScopeIdx = ScopeIdx(0);
}

/// A place in a source file, 1-based.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// One BPMN `process`, lifted and validated.
#[derive(Debug)]
pub struct Process {
    /// The BPMN id of the process: the process key of the HTTP API.
    pub key: String,
    pub name: Option<String>,
    pub executable: bool,
    /// The file the process came from, as named at import.
    pub file: Arc<str>,
    pub pos: Pos,
    pub elements: Vec<Element>,
    pub flows: Vec<Flow>,
    /// Index 0 is the process scope; sub-processes own the others.
    pub scopes: Vec<Scope>,
    /// Node `i` is element `i`, edge weights are the flows.
    pub graph: DiGraph<ElementIdx, FlowIdx>,
    ids: HashMap<String, ElementIdx>,
    /// For each inclusive join, for each of its incoming flows (in `incoming` order): the elements
    /// of its scope from which a token can still reach that flow without passing the join.
    or_join_reach: HashMap<ElementIdx, Vec<BitSet>>,
    /// The business rule tasks that evaluate a decision, each (decision id, binding) once.
    decision_tasks: Vec<ElementIdx>,
}

// Like `Process` above and the store's row types (`JobRow`, …), a list of fields of optional ids
// and vectors: a different type of the model, only the shape is alike.
/// A flow node: event, activity or gateway.
#[derive(Debug, Clone)]
pub struct Element {
    pub id: String,
    pub name: Option<String>,
    pub kind: Kind,
    /// The sub-process this element sits in directly; `None` for the process level.
    pub parent: Option<ElementIdx>,
    pub pos: Pos,
    /// Taken only when no other outgoing flow's condition holds (gateways and activities).
    pub default_flow: Option<FlowIdx>,
    /// Multi-instance or standard loop (activities only).
    pub looping: Option<Loop>,
    /// What the activity's data input associations write before it runs, in document order
    /// (activities only; for a loop, each instance).
    pub inputs: Vec<DataMapping>,
    /// What its data output associations write when it completes, in document order.
    pub outputs: Vec<DataMapping>,
    /// For user tasks (and ProcessMaker form tasks): who the task is for, when it is due, its
    /// documentation. `None` for every other element.
    pub human: Option<Box<HumanTask>>,
    /// For user tasks: the form a person fills in to complete it (`camunda:formData` or
    /// `sluice:form`), and whether it is an approval. `None`: the model declares no form.
    pub form: Option<Box<TaskForm>>,
    // Derived by `Process::build`:
    /// Incoming sequence flows, in document order.
    pub incoming: Vec<FlowIdx>,
    /// Outgoing sequence flows, in document order (the order conditions are tried in).
    pub outgoing: Vec<FlowIdx>,
    /// Boundary events attached to this activity.
    pub boundaries: Vec<ElementIdx>,
    /// The scope this element sits in.
    pub scope: ScopeIdx,
    /// For sub-processes: the scope they open.
    pub inner_scope: Option<ScopeIdx>,
}

impl Element {
    /// A new element with no derived facts yet; `Process::build` fills them in.
    pub fn new(id: impl Into<String>, kind: Kind, pos: Pos) -> Self {
        Self {
            id: id.into(),
            name: None,
            kind,
            parent: None,
            pos,
            default_flow: None,
            looping: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            human: None,
            form: None,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            boundaries: Vec::new(),
            scope: ScopeIdx::ROOT,
            inner_scope: None,
        }
    }

    /// The name if there is one, else the id: what people see in task lists and messages.
    pub fn label(&self) -> &str {
        self.name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or(&self.id)
    }

    pub fn is_activity(&self) -> bool {
        matches!(self.kind, Kind::Task(_) | Kind::SubProcess { .. } | Kind::CallActivity(_))
    }
}

/// What an element is.
#[derive(Debug, Clone)]
pub enum Kind {
    StartEvent {
        trigger: Trigger,
        interrupting: bool,
    },
    EndEvent {
        result: Throw,
    },
    /// `intermediateCatchEvent`.
    CatchEvent {
        trigger: Trigger,
    },
    /// `intermediateThrowEvent`.
    ThrowEvent {
        result: Throw,
    },
    BoundaryEvent {
        attached_to: ElementIdx,
        trigger: Trigger,
        interrupting: bool,
    },
    Task(TaskKind),
    /// An embedded sub-process; `triggered_by_event` makes it an event sub-process.
    SubProcess {
        triggered_by_event: bool,
    },
    CallActivity(CallActivity),
    Gateway(GatewayKind),
    /// An element Sluice cannot execute (complex gateway, transaction, compensation, ...).
    /// Only non-executable processes contain these (executable ones get a diagnostic instead);
    /// a token that reaches one raises an incident that names it.
    Unsupported {
        what: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayKind {
    Exclusive,
    Parallel,
    Inclusive,
    EventBased,
}

#[derive(Debug, Clone)]
pub enum TaskKind {
    /// `task`: passes straight through.
    Plain,
    /// `userTask`: waits for a person.
    User,
    /// `manualTask`: waits for a person to say it is done.
    Manual,
    /// `serviceTask` (and `sendTask`/`businessRuleTask` with a connector): runs a connector.
    Connector(Box<ConnectorCall>),
    /// `sendTask` without a connector: publishes a message.
    SendMessage(MessageRef),
    /// `receiveTask`: waits for a message.
    Receive(MessageRef),
    /// `scriptTask`: one FEEL expression, its value stored under `result_variable`.
    Script { script: Expression, result_variable: Option<String> },
    /// `businessRuleTask` naming a DMN decision: evaluated at once when a token enters it.
    Decision(DecisionCall),
}

/// A business rule task's decision, as written in the model (`sluice:decisionRef`, Camunda 7's
/// `camunda:decisionRef`, Camunda 8's `zeebe:calledDecision`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionCall {
    /// The id of the decision (its DMN `decision` element), deployed with a `.dmn` file.
    pub decision_id: String,
    /// Which deployed version of it runs.
    pub binding: DecisionBinding,
    /// Where the result is stored; `None` only for a Camunda 7 model without one (a warning).
    pub result_variable: Option<String>,
    /// How the decision's result becomes the variable's value.
    pub result: DecisionResult,
}

/// Which version of a decision a business rule task evaluates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DecisionBinding {
    /// The newest version deployed when the token enters the task.
    Latest,
    /// That version number.
    Version(i64),
    /// The newest version whose `versionTag` is this.
    VersionTag(String),
}

impl std::fmt::Display for DecisionBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecisionBinding::Latest => f.write_str("latest version"),
            DecisionBinding::Version(v) => write!(f, "version {v}"),
            DecisionBinding::VersionTag(t) => write!(f, "version tag `{t}`"),
        }
    }
}

/// How a decision's result becomes the result variable's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionResult {
    /// The decision's value as DMN defines it (Sluice and Camunda 8): a single-output table's
    /// output, a context of several outputs, a list for a multiple-hit policy, an aggregate.
    Value,
    /// Camunda 7 `resultList` (its default): a list with one object of outputs per matched rule.
    ResultList,
    /// Camunda 7 `singleResult`: the one matched rule's object of outputs (null when none matched;
    /// more than one is an incident).
    SingleResult,
    /// Camunda 7 `singleEntry`: the one output of the one matched rule (null when none matched).
    SingleEntry,
    /// Camunda 7 `collectEntries`: the one output of every matched rule, as a list.
    CollectEntries,
}

/// A connector invocation as written in the model.
#[derive(Debug, Clone)]
pub struct ConnectorCall {
    /// The connector type (`implementation`), e.g. `slack-notification`.
    pub connector: String,
    /// Input values: strings are templates over the Request's data; ProcessMaker's `pm:config`
    /// may give other JSON types.
    pub inputs: Map<String, Value>,
    /// Where the connector's output is stored in the Request's data.
    pub result_variable: Option<String>,
    /// Inputs computed by FEEL when the connector runs (Camunda 8's `zeebe:input source="=…"`),
    /// placed into `inputs` at their target; never rendered as templates.
    pub computed: Vec<ComputedInput>,
    /// Camunda 8's `resultExpression`: evaluated over the output (its fields, and the whole of it
    /// as `response`); the entries of the context it gives become variables.
    pub result_expression: Option<Box<Expression>>,
    /// Camunda 8's `zeebe:taskHeaders` other than `resultVariable` and `resultExpression`, as
    /// written: handed to a job worker with the job (`headers`).
    pub headers: Map<String, Value>,
    /// Output mappings (Camunda 8's `zeebe:output`, Camunda 7's `camunda:outputParameter`):
    /// when there is at least one, only these are written into the Request's data, as Camunda
    /// does (the result variable and the result expression's entries are then seen by the
    /// mappings only).
    pub outputs: Vec<OutputMapping>,
    /// The retries a worker job of this task starts with (Camunda 8's `zeebe:taskDefinition
    /// retries`, a number); `None`: the default (3). Connector calls do not use it.
    pub retries: Option<u32>,
}

/// One output mapping of a connector task: a value computed from the connector's result.
#[derive(Debug, Clone)]
pub struct OutputMapping {
    /// Where it goes in the Request's data: `a.b` is `["a", "b"]`.
    pub target: Vec<String>,
    pub source: OutputSource,
    /// Camunda 7's names: `response` is the result's `body` when it has one (its http-connector
    /// gives the answer's body as `response`).
    pub camunda7: bool,
}

/// What an output mapping gives.
#[derive(Debug, Clone)]
pub enum OutputSource {
    /// An expression (FEEL `=…`, or Camunda 7's `${…}`) over the result: its fields, the whole
    /// result as `response` (and its `status` as `statusCode`), the result variable, the result
    /// expression's entries and the outputs mapped before it, in front of the Request's data.
    Expr(Expression),
    /// A literal value.
    Literal(Value),
}

/// One input whose value a FEEL expression gives at run time.
#[derive(Debug, Clone)]
pub struct ComputedInput {
    /// Where it goes: Camunda's dotted target `data.channel` is `["data", "channel"]`.
    pub target: Vec<String>,
    pub expr: Expression,
}

impl ConnectorCall {
    /// The values of the FEEL inputs over `variables`, each string of the data first passed
    /// through `escape` (the connector's escaping, so data placed in a message by an expression is
    /// escaped as it is by a template, while the expression's own text is not). An expression that
    /// fails is an error naming its target.
    pub fn computed_inputs(
        &self,
        variables: &Map<String, Value>,
        escape: fn(&str) -> std::borrow::Cow<'_, str>,
    ) -> Result<Vec<(Vec<String>, Value)>, String> {
        if self.computed.is_empty() {
            return Ok(Vec::new());
        }
        let escaped: Map<String, Value> =
            variables.iter().map(|(k, v)| (k.clone(), escape_strings(v, escape))).collect();
        self.computed
            .iter()
            .map(|c| {
                c.expr.eval(&escaped).map(|v| (c.target.clone(), v)).map_err(|e| {
                    format!("the input `{}` (`={}`) cannot be evaluated: {e}", c.target.join("."), c.expr.source())
                })
            })
            .collect()
    }
}

fn escape_strings(v: &Value, escape: fn(&str) -> std::borrow::Cow<'_, str>) -> Value {
    match v {
        Value::String(s) => Value::String(escape(s).into_owned()),
        Value::Array(a) => Value::Array(a.iter().map(|x| escape_strings(x, escape)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), escape_strings(x, escape))).collect()),
        other => other.clone(),
    }
}

#[derive(Debug, Clone)]
pub struct CallActivity {
    /// The key (BPMN id) of the called process, in this deployment or an earlier one.
    pub called_element: String,
}

/// What starts a start event, or triggers a catch or boundary event.
#[derive(Debug, Clone)]
pub enum Trigger {
    None,
    Timer(Timer),
    Message(MessageRef),
    Signal(String),
    /// An error code; `None` catches every error.
    Error(Option<String>),
    /// An escalation code; `None` catches every escalation.
    Escalation(Option<String>),
    Link(String),
}

/// What an end or intermediate throw event does.
#[derive(Debug, Clone)]
pub enum Throw {
    None,
    Terminate,
    Error { code: String, message: Option<String> },
    Escalation(String),
    Message(MessageRef),
    Signal(String),
    Link(String),
}

/// A message as events refer to it.
#[derive(Debug, Clone)]
pub struct MessageRef {
    pub name: String,
    /// Evaluated on the waiting Request's data when the subscription is opened; a published
    /// message reaches the subscription whose key equals the message's correlation key.
    pub correlation_key: Option<Expression>,
}

/// A timer event definition.
#[derive(Debug, Clone)]
pub enum Timer {
    /// A literal value, parsed at deploy time.
    Fixed(TimerSpec),
    /// An expression evaluated when the timer is armed; its value is parsed then.
    Expr { kind: TimerKind, expr: Expression },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    Duration,
    Date,
    Cycle,
}

#[derive(Debug, Clone)]
pub enum TimerSpec {
    Duration(IsoDuration),
    Date(chrono::DateTime<chrono::Utc>),
    Cycle(Cycle),
}

/// Loop characteristics of an activity.
// One per looping element of an immutable model: the size difference costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Loop {
    Multi(MultiInstance),
    Standard { condition: Option<Expression>, test_before: bool, maximum: Option<u32> },
}

#[derive(Debug, Clone)]
pub struct MultiInstance {
    pub sequential: bool,
    /// How many instances, when there is no collection.
    pub cardinality: Option<Expression>,
    /// One instance per item.
    pub collection: Option<Expression>,
    /// The name each instance sees its item under.
    pub element_variable: Option<String>,
    /// Collects each instance's `output_element`, by instance index.
    pub output_collection: Option<String>,
    pub output_element: Option<Expression>,
    /// Checked after each instance completes; when true the rest are cancelled.
    pub completion: Option<Expression>,
}

/// One value a data association writes (`dataInputAssociation` before its activity runs,
/// `dataOutputAssociation` when it completes). Data objects, properties and data inputs and
/// outputs are all variables, named by their `name` (else id); see the crate README.
#[derive(Debug, Clone)]
pub struct DataMapping {
    /// The variable written.
    pub target: String,
    pub source: DataSource,
    /// The association's id (or its activity's), for incidents.
    pub association: String,
}

/// Where a [`DataMapping`]'s value comes from.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// The value of this variable, which must be set: a plain `sourceRef` to `targetRef` copy.
    Variable(String),
    /// An assignment's `from`, or a `transformation`, evaluated over the variables in view.
    Expr(Expression),
}

/// Who a user task is for and when it is due, as the model writes it in any dialect
/// (`camunda:assignee`, `zeebe:assignmentDefinition`, `humanPerformer`/`potentialOwner`,
/// `pm:assignment`, …). Each value is evaluated when the task is created.
#[derive(Debug, Clone, Default)]
pub struct HumanTask {
    pub assignee: Option<AssignValue>,
    /// Each value gives one or more usernames (a list, or text separated by commas).
    pub candidate_users: Vec<AssignValue>,
    /// Each value gives one or more group names.
    pub candidate_groups: Vec<AssignValue>,
    /// `potentialOwner` expressions: `user(x)` is a candidate user, `group(x)` or a bare name a
    /// candidate group (Camunda 7's reading).
    pub owners: Vec<AssignValue>,
    /// A date-time (ISO 8601; without an offset, UTC), or a duration counted from the task's
    /// creation (`PT2H`).
    pub due: Option<AssignValue>,
    pub follow_up: Option<AssignValue>,
    /// A whole number.
    pub priority: Option<AssignValue>,
    /// The task's `documentation`, as written.
    pub documentation: Option<String>,
}

impl HumanTask {
    /// Whether the model says nothing about who the task is for or when it is due.
    pub fn is_empty(&self) -> bool {
        self.assignee.is_none()
            && self.candidate_users.is_empty()
            && self.candidate_groups.is_empty()
            && self.owners.is_empty()
            && self.due.is_none()
            && self.follow_up.is_none()
            && self.priority.is_none()
            && self.documentation.is_none()
    }
}

/// The completion form of a user task, as the model declares it (Camunda 7's
/// `camunda:formData`/`camunda:formField`, or `sluice:form`/`sluice:field`). Sluice does not
/// run it: it is shown to people by the web app, and each field's value is completion data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TaskForm {
    /// An approval task: the web app shows Approve and Reject, which complete it with
    /// `approved` true or false (`sluice:approval="true"` on the task or its `sluice:form`, or
    /// a boolean field named `approved`).
    pub approval: bool,
    pub fields: Vec<FormField>,
}

/// One field of a task's form: its value is written to the Request's data under `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormField {
    pub id: String,
    /// What a person reads; the id when the model gives none.
    pub label: String,
    /// `string`, `long`, `boolean`, `date` or `enum`.
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// The value shown at first, as written (not evaluated).
    pub default: Option<String>,
    pub required: bool,
    /// For `enum`: the choices, `(id, name)`.
    pub values: Vec<FieldValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    String,
    Long,
    Boolean,
    Date,
    Enum,
}

impl FieldKind {
    pub fn parse(s: &str) -> Option<FieldKind> {
        Some(match s {
            "string" => FieldKind::String,
            "long" => FieldKind::Long,
            "boolean" => FieldKind::Boolean,
            "date" => FieldKind::Date,
            "enum" => FieldKind::Enum,
            _ => return None,
        })
    }
}

/// One choice of an `enum` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldValue {
    pub id: String,
    pub name: String,
}

/// One assignment value and the attribute it was written in (named by incidents).
#[derive(Debug, Clone)]
pub struct AssignValue {
    /// Where it was written, as a person would search for it: `camunda:assignee`,
    /// `zeebe:assignmentDefinition assignee`, `potentialOwner`, `pm:assignment`.
    pub attribute: String,
    pub value: AssignSource,
}

/// How an assignment value is written.
#[derive(Debug, Clone)]
pub enum AssignSource {
    /// Plain text, taken as it is.
    Text(String),
    /// A FEEL expression (`= requester`) or a whole Camunda 7 `${...}` expression.
    Expr(Expression),
    /// Text with Camunda 7 `${...}` expressions inside (`kermit_${loopCounter}`).
    Template(Vec<TemplatePart>),
}

/// A piece of an [`AssignSource::Template`].
#[derive(Debug, Clone)]
pub enum TemplatePart {
    Text(String),
    Expr(Expression),
}

/// A due or follow-up date as text: an ISO 8601 date-time (UTC without an offset), a date
/// (midnight UTC), or a duration from `now`.
pub fn parse_when(v: &str) -> Option<When> {
    let v = v.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Some(When::At(t.with_timezone(&chrono::Utc)));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, f) {
            return Some(When::At(t.and_utc()));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| When::At(t.and_utc()));
    }
    if v.starts_with('P') || v.starts_with("-P") {
        return sluice_feel::iso8601::parse_duration(v).ok().map(When::After);
    }
    None
}

/// What [`parse_when`] read.
#[derive(Clone, Debug, PartialEq)]
pub enum When {
    At(chrono::DateTime<chrono::Utc>),
    After(IsoDuration),
}

/// A sequence flow.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Sequence flows may lack an id in real files.
    pub id: Option<String>,
    pub name: Option<String>,
    pub source: ElementIdx,
    pub target: ElementIdx,
    pub condition: Option<Expression>,
    pub pos: Pos,
}

// Its run of `Vec<ElementIdx>` fields looks like the store's `Changes` (a run of `Vec`s of rows to
// write): different types, alike only in being lists of lists.
/// A process or sub-process body.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The sub-process owning the scope; `None` for the process.
    pub owner: Option<ElementIdx>,
    /// Flow nodes directly inside, boundary events included.
    pub children: Vec<ElementIdx>,
    /// None start events: each starts a token when the scope starts.
    pub none_starts: Vec<ElementIdx>,
    /// Start events with a trigger (message, timer, signal): process-level event starts.
    pub event_starts: Vec<ElementIdx>,
    /// Nodes with no incoming flow that start implicitly when there is no none start event
    /// (BPMN 2.0.2 §13.2.2): activities, gateways and intermediate events, never boundary or
    /// start events nor event sub-processes.
    pub implicit_starts: Vec<ElementIdx>,
    /// Event sub-processes, armed while the scope is active.
    pub event_subprocesses: Vec<ElementIdx>,
    /// Link catch events by link name.
    pub link_targets: HashMap<String, ElementIdx>,
}

/// A small fixed-size bit set over element indices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BitSet(Vec<u64>);

impl BitSet {
    pub fn with_len(n: usize) -> Self {
        Self(vec![0; n.div_ceil(64)])
    }
    pub fn insert(&mut self, i: usize) -> bool {
        let (w, b) = (i / 64, i % 64);
        let was = self.0[w] & (1 << b) != 0;
        self.0[w] |= 1 << b;
        !was
    }
    #[inline]
    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

impl Process {
    /// Derives adjacency, scopes, the graph and join reachability from the importer's elements
    /// and flows. Element and flow indices stay as given.
    pub fn build(
        key: String,
        name: Option<String>,
        executable: bool,
        file: Arc<str>,
        pos: Pos,
        mut elements: Vec<Element>,
        flows: Vec<Flow>,
    ) -> Process {
        for e in &mut elements {
            e.incoming.clear();
            e.outgoing.clear();
            e.boundaries.clear();
        }
        for (i, f) in flows.iter().enumerate() {
            elements[f.source.index()].outgoing.push(FlowIdx::from(i));
            elements[f.target.index()].incoming.push(FlowIdx::from(i));
        }
        let mut graph = DiGraph::with_capacity(elements.len(), flows.len());
        for i in 0..elements.len() {
            graph.add_node(ElementIdx::from(i));
        }
        for (i, f) in flows.iter().enumerate() {
            graph.add_edge(NodeIndex::new(f.source.index()), NodeIndex::new(f.target.index()), FlowIdx::from(i));
        }

        // Scopes: the process, then one per sub-process in element order.
        let mut scopes = vec![Scope::default()];
        for (i, e) in elements.iter_mut().enumerate() {
            if matches!(e.kind, Kind::SubProcess { .. }) {
                e.inner_scope = Some(ScopeIdx::from(scopes.len()));
                scopes.push(Scope { owner: Some(ElementIdx::from(i)), ..Scope::default() });
            }
        }
        for i in 0..elements.len() {
            let scope = match elements[i].parent {
                Some(p) => elements.get(p.index()).and_then(|p| p.inner_scope).unwrap_or(ScopeIdx::ROOT),
                None => ScopeIdx::ROOT,
            };
            elements[i].scope = scope;
            let idx = ElementIdx::from(i);
            let e = &elements[i];
            let s = &mut scopes[scope.index()];
            s.children.push(idx);
            match &e.kind {
                Kind::StartEvent { trigger: Trigger::None, .. } => s.none_starts.push(idx),
                Kind::StartEvent { .. } => s.event_starts.push(idx),
                Kind::SubProcess { triggered_by_event: true } => s.event_subprocesses.push(idx),
                Kind::BoundaryEvent { .. } => {}
                Kind::CatchEvent { trigger: Trigger::Link(name) } => {
                    s.link_targets.entry(name.clone()).or_insert(idx);
                }
                _ => {}
            }
        }
        for i in 0..elements.len() {
            if let Kind::BoundaryEvent { attached_to, .. } = elements[i].kind
                && let Some(host) = elements.get_mut(attached_to.index())
            {
                host.boundaries.push(ElementIdx::from(i));
            }
        }
        for (i, e) in elements.iter().enumerate() {
            let implicit = e.incoming.is_empty()
                && match &e.kind {
                    Kind::StartEvent { .. } | Kind::BoundaryEvent { .. } => false,
                    Kind::SubProcess { triggered_by_event } => !triggered_by_event,
                    // A link catch is entered by its throw, never on its own.
                    Kind::CatchEvent { trigger: Trigger::Link(_) } => false,
                    _ => true,
                };
            if implicit {
                scopes[e.scope.index()].implicit_starts.push(ElementIdx::from(i));
            }
        }

        let mut process = Process {
            key,
            name,
            executable,
            file,
            pos,
            elements,
            flows,
            scopes,
            graph,
            ids: HashMap::new(),
            or_join_reach: HashMap::new(),
            decision_tasks: Vec::new(),
        };
        process.ids = process.elements.iter().enumerate().map(|(i, e)| (e.id.clone(), ElementIdx::from(i))).collect();
        process.or_join_reach = process.compute_or_join_reach();
        process.decision_tasks = process.compute_decision_tasks();
        process
    }

    /// The element with this BPMN id.
    pub fn element_by_id(&self, id: &str) -> Option<ElementIdx> {
        self.ids.get(id).copied()
    }

    #[inline]
    pub fn element(&self, idx: ElementIdx) -> &Element {
        &self.elements[idx.index()]
    }

    /// The decisions its business rule tasks evaluate, each (id, binding) once, in element order:
    /// what a driver looks up before a step (see `sluice_engine::Decisions`). Found once, at
    /// build: a step of a process without any costs nothing.
    pub fn decision_calls(&self) -> impl Iterator<Item = &DecisionCall> {
        self.decision_tasks.iter().filter_map(|&e| match &self.element(e).kind {
            Kind::Task(TaskKind::Decision(call)) => Some(call),
            _ => None,
        })
    }

    fn compute_decision_tasks(&self) -> Vec<ElementIdx> {
        let mut out: Vec<ElementIdx> = Vec::new();
        for (i, el) in self.elements.iter().enumerate() {
            if let Kind::Task(TaskKind::Decision(call)) = &el.kind {
                let seen = out.iter().any(|&e| match &self.element(e).kind {
                    Kind::Task(TaskKind::Decision(c)) => c.decision_id == call.decision_id && c.binding == call.binding,
                    _ => false,
                });
                if !seen {
                    out.push(ElementIdx::from(i));
                }
            }
        }
        out
    }

    #[inline]
    pub fn flow(&self, idx: FlowIdx) -> &Flow {
        &self.flows[idx.index()]
    }

    #[inline]
    pub fn scope(&self, idx: ScopeIdx) -> &Scope {
        &self.scopes[idx.index()]
    }

    /// For an inclusive join and one of its incoming flows (by position in `incoming`): the
    /// elements from which a token can still reach that flow without passing the join.
    pub fn or_join_reach(&self, join: ElementIdx, incoming_pos: usize) -> Option<&BitSet> {
        self.or_join_reach.get(&join).and_then(|v| v.get(incoming_pos))
    }

    /// Reverse search from each incoming flow's source, never expanding through the join itself.
    /// A token inside an activity can leave through its boundary events, so a boundary event's
    /// host counts as reaching whatever the boundary event reaches.
    fn compute_or_join_reach(&self) -> HashMap<ElementIdx, Vec<BitSet>> {
        let mut out = HashMap::new();
        for (gi, g) in self.elements.iter().enumerate() {
            if !matches!(g.kind, Kind::Gateway(GatewayKind::Inclusive)) || g.incoming.len() < 2 {
                continue;
            }
            let mut per_flow = Vec::with_capacity(g.incoming.len());
            for &f in &g.incoming {
                let mut seen = BitSet::with_len(self.elements.len());
                let mut stack = Vec::new();
                let src = self.flow(f).source;
                if src.index() != gi {
                    seen.insert(src.index());
                    stack.push(src);
                }
                while let Some(n) = stack.pop() {
                    let e = self.element(n);
                    let mut preds: Vec<ElementIdx> = e.incoming.iter().map(|&fi| self.flow(fi).source).collect();
                    if let Kind::BoundaryEvent { attached_to, .. } = e.kind {
                        preds.push(attached_to);
                    }
                    for p in preds {
                        if p.index() != gi && seen.insert(p.index()) {
                            stack.push(p);
                        }
                    }
                }
                per_flow.push(seen);
            }
            out.insert(ElementIdx::from(gi), per_flow);
        }
        out
    }
}

/// One deployment's worth of processes, as imported together.
#[derive(Debug, Default, Clone)]
pub struct Definitions {
    pub processes: Vec<Arc<Process>>,
}

impl Definitions {
    pub fn process(&self, key: &str) -> Option<&Arc<Process>> {
        self.processes.iter().find(|p| p.key == key)
    }

    /// The executable processes, the ones a deploy registers.
    pub fn executable(&self) -> impl Iterator<Item = &Arc<Process>> {
        self.processes.iter().filter(|p| p.executable)
    }
}
