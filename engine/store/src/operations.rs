//! Background operations on many Requests (`operations`, schema 27): migrate, retry or cancel
//! every Request a filter matches, one Request per transaction, with progress.
//!
//! An operation takes the Requests its filter matches that were created up to its own creation,
//! in id order. After each Request the node running it records the outcome and the id
//! (`cursor`) in a transaction of its own; its claim on the operation (`owner`, `owner_until`)
//! is renewed with it, and a node whose claim ran out (it died) is replaced by the next that
//! looks ([`Store::claim_operation`]), which goes on after the cursor. A Request whose outcome
//! was not recorded before a crash is handled again: every action is a no-op the second time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;
use crate::db::{DbRow, args};
use crate::reads::filter_sql;
use crate::store::{Store, json_text, parse_id};
use crate::types::{RequestFilter, RequestId, RequestStatus, from_millis, millis};

/// The most failures an operation keeps (the count goes on).
pub const MAX_FAILURES_KEPT: usize = 20;

/// Which Requests an operation takes, as stored with it (all optional, combined with AND).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// `active`, `error`, `completed` or `canceled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// A token waits at this element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_after: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before: Option<DateTime<Utc>>,
    /// Conditions on the Request's data, each written `PATH OP VALUE` ([`crate::parse_condition`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<String>,
}

impl OperationFilter {
    /// The listing filter it is (`Err`: a status that is none, or a data condition that does not
    /// read).
    pub fn to_request_filter(&self) -> Result<RequestFilter, String> {
        let status = match &self.status {
            None => None,
            Some(s) => Some(RequestStatus::parse(s).ok_or_else(|| {
                format!("`{s}` is not a Request status (`active`, `error`, `completed`, `canceled`)")
            })?),
        };
        let data = self.data.iter().map(|c| crate::parse_condition(c)).collect::<Result<Vec<_>, _>>()?;
        Ok(RequestFilter {
            data,
            process_key: self.process.clone(),
            status,
            version: self.version,
            started_by: self.started_by.clone(),
            waiting_at: self.element.clone(),
            incident: self.incident,
            created_after: self.created_after,
            created_before: self.created_before,
            ..RequestFilter::default()
        })
    }
}

/// One operation as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct OperationRow {
    pub id: RequestId,
    /// `migrate`, `retry` or `cancel`.
    pub kind: String,
    /// `running`, `done` or `failed` (the operation itself could not go on: `error` says why).
    pub status: String,
    pub filter: OperationFilter,
    /// The kind's parameters (a migration's `version` and `mapping`).
    pub params: Value,
    /// The Requests it takes, counted when it was created.
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    /// The first [`MAX_FAILURES_KEPT`] failures: `[{"request_id", "error"}]`.
    pub failures: Value,
    pub cursor: Option<RequestId>,
    /// The page of Requests being handled, in id order (see [`Store::set_operation_page`]).
    pub page: Vec<RequestId>,
    pub error: Option<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, kind, status, filter, params, total, done, failed, failures, cursor, page, error, created_by, \
                       created_at, updated_at, finished_at";

impl Store {
    /// Records a new operation over the Requests `filter` matches now (counted as its `total`).
    pub async fn create_operation(
        &self,
        kind: &str,
        filter: &OperationFilter,
        params: &Value,
        created_by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<OperationRow, Error> {
        let request_filter = filter.to_request_filter().map_err(Error::BadSearch)?;
        let id = RequestId::new();
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let (conditions, mut a) = filter_sql(&request_filter, c.is_postgres())?;
        a.push(millis(now).into());
        let sql = format!("SELECT COUNT(*) AS n FROM requests WHERE created_at <= ${}{conditions}", a.len());
        let total = c.fetch_optional(&sql, a).await?.map(|r| r.int("n")).transpose()?.unwrap_or(0);
        c.execute(
            "INSERT INTO operations (id, kind, status, filter, params, total, created_by, created_at, updated_at)
             VALUES ($1, $2, 'running', $3, $4, $5, $6, $7, $7)",
            args![
                id.to_string(),
                kind,
                json_text("operation filter", filter)?,
                json_text("operation parameters", params)?,
                total,
                created_by,
                millis(now),
            ],
        )
        .await?;
        tx.commit().await?;
        self.operation(id).await?.ok_or_else(|| Error::corrupt("operation", "gone right after it was written"))
    }

    pub async fn operation(&self, id: RequestId) -> Result<Option<OperationRow>, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx
            .conn()
            .fetch_optional(&format!("SELECT {COLUMNS} FROM operations WHERE id = $1"), args![id.to_string()])
            .await?;
        row.as_ref().map(operation_row).transpose()
    }

    /// Claims a running operation for `node` until `until`: one nobody holds, whose holder's
    /// claim ran out, or one `node` holds already. `None`: nothing to run.
    pub async fn claim_operation(
        &self,
        node: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<OperationRow>, Error> {
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let row = c
            .fetch_optional(
                "SELECT id FROM operations WHERE status = 'running'
                   AND (owner IS NULL OR owner = $1 OR owner_until < $2)
                 ORDER BY created_at, id LIMIT 1",
                args![node, millis(now)],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let id = row.text("id")?;
        let n = c
            .execute(
                "UPDATE operations SET owner = $1, owner_until = $2 WHERE id = $3 AND status = 'running'
                   AND (owner IS NULL OR owner = $1 OR owner_until < $4)",
                args![node, millis(until), id.as_str(), millis(now)],
            )
            .await?;
        tx.commit().await?;
        if n == 0 {
            return Ok(None);
        }
        self.operation(parse_id("operation id", &id)?).await
    }

    /// The next Requests of an operation: those its filter matches, created up to its creation,
    /// after its cursor, in id order.
    pub async fn operation_requests(&self, op: &OperationRow, limit: u32) -> Result<Vec<RequestId>, Error> {
        let filter = op.filter.to_request_filter().map_err(Error::BadSearch)?;
        let mut tx = self.begin_read().await?;
        let mut c = tx.conn();
        let (conditions, mut a) = filter_sql(&filter, c.is_postgres())?;
        a.push(millis(op.created_at).into());
        let mut sql = format!("SELECT id FROM requests WHERE created_at <= ${}{conditions}", a.len());
        if let Some(cursor) = op.cursor {
            a.push(cursor.to_string().into());
            sql.push_str(&format!(" AND id > ${}", a.len()));
        }
        a.push(i64::from(limit.max(1)).into());
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", a.len()));
        let rows = c.fetch_all(&sql, a).await?;
        rows.iter().map(|r| parse_id("Request id", &r.text("id")?)).collect()
    }

    /// Records the page of Requests `node` is about to handle, before the first of them is: a
    /// node that takes the operation over finishes that page by id (the Requests after the
    /// cursor in it), even those the action has taken out of the filter. `false`: `node` no
    /// longer holds the operation.
    pub async fn set_operation_page(&self, op: RequestId, node: &str, page: &[RequestId]) -> Result<bool, Error> {
        let ids: Vec<String> = page.iter().map(ToString::to_string).collect();
        let mut tx = self.begin_write().await?;
        let n = tx
            .conn()
            .execute(
                "UPDATE operations SET page = $1 WHERE id = $2 AND owner = $3",
                args![json_text("operation page", &ids)?, op.to_string(), node],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Records the outcome for one Request (`failure`: its error) and moves the cursor past it,
    /// renewing `node`'s claim until `until`. `false`: `node` no longer holds the operation
    /// (another node took it over): stop.
    pub async fn record_operation_step(
        &self,
        op: RequestId,
        node: &str,
        request: RequestId,
        failure: Option<Value>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let (op_id, cursor) = (op.to_string(), request.to_string());
        let n = match failure {
            None => {
                c.execute(
                    "UPDATE operations SET done = done + 1, cursor = $1, updated_at = $2, owner_until = $3
                     WHERE id = $4 AND owner = $5",
                    args![cursor, millis(now), millis(until), op_id.as_str(), node],
                )
                .await?
            }
            Some(f) => {
                // The failures kept are read, one added (up to the most kept), written back.
                let row = c
                    .fetch_optional(
                        "SELECT failures FROM operations WHERE id = $1 AND owner = $2",
                        args![op_id.as_str(), node],
                    )
                    .await?;
                let Some(row) = row else { return Ok(false) };
                let mut failures: Vec<Value> = serde_json::from_str(&row.text("failures")?).unwrap_or_default();
                if failures.len() < MAX_FAILURES_KEPT {
                    failures.push(f);
                }
                c.execute(
                    "UPDATE operations SET failed = failed + 1, cursor = $1, failures = $2, updated_at = $3,
                            owner_until = $4
                     WHERE id = $5 AND owner = $6",
                    args![
                        cursor,
                        json_text("operation failures", &failures)?,
                        millis(now),
                        millis(until),
                        op_id.as_str(),
                        node
                    ],
                )
                .await?
            }
        };
        if n == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Gives up `node`'s claims on running operations (at shutdown, once its operation runs
    /// stopped), so the next node to look, or this one started again, goes on after their
    /// cursors at once instead of when the claims run out. Returns how many it gave up.
    pub async fn release_operations(&self, node: &str) -> Result<u64, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx
            .conn()
            .execute(
                "UPDATE operations SET owner = NULL, owner_until = NULL WHERE owner = $1 AND status = 'running'",
                args![node],
            )
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Ends an operation: `done`, or `failed` with why it could not go on.
    pub async fn finish_operation(
        &self,
        op: RequestId,
        node: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let status = if error.is_some() { "failed" } else { "done" };
        let mut tx = self.begin_write().await?;
        tx.conn()
            .execute(
                "UPDATE operations SET status = $1, error = $2, finished_at = $3, updated_at = $3, owner = NULL,
                        owner_until = NULL
                 WHERE id = $4 AND owner = $5",
                args![status, error, millis(now), op.to_string(), node],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn operation_row(r: &DbRow) -> Result<OperationRow, Error> {
    let json = |what: &'static str, text: String| -> Result<Value, Error> {
        serde_json::from_str(&text).map_err(|e| Error::corrupt(what, e))
    };
    let filter: OperationFilter =
        serde_json::from_str(&r.text("filter")?).map_err(|e| Error::corrupt("operation filter", e))?;
    Ok(OperationRow {
        id: parse_id("operation id", &r.text("id")?)?,
        kind: r.text("kind")?,
        status: r.text("status")?,
        filter,
        params: json("operation parameters", r.text("params")?)?,
        total: r.int("total")?,
        done: r.int("done")?,
        failed: r.int("failed")?,
        failures: json("operation failures", r.text("failures")?)?,
        cursor: r.opt_text("cursor")?.map(|c| parse_id("operation cursor", &c)).transpose()?,
        page: serde_json::from_str::<Vec<String>>(&r.text("page")?)
            .map_err(|e| Error::corrupt("operation page", e))?
            .iter()
            .map(|id| parse_id("operation page", id))
            .collect::<Result<_, _>>()?,
        error: r.opt_text("error")?,
        created_by: r.opt_text("created_by")?,
        created_at: from_millis("operation time", r.int("created_at")?)?,
        updated_at: from_millis("operation time", r.int("updated_at")?)?,
        finished_at: r.opt_int("finished_at")?.map(|t| from_millis("operation time", t)).transpose()?,
    })
}
