//! Sluice's durable store: deployed process versions, Requests, their history, user tasks, open
//! subscriptions and the job outbox, on SQLite (the default) or PostgreSQL, through sqlx.
//!
//! This is the only crate that knows SQL. Every state change of a Request is one transaction: the
//! new serialized [`sluice_engine::Instance`], its history events, task rows, subscriptions and the
//! jobs it emits (an outbox) commit together or not at all. See `README.md` beside this file for
//! the schema, the transaction boundaries and the durability settings.

mod batch;
mod changes;
mod db;
mod decisions;
mod history;
mod incidents;
mod integrations;
mod jobs;
mod messages;
pub mod metrics;
mod migrate;
mod notifications;
mod oidc;
mod operations;
mod people;
mod rare_rows;
mod reads;
mod search;
mod secrets;
mod settings;
mod store;
mod suspend;
mod tasks;
mod types;
mod worker_jobs;

pub use batch::{Committer, LeaseChange, WriteOp, WriteResult};
pub use changes::{Changes, JobRemoval, Migrated, NewEvent, NewIncident, NewJob, NewSubscription, NewTask, TaskClose};
pub use decisions::{DecisionVersion, NewDecision, NewDecisionFile};
pub use incidents::{IncidentFilter, IncidentRow, IndexedIncident};
pub use integrations::{IntegrationSource, OAuthStateUse, SlackAppRow, SlackIntegrationRow, SlackIntegrationWrite};
pub use jobs::PARKED;
pub use migrate::{SCHEMA_VERSION, migration_scripts};
pub use worker_jobs::{Held, WorkerJobRow};

/// How many transactions this process has committed (all stores together): read-only ones
/// included. Benchmarks divide it by the work done; `/metrics` may export it.
pub fn commit_count() -> u64 {
    db::COMMITS.load(std::sync::atomic::Ordering::Relaxed)
}
pub use messages::{KeptMessage, MESSAGE_ID_MEMORY};
pub use notifications::{
    DirectMessage, MAX_CHANNELS_PER_EVENT, MAX_TEMPLATE_CHARS, NotificationEvent, NotificationOptions,
    NotificationSettings,
};
pub use oidc::{OidcLogin, OidcLoginUse};
pub use operations::{MAX_FAILURES_KEPT, OperationFilter, OperationRow};
pub use people::{AuditEntry, AuditRow, BUILTIN_ADMIN_ID, NewUser, Principal, TokenRow, UserChange, UserRow};
pub use search::{DataCondition, DataOp, MAX_PATH_DEPTH, literal, parse_condition, parse_path};
pub use secrets::SecretInfo;
pub use settings::CallChild;
pub use store::{
    Backend, CLAIM_GRACE, Durability, NewRequest, StateColumns, StepOutcome, StepWrite, Store, StoreOptions,
};
pub use suspend::Suspension;
pub use tasks::{TaskChange, TaskOrder, TaskQuery, TaskRefusal, Viewer};
pub use types::{
    ElementCount, EventId, EventRow, JobId, JobKind, JobRow, LoadedRequest, ProcessVersion, PrunePace, PruneStats,
    RequestFilter, RequestId, RequestPage, RequestRow, RequestStatus, SubscriptionKind, SubscriptionRow, TaskId,
    TaskRow, TaskStatus,
};

/// What can go wrong in the store. Messages are written for the person running Sluice.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unsupported database URL `{0}`: use sqlite://PATH, sqlite::memory: or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open the database at {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("the database at {url} has schema version {found}; this sluice knows up to {known}: upgrade sluice")]
    SchemaTooNew { url: String, found: i64, known: i64 },
    #[error("migrating the database at {url} to schema version {version} ({name}) failed: {source}")]
    Migration {
        url: String,
        version: i64,
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// Someone else changed the Request since it was loaded: reload and step again.
    #[error("Request {request} was changed concurrently (expected revision {expected}); nothing was written")]
    Conflict { request: RequestId, expected: i64 },
    #[error("no Request {0}")]
    RequestNotFound(RequestId),
    #[error("a Request {0} exists already")]
    RequestExists(RequestId),
    /// A child Request was not created: its parent, or a Request further up that called it, has
    /// finished (canceled, completed) or is gone. Cancel is final: a canceled tree grows no more.
    #[error("Request {0} or a Request that called it has ended: it starts no new child Request")]
    ParentEnded(RequestId),
    /// A child Request was not created: the `start_child` job it completes is no longer in the
    /// outbox (another run of it created the child, or dropped the job).
    #[error("job {0} is no longer in the outbox: its child Request is not created")]
    JobGone(JobId),
    /// A job worker's completion was not written: the job was activated again since (its lock
    /// ran out and another worker took it).
    #[error("job {0} was activated again since: this activation lost its lock and changed nothing")]
    JobLockLost(JobId),
    #[error("no process `{key}` version {version} is deployed")]
    ProcessNotFound { key: String, version: i64 },
    #[error("process `{0}` is suspended: it starts no Request until it is resumed")]
    ProcessSuspended(String),
    #[error("process `{key}` version {version} is used by {requests} Request(s): it cannot be deleted")]
    VersionInUse { key: String, version: i64, requests: i64 },
    #[error("process `{key}` version {version} is its latest: deploy a newer one before deleting it")]
    VersionIsLatest { key: String, version: i64 },
    #[error("no decision `{decision_id}` version {version} is deployed")]
    DecisionNotFound { decision_id: String, version: i64 },
    #[error("invalid pagination cursor `{0}`")]
    BadCursor(String),
    /// A search the store cannot run: a path that is not one, an order comparison with a value
    /// that has no order.
    #[error("invalid search: {0}")]
    BadSearch(String),
    #[error("invalid id `{0}`: expected a UUID")]
    BadId(String),
    /// A row holds something this binary cannot read: a bug or a hand-edited database.
    #[error("unreadable {what} in the database: {message}")]
    Corrupt { what: &'static str, message: String },
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The group-commit writer task is gone (the runtime is shutting down).
    #[error("the database writer has stopped; the server is shutting down")]
    WriterStopped,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// From the SQLite connection the group-commit writer drives directly.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
}

impl Error {
    pub(crate) fn corrupt(what: &'static str, message: impl std::fmt::Display) -> Self {
        Error::Corrupt { what, message: message.to_string() }
    }
}
