//! The job outbox and Request leases: claiming due jobs, giving them back or completing them,
//! one node at a time per Request (leases), and the subscriptions messages and signals find.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::Error;
use crate::changes::NewJob;
use crate::db::{Tx, args};
use crate::store::{
    CLAIM_GRACE, JOB_COLUMNS, SUBSCRIPTION_COLUMNS, Store, insert_job, job_row, parse_id, subscription_row,
};
use crate::types::{JobId, JobRow, RequestId, SubscriptionRow, from_millis, millis};

/// The due time of a parked job: the last millisecond of year 9999, never reached.
pub const PARKED: DateTime<Utc> = match DateTime::from_timestamp_millis(253_402_300_799_999) {
    Some(t) => t,
    None => DateTime::UNIX_EPOCH,
};

/// The due time of a held job (a suspended Request's): 9999-12-31, never due.
pub(crate) const HELD_UNTIL: i64 = 253_402_300_799_000;

impl Store {
    /// Jobs due at `now` and not held by a live lease, soonest first. A plain read: with several
    /// workers use [`Store::claim_jobs`].
    pub async fn due_jobs(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<JobRow>, Error> {
        // Free jobs in due order, and claims that ran out (few: the jobs being run).
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id IN (
                 SELECT id FROM (SELECT id FROM jobs WHERE locked_by IS NULL AND due_at <= $1
                                 ORDER BY due_at, id LIMIT $2) AS free
                 UNION ALL
                 SELECT id FROM jobs WHERE locked_by IS NOT NULL AND locked_until <= $1 AND due_at <= $1)
             ORDER BY due_at, id LIMIT $2"
        );
        let mut tx = self.begin_read().await?;
        let rows = tx.conn().fetch_all(&sql, args![millis(now), i64::from(limit)]).await?;
        rows.iter().map(job_row).collect()
    }

    /// Claims up to `limit` due jobs for `node` until `now + lease`, counting an attempt on each.
    /// On PostgreSQL the candidates are locked `FOR UPDATE SKIP LOCKED`, so concurrent claimers
    /// never get the same job; on SQLite the `BEGIN IMMEDIATE` write lock serializes claimers.
    ///
    /// Jobs of a Request another node holds a live Request lease on (see
    /// [`Store::claim_request_leases`]) are left alone: they stay due for that node. A claimed job
    /// is free again when its lease runs out, or as soon as the node that claimed it lets its
    /// lease on the job's Request lapse: a node that stops heartbeating (it died) loses its
    /// Requests' jobs together with its Request leases, not only when the much longer job lease
    /// ends. A job is never handed out twice while its claimer keeps its Request lease.
    ///
    /// In the same transaction `node` takes a provisional lease of [`CLAIM_GRACE`] on the
    /// Requests of the claimed jobs that are free (or whose lease ran out), so that a node dying
    /// between this claim and its [`Store::claim_request_leases`] leaves nothing locked for long;
    /// a live lease of `node`'s own is never shortened.
    pub async fn claim_jobs(
        &self,
        node: &str,
        now: DateTime<Utc>,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<JobRow>, Error> {
        Ok(self.claim(node, now, limit, lease, None).await?.0)
    }

    /// [`Store::claim_jobs`] and [`Store::claim_request_leases`] (until `request_until`) in one
    /// transaction: the claimed jobs, and the Requests of theirs that `node` now holds (a job
    /// whose Request another node holds is the caller's to give back). One write where the two
    /// took two, and the Request rows rewritten once instead of twice.
    pub async fn claim_jobs_leased(
        &self,
        node: &str,
        now: DateTime<Utc>,
        limit: u32,
        lease: Duration,
        request_until: DateTime<Utc>,
    ) -> Result<(Vec<JobRow>, Vec<RequestId>), Error> {
        self.claim(node, now, limit, lease, Some(request_until)).await
    }

    async fn claim(
        &self,
        node: &str,
        now: DateTime<Utc>,
        limit: u32,
        lease: Duration,
        request_until: Option<DateTime<Utc>>,
    ) -> Result<(Vec<JobRow>, Vec<RequestId>), Error> {
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let grace = now + chrono::Duration::from_std(CLAIM_GRACE).unwrap_or(chrono::Duration::MAX);
        let mut tx = self.begin_write().await?;
        let pg = tx.conn().is_postgres();
        // A node that stopped heartbeating (it died) leaves leases that ran out, and the jobs it
        // had claimed under them. Those leases are cleared here and the jobs freed (their
        // attempts stay counted, so the crash-loop guard still sees the run that never ended);
        // the walk below then finds them with the other free jobs. Few rows, and none most of the
        // time: one step on a small partial index.
        self.sweep_lapsed_leases(&mut tx, now, limit).await?;
        // Claimable: due; free or its job lease ended; and no other node holds a live lease on
        // its Request.
        let claimable = "due_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)
            AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.id = jobs.request_id
                            AND r.lease_owner IS NOT NULL AND r.lease_owner <> $2 AND r.lease_until >= $1)";
        // The candidates come from two index walks that never pass over jobs claimed and running
        // (with handoff, every job being run is such a row): free jobs in due order, and claims
        // that ran out. Each is a bare range with its limit, a statement of its own, and the
        // Request-lease test runs on the ids they give, looked up one by one. Written as one
        // statement (`id IN (walks) AND claimable`), a PostgreSQL without statistics (autovacuum
        // off) chose plans that read every due job: the lease test on each before sorting and
        // limiting (0.2 s per claim with 100,000 timers due, so the later the timers, the slower
        // the claim that was to catch up), or a hash join over the whole table (20 ms per poll
        // with nothing due). The free walk reads twice the limit, so that two claimers at once
        // (the worker loops of a node, or several nodes) each find jobs the other did not lock.
        // Jobs at the head whose Request another live node holds are left for that node.
        let mut c = tx.conn();
        let mut walked = c
            .fetch_all(
                "SELECT id FROM jobs WHERE locked_by IS NULL AND due_at <= $1 ORDER BY due_at, id LIMIT $2",
                args![millis(now), 2 * i64::from(limit)],
            )
            .await?;
        walked.extend(
            c.fetch_all(
                "SELECT id FROM jobs WHERE locked_by IS NOT NULL AND locked_until <= $1 AND due_at <= $1
                 ORDER BY locked_until LIMIT $2",
                args![millis(now), i64::from(limit)],
            )
            .await?,
        );
        if walked.is_empty() {
            tx.commit().await?;
            return Ok((Vec::new(), Vec::new()));
        }
        let mut a = args![millis(now), node, i64::from(limit)];
        let mut ids = Vec::with_capacity(walked.len());
        for row in &walked {
            a.push(row.text("id")?.into());
            ids.push(format!("${}", a.len()));
        }
        // Lock the candidates first; on PostgreSQL a row another claimer just took may still pass
        // this statement's re-check (its subqueries read the statement's older snapshot), so the
        // update below checks again with a fresh snapshot while the rows are ours.
        let lock = if pg { " FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "SELECT id FROM jobs WHERE id IN ({}) AND {claimable} ORDER BY due_at, id LIMIT $3{lock}",
            ids.join(", ")
        );
        let candidates = c.fetch_all(&sql, a).await?;
        if candidates.is_empty() {
            tx.commit().await?;
            return Ok((Vec::new(), Vec::new()));
        }
        let mut a = args![millis(now), node, millis(until)];
        let mut ids = Vec::with_capacity(candidates.len());
        for row in &candidates {
            a.push(row.text("id")?.into());
            ids.push(format!("${}", a.len()));
        }
        let sql = format!(
            "UPDATE jobs SET locked_by = $2, locked_until = $3, attempts = attempts + 1
             WHERE id IN ({}) AND {claimable}
             RETURNING {JOB_COLUMNS}",
            ids.join(", ")
        );
        let rows = tx.conn().fetch_all(&sql, a).await?;
        let mut jobs = rows.iter().map(job_row).collect::<Result<Vec<_>, _>>()?;
        let mut requests: Vec<RequestId> = jobs.iter().filter_map(|j| j.request_id).collect();
        requests.sort();
        requests.dedup();
        // The leases: provisional (until the grace) for a bare claim, else the Request lease
        // itself, as `claim_request_leases` takes it. On PostgreSQL a Request row another
        // transaction holds (a step being written) is skipped rather than waited for: that
        // transaction may be waiting for one of our job rows. One statement per thousand
        // Requests, not one per Request: with a thousand timers due, a statement each was most
        // of the claim's time.
        let lease_lock = if pg { " ORDER BY id FOR UPDATE SKIP LOCKED" } else { "" };
        let (lease_until, free) = match request_until {
            None => (grace, "lease_owner IS NULL OR lease_until < $3 OR (lease_owner = $1 AND lease_until < $2)"),
            Some(until) => (until, "lease_owner IS NULL OR lease_owner = $1 OR lease_until < $3"),
        };
        let mut held = Vec::with_capacity(requests.len());
        {
            let mut c = tx.conn();
            for chunk in requests.chunks(1000) {
                let list = (4..4 + chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
                let sql = format!(
                    "UPDATE requests SET lease_owner = $1, lease_until = $2
                     WHERE id IN (SELECT id FROM requests WHERE id IN ({list}) AND ({free}){lease_lock})
                     RETURNING id"
                );
                let mut a = args![node, millis(lease_until), millis(now)];
                a.extend(chunk.iter().map(|id| crate::db::Arg::from(id.to_string())));
                for r in c.fetch_all(&sql, a).await? {
                    held.push(parse_id("Request id", &r.text("id")?)?);
                }
            }
        }
        tx.commit().await?;
        jobs.sort_by_key(|j| (j.due_at, j.id));
        held.sort();
        Ok((jobs, held))
    }

    /// Clears up to `limit` Request leases that ran out before `now` and frees the jobs their
    /// owner had claimed under them, in the caller's transaction. On PostgreSQL the lease rows
    /// are locked `FOR UPDATE SKIP LOCKED`, so two claimers never clear the same one, and a
    /// Request whose row another transaction is writing is left for the next claim.
    async fn sweep_lapsed_leases(&self, tx: &mut Tx, now: DateTime<Utc>, limit: u32) -> Result<(), Error> {
        let mut c = tx.conn();
        let lock = if c.is_postgres() { " FOR UPDATE SKIP LOCKED" } else { "" };
        let lapsed = c
            .fetch_all(
                &format!(
                    "SELECT id, lease_owner FROM requests WHERE lease_owner IS NOT NULL AND lease_until < $1
                     ORDER BY lease_until LIMIT $2{lock}"
                ),
                args![millis(now), i64::from(limit)],
            )
            .await?;
        for row in &lapsed {
            let (id, owner) = (row.text("id")?, row.text("lease_owner")?);
            c.execute(
                "UPDATE jobs SET locked_by = NULL, locked_until = NULL WHERE request_id = $1 AND locked_by = $2",
                args![id.as_str(), owner.as_str()],
            )
            .await?;
            c.execute(
                "UPDATE requests SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2",
                args![id.as_str(), owner.as_str()],
            )
            .await?;
        }
        Ok(())
    }

    /// Gives a claimed job back untouched, as if this claim never happened: unlocked, with the
    /// attempt it counted taken back (only if `node` still holds it). Returns whether it did.
    pub async fn unclaim_job(&self, id: JobId, node: &str) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx
            .conn()
            .execute(
                "UPDATE jobs SET locked_by = NULL, locked_until = NULL,
                        attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
                 WHERE id = $1 AND locked_by = $2",
                args![id.to_string(), node],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    // ---- Request leases: one node steps a Request's jobs at a time ----

    /// Takes or extends `node`'s lease on each of `ids` until `until`, where it is free (no
    /// owner), already `node`'s, or expired (`lease_until < now`); returns the Requests `node`
    /// now holds (unknown ids are left out). Each is one atomic `UPDATE … WHERE` (on PostgreSQL
    /// the row lock makes a concurrent taker re-check and lose); rows are taken in id order so
    /// two nodes never deadlock.
    pub async fn claim_request_leases(
        &self,
        node: &str,
        ids: &[RequestId],
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<RequestId>, Error> {
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        let mut granted = Vec::with_capacity(ids.len());
        if ids.is_empty() {
            return Ok(granted);
        }
        let mut tx = self.begin_write().await?;
        {
            let mut c = tx.conn();
            // PostgreSQL: lock the rows in id order first, so two nodes never deadlock.
            let lock = if c.is_postgres() { " ORDER BY id FOR UPDATE" } else { "" };
            for chunk in ids.chunks(1000) {
                let list = (5..5 + chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
                let sql = format!(
                    "UPDATE requests SET lease_owner = $1, lease_until = $2
                     WHERE id IN (SELECT id FROM requests
                                  WHERE (lease_owner IS NULL OR lease_owner = $3 OR lease_until < $4)
                                    AND id IN ({list}){lock})
                     RETURNING id"
                );
                let mut a = args![node, millis(until), node, millis(now)];
                a.extend(chunk.iter().map(|id| crate::db::Arg::from(id.to_string())));
                for r in c.fetch_all(&sql, a).await? {
                    granted.push(parse_id("Request id", &r.text("id")?)?);
                }
            }
        }
        tx.commit().await?;
        granted.sort();
        Ok(granted)
    }

    /// Gives up `node`'s leases on these Requests (its batch of their jobs is done).
    pub async fn release_request_leases(&self, node: &str, ids: &[RequestId]) -> Result<u64, Error> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut n = 0;
        {
            let mut c = tx.conn();
            for chunk in ids.chunks(1000) {
                let list = (2..2 + chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
                let sql = format!(
                    "UPDATE requests SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1 AND id IN ({list})"
                );
                let mut a = args![node];
                a.extend(chunk.iter().map(|id| crate::db::Arg::from(id.to_string())));
                n += c.execute(&sql, a).await?;
            }
        }
        tx.commit().await?;
        Ok(n)
    }

    /// The heartbeat: extends every lease `node` holds on an unfinished Request to `until`, and
    /// lets go of its leases on finished ones; the jobs `node` has claimed stay claimed until
    /// `until` too. Returns how many Request leases it extended. On PostgreSQL a Request whose row
    /// another transaction is writing right then is left for the next beat.
    pub async fn renew_leases(&self, node: &str, until: DateTime<Utc>) -> Result<u64, Error> {
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        // The heartbeat runs beside the worker: on PostgreSQL it skips a row another transaction
        // holds right now (that Request's lease is renewed on the next beat) instead of waiting
        // for it, so it never deadlocks with a claim taking leases in id order.
        let lock = if c.is_postgres() { " FOR UPDATE SKIP LOCKED" } else { "" };
        c.execute(
            &format!(
                "UPDATE jobs SET locked_until = $2 WHERE id IN
                   (SELECT id FROM jobs WHERE locked_by = $1 AND locked_until IS NOT NULL AND locked_until < $2{lock})"
            ),
            args![node, millis(until)],
        )
        .await?;
        let n = c
            .execute(
                &format!(
                    "UPDATE requests SET lease_until = $2 WHERE id IN
                       (SELECT id FROM requests WHERE lease_owner = $1 AND completed_at IS NULL{lock})"
                ),
                args![node, millis(until)],
            )
            .await?;
        c.execute(
            &format!(
                "UPDATE requests SET lease_owner = NULL, lease_until = NULL WHERE id IN
                   (SELECT id FROM requests WHERE lease_owner = $1 AND completed_at IS NOT NULL{lock})"
            ),
            args![node],
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Gives up every lease `node` holds (at shutdown), so other nodes take its Requests at once.
    pub async fn release_leases(&self, node: &str) -> Result<u64, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx
            .conn()
            .execute("UPDATE requests SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1", args![node])
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Who holds the lease on a Request and until when (expired leases included), if anyone.
    pub async fn request_lease(&self, id: RequestId) -> Result<Option<(String, DateTime<Utc>)>, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx
            .conn()
            .fetch_optional("SELECT lease_owner, lease_until FROM requests WHERE id = $1", args![id.to_string()])
            .await?
            .ok_or(Error::RequestNotFound(id))?;
        match (row.opt_text("lease_owner")?, row.opt_int("lease_until")?) {
            (Some(owner), Some(until)) => Ok(Some((owner, from_millis("Request lease_until", until)?))),
            _ => Ok(None),
        }
    }

    /// Deletes a job that is done (when no state change goes with it; else use
    /// [`Changes::complete_job`]). Returns whether it was still there.
    pub async fn complete_job(&self, id: JobId) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx.conn().execute("DELETE FROM jobs WHERE id = $1", args![id.to_string()]).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Deletes a job that is done and, if it was still there, adds `next` (a job of no Request,
    /// such as the next firing of a timer start cycle) in the same transaction. Returns whether
    /// the job was still there.
    pub async fn replace_job(&self, id: JobId, next: Option<&NewJob>, now: DateTime<Utc>) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let done = {
            let mut c = tx.conn();
            let n = c.execute("DELETE FROM jobs WHERE id = $1", args![id.to_string()]).await?;
            if n > 0
                && let Some(next) = next
            {
                insert_job(&mut c, None, next, millis(now)).await?;
            }
            n > 0
        };
        tx.commit().await?;
        Ok(done)
    }

    // Same steps as `unclaim_job` (one `UPDATE jobs`, commit, answer whether a row changed), but a
    // different statement: this one keeps the attempt and the error and moves `due_at`.
    /// Gives a claimed job back after a failure: due again at `retry_at`, with the error kept
    /// and the attempt counted as ended.
    pub async fn release_job(&self, id: JobId, error: &str, retry_at: DateTime<Utc>) -> Result<bool, Error> {
        self.release_job_marked(id, error, retry_at, false).await
    }

    /// [`Store::release_job`] after a call that may have taken effect although its answer was
    /// lost: the job's next run (on any node) is told so ([`JobRow::unconfirmed`]) and checks
    /// before doing it again. A later plain release clears the mark.
    pub async fn release_unconfirmed_job(
        &self,
        id: JobId,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<bool, Error> {
        self.release_job_marked(id, error, retry_at, true).await
    }

    async fn release_job_marked(
        &self,
        id: JobId,
        error: &str,
        retry_at: DateTime<Utc>,
        unconfirmed: bool,
    ) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx
            .conn()
            .execute(
                "UPDATE jobs SET locked_by = NULL, locked_until = NULL, last_error = $2, due_at = $3,
                        ended = ended + 1, unconfirmed = $4
                 WHERE id = $1",
                args![id.to_string(), error, millis(retry_at), i64::from(unconfirmed)],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Parks a claimed job that no Request can hold an incident for (a message, a signal, a
    /// timer start): it stays, with `error`, unlocked and never due ([`PARKED`]), until a person
    /// decides (see the crash-loop guard of the worker). Returns whether it was still there.
    pub async fn park_job(&self, id: JobId, error: &str) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx
            .conn()
            .execute(
                "UPDATE jobs SET locked_by = NULL, locked_until = NULL, last_error = $2, due_at = $3 WHERE id = $1",
                args![id.to_string(), error, millis(PARKED)],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The oldest open message subscription named `name` whose correlation key is `key` (or that
    /// has none).
    /// Holds a job of a suspended Request that a run took before the suspension committed (its
    /// step was refused): it waits with the others, due at once when the Request is resumed. If
    /// the Request was resumed meanwhile, the job is given back due now.
    pub async fn hold_job(&self, id: JobId, now: DateTime<Utc>) -> Result<(), Error> {
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let held = c
            .execute(
                "UPDATE jobs SET held_due = $2,
                        due_at = CASE WHEN kind = 'worker' THEN due_at ELSE $3 END,
                        available_at = CASE WHEN kind = 'worker' THEN $3 ELSE available_at END,
                        locked_by = NULL, locked_until = NULL
                 WHERE id = $1 AND held_due IS NULL
                   AND EXISTS (SELECT 1 FROM requests r WHERE r.id = jobs.request_id AND r.suspended = 1)",
                args![id.to_string(), millis(now), HELD_UNTIL],
            )
            .await?;
        if held == 0 {
            c.execute(
                "UPDATE jobs SET locked_by = NULL, locked_until = NULL, due_at = $2 WHERE id = $1 AND held_due IS NULL",
                args![id.to_string(), millis(now)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn find_message_subscription(
        &self,
        name: &str,
        key: Option<&str>,
    ) -> Result<Option<SubscriptionRow>, Error> {
        // The oldest with this exact key and the oldest without a key, each one index step (an
        // `OR` would walk every subscription of the name), then the older of the two.
        let oldest = |key_test: &str| {
            format!(
                "SELECT * FROM (SELECT {SUBSCRIPTION_COLUMNS}, created_at FROM subscriptions
                                WHERE kind = 'message' AND name = $1 AND {key_test}
                                  AND NOT EXISTS (SELECT 1 FROM requests r
                                                  WHERE r.id = subscriptions.request_id AND r.suspended = 1)
                                ORDER BY created_at, request_id, subscription LIMIT 1) AS {}",
                if key_test.contains("IS NULL") { "keyless" } else { "keyed" }
            )
        };
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM ({} UNION ALL {}) AS found
             ORDER BY created_at, request_id, subscription LIMIT 1",
            oldest("correlation_key = $2"),
            oldest("correlation_key IS NULL"),
        );
        let mut tx = self.begin_read().await?;
        let row = tx.conn().fetch_optional(&sql, args![name, key]).await?;
        row.as_ref().map(subscription_row).transpose()
    }

    /// Every open signal subscription named `name`, oldest first.
    pub async fn signal_subscriptions(&self, name: &str) -> Result<Vec<SubscriptionRow>, Error> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE kind = 'signal' AND name = $1
             ORDER BY created_at, request_id, subscription"
        );
        let mut tx = self.begin_read().await?;
        let rows = tx.conn().fetch_all(&sql, args![name]).await?;
        rows.iter().map(subscription_row).collect()
    }
}
