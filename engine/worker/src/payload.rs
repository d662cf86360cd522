//! The payloads of outbox jobs, typed: written by [`crate::changes`] when a step plans a job and
//! read back by the job's handler. Serialized only at the store's edge (the `jobs.payload`
//! column). The notification job's payload is [`crate::Notification`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_engine::runtime::Data;
use sluice_store::JobRow;

/// `connector`: run a connector task's call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectorJob {
    pub token: u32,
    pub element_id: String,
    pub attempt: u32,
    /// `<request>:<element>:<attempt>:<job>`: stable across redeliveries of this job, new for
    /// each runtime attempt and each time a loop re-enters the element.
    pub idempotency_key: String,
}

/// `worker`: a service task's job for external workers (see `job_workers.rs`). The store reads
/// `job_type` and `retries` into their columns when it inserts the row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerJob {
    pub token: u32,
    pub element_id: String,
    /// The runtime's attempt at the task: a completion applies only while the task still waits on
    /// this attempt.
    pub attempt: u32,
    pub job_type: String,
    /// The retries the job starts with.
    pub retries: i64,
}

/// `timer`: fire a timer subscription.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimerJob {
    pub subscription: u32,
    pub element_id: String,
}

/// `message`: deliver a message thrown by a Request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageJob {
    pub name: String,
    #[serde(default)]
    pub correlation_key: Option<String>,
    #[serde(default)]
    pub data: Data,
    /// A kept message (a publish's time to live) handed on to a subscription: until when (Unix
    /// milliseconds) it is kept again if the subscription went away before it arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// `signal`: broadcast a signal thrown by a Request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignalJob {
    pub name: String,
    #[serde(default)]
    pub data: Data,
}

/// `timer_start`: start a Request through a timer start event of a deployed version (the job
/// belongs to no Request; see `timers.rs`). The store reads `process_key` to replace these jobs
/// when a new version is deployed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimerStartJob {
    pub process_key: String,
    pub version: i64,
    pub element_id: String,
    /// Which firing this is, from 0 (a cycle's firings are numbered; other timers fire once).
    pub firing: u32,
    /// When the timer was armed: the deployment of the version; durations and cycles without a
    /// start date count from it.
    pub armed_at: DateTime<Utc>,
}

/// `start_child`: start the called process of a call activity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartChildJob {
    pub token: u32,
    pub element_id: String,
    pub process_key: String,
    #[serde(default)]
    pub data: Data,
}

/// `cancel_child`: cancel the child Request of a call activity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CancelChildJob {
    pub token: u32,
}

/// `child_error`: a called Request ended with an uncaught error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChildErrorJob {
    pub code: String,
    #[serde(default)]
    pub message: Option<String>,
}

/// `child_escalation`: a called Request threw an escalation nobody caught.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChildEscalationJob {
    pub code: String,
}

/// `child_done`: a called Request completed (its data is read from its row when the job runs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChildDoneJob {}

/// The JSON of a payload for the job row.
pub(crate) fn to_value(payload: &impl Serialize) -> Value {
    // These types serialize to JSON objects without fail (string keys, no non-finite floats
    // outside `Data`, which is JSON already).
    serde_json::to_value(payload).unwrap_or(Value::Null)
}

/// A job's payload as its type, or an error naming the job.
pub(crate) fn read<T: serde::de::DeserializeOwned>(job: &JobRow) -> Result<T, crate::Error> {
    T::deserialize(&job.payload).map_err(|e| crate::Error::BadJob { job: job.id, message: e.to_string() })
}
