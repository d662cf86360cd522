//! Call activities: starting child Requests, canceling them, and stepping the parent with a
//! child's result.
//!
//! Cancel is final: canceling a Request cancels every Request below it, and a canceled tree
//! grows no more.
//!
//! - Durable, level by level: a Request's cancel writes a `cancel_child` job per call token in
//!   its own commit; each job cancels its child in the child's commit, which writes the child's
//!   own `cancel_child` jobs. A crash anywhere leaves the rest of the work in the outbox.
//! - No new children: the store refuses a child's creation once its parent or any Request
//!   further up has finished ([`sluice_store::Error::ParentEnded`], checked in the creating
//!   transaction), so a whole tree stops growing when its root's cancel commits; the
//!   `start_child` job is then dropped.
//! - A child is created only by the transaction that deletes its `start_child` job, with that
//!   job's row locked ([`sluice_store::Error::JobGone`] otherwise): one child per job, and a
//!   job seen gone means its child, if any, is there to see.
//! - A creation that read its callers just before their cancel committed (PostgreSQL, another
//!   node) still commits: the parent's `cancel_child` job waits while the token's `start_child`
//!   job exists ([`sluice_store::CallChild::Starting`]) instead of finding no child and
//!   dropping, and cancels the child once it is there.

use chrono::{DateTime, Utc};
use sluice_engine::{Input, Start};
use sluice_store::{CallChild, JobKind, JobRow, RequestId};

use crate::jobs::job_token;
use crate::payload::{self, ChildErrorJob, ChildEscalationJob, StartChildJob};
use crate::write::Creation;
use crate::{Engine, Error};

impl Engine {
    pub(crate) async fn start_child(&self, job: &JobRow, now: DateTime<Utc>) -> Result<(), Error> {
        let (Some(parent), Some(token)) = (job.request_id, job_token(job)) else { return self.drop_job(job).await };
        // The call activity may have been left since (the parent canceled, interrupted).
        let parent_depth = match self.store.load_request(parent).await {
            Ok(r) if r.instance.calls().iter().any(|(t, _)| *t == token) => r.instance.call_depth(),
            Ok(_) | Err(sluice_store::Error::RequestNotFound(_)) => return self.drop_job(job).await,
            Err(e) => return Err(e.into()),
        };
        let StartChildJob { process_key: key, data, .. } = payload::read(job)?;
        let started = match self.latest_version(&key).await {
            Ok(version) => {
                let process = self.process(&key, version).await?;
                let creation = Creation::new(&process, version, data, Start::Default);
                let child = Creation { parent: Some((parent, token)), parent_depth, job: Some(job.id), ..creation };
                self.create(child, now).await
            }
            Err(e) => Err(e),
        };
        match started {
            Ok(_) => Ok(()),
            // The parent (or a Request further up) ended since we read it: no child.
            Err(Error::Store(sluice_store::Error::ParentEnded(_))) => self.drop_job(job).await,
            // Another run of this job created the child or dropped the job meanwhile.
            Err(Error::Store(sluice_store::Error::JobGone(_))) => Ok(()),
            Err(
                e @ (Error::ProcessNotFound(_)
                | Error::Start(_)
                | Error::Store(sluice_store::Error::ProcessSuspended(_))),
            ) => {
                let input = Input::ChildError { token, code: "call_failed".into(), message: Some(e.to_string()) };
                self.step_job(parent, job, now, input).await
            }
            Err(e) => Err(e),
        }
    }

    /// `cancel_child`: cancels the unfinished child of the job's call token, in the child's
    /// commit (with the child's own `cancel_child` jobs). While the token's `start_child` job is
    /// still in the outbox the child may yet be created, so the job is given back, due again after
    /// the backoff, instead of being dropped (see the module documentation).
    pub(crate) async fn cancel_child(&self, job: &JobRow, now: DateTime<Utc>) -> Result<(), Error> {
        let (Some(parent), Some(token)) = (job.request_id, job_token(job)) else { return self.drop_job(job).await };
        match self.store.call_child(parent, token.0).await? {
            CallChild::Running(child) => {
                self.step(child, Some(job.id), now, |_| Ok(vec![Input::Cancel])).await?;
                Ok(())
            }
            CallChild::Starting => {
                let at = now + self.options.backoff.delay(job.attempts, 0.0);
                tracing::debug!(job = %job.id, %parent, token = token.0, "cancel_child waits for the child's start");
                self.store.release_job(job.id, "waiting for the call's start_child job", at).await?;
                Ok(())
            }
            CallChild::None => self.drop_job(job).await,
        }
    }

    /// `child_done`, `child_error`, `child_escalation`: the job belongs to the child; step its parent.
    pub(crate) async fn child_result(&self, job: &JobRow, now: DateTime<Utc>) -> Result<(), Error> {
        match self.child_input(job).await? {
            Some((parent, input)) => self.step_job(parent, job, now, input).await,
            None => self.drop_job(job).await,
        }
    }

    /// The parent and the input a child's result job brings it; `None` when the child or its
    /// parent link is gone.
    pub(crate) async fn child_input(&self, job: &JobRow) -> Result<Option<(RequestId, Input)>, Error> {
        let Some(child) = job.request_id else { return Ok(None) };
        let r = match self.store.load_request(child).await {
            Ok(r) => r,
            Err(sluice_store::Error::RequestNotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some((parent, token)) = r.meta.parent else { return Ok(None) };
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
        Ok(Some((parent, input)))
    }
}
