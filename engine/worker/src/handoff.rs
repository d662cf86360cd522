//! Handoff: connector jobs a write creates, due at once, are run by the node that wrote them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use chrono::{DateTime, Utc};
use sluice_store::{Changes, JobKind, JobRow, LeaseChange, LoadedRequest, RequestId};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::Engine;

/// The state of handoff: connector jobs a write creates, due at once, are claimed in that write
/// (with the Request's lease) and run by this node straight away, from the state it just wrote,
/// instead of waiting in the job table for a worker to claim them, load the Request and lease it.
/// The rows are the same as for any claimed job, so a crash loses nothing: once the lease lapses,
/// any node's worker takes the jobs over.
pub(crate) struct Handoff {
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
pub(crate) struct Plan {
    pub(crate) lease: LeaseChange,
    /// The jobs to run when the lease was taken, and the permit to run them with.
    pub(crate) handed: Option<(OwnedSemaphorePermit, Vec<JobRow>)>,
}

/// Where a write left the lease of the Request it stepped (for the run that held it).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum LeaseAfter {
    /// Untouched: still held (or never held).
    Held,
    /// Let go by the write.
    Released,
    /// A new run took the Request's new jobs (and holds the lease).
    Passed,
}

impl Engine {
    /// Whether a write of `changes` leaves jobs due by `now` for the worker, besides those `plan`
    /// hands off.
    pub(crate) fn needs_wake(&self, changes: &Changes, now: DateTime<Utc>, plan: &Plan) -> bool {
        let handed: &[JobRow] = plan.handed.as_ref().map_or(&[], |(_, jobs)| jobs.as_slice());
        // Worker jobs are for external workers (see `job_workers.rs`), not this node's loop.
        changes
            .jobs_added
            .iter()
            .any(|j| j.kind != JobKind::Worker && j.due_at <= now && !handed.iter().any(|h| h.id == j.id))
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

    /// What a write of `changes` to Request `id` does to its lease: with handoff on and a permit
    /// free, it takes the lease and claims the connector jobs due by `now`; else a run that holds
    /// the lease (`run_last`: a handed-off run at its last job; `batch_last`: a claimed batch at
    /// the Request's last job) lets go of it when no other run holds it.
    pub(crate) fn plan(
        &self,
        id: RequestId,
        changes: &Changes,
        now: DateTime<Utc>,
        run_last: Option<bool>,
        batch_last: bool,
    ) -> Plan {
        let handoff = self.handoff.get();
        let release = || {
            // Handed-off runs holding this Request's lease (the one asking among them).
            let runs = match handoff {
                Some(h) => h.running.lock().map(|r| r.get(&id).copied().unwrap_or(0)).ok(),
                None => Some(0),
            };
            let last = runs.is_some_and(|n| (run_last == Some(true) && n <= 1) || (batch_last && n == 0));
            if last {
                Plan { lease: LeaseChange::Release { node: self.options.node_id.clone() }, handed: None }
            } else {
                Plan { lease: LeaseChange::Keep, handed: None }
            }
        };
        let Some(h) = handoff else { return release() };
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
                ended: 0,
                last_error: None,
                unconfirmed: false,
                locked_by: Some(node.clone()),
                locked_until: Some(jobs_until),
            })
            .collect();
        let ids = jobs.iter().map(|j| j.id).collect();
        Plan { lease: LeaseChange::Take { node, now, until, jobs_until, jobs: ids }, handed: Some((permit, jobs)) }
    }

    /// Runs handed-off jobs of one Request on a task of their own.
    pub(crate) fn spawn_run(
        &self,
        permit: OwnedSemaphorePermit,
        r: LoadedRequest,
        jobs: Vec<JobRow>,
        now: DateTime<Utc>,
    ) {
        let Some(h) = self.handoff.get() else { return };
        let Some(engine) = h.engine.upgrade() else { return };
        let id = r.meta.id;
        if let Ok(mut running) = h.running.lock() {
            *running.entry(id).or_default() += 1;
        }
        // The run's job spans are children of the step that handed the jobs off (its trace).
        let parent = tracing::Span::current();
        tokio::spawn(async move { engine.run_handed_off(permit, r, jobs, now, parent).await });
    }

    /// One Request's handed-off jobs, in order, the first from the state its write left; then the
    /// Request's lease is let go (in the last step when it can be, else here) unless another run
    /// of this node holds it.
    pub(crate) async fn run_handed_off(
        self: Arc<Self>,
        permit: OwnedSemaphorePermit,
        r: LoadedRequest,
        jobs: Vec<JobRow>,
        written: DateTime<Utc>,
        parent: tracing::Span,
    ) {
        let id = r.meta.id;
        let mut first = Some(r);
        let n = jobs.len();
        let mut after = LeaseAfter::Held;
        for (i, job) in jobs.into_iter().enumerate() {
            // The write's time, or later: a run is not meant to go back in time.
            let now = written.max(Utc::now());
            after = match self
                .run_connector(&job, now, first.take(), Some(i + 1 == n))
                .instrument(crate::jobs::job_span_in(&job, &parent))
                .await
            {
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
    pub(crate) fn running(&self, id: &RequestId) -> bool {
        self.handoff.get().and_then(|h| h.running.lock().ok().map(|r| r.contains_key(id))).unwrap_or(false)
    }
}
