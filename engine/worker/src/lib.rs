//! Sluice's durable engine: deploys processes, starts and steps Requests, and runs the job outbox
//! (timers, connector calls, messages, signals, call activities) against `sluice-store`.
//!
//! Every state change is: load the Request, apply the input with [`Instance::step`], turn the
//! commands into rows with [`from_commands`], and write them with
//! [`Store::apply_step`] guarded by the Request's revision. The job that caused a step is
//! completed in the same transaction. A conflict (someone else wrote the Request first) reloads
//! and steps again, a bounded number of times. No database transaction is open while a
//! connector runs. See `README.md` beside this file.

mod backoff;
mod changes;
mod notify;
pub mod payload;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use changes::changes_of;
use chrono::{DateTime, Utc};
use payload::{ChildErrorJob, ChildEscalationJob, MessageJob, SignalJob, StartChildJob};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sluice_bpmn::{ConnectorCatalog, Diagnostic, ElementIdx, Kind, Process, ScopeIdx, Source, TaskKind, Trigger};
use sluice_connector_api::{ConnectorError, Context, IdempotencyKey, Registry};
use sluice_engine::runtime::{Data, TokenId};
use sluice_engine::{Input, Instance, Start, StartError, StepError};
use sluice_store::{
    Changes, Committer, JobId, JobKind, JobRow, LeaseChange, LoadedRequest, RequestId, RequestRow, StateColumns, Store,
    TaskId, TaskStatus, WriteOp, WriteResult,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use backoff::Backoff;
pub use changes::from_commands;
pub use notify::{BoxFuture, CachedSettings, Delivered, Notification, Notifications, NotifyError};

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
    #[error("Request {0} kept changing under us; try again")]
    Busy(RequestId),
    /// A newer version of the process was deployed while the Request was being created.
    #[error("a newer version of the process was deployed meanwhile; try again")]
    StaleVersion,
    /// A job row whose payload this binary cannot read (a bug or a hand-edited database).
    #[error("job {job} has an unreadable payload: {message}")]
    BadJob { job: JobId, message: String },
}

/// Why a deploy was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The files have errors: nothing was deployed.
    #[error("the models have errors: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Diagnostic>),
    /// A file whose text cannot be decoded for storing. Files in the encodings the importer reads
    /// (UTF-8, US-ASCII, ISO-8859-1, windows-1252) never get this: the importer refuses the others
    /// first (as [`DeployError::Invalid`]).
    #[error("`{0}` is not in a supported encoding: save it as UTF-8 to deploy it")]
    NotUtf8(String),
    #[error(transparent)]
    Store(#[from] sluice_store::Error),
}

/// One process of a deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployed {
    pub key: String,
    pub version: i64,
    pub name: Option<String>,
    /// False when the XML was the same as the latest version's (that version is answered).
    pub created: bool,
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
    /// The jitter source (splitmix64 state).
    rng: Mutex<u64>,
    /// Plans and delivers notifications (see `notify.rs`); none without.
    notifications: Option<Arc<dyn Notifications>>,
    /// Running connector jobs where they were written (see [`Engine::enable_handoff`]).
    handoff: OnceLock<Handoff>,
    /// Notified when a write left jobs due at once in the table (see [`Engine::wakeup`]).
    wake: Arc<tokio::sync::Notify>,
}

/// The state of handoff: connector jobs a write creates, due at once, are claimed in that write
/// (with the Request's lease) and run by this node straight away, from the state it just wrote,
/// instead of waiting in the job table for a worker to claim them, load the Request and lease it.
/// The rows are the same as for any claimed job, so a crash loses nothing: once the lease lapses,
/// any node's worker takes the jobs over.
struct Handoff {
    /// The engine itself, for the spawned runs.
    engine: Weak<Engine>,
    /// One permit per Request whose handed-off jobs run now.
    permits: Arc<Semaphore>,
    capacity: u32,
    /// False once draining began: writes hand nothing off any more.
    open: AtomicBool,
    /// How many runs of this node hold each Request's lease (a Request's lease is let go when its
    /// last one ends).
    running: Mutex<HashMap<RequestId, u32>>,
}

/// What a write planned for its Request's lease.
struct Plan {
    lease: LeaseChange,
    /// The jobs to run when the lease was taken, and the permit to run them with.
    handed: Option<(OwnedSemaphorePermit, Vec<JobRow>)>,
}

/// Where a write left the lease of the Request it stepped (for the run that held it).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum LeaseAfter {
    /// Untouched: still held (or never held).
    Held,
    /// Let go by the write.
    Released,
    /// A new run took the Request's new jobs (and holds the lease).
    Passed,
}

/// The registry as the importer sees it: deploy-time checks of connector tasks.
struct Catalog<'a>(&'a Registry);

impl ConnectorCatalog for Catalog<'_> {
    fn validate(&self, connector: &str, inputs: &serde_json::Map<String, Value>) -> Result<(), String> {
        self.0.validate(connector, inputs)
    }
}

/// What became of an input sent to a Request.
enum Stepped {
    Applied,
    /// The Request refused the input (the token no longer waits, the Request ended, …); nothing
    /// was written, and the job that carried it (if any) was dropped.
    Refused(StepError),
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
            rng: Mutex::new(seed),
            notifications: None,
            handoff: OnceLock::new(),
            wake: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Notified whenever a write of this engine left jobs due at once for a worker to claim (the
    /// handed-off ones are already running): a worker loop waits on it between polls instead of
    /// polling after every write.
    pub fn wakeup(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// Whether a write of `changes` leaves jobs due by `now` for the worker, besides those `plan`
    /// hands off.
    fn needs_wake(&self, changes: &Changes, now: DateTime<Utc>, plan: &Plan) -> bool {
        let handed: &[JobRow] = plan.handed.as_ref().map_or(&[], |(_, jobs)| jobs.as_slice());
        changes.jobs_added.iter().any(|j| j.due_at <= now && !handed.iter().any(|h| h.id == j.id))
    }

    /// Turns handoff on: from now on, a write that creates connector jobs due at once also claims
    /// them (and leases the Request, unless another node holds it), and this node runs them right
    /// after the commit, from the state it wrote, at most `handoff_capacity` Requests at a time.
    /// Call [`Engine::drain_handoffs`] before shutting down.
    pub fn enable_handoff(self: &Arc<Self>) {
        let capacity = u32::try_from(self.options.handoff_capacity.clamp(1, 1 << 20)).unwrap_or(1024);
        let _ = self.handoff.set(Handoff {
            engine: Arc::downgrade(self),
            permits: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
            open: AtomicBool::new(true),
            running: Mutex::new(HashMap::new()),
        });
    }

    /// Stops handing off and waits until every handed-off run has ended (their steps committed,
    /// or their jobs given back for a retry).
    pub async fn drain_handoffs(&self) {
        if let Some(h) = self.handoff.get() {
            h.open.store(false, Ordering::SeqCst);
            if let Ok(all) = h.permits.acquire_many(h.capacity).await {
                drop(all);
            }
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    // ---- deploy ----

    /// Imports the files together, validates connector tasks against the registry, and stores a
    /// new version of each executable process whose XML changed; unchanged XML answers the latest
    /// version (`created: false`). With any error diagnostic nothing is stored.
    ///
    /// Each process version stores the file it came from, byte for byte (UTF-8, US-ASCII,
    /// ISO-8859-1 or windows-1252), and its decoded text; the content hash is of the bytes.
    pub async fn deploy(&self, files: &[(String, Vec<u8>)]) -> Result<Vec<Deployed>, DeployError> {
        let known = self.store.latest_processes().await?;
        let known: Vec<&str> = known.iter().map(|p| p.key.as_str()).collect();
        let sources: Vec<Source<'_>> = files.iter().map(|(name, bytes)| Source { name, bytes }).collect();
        let catalog = Catalog(&self.registry);
        let options = sluice_bpmn::Options { known_processes: &known, connectors: Some(&catalog) };
        let imported = sluice_bpmn::import(&sources, &options);
        if imported.has_errors() {
            return Err(DeployError::Invalid(imported.diagnostics));
        }
        // Decode every file before storing anything: the store keeps the original bytes (to
        // import from) and the text (for the API).
        let mut texts = HashMap::new();
        for (name, bytes) in files {
            match sluice_bpmn::decode_text(bytes) {
                Some(text) => texts.insert(name.as_str(), (text, bytes.as_slice())),
                None => return Err(DeployError::NotUtf8(name.clone())),
            };
        }
        let mut out = Vec::new();
        for p in imported.definitions.executable() {
            let Some((xml, bytes)) = texts.get(&*p.file) else { continue };
            let hash = format!("{:x}", Sha256::digest(bytes));
            let (version, created) = self.store.deploy_source(&p.key, p.name.as_deref(), xml, bytes, &hash).await?;
            self.forget_latest(&p.key);
            out.push(Deployed { key: p.key.clone(), version, name: p.name.clone(), created });
        }
        Ok(out)
    }

    /// The imported process of a deployed version (cached).
    async fn process(&self, key: &str, version: i64) -> Result<Arc<Process>, Error> {
        if let Some(p) = self.cached(key, version) {
            return Ok(p);
        }
        let source = self.store.process_source(key, version).await?;
        let known = self.store.latest_processes().await?;
        let known: Vec<&str> = known.iter().map(|p| p.key.as_str()).collect();
        let source = Source { name: key, bytes: &source };
        let imported =
            sluice_bpmn::import(&[source], &sluice_bpmn::Options { known_processes: &known, connectors: None });
        let bad = |message: String| Error::BadProcess { key: key.to_string(), version, message };
        if imported.has_errors() {
            let msgs: Vec<String> = imported.diagnostics.iter().map(ToString::to_string).collect();
            return Err(bad(msgs.join("; ")));
        }
        let p =
            imported.definitions.process(key).cloned().ok_or_else(|| bad("the process is not in its XML".into()))?;
        if let Ok(mut cache) = self.processes.lock() {
            cache.insert((key.to_string(), version), p.clone());
        }
        Ok(p)
    }

    fn cached(&self, key: &str, version: i64) -> Option<Arc<Process>> {
        self.processes.lock().ok()?.get(&(key.to_string(), version)).cloned()
    }

    /// The latest deployed version of `key`, from the database.
    async fn latest_version(&self, key: &str) -> Result<i64, Error> {
        let versions = self.store.process_versions(key).await?;
        let latest = versions.last().map(|v| v.version).ok_or_else(|| Error::ProcessNotFound(key.to_string()))?;
        if let Ok(mut cache) = self.latest.lock() {
            cache.insert(key.to_string(), latest);
        }
        Ok(latest)
    }

    /// The latest version of `key` as last seen (maybe stale: the writer checks it).
    async fn latest_version_cached(&self, key: &str) -> Result<i64, Error> {
        if let Some(v) = self.latest.lock().ok().and_then(|c| c.get(key).copied()) {
            return Ok(v);
        }
        self.latest_version(key).await
    }

    fn forget_latest(&self, key: &str) {
        if let Ok(mut cache) = self.latest.lock() {
            cache.remove(key);
        }
    }

    // ---- the API ----

    /// Starts a Request of `key` (the latest version unless one is given) through its none start
    /// event.
    pub async fn start_request(
        &self,
        key: &str,
        version: Option<i64>,
        data: Data,
        now: DateTime<Utc>,
    ) -> Result<RequestId, Error> {
        Ok(self.start(key, version, data, now, false).await?.0)
    }

    /// [`Engine::start_request`], answering the Request as it was written (revision 1) without
    /// reading it back.
    pub async fn start_request_loaded(
        &self,
        key: &str,
        version: Option<i64>,
        data: Data,
        now: DateTime<Utc>,
    ) -> Result<LoadedRequest, Error> {
        let (id, loaded) = self.start(key, version, data, now, true).await?;
        match loaded {
            Some(r) => Ok(r),
            None => Ok(self.store.load_request(id).await?),
        }
    }

    async fn start(
        &self,
        key: &str,
        version: Option<i64>,
        data: Data,
        now: DateTime<Utc>,
        keep: bool,
    ) -> Result<(RequestId, Option<LoadedRequest>), Error> {
        if let Some(version) = version {
            let process = self.process(key, version).await?;
            return self.create_inner(&process, version, data, Start::Default, None, None, now, false, keep).await;
        }
        // The latest version as last seen; the writer refuses it if a newer one was deployed
        // since (maybe by another node), and then we look again.
        for _ in 0..=self.options.max_conflict_retries {
            let version = self.latest_version_cached(key).await?;
            let process = self.process(key, version).await?;
            match self.create_inner(&process, version, data.clone(), Start::Default, None, None, now, true, keep).await
            {
                Err(Error::StaleVersion) => self.forget_latest(key),
                other => return other,
            }
        }
        Err(Error::VersionsChurning(key.to_string()))
    }

    /// Completes an active user or manual task with `data`.
    pub async fn complete_task(&self, task: TaskId, data: Data, now: DateTime<Utc>) -> Result<(), Error> {
        let row = self.store.task(task).await?.ok_or(Error::TaskNotFound(task))?;
        if row.status != TaskStatus::Active {
            return Err(Error::TaskNotActive(task));
        }
        let input = Input::CompleteTask { token: row.token, data };
        match self.step(row.request_id, None, now, |_| Ok(vec![input.clone()])).await? {
            Stepped::Applied => Ok(()),
            // Completed or canceled by someone else between our read and our write.
            Stepped::Refused(_) => Err(Error::TaskNotActive(task)),
        }
    }

    /// Delivers a message now (see [`Engine::run_due_jobs`] for the rules); returns the Requests it
    /// reached (none when nothing matched: the message is dropped).
    pub async fn publish_message(
        &self,
        name: &str,
        correlation_key: Option<&str>,
        data: Data,
        now: DateTime<Utc>,
    ) -> Result<Vec<RequestId>, Error> {
        self.deliver_message(name, correlation_key, data, None, now).await
    }

    /// Cancels a Request (and, through `cancel_child` jobs, its children).
    pub async fn cancel(&self, id: RequestId, now: DateTime<Utc>) -> Result<(), Error> {
        match self.step(id, None, now, |_| Ok(vec![Input::Cancel])).await? {
            Stepped::Applied => Ok(()),
            Stepped::Refused(e) => Err(e.into()),
        }
    }

    /// Retries every open incident of a Request (in one write).
    pub async fn retry(&self, id: RequestId, now: DateTime<Utc>) -> Result<(), Error> {
        let stepped = self
            .step(id, None, now, |r| {
                Ok(r.instance.incidents().iter().map(|i| Input::Retry { incident: i.id }).collect())
            })
            .await?;
        match stepped {
            Stepped::Applied => Ok(()),
            Stepped::Refused(e) => Err(e.into()),
        }
    }

    /// Claims the jobs due at `now` (up to `limit`) and runs them one after the other; returns how
    /// many were handled. A job whose handling fails on a database or model error is given back,
    /// due again after a backoff, and logged; the others still run.
    ///
    /// Only jobs of Requests this node holds a lease on, or can take one on (none, or expired),
    /// run: the claim skips jobs of Requests another live node holds, and the leases of the
    /// claimed jobs' Requests are then taken (until `now + request_lease`); a job whose Request
    /// another node took in between is given back untouched (still due, no attempt counted).
    pub async fn run_due_jobs(&self, now: DateTime<Utc>, limit: u32) -> Result<usize, Error> {
        // The heartbeat keeps the claims of jobs in flight (and their Requests' leases) alive.
        let lease = self.options.job_lease;
        let node = self.options.node_id.as_str();
        let jobs = self.store.claim_jobs(node, now, limit, lease).await?;
        let requests: Vec<RequestId> = jobs.iter().filter_map(|j| j.request_id).collect();
        let until = now + chrono::Duration::from_std(self.options.request_lease).unwrap_or(chrono::Duration::MAX);
        let held = match self.store.claim_request_leases(node, &requests, now, until).await {
            Ok(held) => held,
            Err(e) => {
                // Do not sit on the claimed jobs until their lease ends: give them back as they were.
                for job in &jobs {
                    if let Err(e) = self.store.unclaim_job(job.id, node).await {
                        tracing::warn!(job = %job.id, error = %e, "cannot give a claimed job back");
                    }
                }
                return Err(e.into());
            }
        };
        // Jobs of one Request run one after the other, in due order; different Requests' jobs run
        // side by side, so their steps share commits (group commit).
        let mut groups: Vec<Vec<JobRow>> = Vec::new();
        let mut group_of: HashMap<RequestId, usize> = HashMap::new();
        for job in jobs {
            if let Some(r) = job.request_id
                && !held.contains(&r)
            {
                // Another node took this Request between our claim and our lease: its job.
                self.store.unclaim_job(job.id, node).await?;
                continue;
            }
            // Jobs without a Request (messages, signals) each run on their own.
            match job.request_id {
                Some(r) => match group_of.get(&r) {
                    Some(&g) => groups[g].push(job),
                    None => {
                        group_of.insert(r, groups.len());
                        groups.push(vec![job]);
                    }
                },
                None => groups.push(vec![job]),
            }
        }
        // The Requests of connector jobs, read at once (each job would read its own otherwise).
        let wanted: Vec<RequestId> = groups
            .iter()
            .filter_map(|g| g.first())
            .filter(|j| j.kind == JobKind::Connector)
            .filter_map(|j| j.request_id)
            .collect();
        let mut loaded: HashMap<RequestId, LoadedRequest> =
            self.store.load_requests(&wanted).await?.into_iter().map(|r| (r.meta.id, r)).collect();
        let runs = groups.into_iter().map(|group| {
            let first = group.first().and_then(|j| j.request_id).and_then(|r| loaded.remove(&r));
            self.run_group(group, first, now)
        });
        let handled = futures_util::future::join_all(runs).await;
        // This batch's Requests are free again for whichever node claims their next jobs (but
        // those whose new jobs this node runs now: their runs let go when they end).
        let held: Vec<RequestId> = held.into_iter().filter(|r| !self.running(r)).collect();
        if let Err(e) = self.store.release_request_leases(node, &held).await {
            tracing::warn!(error = %e, "cannot release Request leases; they run out by themselves");
        }
        let mut total = 0;
        for h in handled {
            total += h?;
        }
        Ok(total)
    }

    /// Runs one Request's claimed jobs in order; a job that fails is given back with a backoff.
    async fn run_group(
        &self,
        jobs: Vec<JobRow>,
        mut first: Option<LoadedRequest>,
        now: DateTime<Utc>,
    ) -> Result<usize, Error> {
        let mut handled = 0;
        for job in jobs {
            // The preloaded Request serves the first job only; later ones read what it wrote.
            let result = match (first.take(), job.kind) {
                (Some(r), JobKind::Connector) => self.run_connector(&job, now, Some(r), None).await.map(drop),
                _ => self.run_job(&job, now).await,
            };
            match result {
                Ok(()) => handled += 1,
                Err(e) => {
                    tracing::warn!(job = %job.id, kind = %job.kind, error = %e, "job failed; it will be tried again");
                    let at = now + self.options.backoff.delay(job.attempts, 0.0);
                    self.store.release_job(job.id, &e.to_string(), at).await?;
                }
            }
        }
        Ok(handled)
    }

    /// The heartbeat: extends this node's leases on its unfinished Requests to
    /// `now + request_lease` (and lets go of finished ones). Call it regularly (e.g. every third
    /// of `request_lease`), also while a long batch of `run_due_jobs` runs. Returns how many
    /// leases it extended.
    pub async fn heartbeat(&self, now: DateTime<Utc>) -> Result<u64, Error> {
        let until = now + chrono::Duration::from_std(self.options.request_lease).unwrap_or(chrono::Duration::MAX);
        Ok(self.store.renew_leases(&self.options.node_id, until).await?)
    }

    /// Gives up every Request lease of this node (at shutdown), so other nodes take over at once.
    pub async fn release_leases(&self) -> Result<u64, Error> {
        Ok(self.store.release_leases(&self.options.node_id).await?)
    }

    // ---- jobs ----

    async fn run_job(&self, job: &JobRow, now: DateTime<Utc>) -> Result<(), Error> {
        match job.kind {
            JobKind::Timer => {
                let (Some(id), Some(subscription)) = (job.request_id, job.subscription) else {
                    return self.drop_job(job).await;
                };
                self.step_job(id, job, now, Input::TimerFired { subscription }).await
            }
            JobKind::Connector => self.run_connector(job, now, None, None).await.map(drop),
            JobKind::Message => {
                let m: MessageJob = payload::read(job)?;
                self.deliver_message(&m.name, m.correlation_key.as_deref(), m.data, Some(job.id), now).await?;
                Ok(())
            }
            JobKind::Signal => {
                let s: SignalJob = payload::read(job)?;
                self.broadcast_signal(&s.name, s.data, now).await?;
                self.drop_job(job).await
            }
            JobKind::StartChild => self.start_child(job, now).await,
            JobKind::CancelChild => {
                let (Some(parent), Some(token)) = (job.request_id, job_token(job)) else {
                    return self.drop_job(job).await;
                };
                if let Some(child) = self.store.child_of(parent, token.0).await? {
                    self.step(child, Some(job.id), now, |_| Ok(vec![Input::Cancel])).await?;
                    Ok(())
                } else {
                    self.drop_job(job).await
                }
            }
            JobKind::ChildDone | JobKind::ChildError | JobKind::ChildEscalation => self.child_result(job, now).await,
            // notify.rs hook: deliver, then record `notification_sent`/`notification_failed`.
            JobKind::Notification => self.run_notification(job, now).await,
        }
    }

    async fn drop_job(&self, job: &JobRow) -> Result<(), Error> {
        self.store.complete_job(job.id).await?;
        Ok(())
    }

    /// Steps the job's Request with one input, completing the job with it (or dropping it when
    /// the Request refuses the input).
    async fn step_job(&self, id: RequestId, job: &JobRow, now: DateTime<Utc>, input: Input) -> Result<(), Error> {
        self.step(id, Some(job.id), now, |_| Ok(vec![input.clone()])).await?;
        Ok(())
    }

    /// Runs a connector job and steps its Request with the result. `run_last`: the job runs in a
    /// handed-off run that holds the Request's lease (and is its last job); see [`Engine::plan`].
    async fn run_connector(
        &self,
        job: &JobRow,
        now: DateTime<Utc>,
        preloaded: Option<LoadedRequest>,
        run_last: Option<bool>,
    ) -> Result<LeaseAfter, Error> {
        let dropped = async |job: &JobRow| self.drop_job(job).await.map(|()| LeaseAfter::Held);
        let (Some(id), Some(token)) = (job.request_id, job_token(job)) else { return dropped(job).await };
        let loaded = match preloaded {
            Some(r) if r.meta.id == id => Ok(r),
            _ => self.store.load_request(id).await,
        };
        let r = match loaded {
            Ok(r) => r,
            Err(sluice_store::Error::RequestNotFound(_)) => return dropped(job).await,
            Err(e) => return Err(e.into()),
        };
        let process = self.process(&r.meta.process_key, r.meta.process_version).await?;
        let Some(&(_, element, attempt)) = r.instance.connector_calls().iter().find(|(t, _, _)| *t == token) else {
            // The token no longer waits on its connector (canceled, interrupted): nothing to do.
            return dropped(job).await;
        };
        let el = process.element(element);
        let Kind::Task(TaskKind::Connector(call)) = &el.kind else { return dropped(job).await };
        let variables = r.instance.flattened_variables(token);
        let key = IdempotencyKey { request_id: id.to_string(), element_id: el.id.clone(), attempt };
        let url = format!("{}/requests/{id}", self.options.public_url.trim_end_matches('/'));
        let cx = Context::new(key, process.key.as_str(), url);
        // No transaction is open here: the call may take as long as the registry allows.
        let result = self.registry.invoke(&call.connector, &call.inputs, &variables, cx).await;
        let input = match result {
            Ok(output) => Input::ConnectorCompleted { token, output },
            Err(ConnectorError::Bpmn { code, message }) => Input::ThrowError { token, code, message: Some(message) },
            Err(ConnectorError::Fatal { message }) => Input::ConnectorFailed { token, message },
            Err(ConnectorError::Retryable { message, retry_after }) => {
                let attempts = job.attempts.max(1);
                if attempts >= i64::from(self.options.max_attempts) {
                    let message = format!("{message} (gave up after {attempts} attempts)");
                    Input::ConnectorFailed { token, message }
                } else {
                    let jitter = self.next_unit();
                    let mut delay = self.options.backoff.delay(attempts, jitter);
                    if let Some(after) = retry_after.and_then(|d| chrono::Duration::from_std(d).ok()) {
                        delay = delay.max(after);
                    }
                    self.store.release_job(job.id, &message, now + delay).await?;
                    return Ok(LeaseAfter::Held);
                }
            }
        };
        // The Request as read before the call: if nothing changed it meanwhile, no second read.
        let (_, after) =
            self.step_inner(id, Some(job.id), now, |_| Ok(vec![input.clone()]), true, Some(r), run_last).await?;
        Ok(after)
    }

    /// Delivers a message to the oldest matching subscription; else starts a Request at a message
    /// start event of that name (latest versions); else drops it.
    async fn deliver_message(
        &self,
        name: &str,
        key: Option<&str>,
        data: Data,
        job: Option<JobId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<RequestId>, Error> {
        for _ in 0..=self.options.max_conflict_retries {
            let Some(sub) = self.store.find_message_subscription(name, key).await? else { break };
            let input = Input::MessageReceived { subscription: sub.subscription, data: data.clone() };
            // Refused: the subscription closed since we found it; look again (without dropping the job).
            match self.step_inner(sub.request_id, job, now, |_| Ok(vec![input.clone()]), false, None, None).await?.0 {
                Stepped::Applied => return Ok(vec![sub.request_id]),
                Stepped::Refused(_) => continue,
            }
        }
        let starts = self.start_events(|t| matches!(t, Trigger::Message(m) if m.name == name)).await?;
        if let Some((process, version, element)) = starts.into_iter().next() {
            let id = self.create(&process, version, data, Start::Event(element), None, job, now).await?;
            return Ok(vec![id]);
        }
        // Unmatched: dropped, nothing recorded (no buffering yet).
        if let Some(job) = job {
            self.store.complete_job(job).await?;
        }
        Ok(Vec::new())
    }

    /// Every open signal subscription of that name gets the signal, then every signal start event
    /// of that name (latest versions) starts a Request.
    async fn broadcast_signal(&self, name: &str, data: Data, now: DateTime<Utc>) -> Result<Vec<RequestId>, Error> {
        let mut reached = Vec::new();
        for sub in self.store.signal_subscriptions(name).await? {
            let input = Input::SignalReceived { subscription: sub.subscription, data: data.clone() };
            if let Stepped::Applied = self.step(sub.request_id, None, now, |_| Ok(vec![input.clone()])).await? {
                reached.push(sub.request_id);
            }
        }
        for (process, version, element) in self.start_events(|t| matches!(t, Trigger::Signal(n) if n == name)).await? {
            match self.create(&process, version, data.clone(), Start::Event(element), None, None, now).await {
                Ok(id) => reached.push(id),
                Err(Error::Start(e)) => tracing::warn!(process = %process.key, error = %e, "signal start failed"),
                Err(e) => return Err(e),
            }
        }
        Ok(reached)
    }

    /// Start events of the latest version of every executable process whose trigger matches.
    async fn start_events(
        &self,
        matches: impl Fn(&Trigger) -> bool,
    ) -> Result<Vec<(Arc<Process>, i64, ElementIdx)>, Error> {
        let mut out = Vec::new();
        for v in self.store.latest_processes().await? {
            let p = self.process(&v.key, v.version).await?;
            if !p.executable {
                continue;
            }
            for &e in &p.scope(ScopeIdx::ROOT).event_starts {
                if let Kind::StartEvent { trigger, .. } = &p.element(e).kind
                    && matches(trigger)
                {
                    out.push((p.clone(), v.version, e));
                }
            }
        }
        Ok(out)
    }

    async fn start_child(&self, job: &JobRow, now: DateTime<Utc>) -> Result<(), Error> {
        let (Some(parent), Some(token)) = (job.request_id, job_token(job)) else { return self.drop_job(job).await };
        // The call activity may have been left since (the parent canceled, interrupted).
        let waiting = match self.store.load_request(parent).await {
            Ok(r) => r.instance.calls().iter().any(|(t, _)| *t == token),
            Err(sluice_store::Error::RequestNotFound(_)) => false,
            Err(e) => return Err(e.into()),
        };
        if !waiting {
            return self.drop_job(job).await;
        }
        let StartChildJob { process_key: key, data, .. } = payload::read(job)?;
        let started = match self.latest_version(&key).await {
            Ok(version) => {
                let process = self.process(&key, version).await?;
                self.create(&process, version, data, Start::Default, Some((parent, token)), Some(job.id), now).await
            }
            Err(e) => Err(e),
        };
        match started {
            Ok(_) => Ok(()),
            Err(e @ (Error::ProcessNotFound(_) | Error::Start(_))) => {
                let input = Input::ChildError { token, code: "call_failed".into(), message: Some(e.to_string()) };
                self.step_job(parent, job, now, input).await
            }
            Err(e) => Err(e),
        }
    }

    /// `child_done`, `child_error`, `child_escalation`: the job belongs to the child; step its parent.
    async fn child_result(&self, job: &JobRow, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(child) = job.request_id else { return self.drop_job(job).await };
        let r = match self.store.load_request(child).await {
            Ok(r) => r,
            Err(sluice_store::Error::RequestNotFound(_)) => return self.drop_job(job).await,
            Err(e) => return Err(e.into()),
        };
        let Some((parent, token)) = r.meta.parent else { return self.drop_job(job).await };
        let input = match job.kind {
            JobKind::ChildDone => Input::ChildCompleted { token, data: r.instance.data().clone() },
            JobKind::ChildError => {
                let e: ChildErrorJob = payload::read(job)?;
                Input::ChildError { token, code: e.code, message: e.message }
            }
            _ => {
                let e: ChildEscalationJob = payload::read(job)?;
                Input::ChildEscalation { token, code: e.code }
            }
        };
        self.step_job(parent, job, now, input).await
    }

    // ---- writing ----

    /// Starts and stores a Request; the job that caused it (if any) is completed with it.
    #[allow(clippy::too_many_arguments)]
    async fn create(
        &self,
        process: &Process,
        version: i64,
        data: Data,
        start: Start,
        parent: Option<(RequestId, TokenId)>,
        job: Option<JobId>,
        now: DateTime<Utc>,
    ) -> Result<RequestId, Error> {
        Ok(self.create_inner(process, version, data, start, parent, job, now, false, false).await?.0)
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_inner(
        &self,
        process: &Process,
        version: i64,
        data: Data,
        start: Start,
        parent: Option<(RequestId, TokenId)>,
        job: Option<JobId>,
        now: DateTime<Utc>,
        require_latest: bool,
        keep: bool,
    ) -> Result<(RequestId, Option<LoadedRequest>), Error> {
        let mut out = Vec::new();
        let instance = if parent.is_some() {
            Instance::start_called(process, data, now, &mut out)?
        } else {
            Instance::start(process, data, start, now, &mut out)?
        };
        let id = RequestId::new();
        let mut changes = changes_of(process, id, &out, now, parent.is_some());
        // notify.rs hook: the notifications of this creation commit with it.
        changes.jobs_added.extend(self.notification_jobs(process, id, true, &changes.events, now).await?);
        if let Some(job) = job {
            changes.complete_job(job);
        }
        let plan = self.plan(id, &changes, now, None);
        let wake = self.needs_wake(&changes, now, &plan);
        let state = StateColumns::of(&instance)?;
        let status = state.status();
        let op = WriteOp::Create {
            id,
            process_key: process.key.clone(),
            process_version: version,
            parent,
            state,
            changes,
            require_latest,
            lease: plan.lease,
        };
        let written = self.writer.write(op).await?;
        if wake && matches!(written, WriteResult::Created { .. }) {
            self.wake.notify_one();
        }
        if written == WriteResult::StaleVersion {
            return Err(Error::StaleVersion);
        }
        let handed = match (written, plan.handed) {
            (WriteResult::Created { leased: true }, Some(handed)) => Some(handed),
            _ => None,
        };
        if handed.is_none() && !keep {
            return Ok((id, None));
        }
        // The Request as written, for the handed-off run and/or the caller.
        let meta = RequestRow {
            id,
            process_key: process.key.clone(),
            process_version: version,
            status,
            parent,
            data: instance.data().clone(),
            revision: 1,
            created_at: now,
            updated_at: now,
            completed_at: status.is_finished().then_some(now),
        };
        let loaded = LoadedRequest { instance, revision: 1, meta };
        match handed {
            Some((permit, jobs)) if keep => {
                self.spawn_run(permit, loaded.clone(), jobs, now);
                Ok((id, Some(loaded)))
            }
            Some((permit, jobs)) => {
                self.spawn_run(permit, loaded, jobs, now);
                Ok((id, None))
            }
            None => Ok((id, Some(loaded))),
        }
    }

    /// What a write of `changes` to Request `id` does to its lease: with handoff on and a permit
    /// free, it takes the lease and claims the connector jobs due by `now`; else a run that holds
    /// the lease (`run_last`: it runs its last job) lets go of it when no other run holds it.
    fn plan(&self, id: RequestId, changes: &Changes, now: DateTime<Utc>, run_last: Option<bool>) -> Plan {
        let keep = Plan { lease: LeaseChange::Keep, handed: None };
        let Some(h) = self.handoff.get() else { return keep };
        let release = || {
            let alone = h.running.lock().map(|r| r.get(&id).copied().unwrap_or(0) <= 1).unwrap_or(false);
            if run_last == Some(true) && alone {
                Plan { lease: LeaseChange::Release { node: self.options.node_id.clone() }, handed: None }
            } else {
                Plan { lease: LeaseChange::Keep, handed: None }
            }
        };
        let due: Vec<&sluice_store::NewJob> =
            changes.jobs_added.iter().filter(|j| j.kind == JobKind::Connector && j.due_at <= now).collect();
        if due.is_empty() || !h.open.load(Ordering::SeqCst) {
            return release();
        }
        let Ok(permit) = h.permits.clone().try_acquire_owned() else { return release() };
        let node = self.options.node_id.clone();
        let until = now + chrono::Duration::from_std(self.options.request_lease).unwrap_or(chrono::Duration::MAX);
        let jobs_until = now + chrono::Duration::from_std(self.options.job_lease).unwrap_or(chrono::Duration::MAX);
        let jobs: Vec<JobRow> = due
            .iter()
            .map(|j| JobRow {
                id: j.id,
                request_id: Some(id),
                kind: j.kind,
                subscription: j.subscription,
                token: j.token,
                element_id: j.element_id.clone(),
                due_at: j.due_at,
                payload: j.payload.clone(),
                attempts: 1,
                last_error: None,
                locked_by: Some(node.clone()),
                locked_until: Some(jobs_until),
            })
            .collect();
        let ids = jobs.iter().map(|j| j.id).collect();
        Plan { lease: LeaseChange::Take { node, now, until, jobs_until, jobs: ids }, handed: Some((permit, jobs)) }
    }

    /// Runs handed-off jobs of one Request on a task of their own.
    fn spawn_run(&self, permit: OwnedSemaphorePermit, r: LoadedRequest, jobs: Vec<JobRow>, now: DateTime<Utc>) {
        let Some(h) = self.handoff.get() else { return };
        let Some(engine) = h.engine.upgrade() else { return };
        let id = r.meta.id;
        if let Ok(mut running) = h.running.lock() {
            *running.entry(id).or_default() += 1;
        }
        tokio::spawn(async move { engine.run_handed_off(permit, r, jobs, now).await });
    }

    /// One Request's handed-off jobs, in order, the first from the state its write left; then the
    /// Request's lease is let go (in the last step when it can be, else here) unless another run
    /// of this node holds it.
    async fn run_handed_off(
        self: Arc<Self>,
        permit: OwnedSemaphorePermit,
        r: LoadedRequest,
        jobs: Vec<JobRow>,
        written: DateTime<Utc>,
    ) {
        let id = r.meta.id;
        let mut first = Some(r);
        let n = jobs.len();
        let mut after = LeaseAfter::Held;
        for (i, job) in jobs.into_iter().enumerate() {
            // The write's time, or later: a run is not meant to go back in time.
            let now = written.max(Utc::now());
            after = match self.run_connector(&job, now, first.take(), Some(i + 1 == n)).await {
                Ok(after) => after,
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "a handed-off job failed; it will be tried again");
                    let at = now + self.options.backoff.delay(job.attempts, 0.0);
                    if let Err(e) = self.store.release_job(job.id, &e.to_string(), at).await {
                        tracing::warn!(job = %job.id, error = %e, "cannot give a job back; its claim runs out by itself");
                    }
                    LeaseAfter::Held
                }
            };
        }
        let others = match self.handoff.get().map(|h| h.running.lock()) {
            Some(Ok(mut running)) => {
                let left = running.get(&id).copied().unwrap_or(1).saturating_sub(1);
                if left == 0 {
                    running.remove(&id);
                } else {
                    running.insert(id, left);
                }
                left
            }
            _ => 0,
        };
        if after == LeaseAfter::Held
            && others == 0
            && let Err(e) = self.store.release_request_leases(&self.options.node_id, &[id]).await
        {
            tracing::warn!(request = %id, error = %e, "cannot let go of a Request's lease; it runs out by itself");
        }
        drop(permit);
    }

    /// Whether a handed-off run of this node holds the Request's lease now.
    fn running(&self, id: &RequestId) -> bool {
        self.handoff.get().and_then(|h| h.running.lock().ok().map(|r| r.contains_key(id))).unwrap_or(false)
    }

    async fn step(
        &self,
        id: RequestId,
        job: Option<JobId>,
        now: DateTime<Utc>,
        inputs: impl FnMut(&LoadedRequest) -> Result<Vec<Input>, Error>,
    ) -> Result<Stepped, Error> {
        Ok(self.step_inner(id, job, now, inputs, true, None, None).await?.0)
    }

    /// Loads the Request, applies the inputs, writes the result guarded by the revision (with the
    /// job completed in the same transaction); on a conflict, reloads and does it again.
    ///
    /// When the Request refuses every input nothing is written; the job is dropped if
    /// `drop_refused`. A missing Request counts as refusing ([`StepError::Ended`]).
    ///
    /// Connector jobs the step creates are handed off when they can be (see [`Engine::plan`];
    /// `run_last` for a handed-off run), and the answer says where the lease was left.
    #[allow(clippy::too_many_arguments)]
    async fn step_inner(
        &self,
        id: RequestId,
        job: Option<JobId>,
        now: DateTime<Utc>,
        mut inputs: impl FnMut(&LoadedRequest) -> Result<Vec<Input>, Error>,
        drop_refused: bool,
        mut preloaded: Option<LoadedRequest>,
        run_last: Option<bool>,
    ) -> Result<(Stepped, LeaseAfter), Error> {
        let held = |s: Result<Stepped, Error>| s.map(|s| (s, LeaseAfter::Held));
        for _ in 0..=self.options.max_conflict_retries {
            // A Request the caller just read is used once; after a conflict it is read again.
            let loaded = match preloaded.take() {
                Some(r) => Ok(r),
                None => self.store.load_request(id).await,
            };
            let mut r = match loaded {
                Ok(r) => r,
                Err(sluice_store::Error::RequestNotFound(_)) if job.is_some() => {
                    return held(self.refused(job, StepError::Ended, drop_refused).await);
                }
                Err(sluice_store::Error::RequestNotFound(_)) => {
                    return Err(Error::RequestNotFound(id));
                }
                Err(e) => return Err(e.into()),
            };
            let process = self.process(&r.meta.process_key, r.meta.process_version).await?;
            let mut out = Vec::new();
            let mut applied = 0;
            let mut refusal = None;
            for input in inputs(&r)? {
                match r.instance.step(&process, input, now, &mut out) {
                    Ok(()) => applied += 1,
                    Err(e) => refusal = refusal.or(Some(e)),
                }
            }
            if applied == 0 {
                return held(match refusal {
                    Some(e) => self.refused(job, e, drop_refused).await,
                    None => {
                        // Nothing to do (a retry without incidents).
                        if let Some(job) = job {
                            self.store.complete_job(job).await?;
                        }
                        Ok(Stepped::Applied)
                    }
                });
            }
            let mut changes = changes_of(&process, id, &out, now, r.meta.parent.is_some());
            // notify.rs hook: the notifications of this step commit with it.
            changes.jobs_added.extend(self.notification_jobs(&process, id, false, &changes.events, now).await?);
            if let Some(job) = job {
                changes.complete_job(job);
            }
            let plan = self.plan(id, &changes, now, run_last);
            let wake = self.needs_wake(&changes, now, &plan);
            let releases = matches!(plan.lease, LeaseChange::Release { .. });
            let op = WriteOp::Step {
                request: id,
                expected_revision: r.revision,
                state: StateColumns::of(&r.instance)?,
                changes,
                lease: plan.lease,
            };
            let written = self.writer.write(op).await?;
            // A step that did not get the lease left the jobs it meant to hand off in the table.
            if let WriteResult::Applied { leased, .. } = written
                && (wake || (!leased && plan.handed.is_some()))
            {
                self.wake.notify_one();
            }
            match written {
                WriteResult::Conflict => continue,
                WriteResult::Applied { revision, leased: true } => {
                    if let Some((permit, jobs)) = plan.handed {
                        r.revision = revision;
                        r.meta.revision = revision;
                        r.meta.status = sluice_store::RequestStatus::of(&r.instance);
                        r.meta.updated_at = now;
                        self.spawn_run(permit, r, jobs, now);
                        return Ok((Stepped::Applied, LeaseAfter::Passed));
                    }
                    return Ok((Stepped::Applied, LeaseAfter::Held));
                }
                _ if releases => return Ok((Stepped::Applied, LeaseAfter::Released)),
                _ => return Ok((Stepped::Applied, LeaseAfter::Held)),
            }
        }
        Err(Error::Busy(id))
    }

    async fn refused(&self, job: Option<JobId>, e: StepError, drop_job: bool) -> Result<Stepped, Error> {
        if drop_job && let Some(job) = job {
            self.store.complete_job(job).await?;
        }
        Ok(Stepped::Refused(e))
    }

    /// A number in [0, 1) from the seeded jitter source.
    fn next_unit(&self) -> f64 {
        match self.rng.lock() {
            Ok(mut state) => splitmix(&mut state),
            Err(_) => 0.0,
        }
    }
}

/// splitmix64, scaled to [0, 1): small, seedable and good enough for jitter.
fn splitmix(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The token a job is about (its column, else its payload).
fn job_token(job: &JobRow) -> Option<TokenId> {
    job.token
        .or_else(|| job.payload.get("token").and_then(Value::as_u64).and_then(|t| u32::try_from(t).ok()).map(TokenId))
}

/// The engine's futures can be spawned (the serve loop runs them on a multi-threaded runtime).
#[allow(dead_code)]
fn assert_send(e: &Engine, id: RequestId) {
    fn is_send<T: Send>(_: T) {}
    is_send(e.run_due_jobs(Utc::now(), 1));
    is_send(e.retry(id, Utc::now()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jitter_source_is_deterministic_per_seed_and_in_range() {
        let draw = |seed: u64| {
            let mut s = seed;
            (0..1000).map(|_| splitmix(&mut s)).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
        assert!(draw(7).iter().all(|u| (0.0..1.0).contains(u)));
    }
}
