//! What the fake knows (workspaces, tokens, channels, messages, install codes) and how each Web
//! API method reads and changes it, answering as Slack documents.

use std::collections::{HashMap, VecDeque};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::{Channel, Config, Failure, Message, Workspace};

/// Slack truncates longer text (with the warning `message_truncated`).
const MAX_TEXT_CHARS: usize = 40_000;
const MAX_BLOCKS: usize = 50;
const MAX_SECTION_CHARS: usize = 3_000;

/// A visit of the authorize page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
    pub state: String,
}

/// One call as it arrived.
pub(crate) struct Call {
    pub(crate) method: String,
    pub(crate) params: Params,
    pub(crate) bearer: Option<String>,
    pub(crate) basic: Option<(String, String)>,
    /// JSON bodies need the token in the header; a `token` field in them is ignored.
    pub(crate) json: bool,
}

/// How to answer.
pub(crate) enum Reply {
    /// HTTP 200 with this body (`ok` true or false).
    Json(Value),
    RateLimited {
        retry_after_secs: u64,
    },
    Status(u16),
    /// Close the connection without answering.
    Hangup,
}

/// A call's arguments, from JSON or a form (where everything is a string, `blocks` included).
pub(crate) struct Params(pub(crate) Map<String, Value>);

impl Params {
    fn string(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn nonempty(&self, key: &str) -> Option<String> {
        self.string(key).filter(|s| !s.trim().is_empty())
    }

    fn flag(&self, key: &str) -> bool {
        match self.0.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true" || s == "1",
            Some(Value::Number(n)) => n.as_u64() == Some(1),
            _ => false,
        }
    }

    fn number(&self, key: &str) -> Option<u64> {
        self.string(key)?.parse().ok()
    }

    /// A JSON-valued argument; forms carry it as a JSON string. `Err` when that string is not JSON.
    fn json(&self, key: &str) -> Result<Option<Value>, ()> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|_| ()),
            Some(v) => Ok(Some(v.clone())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenState {
    Active,
    Revoked,
    Expired,
}

struct TokenInfo {
    team: usize,
    scopes: Vec<String>,
    state: TokenState,
    expires_at: Option<Instant>,
}

pub(crate) struct ChannelState {
    pub(crate) info: Channel,
    messages: Vec<Message>,
}

struct Team {
    workspace: Workspace,
    channels: Vec<ChannelState>,
}

struct CodeGrant {
    team: usize,
    redirect_uri: Option<String>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    teams: Vec<Team>,
    tokens: HashMap<String, TokenInfo>,
    pub(crate) calls: HashMap<String, u64>,
    pub(crate) rate_limited: HashMap<String, u64>,
    pub(crate) failures: HashMap<String, VecDeque<Failure>>,
    /// Last accepted post per channel id, for the per-channel rate limit.
    last_post: HashMap<String, Instant>,
    /// Recent `conversations.list` calls per team, for the Tier 2 limit.
    list_calls: HashMap<usize, VecDeque<Instant>>,
    codes: HashMap<String, CodeGrant>,
    refresh_tokens: HashMap<String, usize>,
    /// Every visit of the authorize page, oldest first.
    pub(crate) authorizations: Vec<Authorization>,
    /// The workspace the authorize page installs into, and whether it denies instead.
    pub(crate) install_team: Option<String>,
    pub(crate) deny_installs: bool,
    /// Microseconds of the last ts handed out, so every ts is unique and increasing.
    last_ts: u128,
    counter: u64,
    /// What was posted to response URLs (`/response/{key}`), oldest first: the key and the body.
    pub(crate) responses: Vec<(String, Value)>,
}

fn err(code: &str) -> Reply {
    Reply::Json(json!({"ok": false, "error": code}))
}

type Outcome = Result<Value, Reply>;

impl Inner {
    pub(crate) fn new(config: Config) -> Self {
        let mut inner = Inner {
            teams: Vec::new(),
            tokens: HashMap::new(),
            calls: HashMap::new(),
            rate_limited: HashMap::new(),
            failures: HashMap::new(),
            last_post: HashMap::new(),
            list_calls: HashMap::new(),
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            authorizations: Vec::new(),
            install_team: None,
            deny_installs: false,
            last_ts: 0,
            counter: 0,
            responses: Vec::new(),
            config: Config { workspaces: Vec::new(), ..config.clone() },
        };
        for workspace in config.workspaces {
            let team = inner.teams.len();
            for token in &workspace.tokens {
                inner.tokens.insert(
                    token.token.clone(),
                    TokenInfo { team, scopes: token.scopes.clone(), state: TokenState::Active, expires_at: None },
                );
            }
            let channels =
                workspace.channels.iter().map(|c| ChannelState { info: c.clone(), messages: Vec::new() }).collect();
            inner.teams.push(Team { workspace, channels });
        }
        inner
    }

    pub(crate) fn messages(&self, channel_id: Option<&str>) -> Vec<Message> {
        let mut out: Vec<Message> = self
            .teams
            .iter()
            .flat_map(|t| &t.channels)
            .filter(|c| channel_id.is_none_or(|id| c.info.id == id))
            .flat_map(|c| c.messages.iter().cloned())
            .collect();
        out.sort_by_key(|m| ts_micros(&m.ts));
        out
    }

    pub(crate) fn set_token_state(&mut self, token: &str, state: TokenState) {
        if let Some(info) = self.tokens.get_mut(token) {
            info.state = state;
        }
    }

    pub(crate) fn add_token(&mut self, team_id: &str, token: &str, scopes: Vec<String>, expires_at: Option<Instant>) {
        if let Some(team) = self.teams.iter().position(|t| t.workspace.team_id == team_id) {
            self.tokens.insert(token.to_string(), TokenInfo { team, scopes, state: TokenState::Active, expires_at });
        }
    }

    pub(crate) fn channel_mut(&mut self, channel_id: &str) -> Option<&mut ChannelState> {
        self.teams.iter_mut().flat_map(|t| t.channels.iter_mut()).find(|c| c.info.id == channel_id)
    }

    pub(crate) fn add_channel(&mut self, team_id: &str, channel: Channel) {
        if let Some(team) = self.teams.iter_mut().find(|t| t.workspace.team_id == team_id) {
            team.channels.push(ChannelState { info: channel, messages: Vec::new() });
        }
    }

    pub(crate) fn add_user(&mut self, team_id: &str, user: crate::User) {
        if let Some(team) = self.teams.iter_mut().find(|t| t.workspace.team_id == team_id) {
            team.workspace.users.push(user);
        }
    }

    pub(crate) fn issue_code(&mut self, team_id: &str, redirect_uri: Option<&str>) -> String {
        self.counter += 1;
        let code = format!("{}.{}.fakecode", self.counter, team_id);
        let team = self.teams.iter().position(|t| t.workspace.team_id == team_id).unwrap_or(0);
        self.codes.insert(code.clone(), CodeGrant { team, redirect_uri: redirect_uri.map(str::to_string) });
        code
    }

    /// The authorize page: checks the client id, records the visit and answers where to send the
    /// browser back to.
    pub(crate) fn authorize(&mut self, params: HashMap<String, String>) -> Result<String, String> {
        let get = |k: &str| params.get(k).cloned().unwrap_or_default();
        let app = self.config.oauth.clone().ok_or("no OAuth app is configured")?;
        if get("client_id") != app.client_id {
            return Err("invalid_client_id".into());
        }
        let redirect_uri = get("redirect_uri");
        if redirect_uri.is_empty() {
            return Err("bad_redirect_uri".into());
        }
        let scopes: Vec<String> = get("scope").split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
        self.authorizations.push(Authorization {
            client_id: get("client_id"),
            scopes,
            redirect_uri: redirect_uri.clone(),
            state: get("state"),
        });
        let sep = if redirect_uri.contains('?') { '&' } else { '?' };
        let state = serde_urlencoded::to_string([("state", get("state"))]).unwrap_or_default();
        if self.deny_installs {
            return Ok(format!("{redirect_uri}{sep}error=access_denied&{state}"));
        }
        let team = self.install_team.clone().or_else(|| self.teams.first().map(|t| t.workspace.team_id.clone()));
        let code = self.issue_code(&team.unwrap_or_default(), Some(&redirect_uri));
        let code = serde_urlencoded::to_string([("code", code)]).unwrap_or_default();
        Ok(format!("{redirect_uri}{sep}{code}&{state}"))
    }

    pub(crate) fn handle(&mut self, call: Call) -> Reply {
        *self.calls.entry(call.method.clone()).or_default() += 1;
        let failure = self.failures.get_mut(&call.method).and_then(VecDeque::pop_front);
        let after_accept = match failure {
            Some(Failure::Status(status)) => return Reply::Status(status),
            Some(Failure::Error(code)) => return err(&code),
            Some(Failure::RateLimited { retry_after_secs }) => {
                *self.rate_limited.entry(call.method.clone()).or_default() += 1;
                return Reply::RateLimited { retry_after_secs };
            }
            Some(Failure::DropBeforeAccept) => return Reply::Hangup,
            Some(Failure::DropAfterAccept) => Some(Reply::Hangup),
            Some(Failure::StatusAfterAccept(status)) => Some(Reply::Status(status)),
            None => None,
        };
        let outcome = match call.method.as_str() {
            "chat.postMessage" => self.post_message(&call),
            "chat.update" => self.update(&call),
            "conversations.history" => self.history(&call),
            "conversations.list" => self.list(&call),
            "conversations.info" => self.info(&call),
            "auth.test" => self.auth_test(&call),
            "users.list" => self.users_list(&call),
            "users.lookupByEmail" => self.lookup_by_email(&call),
            "users.info" => self.users_info(&call),
            "conversations.open" => self.open(&call),
            "oauth.v2.access" => self.oauth_access(&call),
            _ => Err(err("unknown_method")),
        };
        let reply = match outcome {
            Ok(body) => Reply::Json(body),
            Err(reply) => reply,
        };
        if let Reply::RateLimited { .. } = reply {
            *self.rate_limited.entry(call.method.clone()).or_default() += 1;
        }
        after_accept.unwrap_or(reply)
    }

    /// The scopes of the call's token, for the `X-OAuth-Scopes` header Slack adds to answers of
    /// calls made with a token it knows.
    pub(crate) fn scopes_of(&self, call: &Call) -> Option<String> {
        let token = call.bearer.clone().or_else(|| if call.json { None } else { call.params.nonempty("token") })?;
        self.tokens.get(&token).map(|info| info.scopes.join(","))
    }

    /// The team and scopes of the call's token, or Slack's refusal.
    fn authenticate(&self, call: &Call) -> Result<(usize, Vec<String>), Reply> {
        // A token in a JSON body is not read: JSON calls must use the Authorization header.
        let token = call.bearer.clone().or_else(|| if call.json { None } else { call.params.nonempty("token") });
        let token = token.ok_or_else(|| err("not_authed"))?;
        let info = self.tokens.get(&token).ok_or_else(|| err("invalid_auth"))?;
        match info.state {
            TokenState::Revoked => return Err(err("token_revoked")),
            TokenState::Expired => return Err(err("token_expired")),
            TokenState::Active => {}
        }
        if info.expires_at.is_some_and(|at| Instant::now() >= at) {
            return Err(err("token_expired"));
        }
        Ok((info.team, info.scopes.clone()))
    }

    fn require(scopes: &[String], needed: &str) -> Result<(), Reply> {
        if scopes.iter().any(|s| s == needed) {
            return Ok(());
        }
        Err(Reply::Json(json!({"ok": false, "error": "missing_scope", "needed": needed, "provided": scopes.join(",")})))
    }

    /// The channel named by an id or a name (with or without `#`), as the bot can see it: a
    /// private channel the bot is not in does not exist for it.
    fn find_channel(&self, team: usize, channel: Option<String>) -> Result<usize, Reply> {
        let channel = channel.ok_or_else(|| err("channel_not_found"))?;
        let name = channel.trim().trim_start_matches('#');
        let channels = &self.teams[team].channels;
        let index = channels
            .iter()
            .position(|c| c.info.id == channel.trim())
            .or_else(|| channels.iter().position(|c| c.info.name == name))
            .ok_or_else(|| err("channel_not_found"))?;
        let info = &channels[index].info;
        if info.is_private && !info.bot_is_member {
            return Err(err("channel_not_found"));
        }
        Ok(index)
    }

    fn next_ts(&mut self) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or_default();
        self.last_ts = now.max(self.last_ts + 1);
        format!("{}.{:06}", self.last_ts / 1_000_000, self.last_ts % 1_000_000)
    }

    fn post_message(&mut self, call: &Call) -> Outcome {
        let (team, scopes) = self.authenticate(call)?;
        Self::require(&scopes, "chat:write")?;
        let index = self.find_channel(team, call.params.string("channel"))?;
        let info = self.teams[team].channels[index].info.clone();
        if info.is_archived {
            return Err(err("is_archived"));
        }
        if !info.bot_is_member && !scopes.iter().any(|s| s == "chat:write.public") {
            return Err(err("not_in_channel"));
        }
        let blocks = blocks(&call.params)?;
        let metadata = metadata(&call.params)?;
        let mut text = call.params.string("text").unwrap_or_default();
        let has_attachments = call.params.nonempty("attachments").is_some();
        if text.trim().is_empty() && blocks.as_ref().is_none_or(Vec::is_empty) && !has_attachments {
            return Err(err("no_text"));
        }
        let mut warnings = Vec::new();
        if text.chars().count() > MAX_TEXT_CHARS {
            text = text.chars().take(MAX_TEXT_CHARS).collect();
            warnings.push("message_truncated");
        }

        let now = Instant::now();
        let interval = self.config.post_interval;
        if let Some(last) = self.last_post.get(&info.id)
            && now.duration_since(*last) < interval
        {
            let remaining = interval - now.duration_since(*last);
            return Err(Reply::RateLimited { retry_after_secs: remaining.as_secs_f64().ceil().max(1.0) as u64 });
        }
        self.last_post.insert(info.id.clone(), now);

        let ts = self.next_ts();
        let bot_user = self.teams[team].workspace.bot_user_id.clone();
        let message = Message {
            channel: info.id.clone(),
            ts: ts.clone(),
            text,
            blocks: blocks.map(Value::Array),
            metadata,
            thread_ts: call.params.nonempty("thread_ts"),
            user: bot_user,
            edited: false,
        };
        let body = message_json(&message, &self.teams[team].workspace, true);
        self.teams[team].channels[index].messages.push(message);
        let mut answer = json!({"ok": true, "channel": info.id, "ts": ts, "message": body});
        if !warnings.is_empty() {
            answer["warning"] = json!(warnings.join(","));
            answer["response_metadata"] = json!({"warnings": warnings});
        }
        Ok(answer)
    }

    fn update(&mut self, call: &Call) -> Outcome {
        let (team, scopes) = self.authenticate(call)?;
        Self::require(&scopes, "chat:write")?;
        let index = self.find_channel(team, call.params.string("channel"))?;
        let ts = call.params.nonempty("ts").ok_or_else(|| err("message_not_found"))?;
        let blocks = blocks(&call.params)?;
        let metadata = metadata(&call.params)?;
        let text = call.params.string("text");
        if text.as_deref().is_none_or(|t| t.trim().is_empty()) && blocks.is_none() {
            return Err(err("no_text"));
        }
        let workspace = self.teams[team].workspace.clone();
        let channel = &mut self.teams[team].channels[index];
        if channel.info.is_archived {
            return Err(err("is_archived"));
        }
        let channel_id = channel.info.id.clone();
        let message = channel.messages.iter_mut().find(|m| m.ts == ts).ok_or_else(|| err("message_not_found"))?;
        if message.user != workspace.bot_user_id {
            return Err(err("cant_update_message"));
        }
        if let Some(text) = text {
            message.text = text;
        }
        if let Some(blocks) = blocks {
            message.blocks = Some(Value::Array(blocks));
        }
        if metadata.is_some() {
            message.metadata = metadata;
        }
        message.edited = true;
        let text = message.text.clone();
        let body = message_json(message, &workspace, true);
        Ok(json!({"ok": true, "channel": channel_id, "ts": ts, "text": text, "message": body}))
    }

    fn history(&mut self, call: &Call) -> Outcome {
        let (team, scopes) = self.authenticate(call)?;
        let channel = call.params.string("channel");
        // conversations.history takes ids only.
        if channel.as_deref().is_some_and(|c| c.starts_with('#')) {
            return Err(err("channel_not_found"));
        }
        let index = self.find_channel(team, channel)?;
        let channel = &self.teams[team].channels[index];
        let needed = match (&channel.info.im_user, channel.info.is_private) {
            (Some(_), _) => "im:history",
            (None, true) => "groups:history",
            (None, false) => "channels:history",
        };
        Self::require(&scopes, needed)?;
        if !channel.info.bot_is_member {
            return Err(err("not_in_channel"));
        }
        let limit = call.params.number("limit").unwrap_or(100).clamp(1, 999) as usize;
        let inclusive = call.params.flag("inclusive");
        let oldest = call.params.nonempty("oldest").map(|t| ts_micros(&t));
        let latest = call.params.nonempty("latest").map(|t| ts_micros(&t));
        let offset = call.params.nonempty("cursor").and_then(|c| decode_cursor(&c)).unwrap_or(0);
        let with_metadata = call.params.flag("include_all_metadata");
        let matching: Vec<&Message> = channel
            .messages
            .iter()
            .rev()
            .filter(|m| {
                let t = ts_micros(&m.ts);
                oldest.is_none_or(|o| if inclusive { t >= o } else { t > o })
                    && latest.is_none_or(|l| if inclusive { t <= l } else { t < l })
            })
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(limit)
            .map(|m| message_json(m, &self.teams[team].workspace, with_metadata))
            .collect();
        let has_more = offset + page.len() < matching.len();
        let mut answer = json!({"ok": true, "messages": page, "has_more": has_more, "pin_count": 0});
        if has_more {
            answer["response_metadata"] = json!({"next_cursor": encode_cursor(offset + limit)});
        }
        Ok(answer)
    }

    fn list(&mut self, call: &Call) -> Outcome {
        let (team, scopes) = self.authenticate(call)?;
        let types = call.params.nonempty("types").unwrap_or_else(|| "public_channel".into());
        let mut public = false;
        let mut private = false;
        for kind in types.split(',').map(str::trim) {
            match kind {
                "public_channel" => public = true,
                "private_channel" => private = true,
                "im" | "mpim" => {}
                _ => return Err(err("invalid_types")),
            }
        }
        if public {
            Self::require(&scopes, "channels:read")?;
        }
        if private {
            Self::require(&scopes, "groups:read")?;
        }
        if let Some(limit) = self.config.list_rate_limit {
            let now = Instant::now();
            let calls = self.list_calls.entry(team).or_default();
            while calls.front().is_some_and(|t| now.duration_since(*t) >= limit.per) {
                calls.pop_front();
            }
            if calls.len() >= limit.calls as usize {
                let wait =
                    calls.front().map_or(limit.per, |first| limit.per.saturating_sub(now.duration_since(*first)));
                return Err(Reply::RateLimited { retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64 });
            }
            calls.push_back(now);
        }
        let limit = call.params.number("limit").unwrap_or(100).clamp(1, 1000) as usize;
        let exclude_archived = call.params.flag("exclude_archived");
        let offset = call.params.nonempty("cursor").and_then(|c| decode_cursor(&c)).unwrap_or(0);
        let channels = &self.teams[team].channels;
        // Like Slack, look at a slice of the workspace's channels and filter it, so a page can hold
        // fewer than `limit` channels while more remain.
        let end = (offset + limit.min(self.config.list_page_cap.max(1))).min(channels.len());
        let page: Vec<Value> = channels
            .get(offset..end)
            .unwrap_or_default()
            .iter()
            .map(|c| &c.info)
            .filter(|c| c.im_user.is_none())
            .filter(|c| if c.is_private { private && c.bot_is_member } else { public })
            .filter(|c| !(exclude_archived && c.is_archived))
            .map(channel_json)
            .collect();
        let next_cursor = if end < channels.len() { encode_cursor(end) } else { String::new() };
        Ok(json!({"ok": true, "channels": page, "response_metadata": {"next_cursor": next_cursor}}))
    }

    /// `conversations.info`: one channel by id (Tier 3). A private channel the bot is not in does
    /// not exist for it (`channel_not_found`), as in every other method; archived channels are
    /// described, with `is_archived`.
    fn info(&mut self, call: &Call) -> Outcome {
        let (team, scopes) = self.authenticate(call)?;
        let channel = call.params.nonempty("channel").ok_or_else(|| err("channel_not_found"))?;
        // conversations.info takes ids only.
        let channels = &self.teams[team].channels;
        let index =
            channels.iter().position(|c| c.info.id == channel.trim()).ok_or_else(|| err("channel_not_found"))?;
        let info = &channels[index].info;
        Self::require(&scopes, if info.is_private { "groups:read" } else { "channels:read" })?;
        if info.is_private && !info.bot_is_member {
            return Err(err("channel_not_found"));
        }
        Ok(json!({"ok": true, "channel": channel_json(info)}))
    }

    /// `users.list` (scope `users:read`), in pages of `limit` (default 100) with a cursor.
    fn users_list(&mut self, call: &Call) -> Outcome {
        let (team, scopes) = self.authenticate(call)?;
        Self::require(&scopes, "users:read")?;
        let (users, team_id) = (&self.teams[team].workspace.users, &self.teams[team].workspace.team_id);
        let limit = call.params.number("limit").unwrap_or(100).clamp(1, 1000) as usize;
        let offset = call.params.nonempty("cursor").and_then(|c| decode_cursor(&c)).unwrap_or(0);
        let end = (offset + limit).min(users.len());
        let with_email = scopes.iter().any(|s| s == "users:read.email");
        let page: Vec<Value> =
            users.get(offset..end).unwrap_or_default().iter().map(|u| user_json(u, team_id, with_email)).collect();
        let next_cursor = if end < users.len() { encode_cursor(end) } else { String::new() };
        Ok(json!({"ok": true, "members": page, "response_metadata": {"next_cursor": next_cursor}}))
    }

    /// `users.info` (scope `users:read`; the profile's email only with `users:read.email`);
    /// `user_not_found` for an id the workspace does not have.
    fn users_info(&mut self, call: &Call) -> Outcome {
        let (team, scopes) = self.authenticate(call)?;
        Self::require(&scopes, "users:read")?;
        let id = call.params.nonempty("user").ok_or_else(|| err("invalid_arguments"))?;
        let w = &self.teams[team].workspace;
        let user = w.users.iter().find(|u| u.id == id.trim()).ok_or_else(|| err("user_not_found"))?;
        let with_email = scopes.iter().any(|s| s == "users:read.email");
        Ok(json!({"ok": true, "user": user_json(user, &w.team_id, with_email)}))
    }

    /// `users.lookupByEmail` (scope `users:read.email`); `users_not_found` when nobody has it.
    fn lookup_by_email(&mut self, call: &Call) -> Outcome {
        let (team, scopes) = self.authenticate(call)?;
        Self::require(&scopes, "users:read.email")?;
        let email = call.params.nonempty("email").ok_or_else(|| err("invalid_arguments"))?;
        let w = &self.teams[team].workspace;
        let user = w
            .users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email.trim()))
            .ok_or_else(|| err("users_not_found"))?;
        Ok(json!({"ok": true, "user": user_json(user, &w.team_id, true)}))
    }

    /// `conversations.open` with one user (scope `im:write`): the direct message with them, made
    /// on first use (`D…`, the bot a member).
    fn open(&mut self, call: &Call) -> Outcome {
        let (team, scopes) = self.authenticate(call)?;
        Self::require(&scopes, "im:write")?;
        let users = call.params.nonempty("users").ok_or_else(|| err("users_list_not_supplied"))?;
        let user = users.trim();
        if user.contains(',') {
            return Err(err("not_supported_in_this_fake"));
        }
        if !self.teams[team].workspace.users.iter().any(|u| u.id == user) {
            return Err(err("user_not_found"));
        }
        let channels = &mut self.teams[team].channels;
        let existing = channels.iter().find(|c| c.info.im_user.as_deref() == Some(user)).map(|c| c.info.id.clone());
        let id = match existing {
            Some(id) => id,
            None => {
                let id = format!("D{}", user.trim_start_matches('U'));
                let mut info = Channel::private(id.clone(), user.to_lowercase()).member();
                info.im_user = Some(user.to_string());
                channels.push(ChannelState { info, messages: Vec::new() });
                id
            }
        };
        Ok(json!({"ok": true, "channel": {"id": id}}))
    }

    fn auth_test(&mut self, call: &Call) -> Outcome {
        let (team, _) = self.authenticate(call)?;
        let w = &self.teams[team].workspace;
        Ok(json!({
            "ok": true, "url": format!("https://{}.slack.com/", w.domain), "team": w.team_name,
            "user": "sluice", "team_id": w.team_id, "user_id": w.bot_user_id, "bot_id": w.bot_id,
            "is_enterprise_install": false,
        }))
    }

    fn oauth_access(&mut self, call: &Call) -> Outcome {
        let (client_id, client_secret) = match &call.basic {
            Some((id, secret)) => (Some(id.clone()), Some(secret.clone())),
            None => (call.params.nonempty("client_id"), call.params.nonempty("client_secret")),
        };
        let app = self.config.oauth.clone().ok_or_else(|| err("invalid_client_id"))?;
        if client_id.as_deref() != Some(app.client_id.as_str()) {
            return Err(err("invalid_client_id"));
        }
        if client_secret.as_deref() != Some(app.client_secret.as_str()) {
            return Err(err("bad_client_secret"));
        }
        let team = match call.params.nonempty("grant_type").as_deref() {
            None | Some("authorization_code") => {
                let code = call.params.nonempty("code").ok_or_else(|| err("invalid_code"))?;
                let grant = self.codes.get(&code).ok_or_else(|| err("invalid_code"))?;
                if grant.redirect_uri.is_some() && grant.redirect_uri != call.params.nonempty("redirect_uri") {
                    return Err(err("bad_redirect_uri"));
                }
                let team = grant.team;
                self.codes.remove(&code);
                team
            }
            Some("refresh_token") => {
                let refresh = call.params.nonempty("refresh_token").ok_or_else(|| err("invalid_refresh_token"))?;
                self.refresh_tokens.remove(&refresh).ok_or_else(|| err("invalid_refresh_token"))?
            }
            Some(_) => return Err(err("invalid_grant_type")),
        };
        self.counter += 1;
        let n = self.counter;
        let team_id = self.teams[team].workspace.team_id.clone();
        let rotation = app.token_rotation;
        let access_token = match rotation {
            Some(_) => format!("xoxe.xoxb-1-{team_id}-{n:06}"),
            None => format!("xoxb-{team_id}-{n:06}"),
        };
        self.add_token(&team_id, &access_token, app.scopes.clone(), rotation.map(|d| Instant::now() + d));
        let w = &self.teams[team].workspace;
        let mut answer = json!({
            "ok": true, "access_token": access_token, "token_type": "bot", "scope": app.scopes.join(","),
            "bot_user_id": w.bot_user_id, "app_id": app.app_id,
            "team": {"id": w.team_id, "name": w.team_name}, "enterprise": null,
            "authed_user": {"id": "U0ADMIN"}, "is_enterprise_install": false,
        });
        if let Some(lifetime) = rotation {
            let refresh = format!("xoxe-1-{team_id}-{n:06}");
            self.refresh_tokens.insert(refresh.clone(), team);
            answer["expires_in"] = json!(lifetime.as_secs());
            answer["refresh_token"] = json!(refresh);
        }
        Ok(answer)
    }
}

/// The `blocks` argument: absent, or an array of blocks Slack would accept.
fn blocks(params: &Params) -> Result<Option<Vec<Value>>, Reply> {
    let blocks = match params.json("blocks").map_err(|()| err("invalid_blocks_format"))? {
        Some(Value::Array(blocks)) => Some(blocks),
        Some(_) => return Err(err("invalid_blocks_format")),
        None => None,
    };
    if let Some(blocks) = &blocks {
        let errors = block_errors(blocks);
        if !errors.is_empty() {
            return Err(Reply::Json(json!({"ok": false, "error": "invalid_blocks", "errors": errors})));
        }
    }
    Ok(blocks)
}

fn metadata(params: &Params) -> Result<Option<Value>, Reply> {
    let metadata = params.json("metadata").map_err(|()| err("invalid_metadata_format"))?;
    match metadata {
        None => Ok(None),
        Some(m)
            if m.get("event_type").is_some_and(Value::is_string)
                && m.get("event_payload").is_some_and(Value::is_object) =>
        {
            Ok(Some(m))
        }
        Some(_) => Err(err("invalid_metadata_format")),
    }
}

/// Slack-style problems with a message's blocks, as `invalid_blocks` lists them.
fn block_errors(blocks: &[Value]) -> Vec<String> {
    let mut errors = Vec::new();
    if blocks.len() > MAX_BLOCKS {
        errors.push(format!("must be less than {} items [json-pointer:/blocks]", MAX_BLOCKS + 1));
    }
    let chars = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    for (i, block) in blocks.iter().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            Some("section") => {
                let text = block.pointer("/text/text");
                let fields = block.get("fields").and_then(Value::as_array);
                match (text, fields) {
                    (None, None) => errors.push(format!("must provide text or fields [json-pointer:/blocks/{i}]")),
                    (Some(text), _) if chars(text) == 0 => {
                        errors.push(format!("must be more than 0 characters [json-pointer:/blocks/{i}/text/text]"))
                    }
                    (Some(text), _) if chars(text) > MAX_SECTION_CHARS => errors.push(format!(
                        "must be less than {} characters [json-pointer:/blocks/{i}/text/text]",
                        MAX_SECTION_CHARS + 1
                    )),
                    _ => {}
                }
                if let Some(kind) = block.pointer("/text/type").and_then(Value::as_str)
                    && kind != "mrkdwn"
                    && kind != "plain_text"
                {
                    errors.push(format!("invalid text type [json-pointer:/blocks/{i}/text/type]"));
                }
                if fields.is_some_and(|f| f.len() > 10) {
                    errors.push(format!("must be less than 11 items [json-pointer:/blocks/{i}/fields]"));
                }
            }
            Some("context") => {
                let n = block.get("elements").and_then(Value::as_array).map_or(0, Vec::len);
                if !(1..=10).contains(&n) {
                    errors.push(format!("must have 1 to 10 elements [json-pointer:/blocks/{i}/elements]"));
                }
            }
            Some("header") => {
                if !(1..=150).contains(&block.pointer("/text/text").map_or(0, chars)) {
                    errors.push(format!("must be 1 to 150 characters [json-pointer:/blocks/{i}/text/text]"));
                }
            }
            Some("divider" | "actions" | "image" | "rich_text" | "input" | "video" | "file") => {}
            _ => errors.push(format!("unsupported type [json-pointer:/blocks/{i}/type]")),
        }
    }
    errors
}

/// A user as `users.list` and `users.lookupByEmail` show one (the email only with
/// `users:read.email`).
fn user_json(u: &crate::User, team_id: &str, with_email: bool) -> Value {
    let mut profile = json!({"real_name": u.real_name, "display_name": u.name});
    if with_email {
        profile["email"] = json!(u.email);
    }
    json!({"id": u.id, "team_id": team_id, "name": u.name, "real_name": u.real_name,
           "deleted": false, "is_bot": false, "profile": profile})
}

/// A channel as `conversations.list` and `conversations.info` show it.
fn channel_json(c: &Channel) -> Value {
    json!({
        "id": c.id, "name": c.name, "name_normalized": c.name,
        "is_channel": !c.is_private && c.im_user.is_none(), "is_group": c.is_private && c.im_user.is_none(),
        "is_im": c.im_user.is_some(), "is_mpim": false,
        "is_private": c.is_private, "is_archived": c.is_archived, "is_member": c.bot_is_member,
        "is_general": c.name == "general",
    })
}

fn message_json(m: &Message, w: &Workspace, with_metadata: bool) -> Value {
    let mut v = json!({
        "type": "message", "user": m.user, "bot_id": w.bot_id, "team": w.team_id, "text": m.text, "ts": m.ts,
    });
    if let Some(blocks) = &m.blocks {
        v["blocks"] = blocks.clone();
    }
    if let Some(thread_ts) = &m.thread_ts {
        v["thread_ts"] = json!(thread_ts);
    }
    if m.edited {
        v["edited"] = json!({"user": m.user, "ts": m.ts});
    }
    if with_metadata && let Some(metadata) = &m.metadata {
        v["metadata"] = metadata.clone();
    }
    v
}

/// A ts (`1700000000.000100`, or whole seconds) as microseconds, for ordering and windows.
fn ts_micros(ts: &str) -> u128 {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    let secs: u128 = secs.parse().unwrap_or(0);
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    secs * 1_000_000 + frac.parse::<u128>().unwrap_or(0)
}

fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("next:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("next:")?.parse().ok()
}
