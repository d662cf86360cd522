//! The rows of a step that few steps have, written by [`crate::Store::write_batch`] one
//! statement each for the Request they belong to: a migration (its version, and the element ids
//! its rows name), a suspension (its jobs held or given back) and incidents (opened or
//! resolved; the worker resolves the open incidents of a Request that finishes).

use crate::Error;
use crate::changes::Changes;
use crate::db::{Conn, args};

pub(crate) async fn write(c: &mut Conn<'_>, rid: &str, finished: bool, ch: &Changes, at: i64) -> Result<(), Error> {
    // A migration (rare): the Request's version, and the element ids its rows name.
    if let Some(m) = &ch.migrated {
        c.execute("UPDATE requests SET process_version = $1 WHERE id = $2", args![m.version, rid]).await?;
        for (old, new) in &m.renamed {
            // Open tasks only: a finished task was done at the old version's element.
            for table in ["tasks", "jobs", "incidents"] {
                let open = if table == "tasks" { " AND status = 'active'" } else { "" };
                c.execute(
                    &format!("UPDATE {table} SET element_id = $1 WHERE request_id = $2 AND element_id = $3{open}"),
                    args![new.as_str(), rid, old.as_str()],
                )
                .await?;
            }
        }
    }
    // Suspended (rare): its jobs wait with their due time kept; resumed: they get it back.
    match ch.suspension {
        Some(true) => {
            c.execute("UPDATE requests SET suspended = 1 WHERE id = $1", args![rid]).await?;
            c.execute(
                "UPDATE jobs SET held_due = CASE WHEN kind = 'worker' THEN available_at ELSE due_at END,
                        due_at = CASE WHEN kind = 'worker' THEN due_at ELSE $2 END,
                        available_at = CASE WHEN kind = 'worker' THEN $2 ELSE available_at END
                 WHERE request_id = $1 AND held_due IS NULL AND kind IN ('timer', 'connector', 'worker', 'start_child')",
                args![rid, crate::jobs::HELD_UNTIL],
            )
            .await?;
        }
        Some(false) => {
            c.execute("UPDATE requests SET suspended = 0 WHERE id = $1", args![rid]).await?;
            c.execute(
                "UPDATE jobs SET due_at = CASE WHEN kind = 'worker' THEN due_at ELSE held_due END,
                        available_at = CASE WHEN kind = 'worker' THEN held_due ELSE available_at END,
                        held_due = NULL
                 WHERE request_id = $1 AND held_due IS NOT NULL",
                args![rid],
            )
            .await?;
        }
        None => {}
    }
    // Incidents are rare: a statement each.
    for i in &ch.incidents_resolved {
        c.execute("DELETE FROM incidents WHERE request_id = $1 AND incident = $2", args![rid, i64::from(*i)]).await?;
    }
    if !finished {
        for i in &ch.incidents_raised {
            c.execute(
                "INSERT INTO incidents (request_id, incident, process_key, element_id, token, code, message, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                args![
                    rid,
                    i64::from(i.incident),
                    i.process_key.as_str(),
                    i.element_id.as_str(),
                    i64::from(i.token.0),
                    i.code.as_str(),
                    i.message.as_str(),
                    at,
                ],
            )
            .await?;
        }
    }
    Ok(())
}
