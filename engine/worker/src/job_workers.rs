//! Job workers (issue 17): service tasks whose type no connector runs become jobs that external
//! workers activate, complete, fail, error and extend over HTTP.
//!
//! The job is written by the step that reaches the task (a `worker` row, see `changes.rs`
//! `to_workers` and the store's `worker_jobs.rs`). An activation takes up to `max_jobs` free jobs
//! of the asked types with one conditional `UPDATE` and hands each out under a *key*,
//! `<job id>.<generation>`, the generation counting activations. Every later call names the key:
//! a call whose generation is no longer the job's (its lock ran out and another worker activated
//! the job) is refused with [`Error::JobLockLost`] and changes nothing.
//!
//! Completion (and a failure with no retries left, and a BPMN error) reads the job and checks the
//! key's generation, then steps the Request through the one write path, revision-guarded and
//! guarded by the activation: the store locks the job's row in the step's transaction and writes
//! the step only while the job is still at that generation, deleting it in the same transaction
//! (another worker's activation in between refuses it with `JobLockLost`). The task moves on
//! exactly once, and a completion is one batched step, without a write of its own before it. The
//! step also checks that the task still waits on the job's attempt.
//!
//! A node keeps what it handed out ([`HandedOut`]: the job's row and its Request as read at
//! activation, at most [`HANDED_OUT_MAX`] of them) until the finishing call, which then reads
//! neither again when it reaches the same node: the step's guards (the activation, the
//! Request's revision) decide as they do after a read, and a Request that moved since is read
//! again by the step's conflict retry. A call reaching another node reads both.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sluice_bpmn::{Kind, TaskKind};
use sluice_engine::Input;
use sluice_engine::runtime::{Data, TokenId};
use sluice_store::{Held, JobId, LoadedRequest, RequestId, WorkerJobRow};

use crate::payload::WorkerJob;
use crate::write::{StepCall, Stepped};
use crate::{Engine, Error};

/// How often a waiting activation looks at the database for jobs written by other nodes (jobs
/// written by this node wake it at once).
const POLL: Duration = Duration::from_millis(250);

/// The most handed-out jobs a node keeps for their finishing calls (each with its Request's
/// state, so memory stays bounded by this many states); beyond it, jobs whose lock ran out are
/// let go, and if that is not enough, new ones are not kept (their calls read).
const HANDED_OUT_MAX: usize = 4_096;

/// A job this node handed out: its row as activated and, when it was the only job of its
/// Request in the activation, the Request as read then.
#[derive(Debug)]
pub(crate) struct HandedOut {
    row: WorkerJobRow,
    request: Option<LoadedRequest>,
}

/// Which job types workers may take besides the connectors (`SLUICE_JOB_TYPES`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum JobTypes {
    /// None: every service task needs a connector.
    #[default]
    None,
    /// These types.
    Only(Vec<String>),
    /// Any type (`*`).
    Any,
}

impl JobTypes {
    /// Reads `SLUICE_JOB_TYPES`: a comma-separated list, `*` for any, empty for none.
    pub fn parse(text: &str) -> JobTypes {
        let types: Vec<String> = text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
        if types.iter().any(|t| t == "*") {
            JobTypes::Any
        } else if types.is_empty() {
            JobTypes::None
        } else {
            JobTypes::Only(types)
        }
    }

    pub fn allows(&self, job_type: &str) -> bool {
        match self {
            JobTypes::None => false,
            JobTypes::Any => true,
            JobTypes::Only(types) => types.iter().any(|t| t == job_type),
        }
    }

    /// The types named (none for `None` and `Any`): what a mistyped type is compared with.
    pub fn names(&self) -> &[String] {
        match self {
            JobTypes::Only(types) => types,
            JobTypes::None | JobTypes::Any => &[],
        }
    }

    /// For messages: which types are allowed.
    pub fn describe(&self) -> String {
        match self {
            JobTypes::None => "SLUICE_JOB_TYPES names none".into(),
            JobTypes::Any => "SLUICE_JOB_TYPES allows any".into(),
            JobTypes::Only(t) => {
                format!("SLUICE_JOB_TYPES allows {}", t.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "))
            }
        }
    }
}

/// An activation: what a worker asks for.
#[derive(Clone, Debug)]
pub struct Activation {
    /// The worker's name (kept on the job while it holds it).
    pub worker: String,
    /// The job types asked for.
    pub types: Vec<String>,
    pub max_jobs: u32,
    /// How long the worker holds each job it gets.
    pub lock: Duration,
    /// How long to wait for a job when none is there.
    pub wait: Duration,
}

/// A job handed to a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivatedJob {
    /// The key the worker names in its later calls: `<job id>.<generation>`.
    pub key: String,
    pub job_type: String,
    pub request_id: RequestId,
    pub element_id: String,
    /// The Request's variables as the task sees them (or the task's inputs, when it has some).
    pub data: Data,
    /// The task's headers (`zeebe:taskHeaders`).
    pub headers: Map<String, Value>,
    pub retries: i64,
    pub lock_expires_at: DateTime<Utc>,
}

/// A key's job id and generation.
fn parse_key(key: &str) -> Result<(JobId, i64), Error> {
    let bad = || Error::JobNotFound(key.to_owned());
    let (id, generation) = key.rsplit_once('.').ok_or_else(bad)?;
    let id: JobId = id.parse().map_err(|_| bad())?;
    let generation: i64 = generation.parse().map_err(|_| bad())?;
    Ok((id, generation))
}

fn until(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Engine {
    /// Activates up to `a.max_jobs` jobs of `a.types`, waiting up to `a.wait` for one when none
    /// is free. Only types in `allowed` are asked for (the caller's; `None`: any).
    pub async fn activate_jobs(&self, a: &Activation) -> Result<Vec<ActivatedJob>, Error> {
        let deadline = tokio::time::Instant::now() + a.wait;
        loop {
            // Registered before looking, so a job written between the look and the wait wakes it.
            let written = self.job_written.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            let now = Utc::now();
            let rows =
                self.store.activate_worker_jobs(&a.worker, Some(&a.types), now, a.max_jobs, until(now, a.lock)).await?;
            if !rows.is_empty() {
                // Their Requests in one read.
                let ids: Vec<RequestId> = rows.iter().map(|r| r.request_id).collect();
                let mut requests: HashMap<RequestId, LoadedRequest> =
                    self.store.load_requests(&ids).await?.into_iter().map(|r| (r.meta.id, r)).collect();
                let mut jobs = Vec::with_capacity(rows.len());
                let mut kept = Vec::with_capacity(rows.len());
                for row in rows {
                    if let Some(job) = self.activated(&row, requests.get(&row.request_id)).await? {
                        jobs.push(job);
                        kept.push(row);
                    }
                }
                let mut per_request: HashMap<RequestId, usize> = HashMap::new();
                for row in &kept {
                    *per_request.entry(row.request_id).or_default() += 1;
                }
                let kept = kept.into_iter().map(|row| {
                    let only = per_request.get(&row.request_id) == Some(&1);
                    let request = if only { requests.remove(&row.request_id) } else { None };
                    HandedOut { row, request }
                });
                self.keep_handed_out(kept, now);
                if !jobs.is_empty() {
                    return Ok(jobs);
                }
                continue;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(Vec::new());
            }
            let _ = tokio::time::timeout(left.min(POLL), written).await;
        }
    }

    /// The job as handed out, with its data read from its Request; `None` (and the job dropped)
    /// when the Request no longer waits on it.
    async fn activated(&self, row: &WorkerJobRow, r: Option<&LoadedRequest>) -> Result<Option<ActivatedJob>, Error> {
        let payload: WorkerJob = serde_json::from_value(row.payload.clone())
            .map_err(|e| Error::BadJob { job: row.id, message: e.to_string() })?;
        let Some(r) = r else {
            self.store.complete_job(row.id).await?;
            return Ok(None);
        };
        let token = TokenId(payload.token);
        if !r.instance.connector_calls().iter().any(|(t, _, at)| *t == token && *at == payload.attempt) {
            self.store.complete_job(row.id).await?;
            return Ok(None);
        }
        let process = self.process(&r.meta.process_key, r.meta.process_version).await?;
        let variables = r.instance.flattened_variables(token);
        let (data, headers) = match process.element_by_id(&payload.element_id).map(|e| &process.element(e).kind) {
            Some(Kind::Task(TaskKind::Connector(call))) => {
                let headers = call.headers.clone();
                if call.inputs.is_empty() && call.computed.is_empty() {
                    (variables, headers)
                } else {
                    // The task's input mapping: its literal inputs as written, its FEEL inputs
                    // evaluated over the variables (a failure leaves that input out, said in it).
                    let mut data = call.inputs.clone();
                    match call.computed_inputs(&variables, as_is) {
                        Ok(values) => {
                            for (target, value) in values {
                                insert_at(&mut data, &target, value);
                            }
                        }
                        Err(message) => {
                            data.insert("_input_error".into(), Value::String(message));
                        }
                    }
                    (data, headers)
                }
            }
            _ => (variables, Map::new()),
        };
        Ok(Some(ActivatedJob {
            key: format!("{}.{}", row.id, row.generation),
            job_type: row.job_type.clone(),
            request_id: row.request_id,
            element_id: row.element_id.clone(),
            data,
            headers,
            retries: row.retries,
            lock_expires_at: row.locked_until.unwrap_or_else(Utc::now),
        }))
    }

    /// Keeps what an activation handed out for the finishing calls, within [`HANDED_OUT_MAX`].
    fn keep_handed_out(&self, jobs: impl Iterator<Item = HandedOut>, now: DateTime<Utc>) {
        let Ok(mut kept) = self.handed_out.lock() else { return };
        for job in jobs {
            if kept.len() >= HANDED_OUT_MAX {
                kept.retain(|_, j| j.row.locked_until.is_some_and(|t| t > now));
                if kept.len() >= HANDED_OUT_MAX {
                    return;
                }
            }
            kept.insert(job.row.id, job);
        }
    }

    /// What this node handed out as activation `generation` of job `id`, taken out. A later
    /// activation's stays for its own calls; an earlier one's is dropped (no call can use it).
    fn take_handed_out(&self, id: JobId, generation: i64) -> Option<HandedOut> {
        let mut kept = self.handed_out.lock().ok()?;
        if kept.get(&id)?.row.generation > generation {
            return None;
        }
        kept.remove(&id).filter(|job| job.row.generation == generation)
    }

    /// The job of `key` held under it for `d` (checked against the caller's `allowed` types).
    async fn hold(&self, key: &str, d: Duration, allowed: &JobTypes) -> Result<WorkerJobRow, Error> {
        let (id, generation) = parse_key(key)?;
        // A type the caller may not take is answered as an unknown job, before anything changes.
        match self.store.worker_job(id).await? {
            Some(row) if allowed.allows(&row.job_type) => {}
            _ => return Err(Error::JobNotFound(key.to_owned())),
        }
        match self.store.hold_worker_job(id, generation, until(Utc::now(), d)).await? {
            Held::Yes(row) => Ok(*row),
            Held::LockLost => Err(Error::JobLockLost(key.to_owned())),
            Held::Gone => Err(Error::JobNotFound(key.to_owned())),
        }
    }

    /// The job of `key` as it is now, if `key` is still its activation (checked against the
    /// caller's `allowed` types): what this node handed out under that key ([`HandedOut`]),
    /// else the job as read. A finishing call then writes its step guarded by the activation
    /// ([`StepCall::generation`]): no write of its own before the step, so completions go into
    /// the store's group commits like any step.
    async fn current(&self, key: &str, allowed: &JobTypes) -> Result<HandedOut, Error> {
        let (id, generation) = parse_key(key)?;
        if let Some(job) = self.take_handed_out(id, generation) {
            return if allowed.allows(&job.row.job_type) { Ok(job) } else { Err(Error::JobNotFound(key.to_owned())) };
        }
        match self.store.worker_job(id).await? {
            Some(row) if !allowed.allows(&row.job_type) => Err(Error::JobNotFound(key.to_owned())),
            Some(row) if row.generation != generation || row.worker.is_none() => {
                Err(Error::JobLockLost(key.to_owned()))
            }
            Some(row) => Ok(HandedOut { row, request: None }),
            None => Err(Error::JobNotFound(key.to_owned())),
        }
    }

    /// Extends the lock of `key` to `lock` from now.
    pub async fn extend_job(&self, key: &str, lock: Duration, allowed: &JobTypes) -> Result<DateTime<Utc>, Error> {
        let row = self.hold(key, lock, allowed).await?;
        if let Ok(mut kept) = self.handed_out.lock()
            && let Some(job) = kept.get_mut(&row.id)
        {
            job.row.locked_until = row.locked_until;
        }
        Ok(row.locked_until.unwrap_or_else(Utc::now))
    }

    /// Completes the job of `key`: its `data` is merged into the Request's and the task moves on.
    pub async fn complete_job(&self, key: &str, data: Data, allowed: &JobTypes) -> Result<(), Error> {
        let job = self.current(key, allowed).await?;
        self.finish(key, job, move |token| Input::JobCompleted { token, data: data.clone() }).await
    }

    /// A BPMN error thrown at the job's task (its error boundary events catch it).
    pub async fn job_error(
        &self,
        key: &str,
        code: String,
        message: Option<String>,
        allowed: &JobTypes,
    ) -> Result<(), Error> {
        let job = self.current(key, allowed).await?;
        self.finish(key, job, move |token| Input::ThrowError { token, code: code.clone(), message: message.clone() })
            .await
    }

    /// A failure: with `retries` left the job may be activated again after `retry_after`; with
    /// none, the Request gets a `connector_failed` incident at the task (a retry of the Request
    /// writes a new job).
    pub async fn fail_job(
        &self,
        key: &str,
        message: String,
        retries: i64,
        retry_after: Duration,
        allowed: &JobTypes,
    ) -> Result<(), Error> {
        if retries > 0 {
            let (id, generation) = parse_key(key)?;
            // The job goes back to the pool: what was handed out serves no later call.
            let _ = self.take_handed_out(id, generation);
            match self.store.worker_job(id).await? {
                Some(row) if allowed.allows(&row.job_type) => {}
                _ => return Err(Error::JobNotFound(key.to_owned())),
            }
            let at = until(Utc::now(), retry_after);
            return match self.store.retry_worker_job(id, generation, retries, at, &message).await? {
                Held::Yes(_) => Ok(()),
                Held::LockLost => Err(Error::JobLockLost(key.to_owned())),
                Held::Gone => Err(Error::JobNotFound(key.to_owned())),
            };
        }
        let job = self.current(key, allowed).await?;
        let message = format!("job worker: {message} (no retries left)");
        self.finish(key, job, move |token| Input::ConnectorFailed { token, message: message.clone() }).await
    }

    /// Steps the job's Request with `input`, the job deleted with the step, if the task still
    /// waits on the job's attempt and the job is still at the caller's activation.
    async fn finish(&self, key: &str, job: HandedOut, input: impl Fn(TokenId) -> Input) -> Result<(), Error> {
        let HandedOut { row, request } = job;
        let payload: WorkerJob = serde_json::from_value(row.payload.clone())
            .map_err(|e| Error::BadJob { job: row.id, message: e.to_string() })?;
        let token = TokenId(payload.token);
        let call = StepCall { generation: Some(row.generation), preloaded: request, ..StepCall::job(Some(row.id)) };
        let gone = || Error::JobNotFound(key.to_owned());
        let stepped = self
            .step_inner(row.request_id, Utc::now(), call, |r| {
                if r.instance.connector_calls().iter().any(|(t, _, at)| *t == token && *at == payload.attempt) {
                    Ok(vec![input(token)])
                } else {
                    Err(gone())
                }
            })
            .await;
        match stepped {
            Ok((Stepped::Applied, _)) => Ok(()),
            Ok((Stepped::Refused(e), _)) => Err(e.into()),
            // Another worker activated the job after the check: its activation is the job's now.
            Err(Error::Store(sluice_store::Error::JobLockLost(_))) => Err(Error::JobLockLost(key.to_owned())),
            Err(Error::Store(sluice_store::Error::JobGone(_))) => Err(gone()),
            Err(Error::JobNotFound(k)) => {
                // The task was left meanwhile: the job means nothing any more.
                self.store.complete_job(row.id).await?;
                Err(Error::JobNotFound(k))
            }
            Err(Error::RequestNotFound(id)) => {
                self.store.complete_job(row.id).await?;
                Err(Error::RequestNotFound(id))
            }
            Err(e) => Err(e),
        }
    }
}

/// No escaping: a worker gets the values as they are.
fn as_is(s: &str) -> std::borrow::Cow<'_, str> {
    std::borrow::Cow::Borrowed(s)
}

/// Puts `value` at the dotted `path` of `map`, making objects on the way.
fn insert_at(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, init)) = path.split_last() else { return };
    let mut at = map;
    for k in init {
        let slot = at.entry(k.clone()).or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else { return };
        at = next;
    }
    at.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_types_read_lists_stars_and_nothing() {
        assert_eq!(JobTypes::parse(""), JobTypes::None);
        assert_eq!(JobTypes::parse(" * "), JobTypes::Any);
        assert_eq!(JobTypes::parse("a, b,,"), JobTypes::Only(vec!["a".into(), "b".into()]));
        assert!(JobTypes::parse("a,b").allows("b"));
        assert!(!JobTypes::parse("a,b").allows("c"));
        assert!(JobTypes::parse("*").allows("anything"));
    }

    #[test]
    fn keys_name_a_job_and_an_activation() {
        let id = JobId::new();
        assert!(matches!(parse_key(&format!("{id}.3")), Ok((k, 3)) if k == id));
        assert!(matches!(parse_key("nope"), Err(Error::JobNotFound(_))));
        assert!(matches!(parse_key(&format!("{id}.x")), Err(Error::JobNotFound(_))));
    }
}
