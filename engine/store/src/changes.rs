//! What one state change of a Request writes besides its new state.
//!
//! A [`Changes`] is applied by the store in this order, inside the Request's transaction:
//! 1. `jobs_removed`, `subscriptions_closed`, `tasks_closed`, `incidents_resolved` (rows written by
//!    earlier steps);
//! 2. `tasks_created`, `subscriptions_opened`, `jobs_added`, `incidents_raised`;
//! 3. `events`, numbered in order after the Request's new revision.
//!
//! The worker translates the runtime's commands into a `Changes` (netting out what opens and
//! closes within the same step, so that this fixed order gives the same result as replaying the
//! commands one by one); the store only writes it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sluice_engine::runtime::{SubscriptionId, TokenId};
use sluice_engine::{HistoryEntry, HistoryEvent, TaskAssignment};

use crate::types::{EventId, JobId, JobKind, SubscriptionKind, TaskId, TaskStatus};

/// A history event to append.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub id: EventId,
    pub at: DateTime<Utc>,
    pub element_id: Option<String>,
    pub event: HistoryEvent,
}

impl NewEvent {
    /// An event recorded outside a step (see [`Store::record_notification`](crate::Store::record_notification)).
    pub fn new(element_id: Option<String>, event: HistoryEvent, at: DateTime<Utc>) -> Self {
        NewEvent { id: EventId::new(), at, element_id, event }
    }
}

/// A user or manual task row to insert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTask {
    pub id: TaskId,
    pub token: TokenId,
    pub element_id: String,
    pub name: Option<String>,
    /// `Active`, or `Canceled` when the task was canceled within the same step.
    pub status: TaskStatus,
    /// The key of the Request's process (tasks are listed by it).
    pub process_key: String,
    /// Who the task is for and when it is due, as the model's assignment evaluated.
    pub assignment: TaskAssignment,
    pub documentation: Option<String>,
}

/// Closes the active task of a token, if it has one.
///
/// Closing with `Completed` also records a `task_completed` event (with the task's id) placed
/// before `events[event_index]`: only the store knows whether the token had an open task (the
/// body token of a multi-instance user task completes the same element without one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskClose {
    pub token: TokenId,
    pub status: TaskStatus,
    pub event_index: usize,
}

// Shares its fields with `JobRow` (types.rs), which is the row as read back: that one also has
// the Request, the lock and the attempts, which a job to insert does not have yet.
/// A job for the worker, committed with the state change (the outbox).
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    pub id: JobId,
    pub kind: JobKind,
    pub due_at: DateTime<Utc>,
    pub subscription: Option<SubscriptionId>,
    pub token: Option<TokenId>,
    pub element_id: Option<String>,
    pub payload: Value,
}

/// A job that is no longer wanted, or done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobRemoval {
    /// A job by id, of any Request: the worker marks the job it handled as done in the same
    /// transaction as the step it caused (a fired timer, a delivered message, a child's result).
    Job(JobId),
    /// This Request's timer job of a subscription.
    Timer(SubscriptionId),
    /// This Request's connector job of a token.
    Connector(TokenId),
}

/// A message or signal subscription row to insert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSubscription {
    pub subscription: SubscriptionId,
    pub kind: SubscriptionKind,
    pub element_id: String,
    pub name: String,
    pub correlation_key: Option<String>,
}

/// An incident the step opened: a row of `incidents` while it stays open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIncident {
    /// Its number within the Request.
    pub incident: u32,
    /// The key of the Request's process (incidents are listed by it).
    pub process_key: String,
    pub element_id: String,
    pub token: TokenId,
    pub code: String,
    pub message: String,
}

/// A migration's change to the Request row and to the rows that name its elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migrated {
    /// The Request's new process version.
    pub version: i64,
    /// Elements whose id changed (old, new): its open tasks, jobs and incidents follow.
    pub renamed: Vec<(String, String)>,
}

/// Everything one state change writes besides the Request row itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Changes {
    /// When the change happened: the Request's `updated_at` (and `created_at` on creation).
    pub at: DateTime<Utc>,
    pub events: Vec<NewEvent>,
    pub tasks_created: Vec<NewTask>,
    pub tasks_closed: Vec<TaskClose>,
    pub jobs_added: Vec<NewJob>,
    pub jobs_removed: Vec<JobRemoval>,
    pub subscriptions_opened: Vec<NewSubscription>,
    pub subscriptions_closed: Vec<SubscriptionId>,
    /// Incidents opened by this step (rows written unless the Request finished).
    pub incidents_raised: Vec<NewIncident>,
    /// Incidents resolved by this step that an earlier step opened.
    pub incidents_resolved: Vec<u32>,
    /// The step moved the Request to another version of its process (a migration).
    pub migrated: Option<Migrated>,
    /// The step suspended (`Some(true)`: its jobs are held) or resumed (`Some(false)`: given
    /// back) the Request.
    pub suspension: Option<bool>,
    /// The username of the person whose call caused this change: the Request's `started_by` on a
    /// creation, and the `completed_by` of the tasks it completes. `None` for the engine's own
    /// changes (jobs, timers, messages).
    pub actor: Option<String>,
    /// A job worker's completion: the step applies only while this job is still at this
    /// activation (generation) and held by a worker, checked with the job's row locked in the
    /// step's transaction; otherwise nothing is written ([`crate::Error::JobLockLost`],
    /// [`crate::Error::JobGone`]).
    pub job_guard: Option<(JobId, i64)>,
}

impl Changes {
    /// Nothing but the time of the change.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            at,
            events: Vec::new(),
            tasks_created: Vec::new(),
            tasks_closed: Vec::new(),
            jobs_added: Vec::new(),
            jobs_removed: Vec::new(),
            subscriptions_opened: Vec::new(),
            subscriptions_closed: Vec::new(),
            incidents_raised: Vec::new(),
            incidents_resolved: Vec::new(),
            migrated: None,
            suspension: None,
            actor: None,
            job_guard: None,
        }
    }

    /// Appends a history event at this change's time.
    pub fn record(&mut self, entry: HistoryEntry) {
        // A change's events have consecutive ids, which its history row stores once (history.rs).
        let id = self.events.last().and_then(|e| e.id.next()).unwrap_or_else(EventId::first_of_run);
        self.events.push(NewEvent { id, at: self.at, element_id: entry.element_id, event: entry.event });
    }

    /// Marks a job as done within this change (it is deleted in the same transaction).
    pub fn complete_job(&mut self, job: JobId) {
        self.jobs_removed.push(JobRemoval::Job(job));
    }
}
