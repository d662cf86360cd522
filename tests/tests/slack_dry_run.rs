//! A Slack Notification task run by the real binary (`sluice run`) against the fake Slack Web API
//! on 127.0.0.1: exactly one message with the rendered, escaped text; and the incident a person
//! sees when the bot is not in a private channel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use sluice_fake_slack::{Config, DEFAULT_TOKEN, FakeSlack};
use sluice_tests::{bpmn, scratch_file, sluice_bin};

fn model(channel: &str) -> String {
    bpmn::one_task(
        "order",
        None,
        bpmn::slack_task(
            "notify_sales",
            Some("Tell sales"),
            channel,
            "New order {{ order_id }} from {{ customer.name }}",
            &[bpmn::input("result_variable", "posted")],
        ),
    )
}

/// Runs `sluice run` on a thread (the fake Slack keeps serving on this test's runtime meanwhile).
async fn run(slack: &FakeSlack, channel: &str) -> (Option<i32>, Vec<Value>) {
    let file = scratch_file("slack", "order.bpmn", &model(channel));
    let api = slack.api_url();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(sluice_bin())
            .args(["run", file.to_str().unwrap(), "--data"])
            .arg(r#"{"order_id": "A-17", "customer": {"name": "<!channel> & <https://evil.example|your bank>"}}"#)
            .env("SLACK_API_URL", api)
            .env("SLACK_BOT_TOKEN", DEFAULT_TOKEN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (out.status.code(), lines)
}

#[tokio::test]
async fn a_slack_task_posts_exactly_one_escaped_message() {
    let slack = FakeSlack::start(Config::default()).await.unwrap();
    let (code, lines) = run(&slack, "#sales").await;
    let last = lines.last().unwrap();
    assert_eq!(code, Some(0), "{lines:?}");
    assert_eq!(last["status"], "completed");
    let all = slack.all_messages();
    assert_eq!(all.len(), 1, "exactly one message: {all:?}");
    let m = &all[0];
    assert_eq!(m.text, "New order A-17 from &lt;!channel&gt; &amp; &lt;https://evil.example|your bank&gt;");
    assert_eq!(last["data"]["posted"]["channel"], m.channel.as_str(), "channel and ts are kept in the Request's data");
    assert_eq!(last["data"]["posted"]["ts"], m.ts.as_str());
}

#[tokio::test]
async fn a_private_channel_without_the_bot_is_an_incident_that_says_what_to_do() {
    let slack = FakeSlack::start(Config::default()).await.unwrap();
    let hidden = "G0HIDDEN";
    let (code, lines) = run(&slack, hidden).await;
    let last = lines.last().unwrap();
    assert_eq!(code, Some(1));
    assert_eq!(last["status"], "error");
    let message = last["incidents"][0]["message"].as_str().unwrap();
    assert!(message.contains("invite"), "{message}");
    assert!(slack.all_messages().is_empty());
}
