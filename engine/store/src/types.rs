//! Typed ids, statuses and the rows the store hands out.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_engine::runtime::{Data, Instance, SubscriptionId, TokenId};

use crate::Error;

macro_rules! store_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh UUIDv7: time-ordered, so ids sort roughly by creation.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                uuid::Uuid::parse_str(s).map(Self).map_err(|_| Error::BadId(s.to_string()))
            }
        }
    };
}

store_id!(
    /// A Request (process instance).
    RequestId
);
store_id!(
    /// A user or manual task.
    TaskId
);
store_id!(
    /// A job of the outbox.
    JobId
);
store_id!(
    /// A history event.
    EventId
);

/// A UUIDv7's `rand_b`: its low 62 bits.
const RAND_B: u128 = (1 << 62) - 1;
/// The top bit of `rand_b`.
const RAND_B_TOP: u128 = 1 << 61;

impl EventId {
    /// A fresh UUIDv7 to start a run of consecutive ids ([`EventId::next`]): its `rand_b` has its
    /// top bit clear, so counting up from it stays within `rand_b` (the id stays a UUIDv7).
    pub fn first_of_run() -> Self {
        Self(uuid::Uuid::from_u128(uuid::Uuid::now_v7().as_u128() & !RAND_B_TOP))
    }

    /// The id before this one in a run: one less, if that stays within `rand_b`.
    pub fn prev(self) -> Option<Self> {
        let n = self.0.as_u128();
        ((n & RAND_B) > 0).then(|| Self(uuid::Uuid::from_u128(n - 1)))
    }

    /// The id after this one in a run: one more, if that stays within `rand_b`.
    pub fn next(self) -> Option<Self> {
        let n = self.0.as_u128();
        ((n & RAND_B) < RAND_B).then(|| Self(uuid::Uuid::from_u128(n + 1)))
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// The text stored in the database (and shown by the API).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Reads the stored text.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// A Request's status as the API shows it: an active Request with an open incident is `error`.
    RequestStatus { Active = "active", Completed = "completed", Canceled = "canceled", Error = "error" }
);

impl RequestStatus {
    /// The status a Request in this state is listed with.
    pub fn of(instance: &Instance) -> Self {
        match instance.status() {
            sluice_engine::Status::Completed => RequestStatus::Completed,
            sluice_engine::Status::Canceled => RequestStatus::Canceled,
            sluice_engine::Status::Active if instance.incidents().is_empty() => RequestStatus::Active,
            sluice_engine::Status::Active => RequestStatus::Error,
        }
    }

    /// Completed or canceled: nothing will move in it again.
    pub fn is_finished(self) -> bool {
        matches!(self, RequestStatus::Completed | RequestStatus::Canceled)
    }
}

string_enum!(
    TaskStatus { Active = "active", Completed = "completed", Canceled = "canceled" }
);

string_enum!(
    /// What a job asks the worker to do. Stored as text: renaming one breaks stored jobs.
    JobKind {
        /// Call the element's connector (payload: token, element_id, attempt, idempotency_key).
        Connector = "connector",
        /// Fire timer subscription `subscription` (step the Request with `TimerFired`).
        Timer = "timer",
        /// Correlate a published message to one subscription (payload: name, correlation_key, data).
        Message = "message",
        /// Broadcast a signal to every subscription (payload: name, data).
        Signal = "signal",
        /// Start a child Request for a call activity (payload: token, element_id, process_key, data).
        StartChild = "start_child",
        /// Cancel the child Request of a call activity's token.
        CancelChild = "cancel_child",
        /// A called Request completed: step the parent with `ChildCompleted` (its data is in the row).
        ChildDone = "child_done",
        /// A called Request threw an uncaught error: step the parent with `ChildError`.
        ChildError = "child_error",
        /// A called Request threw an uncaught escalation: step the parent with `ChildEscalation`.
        ChildEscalation = "child_escalation",
        /// Send a notification (Slack) about the Request; written by the worker/API, not the runtime.
        Notification = "notification",
        /// Start a Request through a timer start event of a deployed version. Belongs to no
        /// Request (`request_id` is NULL, also when a Request's creation adds the next one of a
        /// cycle). Its payload's `process_key` names the process: a new version of it replaces
        /// these jobs (see [`Store::deploy_source_with`](crate::Store::deploy_source_with)).
        TimerStart = "timer_start",
        /// A service task's job for external workers (issue 17): activated over HTTP by its type,
        /// never claimed by a node (see `worker_jobs.rs`). Payload: the worker's `WorkerJob`.
        Worker = "worker",
    }
);

impl JobKind {
    /// Jobs that only mean something for a Request with a parent: the store inserts them only then.
    pub fn for_parent(self) -> bool {
        matches!(self, JobKind::ChildDone | JobKind::ChildError | JobKind::ChildEscalation)
    }

    /// Jobs that belong to no Request even when a Request's change adds them: the store writes
    /// them with a NULL `request_id` (they outlive the Request, and no lease guards them).
    pub fn without_request(self) -> bool {
        matches!(self, JobKind::TimerStart)
    }
}

string_enum!(
    /// The kind of an open subscription row (timers are jobs, not rows here).
    SubscriptionKind { Message = "message", Signal = "signal" }
);

/// One deployed version of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessVersion {
    pub key: String,
    pub version: i64,
    pub name: Option<String>,
    pub content_hash: String,
    pub deployed_at: DateTime<Utc>,
}

/// A Request as listed: everything but the runtime state.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRow {
    pub id: RequestId,
    pub process_key: String,
    pub process_version: i64,
    pub status: RequestStatus,
    /// The call activity token of the parent Request that started this one.
    pub parent: Option<(RequestId, TokenId)>,
    pub data: Data,
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The username of the person who started it through the API; `None` for Requests the engine
    /// started (timers, messages, signals, call activities) and those of earlier schemas.
    pub started_by: Option<String>,
}

/// A Request with its runtime state, ready to step.
#[derive(Clone, Debug)]
pub struct LoadedRequest {
    pub instance: Instance,
    /// Pass back as `expected_revision` when writing the next step.
    pub revision: i64,
    pub meta: RequestRow,
}

/// Which Requests to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestFilter {
    pub process_key: Option<String>,
    pub status: Option<RequestStatus>,
    /// Only the Requests this username may see as a participant: those they started, and those
    /// with a task they completed.
    pub visible_to: Option<String>,
    /// Only the Requests this Request started (its call activities' children).
    pub parent: Option<RequestId>,
    /// Only Requests on this version of their process.
    pub version: Option<i64>,
    /// Only Requests started by this username.
    pub started_by: Option<String>,
    /// Only Requests created at or after / before these times.
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Only Requests with a token waiting at this element id (an open task, a message or signal
    /// catch, a timer, a connector or job, an incident).
    pub waiting_at: Option<String>,
    /// Only Requests with (`true`) or without (`false`) an open incident.
    pub incident: Option<bool>,
    /// Conditions on the Request's data, all of which must hold.
    pub data: Vec<crate::search::DataCondition>,
}

/// One page of Requests, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestPage {
    pub requests: Vec<RequestRow>,
    /// Pass to the next call for the following page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One history event.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    pub id: EventId,
    pub request_id: RequestId,
    pub at: DateTime<Utc>,
    /// `request_started`, `element_completed`, … (the main ones are listed in docs/api.md, *History*).
    pub kind: String,
    pub element_id: Option<String>,
    /// The event's other fields (an object).
    pub payload: Value,
}

/// One element's tokens and open incidents over the open Requests of a process version
/// ([`crate::Store::element_counts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElementCount {
    /// The element's index in the process graph (as the Request state stores it).
    pub element: i64,
    pub active: i64,
    pub incidents: i64,
}

// Row types (`ProcessVersion`, `RequestRow`, this one, `JobRow`) look alike because each lists its
// table's columns; different tables, nothing to share.
/// One user or manual task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRow {
    pub id: TaskId,
    pub request_id: RequestId,
    pub token: TokenId,
    pub element_id: String,
    pub name: Option<String>,
    pub status: TaskStatus,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The username of the person who completed it (`None`: not completed by a person, or
    /// before schema 12).
    pub completed_by: Option<String>,
    /// The key of its Request's process (`None` only for tasks from before schema 14).
    pub process_key: Option<String>,
    /// The username the task is assigned to (by the model, a claim, an assignment).
    pub assignee: Option<String>,
    pub candidate_users: Vec<String>,
    pub candidate_groups: Vec<String>,
    pub due: Option<DateTime<Utc>>,
    pub follow_up: Option<DateTime<Utc>>,
    pub priority: Option<i64>,
    pub documentation: Option<String>,
    /// Who delegated it (while or after `delegation` is `pending`).
    pub owner: Option<String>,
    /// `pending` (delegated, to be resolved back to the owner) or `resolved`.
    pub delegation: Option<String>,
}

/// One job of the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRow {
    pub id: JobId,
    pub request_id: Option<RequestId>,
    pub kind: JobKind,
    pub subscription: Option<SubscriptionId>,
    pub token: Option<TokenId>,
    pub element_id: Option<String>,
    pub due_at: DateTime<Utc>,
    pub payload: Value,
    /// How many times the job was claimed (a claim counts as an attempt).
    pub attempts: i64,
    /// How many attempts ended with an error (given back with [`Store::release_job`]). The
    /// others, but a running one, were cut short: the process died running the job.
    ///
    /// [`Store::release_job`]: crate::Store::release_job
    pub ended: i64,
    pub last_error: Option<String>,
    /// The last run ended with a call that may have taken effect although its answer was lost
    /// (see [`Store::release_unconfirmed_job`]): the next run checks before doing it again.
    ///
    /// [`Store::release_unconfirmed_job`]: crate::Store::release_unconfirmed_job
    pub unconfirmed: bool,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// One open message or signal subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionRow {
    pub request_id: RequestId,
    pub subscription: SubscriptionId,
    pub kind: SubscriptionKind,
    pub element_id: String,
    pub name: String,
    pub correlation_key: Option<String>,
}

/// What [`crate::Store::prune_history`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneStats {
    pub requests: u64,
    pub events: u64,
}

/// How a long prune leaves the Requests' writes room between its transactions
/// ([`crate::Store::prune_history_paced`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrunePace {
    /// The least pause after each transaction.
    pub pause: std::time::Duration,
    /// The largest share of the time the prune may spend in its transactions (0 < share ≤ 1):
    /// after one that took `t`, it pauses at least `t × (1 − share) / share`. On SQLite a
    /// transaction holds the one writer, so this is the share of the writer the Requests lose.
    pub share: f64,
}

impl PrunePace {
    /// No pause: as fast as the store goes.
    pub const FULL: PrunePace = PrunePace { pause: std::time::Duration::ZERO, share: 1.0 };

    /// The pause after a transaction that took `took`.
    pub fn after(&self, took: std::time::Duration) -> std::time::Duration {
        let share = if self.share.is_finite() { self.share.clamp(0.01, 1.0) } else { 1.0 };
        self.pause.max(took.mul_f64((1.0 - share) / share))
    }
}

/// Unix milliseconds: the one timestamp representation of both schemas.
pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(what: &'static str, ms: i64) -> Result<DateTime<Utc>, Error> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| Error::corrupt(what, format!("timestamp {ms} out of range")))
}
