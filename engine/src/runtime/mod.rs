//! The pure runtime: one Request's state and the step function that moves its tokens.
//!
//! `Instance::start` and `Instance::step` take the immutable [`Process`], an input and the current
//! time, change the instance and append [`Command`]s: history to record and effects for the worker
//! (create a task, arm a timer, call a connector, start a child Request...). Nothing in here reads
//! a clock, does IO or draws random numbers, so a step is deterministic, fast and replayable.

mod decisions;
mod exec;
mod vars;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sluice_bpmn::{ElementIdx, FlowIdx, Process};

pub use decisions::{DecisionMatch, DecisionOutcome, DecisionSet, Decisions, FoundDecision, NoDecisions};
pub use vars::ScopeVariables;

/// A Request's data, and the data carried by messages, signals and task completions.
pub type Data = Map<String, Value>;

macro_rules! runtime_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u32);
    };
}

runtime_id!(
    /// A token of one Request. A waiting user task is known by its token.
    TokenId
);

impl TokenId {
    /// The token of an incident that holds no token: a parked input for a subscription of the
    /// Request's own scope (an event sub-process start event at the process level).
    pub const NONE: TokenId = TokenId(u32::MAX);
}
runtime_id!(
    /// A scope instance of one Request: the Request itself, a sub-process activation, a
    /// multi-instance inner instance or an event sub-process activation.
    ScopeId
);
runtime_id!(
    /// A timer, message or signal subscription of one Request.
    SubscriptionId
);
runtime_id!(
    /// An incident of one Request.
    IncidentId
);

/// Where a Request stands. An `Active` Request with open incidents is shown as `error`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Completed,
    Canceled,
}

/// Something went wrong that a person has to look at; the token waits until it is retried.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    pub element: ElementIdx,
    pub token: TokenId,
    /// A stable snake_case code: `no_outgoing_flow`, `expression_failed`, `uncaught_error`, ...
    pub code: String,
    pub message: String,
}

/// How a Request starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Through its none start events (or, without any, the elements with no incoming flow).
    Default,
    /// Through one message, timer or signal start event.
    Event(ElementIdx),
}

/// What can happen to a running Request from outside.
///
/// Serializable because a parked input ([`Input::Park`]) is kept in the Request's state until a
/// person retries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    /// A user or manual task was completed; its data is merged into the Request's data.
    CompleteTask {
        token: TokenId,
        data: Data,
    },
    /// A waiting task or connector reports a BPMN error, caught by error boundary events.
    ThrowError {
        token: TokenId,
        code: String,
        message: Option<String>,
    },
    ConnectorCompleted {
        token: TokenId,
        output: Value,
    },
    /// A job worker completed the job of a service task waiting as a connector (`token`): `data`
    /// is the task's result, written through its output mappings as a connector's result is;
    /// a task without any merges it into the Request's data like a task's completion data.
    JobCompleted {
        token: TokenId,
        data: Data,
    },
    /// A connector failed for good (retries are the worker's business): an incident.
    ConnectorFailed {
        token: TokenId,
        message: String,
    },
    TimerFired {
        subscription: SubscriptionId,
    },
    MessageReceived {
        subscription: SubscriptionId,
        data: Data,
    },
    SignalReceived {
        subscription: SubscriptionId,
        data: Data,
    },
    /// The child Request of a call activity completed with this data.
    ChildCompleted {
        token: TokenId,
        data: Data,
    },
    /// The child Request of a call activity threw an error nothing in it caught.
    ChildError {
        token: TokenId,
        code: String,
        message: Option<String>,
    },
    /// The child Request of a call activity threw an escalation nothing in it caught.
    ChildEscalation {
        token: TokenId,
        code: String,
    },
    Cancel,
    /// Resolve an incident and try the failed step again (after data was fixed, say).
    Retry {
        incident: IncidentId,
    },
    /// Do not apply `input` now: raise a `job_crashed` incident with `message` at the element it
    /// is for, and keep the input until the incident is retried, which applies it then. For an
    /// input whose handling kept killing the process (a timer, message, signal or child result):
    /// the token it is for stays as it is. Takes `TimerFired`, `MessageReceived`,
    /// `SignalReceived`, `ChildCompleted`, `ChildError` and `ChildEscalation`.
    Park {
        input: Box<Input>,
        message: String,
    },
    /// An operator repairs the Request (boxed: a rare input should not make every input
    /// larger): see [`Modification`].
    Modify(Box<Modification>),
    /// An operator changes the Request's data with a JSON merge patch (RFC 7396) applied to
    /// the Request's own variables: a `null` removes a key, an object merges into an object,
    /// anything else replaces. `by` is who asked, kept in the history.
    PatchData {
        patch: Data,
        by: Option<String>,
    },
    /// An operator suspends the Request: until [`Input::Resume`] it takes no input but resume
    /// and cancel, and its driver holds its jobs (timers, connector calls).
    Suspend,
    Resume,
}

/// A repair of one Request, applied all or nothing in one step: the tokens at each `cancel`
/// element are canceled (with their tasks, timers, subscriptions, boundary events and child
/// Requests), then a token is started before each `start_before` element (it enters the element)
/// and after each `start_after` element (it takes the element's outgoing flows), each with its
/// `data` set in the scope it starts in. A start into a converging parallel or inclusive gateway
/// (the middle of a join) is refused unless `allow_join`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Modification {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancel: Vec<ElementIdx>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_before: Vec<StartAt>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_after: Vec<StartAt>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_join: bool,
}

/// Where a repair starts a token, and the data it sets in the token's scope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartAt {
    pub element: ElementIdx,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub data: Data,
}

/// One change of a [`Modification`], as recorded in the history.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModifyChange {
    Cancel,
    StartBefore,
    StartAfter,
}

impl ModifyChange {
    pub fn as_str(self) -> &'static str {
        match self {
            ModifyChange::Cancel => "cancel",
            ModifyChange::StartBefore => "start_before",
            ModifyChange::StartAfter => "start_after",
        }
    }
}

/// History to record and effects for the worker, in the order they happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    ElementActivated {
        token: TokenId,
        element: ElementIdx,
    },
    ElementCompleted {
        token: TokenId,
        element: ElementIdx,
        /// How long the element waited, in microseconds, when it was activated by an earlier
        /// step (a task, a catch event, a connector call, a sub-process); `None` for an element
        /// passed within one step. Feeds the element duration metric, not the history.
        waited_us: Option<u64>,
    },
    /// An element was left unfinished: interrupted by an event, a terminate end or a cancel.
    ElementTerminated {
        token: TokenId,
        element: ElementIdx,
    },
    /// A user or manual task now waits for a person; its id is the token's. `assignment` is the
    /// model's assignment, evaluated (empty when the model gives none).
    TaskCreated {
        token: TokenId,
        element: ElementIdx,
        assignment: Box<TaskAssignment>,
    },
    /// A task's due date passed while it was still open (once per task).
    TaskOverdue {
        token: TokenId,
        element: ElementIdx,
        due: DateTime<Utc>,
    },
    TaskCanceled {
        token: TokenId,
        element: ElementIdx,
    },
    /// Run the element's connector; `attempt` starts at 1 and grows with each retry.
    InvokeConnector {
        token: TokenId,
        element: ElementIdx,
        attempt: u32,
    },
    /// The connector's result is no longer wanted (its activity was interrupted).
    CancelConnector {
        token: TokenId,
        element: ElementIdx,
    },
    /// History: a connector call succeeded with this output (a Slack post's channel and ts, say).
    ConnectorCompleted {
        token: TokenId,
        element: ElementIdx,
        output: Value,
    },
    ScheduleTimer {
        subscription: SubscriptionId,
        element: ElementIdx,
        due: DateTime<Utc>,
    },
    OpenMessageSubscription {
        subscription: SubscriptionId,
        element: ElementIdx,
        name: String,
        correlation_key: Option<String>,
    },
    OpenSignalSubscription {
        subscription: SubscriptionId,
        element: ElementIdx,
        name: String,
    },
    /// Close a timer, message or signal subscription.
    CloseSubscription {
        subscription: SubscriptionId,
    },
    TimerFired {
        subscription: SubscriptionId,
        element: ElementIdx,
    },
    MessageReceived {
        subscription: SubscriptionId,
        element: ElementIdx,
        name: String,
    },
    SignalReceived {
        subscription: SubscriptionId,
        element: ElementIdx,
        name: String,
    },
    PublishMessage {
        element: ElementIdx,
        name: String,
        correlation_key: Option<String>,
        data: Data,
    },
    /// Broadcast to every signal subscription of every Request, this one's included.
    BroadcastSignal {
        element: ElementIdx,
        name: String,
        data: Data,
    },
    /// Start a child Request of `process_key` for a call activity, with a copy of the data.
    StartChild {
        token: TokenId,
        element: ElementIdx,
        process_key: String,
        data: Data,
    },
    CancelChild {
        token: TokenId,
        element: ElementIdx,
    },
    /// History: a business rule task evaluated its decision (boxed: a rare command should not
    /// make every command larger).
    DecisionEvaluated {
        token: TokenId,
        element: ElementIdx,
        outcome: Box<DecisionOutcome>,
    },
    IncidentRaised(Incident),
    IncidentResolved {
        incident: IncidentId,
    },
    /// This Request was called and threw an error nothing caught: the parent's call activity
    /// gets it. The Request itself ends (as canceled).
    ErrorToParent {
        code: String,
        message: Option<String>,
    },
    /// Likewise for an uncaught escalation; this Request carries on.
    EscalationToParent {
        code: String,
    },
    RequestCompleted,
    RequestCanceled,
    /// History: one change of an operator's [`Modification`] (`tokens`: those it canceled or
    /// started).
    Modified {
        change: ModifyChange,
        element: ElementIdx,
        tokens: Vec<TokenId>,
    },
    /// History: the Request moved from one version of its process to another; `renamed`: the
    /// elements whose id changed on the way (old, new).
    Migrated {
        from_version: i64,
        to_version: i64,
        renamed: Vec<(String, String)>,
    },
    /// The Request was suspended (its driver holds its jobs) or resumed (gives them back).
    Suspended,
    Resumed,
    /// History: an operator's [`Input::PatchData`], with the top-level keys it changed.
    DataChanged {
        patch: Data,
        changed: Vec<String>,
        by: Option<String>,
    },
}

/// A migration of a Request from `old` (version `from_version`) to `new` (`to_version`), another
/// version of its process; `mapping` maps element ids of the old version to the new (an element
/// left out maps to the one with its own id).
pub struct MigrationPlan<'a> {
    pub old: &'a Process,
    pub new: &'a Process,
    pub from_version: i64,
    pub to_version: i64,
    pub mapping: &'a std::collections::HashMap<String, String>,
}

/// Why an input could not be applied. Nothing has changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("the Request has already ended")]
    Ended,
    #[error("no such token in this Request")]
    UnknownToken,
    #[error("the token is not waiting for this ({0})")]
    NotWaiting(&'static str),
    #[error("no such subscription in this Request")]
    UnknownSubscription,
    #[error("no such open incident in this Request")]
    UnknownIncident,
    /// The Request is suspended: it takes nothing but resume and cancel.
    #[error("the Request is suspended: resume it first")]
    Suspended,
    /// A [`Modification`] the model's rules do not allow, with the reason (naming the element).
    #[error("{0}")]
    Refused(String),
}

/// Why a Request could not start. Nothing was created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("process `{0}` is not executable")]
    NotExecutable(String),
    #[error("process `{0}` has no none start event: it starts through {1}")]
    NeedsEvent(String, String),
    #[error("process `{0}` has no start event and no element without incoming flows")]
    NoStart(String),
    #[error("`{0}` is not a start event of process `{1}`")]
    NotAStartEvent(String, String),
    #[error("the data is {size} bytes, over the limit of {limit} bytes for a Request's data (SLUICE_MAX_DATA_BYTES)")]
    DataTooLarge { size: u64, limit: u64 },
}

/// A view of one waiting user or manual task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub token: TokenId,
    pub element: ElementIdx,
}

/// A view of one open subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionView {
    pub id: SubscriptionId,
    pub element: ElementIdx,
    pub kind: SubscriptionKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SubscriptionKind {
    Timer { due: DateTime<Utc>, armed_at: DateTime<Utc>, fired: u32 },
    Message { name: String, correlation_key: Option<String> },
    Signal { name: String },
}

/// Who a task is for and when it is due, evaluated from the model when the task is created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAssignment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidate_users: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidate_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}

impl TaskAssignment {
    pub fn is_empty(&self) -> bool {
        *self == TaskAssignment::default()
    }
}

/// A view of one token, for the API's Request view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    pub id: TokenId,
    pub element: ElementIdx,
    /// `ready`, `waiting`, `joining` or `incident`.
    pub state: &'static str,
}

// ---- state (serializable, so the store can keep it) ----

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One Request's state. Stored as JSON with every field at its default (false, empty, zero, none)
/// left out, so a Request's row stays small; a missing field reads as its default.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Instance {
    status: Status,
    /// Started by a call activity: uncaught errors go to the parent.
    #[serde(default, skip_serializing_if = "is_false")]
    called: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tokens: Vec<Token>,
    scopes: Vec<ScopeInst>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    subscriptions: Vec<Subscription>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    incidents: Vec<Incident>,
    next_token: u32,
    next_scope: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    next_subscription: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    next_incident: u32,
    /// Cumulative count of sequence flows taken, for benchmarks and metrics.
    moves: u64,
    /// When the current activity window began (ms since the epoch; see [`limits`]).
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    window_start: i64,
    /// Sequence flows taken since `window_start`.
    #[serde(default, skip_serializing_if = "is_zero")]
    window_moves: u32,
    /// How deep this Request is in a chain of call activities (0: started by a person or an
    /// event; a child is its parent's depth + 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    depth: u32,
    /// How many child Requests its call activities have started.
    #[serde(default, skip_serializing_if = "is_zero")]
    children_started: u32,
    /// Inputs kept by `job_crashed` incidents ([`Input::Park`]) until they are retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    parked: Vec<ParkedInput>,
    /// The size of every scope's variables as JSON text (see [`vars::data_size`]), kept up to
    /// date by each write; 0 in a state stored before it was kept (measured at the next step).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    data_bytes: u64,
    /// The username of the person who started the Request: `requester` in assignment
    /// expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requester: Option<String>,
    /// Suspended by an operator ([`Input::Suspend`]).
    #[serde(default, skip_serializing_if = "is_false")]
    suspended: bool,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// An input parked by an incident: retrying the incident applies it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ParkedInput {
    incident: IncidentId,
    input: Input,
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// Limits every Request lives within, for the whole process (a server's configuration, set at
/// start; `sluice run` keeps the defaults). A breach is an incident naming the limit and the
/// element, never a crash.
pub mod limits {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

    /// Default of [`max_moves_per_window`]: 100,000 sequence flows...
    pub const DEFAULT_MAX_MOVES_PER_WINDOW: u32 = 100_000;
    /// ...within 10 minutes.
    pub const DEFAULT_WINDOW_SECS: u64 = 600;

    static MAX_MOVES: AtomicU32 = AtomicU32::new(DEFAULT_MAX_MOVES_PER_WINDOW);
    static WINDOW_SECS: AtomicU64 = AtomicU64::new(DEFAULT_WINDOW_SECS);

    /// How many sequence flows a Request may take within [`window_secs`], across all its steps:
    /// a loop through a timer, a message or a retry that never ends is caught, not only a loop
    /// without a wait state (which the per-step limit catches).
    pub fn max_moves_per_window() -> u32 {
        MAX_MOVES.load(Ordering::Relaxed)
    }

    pub fn window_secs() -> u64 {
        WINDOW_SECS.load(Ordering::Relaxed)
    }

    /// Sets both (at least 1 each).
    pub fn set_moves_per_window(moves: u32, window_secs: u64) {
        MAX_MOVES.store(moves.max(1), Ordering::Relaxed);
        WINDOW_SECS.store(window_secs.max(1), Ordering::Relaxed);
    }

    // Same shape as the moves-per-window pair above: two more process-wide limits, each an atomic
    // with a getter and one setter for the pair; different settings, so each keeps its own names.
    /// Default of [`max_call_depth`].
    pub const DEFAULT_MAX_CALL_DEPTH: u32 = 32;
    /// Default of [`max_children`].
    pub const DEFAULT_MAX_CHILDREN: u32 = 10_000;

    static MAX_DEPTH: AtomicU32 = AtomicU32::new(DEFAULT_MAX_CALL_DEPTH);
    static MAX_CHILDREN: AtomicU32 = AtomicU32::new(DEFAULT_MAX_CHILDREN);

    /// How deep call activities may nest Requests (a Request's ancestry): a process that calls
    /// itself without end stops there.
    pub fn max_call_depth() -> u32 {
        MAX_DEPTH.load(Ordering::Relaxed)
    }

    /// How many child Requests one Request's call activities may start in all.
    pub fn max_children() -> u32 {
        MAX_CHILDREN.load(Ordering::Relaxed)
    }

    /// Sets both (at least 1 each).
    pub fn set_calls(max_depth: u32, max_children: u32) {
        MAX_DEPTH.store(max_depth.max(1), Ordering::Relaxed);
        MAX_CHILDREN.store(max_children.max(1), Ordering::Relaxed);
    }

    /// Default of [`max_data_bytes`]: 8 MiB.
    pub const DEFAULT_MAX_DATA_BYTES: u64 = 8 * 1024 * 1024;

    static MAX_DATA: AtomicU64 = AtomicU64::new(DEFAULT_MAX_DATA_BYTES);

    /// How large a Request's data may grow (all its variables, as JSON text): a Request is not
    /// started with more, and a token that would move on while the data is larger stops with a
    /// `data_limit` incident.
    pub fn max_data_bytes() -> u64 {
        MAX_DATA.load(Ordering::Relaxed)
    }

    /// Sets it (at least 1 KiB).
    pub fn set_max_data_bytes(bytes: u64) {
        MAX_DATA.store(bytes.max(1024), Ordering::Relaxed);
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Token {
    id: TokenId,
    scope: ScopeId,
    element: ElementIdx,
    state: TokenState,
    /// A multi-instance or loop inner instance: runs the activity itself, never its loop.
    #[serde(default, skip_serializing_if = "is_false")]
    inner: bool,
    /// When the token entered `element` (the step's time, microseconds since the epoch); states
    /// written before it was kept have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum TokenState {
    /// Queued to enter `element`, having come along `via`.
    Ready {
        via: Option<FlowIdx>,
    },
    /// Waiting at a converging gateway, having come along `via`.
    Joining {
        via: FlowIdx,
    },
    /// A user or manual task.
    Task,
    Connector {
        attempt: u32,
    },
    /// A catch event, receive task or event-based gateway, waiting on its subscriptions.
    Event,
    SubProcess {
        scope: ScopeId,
    },
    /// A multi-instance or loop activity.
    Body(Box<LoopBody>),
    /// A call activity's child Request runs.
    Call,
    Incident {
        id: IncidentId,
        retry: Retry,
    },
}

/// What retrying an incident does.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Retry {
    Enter {
        via: Option<FlowIdx>,
    },
    Leave,
    Connector {
        attempt: u32,
    },
    Throw {
        code: String,
        message: Option<String>,
    },
    /// An activity's data outputs failed as it completed: complete it again.
    Complete,
    /// A loop's completion condition failed after an instance: the body waits here.
    Loop {
        body: Box<LoopBody>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct LoopBody {
    standard: bool,
    sequential: bool,
    total: u32,
    next: u32,
    active: u32,
    completed: u32,
    items: Option<Vec<Value>>,
    outputs: Option<Vec<Value>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ScopeInst {
    id: ScopeId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<ScopeId>,
    /// The sub-process token or loop body token this scope belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<TokenId>,
    kind: ScopeKind,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    vars: Data,
    /// Tokens in this scope plus child scopes: the scope completes when it reaches zero.
    active: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
enum ScopeKind {
    Root,
    SubProcess {
        element: ElementIdx,
    },
    /// A loop or multi-instance inner instance; `local` (multi-instance) keeps data written
    /// inside it, while standard loop iterations write through.
    Instance {
        index: u32,
        local: bool,
    },
    EventSub {
        element: ElementIdx,
        token: TokenId,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Subscription {
    id: SubscriptionId,
    owner: Owner,
    /// The catching element: a catch event, receive task, boundary event or event start.
    element: ElementIdx,
    kind: SubscriptionKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Owner {
    Token(TokenId),
    Scope(ScopeId),
}

impl Instance {
    /// Starts a Request of `process` with `data`, running it until every token waits.
    pub fn start(
        process: &Process,
        data: Data,
        start: Start,
        now: DateTime<Utc>,
        out: &mut Vec<Command>,
    ) -> Result<Instance, StartError> {
        exec::start(process, &NoDecisions, data, start, exec::Origin::Started { requester: None }, now, out)
    }

    /// [`Instance::start`] with the decisions its business rule tasks may evaluate, for a person:
    /// `requester` (their username) is what assignment expressions call `requester`.
    pub fn start_with(
        process: &Process,
        decisions: &dyn Decisions,
        data: Data,
        start: Start,
        requester: Option<String>,
        now: DateTime<Utc>,
        out: &mut Vec<Command>,
    ) -> Result<Instance, StartError> {
        exec::start(process, decisions, data, start, exec::Origin::Started { requester }, now, out)
    }

    /// [`Instance::start`] for a person, without decisions: `requester` (their username) is what
    /// assignment expressions call `requester`.
    pub fn start_as(
        process: &Process,
        data: Data,
        start: Start,
        requester: Option<String>,
        now: DateTime<Utc>,
        out: &mut Vec<Command>,
    ) -> Result<Instance, StartError> {
        exec::start(process, &NoDecisions, data, start, exec::Origin::Started { requester }, now, out)
    }

    /// Starts a Request for a call activity: errors nothing catches go back to the parent.
    /// `parent_depth` is the calling Request's [`Instance::call_depth`].
    pub fn start_called(
        process: &Process,
        data: Data,
        parent_depth: u32,
        now: DateTime<Utc>,
        out: &mut Vec<Command>,
    ) -> Result<Instance, StartError> {
        Self::start_called_with(process, &NoDecisions, data, parent_depth, now, out)
    }

    /// [`Instance::start_called`] with the decisions its business rule tasks may evaluate.
    pub fn start_called_with(
        process: &Process,
        decisions: &dyn Decisions,
        data: Data,
        parent_depth: u32,
        now: DateTime<Utc>,
        out: &mut Vec<Command>,
    ) -> Result<Instance, StartError> {
        let depth = parent_depth.saturating_add(1);
        exec::start(process, decisions, data, Start::Default, exec::Origin::Called { depth }, now, out)
    }

    /// How deep this Request is in a chain of call activities (0 when nothing called it).
    pub fn call_depth(&self) -> u32 {
        self.depth
    }

    /// Applies one input and runs until every token waits again.
    pub fn step(
        &mut self,
        process: &Process,
        input: Input,
        now: DateTime<Utc>,
        out: &mut Vec<Command>,
    ) -> Result<(), StepError> {
        exec::step(self, process, &NoDecisions, input, now, out)
    }

    /// [`Instance::step`] with the decisions its business rule tasks may evaluate (a business
    /// rule task whose decision is not among them raises a `decision_not_found` incident).
    pub fn step_with(
        &mut self,
        process: &Process,
        decisions: &dyn Decisions,
        input: Input,
        now: DateTime<Utc>,
        out: &mut Vec<Command>,
    ) -> Result<(), StepError> {
        exec::step(self, process, decisions, input, now, out)
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// Whether an operator suspended it (see [`Input::Suspend`]).
    pub fn is_suspended(&self) -> bool {
        self.suspended
    }

    /// Moves the Request to another version of its process (see [`MigrationPlan`]): each
    /// element where the Request has something goes to the element the plan's mapping names,
    /// else to the one with its own id. The whole plan is checked first; a plan that does not
    /// fit is refused with every element that does not, and nothing changes. Timer, message and
    /// signal subscriptions are re-created from the new version. Returns the elements whose id
    /// changed (old, new).
    pub fn migrate(
        &mut self,
        plan: &MigrationPlan<'_>,
        decisions: &dyn Decisions,
        now: DateTime<Utc>,
        out: &mut Vec<Command>,
    ) -> Result<Vec<(String, String)>, String> {
        exec::migrate(self, plan, decisions, now, out)
    }

    /// The Request's own data (its root scope's variables).
    pub fn data(&self) -> &Data {
        &self.scopes[0].vars
    }

    /// Replaces values in the Request's data, e.g. to fix what an incident complained about.
    pub fn merge_data(&mut self, data: Data) {
        self.scopes[0].vars.extend(data);
        self.data_bytes = self.measure_data();
    }

    /// About how large all its variables are as JSON text (what [`limits::max_data_bytes`]
    /// bounds).
    pub fn data_size(&self) -> u64 {
        self.data_bytes
    }

    /// The size of all variables as JSON text, measured.
    fn measure_data(&self) -> u64 {
        self.scopes.iter().map(|s| vars::data_size(&s.vars)).sum()
    }

    pub fn incidents(&self) -> &[Incident] {
        &self.incidents
    }

    /// Sequence flows taken so far.
    pub fn moves(&self) -> u64 {
        self.moves
    }

    pub fn tokens(&self) -> Vec<TokenView> {
        self.tokens
            .iter()
            .map(|t| TokenView {
                id: t.id,
                element: t.element,
                state: match t.state {
                    TokenState::Ready { .. } => "ready",
                    TokenState::Joining { .. } => "joining",
                    TokenState::Incident { .. } => "incident",
                    _ => "waiting",
                },
            })
            .collect()
    }

    /// User and manual tasks waiting for a person, oldest first.
    pub fn tasks(&self) -> Vec<TaskView> {
        self.tokens
            .iter()
            .filter(|t| matches!(t.state, TokenState::Task))
            .map(|t| TaskView { token: t.id, element: t.element })
            .collect()
    }

    /// Tokens waiting on a connector, with the attempt they wait for.
    pub fn connector_calls(&self) -> Vec<(TokenId, ElementIdx, u32)> {
        self.tokens
            .iter()
            .filter_map(|t| match t.state {
                TokenState::Connector { attempt } => Some((t.id, t.element, attempt)),
                _ => None,
            })
            .collect()
    }

    /// Tokens waiting on a child Request.
    pub fn calls(&self) -> Vec<(TokenId, ElementIdx)> {
        self.tokens.iter().filter(|t| matches!(t.state, TokenState::Call)).map(|t| (t.id, t.element)).collect()
    }

    pub fn subscriptions(&self) -> Vec<SubscriptionView> {
        self.subscriptions
            .iter()
            .map(|s| SubscriptionView { id: s.id, element: s.element, kind: s.kind.clone() })
            .collect()
    }

    /// The variables a token sees: its scopes' variables, innermost first, then the Request's.
    pub fn variables_for(&self, token: TokenId) -> Option<ScopeVariables<'_>> {
        let t = self.tokens.iter().find(|t| t.id == token)?;
        Some(ScopeVariables::new(self, t.scope))
    }

    /// All variables a token sees, flattened (inner scopes win): what a connector or a child
    /// Request gets.
    pub fn flattened_variables(&self, token: TokenId) -> Data {
        self.variables_for(token).map(|v| v.flatten()).unwrap_or_default()
    }
}
