//! A client for the Slack Web API methods Sluice uses, reading Slack's answers as Slack means them.
//!
//! Slack answers HTTP 200 even when a call fails (`{"ok": false, "error": "<code>"}`); the only
//! meaningful non-200 is 429, which asks to wait `Retry-After` seconds. This client waits and tries
//! again a few times on 429 (a rate-limited call was not carried out, so repeating it is safe) and
//! hands every other failure back as a typed [`Error`] that says whether it is worth retrying and
//! whether the call may have been carried out anyway.
//!
//! Why one file of this size: each Web API method sits next to the request and answer types it
//! sends and reads, and all of them share one error reading (`api_error`, `retry_after`); split
//! apart, a method and its wire types would live in different files for no gain.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use sluice_connector_api::Secret;

/// Slack's own address; the binary passes `SLACK_API_URL` instead when it is set.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api";

/// Error codes that mean the token no longer works: the integration must be reconnected.
pub const TOKEN_CODES: &[&str] = &["invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"];

/// Error codes Slack documents as transient: the call may be tried again later.
const RETRYABLE_CODES: &[&str] = &["internal_error", "fatal_error", "service_unavailable", "request_timeout"];

/// What went wrong talking to Slack.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Slack answered `ok: false` with this error code.
    #[error("Slack answered `{code}`{}", needed.as_ref().map(|n| format!(" (needed scope: {n})")).unwrap_or_default())]
    Api {
        code: String,
        /// For `missing_scope`: the scope the call needs.
        needed: Option<String>,
        /// For `missing_scope`: the scopes the token has.
        provided: Option<String>,
        /// Details Slack gave with the code (`errors` for `invalid_blocks`, warnings).
        details: Vec<String>,
    },
    /// HTTP 429 (or `ratelimited`) and waiting inside the call did not help.
    #[error("Slack is rate limiting this call; try again in {} s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// An HTTP status Slack does not use for answers (5xx, a proxy's 404).
    #[error("Slack answered HTTP {status}")]
    Status { status: u16 },
    /// No answer in time: the call may or may not have been carried out.
    #[error("Slack did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The request never reached Slack.
    #[error("could not connect to Slack: {0}")]
    Connect(String),
    /// The connection broke after the request was sent: the call may or may not have been carried out.
    #[error("the connection to Slack broke: {0}")]
    Transport(String),
    /// Slack answered something this client cannot read.
    #[error("Slack's answer could not be read: {0}")]
    Decode(String),
    /// The HTTP client could not be set up (TLS configuration).
    #[error("the HTTP client could not be built: {0}")]
    Build(String),
}

impl Error {
    /// Slack's error code, when Slack gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            Error::RateLimited { .. } => Some("ratelimited"),
            _ => None,
        }
    }

    /// Whether Slack refused the token itself (revoked, expired, unknown): nothing works with it
    /// until the integration is reconnected.
    pub fn token_refused(&self) -> bool {
        matches!(self, Error::Api { code, .. } if TOKEN_CODES.contains(&code.as_str()))
    }

    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { code, .. } => RETRYABLE_CODES.contains(&code.as_str()),
            Error::RateLimited { .. } | Error::Timeout(_) | Error::Connect(_) | Error::Transport(_) => true,
            Error::Status { status } => *status >= 500,
            Error::Decode(_) | Error::Build(_) => false,
        }
    }

    /// Whether Slack may have carried out the call although no success was seen: a timeout, a
    /// broken connection, a 5xx or one of Slack's internal errors. A rate-limited or refused call
    /// was not carried out; a connection that never opened sent nothing.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Error::Api { code, .. } => RETRYABLE_CODES.contains(&code.as_str()),
            Error::Timeout(_) | Error::Transport(_) | Error::Decode(_) => true,
            Error::Status { status } => *status >= 500,
            Error::RateLimited { .. } | Error::Connect(_) | Error::Build(_) => false,
        }
    }

    /// How long Slack asked to wait, for rate limits.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

/// How the client talks to Slack.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base of the Web API, without the method: `https://slack.com/api`.
    pub base_url: String,
    /// Longest wait for one HTTP answer.
    pub timeout: Duration,
    /// How many times one call waits out a 429 before giving up with [`Error::RateLimited`].
    pub rate_limit_retries: u32,
    /// A `Retry-After` longer than this is not waited out inside the call but handed back.
    pub max_rate_limit_wait: Duration,
}

impl Config {
    pub fn new(base_url: impl Into<String>) -> Self {
        Config {
            base_url: base_url.into(),
            timeout: Duration::from_secs(10),
            rate_limit_retries: 3,
            max_rate_limit_wait: Duration::from_secs(30),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new(DEFAULT_BASE_URL)
    }
}

/// A Slack Web API client. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    config: Arc<Config>,
}

/// How a call's arguments travel.
enum Body {
    /// JSON, which Slack accepts for write methods (needs the token in the header).
    Json(Vec<u8>),
    /// `application/x-www-form-urlencoded`, which every method accepts.
    Form(Vec<(&'static str, String)>),
}

/// How a call proves who it is.
enum Auth<'a> {
    Bearer(&'a Secret),
    Basic { user: &'a str, password: &'a Secret },
}

impl Client {
    /// A client for the Web API at `base_url` with default timeouts.
    pub fn new(base_url: impl Into<String>) -> Result<Self, Error> {
        Client::with_config(Config::new(base_url))
    }

    pub fn with_config(config: Config) -> Result<Self, Error> {
        // reqwest is built without a default crypto provider so that the workspace compiles ring,
        // not aws-lc-rs; install ring as the process default unless someone already chose one.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing the race to another thread installing a provider is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Build(e.to_string()))?;
        let mut config = config;
        config.base_url = config.base_url.trim_end_matches('/').to_string();
        Ok(Client { http, config: Arc::new(config) })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Posts `body` to an interaction's `response_url` (an ephemeral reply, or a change of the
    /// message). Slack answers 200 with `ok`; anything else is an error. The caller checks that
    /// the URL is Slack's.
    pub async fn post_response_url(&self, url: &str, body: &Value) -> Result<(), Error> {
        let sent = self.http.post(url).json(body).send().await;
        let answer = sent.map_err(|e| {
            if e.is_timeout() {
                Error::Timeout(self.config.timeout)
            } else if e.is_connect() {
                Error::Connect(e.to_string())
            } else {
                Error::Transport(e.to_string())
            }
        })?;
        let status = answer.status().as_u16();
        if (200..300).contains(&status) { Ok(()) } else { Err(Error::Status { status }) }
    }

    /// `chat.postMessage`: posts a message (scope `chat:write`).
    pub async fn post_message(&self, token: &Secret, message: &PostMessage) -> Result<Posted, Error> {
        self.call("chat.postMessage", Auth::Bearer(token), json_body(message)?).await
    }

    /// `chat.update`: replaces the text, blocks or metadata of a message the app posted.
    pub async fn update_message(&self, token: &Secret, update: &UpdateMessage) -> Result<Updated, Error> {
        self.call("chat.update", Auth::Bearer(token), json_body(update)?).await
    }

    /// `conversations.history`: one page of a channel's messages, newest first (scopes
    /// `channels:history` / `groups:history`; the bot must be a member).
    pub async fn conversations_history(&self, token: &Secret, request: &HistoryRequest) -> Result<History, Error> {
        let mut form = vec![("channel", request.channel.clone())];
        push_opt(&mut form, "oldest", request.oldest.clone());
        push_opt(&mut form, "latest", request.latest.clone());
        push_opt(&mut form, "limit", request.limit.map(|l| l.to_string()));
        push_opt(&mut form, "cursor", request.cursor.clone());
        if request.include_all_metadata {
            form.push(("include_all_metadata", "true".into()));
        }
        let raw: HistoryRaw = self.call("conversations.history", Auth::Bearer(token), Body::Form(form)).await?;
        Ok(History { messages: raw.messages, has_more: raw.has_more, next_cursor: next_cursor(raw.response_metadata) })
    }

    /// `auth.test`: checks a token and names its workspace and bot user.
    pub async fn auth_test(&self, token: &Secret) -> Result<AuthTest, Error> {
        self.call("auth.test", Auth::Bearer(token), Body::Form(Vec::new())).await
    }

    /// `conversations.list`: one page of channels (Tier 2: about 20 calls a minute).
    pub async fn conversations_list(&self, token: &Secret, request: &ListRequest) -> Result<ChannelPage, Error> {
        let types: Vec<&str> = request.types.iter().map(|t| t.as_str()).collect();
        let mut form = vec![("types", types.join(","))];
        if request.exclude_archived {
            form.push(("exclude_archived", "true".into()));
        }
        push_opt(&mut form, "limit", request.limit.map(|l| l.to_string()));
        push_opt(&mut form, "cursor", request.cursor.clone());
        let raw: ListRaw = self.call("conversations.list", Auth::Bearer(token), Body::Form(form)).await?;
        Ok(ChannelPage { channels: raw.channels, next_cursor: next_cursor(raw.response_metadata) })
    }

    /// `conversations.info`: one channel by id (scopes `channels:read` / `groups:read`; Tier 3).
    /// A private channel the bot is not in answers `channel_not_found`, like an unknown id.
    pub async fn conversations_info(&self, token: &Secret, channel: &str) -> Result<ChannelInfo, Error> {
        let form = vec![("channel", channel.to_string())];
        let (raw, scopes): (InfoRaw, _) =
            self.call_with_scopes("conversations.info", Auth::Bearer(token), Body::Form(form)).await?;
        Ok(ChannelInfo { channel: raw.channel, scopes })
    }

    /// `users.lookupByEmail`: the user with this email (scope `users:read.email`); Slack answers
    /// `users_not_found` when there is none.
    pub async fn users_lookup_by_email(&self, token: &Secret, email: &str) -> Result<User, Error> {
        let form = vec![("email", email.to_string())];
        let raw: UserRaw = self.call("users.lookupByEmail", Auth::Bearer(token), Body::Form(form)).await?;
        Ok(raw.user)
    }

    /// `users.info`: one user by id (scope `users:read`; the profile's email only with
    /// `users:read.email`).
    pub async fn users_info(&self, token: &Secret, user: &str) -> Result<User, Error> {
        let form = vec![("user", user.to_string())];
        let raw: UserRaw = self.call("users.info", Auth::Bearer(token), Body::Form(form)).await?;
        Ok(raw.user)
    }

    /// `users.list`, one page (scope `users:read`; Tier 2).
    pub async fn users_list(&self, token: &Secret, cursor: Option<&str>) -> Result<UserPage, Error> {
        let mut form = vec![("limit", "200".to_string())];
        push_opt(&mut form, "cursor", cursor.map(str::to_owned));
        let raw: UsersRaw = self.call("users.list", Auth::Bearer(token), Body::Form(form)).await?;
        Ok(UserPage { members: raw.members, next_cursor: next_cursor(raw.response_metadata) })
    }

    /// `conversations.open`: the direct message with one user (scope `im:write`), opened if it
    /// was not; answers its channel id (`D…`).
    pub async fn conversations_open(&self, token: &Secret, user: &str) -> Result<String, Error> {
        let form = vec![("users", user.to_string())];
        let raw: OpenRaw = self.call("conversations.open", Auth::Bearer(token), Body::Form(form)).await?;
        Ok(raw.channel.id)
    }

    /// Every channel `conversations.list` shows, following `next_cursor` until Slack says there is
    /// no more (pages may be shorter than `limit`, even empty, while more remain).
    pub async fn conversations_list_all(&self, token: &Secret, request: &ListRequest) -> Result<Vec<Channel>, Error> {
        // A guard against a server that hands out cursors forever.
        const MAX_PAGES: usize = 10_000;
        let mut request = request.clone();
        let mut channels = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.conversations_list(token, &request).await?;
            channels.extend(page.channels);
            match page.next_cursor {
                Some(cursor) => request.cursor = Some(cursor),
                None => return Ok(channels),
            }
        }
        Err(Error::Decode(format!("conversations.list still had more after {MAX_PAGES} pages")))
    }

    /// `oauth.v2.access`: exchanges an install's code, or a refresh token, for a bot token. The
    /// app's credentials travel in HTTP Basic, as Slack prefers.
    pub async fn oauth_v2_access(&self, app: &AppCredentials, grant: &Grant) -> Result<OAuthAccess, Error> {
        let form = match grant {
            Grant::Code { code, redirect_uri } => {
                let mut form = vec![("code", code.clone())];
                push_opt(&mut form, "redirect_uri", redirect_uri.clone());
                form
            }
            Grant::Refresh { refresh_token } => {
                vec![("grant_type", "refresh_token".to_string()), ("refresh_token", refresh_token.expose().to_string())]
            }
        };
        let auth = Auth::Basic { user: &app.client_id, password: &app.client_secret };
        self.call("oauth.v2.access", auth, Body::Form(form)).await
    }

    /// Calls `method`, waiting out 429s up to the configured number of times.
    async fn call<T: DeserializeOwned>(&self, method: &str, auth: Auth<'_>, body: Body) -> Result<T, Error> {
        self.call_with_scopes(method, auth, body).await.map(|(answer, _)| answer)
    }

    /// [`Client::call`], also answering the token's scopes when Slack names them (its
    /// `X-OAuth-Scopes` header).
    async fn call_with_scopes<T: DeserializeOwned>(
        &self,
        method: &str,
        auth: Auth<'_>,
        body: Body,
    ) -> Result<(T, Option<Vec<String>>), Error> {
        let url = format!("{}/{}", self.config.base_url, method);
        let mut waited = 0;
        loop {
            let request = self.http.post(&url);
            let request = match &auth {
                Auth::Bearer(token) => request.header(AUTHORIZATION, format!("Bearer {}", token.expose())),
                Auth::Basic { user, password } => request.basic_auth(user, Some(password.expose())),
            };
            let request = match &body {
                Body::Json(bytes) => {
                    request.header(CONTENT_TYPE, "application/json; charset=utf-8").body(bytes.clone())
                }
                Body::Form(fields) => request.form(fields),
            };
            let response = request.send().await.map_err(|e| self.transport_error(e))?;
            let status = response.status();
            let retry_after = retry_after(response.headers());
            if status == StatusCode::TOO_MANY_REQUESTS {
                let retry_after = retry_after.unwrap_or(Duration::from_secs(1));
                if waited < self.config.rate_limit_retries && retry_after <= self.config.max_rate_limit_wait {
                    waited += 1;
                    tracing::debug!(method, ?retry_after, "Slack rate limited the call; waiting");
                    tokio::time::sleep(retry_after).await;
                    continue;
                }
                return Err(Error::RateLimited { retry_after });
            }
            let scopes = oauth_scopes(response.headers());
            let bytes = response.bytes().await.map_err(|e| self.transport_error(e))?;
            let value: Value = match serde_json::from_slice(&bytes) {
                Ok(value) => value,
                Err(_) if !status.is_success() => return Err(Error::Status { status: status.as_u16() }),
                Err(e) => return Err(Error::Decode(e.to_string())),
            };
            if value.get("ok").and_then(Value::as_bool) == Some(true) {
                let answer = serde_json::from_value(value).map_err(|e| Error::Decode(format!("{method}: {e}")))?;
                return Ok((answer, scopes));
            }
            let error = api_error(&value);
            if let Error::Api { code, .. } = &error
                && code == "ratelimited"
            {
                let retry_after = retry_after.unwrap_or(Duration::from_secs(1));
                if waited < self.config.rate_limit_retries && retry_after <= self.config.max_rate_limit_wait {
                    waited += 1;
                    tokio::time::sleep(retry_after).await;
                    continue;
                }
                return Err(Error::RateLimited { retry_after });
            }
            if status.is_server_error() && matches!(&error, Error::Api { code, .. } if code == "unknown") {
                return Err(Error::Status { status: status.as_u16() });
            }
            return Err(error);
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout(self.config.timeout)
        } else if e.is_connect() {
            Error::Connect(error_chain(&e))
        } else if e.is_builder() {
            Error::Build(error_chain(&e))
        } else {
            Error::Transport(error_chain(&e))
        }
    }
}

/// The error and its sources in one line: reqwest's own message rarely says what broke.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn json_body<T: Serialize>(value: &T) -> Result<Body, Error> {
    serde_json::to_vec(value).map(Body::Json).map_err(|e| Error::Decode(e.to_string()))
}

fn push_opt(form: &mut Vec<(&'static str, String)>, name: &'static str, value: Option<String>) {
    if let Some(value) = value {
        form.push((name, value));
    }
}

/// The scopes of the call's token, from Slack's `X-OAuth-Scopes` header (comma-separated).
fn oauth_scopes(headers: &HeaderMap) -> Option<Vec<String>> {
    let text = headers.get("x-oauth-scopes")?.to_str().ok()?;
    Some(text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
}

/// `Retry-After` in seconds, as Slack sends it.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = text.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

fn api_error(value: &Value) -> Error {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    let mut details: Vec<String> = Vec::new();
    if let Some(errors) = value.get("errors").and_then(Value::as_array) {
        details.extend(errors.iter().map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string)));
    }
    if let Some(warnings) = value.pointer("/response_metadata/messages").and_then(Value::as_array) {
        details.extend(warnings.iter().filter_map(Value::as_str).map(str::to_string));
    }
    Error::Api {
        code: text("error").unwrap_or_else(|| "unknown".to_string()),
        needed: text("needed"),
        provided: text("provided"),
        details,
    }
}

#[derive(Deserialize)]
struct ResponseMetadata {
    #[serde(default)]
    next_cursor: Option<String>,
}

fn next_cursor(metadata: Option<ResponseMetadata>) -> Option<String> {
    metadata.and_then(|m| m.next_cursor).filter(|c| !c.is_empty())
}

/// Message metadata: an event type and a JSON payload, readable back through
/// `conversations.history` with `include_all_metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub event_type: String,
    pub event_payload: Value,
}

/// Arguments of `chat.postMessage`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PostMessage {
    /// An id (`C…`, `G…`, `D…`) or a name (`#sales`).
    pub channel: String,
    /// The notification fallback; always sent, also with blocks.
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unfurl_links: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unfurl_media: Option<bool>,
}

/// What `chat.postMessage` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct Posted {
    /// The channel's id, also when a name was given.
    pub channel: String,
    pub ts: String,
    #[serde(default)]
    pub message: Option<Value>,
}

/// Arguments of `chat.update`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateMessage {
    pub channel: String,
    pub ts: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// What `chat.update` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct Updated {
    pub channel: String,
    pub ts: String,
    #[serde(default)]
    pub text: Option<String>,
}

// A list of optional fields like the store's `NewJob`/`JobRow` and the model's `MultiInstance`:
// these are the arguments of one Slack method, unrelated types that only look alike.
/// Arguments of `conversations.history`.
#[derive(Debug, Clone, Default)]
pub struct HistoryRequest {
    /// A channel id (names are not accepted by this method).
    pub channel: String,
    /// Only messages after this ts.
    pub oldest: Option<String>,
    /// Only messages before this ts.
    pub latest: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Include each message's `metadata`.
    pub include_all_metadata: bool,
}

#[derive(Deserialize)]
struct HistoryRaw {
    #[serde(default)]
    messages: Vec<HistoryMessage>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    response_metadata: Option<ResponseMetadata>,
}

/// One page of `conversations.history`.
#[derive(Debug, Clone)]
pub struct History {
    /// Newest first.
    pub messages: Vec<HistoryMessage>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// A message as `conversations.history` shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct HistoryMessage {
    pub ts: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub blocks: Option<Vec<Value>>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// What `auth.test` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthTest {
    pub url: String,
    pub team: String,
    pub team_id: String,
    pub user_id: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
}

/// A kind of conversation for `conversations.list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelType {
    Public,
    Private,
}

impl ChannelType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::Public => "public_channel",
            ChannelType::Private => "private_channel",
        }
    }
}

/// Arguments of `conversations.list`.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub types: Vec<ChannelType>,
    pub exclude_archived: bool,
    /// Up to 1000; Slack recommends no more than 200.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl Default for ListRequest {
    /// Public and private channels, archived ones left out, 200 a page.
    fn default() -> Self {
        ListRequest {
            types: vec![ChannelType::Public, ChannelType::Private],
            exclude_archived: true,
            limit: Some(200),
            cursor: None,
        }
    }
}

#[derive(Deserialize)]
struct ListRaw {
    #[serde(default)]
    channels: Vec<Channel>,
    #[serde(default)]
    response_metadata: Option<ResponseMetadata>,
}

/// A channel as `conversations.list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Channel {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_private: bool,
    #[serde(default)]
    pub is_member: bool,
    #[serde(default)]
    pub is_archived: bool,
}

#[derive(Deserialize)]
struct UserRaw {
    user: User,
}

#[derive(Deserialize)]
struct UsersRaw {
    #[serde(default)]
    members: Vec<User>,
    #[serde(default)]
    response_metadata: Option<ResponseMetadata>,
}

#[derive(Deserialize)]
struct OpenRaw {
    channel: OpenedChannel,
}

#[derive(Deserialize)]
struct OpenedChannel {
    id: String,
}

/// A user as `users.list` and `users.lookupByEmail` show one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub id: String,
    /// The user's handle (`@name`).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub real_name: Option<String>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub profile: UserProfile,
}

/// The parts of a user's profile Sluice reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UserProfile {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub real_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// One page of `users.list`.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub members: Vec<User>,
    /// `None` when there is nothing more.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct InfoRaw {
    channel: Channel,
}

/// What `conversations.info` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    pub channel: Channel,
    /// The token's scopes, as Slack named them in `X-OAuth-Scopes` (`None` if it did not).
    pub scopes: Option<Vec<String>>,
}

/// One page of `conversations.list`.
#[derive(Debug, Clone)]
pub struct ChannelPage {
    pub channels: Vec<Channel>,
    /// `None` when there is nothing more.
    pub next_cursor: Option<String>,
}

// Close to `AppSettings` in the Slack integration (integrations.rs), which holds the same ids as
// they are given at start, all optional and with the signing secret; this one is what
// `oauth.v2.access` needs, both fields present, so the client crate keeps its own type.
/// A Slack app's client credentials, for `oauth.v2.access`.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub client_id: String,
    pub client_secret: Secret,
}

/// What `oauth.v2.access` exchanges.
#[derive(Debug, Clone)]
pub enum Grant {
    /// The code of an install's redirect, with the same `redirect_uri` the install used.
    Code { code: String, redirect_uri: Option<String> },
    /// A rotating token's single-use refresh token.
    Refresh { refresh_token: Secret },
}

/// A workspace as OAuth answers name it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Team {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// The installing user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuthedUser {
    pub id: String,
}

// Its run of `#[serde(default)]` optional fields looks like `HistoryMessage`'s here and the
// worker's `Notification` (notify.rs): each is a different wire format's field list (what Slack
// answers to `oauth.v2.access`), which serde reads from the struct, so nothing to share.
/// What `oauth.v2.access` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthAccess {
    pub access_token: Secret,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub bot_user_id: Option<String>,
    #[serde(default)]
    pub app_id: Option<String>,
    /// Absent on some enterprise-wide installs.
    #[serde(default)]
    pub team: Option<Team>,
    #[serde(default)]
    pub authed_user: Option<AuthedUser>,
    #[serde(default)]
    pub is_enterprise_install: bool,
    /// With token rotation: seconds until `access_token` expires.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// With token rotation: the single-use token for the next `Grant::Refresh`.
    #[serde(default)]
    pub refresh_token: Option<Secret>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_and_unknown_outcomes() {
        let api = |code: &str| Error::Api { code: code.into(), needed: None, provided: None, details: vec![] };
        assert!(api("internal_error").is_retryable() && api("internal_error").outcome_unknown());
        assert!(!api("channel_not_found").is_retryable() && !api("channel_not_found").outcome_unknown());
        let limited = Error::RateLimited { retry_after: Duration::from_secs(3) };
        assert!(limited.is_retryable() && !limited.outcome_unknown());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        assert!(Error::Status { status: 503 }.outcome_unknown());
        assert!(!Error::Status { status: 404 }.is_retryable());
        assert!(!Error::Connect("refused".into()).outcome_unknown());
    }

    #[test]
    fn missing_scope_names_the_scope() {
        let e = api_error(
            &serde_json::json!({"ok": false, "error": "missing_scope", "needed": "chat:write", "provided": "channels:read"}),
        );
        assert_eq!(e.to_string(), "Slack answered `missing_scope` (needed scope: chat:write)");
        assert!(matches!(e, Error::Api { provided: Some(p), .. } if p == "channels:read"));
    }
}
