//! The fake answers as Slack documents, whichever way a client sends its arguments.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};
use sluice_fake_slack::{Config, DEFAULT_TOKEN, Failure, FakeSlack};

async fn start(config: Config) -> (FakeSlack, reqwest::Client) {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let slack = FakeSlack::start(config).await.unwrap();
    (slack, reqwest::Client::new())
}

async fn post_json(http: &reqwest::Client, slack: &FakeSlack, method: &str, body: Value) -> (u16, Value) {
    let response = http
        .post(format!("{}/{method}", slack.api_url()))
        .bearer_auth(DEFAULT_TOKEN)
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A form post to `method`, with `token` as a bearer token when given.
async fn post_form(
    http: &reqwest::Client,
    slack: &FakeSlack,
    method: &str,
    token: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = http.post(format!("{}/{method}", slack.api_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.form(form).send().await.unwrap()
}

#[tokio::test]
async fn accepts_forms_with_blocks_as_a_json_string_like_the_node_client() {
    let (slack, http) = start(Config::default()).await;
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]).to_string();
    let metadata = json!({"event_type": "e", "event_payload": {"k": 1}}).to_string();
    let form = [
        ("token", DEFAULT_TOKEN),
        ("channel", "#general"),
        ("text", "hi"),
        ("blocks", &blocks),
        ("metadata", &metadata),
    ];
    let answer: Value = post_form(&http, &slack, "chat.postMessage", None, &form).await.json().await.unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["channel"], "C0GENERAL");
    let m = &slack.messages("C0GENERAL")[0];
    assert_eq!(m.blocks.as_ref().unwrap()[0]["text"]["text"], "*hi*");
    assert_eq!(m.metadata.as_ref().unwrap()["event_payload"]["k"], 1);
    assert_eq!(answer["ts"], m.ts.as_str());
}

#[tokio::test]
async fn errors_are_http_200_with_ok_false() {
    let (slack, http) = start(Config::default()).await;
    // A token inside a JSON body is not read: JSON needs the Authorization header.
    let response = http
        .post(format!("{}/auth.test", slack.api_url()))
        .header("content-type", "application/json")
        .body(json!({"token": DEFAULT_TOKEN}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"ok": false, "error": "not_authed"}));

    let check = |body: Value, error: &'static str| {
        let http = http.clone();
        let slack = &slack;
        async move {
            let (status, answer) = post_json(&http, slack, "chat.postMessage", body).await;
            assert_eq!((status, answer["ok"].clone(), answer["error"].clone()), (200, json!(false), json!(error)));
            answer
        }
    };
    check(json!({"channel": "C0SALES"}), "no_text").await;
    check(json!({"channel": "#hidden", "text": "x"}), "channel_not_found").await;
    check(json!({"channel": "C0OLD", "text": "x"}), "is_archived").await;
    check(json!({"channel": "C0SALES", "text": "x", "blocks": "{not json"}), "invalid_blocks_format").await;
    let many: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
    let answer = check(json!({"channel": "C0SALES", "text": "x", "blocks": many}), "invalid_blocks").await;
    assert!(answer["errors"][0].as_str().unwrap().contains("/blocks"));
    let long = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3001)}}]);
    let answer = check(json!({"channel": "C0SALES", "text": "x", "blocks": long}), "invalid_blocks").await;
    assert!(answer["errors"][0].as_str().unwrap().contains("3001"));
    let (_, answer) = post_json(&http, &slack, "nope.method", json!({})).await;
    assert_eq!(answer["error"], "unknown_method");
    assert!(slack.all_messages().is_empty());
}

#[tokio::test]
async fn long_text_is_truncated_with_a_warning() {
    let (slack, http) = start(Config::default()).await;
    let (_, answer) =
        post_json(&http, &slack, "chat.postMessage", json!({"channel": "C0SALES", "text": "é".repeat(40_001)})).await;
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["response_metadata"]["warnings"][0], "message_truncated");
    assert_eq!(slack.messages("C0SALES")[0].text.chars().count(), 40_000);
}

#[tokio::test]
async fn a_second_message_within_the_interval_gets_429_with_retry_after() {
    let (slack, http) = start(Config { post_interval: Duration::from_secs(3), ..Config::default() }).await;
    let body = json!({"channel": "C0SALES", "text": "x"});
    assert_eq!(post_json(&http, &slack, "chat.postMessage", body.clone()).await.0, 200);
    let response = http
        .post(format!("{}/chat.postMessage", slack.api_url()))
        .bearer_auth(DEFAULT_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "3");
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"ok": false, "error": "ratelimited"}));
    // Another channel is not limited.
    let (status, _) = post_json(&http, &slack, "chat.postMessage", json!({"channel": "C0GENERAL", "text": "x"})).await;
    assert_eq!(status, 200);
    assert_eq!(slack.rate_limited("chat.postMessage"), 1);
    assert_eq!(slack.calls("chat.postMessage"), 3);
}

#[tokio::test]
async fn injected_failures_run_out() {
    let (slack, http) = start(Config { post_interval: Duration::ZERO, ..Config::default() }).await;
    slack.fail_next("chat.postMessage", 2, Failure::Error("internal_error".into()));
    slack.fail_next("chat.postMessage", 1, Failure::Status(502));
    let body = json!({"channel": "C0SALES", "text": "x"});
    for _ in 0..2 {
        assert_eq!(post_json(&http, &slack, "chat.postMessage", body.clone()).await.1["error"], "internal_error");
    }
    let response =
        http.post(format!("{}/chat.postMessage", slack.api_url())).bearer_auth(DEFAULT_TOKEN).json(&body).send().await;
    assert_eq!(response.unwrap().status().as_u16(), 502);
    slack.fail_next("chat.postMessage", 1, Failure::DropAfterAccept);
    let dropped =
        http.post(format!("{}/chat.postMessage", slack.api_url())).bearer_auth(DEFAULT_TOKEN).json(&body).send().await;
    assert!(dropped.is_err());
    assert_eq!(slack.messages("C0SALES").len(), 1, "the dropped call was carried out");
    assert_eq!(post_json(&http, &slack, "chat.postMessage", body).await.1["ok"], true);
    assert_eq!(slack.messages("C0SALES").len(), 2);
}

#[tokio::test]
async fn history_needs_membership_and_hides_metadata_unless_asked() {
    let (slack, http) = start(Config::default()).await;
    let metadata = json!({"event_type": "e", "event_payload": {"k": "v"}});
    let (_, posted) =
        post_json(&http, &slack, "chat.postMessage", json!({"channel": "C0RANDOM", "text": "x", "metadata": metadata}))
            .await;
    assert_eq!(posted["ok"], true, "chat:write.public posts without joining");
    let form = [("channel", "C0RANDOM")];
    let answer: Value =
        post_form(&http, &slack, "conversations.history", Some(DEFAULT_TOKEN), &form).await.json().await.unwrap();
    assert_eq!(answer["error"], "not_in_channel");
    slack.set_member("C0RANDOM", true);
    let history = |include: &'static str| {
        let http = http.clone();
        let url = format!("{}/conversations.history", slack.api_url());
        async move {
            let form = [("channel", "C0RANDOM"), ("include_all_metadata", include)];
            http.post(url).bearer_auth(DEFAULT_TOKEN).form(&form).send().await.unwrap().json::<Value>().await.unwrap()
        }
    };
    assert!(history("false").await["messages"][0].get("metadata").is_none());
    assert_eq!(history("true").await["messages"][0]["metadata"], metadata);
}

#[tokio::test]
async fn conversations_info_describes_what_the_bot_may_see_and_names_the_scopes() {
    let (slack, http) = start(Config::default()).await;
    let info = |channel: &'static str| {
        let http = http.clone();
        let url = format!("{}/conversations.info", slack.api_url());
        async move {
            let response =
                http.post(url).bearer_auth(DEFAULT_TOKEN).form(&[("channel", channel)]).send().await.unwrap();
            let scopes = response.headers().get("x-oauth-scopes").map(|v| v.to_str().unwrap().to_string());
            (scopes, response.json::<Value>().await.unwrap())
        }
    };
    let (scopes, answer) = info("C0RANDOM").await;
    assert_eq!(scopes.as_deref(), Some(sluice_fake_slack::SLUICE_SCOPES.join(",").as_str()));
    assert_eq!(answer["ok"], true, "{answer}");
    let c = &answer["channel"];
    assert_eq!(
        (c["id"].as_str(), c["is_member"].as_bool(), c["is_private"].as_bool()),
        (Some("C0RANDOM"), Some(false), Some(false))
    );
    assert_eq!(info("G0SECRET").await.1["channel"]["is_member"], true);
    assert_eq!(info("C0OLD").await.1["channel"]["is_archived"], true);
    // A private channel without the bot, an unknown id, and a name: channel_not_found.
    for channel in ["G0HIDDEN", "C0NOWHERE", "#general"] {
        assert_eq!(info(channel).await.1, json!({"ok": false, "error": "channel_not_found"}), "{channel}");
    }
    slack.set_member("G0HIDDEN", true);
    assert_eq!(info("G0HIDDEN").await.1["channel"]["name"], "hidden");
    // Private channels need groups:read.
    slack.add_token(sluice_fake_slack::DEFAULT_TEAM_ID, "xoxb-public-only", &["channels:read"]);
    let response =
        post_form(&http, &slack, "conversations.info", Some("xoxb-public-only"), &[("channel", "G0SECRET")]).await;
    assert_eq!(response.headers().get("x-oauth-scopes").unwrap(), "channels:read");
    let answer: Value = response.json().await.unwrap();
    assert_eq!((answer["error"].as_str(), answer["needed"].as_str()), (Some("missing_scope"), Some("groups:read")));
}

#[tokio::test]
async fn a_status_after_accept_stores_the_message_and_answers_the_status() {
    let (slack, http) = start(Config::default()).await;
    slack.fail_next("chat.postMessage", 1, Failure::StatusAfterAccept(500));
    let response =
        post_form(&http, &slack, "chat.postMessage", Some(DEFAULT_TOKEN), &[("channel", "C0SALES"), ("text", "hi")])
            .await;
    assert_eq!(response.status().as_u16(), 500);
    assert!(response.json::<Value>().await.is_err(), "the body is not Slack's JSON");
    let stored = slack.messages("C0SALES");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].text, "hi");
}
