//! Messages and signals: delivery to subscriptions, and Requests started by message and signal
//! start events.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sluice_bpmn::{ElementIdx, Kind, Process, ScopeIdx, Trigger};
use sluice_engine::runtime::Data;
use sluice_engine::{Input, Start};
use sluice_store::{JobId, RequestId};

use crate::write::{Creation, StepCall, Stepped};
use crate::{Engine, Error};

/// What a signal reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Broadcast {
    /// Requests started by a signal start event.
    pub started: Vec<RequestId>,
    /// Waiting Requests that caught it (a catch event or a boundary event), each once.
    pub stepped: Vec<RequestId>,
}

impl Engine {
    /// Delivers a message to the oldest matching subscription; else starts a Request at a message
    /// start event of that name (latest versions); else drops it.
    pub(crate) async fn deliver_message(
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
            let call = StepCall { drop_refused: false, ..StepCall::job(job) };
            match self.step_inner(sub.request_id, now, call, |_| Ok(vec![input.clone()])).await?.0 {
                Stepped::Applied => return Ok(vec![sub.request_id]),
                Stepped::Refused(_) => continue,
            }
        }
        let starts = self.start_events(|t| matches!(t, Trigger::Message(m) if m.name == name)).await?;
        if let Some((process, version, element)) = starts.into_iter().next() {
            let creation = Creation::new(&process, version, data, Start::Event(element));
            let (id, _) = self.create(Creation { job, ..creation }, now).await?;
            return Ok(vec![id]);
        }
        // Unmatched: dropped, nothing recorded (no buffering yet).
        if let Some(job) = job {
            self.store.complete_job(job).await?;
        }
        Ok(Vec::new())
    }

    /// Broadcasts a signal (thrown by a Request, or sent from outside through the API): every
    /// open signal subscription of that name (catch and boundary events of waiting Requests) gets
    /// it, then every signal start event of that name (latest versions) starts a Request.
    pub async fn broadcast_signal(&self, name: &str, data: Data, now: DateTime<Utc>) -> Result<Broadcast, Error> {
        let mut reached = Broadcast::default();
        for sub in self.store.signal_subscriptions(name).await? {
            let input = Input::SignalReceived { subscription: sub.subscription, data: data.clone() };
            if let Stepped::Applied = self.step(sub.request_id, None, now, |_| Ok(vec![input.clone()])).await?
                && !reached.stepped.contains(&sub.request_id)
            {
                reached.stepped.push(sub.request_id);
            }
        }
        for (process, version, element) in self.start_events(|t| matches!(t, Trigger::Signal(n) if n == name)).await? {
            match self.create(Creation::new(&process, version, data.clone(), Start::Event(element)), now).await {
                Ok((id, _)) => reached.started.push(id),
                Err(Error::Start(e)) => tracing::warn!(process = %process.key, error = %e, "signal start failed"),
                Err(e) => return Err(e),
            }
        }
        Ok(reached)
    }

    /// Start events of the latest version of every executable process whose trigger matches.
    pub(crate) async fn start_events(
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
}
