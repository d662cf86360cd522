//! API tokens (hashes only), settings, and the small queries of the worker and `/metrics`.

use chrono::{DateTime, Utc};

use crate::Error;
use crate::db::args;
use crate::store::{Store, parse_id};
use crate::types::{RequestId, from_millis, millis};

/// The newest unfinished child of a call token (`$1` the parent, `$2` the token).
const CHILD_OF: &str = "SELECT id FROM requests
     WHERE parent_request_id = $1 AND parent_token = $2 AND status IN ('active', 'error')
     ORDER BY created_at DESC, id DESC LIMIT 1";

/// What became of a call activity token's child Request ([`Store::call_child`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CallChild {
    /// The child runs (active, or waiting on an incident).
    Running(RequestId),
    /// The token's `start_child` job is still in the outbox, due or being run: a child may yet
    /// be created for it.
    Starting,
    /// No child runs and none is being started (none was, or it finished).
    None,
}

impl Store {
    // ---- API tokens and settings ----

    /// Records a startup API token of the built-in `admin` by its hash (the token itself is never
    /// stored): the one generated at first start. A hash that is already recorded is a database
    /// error (unique constraint). Tokens of users: [`Store::add_user_token`].
    pub async fn add_api_token(&self, label: &str, token_hash: &str) -> Result<(), Error> {
        let mut tx = self.begin_write().await?;
        tx.conn()
            .execute(
                "INSERT INTO api_tokens (id, label, token_hash, created_at, user_id, startup)
                 VALUES ($1, $2, $3, $4, $5, 1)",
                args![
                    uuid::Uuid::now_v7().to_string(),
                    label,
                    token_hash,
                    millis(Utc::now()),
                    crate::people::BUILTIN_ADMIN_ID
                ],
            )
            .await?;
        tx.commit().await
    }

    /// The hashes of every API token, oldest first.
    pub async fn api_token_hashes(&self) -> Result<Vec<String>, Error> {
        let mut tx = self.begin_read().await?;
        let rows = tx.conn().fetch_all("SELECT token_hash FROM api_tokens ORDER BY created_at, id", args![]).await?;
        rows.iter().map(|r| r.text("token_hash")).collect()
    }

    /// The value of a setting, if set.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx.conn().fetch_optional("SELECT value FROM settings WHERE key = $1", args![key]).await?;
        row.map(|r| r.text("value")).transpose()
    }

    /// Inserts only if absent; returns the value now stored (so two nodes starting together agree).
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, Error> {
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        // On PostgreSQL a concurrent insert of the same key makes this wait for that transaction
        // and then do nothing; the select below (a new statement) sees the winner's row.
        c.execute(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
            args![key, value, millis(Utc::now())],
        )
        .await?;
        let row = c.fetch_optional("SELECT value FROM settings WHERE key = $1", args![key]).await?;
        let stored = match row {
            Some(r) => r.text("value")?,
            None => return Err(Error::corrupt("setting", format!("`{key}` vanished while it was inserted"))),
        };
        tx.commit().await?;
        Ok(stored)
    }

    /// Sets a setting whose old value must not linger in the database files: a secret an earlier
    /// version stored in plain text, replaced by its sealed form. On SQLite the bytes the old
    /// value leaves free are overwritten with zeros (`secure_delete`, for this write only) and
    /// the log is checkpointed at once, so the database file's old page is overwritten too; on
    /// PostgreSQL the old row version is unreachable and goes with the next vacuum.
    pub async fn replace_secret_setting(&self, key: &str, value: &str) -> Result<(), Error> {
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let sqlite = !c.is_postgres();
        if sqlite {
            c.execute("PRAGMA secure_delete = ON", args![]).await?;
        }
        let written = c
            .execute(
                "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                args![key, value, millis(Utc::now())],
            )
            .await;
        if sqlite {
            // SQLite's default; the connection goes back to the pool.
            c.execute("PRAGMA secure_delete = OFF", args![]).await?;
        }
        written?;
        tx.commit().await?;
        self.checkpoint().await
    }

    /// Sets a setting, replacing any value it had.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), Error> {
        let mut tx = self.begin_write().await?;
        tx.conn()
            .execute(
                "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                args![key, value, millis(Utc::now())],
            )
            .await?;
        tx.commit().await
    }

    /// Removes a setting; false when it was not set.
    pub async fn delete_setting(&self, key: &str) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx.conn().execute("DELETE FROM settings WHERE key = $1", args![key]).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    // ---- queries for the worker and /metrics ----

    /// The unfinished (active or error) child Request of a call activity token, if any (the
    /// newest, should there ever be several).
    pub async fn child_of(&self, parent: RequestId, token: u32) -> Result<Option<RequestId>, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx.conn().fetch_optional(CHILD_OF, args![parent.to_string(), i64::from(token)]).await?;
        row.map(|r| parse_id("Request id", &r.text("id")?)).transpose()
    }

    /// What a `cancel_child` job of `parent`'s call `token` finds: the token's unfinished child,
    /// or its `start_child` job still in the outbox (the child may yet be created), or neither.
    ///
    /// The job is looked for first, the child second: a creation deletes its `start_child` job in
    /// the transaction that inserts the child, so once the job is seen gone the child (if one was
    /// created) is seen too, on PostgreSQL's per-statement snapshots as on SQLite's one.
    pub async fn call_child(&self, parent: RequestId, token: u32) -> Result<CallChild, Error> {
        let mut tx = self.begin_read().await?;
        let mut c = tx.conn();
        let a = || args![parent.to_string(), i64::from(token)];
        let starting = c
            .fetch_optional(
                "SELECT id FROM jobs WHERE request_id = $1 AND kind = 'start_child' AND token = $2 LIMIT 1",
                a(),
            )
            .await?;
        if starting.is_some() {
            return Ok(CallChild::Starting);
        }
        match c.fetch_optional(CHILD_OF, a()).await? {
            Some(r) => Ok(CallChild::Running(parse_id("Request id", &r.text("id")?)?)),
            None => Ok(CallChild::None),
        }
    }

    /// The earliest instant at which some job can be claimed: its `due_at`, or for a job held by
    /// a claim lease, the later of `due_at` and `locked_until` (when that lease expires). `None`
    /// when there are no jobs. For the serve loop's sleep.
    pub async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx
            .conn()
            .fetch_optional(
                "SELECT MIN(next) AS next FROM (
                     SELECT MIN(due_at) AS next FROM jobs WHERE locked_by IS NULL
                     UNION ALL
                     SELECT MIN(CASE WHEN locked_until > due_at THEN locked_until ELSE due_at END) AS next
                     FROM jobs WHERE locked_by IS NOT NULL) AS soonest",
                args![],
            )
            .await?;
        match row {
            Some(r) => r.opt_int("next")?.map(|t| from_millis("job due_at", t)).transpose(),
            None => Ok(None),
        }
    }

    /// How many Requests there are, in all or with one status (`active`, `completed`,
    /// `canceled`, `error`; any other string counts none).
    /// Whether the database answers: the cheapest read there is (for health checks).
    pub async fn ping(&self) -> Result<(), Error> {
        let mut tx = self.begin_read().await?;
        tx.conn().fetch_optional("SELECT 1 AS n", args![]).await?;
        Ok(())
    }

    pub async fn count_requests(&self, status: Option<&str>) -> Result<i64, Error> {
        let mut tx = self.begin_read().await?;
        let row = match status {
            Some(s) => {
                tx.conn().fetch_optional("SELECT COUNT(*) AS n FROM requests WHERE status = $1", args![s]).await?
            }
            None => tx.conn().fetch_optional("SELECT COUNT(*) AS n FROM requests", args![]).await?,
        };
        row.map_or(Ok(0), |r| r.int("n"))
    }

    /// How many jobs are due at `now` and not held by a live claim lease (the queue depth).
    pub async fn count_due_jobs(&self, now: DateTime<Utc>) -> Result<i64, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx
            .conn()
            .fetch_optional(
                "SELECT (SELECT COUNT(*) FROM jobs WHERE locked_by IS NULL AND due_at <= $1)
                      + (SELECT COUNT(*) FROM jobs WHERE locked_by IS NOT NULL AND locked_until <= $1 AND due_at <= $1)
                      AS n",
                args![millis(now)],
            )
            .await?;
        row.map_or(Ok(0), |r| r.int("n"))
    }
}
