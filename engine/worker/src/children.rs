//! Call activities: starting child Requests, and stepping the parent with a child's result.

use chrono::{DateTime, Utc};
use sluice_engine::{Input, Start};
use sluice_store::{JobKind, JobRow, RequestId};

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
            Err(e @ (Error::ProcessNotFound(_) | Error::Start(_))) => {
                let input = Input::ChildError { token, code: "call_failed".into(), message: Some(e.to_string()) };
                self.step_job(parent, job, now, input).await
            }
            Err(e) => Err(e),
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
