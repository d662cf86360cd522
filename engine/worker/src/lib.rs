//! Sluice's durable engine: deploys processes, starts and steps Requests, and runs the job outbox
//! (timers, connector calls, messages, signals, call activities) against `sluice-store`.
//!
//! Every state change is: load the Request, apply the input with
//! [`Instance::step`](sluice_engine::Instance::step), turn the
//! commands into rows with [`from_commands`], and write them with
//! [`Store::apply_step`] guarded by the Request's revision. The job that caused a step is
//! completed in the same transaction. A conflict (someone else wrote the Request first) reloads
//! and steps again, a bounded number of times. No database transaction is open while a
//! connector runs. See `README.md` beside this file.
//!
//! The modules, one concern each (all of them add to [`Engine`]):
//!
//! - `lib.rs`: [`Engine`], [`EngineOptions`], [`Error`] and the re-exports.
//! - `deploy`: [`Engine::deploy`] (BPMN and DMN), the imported-process cache, the latest-version
//!   cache and the decisions a step may evaluate ([`Engine::decisions_for`]).
//! - `commands`: what the API asks: start a Request, complete a task, publish a message, cancel,
//!   retry.
//! - `jobs`: [`Engine::run_due_jobs`] (claims, leases, one Request's jobs in order), the job kinds,
//!   and [`Engine::heartbeat`].
//! - `connector`: connector jobs, and the one mapping of a connector's answer to an outcome.
//! - `messages`: messages and signals, and the start events they trigger.
//! - `children`: call activities' child Requests, their cancel (cancel is final) and their
//!   results.
//! - `timers`: timer start events (jobs of no Request, scheduled at deploy).
//! - `write`: creating and stepping Requests through the group-commit writer.
//! - `handoff`: connector jobs run by the node that wrote them.
//! - `loops`: the worker, heartbeat and pruning loops a server runs ([`LoopOptions`]).
//! - `observe`: lifecycle metrics and log lines of a committed write.
//! - `changes`: a step's commands as rows; `payload`: job payloads; `notify`: notifications;
//!   `backoff`: retry delays and the jitter source.

mod backoff;
mod changes;
mod children;
mod commands;
mod connector;
mod deploy;
mod gate;
mod handoff;
mod job_workers;
mod jobs;
pub mod loops;
mod messages;
mod migrate;
mod notify;
mod observe;
mod operations;
pub mod payload;
pub mod secrets;
mod timers;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::Utc;
use sluice_bpmn::Process;
use sluice_connector_api::Registry;
use sluice_engine::{StartError, StepError};
use sluice_store::{Committer, JobId, RequestId, Store, TaskId};

use handoff::Handoff;

pub use backoff::Backoff;
pub use changes::from_commands;
pub use commands::Repair;
pub use connector::{ConnectorVerdict, magic_request, magic_user};
pub use deploy::{Catalog, DeployError, Deployed, DeployedKind, is_dmn_file};
pub use gate::CommitGate;
pub use job_workers::{ActivatedJob, Activation, JobTypes};
pub use loops::LoopOptions;
pub use messages::{Broadcast, Publish, Published};
pub use migrate::Migration;
pub use notify::{BoxFuture, CachedSettings, Delivered, Notification, Notifications, NotifyError};
pub use observe::{TraceContext, set_trace_context};
pub use operations::operations_loop;

/// The default of [`EngineOptions::max_job_crashes`]: a job that killed the process twice is not
/// run a third time.
pub const DEFAULT_MAX_JOB_CRASHES: u32 = 2;

/// How the engine runs.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// This node's name in job claims (`jobs.locked_by`).
    pub node_id: String,
    /// The public URL of the API; connectors get `<public_url>/requests/<id>` as the Request's URL.
    pub public_url: String,
    /// How often a connector call that fails with a retryable error is tried in all before it
    /// becomes an incident.
    pub max_attempts: u32,
    /// The delay before retrying a retryable connector error.
    pub backoff: Backoff,
    /// How long a claimed job stays with this node unless [`Engine::heartbeat`] extends it;
    /// after that another node may claim it (this node died). Longer than a connector call may
    /// take between two heartbeats.
    pub job_lease: Duration,
    /// How often a step is redone after a concurrent write before giving up with [`Error::Busy`].
    pub max_conflict_retries: u32,
    /// How long this node's lease on a Request lasts after `run_due_jobs` took it or
    /// [`Engine::heartbeat`] renewed it; while it lasts no other node runs that Request's jobs.
    /// Heartbeat well within it (a third is a good interval).
    pub request_lease: Duration,
    /// The most state changes one commit carries (group commit).
    pub max_batch: usize,
    /// With [`Engine::enable_handoff`]: how many Requests at most run handed-off connector jobs
    /// at once; beyond that, new connector jobs wait in the job table for a worker.
    pub handoff_capacity: usize,
    /// The crash-loop guard: how many runs of one job may be cut short (the process died while
    /// running it) before the job is no longer run but becomes an incident of its Request (or is
    /// parked, for a job of no Request). At least 1.
    pub max_job_crashes: u32,
    /// The job types external workers may take besides the connectors (`SLUICE_JOB_TYPES`): a
    /// service task of another type is refused at deploy.
    pub job_types: JobTypes,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            node_id: format!("node-{}", uuid::Uuid::now_v7().simple()),
            public_url: "http://localhost:8080".into(),
            max_attempts: 5,
            backoff: Backoff::default(),
            job_lease: Duration::from_secs(30),
            max_conflict_retries: 20,
            request_lease: Duration::from_secs(30),
            max_batch: 1024,
            handoff_capacity: 1024,
            max_job_crashes: DEFAULT_MAX_JOB_CRASHES,
            job_types: JobTypes::default(),
        }
    }
}

/// What can go wrong. Messages are written for the person using the API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] sluice_store::Error),
    #[error("no process `{0}` is deployed")]
    ProcessNotFound(String),
    #[error("no Request {0}")]
    RequestNotFound(RequestId),
    #[error("no task {0}")]
    TaskNotFound(TaskId),
    /// New versions of the process kept being deployed while a Request was being started.
    #[error("process `{0}` keeps getting new versions; try again")]
    VersionsChurning(String),
    #[error("task {0} is not active")]
    TaskNotActive(TaskId),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("the input was refused: {0}")]
    Step(#[from] StepError),
    /// The stored XML of a deployed version no longer imports (a hand-edited database, or an
    /// importer that became stricter).
    #[error("process `{key}` version {version} cannot be loaded: {message}")]
    BadProcess { key: String, version: i64, message: String },
    /// The stored XML of a deployed decision version no longer parses.
    #[error("decision `{id}` version {version} cannot be loaded: {message}")]
    BadDecision { id: String, version: i64, message: String },
    #[error("Request {0} kept changing under us; try again")]
    Busy(RequestId),
    /// A newer version of the process was deployed while the Request was being created.
    #[error("a newer version of the process was deployed meanwhile; try again")]
    StaleVersion,
    /// The caller gave up on this call (see [`CommitGate`]) before it wrote anything: nothing
    /// was done.
    #[error("the call was given up before it wrote anything: nothing was done")]
    GaveUp,
    /// The caller's input was refused (a secret's name or value), with the reason.
    #[error("{0}")]
    Invalid(String),
    /// A migration plan that does not fit the Request, with every element that does not.
    #[error("the Request cannot be migrated: {0}")]
    MigrationInvalid(String),
    /// No job with this key (done, its task was left, or a type the caller may not take).
    #[error("no job `{0}` (it was completed, its task was left, or the key is wrong)")]
    JobNotFound(String),
    /// The job was activated again after this activation's lock ran out: the caller's work is
    /// not taken (another worker's is).
    #[error("job `{0}`: the lock was lost (it ran out and the job was activated again); nothing was done")]
    JobLockLost(String),
    /// A job row whose payload this binary cannot read (a bug or a hand-edited database).
    #[error("job {job} has an unreadable payload: {message}")]
    BadJob { job: JobId, message: String },
}

/// The durable engine: one per process (node); cheap to share behind an `Arc`.
pub struct Engine {
    store: Store,
    /// The group-commit writer: every state change goes through it.
    writer: Committer,
    /// The latest version of each process key as last seen; a creation that asks for the latest
    /// version is refused by the writer when a newer one exists, and this is refreshed.
    latest: Mutex<HashMap<String, i64>>,
    registry: Registry,
    options: EngineOptions,
    /// Imported processes by (key, version): a deployed version never changes.
    processes: Mutex<HashMap<(String, i64), Arc<Process>>>,
    /// Parsed DMN files by (decision id, version): a deployed version never changes.
    decisions: Mutex<HashMap<(String, i64), Arc<sluice_dmn::Definitions>>>,
    /// The jitter source (splitmix64 state).
    rng: Mutex<u64>,
    /// Plans and delivers notifications (see `notify.rs`); none without.
    notifications: Option<Arc<dyn Notifications>>,
    /// Running connector jobs where they were written (see [`Engine::enable_handoff`]).
    handoff: OnceLock<Handoff>,
    /// Notified when a write left jobs due at once in the table (see [`Engine::wakeup`]).
    wake: Arc<tokio::sync::Notify>,
    /// Seals and opens connector secrets (see `secrets.rs`); none without.
    secret_key: Option<Arc<sluice_secrets::SecretKey>>,
    /// Notified (all waiters) when a write of this engine added jobs for external workers: the
    /// activations waiting for jobs look again (see `job_workers.rs`).
    job_written: Arc<tokio::sync::Notify>,
    /// When kept messages were last matched against subscriptions, and whether this node knows
    /// some are kept (see `messages.rs`).
    kept_sweep: Mutex<messages::KeptSweep>,
    /// Worker jobs this node handed out, with their Requests as read then, until the worker's
    /// finishing call (see `job_workers.rs`).
    handed_out: Mutex<HashMap<sluice_store::JobId, job_workers::HandedOut>>,
}

impl Engine {
    pub async fn new(store: Store, registry: Registry, options: EngineOptions) -> Result<Engine, Error> {
        let seed = options.backoff.seed;
        let writer = Committer::start(store.clone(), options.max_batch);
        Ok(Engine {
            store,
            writer,
            latest: Mutex::new(HashMap::new()),
            registry,
            options,
            processes: Mutex::new(HashMap::new()),
            decisions: Mutex::new(HashMap::new()),
            rng: Mutex::new(seed),
            notifications: None,
            handoff: OnceLock::new(),
            wake: Arc::new(tokio::sync::Notify::new()),
            secret_key: None,
            job_written: Arc::new(tokio::sync::Notify::new()),
            kept_sweep: Mutex::new(messages::KeptSweep::default()),
            handed_out: Mutex::new(HashMap::new()),
        })
    }

    /// Notified whenever a write of this engine left jobs due at once for a worker to claim (the
    /// handed-off ones are already running): a worker loop waits on it between polls instead of
    /// polling after every write.
    pub fn wakeup(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }
}

/// The engine's futures can be spawned (the serve loop runs them on a multi-threaded runtime).
#[allow(dead_code)]
fn assert_send(e: &Engine, id: RequestId) {
    fn is_send<T: Send>(_: T) {}
    is_send(e.run_due_jobs(Utc::now(), 1));
    is_send(e.retry(id, Utc::now()));
}
