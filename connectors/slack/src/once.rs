//! Posting at most once where Slack lets Sluice check.
//!
//! Slack's `chat.postMessage` takes no idempotency key. Instead every post carries message
//! metadata, an event type and a `key` in its payload ([`Tag`]). Whether a post went through is
//! known from its answer, and the engine records that answer with the step before anything else
//! happens; only when an answer was lost (a timeout, a broken connection, a 5xx, or the server
//! stopped during the call: the engine tells the next attempt, see
//! `Context::maybe_done_before`) does an attempt read the channel's recent history
//! (`conversations.history` with `include_all_metadata`) for that key before posting
//! ([`post_once_checked`]).
//!
//! Since 2025 Slack allows apps outside the Slack Marketplace one `conversations.history` call a
//! minute and 15 messages per call. So a look reads one page of at most 15 messages (the
//! [`Window`]), and at most one look a minute is made per workspace ([`HistoryGate`]); a look
//! that must wait is not skipped: the attempt is retried when the minute is over, still marked
//! as unconfirmed. A post not among the channel's 15 newest messages is not found, and the
//! attempt posts again (a duplicate is possible in a channel busier than that); reading history
//! also needs `channels:history` / `groups:history` and the bot in the channel: without them the
//! post goes ahead, which may duplicate, and a log line says so.
//!
//! Used by the Slack Notification connector (key: the step) and by Sluice's own notifications
//! about Requests (key: the notification).

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::client::{self, Client, HistoryRequest, Metadata};
use sluice_connector_api::Secret;

/// What marks a post as this one: the metadata event type and the key in its payload.
#[derive(Debug, Clone, Copy)]
pub struct Tag<'a> {
    pub event_type: &'a str,
    pub key: &'a str,
}

impl Tag<'_> {
    /// The metadata to post with: `payload` (an object; anything else is replaced) plus `key`.
    pub fn metadata(&self, payload: Value) -> Metadata {
        let mut payload = match payload {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        payload.insert("key".into(), json!(self.key));
        Metadata { event_type: self.event_type.to_string(), event_payload: Value::Object(payload) }
    }

    fn marks(&self, metadata: &Metadata) -> bool {
        metadata.event_type == self.event_type
            && metadata.event_payload.get("key").and_then(Value::as_str) == Some(self.key)
    }
}

/// How far back, and through how many messages, a look for an earlier post goes.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub age: Duration,
    pub scan_limit: usize,
}

impl Default for Window {
    /// A day, at most 15 messages (one call, within Slack's 2025 limit for apps outside the
    /// Marketplace).
    fn default() -> Self {
        Window { age: Duration::from_secs(24 * 60 * 60), scan_limit: HISTORY_PAGE }
    }
}

/// Messages per `conversations.history` call: Slack's 2025 limit for apps outside the Slack
/// Marketplace.
pub const HISTORY_PAGE: usize = 15;

/// How often one workspace's history may be read: once a minute (Slack's 2025 limit for apps
/// outside the Slack Marketplace).
pub const HISTORY_EVERY: Duration = Duration::from_secs(60);

/// At most one history look per workspace per interval ([`HISTORY_EVERY`] by default), in
/// this process.
#[derive(Debug)]
pub struct HistoryGate {
    every: Duration,
    last: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl Default for HistoryGate {
    fn default() -> Self {
        HistoryGate::new(HISTORY_EVERY)
    }
}

impl HistoryGate {
    pub fn new(every: Duration) -> Self {
        HistoryGate { every, last: std::sync::Mutex::new(std::collections::HashMap::new()) }
    }

    /// Takes the workspace's turn to read history now, or says how long until it may.
    pub fn take(&self, workspace: &str) -> Result<(), Duration> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        if let Some(at) = last.get(workspace) {
            let since = now.duration_since(*at);
            if since < self.every {
                return Err(self.every - since);
            }
        }
        last.insert(workspace.to_string(), now);
        Ok(())
    }
}

/// A message in a channel: where a post went, or where an earlier attempt's post was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The channel's id.
    pub channel: String,
    pub ts: String,
}

/// Why an earlier post could not be looked for.
#[derive(Debug)]
pub enum Lookup {
    /// The channel's history cannot be read with this token (a missing history scope, the bot
    /// not in the channel, a name that cannot be turned into an id): posting may duplicate.
    Unreadable(String),
    /// Slack failed in a way that also stops a post (token, outage, rate limit).
    Failed(client::Error),
}

impl From<client::Error> for Lookup {
    fn from(e: client::Error) -> Self {
        if e.token_refused() || e.is_retryable() { Lookup::Failed(e) } else { Lookup::Unreadable(e.to_string()) }
    }
}

/// Looks through the recent history of the channel `channel_id` for a message tagged `tag`.
pub async fn find(
    client: &Client,
    token: &Secret,
    channel_id: &str,
    tag: &Tag<'_>,
    window: &Window,
) -> Result<Option<Sent>, Lookup> {
    let oldest = SystemTime::now()
        .checked_sub(window.age)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs().to_string());
    let mut request = HistoryRequest {
        channel: channel_id.to_string(),
        oldest,
        limit: Some(window.scan_limit.clamp(1, 200) as u32),
        include_all_metadata: true,
        ..HistoryRequest::default()
    };
    let mut scanned = 0;
    loop {
        let page = client.conversations_history(token, &request).await?;
        scanned += page.messages.len();
        if let Some(m) = page.messages.into_iter().find(|m| m.metadata.as_ref().is_some_and(|md| tag.marks(md))) {
            return Ok(Some(Sent { channel: channel_id.to_string(), ts: m.ts }));
        }
        match page.next_cursor {
            Some(cursor) if scanned < window.scan_limit => request.cursor = Some(cursor),
            _ => return Ok(None),
        }
    }
}

/// Why [`post_once`] did not end with a message in the channel.
#[derive(Debug)]
pub enum Failed {
    /// The look for an earlier attempt's post failed in a way that would stop a post too.
    Lookup(client::Error),
    /// Slack refused the post, or failed before carrying it out.
    Post(client::Error),
    /// Slack may have posted (the answer was lost) and no post could be found right after: try
    /// again later; the next attempt looks first.
    Unconfirmed(client::Error),
}

/// Posts at most once where Slack lets it check: attempt 1 posts at once; attempt 2 and later
/// first `look` for an earlier attempt's post and return it when found. A post whose outcome is
/// unknown is looked for right away. `what` names the post in log lines.
pub async fn post_once<L, LF, P, PF>(attempt: u32, what: &str, look: L, post: P) -> Result<Sent, Failed>
where
    L: Fn() -> LF,
    LF: Future<Output = Result<Option<Sent>, Lookup>>,
    P: FnOnce() -> PF,
    PF: Future<Output = Result<Sent, client::Error>>,
{
    post_once_checked(attempt > 1, what, look, post).await
}

/// [`post_once`], told by the caller whether an earlier attempt may have posted (`check_first`):
/// only then does it `look` before posting.
pub async fn post_once_checked<L, LF, P, PF>(check_first: bool, what: &str, look: L, post: P) -> Result<Sent, Failed>
where
    L: Fn() -> LF,
    LF: Future<Output = Result<Option<Sent>, Lookup>>,
    P: FnOnce() -> PF,
    PF: Future<Output = Result<Sent, client::Error>>,
{
    if check_first {
        match look().await {
            Ok(Some(found)) => {
                tracing::info!(what, channel = found.channel, ts = found.ts, "an earlier attempt already posted");
                return Ok(found);
            }
            Ok(None) => {
                tracing::info!(
                    what,
                    "no earlier post among the channel's newest messages (Slack lets an app outside its Marketplace \
                     read 15 a minute); posting"
                );
            }
            Err(Lookup::Unreadable(why)) => {
                tracing::warn!(
                    what,
                    why,
                    "cannot check the channel for an earlier attempt's post (give the Slack app channels:history and \
                     groups:history and invite the bot); posting, which may duplicate"
                );
            }
            Err(Lookup::Failed(e)) => return Err(Failed::Lookup(e)),
        }
    }
    match post().await {
        Ok(sent) => Ok(sent),
        // Slack may have posted: look before anyone tries again.
        Err(e) if e.outcome_unknown() => match look().await {
            Ok(Some(found)) => {
                tracing::info!(
                    what,
                    channel = found.channel,
                    ts = found.ts,
                    "Slack posted although its answer was lost"
                );
                Ok(found)
            }
            _ => Err(Failed::Unconfirmed(e)),
        },
        Err(e) => Err(Failed::Post(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_mark_only_their_own_posts() {
        let tag = Tag { event_type: "sluice_step", key: "r1/notify" };
        let metadata = tag.metadata(json!({"request_id": "r1"}));
        assert_eq!(metadata.event_payload, json!({"request_id": "r1", "key": "r1/notify"}));
        assert!(tag.marks(&metadata));
        assert!(!Tag { event_type: "sluice_step", key: "r1/other" }.marks(&metadata));
        assert!(!Tag { event_type: "sluice_notification", key: "r1/notify" }.marks(&metadata));
        assert_eq!(tag.metadata(Value::Null).event_payload, json!({"key": "r1/notify"}));
    }

    #[test]
    fn only_history_failures_that_stop_a_post_stop_the_look() {
        let api = |code: &str| client::Error::Api { code: code.into(), needed: None, provided: None, details: vec![] };
        assert!(matches!(Lookup::from(api("missing_scope")), Lookup::Unreadable(_)));
        assert!(matches!(Lookup::from(api("not_in_channel")), Lookup::Unreadable(_)));
        assert!(matches!(Lookup::from(api("token_revoked")), Lookup::Failed(_)));
        assert!(matches!(Lookup::from(api("internal_error")), Lookup::Failed(_)));
        let limited = client::Error::RateLimited { retry_after: Duration::from_secs(3) };
        assert!(matches!(Lookup::from(limited), Lookup::Failed(_)));
    }
}
