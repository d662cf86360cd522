//! The Slack Notification connector against the fake Slack on 127.0.0.1: what it posts, how each of
//! Slack's answers becomes a `ConnectorError`, pacing, and posting once per step.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_connector_api::{Connector, ConnectorError, Context, IdempotencyKey};
use sluice_fake_slack::{self as fake, Channel, Failure, FakeSlack, Workspace};
use sluice_slack::client::{self, Client};
use sluice_slack::{Config, Input, Output, SlackNotification, StaticTokens};

type Notifier = SlackNotification<StaticTokens>;

const REQUEST_URL: &str = "http://sluice.test/requests/r1";

fn cx(element: &str, attempt: u32) -> Context {
    let key = IdempotencyKey { request_id: "r1".into(), element_id: element.into(), attempt };
    Context::new(key, "order", REQUEST_URL)
}

/// `cx` as the engine gives it after a run whose answer was lost.
fn told(mut cx: Context) -> Context {
    cx.maybe_done_before = true;
    cx
}

fn input(channel: &str, message: &str) -> Input {
    Input { channel: channel.into(), message: message.into(), integration: None }
}

fn client(slack: &FakeSlack) -> Client {
    let mut config = client::Config::new(slack.api_url());
    config.timeout = Duration::from_secs(5);
    Client::with_config(config).unwrap()
}

/// A fake with short intervals and a connector holding `token` as integration `default`.
async fn setup_with(config: fake::Config, token: &str, interval: Duration) -> (FakeSlack, Notifier) {
    let slack = FakeSlack::start(config).await.unwrap();
    let tokens = StaticTokens::new().with("default", token);
    // History may be read at once again: the once-a-minute gate has a test of its own.
    let config = Config { channel_interval: interval, history_interval: Duration::ZERO, ..Config::default() };
    let notifier = SlackNotification::with_config(client(&slack), tokens, config);
    (slack, notifier)
}

async fn setup() -> (FakeSlack, Notifier) {
    let config = fake::Config { post_interval: Duration::from_millis(50), ..fake::Config::default() };
    setup_with(config, fake::DEFAULT_TOKEN, Duration::from_millis(100)).await
}

#[tokio::test]
async fn posts_one_message_with_text_blocks_and_metadata() {
    let (slack, notifier) = setup().await;
    let out = notifier.invoke(&cx("notify", 1), input("#sales", "New order *42*")).await.unwrap();

    let messages = slack.messages("C0SALES");
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(out, Output { channel: "C0SALES".into(), ts: m.ts.clone(), permalink: None });
    assert_eq!(m.text, "New order *42*");
    let blocks = m.blocks.as_ref().unwrap();
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    assert_eq!(blocks[0]["text"]["text"], "New order *42*");
    assert_eq!(blocks[1]["type"], "context");
    assert_eq!(blocks[1]["elements"][0]["text"], format!("<{REQUEST_URL}|Open request>"));
    let metadata = m.metadata.as_ref().unwrap();
    assert_eq!(metadata["event_type"], "sluice_step");
    assert_eq!(metadata["event_payload"]["key"], "r1/notify");

    // The output is what the Request's data records.
    let json = serde_json::to_value(&out).unwrap();
    assert_eq!(json, serde_json::json!({"channel": "C0SALES", "ts": m.ts}));
}

#[tokio::test]
async fn values_from_data_cannot_mention_or_disguise_links() {
    let (slack, notifier) = setup().await;
    // What the registry does: render the template with every value escaped by the connector.
    let value = "<!channel> see <https://evil.example|your bank> & co";
    let message = format!("Customer: {}", Notifier::escape(value));
    notifier.invoke(&cx("notify", 1), input("C0GENERAL", &message)).await.unwrap();

    let m = &slack.messages("C0GENERAL")[0];
    let expected = "Customer: &lt;!channel&gt; see &lt;https://evil.example|your bank&gt; &amp; co";
    assert_eq!(m.text, expected);
    assert_eq!(m.blocks.as_ref().unwrap()[0]["text"]["text"], expected);
    assert!(!m.text.contains("<!channel>") && !m.text.contains("<https://"));
}

#[derive(Debug, PartialEq)]
enum Kind {
    Fatal,
    Retryable,
    /// Retryable, and Slack may have posted (its answer was lost).
    Unconfirmed,
}

/// One error path: how the fake is set up, what the task asks, what the step gets, and how many
/// messages end up in Slack.
async fn check(
    token: &str,
    prepare: impl FnOnce(&FakeSlack),
    task: Input,
    kind: Kind,
    says: &str,
    messages_after: usize,
) {
    let config = fake::Config { post_interval: Duration::from_millis(50), ..fake::Config::default() };
    let (slack, notifier) = setup_with(config, token, Duration::ZERO).await;
    prepare(&slack);
    let err = notifier.invoke(&cx("notify", 1), task).await.unwrap_err();
    let (got_kind, message) = match &err {
        ConnectorError::Fatal { message } => (Kind::Fatal, message),
        ConnectorError::Retryable { message, .. } => (Kind::Retryable, message),
        ConnectorError::Unconfirmed { message, .. } => (Kind::Unconfirmed, message),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(got_kind, kind, "{message}");
    assert!(message.contains(says), "{message:?} should say {says:?}");
    assert_eq!(slack.all_messages().len(), messages_after, "messages posted for {says:?}");
}

#[tokio::test]
async fn token_problems_ask_to_reconnect_the_integration() {
    let reconnect = |code: &str| format!("the Slack integration `default` must be reconnected (Slack said `{code}`)");
    let revoke = |s: &FakeSlack| s.revoke_token(fake::DEFAULT_TOKEN);
    check(fake::DEFAULT_TOKEN, revoke, input("#sales", "hi"), Kind::Fatal, &reconnect("token_revoked"), 0).await;
    let expire = |s: &FakeSlack| s.expire_token(fake::DEFAULT_TOKEN);
    check(fake::DEFAULT_TOKEN, expire, input("#sales", "hi"), Kind::Fatal, &reconnect("token_expired"), 0).await;
    check("xoxb-unknown", |_| {}, input("#sales", "hi"), Kind::Fatal, &reconnect("invalid_auth"), 0).await;
    check("", |_| {}, input("#sales", "hi"), Kind::Fatal, &reconnect("not_authed"), 0).await;
    let inactive = |s: &FakeSlack| s.fail_next("chat.postMessage", 1, Failure::Error("account_inactive".into()));
    check(fake::DEFAULT_TOKEN, inactive, input("#sales", "hi"), Kind::Fatal, &reconnect("account_inactive"), 0).await;
}

#[tokio::test]
async fn channel_problems_name_the_channel_and_the_fix() {
    let fix = |channel: &str, code: &str| {
        format!(
            "check the channel `{channel}` and invite the bot to it (private channels answer channel_not_found until \
             the bot is a member; Slack said `{code}`)"
        )
    };
    let t = fake::DEFAULT_TOKEN;
    check(t, |_| {}, input("#nope", "hi"), Kind::Fatal, &fix("#nope", "channel_not_found"), 0).await;
    // A private channel the bot was not invited to does not exist for it.
    check(t, |_| {}, input("#hidden", "hi"), Kind::Fatal, &fix("#hidden", "channel_not_found"), 0).await;
    // A public channel the bot is not in, without chat:write.public.
    let no_public = |s: &FakeSlack| s.add_token(fake::DEFAULT_TEAM_ID, "xoxb-nopublic", &["chat:write"]);
    let task = input("#random", "hi");
    let says = fix("#random", "not_in_channel");
    let config = fake::Config::default();
    let (slack, notifier) = setup_with(config, "xoxb-nopublic", Duration::ZERO).await;
    no_public(&slack);
    match notifier.invoke(&cx("n", 1), task).await {
        Err(ConnectorError::Fatal { message }) => assert_eq!(message, says),
        other => panic!("{other:?}"),
    }
    assert_eq!(slack.all_messages().len(), 0);
    // With chat:write.public it may post without joining.
    notifier_with(&slack, fake::DEFAULT_TOKEN).invoke(&cx("n", 1), input("#random", "hi")).await.unwrap();
    assert_eq!(slack.messages("C0RANDOM").len(), 1);

    check(t, |_| {}, input("#old", "hi"), Kind::Fatal, "the channel `#old` is archived", 0).await;
}

fn notifier_with(slack: &FakeSlack, token: &str) -> Notifier {
    let config = Config { channel_interval: Duration::ZERO, ..Config::default() };
    SlackNotification::with_config(client(slack), StaticTokens::new().with("default", token), config)
}

#[tokio::test]
async fn message_problems_are_named_plainly() {
    let t = fake::DEFAULT_TOKEN;
    let inject =
        |code: &'static str| move |s: &FakeSlack| s.fail_next("chat.postMessage", 1, Failure::Error(code.into()));
    check(t, inject("msg_too_long"), input("#sales", "hi"), Kind::Fatal, "the message is too long for Slack", 0).await;
    check(t, inject("invalid_blocks"), input("#sales", "hi"), Kind::Fatal, "Slack refused the message's layout", 0)
        .await;
    check(t, inject("no_text"), input("#sales", "hi"), Kind::Fatal, "the message is empty (Slack said `no_text`)", 0)
        .await;
    check(t, |_| {}, input("#sales", "  "), Kind::Fatal, "the Slack message is empty", 0).await;
    check(t, |_| {}, input("", "hi"), Kind::Fatal, "the task names no Slack channel", 0).await;
    let scoped = |s: &FakeSlack| s.add_token(fake::DEFAULT_TEAM_ID, "xoxb-readonly", &["channels:read"]);
    let config = fake::Config::default();
    let (slack, notifier) = setup_with(config, "xoxb-readonly", Duration::ZERO).await;
    scoped(&slack);
    match notifier.invoke(&cx("n", 1), input("#sales", "hi")).await {
        Err(ConnectorError::Fatal { message }) => {
            assert!(message.contains("lacks the scope `chat:write`"), "{message}");
            assert!(message.contains("reinstall"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn outages_are_retryable_and_post_nothing() {
    let t = fake::DEFAULT_TOKEN;
    let status = |s: &FakeSlack| s.fail_next("chat.postMessage", 1, Failure::Status(503));
    check(t, status, input("#sales", "hi"), Kind::Unconfirmed, "Slack did not confirm the post to `#sales`", 0).await;
    let internal = |s: &FakeSlack| s.fail_next("chat.postMessage", 1, Failure::Error("internal_error".into()));
    // Slack's docs: these may come after the work was done.
    check(t, internal, input("C0SALES", "hi"), Kind::Unconfirmed, "internal_error", 0).await;
    let unavailable = |s: &FakeSlack| s.fail_next("chat.postMessage", 1, Failure::Error("service_unavailable".into()));
    check(t, unavailable, input("C0SALES", "hi"), Kind::Unconfirmed, "service_unavailable", 0).await;
}

#[tokio::test]
async fn unknown_integration_is_fatal_and_calls_nothing() {
    let (slack, notifier) = setup().await;
    let task = Input { integration: Some("marketing".into()), ..input("#sales", "hi") };
    match notifier.invoke(&cx("n", 1), task).await {
        Err(ConnectorError::Fatal { message }) => {
            assert_eq!(
                message,
                "there is no Slack integration `marketing` (connected: `default`); connect it or name another one"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(slack.calls("chat.postMessage"), 0);
}

#[tokio::test]
async fn waits_out_a_429_then_posts_exactly_once() {
    // The fake allows one message a second per channel; the connector's own pacing is off here.
    let (slack, notifier) = setup_with(fake::Config::default(), fake::DEFAULT_TOKEN, Duration::ZERO).await;
    notifier.invoke(&cx("first", 1), input("C0SALES", "one")).await.unwrap();
    let start = Instant::now();
    notifier.invoke(&cx("second", 1), input("C0SALES", "two")).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(900), "{:?}", start.elapsed());
    assert_eq!(slack.rate_limited("chat.postMessage"), 1);
    let texts: Vec<_> = slack.messages("C0SALES").into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["one", "two"]);
}

#[tokio::test]
async fn a_long_rate_limit_is_handed_to_the_engine_with_its_wait() {
    let (slack, notifier) = setup().await;
    slack.fail_next("chat.postMessage", 1, Failure::RateLimited { retry_after_secs: 120 });
    match notifier.invoke(&cx("n", 1), input("C0SALES", "hi")).await {
        Err(ConnectorError::Retryable { retry_after, .. }) => assert_eq!(retry_after, Some(Duration::from_secs(120))),
        other => panic!("{other:?}"),
    }
    assert_eq!(slack.all_messages().len(), 0);
}

#[tokio::test]
async fn a_burst_to_one_channel_queues_instead_of_meeting_429s() {
    // The fake refuses a second message within 150 ms; the connector spaces them 200 ms apart.
    let config = fake::Config { post_interval: Duration::from_millis(150), ..fake::Config::default() };
    let (slack, notifier) = setup_with(config, fake::DEFAULT_TOKEN, Duration::from_millis(200)).await;
    let notifier = Arc::new(notifier);
    let start = Instant::now();
    let calls: Vec<_> = (0..5)
        .map(|i| {
            let notifier = notifier.clone();
            tokio::spawn(async move { notifier.invoke(&cx(&format!("step{i}"), 1), input("#sales", "hi")).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert!(start.elapsed() >= Duration::from_millis(800), "{:?}", start.elapsed());
    assert_eq!(slack.rate_limited("chat.postMessage"), 0);
    assert_eq!(slack.messages("C0SALES").len(), 5);
}

#[tokio::test]
async fn a_dropped_answer_after_slack_posted_does_not_post_twice() {
    let (slack, notifier) = setup().await;
    slack.fail_next("chat.postMessage", 1, Failure::DropAfterAccept);
    // The channel is given by name: finding the earlier post needs its id, found by listing.
    let first = notifier.invoke(&cx("notify", 1), input("#sales", "hi")).await.unwrap();
    let messages = slack.messages("C0SALES");
    assert_eq!(messages.len(), 1);
    assert_eq!(first, Output { channel: "C0SALES".into(), ts: messages[0].ts.clone(), permalink: None });

    // The engine retries the step anyway (it may not have recorded the first result).
    let again = notifier.invoke(&cx("notify", 2), input("#sales", "hi")).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(slack.messages("C0SALES").len(), 1);
    assert_eq!(slack.calls("chat.postMessage"), 1);
}

#[tokio::test]
async fn a_dropped_connection_before_slack_posted_is_retried_and_posts_once() {
    let (slack, notifier) = setup().await;
    slack.fail_next("chat.postMessage", 1, Failure::DropBeforeAccept);
    let err = notifier.invoke(&cx("notify", 1), input("C0SALES", "hi")).await.unwrap_err();
    // Slack may have posted: the engine records that, and tells the next attempt.
    assert!(matches!(err, ConnectorError::Unconfirmed { .. }), "{err:?}");
    assert_eq!(slack.all_messages().len(), 0);
    let out = notifier.invoke(&told(cx("notify", 1)), input("C0SALES", "hi")).await.unwrap();
    assert_eq!(slack.messages("C0SALES").len(), 1);
    assert_eq!(out.ts, slack.messages("C0SALES")[0].ts);
}

#[tokio::test]
async fn a_retry_after_success_returns_the_first_post() {
    let (slack, notifier) = setup().await;
    let first = notifier.invoke(&cx("notify", 1), input("G0SECRET", "hi")).await.unwrap();
    // Another step's message in between does not confuse the search.
    notifier.invoke(&cx("other", 1), input("G0SECRET", "other")).await.unwrap();
    let again = notifier.invoke(&cx("notify", 3), input("G0SECRET", "hi")).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(slack.messages("G0SECRET").len(), 2);
}

#[tokio::test]
async fn without_history_scopes_a_retry_posts_again() {
    // The documented limit: if the bot cannot read the channel, a retried step cannot tell whether
    // its earlier attempt posted, and posts (at least once rather than never).
    let config = fake::Config {
        post_interval: Duration::from_millis(10),
        workspaces: vec![
            Workspace::new("T1", "Team")
                .token("xoxb-nohistory", &["chat:write"])
                .channel(Channel::public("C1", "alerts").member()),
        ],
        ..fake::Config::default()
    };
    let (slack, notifier) = setup_with(config, "xoxb-nohistory", Duration::from_millis(20)).await;
    notifier.invoke(&cx("notify", 1), input("C1", "hi")).await.unwrap();
    notifier.invoke(&cx("notify", 2), input("C1", "hi")).await.unwrap();
    assert_eq!(slack.messages("C1").len(), 2);
}

#[tokio::test]
async fn a_private_channel_is_invisible_until_the_bot_is_invited() {
    let (slack, notifier) = setup().await;
    let err = notifier.invoke(&cx("notify", 1), input("#hidden", "hi")).await.unwrap_err();
    assert!(err.to_string().contains("channel_not_found"), "{err}");
    slack.set_member("G0HIDDEN", true);
    let out = notifier.invoke(&cx("notify", 2), input("#hidden", "hi")).await.unwrap();
    assert_eq!(out.channel, "G0HIDDEN");
    assert_eq!(slack.messages("G0HIDDEN").len(), 1);
}

#[tokio::test]
async fn several_integrations_pick_by_alias() {
    let config = fake::Config {
        workspaces: vec![
            Workspace::new("T1", "One")
                .token("xoxb-one", fake::SLUICE_SCOPES)
                .channel(Channel::public("C1", "a").member()),
            Workspace::new("T2", "Two")
                .token("xoxb-two", fake::SLUICE_SCOPES)
                .channel(Channel::public("C2", "a").member()),
        ],
        ..fake::Config::default()
    };
    let slack = FakeSlack::start(config).await.unwrap();
    let tokens = StaticTokens::new().with("one", "xoxb-one").with("default", "xoxb-two");
    let notifier = SlackNotification::new(client(&slack), tokens);
    let out =
        notifier.invoke(&cx("n", 1), Input { integration: Some("one".into()), ..input("#a", "x") }).await.unwrap();
    assert_eq!(out.channel, "C1");
    let out = notifier.invoke(&cx("m", 1), input("#a", "y")).await.unwrap();
    assert_eq!(out.channel, "C2");
}

#[test]
fn type_name_and_schema() {
    assert_eq!(Notifier::TYPE, "slack-notification");
    assert_eq!(Notifier::NAME, "Slack Notification");
    let schema = serde_json::to_value(schemars::schema_for!(Input)).unwrap();
    let required: Vec<&str> = schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(required, ["channel", "message"]);
    assert!(schema["properties"]["integration"].is_object());
}

#[tokio::test]
async fn history_is_read_only_when_an_answer_was_lost() {
    let slack = FakeSlack::start(fake::Config { post_interval: Duration::from_millis(10), ..fake::Config::default() })
        .await
        .unwrap();
    // A 429 goes to the engine at once (no waiting inside the call).
    let mut http = client::Config::new(slack.api_url());
    http.rate_limit_retries = 0;
    let tokens = StaticTokens::new().with("default", fake::DEFAULT_TOKEN);
    let config = Config { channel_interval: Duration::ZERO, history_interval: Duration::ZERO, ..Config::default() };
    let notifier = SlackNotification::with_config(Client::with_config(http).unwrap(), tokens, config);
    // A first attempt, and a retry after a plain failure (a 429 beyond the wait), post without
    // reading history: their outcome is known.
    notifier.invoke(&cx("notify", 1), input("C0SALES", "hi")).await.unwrap();
    slack.fail_next("chat.postMessage", 1, Failure::RateLimited { retry_after_secs: 1 });
    let err = notifier.invoke(&cx("other", 1), input("C0SALES", "again")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Retryable { .. }), "{err:?}");
    // The channel is paced for the Retry-After Slack gave: the retry comes after it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    notifier.invoke(&cx("other", 1), input("C0SALES", "again")).await.unwrap();
    assert_eq!(slack.calls("conversations.history"), 0);
    assert_eq!(slack.messages("C0SALES").len(), 2);
    // Told that an earlier run may have posted (the server stopped during it): one look, which
    // finds the post, and nothing posted again.
    let first = slack.messages("C0SALES")[0].ts.clone();
    let again = notifier.invoke(&told(cx("notify", 1)), input("C0SALES", "hi")).await.unwrap();
    assert_eq!(again.ts, first);
    assert_eq!(slack.calls("conversations.history"), 1);
    assert_eq!(slack.messages("C0SALES").len(), 2);
}

#[tokio::test]
async fn history_is_read_once_a_minute_per_workspace_and_a_look_that_must_wait_is_retried() {
    // Slack's 2025 limit for apps outside its Marketplace: one conversations.history call a
    // minute (the default gate).
    let slack = FakeSlack::start(fake::Config { post_interval: Duration::from_millis(10), ..fake::Config::default() })
        .await
        .unwrap();
    let tokens = StaticTokens::new().with("default", fake::DEFAULT_TOKEN);
    let config = Config { channel_interval: Duration::ZERO, ..Config::default() };
    assert_eq!(config.history_interval, Duration::from_secs(60));
    let notifier = SlackNotification::with_config(client(&slack), tokens, config);
    notifier.invoke(&cx("a", 1), input("C0SALES", "a")).await.unwrap();
    let found = notifier.invoke(&told(cx("a", 1)), input("C0SALES", "a")).await.unwrap();
    assert_eq!(found.ts, slack.messages("C0SALES")[0].ts);
    assert_eq!(slack.calls("conversations.history"), 1);
    // A second look within the minute is not made, and the post is not risked either: the
    // attempt is handed back, still unconfirmed, to be tried when the minute is over.
    let err = notifier.invoke(&told(cx("b", 1)), input("C0SALES", "b")).await.unwrap_err();
    match err {
        ConnectorError::Unconfirmed { retry_after: Some(wait), message } => {
            assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50), "{wait:?}");
            assert!(message.contains("checks the channel first"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(slack.calls("conversations.history"), 1);
    assert_eq!(slack.messages("C0SALES").len(), 1, "nothing posted while it could not check");
}
