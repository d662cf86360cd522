//! Reads of Requests: one, many, a page of a listing (summaries or whole), their history and
//! their tasks.

use chrono::{DateTime, Utc};
use sluice_engine::Instance;

use crate::Error;
use crate::db::{DbRow, args};
use crate::store::{REQUEST_COLUMNS, Store, TASK_COLUMNS, parse_cursor, parse_id, parse_json, request_row, task_row};
use crate::types::{
    ElementCount, EventId, EventRow, LoadedRequest, RequestFilter, RequestId, RequestPage, RequestRow, TaskId, TaskRow,
    TaskStatus, from_millis, millis,
};

impl Store {
    pub(crate) async fn request_row(&self, id: RequestId) -> Result<Option<RequestRow>, Error> {
        let mut tx = self.begin_read().await?;
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1");
        let row = tx.conn().fetch_optional(&sql, args![id.to_string()]).await?;
        row.as_ref().map(request_row).transpose()
    }

    /// A Request's listing row (no runtime state).
    pub async fn request(&self, id: RequestId) -> Result<RequestRow, Error> {
        self.request_row(id).await?.ok_or(Error::RequestNotFound(id))
    }

    /// A Request with its runtime state, to step it.
    pub async fn load_request(&self, id: RequestId) -> Result<LoadedRequest, Error> {
        let mut tx = self.begin_read().await?;
        let sql = format!("SELECT {REQUEST_COLUMNS}, state FROM requests WHERE id = $1");
        let row = tx.conn().fetch_optional(&sql, args![id.to_string()]).await?.ok_or(Error::RequestNotFound(id))?;
        let meta = request_row(&row)?;
        let instance: Instance =
            serde_json::from_str(&row.text("state")?).map_err(|e| Error::corrupt("Request state", e))?;
        Ok(LoadedRequest { instance, revision: meta.revision, meta })
    }

    /// Several Requests with their runtime state, in one read (missing ids are left out).
    pub async fn load_requests(&self, ids: &[RequestId]) -> Result<Vec<LoadedRequest>, Error> {
        let mut out = Vec::with_capacity(ids.len());
        if ids.is_empty() {
            return Ok(out);
        }
        let mut tx = self.begin_read().await?;
        for chunk in ids.chunks(1000) {
            let list = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let sql = format!("SELECT {REQUEST_COLUMNS}, state FROM requests WHERE id IN ({list})");
            let a = chunk.iter().map(|id| crate::db::Arg::from(id.to_string())).collect();
            for row in tx.conn().fetch_all(&sql, a).await? {
                let meta = request_row(&row)?;
                let instance: Instance =
                    serde_json::from_str(&row.text("state")?).map_err(|e| Error::corrupt("Request state", e))?;
                out.push(LoadedRequest { instance, revision: meta.revision, meta });
            }
        }
        Ok(out)
    }

    /// Requests, newest first, `limit` per page. `cursor` is the `next_cursor` of the page before.
    pub async fn list_requests(
        &self,
        filter: &RequestFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RequestPage, Error> {
        let (rows, next_cursor) = self.request_page(REQUEST_COLUMNS, filter, limit, cursor).await?;
        let requests = rows.iter().map(request_row).collect::<Result<Vec<_>, _>>()?;
        Ok(RequestPage { requests, next_cursor })
    }

    /// One page of Requests without their data or state (`data` is left empty). With `sizes`,
    /// each comes with the size in bytes of its stored data and state (0 without: measuring them
    /// reads them), so that a caller that wants them whole can load as many as its budget allows
    /// ([`Store::load_requests`], [`Store::cursor_after`]). A plain listing costs the same however
    /// large the Requests are.
    pub async fn list_request_summaries(
        &self,
        filter: &RequestFilter,
        limit: u32,
        cursor: Option<&str>,
        sizes: bool,
    ) -> Result<(Vec<(RequestRow, u64)>, Option<String>), Error> {
        let size = if sizes { "CAST(LENGTH(state) + LENGTH(data) AS BIGINT)" } else { "CAST(0 AS BIGINT)" };
        let columns = format!(
            "id, process_key, process_version, status, parent_request_id, parent_token, '{{}}' AS data, \
             revision, created_at, updated_at, completed_at, started_by, {size} AS stored_bytes"
        );
        let (rows, next_cursor) = self.request_page(&columns, filter, limit, cursor).await?;
        let summaries = rows
            .iter()
            .map(|row| Ok((request_row(row)?, u64::try_from(row.int("stored_bytes")?).unwrap_or(0))))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok((summaries, next_cursor))
    }

    /// Finished (completed or canceled) Requests that finished before `finished_before`, oldest
    /// finish first, `limit` at a time, after `after` (the last one of the page before): what
    /// `sluice export` writes out before pruning.
    pub async fn finished_requests(
        &self,
        finished_before: DateTime<Utc>,
        limit: u32,
        after: Option<&RequestRow>,
    ) -> Result<Vec<RequestRow>, Error> {
        let mut sql =
            format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE completed_at IS NOT NULL AND completed_at < $1");
        let mut a = args![millis(finished_before)];
        if let Some(last) = after {
            let at = last.completed_at.map(millis).unwrap_or(i64::MIN);
            a.push(at.into());
            a.push(last.id.to_string().into());
            sql.push_str(" AND (completed_at > $2 OR (completed_at = $2 AND id > $3))");
        }
        a.push(i64::from(limit.max(1)).into());
        sql.push_str(&format!(" ORDER BY completed_at, id LIMIT ${}", a.len()));
        let mut tx = self.begin_read().await?;
        let rows = tx.conn().fetch_all(&sql, a).await?;
        rows.iter().map(request_row).collect()
    }

    /// The cursor of the page that continues after `row` (newest first).
    pub fn cursor_after(row: &RequestRow) -> String {
        format!("{}.{}", millis(row.created_at), row.id)
    }

    /// Like [`Store::list_requests`], with each Request's runtime state, in one query.
    pub async fn list_loaded_requests(
        &self,
        filter: &RequestFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<LoadedRequest>, Option<String>), Error> {
        let columns = format!("{REQUEST_COLUMNS}, state");
        let (rows, next_cursor) = self.request_page(&columns, filter, limit, cursor).await?;
        let requests = rows
            .iter()
            .map(|row| {
                let meta = request_row(row)?;
                let instance: Instance =
                    serde_json::from_str(&row.text("state")?).map_err(|e| Error::corrupt("Request state", e))?;
                Ok(LoadedRequest { instance, revision: meta.revision, meta })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok((requests, next_cursor))
    }

    /// One page of `requests` rows (the given columns), newest first, and the cursor of the next.
    async fn request_page(
        &self,
        columns: &str,
        filter: &RequestFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<DbRow>, Option<String>), Error> {
        let mut tx = self.begin_read().await?;
        let postgres = tx.conn().is_postgres();
        let (conditions, mut a) = filter_sql(filter, postgres)?;
        let mut sql = format!("SELECT {columns} FROM requests WHERE 1 = 1{conditions}");
        if let Some(cursor) = cursor {
            let (at, id) = parse_cursor(cursor)?;
            a.push(at.into());
            a.push(id.into());
            // `created_at <= at` first, a range any planner walks the index with; an OR at the
            // top made PostgreSQL read the index from its start on every page (a million
            // Requests listed page by page took minutes).
            sql.push_str(&format!(
                " AND created_at <= ${0} AND (created_at < ${0} OR id < ${1})",
                a.len() - 1,
                a.len()
            ));
        }
        let limit = i64::from(limit.max(1));
        a.push((limit + 1).into());
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${}", a.len()));
        let mut rows = tx.conn().fetch_all(&sql, a).await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            match rows.last() {
                Some(last) => Some(Store::cursor_after(&request_row(last)?)),
                None => None,
            }
        } else {
            None
        };
        Ok((rows, next_cursor))
    }

    /// A Request's history, oldest first.
    pub async fn request_events(&self, id: RequestId) -> Result<Vec<EventRow>, Error> {
        let rid = id.to_string();
        let mut tx = self.begin_read().await?;
        let (old, batches) = {
            let mut c = tx.conn();
            // Rows of schemas before 7, one per event; then one row per state change.
            let old = c
            .fetch_all(
                "SELECT id, request_id, revision, seq, at, type, element_id, payload FROM events WHERE request_id = $1",
                args![rid.as_str()],
            )
            .await?;
            let batches = c
                .fetch_all(
                    "SELECT revision, part, events FROM event_batches WHERE request_id = $1 ORDER BY revision, part",
                    args![rid.as_str()],
                )
                .await?;
            (old, batches)
        };
        tx.commit().await?;
        let mut ordered: Vec<((i64, i64, i64), Vec<EventRow>)> = Vec::with_capacity(old.len() + batches.len());
        for r in &old {
            let event = EventRow {
                id: parse_id::<EventId>("event id", &r.text("id")?)?,
                request_id: parse_id("event request id", &r.text("request_id")?)?,
                at: from_millis("event time", r.int("at")?)?,
                kind: r.text("type")?,
                element_id: r.opt_text("element_id")?,
                payload: parse_json("event payload", &r.text("payload")?)?,
            };
            ordered.push(((r.int("revision")?, 0, r.int("seq")?), vec![event]));
        }
        for r in &batches {
            let events = crate::history::read_batch(id, &r.text("events")?)?;
            ordered.push(((r.int("revision")?, 1, r.int("part")?), events));
        }
        ordered.sort_by_key(|(key, _)| *key);
        Ok(ordered.into_iter().flat_map(|(_, events)| events).collect())
    }

    /// Tasks, oldest first, of one Request and/or in one status.
    /// A page of a Request's history, oldest first: at most `limit` events after `cursor` (the
    /// `next_cursor` of the page before), and the cursor of the next page. Only the history rows
    /// the page needs are read (a state change's events are one row: a page can end inside it,
    /// and the cursor goes on from there). A Request whose history began under schema 6 or
    /// earlier (one row per event) is read whole and cut, with a cursor of its own kind.
    pub async fn request_events_page(
        &self,
        id: RequestId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<EventRow>, Option<String>), Error> {
        let limit = limit.max(1);
        let bad = || Error::BadCursor(cursor.unwrap_or_default().to_string());
        let rid = id.to_string();
        // The cursor says which kind of history it walks; only the first page looks.
        let old = match cursor {
            Some(c) => c.starts_with('i'),
            None => {
                let mut tx = self.begin_read().await?;
                let sql = "SELECT 1 AS one FROM events WHERE request_id = $1 LIMIT 1";
                let row = tx.conn().fetch_optional(sql, args![rid.as_str()]).await?;
                tx.commit().await?;
                row.is_some()
            }
        };
        if old {
            let start = match cursor {
                None => 0,
                Some(c) => c.strip_prefix("i").and_then(|n| n.parse::<usize>().ok()).ok_or_else(bad)?,
            };
            let all = self.request_events(id).await?;
            let end = (start + limit).min(all.len());
            let next = (end < all.len()).then(|| format!("i{end}"));
            return Ok((all.into_iter().skip(start).take(limit).collect(), next));
        }
        // `<revision>.<part>.<index>`: the next event is that one of that row.
        let (mut revision, mut part, mut index) = match cursor {
            None => (i64::MIN, i64::MIN, 0usize),
            Some(c) => {
                let mut it = c.split('.');
                let (Some(r), Some(p), Some(i), None) = (it.next(), it.next(), it.next(), it.next()) else {
                    return Err(bad());
                };
                (r.parse().map_err(|_| bad())?, p.parse().map_err(|_| bad())?, i.parse().map_err(|_| bad())?)
            }
        };
        let mut inside = cursor.is_some();
        let mut out = Vec::with_capacity(limit.min(1024));
        loop {
            let mut tx = self.begin_read().await?;
            // From the cursor's own row (a page may have ended inside it), then strictly after.
            let from = if inside { ">=" } else { ">" };
            let sql = format!(
                "SELECT revision, part, events FROM event_batches WHERE request_id = $1 \
                 AND (revision > $2 OR (revision = $2 AND part {from} $3)) ORDER BY revision, part LIMIT 64"
            );
            let rows = tx.conn().fetch_all(&sql, args![rid.as_str(), revision, part]).await?;
            tx.commit().await?;
            if rows.is_empty() {
                return Ok((out, None));
            }
            for r in &rows {
                let (rev, p) = (r.int("revision")?, r.int("part")?);
                let events = crate::history::read_batch(id, &r.text("events")?)?;
                let skip = if (rev, p) == (revision, part) { index } else { 0 };
                let n = events.len();
                for (k, e) in events.into_iter().enumerate().skip(skip) {
                    if out.len() == limit {
                        return Ok((out, Some(format!("{rev}.{p}.{k}"))));
                    }
                    out.push(e);
                }
                (revision, part, index) = (rev, p, n);
            }
            inside = false;
            if out.len() == limit {
                // The next page starts after the last row read (or is empty).
                return Ok((out, Some(format!("{revision}.{part}.{index}"))));
            }
        }
    }

    /// Every task (of a Request, in a status), oldest first.
    pub async fn tasks(&self, request: Option<RequestId>, status: Option<TaskStatus>) -> Result<Vec<TaskRow>, Error> {
        Ok(self.tasks_page(request, status, None, None, None).await?.0)
    }

    /// Tasks oldest first, `limit` per page (all without one); `cursor` is the `next_cursor` of
    /// the page before (`<created_at ms>.<task id>`). With `visible_to`, only the tasks that
    /// username may see as a participant: those of the Requests they started and those they
    /// completed.
    pub async fn tasks_page(
        &self,
        request: Option<RequestId>,
        status: Option<TaskStatus>,
        limit: Option<u32>,
        cursor: Option<&str>,
        visible_to: Option<&str>,
    ) -> Result<(Vec<TaskRow>, Option<String>), Error> {
        let q = crate::tasks::TaskQuery {
            request,
            status,
            limit,
            cursor,
            visible_to: visible_to.map(|username| crate::tasks::Viewer { username, groups: &[] }),
            ..Default::default()
        };
        self.list_tasks(&q).await
    }

    /// Per element (its index in the process graph, as the Request state stores it): the tokens
    /// on it and its open incidents, over every open Request of one process version. The open
    /// Requests of the version are grouped by their `positions` text through the index
    /// `requests_open_by_version` alone (finished ones unread, no state parsed); the few distinct
    /// texts are expanded here. Rows written before schema 31 (no `positions`) are counted from
    /// their state.
    pub async fn element_counts(&self, process_key: &str, version: i64) -> Result<Vec<ElementCount>, Error> {
        let mut tx = self.begin_read().await?;
        let mut c = tx.conn();
        let pg = c.is_postgres();
        let mut counts: std::collections::BTreeMap<i64, (i64, i64)> = std::collections::BTreeMap::new();
        // SQLite is told the index: with the statistics a connection loaded while the table was
        // small, its planner walked another index and read every row (170 ms at 100,000).
        let by_version = if pg { "" } else { " INDEXED BY requests_open_by_version" };
        let grouped = c
            .fetch_all(
                &format!(
                    "SELECT positions, COUNT(*) AS n FROM requests{by_version}
                  WHERE process_key = $1 AND process_version = $2 AND status IN ('active', 'error')
                    AND positions IS NOT NULL
                  GROUP BY positions"
                ),
                args![process_key, version],
            )
            .await?;
        for row in &grouped {
            let text = row.text("positions")?;
            let n = row.int("n")?;
            let (tokens, incidents) = parse_positions(&text)
                .ok_or_else(|| Error::corrupt("requests.positions", format!("`{text}` is not a positions list")))?;
            for e in tokens {
                counts.entry(e).or_default().0 += n;
            }
            for e in incidents {
                counts.entry(e).or_default().1 += n;
            }
        }
        // Rows from before schema 31, until their next write: read their state. Both branches
        // repeat the partial index's condition word for word, which SQLite needs to see that
        // the index applies.
        // PostgreSQL: `json`, not `jsonb`: only two keys are read, and building jsonb's tree for
        // each state costs about half as much again.
        let (tokens, incidents) = if pg {
            (
                "json_array_elements(r.state::json -> 'tokens') AS t(value)",
                "json_array_elements(r.state::json -> 'incidents') AS i(value)",
            )
        } else {
            ("json_each(r.state, '$.tokens') AS t", "json_each(r.state, '$.incidents') AS i")
        };
        let element = |v: &str| {
            if pg { format!("CAST({v} ->> 'element' AS BIGINT)") } else { format!("json_extract({v}, '$.element')") }
        };
        let sql = format!(
            "SELECT el, CAST(SUM(active) AS BIGINT) AS active, CAST(SUM(incidents) AS BIGINT) AS incidents FROM (
                 SELECT {te} AS el, 1 AS active, 0 AS incidents FROM requests r{by_version}, {tokens}
                  WHERE r.process_key = $1 AND r.process_version = $2 AND r.status IN ('active', 'error')
                    AND r.positions IS NULL
                 UNION ALL
                 SELECT {ie} AS el, 0 AS active, 1 AS incidents FROM requests r{by_version}, {incidents}
                  WHERE r.process_key = $1 AND r.process_version = $2 AND r.status IN ('active', 'error')
                    AND r.status = 'error' AND r.positions IS NULL
             ) AS counted GROUP BY el",
            te = element("t.value"),
            ie = element("i.value"),
        );
        for r in c.fetch_all(&sql, args![process_key, version]).await? {
            let entry = counts.entry(r.int("el")?).or_default();
            entry.0 += r.int("active")?;
            entry.1 += r.int("incidents")?;
        }
        Ok(counts
            .into_iter()
            .map(|(element, (active, incidents))| ElementCount { element, active, incidents })
            .collect())
    }

    /// Whether `username` started the Request or completed one of its tasks (what a participant
    /// may see).
    pub async fn took_part(&self, id: RequestId, username: &str) -> Result<bool, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx
            .conn()
            .fetch_optional(
                "SELECT 1 AS one FROM requests WHERE id = $1 AND (started_by = $2
                     OR EXISTS (SELECT 1 FROM tasks WHERE tasks.request_id = $1
                                AND (tasks.completed_by = $2 OR tasks.assignee = $2 OR tasks.owner = $2)))",
                args![id.to_string(), username],
            )
            .await?;
        Ok(row.is_some())
    }

    pub async fn task(&self, id: TaskId) -> Result<Option<TaskRow>, Error> {
        let mut tx = self.begin_read().await?;
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        let row = tx.conn().fetch_optional(&sql, args![id.to_string()]).await?;
        row.as_ref().map(task_row).transpose()
    }
}

/// The ` AND …` conditions of `filter` over `requests` and their arguments (numbered from 1).
pub(crate) fn filter_sql(filter: &RequestFilter, postgres: bool) -> Result<(String, Vec<crate::db::Arg>), Error> {
    let mut sql = String::new();
    let mut a = args![];
    if let Some(key) = &filter.process_key {
        a.push(key.as_str().into());
        sql.push_str(&format!(" AND process_key = ${}", a.len()));
    }
    if let Some(status) = filter.status {
        a.push(status.as_str().into());
        sql.push_str(&format!(" AND status = ${}", a.len()));
    }
    if let Some(parent) = filter.parent {
        a.push(parent.to_string().into());
        sql.push_str(&format!(" AND parent_request_id = ${}", a.len()));
    }
    if let Some(user) = &filter.visible_to {
        a.push(user.as_str().into());
        sql.push_str(&format!(
            " AND (started_by = ${0} OR id IN (SELECT request_id FROM tasks WHERE completed_by = ${0})
               OR id IN (SELECT request_id FROM tasks WHERE assignee = ${0}))",
            a.len()
        ));
    }
    if let Some(version) = filter.version {
        a.push(version.into());
        sql.push_str(&format!(" AND process_version = ${}", a.len()));
    }
    if let Some(user) = &filter.started_by {
        a.push(user.as_str().into());
        sql.push_str(&format!(" AND started_by = ${}", a.len()));
    }
    if let Some(after) = filter.created_after {
        a.push(millis(after).into());
        sql.push_str(&format!(" AND created_at >= ${}", a.len()));
    }
    if let Some(before) = filter.created_before {
        a.push(millis(before).into());
        sql.push_str(&format!(" AND created_at < ${}", a.len()));
    }
    if let Some(element) = &filter.waiting_at {
        // Where a token waits: an open task, a message or signal catch, a timer, a connector
        // or job, an incident (each kept as rows of its own).
        a.push(element.as_str().into());
        sql.push_str(&format!(
            " AND (id IN (SELECT request_id FROM tasks WHERE element_id = ${0} AND status = 'active')
               OR id IN (SELECT request_id FROM subscriptions WHERE element_id = ${0})
               OR id IN (SELECT request_id FROM jobs WHERE element_id = ${0}
                         AND kind IN ('timer', 'connector', 'worker'))
               OR id IN (SELECT request_id FROM incidents WHERE element_id = ${0}))",
            a.len()
        ));
    }
    match filter.incident {
        Some(true) => sql.push_str(" AND id IN (SELECT request_id FROM incidents)"),
        Some(false) => sql.push_str(" AND id NOT IN (SELECT request_id FROM incidents)"),
        None => {}
    }
    crate::search::push_conditions(&filter.data, postgres, &mut sql, &mut a)?;
    Ok((sql, a))
}

/// A `requests.positions` text read back: the element indexes of the tokens and of the
/// incidents (`3,5;4` → `[3, 5]`, `[4]`); `None` if it is not such a text.
pub(crate) fn parse_positions(text: &str) -> Option<(Vec<i64>, Vec<i64>)> {
    fn list(s: &str) -> Option<Vec<i64>> {
        if s.is_empty() {
            return Some(Vec::new());
        }
        s.split(',').map(|e| e.parse().ok()).collect()
    }
    let (tokens, incidents) = text.split_once(';').unwrap_or((text, ""));
    Some((list(tokens)?, list(incidents)?))
}

#[cfg(test)]
mod tests {
    use super::parse_positions;

    #[test]
    fn positions_texts_read_back() {
        assert_eq!(parse_positions(""), Some((vec![], vec![])));
        assert_eq!(parse_positions("3,5"), Some((vec![3, 5], vec![])));
        assert_eq!(parse_positions("4;4"), Some((vec![4], vec![4])));
        assert_eq!(parse_positions(";7"), Some((vec![], vec![7])));
        assert_eq!(parse_positions("3,x"), None);
        assert_eq!(parse_positions("3;;4"), None);
    }
}
