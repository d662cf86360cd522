//! A fake Slack Web API on 127.0.0.1 that behaves as Slack documents, for tests and benchmarks.
//!
//! It answers HTTP 200 with `{"ok": false, "error": …}` for failures, 429 with `Retry-After` when a
//! channel gets more than one message per interval, hides private channels from a bot that is not
//! a member, names the token's scopes in `X-OAuth-Scopes` as Slack does, and accepts JSON bodies (with a Bearer token) as well as forms (Slack's Node client
//! sends `blocks` as a JSON string inside a form). Tests steer it and look inside through the
//! [`FakeSlack`] handle; nothing here is reachable over HTTP except Slack's own methods. Users
//! (`users.list`, `users.lookupByEmail`, which answers `users_not_found` for an unknown address)
//! get a direct message from `conversations.open` (`D` + the user id without its `U`), whose
//! history needs `im:history`, as Slack's does. `users.info` gives one user (the email with
//! `users:read.email`), and interactions' response URLs point at the fake (`/response/{key}`).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use sluice_fake_slack::{Config, FakeSlack};
//! let slack = FakeSlack::start(Config::default()).await?;
//! let base_url = slack.api_url(); // "http://127.0.0.1:PORT/api"
//! # Ok(()) }
//! ```

mod server;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

pub use crate::state::Authorization;
use crate::state::Inner;

/// The bot token of the default workspace, with every scope Sluice asks for.
pub const DEFAULT_TOKEN: &str = "xoxb-fake-default";
/// A second bot token of the default workspace, which may also open direct messages: every
/// scope of [`SLUICE_SCOPES`] and of [`DM_SCOPES`].
pub const DM_TOKEN: &str = "xoxb-fake-direct";
/// The scopes that reaching a user takes: `users.list` (`users:read`), `users.lookupByEmail`
/// (`users:read.email`), `conversations.open` (`im:write`) and, to read a direct message's history
/// (how a retried post finds its earlier one), `im:history`.
pub const DM_SCOPES: &[&str] = &["users:read", "users:read.email", "im:write", "im:history"];
/// The default workspace's team id.
pub const DEFAULT_TEAM_ID: &str = "T0SLUICE";
/// The default workspace's bot user.
pub const DEFAULT_BOT_USER: &str = "U0BOT";
/// The default OAuth app's client id and secret.
pub const DEFAULT_CLIENT_ID: &str = "1111.2222";
pub const DEFAULT_CLIENT_SECRET: &str = "fake-client-secret";
/// The scopes Sluice's Slack app asks for, plus history for the connector's duplicate check.
pub const SLUICE_SCOPES: &[&str] =
    &["chat:write", "chat:write.public", "channels:read", "groups:read", "channels:history", "groups:history"];

/// How the fake is set up at start.
#[derive(Debug, Clone)]
pub struct Config {
    pub workspaces: Vec<Workspace>,
    /// Least time between two accepted `chat.postMessage` calls to one channel (Slack: ~1 s).
    pub post_interval: Duration,
    /// `conversations.list` calls allowed per window and workspace (Slack's Tier 2: ~20 a minute).
    pub list_rate_limit: Option<RateLimit>,
    /// `conversations.list` looks at no more than this many channels per page, so pages may come
    /// back shorter than `limit` while more remain, as Slack's do.
    pub list_page_cap: usize,
    /// The Slack app for `oauth.v2.access`; `None` refuses every exchange with `invalid_client_id`.
    pub oauth: Option<OAuthApp>,
}

/// A call budget: `calls` per `per`.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub calls: u32,
    pub per: Duration,
}

/// A Slack workspace (team) with its bot, tokens and channels.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub team_id: String,
    pub team_name: String,
    /// The workspace's subdomain, for `auth.test`'s `url`.
    pub domain: String,
    pub bot_user_id: String,
    pub bot_id: String,
    pub tokens: Vec<BotToken>,
    pub channels: Vec<Channel>,
    pub users: Vec<User>,
}

/// A person in a workspace, whom `users.list` lists and `users.lookupByEmail` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    /// The handle (`@name`).
    pub name: String,
    pub real_name: String,
    pub email: String,
}

impl User {
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        real_name: impl Into<String>,
        email: impl Into<String>,
    ) -> Self {
        User { id: id.into(), name: name.into(), real_name: real_name.into(), email: email.into() }
    }
}

/// A bot token and the scopes granted with it.
#[derive(Debug, Clone)]
pub struct BotToken {
    pub token: String,
    pub scopes: Vec<String>,
}

/// A channel as the fake knows it.
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: String,
    /// Without `#`.
    pub name: String,
    pub is_private: bool,
    pub is_archived: bool,
    pub bot_is_member: bool,
    /// For a direct message (`D…`, made by `conversations.open`): the user it is with.
    pub im_user: Option<String>,
}

/// The Slack app that OAuth exchanges are made for.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: String,
    pub app_id: String,
    /// Scopes granted to tokens made by installs.
    pub scopes: Vec<String>,
    /// With token rotation, tokens expire after this and come with a refresh token.
    pub token_rotation: Option<Duration>,
}

/// What an injected failure does to a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Answers this HTTP status with a non-JSON body, before doing anything.
    Status(u16),
    /// Answers HTTP 200 `{"ok": false, "error": code}`, before doing anything.
    Error(String),
    /// Answers 429 with `Retry-After: secs`, before doing anything.
    RateLimited { retry_after_secs: u64 },
    /// Carries out the call, then closes the connection without answering: the caller cannot
    /// know whether it worked.
    DropAfterAccept,
    /// Carries out the call, then answers this HTTP status with a non-JSON body (a proxy or
    /// load balancer failing on the way back): the caller cannot know whether it worked.
    StatusAfterAccept(u16),
    /// Closes the connection without doing anything.
    DropBeforeAccept,
}

/// A message as the fake stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    pub text: String,
    pub blocks: Option<Value>,
    pub metadata: Option<Value>,
    pub thread_ts: Option<String>,
    /// The bot user that posted it.
    pub user: String,
    /// Set by `chat.update`.
    pub edited: bool,
}

impl Default for Config {
    /// One workspace (`T0SLUICE`, "Sluice Test") with [`DEFAULT_TOKEN`] holding
    /// [`SLUICE_SCOPES`] and these channels:
    ///
    /// | id | name | kind | bot |
    /// |---|---|---|---|
    /// | `C0GENERAL` | general | public | member |
    /// | `C0SALES` | sales | public | member |
    /// | `C0RANDOM` | random | public | not a member |
    /// | `G0SECRET` | secret | private | member |
    /// | `G0HIDDEN` | hidden | private | not a member |
    /// | `C0OLD` | old | public, archived | member |
    ///
    /// and [`DM_TOKEN`], and the users `U0ALICE` (`alice`, Alice Example, alice@example.com) and
    /// `U0BOB` (`bob`, Bob Example, bob@example.com).
    fn default() -> Self {
        Config {
            workspaces: vec![
                Workspace::new(DEFAULT_TEAM_ID, "Sluice Test")
                    .bot(DEFAULT_BOT_USER, "B0BOT")
                    .token(DEFAULT_TOKEN, SLUICE_SCOPES)
                    .token(DM_TOKEN, &[SLUICE_SCOPES, DM_SCOPES].concat())
                    .user(User::new("U0ALICE", "alice", "Alice Example", "alice@example.com"))
                    .user(User::new("U0BOB", "bob", "Bob Example", "bob@example.com"))
                    .channel(Channel::public("C0GENERAL", "general").member())
                    .channel(Channel::public("C0SALES", "sales").member())
                    .channel(Channel::public("C0RANDOM", "random"))
                    .channel(Channel::private("G0SECRET", "secret").member())
                    .channel(Channel::private("G0HIDDEN", "hidden"))
                    .channel(Channel::public("C0OLD", "old").member().archived()),
            ],
            post_interval: Duration::from_secs(1),
            list_rate_limit: Some(RateLimit { calls: 20, per: Duration::from_secs(60) }),
            list_page_cap: 1000,
            oauth: Some(OAuthApp {
                client_id: DEFAULT_CLIENT_ID.into(),
                client_secret: DEFAULT_CLIENT_SECRET.into(),
                app_id: "A0SLUICE".into(),
                scopes: SLUICE_SCOPES.iter().map(|s| s.to_string()).collect(),
                token_rotation: None,
            }),
        }
    }
}

impl Workspace {
    pub fn new(team_id: impl Into<String>, team_name: impl Into<String>) -> Self {
        let team_name = team_name.into();
        let domain = team_name.to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "-");
        Workspace {
            team_id: team_id.into(),
            team_name,
            domain,
            bot_user_id: "U0BOT".into(),
            bot_id: "B0BOT".into(),
            tokens: Vec::new(),
            channels: Vec::new(),
            users: Vec::new(),
        }
    }

    pub fn user(mut self, user: User) -> Self {
        self.users.push(user);
        self
    }

    pub fn bot(mut self, user_id: impl Into<String>, bot_id: impl Into<String>) -> Self {
        self.bot_user_id = user_id.into();
        self.bot_id = bot_id.into();
        self
    }

    pub fn token(mut self, token: impl Into<String>, scopes: &[&str]) -> Self {
        self.tokens.push(BotToken { token: token.into(), scopes: scopes.iter().map(|s| s.to_string()).collect() });
        self
    }

    pub fn channel(mut self, channel: Channel) -> Self {
        self.channels.push(channel);
        self
    }
}

impl Channel {
    pub fn public(id: impl Into<String>, name: impl Into<String>) -> Self {
        Channel {
            id: id.into(),
            name: name.into(),
            is_private: false,
            is_archived: false,
            bot_is_member: false,
            im_user: None,
        }
    }

    pub fn private(id: impl Into<String>, name: impl Into<String>) -> Self {
        Channel { is_private: true, ..Channel::public(id, name) }
    }

    /// The bot is a member.
    pub fn member(mut self) -> Self {
        self.bot_is_member = true;
        self
    }

    pub fn archived(mut self) -> Self {
        self.is_archived = true;
        self
    }
}

/// A running fake Slack. Dropping it stops the server.
pub struct FakeSlack {
    addr: SocketAddr,
    shared: Arc<Mutex<Inner>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeSlack {
    /// Starts on a random port of 127.0.0.1.
    pub async fn start(config: Config) -> std::io::Result<FakeSlack> {
        FakeSlack::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts on `addr` (the `fake-slack` binary's `--port`).
    pub async fn start_on(addr: SocketAddr, config: Config) -> std::io::Result<FakeSlack> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Inner::new(config)));
        let server = tokio::spawn(server::serve(listener, shared.clone()));
        Ok(FakeSlack { addr, shared, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Web API base to give a client: `http://127.0.0.1:PORT/api`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock leaves consistent data behind.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages in the channel with this id, oldest first.
    pub fn messages(&self, channel_id: &str) -> Vec<Message> {
        self.inner().messages(Some(channel_id))
    }

    /// Every stored message of every workspace, in posting order.
    pub fn all_messages(&self) -> Vec<Message> {
        self.inner().messages(None)
    }

    /// A response URL of an interaction, as Slack puts in a `block_actions` payload; what is
    /// posted to it is kept ([`FakeSlack::responses`]).
    pub fn response_url(&self, key: &str) -> String {
        format!("http://{}/response/{key}", self.addr())
    }

    /// The bodies posted to the response URL `key`, oldest first.
    pub fn responses(&self, key: &str) -> Vec<Value> {
        self.inner().responses.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }

    /// How many calls of `method` were made (including failed ones).
    pub fn calls(&self, method: &str) -> u64 {
        self.inner().calls.get(method).copied().unwrap_or(0)
    }

    /// How many calls of `method` were answered 429.
    pub fn rate_limited(&self, method: &str) -> u64 {
        self.inner().rate_limited.get(method).copied().unwrap_or(0)
    }

    /// The next `n` calls of `method` fail as `failure` says.
    pub fn fail_next(&self, method: &str, n: usize, failure: Failure) {
        let mut inner = self.inner();
        let queue = inner.failures.entry(method.to_string()).or_default();
        queue.extend(std::iter::repeat_n(failure, n));
    }

    /// From now on the token answers `token_revoked`.
    pub fn revoke_token(&self, token: &str) {
        self.inner().set_token_state(token, state::TokenState::Revoked);
    }

    /// From now on the token answers `token_expired`.
    pub fn expire_token(&self, token: &str) {
        self.inner().set_token_state(token, state::TokenState::Expired);
    }

    /// Adds a token to a workspace.
    pub fn add_token(&self, team_id: &str, token: &str, scopes: &[&str]) {
        let scopes = scopes.iter().map(|s| s.to_string()).collect();
        self.inner().add_token(team_id, token, scopes, None);
    }

    /// Invites the bot to a channel, or removes it.
    pub fn set_member(&self, channel_id: &str, member: bool) {
        if let Some(c) = self.inner().channel_mut(channel_id) {
            c.info.bot_is_member = member;
        }
    }

    pub fn set_archived(&self, channel_id: &str, archived: bool) {
        if let Some(c) = self.inner().channel_mut(channel_id) {
            c.info.is_archived = archived;
        }
    }

    /// Adds a channel to a workspace.
    pub fn add_channel(&self, team_id: &str, channel: Channel) {
        self.inner().add_channel(team_id, channel);
    }

    /// Adds a person to a workspace.
    pub fn add_user(&self, team_id: &str, user: User) {
        self.inner().add_user(team_id, user);
    }

    pub fn set_post_interval(&self, interval: Duration) {
        self.inner().config.post_interval = interval;
    }

    /// Slack's install page on this fake (`SLACK_OAUTH_AUTHORIZE_URL`): it approves at once,
    /// redirecting to the `redirect_uri` with a fresh code and the `state`.
    pub fn authorize_url(&self) -> String {
        format!("http://{}/oauth/v2/authorize", self.addr)
    }

    /// Every visit of the install page, oldest first.
    pub fn authorizations(&self) -> Vec<Authorization> {
        self.inner().authorizations.clone()
    }

    /// The workspace installs go to (default: the first).
    pub fn set_install_team(&self, team_id: &str) {
        self.inner().install_team = Some(team_id.to_string());
    }

    /// From now on the install page answers `error=access_denied`, as when the admin cancels.
    pub fn deny_installs(&self, deny: bool) {
        self.inner().deny_installs = deny;
    }

    /// Turns token rotation on for tokens made by later installs and refreshes: they expire after
    /// `lifetime` and come with a single-use refresh token.
    pub fn set_token_rotation(&self, lifetime: Option<Duration>) {
        if let Some(app) = self.inner().config.oauth.as_mut() {
            app.token_rotation = lifetime;
        }
    }

    /// Makes a single-use install code for `oauth.v2.access`, as Slack's redirect would carry.
    /// With `redirect_uri`, the exchange must name the same one.
    pub fn issue_oauth_code(&self, team_id: &str, redirect_uri: Option<&str>) -> String {
        self.inner().issue_code(team_id, redirect_uri)
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.abort();
    }
}
