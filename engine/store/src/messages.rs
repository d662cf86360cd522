//! Kept messages (a publish's `time_to_live`) and remembered `message_id`s: the store side of
//! messages as Camunda 8 users know them. A kept message waits in `buffered_messages` until a
//! matching subscription opens ([`Store::take_matched_messages`] turns it into a `message` job,
//! which the worker delivers as any published message) or until it expires.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::Error;
use crate::changes::NewJob;
use crate::db::args;
use crate::store::{Store, insert_job, json_text};
use crate::types::{JobId, JobKind, from_millis, millis};

/// How long a `message_id` is remembered at least, whatever the message's time to live: long
/// enough for a client's retries of one publish.
pub const MESSAGE_ID_MEMORY: Duration = Duration::hours(1);

/// A message to keep until `expires_at`.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptMessage {
    pub name: String,
    pub correlation_key: Option<String>,
    /// The message's data (an object).
    pub data: Value,
    pub expires_at: DateTime<Utc>,
}

/// The payload of the `message` job a matched kept message becomes: what the worker's message
/// job reads, with the expiry so that the job keeps it again if the subscription went away.
fn message_job_payload(m: &KeptMessage) -> Value {
    serde_json::json!({
        "name": m.name,
        "correlation_key": m.correlation_key,
        "data": m.data,
        "expires_at": millis(m.expires_at),
    })
}

impl Store {
    /// Remembers `message_id` for a message named `name` until `until` (at least
    /// [`MESSAGE_ID_MEMORY`] from `now`). Returns false when the id is already remembered and
    /// has not expired: a publish seen before, not to be delivered again.
    pub async fn remember_message_id(
        &self,
        name: &str,
        message_id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let until = until.max(now + MESSAGE_ID_MEMORY);
        let mut tx = self.begin_write().await?;
        let fresh = {
            let mut c = tx.conn();
            // An expired one is forgotten first, so the id can be used again.
            c.execute(
                "DELETE FROM message_ids WHERE name = $1 AND message_id = $2 AND expires_at <= $3",
                args![name, message_id, millis(now)],
            )
            .await?;
            c.execute(
                "INSERT INTO message_ids (name, message_id, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name, message_id) DO NOTHING",
                args![name, message_id, millis(until)],
            )
            .await?
                > 0
        };
        tx.commit().await?;
        Ok(fresh)
    }

    /// Keeps a message until it expires; with `job`, deletes that (`message`) job in the same
    /// transaction: the job found no subscription and hands its message back to the buffer.
    /// Returns false (and keeps nothing) when `job` was no longer there.
    pub async fn keep_message(&self, m: &KeptMessage, job: Option<JobId>, now: DateTime<Utc>) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        {
            let mut c = tx.conn();
            if let Some(job) = job
                && c.execute("DELETE FROM jobs WHERE id = $1", args![job.to_string()]).await? == 0
            {
                return Ok(false);
            }
            c.execute(
                "INSERT INTO buffered_messages (id, name, correlation_key, data, expires_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                args![
                    uuid::Uuid::now_v7().to_string(),
                    m.name.as_str(),
                    m.correlation_key.as_deref(),
                    json_text("message data", &m.data)?,
                    millis(m.expires_at),
                    millis(now),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Forgets expired kept messages and `message_id`s, then turns up to `limit` kept messages
    /// that a subscription now waits for into `message` jobs due at `now`, oldest first, each
    /// row deleted in the same transaction as its job is written (so a message is handed on at
    /// most once, by one node). Returns how many it handed on and how many are still kept.
    pub async fn take_matched_messages(&self, now: DateTime<Utc>, limit: u32) -> Result<(usize, u64), Error> {
        let mut tx = self.begin_write().await?;
        let taken = {
            let mut c = tx.conn();
            c.execute("DELETE FROM buffered_messages WHERE expires_at <= $1", args![millis(now)]).await?;
            c.execute("DELETE FROM message_ids WHERE expires_at <= $1", args![millis(now)]).await?;
            // A keyed message matches a subscription with its key or one without a key; a message
            // without a key matches only subscriptions without one (as `find_message_subscription`).
            let rows = c
                .fetch_all(
                    "SELECT id, name, correlation_key, data, expires_at FROM buffered_messages b
                     WHERE EXISTS (SELECT 1 FROM subscriptions s
                                   WHERE s.kind = 'message' AND s.name = b.name
                                     AND (s.correlation_key = b.correlation_key OR s.correlation_key IS NULL))
                     ORDER BY created_at, id LIMIT $1",
                    args![i64::from(limit)],
                )
                .await?;
            let mut taken = 0;
            for row in &rows {
                let id = row.text("id")?;
                if c.execute("DELETE FROM buffered_messages WHERE id = $1", args![id.as_str()]).await? == 0 {
                    continue;
                }
                let data = serde_json::from_str(&row.text("data")?).map_err(|e| Error::corrupt("message data", e))?;
                let expires_at = from_millis("message expiry", row.int("expires_at")?)?;
                let m = KeptMessage {
                    name: row.text("name")?,
                    correlation_key: row.opt_text("correlation_key")?,
                    data,
                    expires_at,
                };
                let job = NewJob {
                    id: JobId::new(),
                    kind: JobKind::Message,
                    due_at: now,
                    subscription: None,
                    token: None,
                    element_id: None,
                    payload: message_job_payload(&m),
                };
                insert_job(&mut c, None, &job, millis(now)).await?;
                taken += 1;
            }
            let kept = c.fetch_optional("SELECT COUNT(*) AS n FROM buffered_messages", args![]).await?;
            let kept = match kept {
                Some(row) => u64::try_from(row.int("n")?).unwrap_or(0),
                None => 0,
            };
            (taken, kept)
        };
        tx.commit().await?;
        Ok(taken)
    }

    /// The messages kept now (not expired), oldest first, at most `limit`.
    pub async fn kept_messages(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<KeptMessage>, Error> {
        let mut tx = self.begin_read().await?;
        let rows = tx
            .conn()
            .fetch_all(
                "SELECT name, correlation_key, data, expires_at FROM buffered_messages
                 WHERE expires_at > $1 ORDER BY created_at, id LIMIT $2",
                args![millis(now), i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(KeptMessage {
                    name: row.text("name")?,
                    correlation_key: row.opt_text("correlation_key")?,
                    data: serde_json::from_str(&row.text("data")?).map_err(|e| Error::corrupt("message data", e))?,
                    expires_at: from_millis("message expiry", row.int("expires_at")?)?,
                })
            })
            .collect()
    }
}
