//! Messages and signals: delivery to subscriptions, and Requests started by message and signal
//! start events.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sluice_bpmn::{ElementIdx, Kind, Process, ScopeIdx, Trigger};
use sluice_engine::runtime::Data;
use sluice_engine::{Input, Start};
use sluice_store::{JobId, KeptMessage, RequestId};

use crate::write::{Creation, StepCall, Stepped};
use crate::{Engine, Error};

/// A message to publish (`POST /api/v1/messages`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Publish {
    pub name: String,
    pub correlation_key: Option<String>,
    pub data: Data,
    /// How long the message is kept when nothing takes it now: the first matching subscription
    /// that opens within it gets it. Zero drops it at once.
    pub time_to_live: std::time::Duration,
    /// Makes the publish idempotent: the same id (for the same message name) is published once
    /// while remembered (the time to live, at least [`sluice_store::MESSAGE_ID_MEMORY`]).
    pub message_id: Option<String>,
}

/// What a publish did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// The Requests the message reached now: the one whose subscription took it, or the one a
    /// message start event started.
    pub reached: Vec<RequestId>,
    /// Until when the message is kept, when nothing took it now and it has a time to live.
    pub kept_until: Option<DateTime<Utc>>,
    /// The `message_id` was published before: nothing was done this time.
    pub duplicate: bool,
}

/// How often a node looks for kept messages that a subscription now waits for when it knows of
/// none itself (another node may have kept them).
const KEPT_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The most kept messages one sweep hands on.
const KEPT_SWEEP_BATCH: u32 = 200;

/// The pace of the kept-message sweep.
#[derive(Debug, Default)]
pub(crate) struct KeptSweep {
    /// Messages are kept, as far as this node knows: sweep at every pass of the worker.
    known: bool,
    last: Option<std::time::Instant>,
}

/// What a signal reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Broadcast {
    /// Requests started by a signal start event.
    pub started: Vec<RequestId>,
    /// Waiting Requests that caught it (a catch event or a boundary event), each once.
    pub stepped: Vec<RequestId>,
}

impl Engine {
    /// Publishes a message: delivered at once to the oldest matching subscription, else it starts
    /// a Request at a message start event, else it is kept for its time to live (or dropped).
    pub async fn publish(&self, p: Publish, now: DateTime<Utc>) -> Result<Published, Error> {
        let ttl = chrono::Duration::from_std(p.time_to_live).unwrap_or(chrono::Duration::MAX);
        let keep_until = (!ttl.is_zero()).then(|| now.checked_add_signed(ttl).unwrap_or(DateTime::<Utc>::MAX_UTC));
        if let Some(id) = &p.message_id
            && !self.store.remember_message_id(&p.name, id, keep_until.unwrap_or(now), now).await?
        {
            return Ok(Published { duplicate: true, ..Published::default() });
        }
        let (reached, kept_until) =
            self.deliver_message(&p.name, p.correlation_key.as_deref(), p.data, None, keep_until, now).await?;
        Ok(Published { reached, kept_until, duplicate: false })
    }

    /// This node kept a message: the worker looks for its subscription at every pass until none is
    /// kept.
    pub(crate) fn messages_kept(&self) {
        self.kept_sweep.lock().unwrap_or_else(|e| e.into_inner()).known = true;
        self.wake.notify_one();
    }

    /// Hands kept messages that a subscription now waits for to `message` jobs due now (run by
    /// this same pass of the worker): at every pass while this node knows of kept messages, else
    /// once every [`KEPT_SWEEP_EVERY`].
    pub(crate) async fn sweep_kept_messages(&self, now: DateTime<Utc>) -> Result<(), Error> {
        {
            let mut sweep = self.kept_sweep.lock().unwrap_or_else(|e| e.into_inner());
            let due = sweep.known || sweep.last.is_none_or(|at| at.elapsed() >= KEPT_SWEEP_EVERY);
            if !due {
                return Ok(());
            }
            sweep.last = Some(std::time::Instant::now());
        }
        let (_, kept) = self.store.take_matched_messages(now, KEPT_SWEEP_BATCH).await?;
        self.kept_sweep.lock().unwrap_or_else(|e| e.into_inner()).known = kept > 0;
        Ok(())
    }

    /// Delivers a message to the oldest matching subscription; else starts a Request at a message
    /// start event of that name (latest versions); else keeps it until `keep_until` when that is
    /// later than `now` (the job, if any, hands its message to the buffer), or drops it. Returns
    /// the Requests it reached and until when it is kept.
    pub(crate) async fn deliver_message(
        &self,
        name: &str,
        key: Option<&str>,
        data: Data,
        job: Option<JobId>,
        keep_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<RequestId>, Option<DateTime<Utc>>), Error> {
        for _ in 0..=self.options.max_conflict_retries {
            let Some(sub) = self.store.find_message_subscription(name, key).await? else { break };
            let input = Input::MessageReceived { subscription: sub.subscription, data: data.clone() };
            // Refused: the subscription closed since we found it; look again (without dropping the job).
            let call = StepCall { drop_refused: false, ..StepCall::job(job) };
            match self.step_inner(sub.request_id, now, call, |_| Ok(vec![input.clone()])).await?.0 {
                Stepped::Applied => return Ok((vec![sub.request_id], None)),
                Stepped::Refused(_) => continue,
            }
        }
        let starts = self.start_events(|t| matches!(t, Trigger::Message(m) if m.name == name)).await?;
        // A suspended process starts nothing: the message is kept or dropped as unmatched.
        let suspended = if starts.is_empty() { Default::default() } else { self.store.suspended_processes().await? };
        if let Some((process, version, element)) = starts.into_iter().find(|(p, _, _)| !suspended.contains(&p.key)) {
            let creation = Creation::new(&process, version, data.clone(), Start::Event(element));
            match self.create(Creation { job, ..creation }, now).await {
                Ok((id, _)) => return Ok((vec![id], None)),
                // Suspended since we looked.
                Err(Error::Store(sluice_store::Error::ProcessSuspended(_))) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(until) = keep_until.filter(|until| *until > now) {
            // Kept for its time to live: the worker hands it to the first subscription that opens.
            let kept = KeptMessage {
                name: name.to_string(),
                correlation_key: key.map(str::to_string),
                data: serde_json::Value::Object(data),
                expires_at: until,
            };
            if self.store.keep_message(&kept, job, now).await? {
                self.messages_kept();
            }
            return Ok((Vec::new(), Some(until)));
        }
        // Unmatched and not kept: dropped, nothing recorded.
        if let Some(job) = job {
            self.store.complete_job(job).await?;
        }
        Ok((Vec::new(), None))
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
                // A suspended process starts nothing.
                Err(Error::Store(sluice_store::Error::ProcessSuspended(_))) => {}
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
