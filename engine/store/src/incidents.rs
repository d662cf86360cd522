//! Open incidents across Requests (`incidents`, schema 25): the list operators look at first, by
//! process, element, code, message and age, newest first. Rows are written by the step that
//! raises an incident and deleted by the one that resolves it or finishes the Request (batch.rs);
//! incidents opened before the table existed are indexed once by [`Store::index_incidents`].

use chrono::{DateTime, Utc};

use crate::Error;
use crate::db::{Arg, DbRow, args};
use crate::store::{Store, parse_id};
use crate::types::{RequestId, from_millis, millis};

/// Which open incidents to list; every filter is optional and they combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    pub process_key: Option<String>,
    pub element_id: Option<String>,
    /// The incident's code, exactly (`expression_failed`, `connector_failed`, …).
    pub code: Option<String>,
    /// Text the incident's message contains (case-sensitive).
    pub message: Option<String>,
    /// Only incidents opened before / at or after these times (by age).
    pub created_before: Option<DateTime<Utc>>,
    pub created_after: Option<DateTime<Utc>>,
    pub request: Option<RequestId>,
}

/// One open incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentRow {
    pub request_id: RequestId,
    /// Its number within the Request (what `Input::Retry` names).
    pub incident: u32,
    pub process_key: String,
    pub element_id: String,
    pub token: u32,
    pub code: String,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

impl IncidentRow {
    /// The incident's id across Requests: `REQUEST_ID:N`.
    pub fn id(&self) -> String {
        format!("{}:{}", self.request_id, self.incident)
    }
}

/// An open incident of a Request's state, to index (see [`Store::index_incidents`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedIncident {
    pub incident: u32,
    pub element_id: String,
    pub token: u32,
    pub code: String,
    pub message: String,
}

const COLUMNS: &str = "request_id, incident, process_key, element_id, token, code, message, created_at";

impl Store {
    /// Open incidents matching `filter`, newest first, `limit` per page (at least one), after
    /// `cursor` (the `next_cursor` of the page before). Served by the table's own indexes: no
    /// Request's state is read.
    pub async fn list_incidents(
        &self,
        filter: &IncidentFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<IncidentRow>, Option<String>), Error> {
        let mut tx = self.begin_read().await?;
        let mut c = tx.conn();
        let (mut sql, mut a) = where_clause(filter, c.is_postgres());
        if let Some(cursor) = cursor {
            let (at, rid, n) = parse_incident_cursor(cursor)?;
            a.push(at.into());
            a.push(rid.into());
            a.push(n.into());
            let (p_at, p_rid, p_n) = (a.len() - 2, a.len() - 1, a.len());
            sql.push_str(&format!(
                " AND created_at <= ${p_at} AND (created_at < ${p_at} OR request_id < ${p_rid} \
                   OR (request_id = ${p_rid} AND incident < ${p_n}))"
            ));
        }
        let limit = i64::from(limit.max(1));
        a.push((limit + 1).into());
        sql.push_str(&format!(" ORDER BY created_at DESC, request_id DESC, incident DESC LIMIT ${}", a.len()));
        let rows = c.fetch_all(&format!("SELECT {COLUMNS} FROM incidents WHERE 1 = 1{sql}"), a).await?;
        let mut list = rows.iter().map(incident_row).collect::<Result<Vec<_>, Error>>()?;
        let next = if list.len() as i64 > limit {
            list.truncate(limit as usize);
            list.last().map(|i| format!("{}.{}.{}", millis(i.created_at), i.request_id, i.incident))
        } else {
            None
        };
        Ok((list, next))
    }

    /// How many open incidents match `filter`.
    pub async fn count_incidents(&self, filter: &IncidentFilter) -> Result<u64, Error> {
        let mut tx = self.begin_read().await?;
        let mut c = tx.conn();
        let (sql, a) = where_clause(filter, c.is_postgres());
        let row = c.fetch_optional(&format!("SELECT COUNT(*) AS n FROM incidents WHERE 1 = 1{sql}"), a).await?;
        Ok(match row {
            Some(r) => u64::try_from(r.int("n")?).unwrap_or(0),
            None => 0,
        })
    }

    /// Up to `limit` Requests with open incidents (status `error`) that have no incident rows:
    /// those whose incidents were opened before the table existed.
    pub async fn unindexed_incident_requests(&self, limit: u32) -> Result<Vec<RequestId>, Error> {
        let mut tx = self.begin_read().await?;
        let rows = tx
            .conn()
            .fetch_all(
                "SELECT id FROM requests r WHERE status = 'error'
                   AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.request_id = r.id)
                 ORDER BY id LIMIT $1",
                args![i64::from(limit.max(1))],
            )
            .await?;
        rows.iter().map(|r| parse_id("Request id", &r.text("id")?)).collect()
    }

    /// Indexes the open incidents of Request `id` as read at `revision`: written only if the
    /// Request is still at that revision (a step since then wrote its own rows), dated
    /// `created_at` (the Request's last change: when the incident was opened is not kept in
    /// its state). Returns whether they were written.
    pub async fn index_incidents(
        &self,
        id: RequestId,
        revision: i64,
        process_key: &str,
        created_at: DateTime<Utc>,
        incidents: &[IndexedIncident],
    ) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let current = c
            .fetch_optional("SELECT revision FROM requests WHERE id = $1", args![id.to_string()])
            .await?
            .map(|r| r.int("revision"))
            .transpose()?;
        if current != Some(revision) {
            return Ok(false);
        }
        for i in incidents {
            c.execute(
                "INSERT INTO incidents (request_id, incident, process_key, element_id, token, code, message, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (request_id, incident) DO NOTHING",
                args![
                    id.to_string(),
                    i64::from(i.incident),
                    process_key,
                    i.element_id.as_str(),
                    i64::from(i.token),
                    i.code.as_str(),
                    i.message.as_str(),
                    millis(created_at),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// The ` AND …` conditions of `filter` and their arguments.
fn where_clause(filter: &IncidentFilter, postgres: bool) -> (String, Vec<Arg>) {
    let mut sql = String::new();
    let mut a: Vec<Arg> = Vec::new();
    let mut eq = |column: &str, value: &Option<String>, sql: &mut String| {
        if let Some(v) = value {
            a.push(v.as_str().into());
            sql.push_str(&format!(" AND {column} = ${}", a.len()));
        }
    };
    eq("process_key", &filter.process_key, &mut sql);
    eq("element_id", &filter.element_id, &mut sql);
    eq("code", &filter.code, &mut sql);
    eq("request_id", &filter.request.map(|r| r.to_string()), &mut sql);
    if let Some(text) = &filter.message {
        a.push(text.as_str().into());
        // Substring, without LIKE's wildcards.
        let find = if postgres { "strpos" } else { "instr" };
        sql.push_str(&format!(" AND {find}(message, ${}) > 0", a.len()));
    }
    if let Some(before) = filter.created_before {
        a.push(millis(before).into());
        sql.push_str(&format!(" AND created_at < ${}", a.len()));
    }
    if let Some(after) = filter.created_after {
        a.push(millis(after).into());
        sql.push_str(&format!(" AND created_at >= ${}", a.len()));
    }
    (sql, a)
}

fn parse_incident_cursor(cursor: &str) -> Result<(i64, String, i64), Error> {
    let bad = || Error::BadCursor(cursor.to_string());
    let mut parts = cursor.splitn(3, '.');
    let at = parts.next().and_then(|p| p.parse::<i64>().ok()).ok_or_else(bad)?;
    let rid = parts.next().and_then(|p| p.parse::<RequestId>().ok()).ok_or_else(bad)?;
    let n = parts.next().and_then(|p| p.parse::<i64>().ok()).ok_or_else(bad)?;
    Ok((at, rid.to_string(), n))
}

fn incident_row(r: &DbRow) -> Result<IncidentRow, Error> {
    let small = |what: &'static str, v: i64| u32::try_from(v).map_err(|_| Error::corrupt(what, "out of range"));
    Ok(IncidentRow {
        request_id: parse_id("Request id", &r.text("request_id")?)?,
        incident: small("incident number", r.int("incident")?)?,
        process_key: r.text("process_key")?,
        element_id: r.text("element_id")?,
        token: small("incident token", r.int("token")?)?,
        code: r.text("code")?,
        message: r.text("message")?,
        created_at: from_millis("incident time", r.int("created_at")?)?,
    })
}
