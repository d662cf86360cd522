//! Every state change: create a Request, or load one, step it and write the result guarded by its
//! revision (with the job that caused it completed in the same transaction), through the
//! group-commit writer.

use chrono::{DateTime, Utc};
use sluice_bpmn::Process;
use sluice_engine::runtime::{Data, TokenId};
use sluice_engine::{HistoryEntry, Input, Instance, Start, StepError};
use sluice_store::{
    JobId, LeaseChange, LoadedRequest, NewEvent, RequestId, RequestRow, StateColumns, WriteOp, WriteResult,
};

use crate::changes::changes_of;
use crate::handoff::LeaseAfter;
use crate::observe::Lifecycle;
use crate::{Engine, Error};
use tracing::Instrument;

/// What became of an input sent to a Request.
pub(crate) enum Stepped {
    Applied,
    /// The Request refused the input (the token no longer waits, the Request ended, …); nothing
    /// was written, and the job that carried it (if any) was dropped.
    Refused(StepError),
}

/// A Request to create (see [`Engine::create`]).
pub(crate) struct Creation<'a> {
    pub(crate) process: &'a Process,
    pub(crate) version: i64,
    pub(crate) data: Data,
    pub(crate) start: Start,
    /// The parent Request and its call activity's token, for a child Request.
    pub(crate) parent: Option<(RequestId, TokenId)>,
    /// The parent's call depth ([`Instance::call_depth`]), for a child Request.
    pub(crate) parent_depth: u32,
    /// The job that caused the creation, completed with it.
    pub(crate) job: Option<JobId>,
    /// Refused ([`Error::StaleVersion`]) by the writer when `version` is no longer the latest.
    pub(crate) require_latest: bool,
    /// Answer the Request as written.
    pub(crate) keep: bool,
    /// The Request's id; a fresh one when `None`. A creation whose id exists is refused
    /// (`RequestExists`): a job that starts a Request under its own id starts it once.
    pub(crate) id: Option<RequestId>,
    /// More jobs to add in the same commit (a timer start cycle's next firing).
    pub(crate) jobs: Vec<sluice_store::NewJob>,
    /// The username of the person who starts it (`started_by`).
    pub(crate) started_by: Option<String>,
}

impl<'a> Creation<'a> {
    /// A Request of `process` (`version`) started at `start`; nothing else asked.
    pub(crate) fn new(process: &'a Process, version: i64, data: Data, start: Start) -> Self {
        Creation {
            process,
            version,
            data,
            start,
            parent: None,
            parent_depth: 0,
            job: None,
            require_latest: false,
            keep: false,
            id: None,
            jobs: Vec::new(),
            started_by: None,
        }
    }
}

/// How [`Engine::step_inner`] steps a Request, besides the inputs.
pub(crate) struct StepCall {
    /// The job that carries the inputs, completed with the step.
    pub(crate) job: Option<JobId>,
    /// Drop the job when the Request refuses every input.
    pub(crate) drop_refused: bool,
    /// The Request as the caller just read it, used for the first try.
    pub(crate) preloaded: Option<LoadedRequest>,
    /// For a handed-off run that holds the Request's lease: whether it runs its last job.
    pub(crate) run_last: Option<bool>,
    /// The job is the last of its Request's in a claimed batch, which holds the Request's lease:
    /// the step lets the lease go (unless a handed-off run holds it too), so the batch need not
    /// write the Request's row again to release it.
    pub(crate) batch_last: bool,
    /// History events the caller adds to the step (a connector call's template warnings).
    pub(crate) events: Vec<HistoryEntry>,
    /// The username of the person whose call this is (`completed_by` of the tasks it completes).
    pub(crate) actor: Option<String>,
    /// A job worker's call: the activation (generation) of `job` it names; the step is written
    /// only while the job is still at it ([`sluice_store::Changes::job_guard`]).
    pub(crate) generation: Option<i64>,
}

impl StepCall {
    /// A step for `job` (if any) that drops the job when refused.
    pub(crate) fn job(job: Option<JobId>) -> Self {
        StepCall {
            job,
            drop_refused: true,
            preloaded: None,
            run_last: None,
            batch_last: false,
            events: Vec::new(),
            actor: None,
            generation: None,
        }
    }
}

impl Engine {
    /// Starts and stores a Request; the job that caused it (if any) is completed with it. Answers
    /// the Request as written when it was asked to be kept or its connector jobs were handed off.
    pub(crate) async fn create(
        &self,
        creation: Creation<'_>,
        now: DateTime<Utc>,
    ) -> Result<(RequestId, Option<LoadedRequest>), Error> {
        // Trace only (the `sluice_trace` target stays out of the logs): a Request's first step.
        let span = tracing::info_span!(
            target: "sluice_trace",
            "start",
            process = %creation.process.key,
            version = creation.version,
            request_id = tracing::field::Empty,
        );
        self.create_in(creation, now, &span).instrument(span.clone()).await
    }

    async fn create_in(
        &self,
        creation: Creation<'_>,
        now: DateTime<Utc>,
        span: &tracing::Span,
    ) -> Result<(RequestId, Option<LoadedRequest>), Error> {
        let Creation {
            process,
            version,
            data,
            start,
            parent,
            parent_depth,
            job,
            require_latest,
            keep,
            id,
            jobs,
            started_by,
        } = creation;
        let mut out = Vec::new();
        let decisions = self.decisions_for(process).await?;
        let instance = if parent.is_some() {
            Instance::start_called_with(process, &decisions, data, parent_depth, now, &mut out)?
        } else {
            Instance::start_with(process, &decisions, data, start, started_by.clone(), now, &mut out)?
        };
        let id = id.unwrap_or_default();
        span.record("request_id", tracing::field::display(id));
        let mut changes = changes_of(process, id, &out, now, parent.is_some(), &self.registry);
        let workers = has_worker_jobs(&changes);
        changes.jobs_added.extend(jobs);
        changes.actor = started_by.clone();
        // notify.rs hook: the notifications of this creation commit with it.
        changes.jobs_added.extend(self.notification_jobs(process, id, true, &changes.events, &[], None, now).await?);
        if let Some(job) = job {
            changes.complete_job(job);
        }
        let plan = self.plan(id, &changes, now, None, false);
        let wake = self.needs_wake(&changes, now, &plan);
        let lifecycle = Lifecycle::of(&changes.events, &out, process);
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
        crate::gate::enter()?;
        let written = self.writer.write(op).await?;
        if matches!(written, WriteResult::Created { .. }) {
            lifecycle.committed(&process.key, version, id, true);
            if wake {
                self.wake.notify_one();
            }
        }
        if workers && matches!(written, WriteResult::Created { .. }) {
            self.job_written.notify_waiters();
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
            started_by,
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

    pub(crate) async fn step(
        &self,
        id: RequestId,
        job: Option<JobId>,
        now: DateTime<Utc>,
        inputs: impl FnMut(&LoadedRequest) -> Result<Vec<Input>, Error>,
    ) -> Result<Stepped, Error> {
        Ok(self.step_inner(id, now, StepCall::job(job), inputs).await?.0)
    }

    /// Loads the Request, applies the inputs, writes the result guarded by the revision (with the
    /// job completed in the same transaction); on a conflict, reloads and does it again.
    ///
    /// When the Request refuses every input nothing is written; the job is dropped if
    /// `drop_refused`. A missing Request counts as refusing ([`StepError::Ended`]).
    ///
    /// Connector jobs the step creates are handed off when they can be (see [`Engine::plan`];
    /// `run_last` for a handed-off run), and the answer says where the lease was left.
    pub(crate) async fn step_inner(
        &self,
        id: RequestId,
        now: DateTime<Utc>,
        call: StepCall,
        inputs: impl FnMut(&LoadedRequest) -> Result<Vec<Input>, Error>,
    ) -> Result<(Stepped, LeaseAfter), Error> {
        // Trace only (the `sluice_trace` target stays out of the logs): one step of a Request.
        let span = tracing::info_span!(target: "sluice_trace", "step", request_id = %id);
        self.step_in(id, now, call, inputs).instrument(span).await
    }

    async fn step_in(
        &self,
        id: RequestId,
        now: DateTime<Utc>,
        call: StepCall,
        mut inputs: impl FnMut(&LoadedRequest) -> Result<Vec<Input>, Error>,
    ) -> Result<(Stepped, LeaseAfter), Error> {
        let StepCall { job, drop_refused, mut preloaded, run_last, batch_last, events, actor, generation } = call;
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
            let decisions = self.decisions_for(&process).await?;
            let mut out = Vec::new();
            let mut applied = 0;
            let mut refusal = None;
            let open_before: Vec<u32> = r.instance.incidents().iter().map(|i| i.id.0).collect();
            // A task's completion may carry a decision, which its Slack messages then show.
            let mut approved = None;
            for input in inputs(&r)? {
                if let sluice_engine::Input::CompleteTask { data, .. } = &input {
                    approved = data.get("approved").and_then(serde_json::Value::as_bool).or(approved);
                }
                match r.instance.step_with(&process, &decisions, input, now, &mut out) {
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
            let mut changes = changes_of(&process, id, &out, now, r.meta.parent.is_some(), &self.registry);
            if r.instance.status() != sluice_engine::Status::Active {
                // A finished Request's incidents go with it: their rows are deleted by this step.
                let open_now = r.instance.incidents().iter().map(|i| i.id.0);
                let mut gone: Vec<u32> = open_before.iter().copied().chain(open_now).collect();
                gone.sort_unstable();
                gone.dedup();
                gone.retain(|i| !changes.incidents_resolved.contains(i));
                changes.incidents_resolved.extend(gone);
            }
            let workers = has_worker_jobs(&changes);
            changes.actor = actor.clone();
            // Recorded before what the step did (the call's warnings come from rendering its inputs).
            let extra = events.iter().map(|e| NewEvent::new(e.element_id.clone(), e.event.clone(), now));
            changes.events.splice(0..0, extra);
            // notify.rs hook: the notifications of this step commit with it.
            let completed: Vec<u32> = changes
                .tasks_closed
                .iter()
                .filter(|t| t.status == sluice_store::TaskStatus::Completed)
                .map(|t| t.token.0)
                .collect();
            let planned =
                self.notification_jobs(&process, id, false, &changes.events, &completed, approved, now).await?;
            changes.jobs_added.extend(planned);
            if let Some(job) = job {
                changes.complete_job(job);
                changes.job_guard = generation.map(|g| (job, g));
            }
            let plan = self.plan(id, &changes, now, run_last, batch_last);
            let wake = self.needs_wake(&changes, now, &plan);
            let releases = matches!(plan.lease, LeaseChange::Release { .. });
            let lifecycle = Lifecycle::of(&changes.events, &out, &process);
            let op = WriteOp::Step {
                request: id,
                expected_revision: r.revision,
                state: StateColumns::of(&r.instance)?,
                changes,
                lease: plan.lease,
            };
            crate::gate::enter()?;
            let written = self.writer.write(op).await?;
            if matches!(written, WriteResult::Applied { .. }) {
                lifecycle.committed(&r.meta.process_key, r.meta.process_version, id, false);
            }
            // A step that did not get the lease left the jobs it meant to hand off in the table.
            if let WriteResult::Applied { leased, .. } = written
                && (wake || (!leased && plan.handed.is_some()))
            {
                self.wake.notify_one();
            }
            if workers && matches!(written, WriteResult::Applied { .. }) {
                self.job_written.notify_waiters();
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
        // A suspended Request's job waits with its other jobs until it is resumed.
        if e == StepError::Suspended
            && let Some(job) = job
        {
            self.store.hold_job(job, chrono::Utc::now()).await?;
            return Ok(Stepped::Refused(e));
        }
        if drop_job && let Some(job) = job {
            self.store.complete_job(job).await?;
        }
        Ok(Stepped::Refused(e))
    }
}

/// Whether a change writes jobs for external workers (whose activations wait for them).
fn has_worker_jobs(changes: &sluice_store::Changes) -> bool {
    changes.jobs_added.iter().any(|j| j.kind == sluice_store::JobKind::Worker)
}
