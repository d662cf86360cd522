//! The JSON the API reads and writes, as typed structs. Handlers build these, and the OpenAPI
//! document derives its schemas from the same types, so the two cannot drift apart.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sluice_engine::runtime::Data;
use sluice_store::{ProcessVersion, RequestStatus, TaskRow, TaskStatus};
use utoipa::{IntoParams, ToSchema};

/// RFC 3339 with milliseconds, UTC (`2026-01-31T12:00:00.000Z`).
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

// ---- errors ----

/// Every error answer: `{"error": {"code", "message", …}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code (`process_not_found`, `invalid_bpmn`, `task_not_active`, …).
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// With `invalid_json` and `invalid_query`: the path of the field that did not fit
    /// (`data`, `lines[0].price`), or null when the input as a whole is malformed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, nullable)]
    pub field: Option<Option<String>>,
    /// With `invalid_bpmn`: every problem of the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<DiagnosticView>, required = false)]
    pub diagnostics: Option<Vec<DiagnosticView>>,
    /// With `invalid_notification_settings`: every problem (`field`, `message`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<Object>, required = false)]
    pub problems: Option<Vec<serde_json::Value>>,
    /// With `decision_failed`: the decision whose evaluation failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub decision: Option<String>,
    /// With `decision_failed`: the rule to blame, or null when no one rule is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, nullable, required = false)]
    pub rule: Option<Option<String>>,
}

/// One problem of a BPMN model.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiagnosticView {
    /// 1-based line of the problem in the XML (0 when it concerns the file as a whole).
    pub line: u32,
    /// 1-based column (0 when it concerns the file as a whole).
    pub column: u32,
    /// The id of the element concerned.
    #[schema(required = true)]
    pub element: Option<String>,
    /// A stable kebab-case code, e.g. `dangling-reference`.
    pub code: String,
    pub message: String,
}

// ---- processes ----

/// One deployed version of a process.
#[derive(Serialize, ToSchema)]
pub struct ProcessSummary {
    pub key: String,
    #[schema(minimum = 1)]
    pub version: i64,
    #[schema(required = true)]
    pub name: Option<String>,
}

impl From<&ProcessVersion> for ProcessSummary {
    fn from(p: &ProcessVersion) -> Self {
        ProcessSummary { key: p.key.clone(), version: p.version, name: p.name.clone() }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProcessList {
    pub processes: Vec<ProcessSummary>,
    /// The decisions a deploy of `.dmn` files stored (left out when it had none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub decisions: Vec<DeployedDecision>,
}

/// One decision of a deploy: its id and version.
#[derive(Serialize, ToSchema)]
pub struct DeployedDecision {
    pub id: String,
    #[schema(minimum = 1)]
    pub version: i64,
    #[schema(required = true)]
    pub name: Option<String>,
    #[schema(required = true)]
    pub version_tag: Option<String>,
    /// The `id` of its file's `definitions` element.
    pub definitions_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct VersionView {
    #[schema(minimum = 1)]
    pub version: i64,
    #[schema(required = true)]
    pub name: Option<String>,
    #[schema(format = DateTime)]
    pub deployed_at: String,
}

/// The latest version of a process, every version, and the XML of the latest. Its first fields
/// repeat [`VersionView`]'s on purpose: the OpenAPI document lists each answer's fields flat, as
/// the API sends them.
#[derive(Serialize, ToSchema)]
pub struct ProcessDetail {
    pub key: String,
    #[schema(minimum = 1)]
    pub version: i64,
    #[schema(required = true)]
    pub name: Option<String>,
    #[schema(format = DateTime)]
    pub deployed_at: String,
    /// Oldest first.
    pub versions: Vec<VersionView>,
    /// The BPMN XML of this version (the latest, or the one asked for with `version`), as
    /// deployed.
    pub xml: String,
    /// Whether the process is suspended: it starts no Request (its running ones go on).
    pub suspended: bool,
    /// Since when and by whom, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub suspended_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_by: Option<String>,
}

/// Which version of a process `GET /api/v1/processes/{key}` answers.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProcessQuery {
    /// A deployed version (the latest when left out).
    #[param(minimum = 1)]
    pub version: Option<i64>,
}

// ---- requests ----

/// Where a Request is.
#[derive(Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Active,
    Completed,
    Canceled,
    /// An unresolved incident holds the Request; `POST /api/v1/requests/{id}/retry` resumes it.
    Error,
}

impl From<RequestStatus> for RequestState {
    fn from(s: RequestStatus) -> Self {
        match s {
            RequestStatus::Active => RequestState::Active,
            RequestStatus::Completed => RequestState::Completed,
            RequestStatus::Canceled => RequestState::Canceled,
            RequestStatus::Error => RequestState::Error,
        }
    }
}

impl From<RequestState> for RequestStatus {
    fn from(s: RequestState) -> Self {
        match s {
            RequestState::Active => RequestStatus::Active,
            RequestState::Completed => RequestStatus::Completed,
            RequestState::Canceled => RequestStatus::Canceled,
            RequestState::Error => RequestStatus::Error,
        }
    }
}

/// What a token is doing.
#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    /// Queued to enter its element.
    Ready,
    /// Waiting on a task, a connector, an event, a sub-process or a child Request.
    Waiting,
    /// Waiting at a converging gateway.
    Joining,
    /// Held by an incident.
    Incident,
}

impl TokenState {
    /// The runtime's names (`sluice_engine::runtime::TokenView::state`).
    pub fn from_runtime(state: &str) -> TokenState {
        match state {
            "ready" => TokenState::Ready,
            "joining" => TokenState::Joining,
            "incident" => TokenState::Incident,
            _ => TokenState::Waiting,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenInfo {
    pub element_id: String,
    pub state: TokenState,
}

#[derive(Serialize, ToSchema)]
pub struct IncidentInfo {
    pub id: u32,
    pub element_id: String,
    /// A stable snake_case code: `no_outgoing_flow`, `expression_failed`, `connector_failed`, …
    pub code: String,
    pub message: String,
}

/// A Request: one run of a process.
#[derive(Serialize, ToSchema)]
pub struct RequestView {
    #[schema(format = "uuid")]
    pub id: String,
    pub process_key: String,
    #[schema(minimum = 1)]
    pub process_version: i64,
    pub status: RequestState,
    /// The Request's variables.
    #[schema(value_type = Object)]
    pub data: Data,
    pub tokens: Vec<TokenInfo>,
    pub incidents: Vec<IncidentInfo>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime, required = true)]
    pub completed_at: Option<String>,
    /// The username of who started it through the API; null for Requests the engine started
    /// (timers, messages, signals, call activities).
    #[schema(required = true)]
    pub started_by: Option<String>,
    /// The Request whose call activity started this one (null: none did).
    #[schema(format = "uuid", required = true)]
    pub parent_request_id: Option<String>,
    /// Suspended by an operator: it takes no input but resume and cancel, its jobs wait (left
    /// out when not).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspended: bool,
}

/// A Request in a listing: what it is and where it stands, without its data, tokens and
/// incidents (ask for them with `include=data`).
#[derive(Serialize, ToSchema)]
// No other fields (additionalProperties: false), so a whole Request is not also a summary. Its
// fields repeat `RequestView`'s rather than being flattened into it: a flattened summary would
// carry that `additionalProperties: false` into the whole Request's schema.
#[serde(deny_unknown_fields)]
pub struct RequestSummary {
    #[schema(format = "uuid")]
    pub id: String,
    pub process_key: String,
    #[schema(minimum = 1)]
    pub process_version: i64,
    pub status: RequestState,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime, required = true)]
    pub completed_at: Option<String>,
    /// The username of who started it through the API; null for Requests the engine started.
    #[schema(required = true)]
    pub started_by: Option<String>,
}

/// A listed Request: a summary, or the whole Request with `include=data`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ListedRequest {
    Whole(RequestView),
    Summary(RequestSummary),
}

#[derive(Serialize, ToSchema)]
pub struct RequestPage {
    /// Newest first: summaries, or whole Requests with `include=data` (then a page holds as many
    /// as fit in 8 MiB of data and state, at least one, and `next_cursor` goes on from there).
    pub requests: Vec<ListedRequest>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// One entry of a Request's history. Events carry more fields depending on their type
/// (`task_id`, `message`, `code`, …).
#[derive(Serialize, ToSchema)]
pub struct EventView {
    #[schema(format = DateTime)]
    pub at: String,
    /// `request_started`, `element_activated`, `element_completed`, `task_created`,
    /// `task_completed`, `timer_fired`, `message_received`, `connector_invoked`, `incident_raised`,
    /// `incident_resolved`, `decision_evaluated`, `notification_sent`, `notification_failed`, `slack_click_refused`, `request_completed`,
    /// `request_canceled` (more may be added).
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(required = true)]
    pub element_id: Option<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

#[derive(Serialize, ToSchema)]
pub struct EventList {
    /// Oldest first.
    pub events: Vec<EventView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A page of a Request's history.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Events per page (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

// ---- tasks ----

/// Where a user task is.
#[derive(Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Active,
    Completed,
    Canceled,
}

impl From<TaskStatus> for TaskState {
    fn from(s: TaskStatus) -> Self {
        match s {
            TaskStatus::Active => TaskState::Active,
            TaskStatus::Completed => TaskState::Completed,
            TaskStatus::Canceled => TaskState::Canceled,
        }
    }
}

impl From<TaskState> for TaskStatus {
    fn from(s: TaskState) -> Self {
        match s {
            TaskState::Active => TaskStatus::Active,
            TaskState::Completed => TaskStatus::Completed,
            TaskState::Canceled => TaskStatus::Canceled,
        }
    }
}

/// A user task waiting for (or done by) a person.
#[derive(Serialize, ToSchema)]
pub struct TaskView {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(format = "uuid")]
    pub request_id: String,
    pub element_id: String,
    #[schema(required = true)]
    pub name: Option<String>,
    pub status: TaskState,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime, required = true)]
    pub completed_at: Option<String>,
    /// The username of who completed it (null: not completed by a signed-in person).
    #[schema(required = true)]
    pub completed_by: Option<String>,
    /// The key of the Request's process.
    #[schema(required = true)]
    pub process_key: Option<String>,
    /// The username the task is assigned to (null: nobody; candidates may claim it).
    #[schema(required = true)]
    pub assignee: Option<String>,
    /// Usernames who may claim it.
    pub candidate_users: Vec<String>,
    /// Groups whose members may claim it.
    pub candidate_groups: Vec<String>,
    /// When it is due; past it, `task_overdue` is raised once.
    #[schema(format = DateTime, required = true)]
    pub due: Option<String>,
    #[schema(format = DateTime, required = true)]
    pub follow_up: Option<String>,
    #[schema(required = true)]
    pub priority: Option<i64>,
    /// The task's `documentation` in the model.
    #[schema(required = true)]
    pub documentation: Option<String>,
    /// Who delegated it (see `delegation`).
    #[schema(required = true)]
    pub owner: Option<String>,
    /// `pending`: delegated to the assignee, who resolves it back to the owner; `resolved`.
    #[schema(required = true)]
    pub delegation: Option<String>,
}

impl From<&TaskRow> for TaskView {
    fn from(t: &TaskRow) -> Self {
        TaskView {
            id: t.id.to_string(),
            request_id: t.request_id.to_string(),
            element_id: t.element_id.clone(),
            name: t.name.clone(),
            status: t.status.into(),
            created_at: time(t.created_at),
            completed_at: t.completed_at.map(time),
            completed_by: t.completed_by.clone(),
            process_key: t.process_key.clone(),
            assignee: t.assignee.clone(),
            candidate_users: t.candidate_users.clone(),
            candidate_groups: t.candidate_groups.clone(),
            due: t.due.map(time),
            follow_up: t.follow_up.map(time),
            priority: t.priority,
            documentation: t.documentation.clone(),
            owner: t.owner.clone(),
            delegation: t.delegation.clone(),
        }
    }
}

/// One task with its form and what the caller may do with it (`GET /api/v1/tasks/{id}`).
#[derive(Serialize, ToSchema)]
pub struct TaskDetail {
    #[serde(flatten)]
    pub task: TaskView,
    /// The completion form the model declares (`camunda:formData` or `sluice:form`); null: none.
    #[schema(required = true)]
    pub form: Option<TaskFormView>,
    /// The caller may claim it (unassigned, and they are a candidate, its requester or an operator).
    pub may_claim: bool,
    /// The caller may unclaim it (it is theirs, or they are an operator, and it is assigned).
    pub may_unclaim: bool,
    /// The caller may complete it now.
    pub may_complete: bool,
}

/// A task's completion form. Each field's value goes into the completion data under its id.
#[derive(Serialize, ToSchema)]
pub struct TaskFormView {
    /// An approval task: Approve and Reject complete it with `approved` true or false.
    pub approval: bool,
    pub fields: Vec<FormFieldView>,
}

#[derive(Serialize, ToSchema)]
pub struct FormFieldView {
    pub id: String,
    pub label: String,
    /// `string`, `long`, `boolean`, `date` (ISO 8601) or `enum` (one of `values`' ids).
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: String,
    /// The value shown at first, as the model writes it.
    #[schema(required = true)]
    pub default: Option<String>,
    pub required: bool,
    /// For `enum`: the choices.
    pub values: Vec<FormValueView>,
}

#[derive(Serialize, ToSchema)]
pub struct FormValueView {
    pub id: String,
    pub name: String,
}

impl From<&sluice_bpmn::TaskForm> for TaskFormView {
    fn from(f: &sluice_bpmn::TaskForm) -> Self {
        let kind = |k: sluice_bpmn::FieldKind| {
            match k {
                sluice_bpmn::FieldKind::String => "string",
                sluice_bpmn::FieldKind::Long => "long",
                sluice_bpmn::FieldKind::Boolean => "boolean",
                sluice_bpmn::FieldKind::Date => "date",
                sluice_bpmn::FieldKind::Enum => "enum",
            }
            .to_owned()
        };
        TaskFormView {
            approval: f.approval,
            fields: f
                .fields
                .iter()
                .map(|x| FormFieldView {
                    id: x.id.clone(),
                    label: x.label.clone(),
                    kind: kind(x.kind),
                    default: x.default.clone(),
                    required: x.required,
                    values: x.values.iter().map(|v| FormValueView { id: v.id.clone(), name: v.name.clone() }).collect(),
                })
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TaskList {
    /// Oldest first.
    pub tasks: Vec<TaskView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

// ---- connectors and health ----

#[derive(Serialize, ToSchema)]
pub struct ConnectorView {
    /// What a `serviceTask`'s `implementation` names.
    #[serde(rename = "type")]
    pub connector_type: String,
    pub name: String,
    /// The JSON Schema (draft 2020-12) of the connector's inputs.
    #[schema(value_type = Object)]
    pub inputs_schema: Value,
}

/// Which element templates `GET /api/v1/connectors/templates` answers.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TemplateQuery {
    /// `camunda8` (the default: `zeebe:taskDefinition` and `zeebe:input`) or `camunda7`
    /// (`camunda:connector` and `camunda:inputParameter`).
    pub dialect: Option<crate::templates::Dialect>,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectorList {
    pub connectors: Vec<ConnectorView>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: the answer is only given when the database answers.
    pub status: String,
}

// ---- request bodies and queries ----

/// Starts a Request. An empty body is the same as `{}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// The Request's initial variables.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Data,
    /// A deployed version; the latest when left out.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub version: Option<i64>,
}

/// Completes a user task. An empty body is the same as `{}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// Merged into the Request's variables.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Data,
}

/// A migration of one Request to another version of its process.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateBody {
    /// The version to move to.
    #[schema(minimum = 1)]
    pub version: i64,
    /// Element ids of the Request's version mapped to element ids of the new one; an element
    /// left out maps to the element with its own id.
    #[serde(default)]
    pub mapping: std::collections::HashMap<String, String>,
}

/// A repair of one Request: cancel the tokens at elements, start tokens before or after
/// elements (a move is a cancel and a start in one call). All or nothing.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModifyBody {
    /// Element ids whose tokens are canceled (with their tasks, timers, subscriptions, boundary
    /// events and child Requests).
    #[serde(default)]
    pub cancel: Vec<String>,
    /// Elements a token is started before: it enters the element.
    #[serde(default)]
    pub start_before: Vec<StartAtBody>,
    /// Elements a token is started after: it takes the element's outgoing flows.
    #[serde(default)]
    pub start_after: Vec<StartAtBody>,
    /// Allow a start before a joining (parallel or inclusive) gateway; the gateway then lets the
    /// token through at once.
    #[serde(default)]
    pub allow_join: bool,
}

/// Where a repair starts a token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartAtBody {
    pub element_id: String,
    /// Set in the scope the token starts in (the Request's data, or its sub-process's).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Data,
}

/// A message for the Requests waiting on it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// The BPMN message name.
    pub name: String,
    /// Must equal the waiting subscription's correlation key, when it has one.
    #[serde(default)]
    pub correlation_key: Option<String>,
    /// Merged into the Requests' variables.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Data,
    /// Milliseconds to keep the message when nothing waits for it now: the first matching
    /// subscription that opens within it gets it (at most 90 days). 0 (the default) drops it.
    #[serde(default)]
    pub time_to_live: u64,
    /// Makes publishing idempotent: a message with the same name and id published again while
    /// the id is remembered (its time to live, at least an hour) is not published twice.
    #[serde(default)]
    pub message_id: Option<String>,
}

/// What a publish did.
#[derive(Serialize, ToSchema)]
pub struct MessageAnswer {
    /// The Requests the message reached now (the one whose subscription took it, or the one a
    /// message start event started).
    pub requests: Vec<RequestView>,
    /// Until when the message is kept (RFC 3339), when nothing took it now and it has a time
    /// to live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_until: Option<String>,
    /// The `message_id` was published before: nothing was done this time.
    pub duplicate: bool,
}

/// A signal to broadcast.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalBody {
    /// The BPMN signal name (not empty).
    pub name: String,
    /// Merged into the variables of the Requests it reaches and starts.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Data,
}

/// What a broadcast signal reached.
#[derive(Serialize, ToSchema)]
pub struct SignalReached {
    /// The ids of the Requests started by a signal start event of that name (latest versions).
    pub started: Vec<String>,
    /// The ids of the waiting Requests that caught it (signal catch and boundary events), each once.
    pub stepped: Vec<String>,
}

/// Filters and page of `GET /api/v1/requests`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only Requests of this process key.
    pub process: Option<String>,
    /// Only Requests in this status.
    #[param(inline)]
    pub status: Option<RequestState>,
    /// Requests per page (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// `data`: whole Requests (data, tokens, incidents) instead of summaries.
    #[param(inline)]
    pub include: Option<Include>,
    /// Only the Requests this Request started (its call activities' children).
    #[param(format = "uuid")]
    pub parent: Option<String>,
    /// Only Requests on this version of their process.
    #[param(minimum = 1)]
    pub version: Option<i64>,
    /// Only Requests started by this username.
    pub started_by: Option<String>,
    /// Only Requests created at or after this time (RFC 3339).
    #[param(format = "date-time")]
    pub created_after: Option<String>,
    /// Only Requests created before this time (RFC 3339).
    #[param(format = "date-time")]
    pub created_before: Option<String>,
    /// Only Requests with a token waiting at this element id (an open task, a message or signal
    /// catch, a timer, a connector or job, an incident).
    pub element: Option<String>,
    /// `true`: only Requests with an open incident; `false`: only those without.
    pub incident: Option<bool>,
}

/// What a listing includes besides the summaries.
#[derive(Deserialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Include {
    Data,
}

/// Filters of `GET /api/v1/tasks`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// Only tasks of this Request.
    #[param(format = "uuid")]
    pub request: Option<String>,
    /// Only tasks in this status.
    #[param(inline)]
    pub status: Option<TaskState>,
    /// Tasks per page (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// `me`: the caller's tasks (with `candidate=me`: those and the ones they may claim).
    pub assignee: Option<String>,
    /// `me`: open, unassigned tasks the caller may claim (a candidate user or in a candidate group).
    pub candidate: Option<String>,
    /// Open tasks with this candidate group.
    pub group: Option<String>,
    /// Only tasks of this process key.
    pub process: Option<String>,
    /// `created` (oldest first, the default) or `due` (earliest due first, tasks without a due date last).
    #[param(inline)]
    pub order: Option<TaskOrderParam>,
}

/// How `GET /api/v1/tasks` orders.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum TaskOrderParam {
    Created,
    Due,
}

/// A user to assign or delegate a task to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskUserBody {
    /// A username (`assign` also takes null: nobody).
    pub user: Option<String>,
}

// ---- people ----

/// A user (never a password or its hash).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    #[schema(format = "uuid")]
    pub id: String,
    /// Lower case; never changes.
    pub username: String,
    pub name: String,
    pub email: String,
    /// `admin`, `designer`, `operator`, `participant`, `worker`.
    pub roles: Vec<String>,
    /// Sorted.
    pub groups: Vec<String>,
    /// Slack integration alias → Slack user id (for approvers' checks and direct messages).
    #[schema(value_type = Object)]
    pub slack_user_ids: std::collections::BTreeMap<String, String>,
    /// Whether the user can sign in to the web app with a password.
    pub has_password: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<sluice_store::UserRow> for UserView {
    fn from(u: sluice_store::UserRow) -> Self {
        UserView {
            id: u.id,
            username: u.username,
            name: u.name,
            email: u.email,
            roles: u.roles,
            groups: u.groups,
            slack_user_ids: u.slack_user_ids,
            has_password: u.has_password,
            created_at: time(u.created_at),
            updated_at: time(u.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    /// By username.
    pub users: Vec<UserView>,
}

/// A user to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// 1–64 characters of `a-z 0-9 . _ - @` (upper case is taken as lower case); never changes.
    pub username: String,
    pub name: String,
    pub email: String,
    /// At least 12 characters; without one the user cannot sign in to the web app (API tokens
    /// only).
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Slack integration alias → Slack user id (`U…` or `W…`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub slack_user_ids: std::collections::BTreeMap<String, String>,
}

/// Changes to a user: only the fields given change. `password: null` removes the password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchBody {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>, nullable)]
    pub password: Option<Option<String>>,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub slack_user_ids: Option<std::collections::BTreeMap<String, String>>,
}

/// Tells a field set to `null` (`Some(None)`) from a field left out (`None`).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A new API token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// What the token is for (1–100 characters).
    pub name: String,
    /// When it stops working (RFC 3339, in the future); never when left out.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// An API token as listed: never the token.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    #[schema(format = "uuid")]
    pub id: String,
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime, required = true)]
    pub expires_at: Option<String>,
}

impl From<sluice_store::TokenRow> for TokenView {
    fn from(t: sluice_store::TokenRow) -> Self {
        TokenView { id: t.id, name: t.name, created_at: time(t.created_at), expires_at: t.expires_at.map(time) }
    }
}

/// A token just created: `token` is shown this once (only its SHA-256 is stored).
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[schema(format = "uuid")]
    pub id: String,
    pub name: String,
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime, required = true)]
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    /// Oldest first.
    pub tokens: Vec<TokenView>,
}

/// Signs in to the web app.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    pub username: String,
    pub password: String,
}

/// Changes the caller's own password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// The password they have now (needed when they have one).
    #[serde(default)]
    pub current_password: Option<String>,
    pub new_password: String,
}

/// A session: the cookie `sluice_session` is set (HttpOnly); every write with it must send
/// `csrf_token` in `X-CSRF-Token` (also in the readable cookie `sluice_csrf`).
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub user: UserView,
    pub csrf_token: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// One entry of the audit log.
#[derive(Serialize, ToSchema)]
pub struct AuditEntryView {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// The username of who did it (null: nobody signed in, e.g. a failed sign-in of an unknown
    /// name; `slack:U…` for a Slack button).
    #[schema(required = true)]
    pub actor: Option<String>,
    /// `sign_in`, `sign_in_failed`, `sign_out`, `token_created`, `token_revoked`, `user_created`,
    /// `user_updated`, `user_deleted`, `slack_app_updated`, `integration_added`,
    /// `integration_installed`, `integration_deleted`, `notifications_updated`,
    /// `process_deployed`, `request_canceled`, `request_retried`, `task_completed`.
    pub action: String,
    /// What it was done to: a user, token, Request or task id, a process key, an alias.
    #[schema(required = true)]
    pub target: Option<String>,
    /// The client's address.
    #[schema(required = true)]
    pub client: Option<String>,
    /// More about it (never a password, token or secret).
    #[schema(value_type = Object)]
    pub details: Value,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntryView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Filters and page of `GET /api/v1/audit`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries of this actor (a username).
    pub actor: Option<String>,
    /// Only entries of this action.
    pub action: Option<String>,
    /// Entries per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// A secret's value (`PUT /api/v1/secrets/{name}`). Not `Debug`: it is never printed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    /// The value (1 byte to 64 KiB), sealed at rest and never answered.
    pub value: String,
}

/// A secret as listed: never its value.
#[derive(Serialize, ToSchema)]
pub struct SecretView {
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// `GET /api/v1/secrets`.
#[derive(Serialize, ToSchema)]
pub struct SecretList {
    pub secrets: Vec<SecretView>,
}
