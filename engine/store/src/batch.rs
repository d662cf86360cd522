//! Group commit: many Requests' writes in one transaction, with multi-row statements.
//!
//! [`Store::write_batch`] is the store's one write path for Requests' creations and steps (the
//! job claims and leases, notification records and pruning are writes of their own, in `jobs.rs`,
//! `notifications.rs` and `store.rs`): one transaction for a whole batch of creations and steps,
//! each kind of row written with a few multi-row statements.
//! [`Store::write_one`] (the fallback of a failed batch) and the one-Request writes
//! (`create_request`, `apply_step`, `apply_steps`) are batches too; a test checks that a batch of
//! many leaves the same rows as batches of one.
//!
//! Why one file of this size: the batch's statements (Requests, tasks, subscriptions, jobs,
//! history, the guards of child creations) fill shared row buffers in one pass over the ops and
//! must run in one fixed order inside one transaction; split, that order would be spread over
//! files that each depend on it.
//!
//! [`Committer`] is the writer task in front of it: callers hand it ops and wait for their
//! outcome; while one batch commits, the next one gathers. One fsync then carries as many state
//! changes as arrived meanwhile, so throughput grows with load while a lone write still commits
//! at once (no timer, no waiting for company). If a batch fails as a whole (a database error),
//! every op of it is written again alone, so one bad op cannot fail the others.
//!
//! Why one file of this size (about 930 lines before its tests): the statements of a batch, their
//! chunking and the two drivers (sqlx on PostgreSQL, the SQLite writer's own connection) must
//! write exactly the same rows; keeping them side by side is what keeps them the same.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use sluice_engine::HistoryEvent;
use sluice_engine::runtime::TokenId;
use tokio::sync::{mpsc, oneshot};

use crate::Error;
use crate::changes::{Changes, JobRemoval};
use crate::db::{Arg, COMMITS, Conn, RawConn, args, raw_script};
use crate::history::{self, StoredEvent};
use crate::store;
use crate::store::{StateColumns, Store, json_text};
use crate::types::{EventId, JobId, JobKind, RequestId, RequestStatus, TaskId, TaskStatus, millis};
use chrono::{DateTime, Utc};

/// The most bind parameters one statement gets (SQLite allows 32,766, PostgreSQL 65,535).
const MAX_PARAMS: usize = 30_000;

/// One write for [`Store::write_batch`], owning its data (it crosses to the writer task).
#[derive(Clone, Debug)]
pub enum WriteOp {
    /// Creates a Request at revision 1 (with a `request_started` event before `changes`' events).
    /// A child (`parent` set) is refused with [`Error::ParentEnded`] when its parent, or a
    /// Request further up its chain of callers, has finished or is gone, and with
    /// [`Error::JobGone`] when the job it completes (its `start_child` job) is no longer in the
    /// outbox: nothing is written.
    Create {
        id: RequestId,
        process_key: String,
        process_version: i64,
        parent: Option<(RequestId, TokenId)>,
        state: StateColumns,
        changes: Changes,
        /// Refuse with [`WriteResult::StaleVersion`] when `process_version` is no longer the
        /// latest version of `process_key` (a newer one was deployed, maybe by another node).
        require_latest: bool,
        /// The Request's lease: [`LeaseChange::Take`] creates it leased, with its handed-off
        /// jobs claimed.
        lease: LeaseChange,
    },
    /// A step of a Request, guarded by its revision.
    Step { request: RequestId, expected_revision: i64, state: StateColumns, changes: Changes, lease: LeaseChange },
}

/// What a write does to its Request's lease (`requests.lease_owner`), so that the node writing
/// a step can run the connector jobs it creates at once, without claiming them through the job
/// table ("handoff"; see the worker's README).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LeaseChange {
    /// Leave the lease as it is.
    #[default]
    Keep,
    /// Take the lease for `node` until `until`, unless another node holds a live one (a
    /// creation always gets it); when taken, the jobs named in `jobs` are inserted claimed by
    /// `node` until `jobs_until`, with their first attempt counted, and the result says
    /// `leased: true`. Otherwise they are inserted unclaimed, for any node's worker.
    Take { node: String, now: DateTime<Utc>, until: DateTime<Utc>, jobs_until: DateTime<Utc>, jobs: Vec<JobId> },
    /// Let go of `node`'s lease (if it still holds it).
    Release { node: String },
}

impl WriteOp {
    fn request(&self) -> RequestId {
        match self {
            WriteOp::Create { id, .. } => *id,
            WriteOp::Step { request, .. } => *request,
        }
    }

    fn lease(&self) -> &LeaseChange {
        match self {
            WriteOp::Create { lease, .. } | WriteOp::Step { lease, .. } => lease,
        }
    }
}

/// What became of one [`WriteOp`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WriteResult {
    /// The Request was created (revision 1); `leased`: with the lease and claims of
    /// [`LeaseChange::Take`].
    Created { leased: bool },
    /// The step was written; the Request is at this revision now. `leased`: the lease of
    /// [`LeaseChange::Take`] was taken and its jobs are claimed.
    Applied { revision: i64, leased: bool },
    /// The Request changed since it was loaded, or is gone: nothing of this op was written.
    Conflict,
    /// A newer version of the process exists: nothing was written (see `require_latest`).
    StaleVersion,
}

impl Store {
    /// Writes one op in a transaction of its own (the fallback of a failed batch, so one bad op
    /// cannot fail the others).
    pub async fn write_one(&self, op: &WriteOp) -> Result<WriteResult, Error> {
        let mut tx = self.begin_write().await?;
        let result = {
            let mut c = tx.conn();
            write_batch(&mut c, std::slice::from_ref(op), &mut []).await?.pop().unwrap_or(Ok(WriteResult::Conflict))?
        };
        tx.commit().await?;
        Ok(result)
    }

    /// Writes `ops` in one transaction, all or nothing: the first op refused for a reason of its
    /// own (an existing Request, an unknown version) rolls the whole batch back and is the error.
    pub(crate) async fn write_all(&self, ops: &[WriteOp]) -> Result<Vec<WriteResult>, Error> {
        let mut tx = self.begin_write().await?;
        let results = {
            let mut c = tx.conn();
            write_batch(&mut c, ops, &mut []).await?.into_iter().collect::<Result<Vec<_>, _>>()?
        };
        tx.commit().await?;
        Ok(results)
    }

    /// Writes many ops in ONE transaction. The outer error is a database failure of the whole
    /// batch (nothing was written); the inner results are each op's own outcome (an op refused
    /// for a reason of its own, like an unknown process version, writes nothing of itself and
    /// does not hold up the others).
    ///
    /// At most one step per Request (the [`Committer`] keeps a second one for the next batch); a
    /// creation whose id exists already, in the database or earlier in the batch, is refused with
    /// [`Error::RequestExists`].
    pub async fn write_batch(&self, ops: &[WriteOp]) -> Result<Vec<Result<WriteResult, Error>>, Error> {
        self.write_prepared(ops, &mut []).await
    }

    /// [`Store::write_batch`] with what the ops' senders prepared (by index; missing ones are
    /// made in the transaction).
    pub(crate) async fn write_prepared(
        &self,
        ops: &[WriteOp],
        prepared: &mut [Prepared],
    ) -> Result<Vec<Result<WriteResult, Error>>, Error> {
        let mut tx = self.begin_write().await?;
        let results = {
            let mut c = tx.conn();
            write_batch(&mut c, ops, prepared).await?
        };
        tx.commit().await?;
        Ok(results)
    }
}

/// The latest version of each key and whether the process is suspended (keys without versions
/// are missing).
async fn latest_versions(c: &mut Conn<'_>, keys: &[&str]) -> Result<HashMap<String, (i64, bool)>, Error> {
    let mut out = HashMap::new();
    for chunk in keys.chunks(1000) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT v.process_key, MAX(v.version) AS version, COUNT(s.process_key) AS suspended
             FROM process_versions v LEFT JOIN suspended_processes s ON s.process_key = v.process_key
             WHERE v.process_key IN ({}) GROUP BY v.process_key",
            marks.join(", ")
        );
        let rows = c.fetch_all(&sql, chunk.iter().map(|k| Arg::from(*k)).collect()).await?;
        for r in rows {
            out.insert(r.text("process_key")?, (r.int("version")?, r.int("suspended")? > 0));
        }
    }
    Ok(out)
}

/// The jobs a change completes (the job that caused it).
fn completed_jobs(changes: &Changes) -> impl Iterator<Item = JobId> + '_ {
    changes.jobs_removed.iter().filter_map(|r| match r {
        JobRemoval::Job(id) => Some(*id),
        _ => None,
    })
}

/// Which of the jobs `ids` are still in the outbox, locked until the end of the transaction on
/// PostgreSQL (SQLite's write lock covers it): a child's creation that completes its
/// `start_child` job commits only while that job exists, so a child is created once per job, and
/// once the job is seen gone, any child it made is seen too ([`Store::call_child`]). Claims and
/// the heartbeat skip locked job rows; rows are locked in id order (`ids` comes sorted). Each
/// present job comes with its generation (`attempts`) and whether a worker holds it, for the
/// steps guarded by a worker's activation ([`Changes::job_guard`]).
async fn lock_jobs(c: &mut Conn<'_>, ids: &[String]) -> Result<HashMap<String, (i64, bool)>, Error> {
    let lock = if c.is_postgres() { " FOR UPDATE" } else { "" };
    let mut present = HashMap::new();
    let mut rest = ids;
    for take in chunk_sizes(ids.len(), MAX_ROWS) {
        let (chunk, tail) = rest.split_at(take);
        rest = tail;
        let sql = format!("SELECT id, attempts, locked_by FROM jobs WHERE id IN ({}) ORDER BY id{lock}", list(1, take));
        for r in c.fetch_all(&sql, chunk.iter().map(|id| Arg::from(id.as_str())).collect()).await? {
            present.insert(r.text("id")?, (r.int("attempts")?, r.opt_text("locked_by")?.is_some()));
        }
    }
    Ok(present)
}

/// How far [`ended_callers`] walks up a chain of callers: deeper than any call-depth limit in use
/// (32 by default); only a cycle of parent links, which the engine never writes, gets there.
const MAX_CALLER_WALK: i64 = 10_000;

/// The Requests among `ids` under which no child may be created: gone, finished, or called
/// (directly or further up) by a finished Request. A Request's caller finishes before it only
/// when that Request is being canceled (its caller canceled it, or left the call), so a whole
/// canceled tree stops growing as soon as its root's cancel commits, not when the cancel has
/// come down to its leaves.
///
/// One statement, so one snapshot on both backends. On SQLite the write lock makes it exact; on
/// PostgreSQL a cancel that commits after this read lets the creation through, and the
/// parent's `cancel_child` job, which waits while the `start_child` job exists
/// ([`Store::call_child`]), cancels that child.
async fn ended_callers(c: &mut Conn<'_>, ids: &[String]) -> Result<HashSet<String>, Error> {
    let mut live: HashMap<String, bool> = HashMap::new();
    let mut rest = ids;
    for take in chunk_sizes(ids.len(), MAX_ROWS) {
        let (chunk, tail) = rest.split_at(take);
        rest = tail;
        let sql = format!(
            "WITH RECURSIVE up (start, parent, status, depth) AS (
                 SELECT id, parent_request_id, status, 0 FROM requests WHERE id IN ({})
                 UNION ALL
                 SELECT up.start, r.parent_request_id, r.status, up.depth + 1
                 FROM up JOIN requests r ON r.id = up.parent
                 WHERE up.depth < {MAX_CALLER_WALK}
             )
             SELECT start, status FROM up",
            list(1, take)
        );
        let rows = c.fetch_all(&sql, chunk.iter().map(|id| Arg::from(id.as_str())).collect()).await?;
        for r in rows {
            let status = r.text("status")?;
            let status = RequestStatus::parse(&status).ok_or_else(|| Error::corrupt("Request status", status))?;
            let unfinished = !status.is_finished();
            *live.entry(r.text("start")?).or_insert(true) &= unfinished;
        }
    }
    Ok(ids.iter().filter(|id| !live.get(*id).copied().unwrap_or(false)).cloned().collect())
}

/// `Ok(None)`: go ahead. Versions of a key are numbered 1, 2, … without gaps.
fn check_version(
    latest: &HashMap<String, (i64, bool)>,
    key: &str,
    version: i64,
    require_latest: bool,
) -> Result<Option<WriteResult>, Error> {
    match latest.get(key) {
        Some(&(_, true)) => Err(Error::ProcessSuspended(key.to_string())),
        Some(&(max, false)) if version >= 1 && version <= max => {
            Ok((require_latest && version < max).then_some(WriteResult::StaleVersion))
        }
        _ => Err(Error::ProcessNotFound { key: key.to_string(), version }),
    }
}

/// The most rows one multi-row statement takes.
const MAX_ROWS: usize = 256;

/// How many of `left` rows the next statement takes: a power of two, at most `cap`. Statements
/// then come in a few sizes only, so each size is prepared once and cached by the connection
/// instead of being parsed again for every batch.
fn chunk_len(left: usize, cap: usize) -> usize {
    let floor_pow = |n: usize| 1usize << (usize::BITS - 1 - n.max(1).leading_zeros());
    floor_pow(left).min(floor_pow(cap.clamp(1, MAX_ROWS)))
}

/// The statement sizes ([`chunk_len`]) that take `rows` rows, at most `cap` each, in order.
fn chunk_sizes(rows: usize, cap: usize) -> impl Iterator<Item = usize> {
    let mut left = rows;
    std::iter::from_fn(move || {
        (left > 0).then(|| {
            let n = chunk_len(left, cap);
            left -= n;
            n
        })
    })
}

/// A placeholder list, made once per shape and kept: statements come in a few shapes (see
/// [`chunk_len`]), and the writer would otherwise format thousands of numbers per batch.
fn shape(key: (bool, usize, usize), make: impl FnOnce() -> String) -> std::sync::Arc<str> {
    type Shapes = std::sync::Mutex<HashMap<(bool, usize, usize), std::sync::Arc<str>>>;
    static SHAPES: std::sync::OnceLock<Shapes> = std::sync::OnceLock::new();
    let mut shapes = SHAPES.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    shapes.entry(key).or_insert_with(|| make().into()).clone()
}

/// `($1,$2,$3),($4,$5,$6),…` for `rows` rows of `cols` placeholders, numbered from 1.
fn values(rows: usize, cols: usize) -> std::sync::Arc<str> {
    shape((true, rows, cols), || {
        let mut s = String::with_capacity(rows * cols * 6);
        for r in 0..rows {
            s.push_str(if r > 0 { ",(" } else { "(" });
            for c in 0..cols {
                let _ = write!(s, "{}${}", if c > 0 { "," } else { "" }, r * cols + c + 1);
            }
            s.push(')');
        }
        s
    })
}

/// `$first,…` for `n` placeholders.
fn list(first: usize, n: usize) -> std::sync::Arc<str> {
    shape((false, first, n), || {
        let mut s = String::with_capacity(n * 6);
        for i in first..first + n {
            let _ = write!(s, "{}${i}", if i > first { "," } else { "" });
        }
        s
    })
}

/// Runs `head VALUES (…), (…) tail` over `rows`, as many statements as the parameter limit needs.
async fn insert_rows(c: &mut Conn<'_>, head: &str, tail: &str, cols: usize, rows: Vec<Vec<Arg>>) -> Result<u64, Error> {
    let mut affected = 0;
    let sizes = chunk_sizes(rows.len(), MAX_PARAMS / cols);
    let mut rows = rows.into_iter();
    for take in sizes {
        let chunk: Vec<Vec<Arg>> = rows.by_ref().take(take).collect();
        let sql = format!("{head} VALUES {}{tail}", values(chunk.len(), cols));
        affected += c.execute(&sql, chunk.into_iter().flatten().collect()).await?;
    }
    Ok(affected)
}

/// Runs `sql` with `{ids}` replaced by a placeholder list, over chunks of `ids`, each chunk's
/// parameters being `extra` followed by the ids.
pub(crate) async fn for_ids(c: &mut Conn<'_>, sql: &str, extra: &[Arg], ids: &[String]) -> Result<(), Error> {
    let mut rest = ids;
    for take in chunk_sizes(ids.len(), MAX_PARAMS - extra.len()) {
        let (chunk, tail) = rest.split_at(take);
        rest = tail;
        let sql = sql.replace("{ids}", &list(extra.len() + 1, take));
        let mut a = extra.to_vec();
        a.extend(chunk.iter().map(|id| Arg::from(id.as_str())));
        c.execute(&sql, a).await?;
    }
    Ok(())
}

/// One applied op, for the shared part of the write.
struct Applied<'a> {
    /// The op's index in the batch.
    op: usize,
    rid: String,
    revision: i64,
    status: RequestStatus,
    changes: &'a Changes,
    /// `request_started` goes first (creations).
    started: Option<(&'a str, i64)>,
    /// The claim of handed-off jobs, when the op took its Request's lease.
    claim: Option<(&'a str, i64, &'a [JobId])>,
}

async fn write_batch(
    c: &mut Conn<'_>,
    ops: &[WriteOp],
    prepared: &mut [Prepared],
) -> Result<Vec<Result<WriteResult, Error>>, Error> {
    let mut results: Vec<Option<Result<WriteResult, Error>>> = (0..ops.len()).map(|_| None).collect();

    // 1. Creations: check the versions once per batch, insert the rows together.
    let keys: Vec<&str> = ops
        .iter()
        .filter_map(|op| match op {
            WriteOp::Create { process_key, .. } => Some(process_key.as_str()),
            WriteOp::Step { .. } => None,
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let latest = if keys.is_empty() { HashMap::new() } else { latest_versions(c, &keys).await? };
    // A child is created only by the transaction that deletes the job that starts it (locked
    // here, so a concurrent run of the same job, or a drop of it, waits or is seen gone) ...
    // The same lock serves the job workers' completions: a step guarded by a job's activation
    // applies only while the job is at that activation.
    let starts: Vec<String> = ops
        .iter()
        .flat_map(|op| {
            let (starting, guard) = match op {
                WriteOp::Create { parent: Some(_), changes, .. } => (Some(completed_jobs(changes)), None),
                WriteOp::Step { changes, .. } => (None, changes.job_guard.map(|(job, _)| job)),
                WriteOp::Create { .. } => (None, None),
            };
            starting.into_iter().flatten().chain(guard)
        })
        .map(|j| j.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let present = if starts.is_empty() { HashMap::new() } else { lock_jobs(c, &starts).await? };
    // ... and only under a parent whose whole ancestry is unfinished: cancel is final.
    let parents: Vec<String> = ops
        .iter()
        .filter_map(|op| match op {
            WriteOp::Create { parent: Some((p, _)), .. } => Some(p.to_string()),
            _ => None,
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let ended = if parents.is_empty() { HashSet::new() } else { ended_callers(c, &parents).await? };
    let mut applied: Vec<Applied<'_>> = Vec::with_capacity(ops.len());
    let mut request_rows = Vec::new();
    let mut created: Vec<(usize, RequestId)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let WriteOp::Create { id, process_key, process_version, parent, state, changes, require_latest, lease } = op
        else {
            continue;
        };
        if parent.is_some()
            && let Some(gone) = completed_jobs(changes).find(|j| !present.contains_key(&j.to_string()))
        {
            results[i] = Some(Err(Error::JobGone(gone)));
            continue;
        }
        if let Some((p, _)) = parent
            && ended.contains(&p.to_string())
        {
            results[i] = Some(Err(Error::ParentEnded(*p)));
            continue;
        }
        match check_version(&latest, process_key, *process_version, *require_latest) {
            Err(e) => {
                results[i] = Some(Err(e));
                continue;
            }
            Ok(Some(r)) => {
                results[i] = Some(Ok(r));
                continue;
            }
            Ok(None) => {}
        }
        let at = millis(changes.at);
        request_rows.push(args![
            id.to_string(),
            process_key.as_str(),
            *process_version,
            state.status.as_str(),
            parent.map(|(r, _)| r.to_string()),
            parent.map(|(_, t)| i64::from(t.0)),
            state.state.as_str(),
            state.data.as_str(),
            1i64,
            at,
            at,
            state.status.is_finished().then_some(at),
            take_owner(lease),
            take_until(lease),
            changes.actor.as_deref(),
            state.positions.as_deref(),
        ]);
        created.push((i, *id));
        applied.push(Applied {
            op: i,
            rid: id.to_string(),
            revision: 1,
            status: state.status,
            changes,
            started: Some((process_key.as_str(), *process_version)),
            claim: take_claim(lease),
        });
    }
    // A Request id that exists already (or twice in the batch) is refused for that op alone.
    let mut inserted: HashMap<String, usize> = HashMap::new();
    let sizes = chunk_sizes(request_rows.len(), MAX_PARAMS / 16);
    let mut rows = request_rows.into_iter();
    for take in sizes {
        let chunk: Vec<Vec<Arg>> = rows.by_ref().take(take).collect();
        let sql = format!(
            "INSERT INTO requests (id, process_key, process_version, status, parent_request_id, parent_token, state,
                                   data, revision, created_at, updated_at, completed_at, lease_owner, lease_until,
                                   started_by, positions)
             VALUES {} ON CONFLICT (id) DO NOTHING RETURNING id",
            values(chunk.len(), 16)
        );
        for r in c.fetch_all(&sql, chunk.into_iter().flatten().collect()).await? {
            *inserted.entry(r.text("id")?).or_default() += 1;
        }
    }
    let mut refused = HashSet::new();
    for (i, id) in created {
        match inserted.get_mut(&id.to_string()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                let leased = matches!(ops[i].lease(), LeaseChange::Take { .. });
                results[i] = Some(Ok(WriteResult::Created { leased }));
            }
            _ => {
                results[i] = Some(Err(Error::RequestExists(id)));
                refused.insert(i);
            }
        }
    }
    applied.retain(|a| !refused.contains(&a.op));

    // 2. Steps: one guarded UPDATE for all, returning the ones that were at their revision (and
    //    who holds their lease now).
    let mut steps: Vec<(usize, RequestId, i64, &StateColumns, &Changes, &LeaseChange)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let WriteOp::Step { request, expected_revision, state, changes, lease } = op else { continue };
        if let Some((job, generation)) = changes.job_guard {
            match present.get(&job.to_string()) {
                None => {
                    results[i] = Some(Err(Error::JobGone(job)));
                    continue;
                }
                // Activated again since, or let go by a failure with retries left.
                Some((g, locked)) if *g != generation || !locked => {
                    results[i] = Some(Err(Error::JobLockLost(job)));
                    continue;
                }
                Some(_) => {}
            }
        }
        steps.push((i, *request, *expected_revision, state, changes, lease));
    }
    let mut written: HashMap<String, Option<String>> = HashMap::new();
    let mut rest = &steps[..];
    for take in chunk_sizes(steps.len(), MAX_PARAMS / 12) {
        let (chunk, tail) = rest.split_at(take);
        rest = tail;
        let mut a = Vec::with_capacity(chunk.len() * 12);
        for (_, request, expected, state, changes, lease) in chunk {
            let at = millis(changes.at);
            let (mode, node, now, until) = match lease {
                LeaseChange::Keep => (0i64, None, None, None),
                LeaseChange::Take { node, now, until, .. } => {
                    (1, Some(node.as_str()), Some(millis(*now)), Some(millis(*until)))
                }
                LeaseChange::Release { node } => (2, Some(node.as_str()), None, None),
            };
            a.extend(args![
                request.to_string(),
                *expected,
                state.state.as_str(),
                state.data.as_str(),
                state.status.as_str(),
                at,
                state.status.is_finished().then_some(at),
                mode,
                node,
                now,
                until,
                state.positions.as_deref(),
            ]);
        }
        // The lease: kept (0); taken (1) unless another node holds a live one; released (2) if
        // still ours. Every SET expression reads the row as it was before the update.
        let sql = format!(
            "WITH v (vid, expected, vstate, vdata, vstatus, vat, vcompleted, vmode, vnode, vnow, vuntil, vpositions)
                 AS (VALUES {})
             UPDATE requests SET state = v.vstate, data = v.vdata, status = v.vstatus, revision = v.expected + 1,
                    positions = v.vpositions,
                    updated_at = v.vat, completed_at = COALESCE(requests.completed_at, v.vcompleted),
                    lease_owner = CASE
                        WHEN v.vmode = 1 AND (requests.lease_owner IS NULL OR requests.lease_owner = v.vnode
                                              OR requests.lease_until < v.vnow) THEN v.vnode
                        WHEN v.vmode = 2 AND requests.lease_owner = v.vnode THEN NULL
                        ELSE requests.lease_owner END,
                    lease_until = CASE
                        WHEN v.vmode = 1 AND (requests.lease_owner IS NULL OR requests.lease_owner = v.vnode
                                              OR requests.lease_until < v.vnow) THEN v.vuntil
                        WHEN v.vmode = 2 AND requests.lease_owner = v.vnode THEN NULL
                        ELSE requests.lease_until END
             FROM v WHERE requests.id = v.vid AND requests.revision = v.expected
             RETURNING id, lease_owner",
            values(chunk.len(), 12)
        );
        for r in c.fetch_all(&sql, a).await? {
            written.insert(r.text("id")?, r.opt_text("lease_owner")?);
        }
    }
    for (i, request, expected, state, changes, lease) in steps {
        let rid = request.to_string();
        if let Some(owner) = written.get(&rid) {
            let leased = match lease {
                LeaseChange::Take { node, .. } => owner.as_deref() == Some(node.as_str()),
                _ => false,
            };
            results[i] = Some(Ok(WriteResult::Applied { revision: expected + 1, leased }));
            applied.push(Applied {
                op: i,
                rid,
                revision: expected + 1,
                status: state.status,
                changes,
                started: None,
                claim: if leased { take_claim(lease) } else { None },
            });
        } else {
            results[i] = Some(Ok(WriteResult::Conflict));
        }
    }

    apply_all(c, &applied, prepared).await?;
    Ok(results.into_iter().map(|r| r.unwrap_or(Ok(WriteResult::Conflict))).collect())
}

fn take_owner(lease: &LeaseChange) -> Option<&str> {
    match lease {
        LeaseChange::Take { node, .. } => Some(node.as_str()),
        _ => None,
    }
}

fn take_until(lease: &LeaseChange) -> Option<i64> {
    match lease {
        LeaseChange::Take { until, .. } => Some(millis(*until)),
        _ => None,
    }
}

fn take_claim(lease: &LeaseChange) -> Option<(&str, i64, &[JobId])> {
    match lease {
        LeaseChange::Take { node, jobs_until, jobs, .. } => Some((node.as_str(), millis(*jobs_until), jobs.as_slice())),
        _ => None,
    }
}

/// A completed task's `task_completed` event: where it goes among the change's events, the task,
/// its element and token (read back from the database by the write).
type CompletedTask = (usize, TaskId, String, TokenId);

/// The history row of a change: how many events and their JSON, in order, with `task_completed`
/// placed where the change completed the task (`None`: no events).
fn history_row(
    started: Option<(&str, i64)>,
    ch: &Changes,
    completed: Vec<CompletedTask>,
) -> Result<Option<(i64, String)>, Error> {
    let at = millis(ch.at);
    let mut events: Vec<StoredEvent<'_>> = Vec::with_capacity(ch.events.len() + 1 + completed.len());
    if let Some((key, version)) = started {
        let event = HistoryEvent::RequestStarted { process_key: key.to_string(), process_version: Some(version) };
        // Just before the step's own events, so they follow on from it.
        let id = ch.events.first().and_then(|e| e.id.prev()).unwrap_or_default();
        events.push(StoredEvent { id, at, element_id: None, event: Cow::Owned(event) });
    }
    let task_completed = |(_, id, element, token): CompletedTask| StoredEvent {
        id: EventId::new(),
        at,
        element_id: Some(Cow::Owned(element)),
        event: Cow::Owned(HistoryEvent::TaskCompleted { task_id: Some(id.to_string()), token: Some(token.0) }),
    };
    let mut completed = completed.into_iter().peekable();
    for (i, e) in ch.events.iter().enumerate() {
        while let Some(t) = completed.next_if(|(idx, ..)| *idx <= i) {
            events.push(task_completed(t));
        }
        events.push(StoredEvent {
            id: e.id,
            at: millis(e.at),
            element_id: e.element_id.as_deref().map(Cow::Borrowed),
            event: Cow::Borrowed(&e.event),
        });
    }
    for t in completed {
        events.push(task_completed(t));
    }
    if events.is_empty() {
        return Ok(None);
    }
    Ok(Some((events.len() as i64, history::batch_text(&events)?)))
}

/// What can be made of an op before it reaches the writer, by the task that hands it over (so
/// that this work runs beside the commit in flight instead of inside the next one).
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    /// The history row, unless the write itself decides part of it (a completed task's id is
    /// read back from the database).
    history: Option<(i64, String)>,
    /// The JSON of each added job's payload, in the order of `changes.jobs_added`.
    job_payloads: Vec<Option<String>>,
}

impl Prepared {
    fn of(op: &WriteOp) -> Result<Prepared, Error> {
        let history = match op {
            WriteOp::Create { process_key, process_version, changes, .. } => {
                history_row(Some((process_key.as_str(), *process_version)), changes, Vec::new())?
            }
            WriteOp::Step { changes, .. } if changes.tasks_closed.is_empty() => history_row(None, changes, Vec::new())?,
            WriteOp::Step { .. } => None,
        };
        let changes = match op {
            WriteOp::Create { changes, .. } | WriteOp::Step { changes, .. } => changes,
        };
        let job_payloads = changes
            .jobs_added
            .iter()
            .map(|j| json_text("job payload", &j.payload).map(Some))
            .collect::<Result<_, _>>()?;
        Ok(Prepared { history, job_payloads })
    }
}

/// Rows a step removes by its Request and a number.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Removal {
    /// The timer job of a subscription.
    Timer,
    /// The connector (or job worker) job of a token.
    Connector,
    /// A subscription.
    Subscription,
}

impl Removal {
    const ALL: [Removal; 3] = [Removal::Timer, Removal::Connector, Removal::Subscription];

    /// The statement for one row (`$1` the Request, `$2` the number).
    fn one(self) -> &'static str {
        match self {
            Removal::Timer => "DELETE FROM jobs WHERE request_id = $1 AND kind = 'timer' AND subscription = $2",
            Removal::Connector => {
                "DELETE FROM jobs WHERE request_id = $1 AND kind IN ('connector', 'worker') AND token = $2"
            }
            Removal::Subscription => "DELETE FROM subscriptions WHERE request_id = $1 AND subscription = $2",
        }
    }

    /// The PostgreSQL statement for many rows, `{values}` the `(Request, number)` pairs.
    fn many(self) -> &'static str {
        match self {
            Removal::Timer => {
                "WITH v (vr, vn) AS (VALUES {values}) DELETE FROM jobs USING v
                 WHERE jobs.request_id = v.vr AND jobs.kind = 'timer' AND jobs.subscription = v.vn"
            }
            Removal::Connector => {
                "WITH v (vr, vn) AS (VALUES {values}) DELETE FROM jobs USING v
                 WHERE jobs.request_id = v.vr AND jobs.kind IN ('connector', 'worker') AND jobs.token = v.vn"
            }
            Removal::Subscription => {
                "WITH v (vr, vn) AS (VALUES {values}) DELETE FROM subscriptions USING v
                 WHERE subscriptions.request_id = v.vr AND subscriptions.subscription = v.vn"
            }
        }
    }
}

/// [`Removal`]s of a batch: written at once on SQLite, gathered on PostgreSQL until
/// [`Removals::flush`].
struct Removals {
    gather: bool,
    rows: [Vec<Arg>; 3],
}

impl Removals {
    fn new(gather: bool) -> Self {
        Removals { gather, rows: [Vec::new(), Vec::new(), Vec::new()] }
    }

    async fn add(&mut self, c: &mut Conn<'_>, kind: Removal, request: &str, n: i64) -> Result<(), Error> {
        if self.gather {
            self.rows[kind as usize].extend(args![request, n]);
        } else {
            c.execute(kind.one(), args![request, n]).await?;
        }
        Ok(())
    }

    async fn flush(self, c: &mut Conn<'_>) -> Result<(), Error> {
        for (kind, rows) in Removal::ALL.into_iter().zip(self.rows) {
            let mut rows = rows.into_iter();
            for take in chunk_sizes(rows.len() / 2, MAX_PARAMS / 2) {
                let sql = kind.many().replace("{values}", &values(take, 2));
                c.execute(&sql, rows.by_ref().take(2 * take).collect()).await?;
            }
        }
        Ok(())
    }
}

/// The rows besides the Request's own, for many Requests at once, in the order `Changes` documents:
/// removals, closes, the cleanup of finished Requests, new rows, history.
async fn apply_all<'a>(c: &mut Conn<'_>, applied: &[Applied<'a>], prepared: &mut [Prepared]) -> Result<(), Error> {
    // Ops with rare row kinds go through the one-Request path for those parts; the common ones
    // are gathered here.
    let mut job_ids = Vec::new();
    let mut finished: Vec<(String, i64)> = Vec::new();
    let mut task_rows = Vec::new();
    let mut candidate_rows = Vec::new();
    let mut sub_rows = Vec::new();
    let mut job_rows = Vec::new();
    let mut event_rows = Vec::new();
    // Timer jobs, connector jobs and subscriptions removed by (Request, number): on PostgreSQL
    // gathered into one statement per kind (a statement each was a round trip each: with a
    // thousand timers firing in a batch, two thousand of them); on SQLite, in the process, a
    // statement each costs little.
    let mut removals = Removals::new(c.is_postgres());
    for a in applied {
        let ch: &'a Changes = a.changes;
        let at = millis(ch.at);
        // A finished Request's timers, connector jobs and subscriptions all go below (the
        // cleanup of finished Requests): removing them one by one first would be wasted.
        let finishing = a.status.is_finished();
        for r in &ch.jobs_removed {
            match r {
                JobRemoval::Job(id) => job_ids.push(id.to_string()),
                JobRemoval::Timer(_) | JobRemoval::Connector(_) if finishing => {}
                JobRemoval::Timer(s) => removals.add(c, Removal::Timer, &a.rid, i64::from(s.0)).await?,
                JobRemoval::Connector(t) => removals.add(c, Removal::Connector, &a.rid, i64::from(t.0)).await?,
            }
        }
        if !finishing {
            for s in &ch.subscriptions_closed {
                removals.add(c, Removal::Subscription, &a.rid, i64::from(s.0)).await?;
            }
        }
        // Migrations, suspensions and incidents: rare, a statement each (rare_rows.rs).
        crate::rare_rows::write(c, &a.rid, a.status.is_finished(), ch, at).await?;
        // Tasks this step completed, with where their `task_completed` events go.
        let mut completed: Vec<CompletedTask> = Vec::new();
        for t in &ch.tasks_closed {
            c.execute(
                "DELETE FROM task_candidates WHERE request_id = $1 AND token = $2",
                args![a.rid.as_str(), i64::from(t.token.0)],
            )
            .await?;
            let by = if t.status == TaskStatus::Completed { ch.actor.as_deref() } else { None };
            let rows = c
                .fetch_all(
                    "UPDATE tasks SET status = $1, completed_at = $2, completed_by = $3
                     WHERE request_id = $4 AND token = $5 AND status = 'active'
                     RETURNING id, element_id",
                    args![t.status.as_str(), at, by, a.rid.as_str(), i64::from(t.token.0)],
                )
                .await?;
            if t.status == TaskStatus::Completed {
                for r in rows {
                    let id = r.text("id")?.parse().map_err(|_| Error::corrupt("task id", "not a UUID"))?;
                    completed.push((t.event_index, id, r.text("element_id")?, t.token));
                }
            }
        }
        if a.status.is_finished() {
            finished.push((a.rid.clone(), at));
        }
        for t in &ch.tasks_created {
            let asg = &t.assignment;
            let names = |v: &Vec<String>| -> Result<Option<String>, Error> {
                if v.is_empty() { Ok(None) } else { json_text("task candidates", &serde_json::json!(v)).map(Some) }
            };
            task_rows.push(args![
                t.id.to_string(),
                a.rid.as_str(),
                i64::from(t.token.0),
                t.element_id.as_str(),
                t.name.as_deref(),
                t.status.as_str(),
                at,
                (t.status != TaskStatus::Active).then_some(at),
                t.process_key.as_str(),
                asg.assignee.as_deref(),
                names(&asg.candidate_users)?,
                names(&asg.candidate_groups)?,
                asg.due.map(millis),
                asg.follow_up.map(millis),
                asg.priority,
                t.documentation.as_deref(),
            ]);
            // Candidates may claim only what nobody has: an assigned task gets its rows when unclaimed.
            if t.status == TaskStatus::Active && !a.status.is_finished() && asg.assignee.is_none() {
                let users = asg.candidate_users.iter().map(|u| format!("u:{u}"));
                let groups = asg.candidate_groups.iter().map(|g| format!("g:{g}"));
                for candidate in users.chain(groups) {
                    candidate_rows.push(args![candidate, at, t.id.to_string(), a.rid.as_str(), i64::from(t.token.0)]);
                }
            }
        }
        if !a.status.is_finished() {
            for s in &ch.subscriptions_opened {
                sub_rows.push(args![
                    a.rid.as_str(),
                    i64::from(s.subscription.0),
                    s.kind.as_str(),
                    s.element_id.as_str(),
                    s.name.as_str(),
                    s.correlation_key.as_deref(),
                    at,
                ]);
            }
        }
        for (k, j) in ch.jobs_added.iter().enumerate() {
            if a.status.is_finished() && matches!(j.kind, JobKind::Timer | JobKind::Connector | JobKind::Worker) {
                continue;
            }
            if j.kind == JobKind::Worker {
                // Its own columns (type, retries, back-off): one statement of its own.
                crate::worker_jobs::insert_worker_job(c, &a.rid, j, at).await?;
                continue;
            }
            if j.kind.for_parent() {
                // Rare (a child's result) and guarded: one statement of its own.
                store::insert_job(c, Some(&a.rid), j, at).await?;
                continue;
            }
            // A handed-off job is claimed by the node that took the lease, its first attempt counted.
            let (locked_by, locked_until, attempts) = match a.claim {
                Some((node, until, jobs)) if jobs.contains(&j.id) => (Some(node), Some(until), 1i64),
                _ => (None, None, 0),
            };
            job_rows.push(args![
                j.id.to_string(),
                (!j.kind.without_request()).then_some(a.rid.as_str()),
                j.kind.as_str(),
                j.subscription.map(|s| i64::from(s.0)),
                j.token.map(|t| i64::from(t.0)),
                j.element_id.as_deref(),
                millis(j.due_at),
                match prepared.get_mut(a.op).and_then(|p| p.job_payloads.get_mut(k)).and_then(Option::take) {
                    Some(text) => text,
                    None => json_text("job payload", &j.payload)?,
                },
                at,
                locked_by,
                locked_until,
                attempts,
            ]);
        }
        // History: one row for the whole change, rendered before the batch when it could be.
        let rendered = match prepared.get_mut(a.op).and_then(|p| p.history.take()) {
            Some(r) => Some(r),
            None => history_row(a.started, ch, completed)?,
        };
        if let Some((n, text)) = rendered {
            event_rows.push(args![a.rid.as_str(), a.revision, 0i64, n, text]);
        }
    }

    removals.flush(c).await?;
    if !job_ids.is_empty() {
        for_ids(c, "DELETE FROM jobs WHERE id IN ({ids})", &[], &job_ids).await?;
    }
    if !finished.is_empty() {
        // A finished Request waits for nothing: no timers, no subscriptions, no open tasks.
        let ids: Vec<String> = finished.iter().map(|(id, _)| id.clone()).collect();
        for_ids(
            c,
            "DELETE FROM jobs WHERE kind IN ('timer', 'connector', 'worker') AND request_id IN ({ids})",
            &[],
            &ids,
        )
        .await?;
        for_ids(c, "DELETE FROM subscriptions WHERE request_id IN ({ids})", &[], &ids).await?;
        for_ids(c, "DELETE FROM task_candidates WHERE request_id IN ({ids})", &[], &ids).await?;
        // Tasks canceled at each Request's own time, for all of them in one statement per chunk.
        let mut rows = finished.into_iter();
        for take in chunk_sizes(rows.len(), MAX_PARAMS / 2) {
            let a: Vec<Arg> = rows.by_ref().take(take).flat_map(|(id, at)| args![id, at]).collect();
            let sql = format!(
                "WITH v (vid, vat) AS (VALUES {})
                 UPDATE tasks SET status = 'canceled', completed_at = v.vat
                 FROM v WHERE tasks.request_id = v.vid AND tasks.status = 'active'",
                values(take, 2)
            );
            c.execute(&sql, a).await?;
        }
    }
    insert_rows(
        c,
        "INSERT INTO tasks (id, request_id, token, element_id, name, status, created_at, completed_at, process_key,
                            assignee, candidate_users, candidate_groups, due_at, follow_up_at, priority, documentation)",
        "",
        16,
        task_rows,
    )
    .await?;
    insert_rows(
        c,
        "INSERT INTO task_candidates (candidate, created_at, task_id, request_id, token)",
        " ON CONFLICT DO NOTHING",
        5,
        candidate_rows,
    )
    .await?;
    insert_rows(
        c,
        "INSERT INTO subscriptions (request_id, subscription, kind, element_id, name, correlation_key, created_at)",
        "",
        7,
        sub_rows,
    )
    .await?;
    insert_rows(
        c,
        "INSERT INTO jobs (id, request_id, kind, subscription, token, element_id, due_at, payload, created_at,
                           locked_by, locked_until, attempts)",
        "",
        12,
        job_rows,
    )
    .await?;
    insert_rows(c, "INSERT INTO event_batches (request_id, revision, part, n, events)", "", 5, event_rows).await?;
    Ok(())
}

// ---- the writer task ----

/// The outcome, and the op itself back: its sender frees it, not the writer (whose thread is the
/// SQLite bottleneck).
type Reply = oneshot::Sender<(Result<WriteResult, Error>, WriteOp)>;

/// An op on its way to the writer, with what its sender prepared.
type Queued = (WriteOp, Prepared, Reply);

/// The group-commit writer of a store: see the module documentation. Cheap to clone; the task
/// ends when every clone is dropped.
#[derive(Clone, Debug)]
pub struct Committer {
    /// One writer task per partition of the Requests (by id).
    partitions: Vec<mpsc::Sender<Queued>>,
}

/// Writer tasks on PostgreSQL: transactions of different Requests commit side by side there (the
/// server has cores and connections for them), so one batch's commit does not wait for
/// another's. Each task has its own Requests, so two never write the same rows. SQLite has one
/// writer at a time anyway: one task.
const POSTGRES_PARTITIONS: usize = 3;

impl Committer {
    /// Starts the writer tasks: on the current tokio runtime, but for a SQLite file, whose writer
    /// runs on a thread of its own (a one-thread runtime) with a connection of its own that runs
    /// each statement right there ([`write_with`]). `max_batch` caps the ops of one transaction.
    pub fn start(store: Store, max_batch: usize) -> Committer {
        let n = match store.backend() {
            crate::Backend::Postgres => POSTGRES_PARTITIONS,
            crate::Backend::Sqlite => 1,
        };
        let partitions = (0..n)
            .map(|_| {
                let (tx, rx) = mpsc::channel(max_batch.max(1) * 4);
                let max = max_batch.max(1);
                if store.has_own_writer() {
                    let store = store.clone();
                    let thread = std::thread::Builder::new().name("sluice-writer".into()).spawn(move || {
                        let raw = store.open_raw_writer().unwrap_or_else(|e| {
                            tracing::warn!(error = %e, "the SQLite writer writes through sqlx instead of its own connection");
                            None
                        });
                        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                            Ok(rt) => rt.block_on(run(store, rx, max, raw)),
                            Err(e) => tracing::error!(error = %e, "no runtime for the SQLite writer; writes fail"),
                        }
                    });
                    if let Err(e) = thread {
                        // Writes then fail with `WriterStopped`.
                        tracing::error!(error = %e, "cannot start the SQLite writer thread");
                    }
                } else {
                    tokio::spawn(run(store.clone(), rx, max, None));
                }
                tx
            })
            .collect();
        Committer { partitions }
    }

    /// Writes `op` with whatever else is waiting, and answers its outcome once committed.
    pub async fn write(&self, op: WriteOp) -> Result<WriteResult, Error> {
        // Rendered here, beside the commit in flight, not inside the next one.
        let prepared = Prepared::of(&op)?;
        let (reply, answer) = oneshot::channel();
        let partition = (op.request().0.as_u128() % self.partitions.len() as u128) as usize;
        let tx = self.partitions.get(partition).ok_or(Error::WriterStopped)?;
        tx.send((op, prepared, reply)).await.map_err(|_| Error::WriterStopped)?;
        let (result, _op) = answer.await.map_err(|_| Error::WriterStopped)?;
        result
    }
}

/// Writes `ops` in one transaction: through `raw`, the writer thread's own SQLite connection, when
/// it has one (each statement runs right here, on this thread: no round trip to a connection
/// thread, no async machinery per row), else through the store's pool.
async fn write_with(
    store: &Store,
    raw: Option<&RawConn>,
    ops: &[WriteOp],
    prepared: &mut [Prepared],
) -> Result<Vec<Result<WriteResult, Error>>, Error> {
    let Some(raw) = raw else { return store.write_prepared(ops, prepared).await };
    // The process's other writers (claims, deploys, …) use the pool under this lock: one write
    // transaction at a time, first come first served.
    let _lock = store.writer_lock().await;
    if store.is_closed() {
        return Err(Error::WriterStopped);
    }
    raw_script(raw, "BEGIN IMMEDIATE")?;
    let written = async {
        let results = write_batch(&mut Conn::Raw(raw), ops, prepared).await?;
        raw_script(raw, "COMMIT")?;
        Ok(results)
    }
    .await;
    match written {
        Ok(results) => {
            COMMITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(results)
        }
        Err(e) => {
            if let Err(r) = raw_script(raw, "ROLLBACK") {
                tracing::debug!(error = %r, "rolling back a failed batch");
            }
            Err(e)
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Queued>, max_batch: usize, raw: Option<RawConn>) {
    // Ops on a Request that is in the current batch already wait for the next one.
    let mut held: std::collections::VecDeque<Queued> = std::collections::VecDeque::new();
    loop {
        let mut batch: Vec<Queued> = Vec::new();
        let mut in_batch: HashSet<RequestId> = HashSet::new();
        let mut later = std::collections::VecDeque::new();
        while let Some(item) = held.pop_front() {
            if batch.len() < max_batch && in_batch.insert(item.0.request()) {
                batch.push(item);
            } else {
                later.push_back(item);
            }
        }
        held = later;
        if batch.is_empty() {
            match rx.recv().await {
                Some(item) => {
                    in_batch.insert(item.0.request());
                    batch.push(item);
                }
                None => return,
            }
        }
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(item) => {
                    if in_batch.insert(item.0.request()) {
                        batch.push(item);
                    } else {
                        held.push_back(item);
                    }
                }
                Err(_) => break,
            }
        }
        let mut ops = Vec::with_capacity(batch.len());
        let mut prepared = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for (op, p, reply) in batch {
            ops.push(op);
            prepared.push(p);
            replies.push(reply);
        }
        let started = std::time::Instant::now();
        let written = write_with(&store, raw.as_ref(), &ops, &mut prepared).await;
        let m = crate::metrics::engine_metrics();
        m.commit_duration.observe(started.elapsed().as_secs_f64());
        m.commit_batch_size.observe(ops.len() as f64);
        match written {
            Ok(results) => {
                for ((reply, result), op) in replies.into_iter().zip(results).zip(ops) {
                    let _ = reply.send((result, op));
                }
            }
            Err(e) => {
                if ops.len() > 1 {
                    tracing::debug!(error = %e, ops = ops.len(), "a batch failed; writing its ops one by one");
                }
                for (op, reply) in ops.into_iter().zip(replies) {
                    let one = write_with(&store, raw.as_ref(), std::slice::from_ref(&op), &mut []).await;
                    let _ = reply.send((one.and_then(|mut r| r.pop().unwrap_or(Ok(WriteResult::Conflict))), op));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_ROWS, chunk_len, chunk_sizes, list, values};

    #[test]
    fn chunks_are_powers_of_two_that_add_up() {
        for (rows, cap) in [(1, 100), (7, 100), (190, 2000), (1000, 300), (5, 3), (MAX_ROWS * 3 + 1, 30_000)] {
            let sizes: Vec<usize> = chunk_sizes(rows, cap).collect();
            for &n in &sizes {
                assert!(n.is_power_of_two() && n <= cap.min(MAX_ROWS), "{rows}/{cap}: {n}");
            }
            assert_eq!(sizes.iter().sum::<usize>(), rows);
        }
        assert_eq!(chunk_len(190, 2000), 128);
    }

    #[test]
    fn placeholder_lists_number_from_where_they_start() {
        assert_eq!(&*values(2, 3), "($1,$2,$3),($4,$5,$6)");
        assert_eq!(&*values(1, 1), "($1)");
        assert_eq!(&*list(3, 3), "$3,$4,$5");
        assert_eq!(&*list(1, 1), "$1");
        // Kept: the same shape again is the same text.
        assert!(std::sync::Arc::ptr_eq(&values(2, 3), &values(2, 3)));
    }
}
