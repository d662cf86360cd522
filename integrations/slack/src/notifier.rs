//! Slack notifications about Requests: the [`Notifications`] provider the engine delivers
//! `notification` jobs through, the Block Kit messages, and the signed Approve/Reject buttons of a
//! waiting user task that `POST /api/v1/slack/interactions` acts on.
//!
//! Tokens come from a [`TokenProvider`]: in `sluice serve`, the stored Slack integrations
//! ([`SlackIntegrations`](crate::integrations::SlackIntegrations), chosen by alias;
//! `SLACK_BOT_TOKEN` is registered there as `default` at start). The signing secret comes from a
//! [`SigningSecret`]: in `sluice serve`, [`StoredOrEnvSecret`], the one stored with the Slack app's
//! settings, else `SLACK_SIGNING_SECRET`.
//!
//! A button's `value` is `v1.<request>.<task>.<a|r>.<alias>.<hmac>`: HMAC-SHA256 under a random
//! key generated once and kept in the `settings` table (the same on every node), sealed with
//! `SLUICE_SECRET_KEY` like the other secrets, so a payload that names another task, flips the
//! decision or points at another workspace is refused. A key stored plain by an earlier version
//! is sealed in place (the same key: its buttons keep working).

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sluice_connector_api::ConnectorError;
use sluice_engine::{HistoryEvent, NotificationRef};
use sluice_slack::Secret;
use sluice_slack::client::{self, Client, PostMessage, UpdateMessage};
use sluice_slack::message::escape;
use sluice_slack::once::{self, Failed, Sent, Tag, Window};
use sluice_slack::tokens::{self, Integration, TokenProvider};
use sluice_store::{NotificationEvent, NotificationSettings, RequestId, Store, TaskId};
use sluice_worker::{BoxFuture, CachedSettings, Delivered, Notification, Notifications, NotifyError};
use subtle::ConstantTimeEq;

/// The `settings` key of the button-signing key.
const BUTTON_KEY_SETTING: &str = "slack_button_key";
/// The associated data of the sealed button key.
const BUTTON_KEY_PURPOSE: &str = "slack_notifications:button_key";
/// How long a node keeps a process's notification settings before reading them again; a change
/// saved through another node is seen after at most this long.
pub const SETTINGS_TTL: Duration = Duration::from_secs(5);
/// The metadata event type of Sluice's notification messages.
pub const EVENT_TYPE: &str = "sluice_notification";
/// Action ids of the buttons.
pub const APPROVE_ACTION: &str = "sluice_approve";
pub const REJECT_ACTION: &str = "sluice_reject";
/// The longest incident text placed in a message (a section holds 3,000 characters).
const MAX_DETAIL_CHARS: usize = 2_000;

/// A [`TokenProvider`] as a trait object.
pub trait Tokens: Send + Sync + 'static {
    fn lookup<'a>(&'a self, alias: Option<&'a str>) -> BoxFuture<'a, Result<Integration, tokens::Error>>;
}

impl<P: TokenProvider> Tokens for P {
    fn lookup<'a>(&'a self, alias: Option<&'a str>) -> BoxFuture<'a, Result<Integration, tokens::Error>> {
        Box::pin(self.integration(alias))
    }
}

/// Where the Slack app's signing secret comes from.
pub trait SigningSecret: Send + Sync + 'static {
    fn signing_secret(&self) -> BoxFuture<'_, Option<Secret>>;
}

/// The signing secret stored with the Slack app settings (API or `SLACK_SIGNING_SECRET` with the
/// app's client credentials), else `SLACK_SIGNING_SECRET` alone (a bot-token install without an
/// OAuth app).
pub struct StoredOrEnvSecret {
    pub stored: crate::integrations::SlackIntegrations,
    pub env: Option<Secret>,
}

impl SigningSecret for StoredOrEnvSecret {
    fn signing_secret(&self) -> BoxFuture<'_, Option<Secret>> {
        Box::pin(async move {
            match self.stored.signing_secret().await {
                Ok(Some(secret)) => Some(secret),
                Ok(None) => self.env.clone(),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the Slack signing secret; refusing interactions");
                    None
                }
            }
        })
    }
}

/// What Slack says of a channel that notifications would go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelCheck {
    /// The bot can post there.
    Postable,
    /// It cannot: why, and what to do, for the person saving the settings.
    Refused(String),
}

/// Why a channel could not be checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unchecked {
    /// The integration cannot check (or post) at all: its token, or a missing scope.
    Integration(String),
    /// Slack is rate limiting or cannot be reached: try again after `retry_after`.
    Unavailable { message: String, retry_after: Duration },
}

/// How long to wait before checking again when Slack failed without saying.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(10);

/// What a failed `conversations.info` means for the settings being checked.
fn channel_check_failure(e: &client::Error, alias: &str, channel: &str) -> Result<ChannelCheck, Unchecked> {
    let unavailable = |message: String| Unchecked::Unavailable {
        message,
        retry_after: e.retry_after().unwrap_or(UNAVAILABLE_RETRY).max(Duration::from_secs(1)),
    };
    match e {
        client::Error::Api { code, .. } if code == "channel_not_found" => Ok(ChannelCheck::Refused(format!(
            "the bot of integration `{alias}` cannot see a channel `{channel}`: if it is a private channel, invite the \
             bot with /invite @your-app in the channel (Slack answers channel_not_found until then); otherwise check \
             the id"
        ))),
        e if e.token_refused() => Err(Unchecked::Integration(format!(
            "the Slack integration `{alias}` must be reconnected (Slack said `{}`)",
            e.code().unwrap_or_default()
        ))),
        client::Error::Api { code, needed, .. } if code == "missing_scope" => Err(Unchecked::Integration(format!(
            "the Slack app of integration `{alias}` lacks the scope `{}` needed to check channels: add it to the app \
             and reinstall the app to the workspace",
            needed.as_deref().unwrap_or("channels:read, groups:read")
        ))),
        client::Error::RateLimited { retry_after } => Err(unavailable(format!(
            "Slack is rate limiting channel checks; nothing was saved, try again in {} s",
            retry_after.as_secs().max(1)
        ))),
        client::Error::Api { code, .. } if !e.is_retryable() => {
            Ok(ChannelCheck::Refused(format!("Slack refused to describe `{channel}` (Slack said `{code}`)")))
        }
        _ => Err(unavailable(format!("cannot check the channels with Slack ({e}); nothing was saved, try again"))),
    }
}

/// A decision carried by a button.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub request: RequestId,
    pub task: TaskId,
    pub approved: bool,
    /// The integration that posted the message (to update it with the same token).
    pub integration: String,
}

/// Slack notifications and buttons.
pub struct SlackNotifier {
    client: Client,
    tokens: Arc<dyn Tokens>,
    signing: Arc<dyn SigningSecret>,
    settings: CachedSettings,
    store: Store,
    /// Seals the button key at rest.
    secrets: crate::integrations::SlackIntegrations,
    button_key: tokio::sync::OnceCell<Vec<u8>>,
    /// How far back a retried delivery looks for its earlier post.
    window: Window,
    /// Sluice users Slack found no account for, by integration and username, and when: asked
    /// again only after [`NOT_IN_SLACK_TTL`].
    not_in_slack: std::sync::Mutex<std::collections::HashMap<(String, String), std::time::Instant>>,
    /// Where response URLs may point besides Slack's own (`https://hooks.slack.com/`): the Slack
    /// API's origin (a test's fake Slack).
    api_origin: String,
}

/// How long a Sluice user whom Slack does not know (by email) is not looked up again.
const NOT_IN_SLACK_TTL: Duration = Duration::from_secs(600);
/// Most people mentioned by name in one message.
const MAX_MENTIONS: usize = 10;

/// Who clicked a button, as Sluice knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clicker {
    /// The Sluice user linked to the Slack user (by an admin, or found by their email).
    User(sluice_store::UserRow),
    /// No Sluice user: why, for the ephemeral reply.
    Unknown(String),
}

/// What a message shows besides its event: who the task is for, the process's template.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// Who the task is for, with Slack mentions where the person is known there.
    pub people: Option<String>,
    /// The process's template for this event, rendered over the Request's data.
    pub fields: Option<String>,
}

impl SlackNotifier {
    pub fn new(
        store: Store,
        client: Client,
        tokens: Arc<dyn Tokens>,
        signing: Arc<dyn SigningSecret>,
        secrets: crate::integrations::SlackIntegrations,
    ) -> Self {
        SlackNotifier {
            client,
            tokens,
            signing,
            settings: CachedSettings::new(store.clone(), SETTINGS_TTL),
            store,
            secrets,
            button_key: tokio::sync::OnceCell::new(),
            window: Window::default(),
            not_in_slack: std::sync::Mutex::new(std::collections::HashMap::new()),
            api_origin: String::new(),
        }
    }

    /// The notifier `sluice serve` uses: tokens and the signing secret from the stored Slack
    /// integrations and app settings (`SLACK_BOT_TOKEN` and `SLACK_SIGNING_SECRET` end up there).
    /// Rate limits are not waited out inside a call: the job goes back to the outbox until
    /// `Retry-After` has passed, so the worker is not held up.
    pub fn with_integrations(
        store: Store,
        api_url: &str,
        integrations: crate::integrations::SlackIntegrations,
        env_signing_secret: Option<&str>,
    ) -> Result<Self, client::Error> {
        let mut config = client::Config::new(api_url);
        config.rate_limit_retries = 0;
        let client = Client::with_config(config)?;
        let env = env_signing_secret.map(str::trim).filter(|s| !s.is_empty()).map(Secret::new);
        let signing = Arc::new(StoredOrEnvSecret { stored: integrations.clone(), env });
        let mut notifier = SlackNotifier::new(store, client, Arc::new(integrations.clone()), signing, integrations);
        notifier.api_origin = origin(api_url);
        Ok(notifier)
    }

    /// Whether an interaction's `response_url` may be posted to: Slack's own hooks when this
    /// server talks to Slack's API, else only the origin of the API it talks to (a stand-in such
    /// as a test's fake Slack), so a server pointed away from Slack never calls Slack.
    pub fn response_url_allowed(&self, url: &str) -> bool {
        if self.api_origin == "https://slack.com" || self.api_origin.is_empty() {
            url.starts_with("https://hooks.slack.com/")
        } else {
            url.starts_with(&format!("{}/", self.api_origin))
        }
    }

    /// Posts an ephemeral reply to an interaction's `response_url` (Slack shows it only to who
    /// clicked; the HTTP answer to a `block_actions` request is not shown).
    pub async fn reply_ephemeral(&self, response_url: &str, text: &str) -> Result<(), String> {
        if !self.response_url_allowed(response_url) {
            return Err(format!("the response URL `{response_url}` is not Slack's: not posted"));
        }
        let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
        self.client.post_response_url(response_url, &body).await.map_err(|e| e.to_string())
    }

    /// The Sluice user behind the Slack user `slack_user` of the integration `alias`: the one
    /// linked to them, else the one whose email Slack gives for them (`users.info`, scope
    /// `users:read.email`), then linked for next time.
    pub async fn clicker(&self, alias: &str, slack_user: &str) -> Result<Clicker, String> {
        if let Some(user) = self.store.user_by_slack_id(alias, slack_user).await.map_err(|e| e.to_string())? {
            return Ok(Clicker::User(user));
        }
        let integration = self.tokens.lookup(Some(alias)).await.map_err(|e| e.to_string())?;
        let info = match self.client.users_info(&integration.token, slack_user).await {
            Ok(info) => info,
            Err(e) if e.code() == Some("missing_scope") => {
                return Ok(Clicker::Unknown(format!(
                    "your Slack account is not linked to a Sluice user, and the Slack app cannot read emails to \
                     link it (it lacks the scope `{}`): ask an admin to link you",
                    match &e {
                        client::Error::Api { needed: Some(n), .. } => n.as_str(),
                        _ => "users:read.email",
                    }
                )));
            }
            Err(e) if e.code() == Some("user_not_found") => {
                return Ok(Clicker::Unknown("Slack does not know your account here".into()));
            }
            Err(e) => return Err(format!("cannot ask Slack who clicked: {e}")),
        };
        let email = info.profile.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
        let Some(email) = email else {
            return Ok(Clicker::Unknown(
                "your Slack account is not linked to a Sluice user and Slack gives no email to link it by: ask an \
                 admin to link you"
                    .into(),
            ));
        };
        let Some(user) = self.store.user_by_email(email).await.map_err(|e| e.to_string())? else {
            return Ok(Clicker::Unknown(
                "no Sluice user has the email of your Slack account: ask an admin to add or link you".into(),
            ));
        };
        if let Err(e) = self.store.link_slack_user(&user.id, alias, slack_user).await {
            tracing::warn!(error = %e, user = user.username, "cannot record the link to a Slack user");
        }
        // Read again: an admin's link to another Slack user wins over the email.
        match self.store.user_by_slack_id(alias, slack_user).await.map_err(|e| e.to_string())? {
            Some(linked) => Ok(Clicker::User(linked)),
            None if !user.slack_user_ids.contains_key(alias) => Ok(Clicker::User(user)),
            None => Ok(Clicker::Unknown(
                "your Slack account is not the one linked to the Sluice user with your email: ask an admin".into(),
            )),
        }
    }

    /// The Slack user id of the Sluice user `username` in the integration: their link, else the
    /// Slack user with their email (`users.lookupByEmail`), linked for next time. `Ok(None)`: no
    /// such user, or Slack knows nobody with their email.
    pub async fn slack_id_of(
        &self,
        integration: &Integration,
        username: &str,
    ) -> Result<Option<String>, client::Error> {
        let alias = integration.alias.as_str();
        let Ok(Some(user)) = self.store.user_by_username(username).await else { return Ok(None) };
        if let Some(id) = user.slack_user_ids.get(alias) {
            return Ok(Some(id.clone()));
        }
        let key = (alias.to_string(), username.to_string());
        let recently_missing = self
            .not_in_slack
            .lock()
            .map(|m| m.get(&key).is_some_and(|at| at.elapsed() < NOT_IN_SLACK_TTL))
            .unwrap_or(false);
        if user.email.trim().is_empty() || recently_missing {
            return Ok(None);
        }
        match self.client.users_lookup_by_email(&integration.token, user.email.trim()).await {
            Ok(found) if !found.deleted => {
                if let Err(e) = self.store.link_slack_user(&user.id, alias, &found.id).await {
                    tracing::warn!(error = %e, user = username, "cannot record the link to a Slack user");
                }
                Ok(Some(found.id))
            }
            Ok(_) => Ok(None),
            Err(e) if e.code() == Some("users_not_found") => {
                if let Ok(mut m) = self.not_in_slack.lock() {
                    m.retain(|_, at| at.elapsed() < NOT_IN_SLACK_TTL);
                    m.insert(key, std::time::Instant::now());
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Who a task is for, as a line of the message: mentions of people Slack knows (a name
    /// otherwise), groups by name, and the due date.
    async fn people_line(&self, integration: &Integration, n: &Notification) -> Option<String> {
        let a = &n.assignment;
        let mut mentioned = 0;
        let mut mention = async |username: &str| -> String {
            mentioned += 1;
            if mentioned > MAX_MENTIONS {
                return format!("`{}`", escape(username));
            }
            match self.slack_id_of(integration, username).await {
                Ok(Some(id)) => format!("<@{}>", escape(&id)),
                Ok(None) => format!("`{}`", escape(username)),
                Err(e) => {
                    tracing::debug!(error = %e, username, "cannot find a Slack user to mention");
                    format!("`{}`", escape(username))
                }
            }
        };
        let mut parts = Vec::new();
        if let Some(assignee) = &a.assignee {
            parts.push(format!("*Assignee:* {}", mention(assignee).await));
        } else if !a.candidate_users.is_empty() || !a.candidate_groups.is_empty() {
            let mut who = Vec::new();
            for u in &a.candidate_users {
                who.push(mention(u).await);
            }
            who.extend(a.candidate_groups.iter().map(|g| format!("group `{}`", escape(g))));
            parts.push(format!("*For:* {}", who.join(", ")));
        }
        if let Some(due) = a.due {
            parts.push(format!(
                "*Due:* <!date^{}^{{date_short_pretty}} {{time}}|{}>",
                due.timestamp(),
                due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        (!parts.is_empty()).then(|| parts.join(" · "))
    }

    /// The process's template for the notification's event, rendered over the Request's data
    /// (as it is when the message is sent), with the Slack connector's escaping.
    async fn fields(&self, n: &Notification) -> Option<String> {
        let settings = self.settings.get(&n.process_key).await.ok().flatten()?;
        let template = settings.options.templates.get(&n.event)?;
        let request: RequestId = n.request_id.parse().ok()?;
        let data = match self.store.request(request).await {
            Ok(row) => row.data,
            Err(e) => {
                tracing::warn!(error = %e, request = %request, "cannot read a Request's data for its message");
                return None;
            }
        };
        let key = sluice_connector_api::IdempotencyKey {
            request_id: n.request_id.clone(),
            element_id: n.element_id.clone().unwrap_or_default(),
            attempt: 1,
        };
        let cx = sluice_connector_api::Context::new(key, n.process_key.clone(), n.url.clone());
        let vars = sluice_connector_api::template::Vars::new(&data, &cx);
        let text = sluice_connector_api::template::render(template, &vars, escape).into_owned();
        let text: String = text.chars().take(MAX_DETAIL_CHARS).collect();
        (!text.trim().is_empty()).then_some(text)
    }

    /// The integration called `alias`, or why there is none (for checking settings).
    pub async fn integration(&self, alias: &str) -> Result<Integration, tokens::Error> {
        self.tokens.lookup(Some(alias)).await
    }

    pub async fn signing_secret(&self) -> Option<Secret> {
        self.signing.signing_secret().await
    }

    /// Asks Slack (`conversations.info` with the integration's token) whether the bot can post to
    /// `channel`, for checking notification settings before they are saved.
    pub async fn check_channel(&self, integration: &Integration, channel: &str) -> Result<ChannelCheck, Unchecked> {
        let alias = &integration.alias;
        let info = match self.client.conversations_info(&integration.token, channel).await {
            Ok(info) => info,
            Err(e) => return channel_check_failure(&e, alias, channel),
        };
        let has = |scope: &str| info.scopes.as_ref().is_none_or(|s| s.iter().any(|x| x == scope));
        if !has("chat:write") {
            return Err(Unchecked::Integration(format!(
                "the Slack app of integration `{alias}` lacks the scope `chat:write` and cannot post: add it to the app \
                 and reinstall the app to the workspace"
            )));
        }
        let c = &info.channel;
        let name = if c.name.is_empty() { String::new() } else { format!(" (#{})", c.name) };
        let verdict = if c.is_archived {
            ChannelCheck::Refused(format!("`{channel}`{name} is archived: unarchive it or choose another channel"))
        } else if !c.is_member && (c.is_private || !has("chat:write.public")) {
            ChannelCheck::Refused(format!(
                "the bot of integration `{alias}` is not in `{channel}`{name}: invite the bot with /invite @your-app in \
                 the channel{}",
                if c.is_private {
                    ""
                } else {
                    ", or add the scope chat:write.public to the Slack app and reinstall it"
                }
            ))
        } else {
            ChannelCheck::Postable
        };
        Ok(verdict)
    }

    /// Saves a process's settings and forgets this node's cached copy.
    pub async fn save_settings(&self, settings: &NotificationSettings) -> Result<(), sluice_store::Error> {
        self.store.put_notification_settings(settings).await?;
        self.settings.invalidate(&settings.process_key);
        Ok(())
    }

    /// The key buttons are signed with: generated by the first node that needs it, then shared
    /// through the database, sealed. `sluice serve` calls this at start, so a key an earlier
    /// version stored plain is sealed then.
    pub async fn button_key(&self) -> Result<&[u8], String> {
        let key = self.button_key.get_or_try_init(|| self.load_button_key()).await?;
        Ok(key.as_slice())
    }

    async fn load_button_key(&self) -> Result<Vec<u8>, String> {
        let seal = |key: &[u8]| {
            self.secrets.seal_setting(BUTTON_KEY_PURPOSE, key).map_err(|e| format!("cannot seal the button key: {e}"))
        };
        let stored = match self.store.setting(BUTTON_KEY_SETTING).await.map_err(|e| e.to_string())? {
            Some(stored) => stored,
            None => {
                let fresh = sluice_secrets::random_hex().map_err(|e| format!("cannot generate a key: {e}"))?;
                // Another node may have stored its key meanwhile: the stored one wins.
                self.store
                    .setting_or_insert(BUTTON_KEY_SETTING, &seal(fresh.as_bytes())?)
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        match self.secrets.open_setting(BUTTON_KEY_PURPOSE, &stored).map_err(|e| e.to_string())? {
            Some(key) => Ok(key),
            None => {
                // Stored plain by an earlier version: the same key, sealed in place (nodes doing
                // this together write the same key; which sealing stays does not matter).
                self.store
                    .replace_secret_setting(BUTTON_KEY_SETTING, &seal(stored.as_bytes())?)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!("sealed the Slack button key that an earlier version stored in plain text");
                Ok(stored.into_bytes())
            }
        }
    }

    /// A button value for this decision.
    pub async fn sign_decision(&self, d: &Decision) -> Result<String, String> {
        let key = self.button_key().await?;
        let body = decision_body(d);
        Ok(format!("{body}.{}", hex(&mac(key, body.as_bytes()))))
    }

    /// The decision a button value carries, if its signature holds.
    pub async fn verify_decision(&self, value: &str) -> Result<Option<Decision>, String> {
        let key = self.button_key().await?;
        Ok(verify_value(key, value))
    }

    /// Changes every message sent about the task `n.task_id` waiting (its `notification_sent`
    /// events without a `notification_updated`) to say who completed it and how (`approved` in
    /// the completion's data), without buttons: whether it was decided in Slack, the web app or
    /// the API. Answers a `notification_updated` or `notification_failed` per message.
    async fn close(&self, n: &Notification) -> Result<Vec<HistoryEvent>, NotifyError> {
        let retry = |message: String| NotifyError::Retryable { message, retry_after: None };
        let (Ok(request), Some(token)) = (n.request_id.parse::<RequestId>(), n.token) else {
            return Ok(Vec::new());
        };
        // The task that token's completion closed: the last one completed there.
        let tasks = self
            .store
            .tasks(Some(request), Some(sluice_store::TaskStatus::Completed))
            .await
            .map_err(|e| retry(e.to_string()))?;
        let Some(row) = tasks.into_iter().filter(|t| t.token.0 == token).max_by_key(|t| t.completed_at) else {
            return Ok(Vec::new());
        };
        let task = row.id;
        let n = &Notification {
            element_id: Some(row.element_id.clone()),
            element_name: row.name.clone(),
            task_id: Some(task.to_string()),
            documentation: row.documentation.clone(),
            ..n.clone()
        };
        let task_id = task.to_string();
        let history = self.store.request_events(request).await.map_err(|e| retry(e.to_string()))?;
        let mut sent: Vec<(NotificationRef, String)> = Vec::new();
        let mut updated: Vec<String> = Vec::new();
        // The rows' fields as the API shows them: `notification`, `integration`, `channel`,
        // `task_id`, `ts`.
        let text = |row: &sluice_store::EventRow, key: &str| row.payload[key].as_str().map(str::to_string);
        for row in &history {
            match row.kind.as_str() {
                "notification_sent"
                    if text(row, "notification").as_deref() == Some(NotificationEvent::TaskWaiting.as_str())
                        && text(row, "task_id").as_deref() == Some(task_id.as_str()) =>
                {
                    let (Some(integration), Some(channel), Some(ts)) =
                        (text(row, "integration"), text(row, "channel"), text(row, "ts"))
                    else {
                        continue;
                    };
                    let about = NotificationRef {
                        notification: NotificationEvent::TaskWaiting,
                        integration,
                        channel,
                        task_id: Some(task_id.clone()),
                    };
                    sent.push((about, ts));
                }
                "notification_updated" => updated.extend(text(row, "ts")),
                _ => {}
            }
        }
        sent.retain(|(_, ts)| !updated.contains(ts));
        if sent.is_empty() {
            return Ok(Vec::new());
        }
        let completed_by = row.completed_by.clone();
        let approved = n.approved;
        let integration = self.tokens.lookup(Some(&n.integration)).await.map_err(|e| match e {
            tokens::Error::Unavailable(_) => retry(e.to_string()),
            _ => NotifyError::Failed { code: None, message: e.to_string() },
        })?;
        let slack_user = match &completed_by {
            Some(u) => self.slack_id_of(&integration, u).await.unwrap_or_default(),
            None => None,
        };
        let who = match (&slack_user, &completed_by) {
            (Some(id), _) => format!("<@{}>", escape(id)),
            (None, Some(u)) => format!("`{}`", escape(u)),
            (None, None) => "someone".to_string(),
        };
        let (verdict, word) = match approved {
            Some(true) => ("✅ *Approved*", "approved"),
            Some(false) => ("❌ *Rejected*", "rejected"),
            None => ("☑️ *Completed*", "completed"),
        };
        let extras = Extras { people: None, fields: self.fields(n).await };
        let (text, mut blocks) = render(n, None, &extras);
        let line = json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("{verdict} by {who}")}});
        blocks.insert(blocks.len().saturating_sub(1), line);
        let text = text.replacen(" is waiting in ", " was waiting in ", 1);
        let text = format!("{text} — {word} by {who}");
        let mut events = Vec::new();
        for (about, ts) in sent {
            let update = UpdateMessage {
                channel: about.channel.clone(),
                ts: ts.clone(),
                text: text.clone(),
                blocks: Some(blocks.clone()),
                metadata: None,
            };
            let event = match self.client.update_message(&integration.token, &update).await {
                Ok(_) => HistoryEvent::NotificationUpdated {
                    about,
                    ts,
                    decided_by: slack_user.clone().or_else(|| completed_by.clone()).unwrap_or_default(),
                    decided_by_name: completed_by.clone(),
                    approved,
                },
                Err(e) if e.is_retryable() && events.is_empty() => return Err(retry(e.to_string())),
                Err(e) => {
                    let message = match sluice_slack::connector::map_error(&e, &integration.alias, &about.channel) {
                        ConnectorError::Fatal { message }
                        | ConnectorError::Retryable { message, .. }
                        | ConnectorError::Unconfirmed { message, .. }
                        | ConnectorError::Bpmn { message, .. } => message,
                    };
                    tracing::warn!(
                        channel = about.channel,
                        ts,
                        message,
                        "cannot update the message of a completed task"
                    );
                    HistoryEvent::NotificationFailed {
                        about: Some(about),
                        ts: Some(ts),
                        error: e.code().map(str::to_string),
                        message: format!("the message could not be updated: {message}"),
                        attempts: None,
                    }
                }
            };
            events.push(event);
        }
        Ok(events)
    }

    /// The direct message with the Sluice user `username` (`conversations.open`, scope
    /// `im:write`), their Slack user found by [`SlackNotifier::slack_id_of`].
    async fn direct_channel(&self, integration: &Integration, username: &str) -> Result<String, NotifyError> {
        let alias = &integration.alias;
        let slack_failed = |e: client::Error, what: &str| {
            if e.is_retryable() {
                NotifyError::Retryable { message: format!("{what}: {e}"), retry_after: e.retry_after() }
            } else {
                let hint = if e.code() == Some("missing_scope") {
                    " (add the scopes users:read.email and im:write to the Slack app and reinstall it)"
                } else {
                    ""
                };
                NotifyError::Failed { code: e.code().map(str::to_string), message: format!("{what}: {e}{hint}") }
            }
        };
        let user = self
            .slack_id_of(integration, username)
            .await
            .map_err(|e| slack_failed(e, &format!("cannot find the Slack user of `{username}`")))?;
        let Some(user) = user else {
            return Err(NotifyError::Failed {
                code: None,
                message: format!(
                    "`{username}` has no Slack user in integration `{alias}`: Slack knows nobody with their email; an \
                     admin can link them (PATCH /api/v1/users/{{id}} with slack_user_ids)"
                ),
            });
        };
        self.client
            .conversations_open(&integration.token, &user)
            .await
            .map_err(|e| slack_failed(e, &format!("cannot open a direct message with `{username}`")))
    }

    async fn post(&self, n: &Notification, attempt: u32) -> Result<Delivered, NotifyError> {
        let integration = self.tokens.lookup(Some(&n.integration)).await.map_err(|e| match e {
            tokens::Error::Unavailable(_) => NotifyError::Retryable { message: e.to_string(), retry_after: None },
            _ => NotifyError::Failed { code: None, message: e.to_string() },
        })?;
        let buttons = match (&n.task_id, n.user_task) {
            (Some(task), true) if self.signing_secret().await.is_some() => {
                let failed = |e: String| NotifyError::Retryable { message: e, retry_after: None };
                let bad_id = |e: sluice_store::Error| failed(e.to_string());
                let request: RequestId = n.request_id.parse().map_err(bad_id)?;
                let task: TaskId = task.parse().map_err(bad_id)?;
                let mut d = Decision { request, task, approved: true, integration: n.integration.clone() };
                let approve = self.sign_decision(&d).await.map_err(failed)?;
                d.approved = false;
                let reject = self.sign_decision(&d).await.map_err(failed)?;
                Some((approve, reject))
            }
            _ => None,
        };
        let channel = match &n.direct_to {
            Some(username) => self.direct_channel(&integration, username).await?,
            None => n.channel.clone(),
        };
        let extras = Extras {
            people: match n.event {
                NotificationEvent::TaskWaiting | NotificationEvent::TaskOverdue => {
                    self.people_line(&integration, n).await
                }
                _ => None,
            },
            fields: self.fields(n).await,
        };
        let (text, blocks) = render(n, buttons.as_ref(), &extras);
        let key = notification_key(n);
        let tag = Tag { event_type: EVENT_TYPE, key: &key };
        let post = PostMessage {
            channel: channel.clone(),
            text,
            blocks: Some(blocks),
            metadata: Some(tag.metadata(json!({"request_id": n.request_id, "event": n.event, "task_id": n.task_id}))),
            unfurl_links: Some(false),
            unfurl_media: Some(false),
            ..PostMessage::default()
        };
        let look = || once::find(&self.client, &integration.token, &channel, &tag, &self.window);
        let send = || async {
            let posted = self.client.post_message(&integration.token, &post).await?;
            Ok(Sent { channel: posted.channel, ts: posted.ts })
        };
        let failed = |e: &client::Error| match sluice_slack::connector::map_error(e, &integration.alias, &channel) {
            ConnectorError::Retryable { message, retry_after }
            | ConnectorError::Unconfirmed { message, retry_after } => NotifyError::Retryable { message, retry_after },
            ConnectorError::Fatal { message } | ConnectorError::Bpmn { message, .. } => {
                NotifyError::Failed { code: e.code().map(str::to_string), message }
            }
        };
        match once::post_once(attempt, &key, look, send).await {
            Ok(sent) => Ok(Delivered { channel: sent.channel, ts: sent.ts }),
            Err(Failed::Lookup(e) | Failed::Post(e)) => Err(failed(&e)),
            Err(Failed::Unconfirmed(e)) => Err(NotifyError::Retryable {
                message: format!(
                    "Slack did not confirm the post to `{channel}` ({e}); the next attempt checks the channel before \
                     posting again"
                ),
                retry_after: None,
            }),
        }
    }
}

impl Notifications for SlackNotifier {
    fn settings<'a>(
        &'a self,
        process_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<NotificationSettings>, sluice_store::Error>> {
        Box::pin(self.settings.get(process_key))
    }

    /// Posts the notification at most once where Slack lets it check: a retry (`attempt` > 1),
    /// or an attempt whose answer was lost, first looks for the post in the channel's history
    /// (see [`sluice_slack::once`]).
    fn deliver<'a>(&'a self, n: &'a Notification, attempt: u32) -> BoxFuture<'a, Result<Delivered, NotifyError>> {
        Box::pin(self.post(n, attempt))
    }

    fn close_task<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<Vec<HistoryEvent>, NotifyError>> {
        Box::pin(self.close(n))
    }
}

/// What marks a notification's post in the channel, so that a retry finds it: the Request, the
/// event and the channel, plus what makes one event of a Request differ from another of the same
/// kind (the task of `task_waiting`, the element of `request_error`).
pub fn notification_key(n: &Notification) -> String {
    let mut key = format!("{}/{}/{}", n.request_id, n.event.as_str(), n.channel);
    // Planned with its job's id: that tells every notification apart (two incidents on one
    // element included). Jobs planned before the id was carried fall back to what they say.
    if let Some(job) = &n.job_id {
        key.push('/');
        key.push_str(job);
        return key;
    }
    let detail = match n.event {
        NotificationEvent::TaskWaiting => n.task_id.as_deref().or(n.element_id.as_deref()),
        NotificationEvent::RequestError | NotificationEvent::TaskOverdue => n.element_id.as_deref(),
        NotificationEvent::RequestStarted | NotificationEvent::RequestCompleted => None,
    };
    if let Some(detail) = detail {
        key.push('/');
        key.push_str(detail);
    }
    key
}

/// The text fallback and Block Kit blocks of a notification. Names and messages come from models
/// and Requests, so they are escaped for mrkdwn.
pub fn render(n: &Notification, buttons: Option<&(String, String)>, extras: &Extras) -> (String, Vec<Value>) {
    let process = escape(n.process_name.as_deref().unwrap_or(&n.process_key)).into_owned();
    let element = escape(n.element_name.as_deref().or(n.element_id.as_deref()).unwrap_or("an element")).into_owned();
    let (headline, text) = match n.event {
        NotificationEvent::RequestStarted => {
            (format!("▶️ *Request started* · {process}"), format!("Request started: {process}"))
        }
        NotificationEvent::RequestCompleted => {
            (format!("✅ *Request completed* · {process}"), format!("Request completed: {process}"))
        }
        NotificationEvent::TaskWaiting => (
            format!("⏳ *{element}* is waiting for a decision · {process}"),
            format!("{element} is waiting in {process}"),
        ),
        NotificationEvent::RequestError => {
            (format!("⚠️ *{element} failed* · {process}"), format!("{element} failed in {process}"))
        }
        NotificationEvent::TaskOverdue => {
            (format!("⏰ *{element}* is overdue · {process}"), format!("{element} is overdue in {process}"))
        }
    };
    let mut section = headline;
    if let Some(message) = &n.message {
        let message: String = message.chars().take(MAX_DETAIL_CHARS).collect();
        let quoted = escape(&message).lines().map(|l| format!("> {l}")).collect::<Vec<_>>().join("\n");
        section.push('\n');
        section.push_str(&quoted);
    }
    if let Some(doc) = n.documentation.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        let doc: String = doc.chars().take(MAX_DETAIL_CHARS / 2).collect();
        section.push('\n');
        section.push_str(&escape(&doc));
    }
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": section}})];
    if let Some(people) = &extras.people {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": people}]}));
    }
    if let Some(fields) = &extras.fields {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": fields}}));
    }
    if let Some((approve, reject)) = buttons {
        blocks.push(json!({
            "type": "actions",
            "block_id": "sluice_decision",
            "elements": [
                {"type": "button", "action_id": APPROVE_ACTION, "style": "primary",
                 "text": {"type": "plain_text", "text": "Approve"}, "value": approve},
                {"type": "button", "action_id": REJECT_ACTION, "style": "danger",
                 "text": {"type": "plain_text", "text": "Reject"}, "value": reject},
            ],
        }));
    }
    let link = format!("<{}|Open request> · `{}`", escape(&n.url), escape(&n.process_key));
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]}));
    let text = format!("{text} — {}", n.url);
    (text, blocks)
}

fn decision_body(d: &Decision) -> String {
    let verdict = if d.approved { "a" } else { "r" };
    format!("v1.{}.{}.{verdict}.{}", d.request, d.task, d.integration)
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

pub use sluice_secrets::hex;

/// `scheme://host:port` of a URL (empty when it has none).
fn origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return String::new() };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() { String::new() } else { format!("{scheme}://{host}") }
}

fn verify_value(key: &[u8], value: &str) -> Option<Decision> {
    let (body, sig) = value.rsplit_once('.')?;
    let expected = hex(&mac(key, body.as_bytes()));
    if !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
        return None;
    }
    let mut parts = body.splitn(5, '.');
    if parts.next()? != "v1" {
        return None;
    }
    let request = parts.next()?.parse().ok()?;
    let task = parts.next()?.parse().ok()?;
    let approved = match parts.next()? {
        "a" => true,
        "r" => false,
        _ => return None,
    };
    let integration = parts.next()?.to_string();
    Some(Decision { request, task, approved, integration })
}

/// Why a request does not come from Slack. Answered 401 without these details.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Slack-Request-Timestamp or X-Slack-Signature header is missing")]
    MissingHeader,
    #[error("the timestamp is not a number")]
    BadTimestamp,
    #[error("the timestamp is more than 5 minutes away from now")]
    Stale,
    #[error("the signature is not a v0 signature")]
    Version,
    #[error("the signature does not match")]
    Mismatch,
}

/// How far a request's timestamp may be from now, either way.
pub const MAX_SKEW_SECS: i64 = 300;

/// Checks Slack's `v0` signature: `v0=` + hex HMAC-SHA256(secret, `v0:{timestamp}:{raw body}`),
/// compared in constant time, with the timestamp within 5 minutes of `now` (Unix seconds).
pub fn verify_signature(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::MissingHeader);
    };
    let ts: i64 = timestamp.trim().parse().map_err(|_| SignatureError::BadTimestamp)?;
    if (now - ts).abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Stale);
    }
    let Some(presented) = signature.trim().strip_prefix("v0=") else { return Err(SignatureError::Version) };
    let mut base = Vec::with_capacity(body.len() + 16);
    base.extend_from_slice(b"v0:");
    base.extend_from_slice(timestamp.trim().as_bytes());
    base.push(b':');
    base.extend_from_slice(body);
    let expected = hex(&mac(secret.as_bytes(), &base));
    if bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) { Ok(()) } else { Err(SignatureError::Mismatch) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn slack_signatures_are_checked_as_slack_documents() {
        // Slack's documented example: secret, timestamp, body and signature.
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let ts = "1531420618";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let now = 1_531_420_618;
        assert_eq!(verify_signature(secret, Some(ts), Some(sig), body, now), Ok(()));
        assert_eq!(verify_signature(secret, Some(ts), Some(sig), body, now + 300), Ok(()));
        assert_eq!(verify_signature(secret, Some(ts), Some(sig), body, now - 300), Ok(()));
        assert_eq!(verify_signature(secret, Some(ts), Some(sig), body, now + 301), Err(SignatureError::Stale));
        assert_eq!(verify_signature(secret, Some(ts), Some(sig), body, now - 301), Err(SignatureError::Stale));
        let mut changed = body.to_vec();
        changed[10] ^= 1;
        assert_eq!(verify_signature(secret, Some(ts), Some(sig), &changed, now), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(secret, None, Some(sig), body, now), Err(SignatureError::MissingHeader));
        assert_eq!(verify_signature(secret, Some(ts), None, body, now), Err(SignatureError::MissingHeader));
        let v1 = sig.replacen("v0=", "v1=", 1);
        assert_eq!(verify_signature(secret, Some(ts), Some(&v1), body, now), Err(SignatureError::Version));
        assert_eq!(verify_signature("other", Some(ts), Some(sig), body, now), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(secret, Some("soon"), Some(sig), body, now), Err(SignatureError::BadTimestamp));
    }

    async fn notifier_over(store: &Store) -> SlackNotifier {
        let (key, _) = sluice_secrets::SecretKey::generate("a test key").unwrap();
        notifier_with(store, key).await
    }

    async fn notifier_with(store: &Store, key: sluice_secrets::SecretKey) -> SlackNotifier {
        let options = crate::integrations::Options {
            public_url: "http://sluice.example".into(),
            authorize_url: "http://slack.example/oauth".into(),
            state_ttl: Duration::from_secs(600),
            refresh_margin: Duration::from_secs(600),
            channel_cache: Duration::from_secs(60),
        };
        let api = "http://127.0.0.1:9/api";
        let integrations = crate::integrations::SlackIntegrations::new(store.clone(), key, api, options).await.unwrap();
        SlackNotifier::with_integrations(store.clone(), api, integrations, None).unwrap()
    }

    fn decision() -> Decision {
        Decision { request: RequestId::new(), task: TaskId::new(), approved: false, integration: "default".into() }
    }

    #[tokio::test]
    async fn a_new_button_key_is_stored_sealed() {
        let store = Store::open("sqlite::memory:", sluice_store::StoreOptions::default()).await.unwrap();
        let notifier = notifier_over(&store).await;
        let key = notifier.button_key().await.unwrap().to_vec();
        let stored = store.setting(BUTTON_KEY_SETTING).await.unwrap().unwrap();
        assert!(stored.starts_with(crate::integrations::SEALED_PREFIX), "{stored}");
        assert!(!stored.contains(std::str::from_utf8(&key).unwrap()), "the key is not stored plain");
        assert_eq!(notifier.secrets.open_setting(BUTTON_KEY_PURPOSE, &stored).unwrap(), Some(key));
        let d = decision();
        let value = notifier.sign_decision(&d).await.unwrap();
        assert_eq!(notifier.verify_decision(&value).await.unwrap(), Some(d));
    }

    #[tokio::test]
    async fn a_plain_button_key_of_an_earlier_version_is_sealed_in_place_and_its_buttons_still_work() {
        let store = Store::open("sqlite::memory:", sluice_store::StoreOptions::default()).await.unwrap();
        let (key, key_hex) = sluice_secrets::SecretKey::generate("a test key").unwrap();
        let notifier = notifier_with(&store, key).await;
        // What an earlier version stored, and a button it signed with it.
        let plain = "5e".repeat(32);
        store.set_setting(BUTTON_KEY_SETTING, &plain).await.unwrap();
        let d = decision();
        let body = decision_body(&d);
        let old_button = format!("{body}.{}", hex(&mac(plain.as_bytes(), body.as_bytes())));

        assert_eq!(notifier.verify_decision(&old_button).await.unwrap(), Some(d.clone()));
        let stored = store.setting(BUTTON_KEY_SETTING).await.unwrap().unwrap();
        assert!(stored.starts_with(crate::integrations::SEALED_PREFIX) && !stored.contains(&plain), "{stored}");
        assert_eq!(notifier.sign_decision(&d).await.unwrap(), old_button, "the same key signs");

        // Another node (or the next start) reads the sealed key and leaves it as it is.
        let again = notifier_with(&store, sluice_secrets::SecretKey::parse(&key_hex, "test").unwrap()).await;
        assert_eq!(again.verify_decision(&old_button).await.unwrap(), Some(d));
        assert_eq!(store.setting(BUTTON_KEY_SETTING).await.unwrap().unwrap(), stored);
    }

    #[test]
    fn button_values_cannot_be_altered() {
        let key = b"a key";
        let d =
            Decision { request: RequestId::new(), task: TaskId::new(), approved: true, integration: "sales.eu".into() };
        let body = decision_body(&d);
        let value = format!("{body}.{}", hex(&mac(key, body.as_bytes())));
        assert_eq!(verify_value(key, &value), Some(d.clone()));
        // Flipping the decision, naming another task or another key: refused.
        assert_eq!(verify_value(key, &value.replacen(".a.", ".r.", 1)), None);
        let other = value.replacen(&d.task.to_string(), &TaskId::new().to_string(), 1);
        assert_eq!(verify_value(key, &other), None);
        assert_eq!(verify_value(b"another key", &value), None);
        assert_eq!(verify_value(key, "garbage"), None);
        assert_eq!(verify_value(key, ""), None);
    }

    #[test]
    fn notification_keys_tell_events_of_one_request_apart() {
        let n = Notification {
            event: NotificationEvent::TaskWaiting,
            integration: "default".into(),
            channel: "C1".into(),
            request_id: "r".into(),
            process_key: "order".into(),
            process_name: None,
            element_id: Some("review".into()),
            element_name: None,
            task_id: Some("t1".into()),
            user_task: true,
            message: None,
            url: "u".into(),
            job_id: None,
            documentation: None,
            assignment: Default::default(),
            direct_to: None,
            closes_task: false,
            approved: None,
            token: None,
        };
        assert_eq!(notification_key(&n), "r/task_waiting/C1/t1");
        // With the job's id (every job planned now): two jobs never share a key.
        let job = Notification { job_id: Some("j1".into()), ..n.clone() };
        let other_job = Notification { job_id: Some("j2".into()), ..n.clone() };
        assert_eq!(notification_key(&job), "r/task_waiting/C1/j1");
        assert_ne!(notification_key(&job), notification_key(&other_job));
        let again = Notification { task_id: Some("t2".into()), ..n.clone() };
        assert_ne!(notification_key(&n), notification_key(&again), "a task waiting again is another message");
        let elsewhere = Notification { channel: "C2".into(), ..n.clone() };
        assert_ne!(notification_key(&n), notification_key(&elsewhere));
        let started = Notification { event: NotificationEvent::RequestStarted, task_id: None, ..n.clone() };
        assert_eq!(notification_key(&started), "r/request_started/C1");
        let failed = Notification { event: NotificationEvent::RequestError, task_id: None, ..n };
        assert_eq!(notification_key(&failed), "r/request_error/C1/review");
    }

    #[test]
    fn messages_escape_data_and_link_the_request() {
        let n = Notification {
            event: NotificationEvent::RequestError,
            integration: "default".into(),
            channel: "C1".into(),
            request_id: "r".into(),
            process_key: "order".into(),
            process_name: Some("Orders <!channel>".into()),
            element_id: Some("pay".into()),
            element_name: None,
            task_id: None,
            user_task: false,
            message: Some("card declined & <@U1>".into()),
            url: "http://sluice.example/requests/r".into(),
            job_id: None,
            documentation: None,
            assignment: Default::default(),
            direct_to: None,
            closes_task: false,
            approved: None,
            token: None,
        };
        let (text, blocks) = render(&n, None, &Extras::default());
        assert!(text.contains("pay failed in Orders &lt;!channel&gt;"), "{text}");
        assert!(text.contains("http://sluice.example/requests/r"));
        let section = blocks[0]["text"]["text"].as_str().unwrap_or_default();
        assert!(section.contains("*pay failed*") && section.contains("> card declined &amp; &lt;@U1&gt;"), "{section}");
        let link = blocks[1]["elements"][0]["text"].as_str().unwrap_or_default();
        assert!(link.starts_with("<http://sluice.example/requests/r|Open request>"), "{link}");
    }
}
