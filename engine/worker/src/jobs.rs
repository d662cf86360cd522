//! The job worker: claiming due jobs with their Requests' leases, running them by kind, and the
//! heartbeat that keeps the leases alive.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_engine::Input;
use sluice_engine::runtime::TokenId;
use sluice_store::{JobKind, JobRow, LoadedRequest, RequestId};
use tracing::Instrument;

use crate::handoff::LeaseAfter;
use crate::payload::{self, MessageJob, SignalJob};
use crate::write::StepCall;
use crate::{Engine, Error};

/// The span of one job's run: every log line of it carries the Request's and element's ids.
pub(crate) fn job_span(job: &JobRow) -> tracing::Span {
    job_span_in(job, &tracing::Span::current())
}

/// [`job_span`] as a child of `parent` (the step that handed the job off).
pub(crate) fn job_span_in(job: &JobRow, parent: &tracing::Span) -> tracing::Span {
    let request_id = job.request_id.map(|r| r.to_string()).unwrap_or_default();
    let element_id = job.element_id.as_deref().unwrap_or("");
    tracing::info_span!(parent: parent, "job", request_id, element_id, kind = %job.kind, job_id = %job.id)
}

/// How many runs of a claimed job were cut short: its attempts that never ended, but the one
/// that just claimed it.
pub(crate) fn crashes(job: &JobRow) -> i64 {
    (job.attempts - job.ended - 1).max(0)
}

/// The token a job is about (its column, else its payload).
pub(crate) fn job_token(job: &JobRow) -> Option<TokenId> {
    job.token
        .or_else(|| job.payload.get("token").and_then(Value::as_u64).and_then(|t| u32::try_from(t).ok()).map(TokenId))
}

impl Engine {
    /// Claims the jobs due at `now` (up to `limit`) and runs them one after the other; returns how
    /// many were handled. A job whose handling fails on a database or model error is given back,
    /// due again after a backoff, and logged; the others still run.
    ///
    /// Only jobs of Requests this node holds a lease on, or can take one on (none, or expired),
    /// run: the claim skips jobs of Requests another live node holds, and the leases of the
    /// claimed jobs' Requests are taken in the same write (until `now + request_lease`); a job whose Request
    /// another node took in between is given back untouched (still due, no attempt counted).
    pub async fn run_due_jobs(&self, now: DateTime<Utc>, limit: u32) -> Result<usize, Error> {
        // The heartbeat keeps the claims of jobs in flight (and their Requests' leases) alive.
        let lease = self.options.job_lease;
        let node = self.options.node_id.as_str();
        self.sweep_kept_messages(now).await?;
        // The jobs and their Requests' leases in one write (a failure leaves neither taken).
        let until = now + chrono::Duration::from_std(self.options.request_lease).unwrap_or(chrono::Duration::MAX);
        let (jobs, held) = self.store.claim_jobs_leased(node, now, limit, lease, until).await?;
        let m = sluice_store::metrics::engine_metrics();
        m.count(&m.jobs_claimed, jobs.len() as u64);
        // Jobs of one Request run one after the other, in due order; different Requests' jobs run
        // side by side, so their steps share commits (group commit).
        let mut groups: Vec<Vec<JobRow>> = Vec::new();
        let mut group_of: HashMap<RequestId, usize> = HashMap::new();
        let mut crashed = Vec::new();
        for job in jobs {
            if let Some(r) = job.request_id
                && held.binary_search(&r).is_err()
            {
                // Another node took this Request between our claim and our lease: its job.
                self.store.unclaim_job(job.id, node).await?;
                continue;
            }
            if crashes(&job) >= i64::from(self.options.max_job_crashes.max(1)) {
                crashed.push(job);
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
        // The Requests of connector and timer jobs, read at once (each job would read its own
        // otherwise: a query per timer, which bounded how many timers a second fired).
        let wanted: Vec<RequestId> = groups
            .iter()
            .filter_map(|g| g.first())
            .filter(|j| matches!(j.kind, JobKind::Connector | JobKind::Timer))
            .filter_map(|j| j.request_id)
            .collect();
        let mut loaded: HashMap<RequestId, LoadedRequest> =
            self.store.load_requests(&wanted).await?.into_iter().map(|r| (r.meta.id, r)).collect();
        let runs = groups.into_iter().map(|group| {
            let first = group.first().and_then(|j| j.request_id).and_then(|r| loaded.remove(&r));
            self.run_group(group, first, now)
        });
        let mut handled = futures_util::future::join_all(runs).await;
        for job in crashed {
            handled.push(self.give_up_crashed(&job, now).await.map(|()| (1, None)));
        }
        // This batch's Requests are free again for whichever node claims their next jobs (but
        // those whose new jobs this node runs now: their runs let go when they end; and those
        // whose last step let go already).
        let released: std::collections::HashSet<RequestId> =
            handled.iter().filter_map(|h| h.as_ref().ok().and_then(|(_, r)| *r)).collect();
        let held: Vec<RequestId> = held.into_iter().filter(|r| !self.running(r) && !released.contains(r)).collect();
        if let Err(e) = self.store.release_request_leases(node, &held).await {
            tracing::warn!(error = %e, "cannot release Request leases; they run out by themselves");
        }
        let mut total = 0;
        for h in handled {
            total += h?.0;
        }
        Ok(total)
    }

    /// Runs one Request's claimed jobs in order; a job that fails is given back with a backoff.
    /// Returns how many ran, and the Request if its last step let go of its lease.
    async fn run_group(
        &self,
        jobs: Vec<JobRow>,
        mut first: Option<LoadedRequest>,
        now: DateTime<Utc>,
    ) -> Result<(usize, Option<RequestId>), Error> {
        let mut handled = 0;
        let mut released = None;
        let alone = jobs.len() == 1;
        for job in jobs {
            // The preloaded Request serves the first job only; later ones read what it wrote.
            let span = job_span(&job);
            let result = match (first.take(), job.kind) {
                (Some(r), JobKind::Connector) => {
                    self.run_connector(&job, now, Some(r), None).instrument(span).await.map(drop)
                }
                // A Request's only timer in the batch: its step also lets go of the lease.
                (Some(r), JobKind::Timer) => match self.fire_timer(&job, now, Some(r), alone).instrument(span).await {
                    Ok(LeaseAfter::Released) => {
                        released = job.request_id;
                        Ok(())
                    }
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                },
                _ => self.run_job(&job, now).instrument(span).await,
            };
            match result {
                Ok(()) => handled += 1,
                Err(e) => {
                    let m = sluice_store::metrics::engine_metrics();
                    m.count(&m.jobs_failed, 1);
                    tracing::warn!(job = %job.id, kind = %job.kind, error = %e, "job failed; it will be tried again");
                    let at = now + self.options.backoff.delay(job.attempts, 0.0);
                    self.store.release_job(job.id, &e.to_string(), at).await?;
                }
            }
        }
        Ok((handled, released))
    }

    /// The crash-loop guard: `job` was started [`crashes`] times without finishing (the process
    /// died each time), so it is not run again. A job a Request waits on becomes an incident of
    /// that Request, which a retry runs again: a connector call fails with `connector_failed`; a
    /// timer or a child's result is parked behind a `job_crashed` incident ([`Input::Park`]);
    /// a child that could not be started is a `call_failed` error of the call activity. A job of
    /// no Request (a message, a signal, a timer start) or a notification is parked in the job
    /// table with the reason, and logged.
    async fn give_up_crashed(&self, job: &JobRow, now: DateTime<Utc>) -> Result<(), Error> {
        let message = format!(
            "the `{}` job was started {} times and the server stopped each time before it finished \
             (SLUICE_MAX_JOB_CRASHES = {}): it is not run again by itself; retry to run it once more",
            job.kind,
            crashes(job),
            self.options.max_job_crashes.max(1)
        );
        tracing::error!(job = %job.id, kind = %job.kind, request = ?job.request_id, "{message}");
        let park = |input: Input| Input::Park { input: Box::new(input), message: message.clone() };
        let target = match (job.kind, job.request_id, job_token(job)) {
            (JobKind::Connector, Some(r), Some(token)) => {
                Some((r, Input::ConnectorFailed { token, message: message.clone() }))
            }
            (JobKind::Timer, Some(r), _) => {
                job.subscription.map(|subscription| (r, park(Input::TimerFired { subscription })))
            }
            (JobKind::StartChild, Some(r), Some(token)) => {
                let input = Input::ChildError { token, code: "call_failed".into(), message: Some(message.clone()) };
                Some((r, input))
            }
            (JobKind::ChildDone | JobKind::ChildError | JobKind::ChildEscalation, _, _) => {
                self.child_input(job).await?.map(|(parent, input)| (parent, park(input)))
            }
            _ => None,
        };
        match target {
            // Completes the job with the step, or drops it if what it was for is gone.
            Some((r, input)) => self.step_job(r, job, now, input).await,
            None => {
                self.store.park_job(job.id, &message).await?;
                Ok(())
            }
        }
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

    pub(crate) async fn run_job(&self, job: &JobRow, now: DateTime<Utc>) -> Result<(), Error> {
        match job.kind {
            JobKind::Timer => self.fire_timer(job, now, None, false).await.map(drop),
            JobKind::Connector => self.run_connector(job, now, None, None).await.map(drop),
            JobKind::Message => {
                let m: MessageJob = payload::read(job)?;
                let keep_until = m.expires_at.and_then(DateTime::from_timestamp_millis);
                self.deliver_message(&m.name, m.correlation_key.as_deref(), m.data, Some(job.id), keep_until, now)
                    .await?;
                Ok(())
            }
            JobKind::Signal => {
                let s: SignalJob = payload::read(job)?;
                self.broadcast_signal(&s.name, s.data, now).await?;
                self.drop_job(job).await
            }
            JobKind::StartChild => self.start_child(job, now).await,
            JobKind::TimerStart => {
                timer_fired(job);
                self.run_timer_start(job, now).await
            }
            JobKind::CancelChild => self.cancel_child(job, now).await,
            JobKind::ChildDone | JobKind::ChildError | JobKind::ChildEscalation => self.child_result(job, now).await,
            // notify.rs hook: deliver, then record `notification_sent`/`notification_failed`.
            JobKind::Notification => self.run_notification(job, now).await,
            // Never due for a node (`job_workers.rs`): left to the external workers.
            JobKind::Worker => Ok(()),
        }
    }

    /// Fires a timer job: steps its Request (`preloaded` when the batch read it already;
    /// `batch_last`: the step lets go of the lease the batch took). Returns where the step left
    /// the Request's lease.
    async fn fire_timer(
        &self,
        job: &JobRow,
        now: DateTime<Utc>,
        preloaded: Option<LoadedRequest>,
        batch_last: bool,
    ) -> Result<LeaseAfter, Error> {
        timer_fired(job);
        let (Some(id), Some(subscription)) = (job.request_id, job.subscription) else {
            self.drop_job(job).await?;
            return Ok(LeaseAfter::Held);
        };
        let input = Input::TimerFired { subscription };
        let call = StepCall { preloaded, batch_last, ..StepCall::job(Some(job.id)) };
        Ok(self.step_inner(id, now, call, |_| Ok(vec![input.clone()])).await?.1)
    }

    pub(crate) async fn drop_job(&self, job: &JobRow) -> Result<(), Error> {
        self.store.complete_job(job.id).await?;
        Ok(())
    }

    /// Steps the job's Request with one input, completing the job with it (or dropping it when
    /// the Request refuses the input).
    pub(crate) async fn step_job(
        &self,
        id: RequestId,
        job: &JobRow,
        now: DateTime<Utc>,
        input: Input,
    ) -> Result<(), Error> {
        self.step(id, Some(job.id), now, |_| Ok(vec![input.clone()])).await?;
        Ok(())
    }
}

/// Counts a timer job that fires, and its lag: when it fires (now, not the claim's time) minus
/// when it was due.
fn timer_fired(job: &JobRow) {
    let m = sluice_store::metrics::engine_metrics();
    m.count(&m.timers_fired, 1);
    let lag = (Utc::now() - job.due_at).num_microseconds().unwrap_or(i64::MAX);
    m.timer_lag.observe(lag as f64 / 1e6);
}
