//! Timer start events on the server: each timer start event of the latest version of a process is
//! one outbox job ([`JobKind::TimerStart`], no Request), written at deploy together with the new
//! version (replacing the previous version's). When due, the job starts one Request through its
//! start event; for a cycle, that creation also adds the job of the next firing and completes the
//! due one, all in one commit.
//!
//! - `timeDuration`: due once, that long after the deployment.
//! - `timeDate`: due once, at that instant (at once when it is past).
//! - `timeCycle` (`R[n]/interval`, `R[n]/start/interval`, `R[n]/interval/end`): without a start,
//!   the first firing is one interval after the deployment; with one, the first firing due at or
//!   after the deployment. A firing whose due time passed while no worker ran (the server was
//!   down) is not made up for: after a run, the next firing is the first one due at or after it.
//!
//! A job that was already running when a new version was deployed starts nothing: its creation
//! asks for the latest version and is refused. If its creation checked the version just before
//! the deploy committed, it starts the one Request of its due time on the old version and adds
//! the old cycle's next firing, which is then refused and dropped when it comes due.
//!
//! A timer whose value is an expression is not scheduled (a start event has no variables to
//! evaluate it with): the deploy logs a warning.
//!
//! Each due time starts exactly one Request: one node claims the job, and the Request it creates
//! takes the job's id as its own, so a second run of the same job (its claim ran out while the
//! first was still writing) is refused by the store instead of starting another Request.

use chrono::{DateTime, Utc};
use sluice_bpmn::{ElementIdx, Kind, Process, ScopeIdx, Timer, TimerSpec, Trigger};
use sluice_engine::Start;
use sluice_engine::runtime::Data;
use sluice_feel::iso8601::Cycle;
use sluice_store::{JobId, JobKind, JobRow, NewJob, RequestId};

use crate::payload::{self, TimerStartJob};
use crate::write::Creation;
use crate::{Engine, Error};

/// How many firings of a cycle with a start date in the past are stepped over one by one after
/// the estimate (months make the interval uneven).
const MAX_CATCH_UP_STEPS: u32 = 10_000;

/// The timer start events of a process's top level with a fixed timer.
pub(crate) fn timer_starts(p: &Process) -> Vec<(ElementIdx, &TimerSpec)> {
    let mut out = Vec::new();
    for &e in &p.scope(ScopeIdx::ROOT).event_starts {
        match &p.element(e).kind {
            Kind::StartEvent { trigger: Trigger::Timer(Timer::Fixed(spec)), .. } => out.push((e, spec)),
            Kind::StartEvent { trigger: Trigger::Timer(Timer::Expr { .. }), .. } => tracing::warn!(
                process = %p.key,
                element = %p.element(e).id,
                "a timer start event whose timer is an expression is not scheduled"
            ),
            _ => {}
        }
    }
    out
}

/// The first firing (number, due time) of a cycle that is due at or after `now`, from firing
/// `from` on; `armed_at` is when the timer was armed (the deployment).
fn cycle_firing_from(
    c: &Cycle,
    armed_at: DateTime<Utc>,
    from: u32,
    now: DateTime<Utc>,
) -> Option<(u32, DateTime<Utc>)> {
    let mut n = from;
    let first = c.due(armed_at, n)?;
    if first >= now {
        return Some((n, first));
    }
    // Far behind (a start date long past): jump close by the average interval, then step.
    let avg_ms = c.interval.total_months() as f64 * 2_629_746_000.0 + c.interval.total_nanos() as f64 / 1e6;
    if avg_ms > 0.0 {
        let behind = (now - first).num_milliseconds() as f64;
        let jump = (behind / avg_ms).floor() - 1.0;
        if jump >= 1.0 {
            let jump = if jump >= f64::from(u32::MAX) { u32::MAX } else { jump as u32 };
            let candidate = n.saturating_add(jump);
            // Only when the estimate is still behind `now` (else step from where we were).
            if c.due(armed_at, candidate).is_some_and(|t| t < now) {
                n = candidate;
            }
        }
    }
    for _ in 0..MAX_CATCH_UP_STEPS {
        let t = c.due(armed_at, n)?;
        if t >= now {
            return Some((n, t));
        }
        n = n.checked_add(1)?;
    }
    None
}

/// The first firing of a timer start armed at `armed_at` (the deployment).
pub(crate) fn first_firing(spec: &TimerSpec, armed_at: DateTime<Utc>) -> Option<(u32, DateTime<Utc>)> {
    match spec {
        TimerSpec::Duration(d) => d.add_to(armed_at).map(|t| (0, t)),
        TimerSpec::Date(d) => Some((0, *d)),
        TimerSpec::Cycle(c) => cycle_firing_from(c, armed_at, 0, armed_at),
    }
}

/// The firing after `firing`, run at `now`: only cycles have one.
pub(crate) fn next_firing(
    spec: &TimerSpec,
    armed_at: DateTime<Utc>,
    firing: u32,
    now: DateTime<Utc>,
) -> Option<(u32, DateTime<Utc>)> {
    match spec {
        TimerSpec::Cycle(c) => cycle_firing_from(c, armed_at, firing.checked_add(1)?, now),
        TimerSpec::Duration(_) | TimerSpec::Date(_) => None,
    }
}

/// The job of one firing.
pub(crate) fn timer_start_job(
    key: &str,
    version: i64,
    element_id: &str,
    armed_at: DateTime<Utc>,
    (firing, due): (u32, DateTime<Utc>),
) -> NewJob {
    let payload =
        TimerStartJob { process_key: key.to_string(), version, element_id: element_id.to_string(), firing, armed_at };
    NewJob {
        id: JobId::new(),
        kind: JobKind::TimerStart,
        due_at: due,
        subscription: None,
        token: None,
        element_id: Some(element_id.to_string()),
        payload: payload::to_value(&payload),
    }
}

/// The jobs of the first firings of a process version's timer start events, deployed at `now`.
pub(crate) fn first_jobs(p: &Process, version: i64, now: DateTime<Utc>) -> Vec<NewJob> {
    timer_starts(p)
        .into_iter()
        .filter_map(|(e, spec)| {
            let first = first_firing(spec, now)?;
            Some(timer_start_job(&p.key, version, &p.element(e).id, now, first))
        })
        .collect()
}

impl Engine {
    /// Runs a due `timer_start` job: starts one Request through the start event (the job's id is
    /// the Request's), completing the job and adding the cycle's next firing in the same commit.
    pub(crate) async fn run_timer_start(&self, job: &JobRow, now: DateTime<Utc>) -> Result<(), Error> {
        let t: TimerStartJob = payload::read(job)?;
        let process = match self.process(&t.process_key, t.version).await {
            Ok(p) => p,
            Err(Error::Store(sluice_store::Error::ProcessNotFound { .. })) => {
                tracing::warn!(job = %job.id, process = %t.process_key, "timer start of an unknown process dropped");
                return self.drop_job(job).await;
            }
            Err(e) => return Err(e),
        };
        let found = process
            .element_by_id(&t.element_id)
            .and_then(|e| timer_starts(&process).into_iter().find(|(s, _)| *s == e).map(|(_, spec)| (e, spec)));
        let Some((element, spec)) = found else {
            tracing::warn!(job = %job.id, element = %t.element_id, "timer start of an unknown start event dropped");
            return self.drop_job(job).await;
        };
        let next = next_firing(spec, t.armed_at, t.firing, now)
            .map(|f| timer_start_job(&t.process_key, t.version, &t.element_id, t.armed_at, f));
        let creation = Creation {
            id: Some(RequestId(job.id.0)),
            job: Some(job.id),
            require_latest: true,
            jobs: next.iter().cloned().collect(),
            ..Creation::new(&process, t.version, Data::default(), Start::Event(element))
        };
        match self.create(creation, now).await {
            Ok(_) => Ok(()),
            // A newer version was deployed: its own timer starts replaced this one.
            Err(Error::StaleVersion) => self.drop_job(job).await,
            // An earlier run of this job started the Request (and scheduled the next firing).
            Err(Error::Store(sluice_store::Error::RequestExists(_))) => self.drop_job(job).await,
            // A suspended process starts nothing: this firing is skipped, the cycle goes on.
            Err(Error::Store(sluice_store::Error::ProcessSuspended(_))) => {
                tracing::info!(process = %t.process_key, element = %t.element_id, "timer start skipped: the process is suspended");
                self.store.replace_job(job.id, next.as_ref(), now).await?;
                Ok(())
            }
            // The start event refused to start: this firing is lost, the cycle goes on.
            Err(Error::Start(e)) => {
                tracing::warn!(process = %t.process_key, element = %t.element_id, error = %e, "timer start failed");
                self.store.replace_job(job.id, next.as_ref(), now).await?;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
