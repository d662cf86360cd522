//! Notification settings per process, and the history a notification leaves in its Request.
//!
//! A notification is an outbox job ([`JobKind::Notification`](crate::JobKind)) planned with the
//! step that caused it; what became of it (`notification_sent`, `notification_failed`, …) is
//! appended to the Request's history together with the job's removal, in one transaction, by
//! [`Store::record_notification`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::Error;
use crate::changes::NewEvent;
use crate::db::args;
use crate::history::{StoredEvent, batch_text};
use crate::store::Store;
use crate::types::{JobId, RequestId, from_millis, millis};

/// Most channels one event of one process may notify.
pub const MAX_CHANNELS_PER_EVENT: usize = 20;

pub use sluice_engine::NotificationEvent;

/// Who is told what about the Requests of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationSettings {
    pub process_key: String,
    /// The alias of the Slack integration that posts.
    pub integration: String,
    /// The channel ids of each event; an event left out notifies nobody.
    pub events: BTreeMap<NotificationEvent, Vec<String>>,
    /// Direct messages and message templates.
    pub options: NotificationOptions,
    pub updated_at: DateTime<Utc>,
}

/// Longest message template of one event, in characters (a Slack section holds 3,000).
pub const MAX_TEMPLATE_CHARS: usize = 2_000;

/// What a process's notifications say and where a task meant for one person goes.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NotificationOptions {
    /// Whether `task_waiting` of a task meant for one person (an assignee, or a single candidate
    /// user and no group) goes to them as a direct message.
    pub direct_message: DirectMessage,
    /// Per event, a text shown in the message, written as a template over the Request's data
    /// (`{{ customer.name }}`, escaped as the Slack connector escapes data).
    pub templates: BTreeMap<NotificationEvent, String>,
}

/// Where `task_waiting` of a task meant for one person goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectMessage {
    /// Only to the event's channels.
    #[default]
    Off,
    /// To the channels and to the person.
    Also,
    /// To the person instead of the channels (to the channels when it is meant for nobody in
    /// particular).
    Only,
}

impl DirectMessage {
    pub fn as_str(self) -> &'static str {
        match self {
            DirectMessage::Off => "off",
            DirectMessage::Also => "also",
            DirectMessage::Only => "only",
        }
    }

    pub fn parse(s: &str) -> Option<DirectMessage> {
        [DirectMessage::Off, DirectMessage::Also, DirectMessage::Only].into_iter().find(|d| d.as_str() == s)
    }
}

impl NotificationSettings {
    /// The channels of one event (empty when none).
    pub fn channels(&self, event: NotificationEvent) -> &[String] {
        self.events.get(&event).map(Vec::as_slice).unwrap_or_default()
    }
}

impl Store {
    /// Stores (or replaces) the notification settings of a process key. Checking them is the
    /// caller's job (the API checks the integration and the channels).
    pub async fn put_notification_settings(&self, settings: &NotificationSettings) -> Result<(), Error> {
        let events = serde_json::to_string(&settings.events)
            .map_err(|source| Error::Serialize { what: "notification settings", source })?;
        let options = serde_json::to_string(&settings.options)
            .map_err(|source| Error::Serialize { what: "notification options", source })?;
        let mut tx = self.begin_write().await?;
        tx.conn()
            .execute(
                "INSERT INTO notification_settings (process_key, integration, events, options, updated_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (process_key) DO UPDATE
                 SET integration = excluded.integration, events = excluded.events, options = excluded.options,
                     updated_at = excluded.updated_at",
                args![
                    settings.process_key.as_str(),
                    settings.integration.as_str(),
                    events,
                    options,
                    millis(settings.updated_at)
                ],
            )
            .await?;
        tx.commit().await
    }

    /// The notification settings of a process key, if any were stored.
    pub async fn notification_settings(&self, process_key: &str) -> Result<Option<NotificationSettings>, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx
            .conn()
            .fetch_optional(
                "SELECT process_key, integration, events, options, updated_at FROM notification_settings
                 WHERE process_key = $1",
                args![process_key],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        let events = r.text("events")?;
        let events = serde_json::from_str(&events).map_err(|e| Error::corrupt("notification settings", e))?;
        Ok(Some(NotificationSettings {
            process_key: r.text("process_key")?,
            integration: r.text("integration")?,
            events,
            options: serde_json::from_str(&r.text("options")?)
                .map_err(|e| Error::corrupt("notification options", e))?,
            updated_at: from_millis("notification settings updated_at", r.int("updated_at")?)?,
        }))
    }

    // Reads like `notification_settings` above, but a different query and answer (the keys only,
    // all rows of an integration): only the read-transaction boilerplate is alike.
    /// The process keys whose notification settings post with the integration `alias`, sorted.
    pub async fn notification_settings_using(&self, alias: &str) -> Result<Vec<String>, Error> {
        let mut tx = self.begin_read().await?;
        let rows = tx
            .conn()
            .fetch_all(
                "SELECT process_key FROM notification_settings WHERE integration = $1 ORDER BY process_key",
                args![alias],
            )
            .await?;
        rows.iter().map(|r| r.text("process_key")).collect()
    }

    /// Appends `events` to a Request's history and deletes `job` (the notification job they
    /// report on, if any), in one transaction. Returns false when the Request is gone (the job
    /// is deleted all the same).
    ///
    /// The events are numbered after the last event of the Request's current revision: a step
    /// writes its events under a new revision, so they cannot collide. On PostgreSQL the
    /// Request's row is locked for the transaction, so a concurrent step or recording waits
    /// instead of taking the same numbers; on SQLite the write transaction already excludes them.
    pub async fn record_notification(
        &self,
        request: RequestId,
        job: Option<JobId>,
        events: &[NewEvent],
    ) -> Result<bool, Error> {
        let rid = request.to_string();
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        if let Some(job) = job {
            c.execute("DELETE FROM jobs WHERE id = $1", args![job.to_string()]).await?;
        }
        let lock = if c.is_postgres() { " FOR UPDATE" } else { "" };
        let row = c
            .fetch_optional(&format!("SELECT revision FROM requests WHERE id = $1{lock}"), args![rid.as_str()])
            .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(false);
        };
        let revision = row.int("revision")?;
        // The next part of this revision's history (the step's own events are part 0).
        let last = c
            .fetch_optional(
                "SELECT MAX(part) AS part FROM event_batches WHERE request_id = $1 AND revision = $2",
                args![rid.as_str(), revision],
            )
            .await?;
        let part = match last {
            Some(r) => r.opt_int("part")?.map_or(0, |p| p + 1),
            None => 0,
        };
        let stored: Vec<StoredEvent<'_>> = events
            .iter()
            .map(|e| StoredEvent {
                id: e.id,
                at: millis(e.at),
                element_id: e.element_id.as_deref().map(std::borrow::Cow::Borrowed),
                event: std::borrow::Cow::Borrowed(&e.event),
            })
            .collect();
        if !stored.is_empty() {
            c.execute(
                "INSERT INTO event_batches (request_id, revision, part, n, events) VALUES ($1, $2, $3, $4, $5)",
                args![rid.as_str(), revision, part, stored.len() as i64, batch_text(&stored)?],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
