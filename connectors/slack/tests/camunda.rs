//! The `io.camunda:slack:1` connector through a `Registry`, against the fake Slack Web API: how a
//! token chooses the integration, recipients as Camunda's connector takes them (`@handle`, email),
//! methods it does not support, a token Slack refuses, and retried steps that post once.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};
use sluice_connector_api::{Call, Context, IdempotencyKey, Registry, Secret, Secrets};
use sluice_fake_slack::{self as fake, FakeSlack};
use sluice_slack::{Client, Config, SlackNotification, StaticTokens};

async fn setup(aliases: &[(&str, &str)]) -> (FakeSlack, Registry) {
    let config = fake::Config { post_interval: Duration::from_millis(5), ..fake::Config::default() };
    let slack = FakeSlack::start(config).await.unwrap();
    let tokens = StaticTokens::new().with("sales", fake::DEFAULT_TOKEN);
    let connector = SlackNotification::with_config(
        Client::new(slack.api_url()).unwrap(),
        tokens,
        Config { channel_interval: Duration::from_millis(5), ..Config::default() },
    );
    let aliases: BTreeMap<String, String> = aliases.iter().map(|(s, a)| (s.to_string(), a.to_string())).collect();
    let camunda = connector.camunda(aliases);
    (slack, Registry::default().with(connector).with(camunda))
}

fn inputs(channel: &str, method: &str) -> Map<String, Value> {
    json!({"token": "{{secrets.SLACK_OAUTH_TOKEN}}", "method": method, "data": {"channel": channel, "text": "Hi"}})
        .as_object()
        .cloned()
        .unwrap()
}

async fn post(registry: &Registry, raw: &Map<String, Value>, secret: &str, attempt: u32) -> Result<Value, String> {
    let secrets: Secrets = [("SLACK_OAUTH_TOKEN".to_string(), Secret::new(secret))].into_iter().collect();
    let key = IdempotencyKey { request_id: "r1".into(), element_id: "notify".into(), attempt };
    let call = Call { raw_inputs: raw, variables: &Map::new(), computed: Vec::new(), secrets: &secrets };
    let invoked = registry.invoke_with("io.camunda:slack:1", call, Context::new(key, "p", "")).await;
    invoked.result.map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_user_by_handle_gets_a_direct_message_and_a_retry_does_not_post_again() {
    let (slack, registry) = setup(&[]).await;
    let out = post(&registry, &inputs("@Bob", "chat.postMessage"), fake::DM_TOKEN, 1).await.unwrap();
    assert_eq!(out["channel"], "D0BOB");
    assert_eq!(out["message"]["ts"], out["ts"]);
    assert_eq!(out["message"]["text"], "Hi");
    // The same step again (its answer was lost): found in the conversation, not posted twice.
    let again = post(&registry, &inputs("@bob", "chat.postMessage"), fake::DM_TOKEN, 2).await.unwrap();
    assert_eq!(again["ts"], out["ts"]);
    assert_eq!(slack.messages("D0BOB").len(), 1);
    let unknown = post(&registry, &inputs("@nobody", "chat.postMessage"), fake::DM_TOKEN, 1).await.unwrap_err();
    assert!(unknown.contains("no Slack user is called `@nobody`"), "{unknown}");
    let email = post(&registry, &inputs("carol@example.com", "chat.postMessage"), fake::DM_TOKEN, 1).await;
    assert!(email.unwrap_err().contains("no Slack user has the email `carol@example.com`"));
}

#[tokio::test]
async fn a_token_chooses_its_integration_or_posts_as_itself() {
    let (slack, registry) = setup(&[]).await;
    // The integration's own token: posted through `sales` (its pacing and channel ids).
    post(&registry, &inputs("#sales", "chat.postMessage"), fake::DEFAULT_TOKEN, 1).await.unwrap();
    // A token of no integration that Slack refuses: the fix names the secret.
    let refused = post(&registry, &inputs("#sales", "chat.postMessage"), "xoxb-revoked", 1).await.unwrap_err();
    assert!(refused.contains("secret `SLACK_OAUTH_TOKEN`") && refused.contains("invalid_auth"), "{refused}");
    // Without the scopes a direct message needs, the missing scope is named.
    let scope = post(&registry, &inputs("alice@example.com", "chat.postMessage"), fake::DEFAULT_TOKEN, 1).await;
    assert!(scope.unwrap_err().contains("users:read.email"));
    assert_eq!(slack.messages("C0SALES").len(), 1);
}

#[tokio::test]
async fn a_secret_mapped_to_an_alias_posts_through_that_integration() {
    let (slack, registry) = setup(&[("SLACK_OAUTH_TOKEN", "sales")]).await;
    post(&registry, &inputs("C0SALES", "chat.postMessage"), "xoxb-unknown", 1).await.unwrap();
    assert_eq!(slack.messages("C0SALES").len(), 1);
}

#[tokio::test]
async fn other_methods_are_refused_when_they_run() {
    let (slack, registry) = setup(&[]).await;
    let err = post(&registry, &inputs("#sales", "conversations.invite"), fake::DM_TOKEN, 1).await.unwrap_err();
    assert!(err.contains("`conversations.invite` is not supported") && err.contains("chat.postMessage"), "{err}");
    assert!(slack.all_messages().is_empty());
    // And at deploy, through the registry's checks.
    let problems = registry.problems("io.camunda:slack:1", &inputs("#sales", "conversations.create"));
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].0, "method");
}
