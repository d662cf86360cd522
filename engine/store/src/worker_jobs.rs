//! Jobs for external workers (`JobKind::Worker`, issue 17): rows of the `jobs` table that the
//! node's own outbox never claims (their `due_at` is [`PARKED`]) and that workers activate over
//! HTTP by type instead.
//!
//! A worker job is written by the step that reaches its task, in the same transaction, like any
//! outbox job (`batch.rs` calls [`insert_worker_job`]); it is deleted by the step that its
//! completion, failure with no retries left or BPMN error causes (`JobRemoval::Job`), or by the
//! step that leaves the task another way (`JobRemoval::Connector`). Activation, extension and a
//! failure with retries left are the writes here; none of them changes a Request.
//!
//! Each activation counts one more `attempts`: that number is the activation's *generation*, and
//! every later call of the worker names it. A call whose generation is no longer the job's (the
//! lock ran out and another worker activated the job) changes nothing: its caller lost the lock.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::Error;
use crate::changes::NewJob;
use crate::db::{Conn, args};
use crate::jobs::PARKED;
use crate::store::{Store, parse_id, parse_json};
use crate::types::{JobId, RequestId, from_millis, millis};

/// What `locked_by` holds for a job a worker activated: `worker:` and the worker's name, so that
/// no node name (whose locks the heartbeat extends) is ever mistaken for it.
const LOCK_PREFIX: &str = "worker:";

const COLUMNS: &str = "id, request_id, token, element_id, job_type, retries, attempts, locked_by, locked_until, payload, created_at, last_error";

/// A worker job as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerJobRow {
    pub id: JobId,
    pub request_id: RequestId,
    pub token: u32,
    pub element_id: String,
    pub job_type: String,
    /// The retries left (a failure names the new count).
    pub retries: i64,
    /// The activation's generation: how many times the job was activated.
    pub generation: i64,
    /// The worker holding it, if it was ever activated (also after its lock ran out).
    pub worker: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    /// The message of the last failure.
    pub last_error: Option<String>,
}

/// What a call naming an activation found.
#[derive(Clone, Debug, PartialEq)]
pub enum Held {
    /// The activation is still the job's: the call was applied.
    Yes(Box<WorkerJobRow>),
    /// The job was activated again since (its lock ran out): the call changed nothing.
    LockLost,
    /// No such job (done, or its task was left).
    Gone,
}

fn row(r: &crate::db::DbRow) -> Result<WorkerJobRow, Error> {
    let token = r.int("token")?;
    Ok(WorkerJobRow {
        id: parse_id("job id", &r.text("id")?)?,
        request_id: parse_id("job request id", &r.text("request_id")?)?,
        token: u32::try_from(token).map_err(|_| Error::corrupt("job token", token))?,
        element_id: r.text("element_id")?,
        job_type: r.text("job_type")?,
        retries: r.int("retries")?,
        generation: r.int("attempts")?,
        worker: r.opt_text("locked_by")?.map(|w| w.strip_prefix(LOCK_PREFIX).unwrap_or(&w).to_owned()),
        locked_until: r.opt_int("locked_until")?.map(|t| from_millis("job locked_until", t)).transpose()?,
        payload: parse_json("job payload", &r.text("payload")?)?,
        created_at: from_millis("job created_at", r.int("created_at")?)?,
        last_error: r.opt_text("last_error")?,
    })
}

/// Inserts a worker job of Request `rid` (called by the batch writer). Its type and first retries
/// are the payload's `job_type` and `retries` (written by the worker's `payload.rs`).
pub(crate) async fn insert_worker_job(c: &mut Conn<'_>, rid: &str, j: &NewJob, at: i64) -> Result<(), Error> {
    let job_type = j.payload.get("job_type").and_then(Value::as_str).unwrap_or_default();
    let retries = j.payload.get("retries").and_then(Value::as_i64).unwrap_or(0);
    let payload = serde_json::to_string(&j.payload).map_err(|e| Error::Serialize { what: "job payload", source: e })?;
    c.execute(
        "INSERT INTO jobs (id, request_id, kind, token, element_id, due_at, payload, created_at, job_type, retries, available_at)
         VALUES ($1, $2, 'worker', $3, $4, $5, $6, $7, $8, $9, $10)",
        args![
            j.id.to_string(),
            rid,
            j.token.map(|t| i64::from(t.0)),
            j.element_id.as_deref(),
            millis(PARKED),
            payload,
            at,
            job_type,
            retries,
            millis(j.due_at),
        ],
    )
    .await?;
    Ok(())
}

impl Store {
    /// Activates up to `max` worker jobs of `types` (every type when `types` is `None`) that are
    /// available at `now` (their back-off is over) and not held (never activated, or their lock
    /// ran out) for `worker` until `until`, oldest first, each with a new generation. On
    /// PostgreSQL the candidates are locked `FOR UPDATE SKIP LOCKED`, so several nodes (and
    /// concurrent activations) never hand out one job twice; on SQLite the write lock does it.
    pub async fn activate_worker_jobs(
        &self,
        worker: &str,
        types: Option<&[String]>,
        now: DateTime<Utc>,
        max: u32,
        until: DateTime<Utc>,
    ) -> Result<Vec<WorkerJobRow>, Error> {
        if max == 0 || types.is_some_and(|t| t.is_empty()) {
            return Ok(Vec::new());
        }
        let mut a = args![millis(now), i64::from(max), format!("{LOCK_PREFIX}{worker}"), millis(until)];
        let type_test = match types {
            None => "job_type IS NOT NULL".to_owned(),
            Some(types) => {
                let mut list = Vec::with_capacity(types.len());
                for t in types {
                    a.push(t.as_str().into());
                    list.push(format!("${}", a.len()));
                }
                format!("job_type IN ({})", list.join(", "))
            }
        };
        let mut tx = self.begin_write().await?;
        let lock = if tx.conn().is_postgres() { " FOR UPDATE SKIP LOCKED" } else { "" };
        let free = "available_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)";
        let sql = format!(
            "UPDATE jobs SET locked_by = $3, locked_until = $4, attempts = attempts + 1
             WHERE id IN (SELECT id FROM jobs WHERE {type_test} AND {free}
                          ORDER BY available_at, id LIMIT $2{lock})
               AND {free}
             RETURNING {COLUMNS}"
        );
        let rows = tx.conn().fetch_all(&sql, a).await?;
        tx.commit().await?;
        let mut jobs = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by_key(|j| (j.created_at, j.id));
        Ok(jobs)
    }

    /// The worker job `id`, if it is there.
    pub async fn worker_job(&self, id: JobId) -> Result<Option<WorkerJobRow>, Error> {
        let mut tx = self.begin_read().await?;
        let r = tx
            .conn()
            .fetch_optional(
                &format!("SELECT {COLUMNS} FROM jobs WHERE id = $1 AND kind = 'worker'"),
                args![id.to_string()],
            )
            .await?;
        r.as_ref().map(row).transpose()
    }

    /// Holds activation `generation` of job `id` until `until` (a worker extending its lock, or a
    /// completion keeping others off while it steps the Request). Applied only while the
    /// activation is the job's latest: a lock that ran out still counts while nobody took the job.
    pub async fn hold_worker_job(&self, id: JobId, generation: i64, until: DateTime<Utc>) -> Result<Held, Error> {
        let mut tx = self.begin_write().await?;
        let r = tx
            .conn()
            .fetch_optional(
                &format!(
                    "UPDATE jobs SET locked_until = $3 WHERE id = $1 AND kind = 'worker' AND attempts = $2
                     AND locked_by IS NOT NULL RETURNING {COLUMNS}"
                ),
                args![id.to_string(), generation, millis(until)],
            )
            .await?;
        let held = match r {
            Some(r) => Held::Yes(Box::new(row(&r)?)),
            None => self.why_not_held(&mut tx, id).await?,
        };
        tx.commit().await?;
        Ok(held)
    }

    /// A failure with retries left: activation `generation` of job `id` lets go of the job, which
    /// may be activated again from `available_at` with `retries` left; `message` is kept.
    pub async fn retry_worker_job(
        &self,
        id: JobId,
        generation: i64,
        retries: i64,
        available_at: DateTime<Utc>,
        message: &str,
    ) -> Result<Held, Error> {
        let mut tx = self.begin_write().await?;
        let r = tx
            .conn()
            .fetch_optional(
                &format!(
                    "UPDATE jobs SET locked_by = NULL, locked_until = NULL, retries = $3, available_at = $4,
                            last_error = $5, ended = ended + 1
                     WHERE id = $1 AND kind = 'worker' AND attempts = $2 AND locked_by IS NOT NULL
                     RETURNING {COLUMNS}"
                ),
                args![id.to_string(), generation, retries, millis(available_at), message],
            )
            .await?;
        let held = match r {
            Some(r) => Held::Yes(Box::new(row(&r)?)),
            None => self.why_not_held(&mut tx, id).await?,
        };
        tx.commit().await?;
        Ok(held)
    }

    async fn why_not_held(&self, tx: &mut crate::db::Tx, id: JobId) -> Result<Held, Error> {
        let there = tx
            .conn()
            .fetch_optional("SELECT id FROM jobs WHERE id = $1 AND kind = 'worker'", args![id.to_string()])
            .await?;
        Ok(if there.is_some() { Held::LockLost } else { Held::Gone })
    }

    /// How many worker jobs of each type wait to be activated (available and not held) at `now`.
    pub async fn waiting_worker_jobs(&self, now: DateTime<Utc>) -> Result<Vec<(String, i64)>, Error> {
        let mut tx = self.begin_read().await?;
        let rows = tx
            .conn()
            .fetch_all(
                "SELECT job_type, COUNT(*) AS n FROM jobs WHERE job_type IS NOT NULL AND available_at <= $1
                 AND (locked_until IS NULL OR locked_until <= $1) GROUP BY job_type ORDER BY job_type",
                args![millis(now)],
            )
            .await?;
        rows.iter().map(|r| Ok((r.text("job_type")?, r.int("n")?))).collect()
    }
}
