//! What the API asks of the engine: start Requests, complete tasks, publish messages, cancel and
//! retry.

use chrono::{DateTime, Utc};
use sluice_engine::runtime::Data;
use sluice_engine::{Input, Start};
use sluice_store::{LoadedRequest, RequestId, TaskId, TaskStatus};

use crate::write::{Creation, StepCall, Stepped};
use crate::{Engine, Error};

impl Engine {
    /// Starts a Request of `key` (the latest version unless one is given) through its none start
    /// event.
    pub async fn start_request(
        &self,
        key: &str,
        version: Option<i64>,
        data: Data,
        now: DateTime<Utc>,
    ) -> Result<RequestId, Error> {
        Ok(self.start(key, version, data, None, now, false).await?.0)
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
        self.start_request_by(key, version, data, None, now).await
    }

    /// [`Engine::start_request_loaded`] for a person: the Request records `started_by` (their
    /// username).
    pub async fn start_request_by(
        &self,
        key: &str,
        version: Option<i64>,
        data: Data,
        started_by: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<LoadedRequest, Error> {
        let (id, loaded) = self.start(key, version, data, started_by, now, true).await?;
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
        started_by: Option<String>,
        now: DateTime<Utc>,
        keep: bool,
    ) -> Result<(RequestId, Option<LoadedRequest>), Error> {
        if let Some(version) = version {
            let process = self.process(key, version).await?;
            let creation = Creation { keep, started_by, ..Creation::new(&process, version, data, Start::Default) };
            return self.create(creation, now).await;
        }
        // The latest version as last seen; the writer refuses it if a newer one was deployed
        // since (maybe by another node), and then we look again.
        for _ in 0..=self.options.max_conflict_retries {
            let version = self.latest_version_cached(key).await?;
            let process = self.process(key, version).await?;
            let creation = Creation::new(&process, version, data.clone(), Start::Default);
            let creation = Creation { require_latest: true, keep, started_by: started_by.clone(), ..creation };
            match self.create(creation, now).await {
                Err(Error::StaleVersion) => self.forget_latest(key),
                other => return other,
            }
        }
        Err(Error::VersionsChurning(key.to_string()))
    }

    /// Completes an active user or manual task with `data`.
    pub async fn complete_task(&self, task: TaskId, data: Data, now: DateTime<Utc>) -> Result<(), Error> {
        self.complete_task_by(task, data, None, now).await
    }

    /// [`Engine::complete_task`] for a person: the task records `completed_by` (their username).
    pub async fn complete_task_by(
        &self,
        task: TaskId,
        data: Data,
        completed_by: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let row = self.store.task(task).await?.ok_or(Error::TaskNotFound(task))?;
        if row.status != TaskStatus::Active {
            return Err(Error::TaskNotActive(task));
        }
        let input = Input::CompleteTask { token: row.token, data };
        let call = StepCall { actor: completed_by, ..StepCall::job(None) };
        match self.step_inner(row.request_id, now, call, |_| Ok(vec![input.clone()])).await?.0 {
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
}
