//! The Slack Notification connector: posts a message to a channel, at most once per step where
//! Slack lets it check, paced per channel, with failures turned into incidents a person can act on.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sluice_connector_api::{Connector, ConnectorError, Context};

use crate::client::{self, Client, ListRequest, PostMessage, TOKEN_CODES};
use crate::message;
use crate::once::{self, Failed, HistoryGate, Lookup, Sent, Tag, Window};
use crate::pacing::Pacer;
use crate::tokens::{Integration, StaticTokens, TokenProvider};

/// The metadata event type that tags every post with its step.
pub const EVENT_TYPE: &str = "sluice_step";

/// How the connector paces and deduplicates.
#[derive(Debug, Clone)]
pub struct Config {
    /// Least time between two posts to one channel from this process. Slack allows about one
    /// message a second per channel; a burst waits here instead of meeting 429s.
    pub channel_interval: Duration,
    /// How far back a retried step looks in the channel for its earlier post.
    pub dedupe_window: Duration,
    /// How many of the channel's messages a retried step reads at most while looking.
    pub dedupe_scan_limit: usize,
    /// Least time between two history looks in one workspace: a minute, Slack's 2025 limit for
    /// apps outside the Slack Marketplace (`SLUICE_SLACK_HISTORY_INTERVAL_MS`).
    pub history_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let window = Window::default();
        Config {
            channel_interval: Duration::from_secs(1),
            dedupe_window: window.age,
            dedupe_scan_limit: window.scan_limit,
            history_interval: once::HISTORY_EVERY,
        }
    }
}

/// The task's inputs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Input {
    /// The channel: an id such as `C0123ABC`, or a name such as `#sales`. Never empty: an empty
    /// value is refused at deploy time, and a template that renders empty raises an incident.
    #[schemars(length(min = 1))]
    pub channel: String,
    /// The message in Slack mrkdwn. Values from the Request's data are escaped before they are
    /// placed in it, so they cannot mention `@channel` or disguise a link. Never empty, as `channel`.
    #[schemars(length(min = 1))]
    pub message: String,
    /// The alias of the Slack integration (workspace) to post with. Default: the only
    /// integration, or the one called `default`.
    #[serde(default)]
    pub integration: Option<String>,
}

/// What the step records: where the message went, so it can be found, threaded or updated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// The channel's id (also when the task named the channel).
    pub channel: String,
    /// The message's timestamp, Slack's id for it within the channel.
    pub ts: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permalink: Option<String>,
}

/// The `slack-notification` connector.
#[derive(Debug)]
pub struct SlackNotification<P = StaticTokens> {
    client: Client,
    tokens: P,
    config: Config,
    /// Shared with [`SlackNotification::camunda`]'s connector: one pace per channel.
    pacer: Arc<Pacer>,
    /// Channel ids learnt from posts, by (alias, channel name): history needs ids.
    channel_ids: Arc<Mutex<HashMap<(String, String), String>>>,
    /// One history look a minute per workspace (Slack's 2025 limit outside the Marketplace).
    history_gate: Arc<HistoryGate>,
}

impl<P: TokenProvider> SlackNotification<P> {
    pub fn new(client: Client, tokens: P) -> Self {
        SlackNotification::with_config(client, tokens, Config::default())
    }

    pub fn with_config(client: Client, tokens: P, config: Config) -> Self {
        let pacer = Arc::new(Pacer::new(config.channel_interval));
        let history_gate = Arc::new(HistoryGate::new(config.history_interval));
        SlackNotification {
            client,
            tokens,
            config,
            pacer,
            channel_ids: Arc::new(Mutex::new(HashMap::new())),
            history_gate,
        }
    }

    /// The connector for Camunda 8's Slack tasks (`io.camunda:slack:1`), posting through this
    /// one (same client, tokens, pacing and channel ids). `secret_aliases` maps a secret's name
    /// to the integration a token `{{secrets.NAME}}` stands for.
    pub fn camunda(&self, secret_aliases: std::collections::BTreeMap<String, String>) -> crate::CamundaSlack<P>
    where
        P: Clone,
    {
        let twin = SlackNotification {
            client: self.client.clone(),
            tokens: self.tokens.clone(),
            config: self.config.clone(),
            pacer: self.pacer.clone(),
            channel_ids: self.channel_ids.clone(),
            history_gate: self.history_gate.clone(),
        };
        crate::CamundaSlack::new(twin, secret_aliases)
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn tokens(&self) -> &P {
        &self.tokens
    }

    async fn notify(&self, cx: &Context, input: Input) -> Result<Output, ConnectorError> {
        let channel = input.channel.trim();
        if channel.trim_start_matches('#').is_empty() {
            return Err(fatal(
                "the task names no Slack channel: set `channel` to an id such as C0123ABC or a name such as #sales"
                    .into(),
            ));
        }
        if input.message.trim().is_empty() {
            return Err(fatal("the Slack message is empty: check the task's `message` template".into()));
        }
        let integration =
            self.tokens.integration(input.integration.as_deref()).await.map_err(|e| fatal(e.to_string()))?;
        let rendered = message::render(&input.message, &cx.request_url);
        match self.deliver(cx, &integration, channel, rendered.text, rendered.blocks).await {
            Ok(sent) => Ok(Output { channel: sent.channel, ts: sent.ts, permalink: None }),
            Err(failed) => Err(failed_error(failed, &integration.alias, channel)),
        }
    }

    /// Posts one message for the step, paced per channel and at most once where Slack lets it
    /// check (the message carries the step's tag).
    pub(crate) async fn deliver(
        &self,
        cx: &Context,
        integration: &Integration,
        channel: &str,
        text: String,
        blocks: Vec<serde_json::Value>,
    ) -> Result<Sent, Failed> {
        let step = cx.idempotency_key().step();
        let tag = Tag { event_type: EVENT_TYPE, key: &step };
        let post = PostMessage {
            channel: channel.to_string(),
            text,
            blocks: Some(blocks),
            metadata: Some(tag.metadata(json!({}))),
            ..PostMessage::default()
        };
        let look = || self.find_earlier_post(integration, channel, &tag);
        let send = || async {
            let pace_key = self.pace_key(&integration.alias, channel);
            let mut turn = self.pacer.wait(&pace_key).await;
            let result = self.client.post_message(&integration.token, &post).await;
            if let Some(wait) = result.as_ref().err().and_then(client::Error::retry_after) {
                turn.hold(wait);
            }
            // The channel's next post may go `channel_interval` after this answer.
            drop(turn);
            let posted = result?;
            if !is_channel_id(channel) {
                self.remember(&integration.alias, channel, &posted.channel);
            }
            Ok(Sent { channel: posted.channel, ts: posted.ts })
        };
        // Look first only when an earlier run may have posted: its answer was lost, the server
        // stopped during it, or a person retried the step after an incident.
        let check_first = cx.maybe_done_before || cx.idempotency_key().attempt > 1;
        once::post_once_checked(check_first, &step, look, send).await
    }

    /// Looks through the channel's recent history for a message tagged with the step.
    async fn find_earlier_post(
        &self,
        integration: &Integration,
        channel: &str,
        tag: &Tag<'_>,
    ) -> Result<Option<Sent>, Lookup> {
        let channel_id = self.channel_id(integration, channel).await?;
        if let Err(wait) = self.history_gate.take(&integration.alias) {
            // Not skipped: the attempt is tried again when the workspace's minute is over.
            return Err(Lookup::Failed(client::Error::RateLimited { retry_after: wait }));
        }
        let window = Window { age: self.config.dedupe_window, scan_limit: self.config.dedupe_scan_limit };
        once::find(&self.client, &integration.token, &channel_id, tag, &window).await
    }

    /// The channel's id: as given, learnt from an earlier post, or found by name.
    async fn channel_id(&self, integration: &Integration, channel: &str) -> Result<String, Lookup> {
        if is_channel_id(channel) {
            return Ok(channel.to_string());
        }
        let name = normalise(channel);
        if let Some(id) = self.known_id(&integration.alias, &name) {
            return Ok(id);
        }
        let channels = self
            .client
            .conversations_list_all(&integration.token, &ListRequest::default())
            .await
            .map_err(Lookup::from)?;
        let id = channels
            .into_iter()
            .find(|c| c.name == name)
            .map(|c| c.id)
            .ok_or_else(|| Lookup::Unreadable(format!("no channel called #{name} is visible to the bot")))?;
        self.remember(&integration.alias, channel, &id);
        Ok(id)
    }

    fn known_id(&self, alias: &str, name: &str) -> Option<String> {
        let ids = self.channel_ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.get(&(alias.to_string(), name.to_string())).cloned()
    }

    fn remember(&self, alias: &str, channel: &str, id: &str) {
        let mut ids = self.channel_ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.insert((alias.to_string(), normalise(channel)), id.to_string());
    }

    fn pace_key(&self, alias: &str, channel: &str) -> String {
        let channel = if is_channel_id(channel) {
            channel.to_string()
        } else {
            let name = normalise(channel);
            self.known_id(alias, &name).unwrap_or(name)
        };
        format!("{alias}/{channel}")
    }
}

impl<P: TokenProvider> Connector for SlackNotification<P> {
    const TYPE: &'static str = "slack-notification";
    const NAME: &'static str = "Slack Notification";
    type Input = Input;
    type Output = Output;

    fn escape(value: &str) -> Cow<'_, str> {
        message::escape(value)
    }

    async fn invoke(&self, cx: &Context, input: Input) -> Result<Output, ConnectorError> {
        self.notify(cx, input).await
    }
}

/// What a failed [`SlackNotification::deliver`] means for the step.
pub(crate) fn failed_error(failed: Failed, alias: &str, channel: &str) -> ConnectorError {
    match failed {
        // The look an unconfirmed earlier post needs could not be made now: still unconfirmed.
        Failed::Lookup(e) => match map_error(&e, alias, channel) {
            ConnectorError::Retryable { message, retry_after } => ConnectorError::Unconfirmed {
                message: format!(
                    "{message}; an earlier attempt may have posted, so the next one checks the channel first"
                ),
                retry_after,
            },
            other => other,
        },
        Failed::Post(e) => map_error(&e, alias, channel),
        Failed::Unconfirmed(e) => ConnectorError::Unconfirmed {
            message: format!(
                "Slack did not confirm the post to `{channel}` ({e}); the next attempt checks the channel before \
                 posting again"
            ),
            retry_after: None,
        },
    }
}

fn fatal(message: String) -> ConnectorError {
    ConnectorError::Fatal { message }
}

/// Slack channel ids are upper-case letters and digits starting with C, G or D; names are lower case.
fn is_channel_id(channel: &str) -> bool {
    let mut chars = channel.chars();
    matches!(chars.next(), Some('C' | 'G' | 'D'))
        && channel.len() >= 2
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn normalise(channel: &str) -> String {
    channel.trim().trim_start_matches('#').to_lowercase()
}

/// What a failed post means for the step, in words for the person who has to fix it: `Retryable`
/// (rate limits, outages) or `Fatal` with the fix. Also used for Sluice's own notifications.
pub fn map_error(e: &client::Error, alias: &str, channel: &str) -> ConnectorError {
    let code = e.code().unwrap_or_default();
    let message = match code {
        "ratelimited" => {
            return ConnectorError::Retryable {
                message: format!("Slack is rate limiting posts to `{channel}`"),
                retry_after: e.retry_after(),
            };
        }
        c if TOKEN_CODES.contains(&c) => {
            format!("the Slack integration `{alias}` must be reconnected (Slack said `{c}`)")
        }
        "channel_not_found" | "not_in_channel" => format!(
            "check the channel `{channel}` and invite the bot to it (private channels answer channel_not_found \
             until the bot is a member; Slack said `{code}`)"
        ),
        "is_archived" => {
            format!(
                "the channel `{channel}` is archived: unarchive it or choose another channel (Slack said `is_archived`)"
            )
        }
        "msg_too_long" => {
            "the message is too long for Slack: shorten the task's message (Slack said `msg_too_long`)".into()
        }
        "no_text" => "the message is empty (Slack said `no_text`): check the task's message template".into(),
        "invalid_blocks" | "invalid_blocks_format" => {
            let details = match e {
                client::Error::Api { details, .. } if !details.is_empty() => format!(": {}", details.join("; ")),
                _ => String::new(),
            };
            format!(
                "Slack refused the message's layout (Slack said `{code}`{details}); check the message's mrkdwn, \
                 and report it to the Sluice team if it looks right"
            )
        }
        "missing_scope" => {
            let needed = match e {
                client::Error::Api { needed: Some(needed), .. } => needed.as_str(),
                _ => "chat:write",
            };
            format!(
                "the Slack app of integration `{alias}` lacks the scope `{needed}`: add it to the app and reinstall \
                 the app to the workspace (Slack said `missing_scope`)"
            )
        }
        _ if e.is_retryable() => {
            return ConnectorError::Retryable {
                message: format!("Slack is unavailable: {e}"),
                retry_after: e.retry_after(),
            };
        }
        "" => format!("Slack could not be reached as configured: {e}"),
        c => format!("Slack refused the message to `{channel}` (Slack said `{c}`)"),
    };
    fatal(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        assert!(is_channel_id("C0123ABC") && is_channel_id("G0SECRET") && is_channel_id("D024BE91L"));
        assert!(!is_channel_id("#sales") && !is_channel_id("sales") && !is_channel_id("C") && !is_channel_id("Cab"));
        assert_eq!(normalise(" #Sales "), "sales");
    }
}
