//! What the API asks of the engine: start Requests, complete tasks, publish messages, cancel,
//! retry and repair.

use chrono::{DateTime, Utc};
use sluice_engine::runtime::Data;
use sluice_engine::runtime::IncidentId;
use sluice_engine::{Input, Modification, Start, StartAt};
use sluice_store::{IndexedIncident, LoadedRequest, RequestId, TaskId, TaskStatus};

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
            Stepped::Refused(sluice_engine::StepError::Suspended) => Err(sluice_engine::StepError::Suspended.into()),
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
        Ok(self.deliver_message(name, correlation_key, data, None, None, now).await?.0)
    }

    /// Cancels a Request (and, through `cancel_child` jobs, its children).
    pub async fn cancel(&self, id: RequestId, now: DateTime<Utc>) -> Result<(), Error> {
        match self.step(id, None, now, |_| Ok(vec![Input::Cancel])).await? {
            Stepped::Applied => Ok(()),
            Stepped::Refused(e) => Err(e.into()),
        }
    }

    /// Suspends a Request (`suspend`) or resumes it: while suspended it takes no input but
    /// resume and cancel, and its jobs (timers, connector calls, job worker jobs) wait.
    pub async fn suspend(
        &self,
        id: RequestId,
        suspend: bool,
        actor: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let input = if suspend { Input::Suspend } else { Input::Resume };
        let call = StepCall { actor, ..StepCall::job(None) };
        match self.step_inner(id, now, call, |_| Ok(vec![input.clone()])).await?.0 {
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

    /// Changes a Request's data with a JSON merge patch (see [`Input::PatchData`]), recorded in
    /// its history with `actor`. A finished Request is refused
    /// ([`sluice_engine::StepError::Ended`]).
    pub async fn patch_data(
        &self,
        id: RequestId,
        patch: Data,
        actor: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let by = actor.clone();
        let call = StepCall { actor, ..StepCall::job(None) };
        let input = Input::PatchData { patch, by };
        match self.step_inner(id, now, call, |_| Ok(vec![input.clone()])).await?.0 {
            Stepped::Applied => Ok(()),
            Stepped::Refused(e) => Err(e.into()),
        }
    }

    /// Retries one open incident of a Request (`incident`: its number within the Request).
    pub async fn retry_incident(&self, id: RequestId, incident: u32, now: DateTime<Utc>) -> Result<(), Error> {
        let input = Input::Retry { incident: IncidentId(incident) };
        match self.step(id, None, now, |_| Ok(vec![input.clone()])).await? {
            Stepped::Applied => Ok(()),
            Stepped::Refused(e) => Err(e.into()),
        }
    }

    /// Indexes the incidents opened before the store kept them as rows (schema 25), once per
    /// database: Requests with open incidents and no incident rows, 200 at a time. Returns how
    /// many Requests it indexed. Runs at start, before the worker steps anything.
    pub async fn index_open_incidents(&self) -> Result<u64, Error> {
        const DONE: &str = "incidents_indexed";
        if self.store.setting(DONE).await?.is_some() {
            return Ok(0);
        }
        let mut indexed = 0;
        let mut seen = std::collections::HashSet::new();
        loop {
            let ids: Vec<RequestId> =
                self.store.unindexed_incident_requests(200).await?.into_iter().filter(|id| seen.insert(*id)).collect();
            if ids.is_empty() {
                break;
            }
            for r in self.store.load_requests(&ids).await? {
                let process = self.process(&r.meta.process_key, r.meta.process_version).await?;
                let rows: Vec<IndexedIncident> = r
                    .instance
                    .incidents()
                    .iter()
                    .map(|i| IndexedIncident {
                        incident: i.id.0,
                        element_id: process
                            .elements
                            .get(i.element.index())
                            .map_or_else(|| format!("#{}", i.element.index()), |e| e.id.clone()),
                        token: i.token.0,
                        code: i.code.clone(),
                        message: i.message.clone(),
                    })
                    .collect();
                let at = r.meta.updated_at;
                if self.store.index_incidents(r.meta.id, r.revision, &r.meta.process_key, at, &rows).await? {
                    indexed += 1;
                }
            }
        }
        self.store.set_setting(DONE, "1").await?;
        Ok(indexed)
    }

    /// Repairs a Request (see [`Repair`]) in one step through the revision-guarded write path:
    /// every change or none. An element id not in the Request's version is refused
    /// ([`Error::Invalid`]), as is a change the model's rules do not allow
    /// ([`sluice_engine::StepError::Refused`]) or a finished Request
    /// ([`sluice_engine::StepError::Ended`]).
    pub async fn modify(
        &self,
        id: RequestId,
        repair: Repair,
        actor: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        if repair.cancel.is_empty() && repair.start_before.is_empty() && repair.start_after.is_empty() {
            return Err(Error::Invalid(
                "the repair changes nothing: give `cancel`, `start_before` or `start_after`".to_string(),
            ));
        }
        let r = match self.store.load_request(id).await {
            Ok(r) => r,
            Err(sluice_store::Error::RequestNotFound(_)) => return Err(Error::RequestNotFound(id)),
            Err(e) => return Err(e.into()),
        };
        let version = r.meta.process_version;
        let process = self.process(&r.meta.process_key, version).await?;
        let lookup = |e: &str| {
            process.element_by_id(e).ok_or_else(|| {
                Error::Invalid(format!("`{e}` is not an element of process `{}` version {version}", process.key))
            })
        };
        let starts = |list: &[(String, Data)]| -> Result<Vec<StartAt>, Error> {
            list.iter().map(|(e, data)| Ok(StartAt { element: lookup(e)?, data: data.clone() })).collect()
        };
        let modification = Modification {
            cancel: repair.cancel.iter().map(|e| lookup(e)).collect::<Result<_, _>>()?,
            start_before: starts(&repair.start_before)?,
            start_after: starts(&repair.start_after)?,
            allow_join: repair.allow_join,
        };
        let call = StepCall { actor, preloaded: Some(r), ..StepCall::job(None) };
        let stepped = self
            .step_inner(id, now, call, |r| {
                // Migrated meanwhile: the element ids were resolved against another version.
                if r.meta.process_version != version {
                    return Err(Error::Busy(id));
                }
                Ok(vec![Input::Modify(Box::new(modification.clone()))])
            })
            .await?
            .0;
        match stepped {
            Stepped::Applied => Ok(()),
            Stepped::Refused(e) => Err(e.into()),
        }
    }
}

/// An operator's repair of one Request by element ids: cancel the tokens at `cancel`, start a
/// token before (it enters the element) or after (it takes the outgoing flows) each element
/// with the data set in its scope; `allow_join` lets a token start before a joining gateway.
#[derive(Clone, Debug, Default)]
pub struct Repair {
    pub cancel: Vec<String>,
    pub start_before: Vec<(String, Data)>,
    pub start_after: Vec<(String, Data)>,
    pub allow_join: bool,
}
