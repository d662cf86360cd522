//! Camunda 8's Slack tasks run unchanged: a service task of type `io.camunda:slack:1` (what Camunda
//! Modeler writes with the `io.camunda.connectors.Slack.v1` element template) posts through the
//! Slack Notification connector, with its pacing, posting at most once and incidents that say the
//! fix.
//!
//! Inputs as Camunda's template writes them (`zeebe:input` targets; dotted ones nest):
//! - `token`: `{{secrets.NAME}}`. A token written in the model is refused at deploy. The token
//!   posts through the connected integration it belongs to: the one the secret's name is mapped to
//!   (`SLUICE_SLACK_SECRET_ALIASES`), else the one whose bot token it is, else the token itself.
//! - `method`: only `chat.postMessage` ([`SUPPORTED_METHODS`]); others are refused at deploy.
//! - `data.channel`: a channel id (`C…`, `G…`, `D…`), `#name`, a user `@name` or a user's email
//!   (a direct message: `users.list` or `users.lookupByEmail`, then `conversations.open`).
//! - `data.text`: the message (mrkdwn); `data.blockContent`: Block Kit blocks (a JSON array, or an
//!   object with `blocks`, as JSON text or a FEEL value), checked against Slack's limits, posted
//!   with `data.text` (or the blocks' own text) as the notification fallback.
//!
//! The answer has the shape of Camunda's connector's for `chat.postMessage`: `channel`, `ts` and
//! `message` (`type`, `text`, `ts`, `channel`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sluice_connector_api::template::only_secret;
use sluice_connector_api::{Connector, ConnectorError, Context, Secret};

use crate::client::{self, Client};
use crate::connector::{SlackNotification, failed_error, map_error};
use crate::message;
use crate::once::Failed;
use crate::tokens::{Integration, TokenProvider};

/// The `zeebe:taskDefinition type` of Camunda's Slack connector.
pub const CAMUNDA_SLACK_TYPE: &str = "io.camunda:slack:1";
/// The Slack methods a Camunda Slack task may name in Sluice.
pub const SUPPORTED_METHODS: &[&str] = &["chat.postMessage"];
/// How many pages of `users.list` a `@name` recipient is looked for in.
const MAX_USER_PAGES: usize = 50;

/// The task's inputs, as Camunda's element template names them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct CamundaInput {
    /// The bot token: `{{secrets.NAME}}` (a token written in the model is refused).
    #[schemars(length(min = 1))]
    pub token: String,
    /// The Slack method; Sluice supports `chat.postMessage`.
    #[schemars(length(min = 1))]
    pub method: String,
    /// The method's arguments: `channel`, `text`, `blockContent`, `messageType`.
    pub data: Map<String, Value>,
}

/// What `chat.postMessage` gives, shaped as Camunda's connector's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CamundaOutput {
    /// The channel's id (a direct message's `D…` for a user).
    pub channel: String,
    pub ts: String,
    pub message: CamundaMessage,
}

/// The posted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CamundaMessage {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    pub ts: String,
    pub channel: String,
}

/// The `io.camunda:slack:1` connector; made by [`SlackNotification::camunda`].
#[derive(Debug)]
pub struct CamundaSlack<P> {
    inner: SlackNotification<P>,
    /// Secret name → integration alias.
    secret_aliases: BTreeMap<String, String>,
}

/// The integration a task posts with, and how it was found (for messages).
struct Chosen {
    integration: Integration,
    /// True when the token is used as it is (no integration has it).
    raw: bool,
    /// The secret the token came from, if it did.
    secret: Option<String>,
}

impl<P: TokenProvider> CamundaSlack<P> {
    pub(crate) fn new(inner: SlackNotification<P>, secret_aliases: BTreeMap<String, String>) -> Self {
        CamundaSlack { inner, secret_aliases }
    }

    fn client(&self) -> &Client {
        self.inner.client()
    }

    async fn post(&self, cx: &Context, input: CamundaInput) -> Result<CamundaOutput, ConnectorError> {
        let method = input.method.trim();
        if !SUPPORTED_METHODS.contains(&method) {
            return Err(ConnectorError::fatal(unsupported(method)));
        }
        let channel = text_of(&input.data, "channel").unwrap_or_default();
        if channel.is_empty() {
            return Err(ConnectorError::fatal(
                "the task names no recipient: set `data.channel` to a channel id, a #channel, an @user or an email",
            ));
        }
        let token = Secret::new(input.token.trim());
        if token.expose().is_empty() {
            return Err(ConnectorError::fatal(
                "the task's `token` is empty: set it to `{{secrets.NAME}}` with the bot token stored as that secret",
            ));
        }
        let secret = cx.secret_inputs.get("token").and_then(|names| names.first()).cloned();
        let chosen = self.choose(&token, secret.as_deref()).await?;
        let (text, blocks) = content(&input.data, &cx.request_url)?;
        let target = self.recipient(&chosen, &channel).await?;
        match self.inner.deliver(cx, &chosen.integration, &target, text.clone(), blocks).await {
            Ok(sent) => Ok(CamundaOutput {
                channel: sent.channel.clone(),
                ts: sent.ts.clone(),
                message: CamundaMessage { kind: "message".into(), text, ts: sent.ts, channel: sent.channel },
            }),
            Err(Failed::Post(e) | Failed::Lookup(e)) if e.token_refused() && chosen.raw => {
                Err(token_refused(&e, chosen.secret.as_deref()))
            }
            Err(failed) => Err(failed_error(failed, &chosen.integration.alias, &channel)),
        }
    }

    /// The integration the secret's name is mapped to, else the one whose token this is, else the
    /// token as it is.
    async fn choose(&self, token: &Secret, secret: Option<&str>) -> Result<Chosen, ConnectorError> {
        let tokens = self.inner.tokens();
        if let Some(alias) = secret.and_then(|s| self.secret_aliases.get(s)) {
            let integration =
                tokens.integration(Some(alias)).await.map_err(|e| ConnectorError::fatal(e.to_string()))?;
            return Ok(Chosen { integration, raw: false, secret: secret.map(str::to_owned) });
        }
        match tokens.integration_with_token(token).await {
            Ok(Some(integration)) => {
                return Ok(Chosen { integration, raw: false, secret: secret.map(str::to_owned) });
            }
            Ok(None) => {}
            Err(e) => return Err(ConnectorError::retryable(e.to_string())),
        }
        let alias = match secret {
            Some(s) => format!("secret:{s}"),
            None => "token".to_string(),
        };
        let integration = Integration { alias, token: token.clone() };
        Ok(Chosen { integration, raw: true, secret: secret.map(str::to_owned) })
    }

    /// The channel to post to: as given for a channel, a direct message's id for a user.
    async fn recipient(&self, chosen: &Chosen, channel: &str) -> Result<String, ConnectorError> {
        let token = &chosen.integration.token;
        let user = if let Some(handle) = channel.strip_prefix('@') {
            self.user_by_name(chosen, handle).await?
        } else if channel.contains('@') {
            match self.client().users_lookup_by_email(token, channel).await {
                Ok(user) => user.id,
                Err(e) if e.code() == Some("users_not_found") => {
                    return Err(ConnectorError::fatal(format!(
                        "no Slack user has the email `{channel}` (Slack said `users_not_found`): check the task's \
                         `data.channel`"
                    )));
                }
                Err(e) => return Err(self.slack_error(&e, chosen, channel)),
            }
        } else {
            return Ok(channel.to_string());
        };
        self.client().conversations_open(token, &user).await.map_err(|e| self.slack_error(&e, chosen, channel))
    }

    async fn user_by_name(&self, chosen: &Chosen, handle: &str) -> Result<String, ConnectorError> {
        let wanted = handle.trim().to_lowercase();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_USER_PAGES {
            let page = self
                .client()
                .users_list(&chosen.integration.token, cursor.as_deref())
                .await
                .map_err(|e| self.slack_error(&e, chosen, handle))?;
            let names = |u: &client::User| {
                [Some(u.name.clone()), u.profile.display_name.clone(), u.real_name.clone(), u.profile.real_name.clone()]
                    .into_iter()
                    .flatten()
                    .any(|n| n.to_lowercase() == wanted)
            };
            if let Some(u) = page.members.iter().find(|u| !u.deleted && names(u)) {
                return Ok(u.id.clone());
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Err(ConnectorError::fatal(format!(
            "no Slack user is called `@{handle}`: check the task's `data.channel` (a user's handle, display name or \
             email)"
        )))
    }

    fn slack_error(&self, e: &client::Error, chosen: &Chosen, channel: &str) -> ConnectorError {
        if e.token_refused() && chosen.raw {
            return token_refused(e, chosen.secret.as_deref());
        }
        map_error(e, &chosen.integration.alias, channel)
    }
}

impl<P: TokenProvider> Connector for CamundaSlack<P> {
    const TYPE: &'static str = CAMUNDA_SLACK_TYPE;
    const NAME: &'static str = "Slack (Camunda 8 connector)";
    type Input = CamundaInput;
    type Output = CamundaOutput;

    fn escape(value: &str) -> std::borrow::Cow<'_, str> {
        message::escape(value)
    }

    fn check(raw: &Map<String, Value>) -> Vec<(String, String)> {
        check_inputs(raw)
    }

    async fn invoke(&self, cx: &Context, input: CamundaInput) -> Result<CamundaOutput, ConnectorError> {
        self.post(cx, input).await
    }
}

/// The deploy-time checks: a token written in the model, an unsupported method, no recipient or
/// no message, Block Kit content Slack would refuse. FEEL inputs (`=…`) are checked when they run.
pub fn check_inputs(raw: &Map<String, Value>) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let is_feel = |s: &str| s.trim_start().starts_with('=');
    if let Some(token) = raw.get("token").and_then(Value::as_str) {
        let t = token.trim();
        let feel_literal = is_feel(t) && t.trim_start_matches('=').trim_start().starts_with('"');
        if !t.is_empty() && ((!is_feel(t) && only_secret(t).is_none()) || feel_literal) {
            problems.push((
                "token".to_string(),
                "the input `token` holds a token written in the model: store it as a secret (admin: `PUT \
                 /api/v1/secrets/SLACK_OAUTH_TOKEN` with {\"value\": \"xoxb-…\"}) and set `token` to \
                 `{{secrets.SLACK_OAUTH_TOKEN}}`"
                    .to_string(),
            ));
        }
    }
    if let Some(method) = raw.get("method").and_then(Value::as_str).map(str::trim)
        && !method.is_empty()
        && !is_feel(method)
        && !SUPPORTED_METHODS.contains(&method)
    {
        problems.push(("method".to_string(), unsupported(method)));
    }
    let data = raw.get("data").and_then(Value::as_object);
    let field = |k: &str| data.and_then(|d| d.get(k)).filter(|v| v.as_str().is_none_or(|s| !s.trim().is_empty()));
    if raw.contains_key("method")
        && raw.get("method").and_then(Value::as_str).map(str::trim) == Some("chat.postMessage")
    {
        if field("channel").is_none() {
            problems.push((
                "data".to_string(),
                "`data.channel` is missing: set it to a channel id, a #channel, an @user or an email".to_string(),
            ));
        }
        if field("text").is_none() && field("blockContent").is_none() {
            problems
                .push(("data".to_string(), "the message is missing: set `data.text` or `data.blockContent`".into()));
        }
        if let Some(Value::String(blocks)) = field("blockContent")
            && !is_feel(blocks)
            && !sluice_connector_api::template::is_template(blocks)
            && let Err(msg) = parse_blocks(&Value::String(blocks.clone()))
        {
            problems.push(("data".to_string(), msg));
        }
    }
    problems
}

fn unsupported(method: &str) -> String {
    format!(
        "the Slack method `{method}` is not supported for this task by Sluice (supported: {}); post with \
         `chat.postMessage`, or do the rest in Slack",
        SUPPORTED_METHODS.join(", ")
    )
}

fn token_refused(e: &client::Error, secret: Option<&str>) -> ConnectorError {
    let code = e.code().unwrap_or_default();
    ConnectorError::fatal(match secret {
        Some(name) => format!(
            "Slack refused the token in the secret `{name}` (Slack said `{code}`): store a valid bot token (admin: \
             `PUT /api/v1/secrets/{name}`), or connect the workspace as a Slack integration and map the secret to \
             it (SLUICE_SLACK_SECRET_ALIASES), then retry"
        ),
        None => format!(
            "Slack refused the task's token (Slack said `{code}`): set `token` to `{{{{secrets.NAME}}}}` with a valid \
             bot token stored as that secret, then retry"
        ),
    })
}

fn text_of(data: &Map<String, Value>, key: &str) -> Option<String> {
    match data.get(key)? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The text and blocks to post: Block Kit content (checked) with the text or the blocks' own text
/// as fallback, or the text laid out as Sluice lays out its messages.
fn content(data: &Map<String, Value>, request_url: &str) -> Result<(String, Vec<Value>), ConnectorError> {
    let text = text_of(data, "text").filter(|t| !t.is_empty());
    let blocks = data.get("blockContent").filter(|v| match v {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        _ => true,
    });
    if let Some(raw) = blocks {
        let blocks = parse_blocks(raw).map_err(ConnectorError::fatal)?;
        let fallback = text.unwrap_or_else(|| message::fallback_text(&blocks));
        return Ok((fallback, blocks));
    }
    let Some(text) = text else {
        return Err(ConnectorError::fatal(
            "the Slack message is empty: set the task's `data.text` (or `data.blockContent`)",
        ));
    };
    let rendered = message::render(&text, request_url);
    Ok((rendered.text, rendered.blocks))
}

/// Block Kit content as Camunda's template takes it: an array of blocks, or an object with
/// `blocks`, as JSON text or a value; checked against Slack's limits.
fn parse_blocks(raw: &Value) -> Result<Vec<Value>, String> {
    let value = match raw {
        Value::String(s) => serde_json::from_str::<Value>(s).map_err(|e| {
            format!(
                "`data.blockContent` is not JSON ({e}); write the blocks as a JSON array (a value with quotes placed \
                 in it by a template breaks it: build the blocks with FEEL instead)"
            )
        })?,
        other => other.clone(),
    };
    let blocks = match value {
        Value::Array(blocks) => blocks,
        Value::Object(mut m) => match m.remove("blocks") {
            Some(Value::Array(blocks)) => blocks,
            _ => return Err("`data.blockContent` is an object without a `blocks` array".into()),
        },
        _ => return Err("`data.blockContent` is neither a list of blocks nor an object with `blocks`".into()),
    };
    message::check_blocks(&blocks).map_err(|p| format!("Slack would refuse `data.blockContent`: {p}"))?;
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn problems(v: Value) -> Vec<(String, String)> {
        check_inputs(v.as_object().cloned().as_ref().unwrap_or(&Map::new()))
    }

    #[test]
    fn literal_tokens_and_unsupported_methods_are_named_at_deploy() {
        let ok = json!({"token": "{{secrets.SLACK_OAUTH_TOKEN}}", "method": "chat.postMessage",
                        "data": {"channel": "#sales", "text": "=\"Hi \" + name"}});
        assert_eq!(problems(ok), []);
        let literal = problems(json!({"token": "xoxb-123-abc", "method": "chat.postMessage",
                                      "data": {"channel": "#sales", "text": "Hi"}}));
        assert_eq!(literal.len(), 1);
        assert_eq!(literal[0].0, "token");
        assert!(literal[0].1.contains("store it as a secret") && !literal[0].1.contains("xoxb-123"));
        assert_eq!(
            problems(json!({"token": "=\"xoxp-1\"", "method": "chat.postMessage",
                                   "data": {"channel": "C1", "text": "x"}}))[0]
                .0,
            "token"
        );
        let method = problems(json!({"token": "{{ secrets.T }}", "method": "conversations.create", "data": {}}));
        assert_eq!(method.len(), 1);
        assert!(method[0].1.contains("`conversations.create` is not supported"), "{method:?}");
        let missing = problems(json!({"token": "{{secrets.T}}", "method": "chat.postMessage", "data": {"text": ""}}));
        assert_eq!(missing.len(), 2, "{missing:?}");
        let blocks = problems(json!({"token": "{{secrets.T}}", "method": "chat.postMessage",
                                     "data": {"channel": "C1", "blockContent": "[{\"type\": \"section\"}]"}}));
        assert!(blocks[0].1.contains("neither `text` nor `fields`"), "{blocks:?}");
    }

    #[test]
    fn content_uses_blocks_with_a_fallback_or_lays_out_text() {
        let data = json!({"blockContent": "{\"blocks\": [{\"type\": \"section\", \"text\": {\"type\": \"mrkdwn\", \"text\": \"*Hi*\"}}]}"});
        let (text, blocks) = content(data.as_object().unwrap(), "").unwrap();
        assert_eq!((text.as_str(), blocks.len()), ("*Hi*", 1));
        let data = json!({"text": "Hello", "blockContent": [{"type": "divider"}]});
        let (text, blocks) = content(data.as_object().unwrap(), "").unwrap();
        assert_eq!((text.as_str(), blocks.len()), ("Hello", 1));
        let data = json!({"text": "Hello"});
        let (text, blocks) = content(data.as_object().unwrap(), "https://s/r/1").unwrap();
        assert_eq!((text.as_str(), blocks.len()), ("Hello", 2));
        assert!(content(json!({"text": " "}).as_object().unwrap(), "").is_err());
        assert!(content(json!({"blockContent": "not json"}).as_object().unwrap(), "").is_err());
    }
}
