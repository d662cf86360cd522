//! The Slack Web API client against the fake Slack on 127.0.0.1.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serde_json::json;
use sluice_fake_slack::{self as fake, Channel, Failure, FakeSlack, OAuthApp, RateLimit, Workspace};
use sluice_slack::Secret;
use sluice_slack::client::{
    AppCredentials, ChannelType, Client, Error, Grant, HistoryRequest, ListRequest, Metadata, PostMessage,
    UpdateMessage,
};

fn token() -> Secret {
    Secret::new(fake::DEFAULT_TOKEN)
}

fn app(secret: &str) -> AppCredentials {
    AppCredentials { client_id: fake::DEFAULT_CLIENT_ID.into(), client_secret: Secret::new(secret) }
}

async fn start(config: fake::Config) -> (FakeSlack, Client) {
    let slack = FakeSlack::start(config).await.unwrap();
    let client = Client::new(slack.api_url()).unwrap();
    (slack, client)
}

fn code_of(e: &Error) -> &str {
    e.code().unwrap_or("<no code>")
}

#[tokio::test]
async fn auth_test_names_the_workspace_and_bot() {
    let (_slack, client) = start(fake::Config::default()).await;
    let me = client.auth_test(&token()).await.unwrap();
    assert_eq!((me.team_id.as_str(), me.team.as_str(), me.user_id.as_str()), ("T0SLUICE", "Sluice Test", "U0BOT"));
    assert_eq!(me.url, "https://sluice-test.slack.com/");
    let err = client.auth_test(&Secret::new("xoxb-nope")).await.unwrap_err();
    assert_eq!(code_of(&err), "invalid_auth");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn conversations_list_follows_cursors_across_short_pages() {
    let mut workspace = Workspace::new("T1", "Big").token("xoxb-big", fake::SLUICE_SCOPES);
    for i in 0..9 {
        let channel = match i % 3 {
            0 => Channel::public(format!("C{i}"), format!("pub{i}")),
            1 => Channel::private(format!("G{i}"), format!("member{i}")).member(),
            _ => Channel::private(format!("G{i}"), format!("hidden{i}")),
        };
        workspace = workspace.channel(channel);
    }
    let config = fake::Config { workspaces: vec![workspace], list_page_cap: 2, ..fake::Config::default() };
    let (slack, client) = start(config).await;
    let request = ListRequest { limit: Some(100), ..ListRequest::default() };
    let channels = client.conversations_list_all(&Secret::new("xoxb-big"), &request).await.unwrap();
    let names: Vec<&str> = channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["pub0", "member1", "pub3", "member4", "pub6", "member7"]);
    assert!(channels.iter().filter(|c| c.is_private).all(|c| c.is_member));
    assert_eq!(slack.calls("conversations.list"), 5);

    // Public channels only.
    let request = ListRequest { types: vec![ChannelType::Public], ..ListRequest::default() };
    let public = client.conversations_list_all(&Secret::new("xoxb-big"), &request).await.unwrap();
    assert_eq!(public.len(), 3);
}

#[tokio::test]
async fn conversations_list_waits_out_the_tier_2_limit() {
    let limit = RateLimit { calls: 2, per: Duration::from_secs(1) };
    let (slack, client) = start(fake::Config { list_rate_limit: Some(limit), ..fake::Config::default() }).await;
    let start = Instant::now();
    for _ in 0..3 {
        client.conversations_list(&token(), &ListRequest::default()).await.unwrap();
    }
    assert_eq!(slack.rate_limited("conversations.list"), 1);
    assert!(start.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn oauth_exchanges_a_code_once() {
    let (slack, client) = start(fake::Config::default()).await;
    let redirect = "http://sluice.test/api/v1/integrations/slack/oauth/callback";
    let code = slack.issue_oauth_code(fake::DEFAULT_TEAM_ID, Some(redirect));
    let grant = Grant::Code { code: code.clone(), redirect_uri: Some(redirect.into()) };

    let access = client.oauth_v2_access(&app(fake::DEFAULT_CLIENT_SECRET), &grant).await.unwrap();
    assert_eq!(access.token_type.as_deref(), Some("bot"));
    assert_eq!(access.team.as_ref().map(|t| t.id.as_str()), Some("T0SLUICE"));
    assert_eq!(access.bot_user_id.as_deref(), Some("U0BOT"));
    assert!(access.scope.contains("chat:write"));
    assert!(access.refresh_token.is_none() && access.expires_in.is_none());
    assert_eq!(format!("{:?}", access.access_token), "***");
    // The new token works.
    assert_eq!(client.auth_test(&access.access_token).await.unwrap().team_id, "T0SLUICE");

    let reused = client.oauth_v2_access(&app(fake::DEFAULT_CLIENT_SECRET), &grant).await.unwrap_err();
    assert_eq!(code_of(&reused), "invalid_code");

    let fresh = Grant::Code { code: slack.issue_oauth_code(fake::DEFAULT_TEAM_ID, None), redirect_uri: None };
    let bad = client.oauth_v2_access(&app("wrong"), &fresh).await.unwrap_err();
    assert_eq!(code_of(&bad), "bad_client_secret");
    let wrong_app = AppCredentials { client_id: "9.9".into(), client_secret: Secret::new("x") };
    assert_eq!(code_of(&client.oauth_v2_access(&wrong_app, &fresh).await.unwrap_err()), "invalid_client_id");

    let other_redirect = Grant::Code {
        code: slack.issue_oauth_code(fake::DEFAULT_TEAM_ID, Some(redirect)),
        redirect_uri: Some("http://elsewhere".into()),
    };
    let err = client.oauth_v2_access(&app(fake::DEFAULT_CLIENT_SECRET), &other_redirect).await.unwrap_err();
    assert_eq!(code_of(&err), "bad_redirect_uri");
}

#[tokio::test]
async fn oauth_rotating_tokens_refresh_once() {
    let mut config = fake::Config::default();
    config.oauth = Some(OAuthApp { token_rotation: Some(Duration::from_secs(43_200)), ..config.oauth.unwrap() });
    let (slack, client) = start(config).await;
    let app = app(fake::DEFAULT_CLIENT_SECRET);
    let code = slack.issue_oauth_code(fake::DEFAULT_TEAM_ID, None);
    let first = client.oauth_v2_access(&app, &Grant::Code { code, redirect_uri: None }).await.unwrap();
    assert_eq!(first.expires_in, Some(43_200));
    let refresh = first.refresh_token.clone().unwrap();

    let second = client.oauth_v2_access(&app, &Grant::Refresh { refresh_token: refresh.clone() }).await.unwrap();
    assert!(second.access_token != first.access_token && second.refresh_token.is_some());
    client.auth_test(&second.access_token).await.unwrap();

    let reused = client.oauth_v2_access(&app, &Grant::Refresh { refresh_token: refresh }).await.unwrap_err();
    assert_eq!(code_of(&reused), "invalid_refresh_token");
}

#[tokio::test]
async fn update_replaces_a_message_and_history_shows_metadata() {
    let (slack, client) = start(fake::Config::default()).await;
    let metadata = Metadata { event_type: "sluice_step".into(), event_payload: json!({"key": "r/e"}) };
    let posted = client
        .post_message(
            &token(),
            &PostMessage {
                channel: "#general".into(),
                text: "before".into(),
                metadata: Some(metadata.clone()),
                ..PostMessage::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(posted.channel, "C0GENERAL");

    let update = UpdateMessage {
        channel: posted.channel.clone(),
        ts: posted.ts.clone(),
        text: "after".into(),
        blocks: Some(vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": "after"}})]),
        metadata: None,
    };
    let updated = client.update_message(&token(), &update).await.unwrap();
    assert_eq!((updated.channel.as_str(), updated.ts.as_str()), ("C0GENERAL", posted.ts.as_str()));
    let stored = &slack.messages("C0GENERAL")[0];
    assert_eq!(stored.text, "after");
    assert!(stored.edited);

    let missing = UpdateMessage { ts: "1.000001".into(), ..update };
    assert_eq!(code_of(&client.update_message(&token(), &missing).await.unwrap_err()), "message_not_found");

    let request =
        HistoryRequest { channel: "C0GENERAL".into(), include_all_metadata: true, ..HistoryRequest::default() };
    let history = client.conversations_history(&token(), &request).await.unwrap();
    assert_eq!(history.messages.len(), 1);
    assert_eq!(history.messages[0].metadata.as_ref(), Some(&metadata));
    let without = HistoryRequest { include_all_metadata: false, ..request };
    assert!(client.conversations_history(&token(), &without).await.unwrap().messages[0].metadata.is_none());
}

#[tokio::test]
async fn history_pages_newest_first() {
    let (slack, client) = start(fake::Config { post_interval: Duration::ZERO, ..fake::Config::default() }).await;
    for i in 0..5 {
        let message = PostMessage { channel: "C0SALES".into(), text: format!("m{i}"), ..PostMessage::default() };
        client.post_message(&token(), &message).await.unwrap();
    }
    let mut request = HistoryRequest { channel: "C0SALES".into(), limit: Some(2), ..HistoryRequest::default() };
    let mut texts = Vec::new();
    loop {
        let page = client.conversations_history(&token(), &request).await.unwrap();
        texts.extend(page.messages.into_iter().filter_map(|m| m.text));
        match page.next_cursor {
            Some(cursor) => request.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(texts, ["m4", "m3", "m2", "m1", "m0"]);
    // `oldest` excludes older messages.
    let third = slack.messages("C0SALES")[2].ts.clone();
    let recent = HistoryRequest { channel: "C0SALES".into(), oldest: Some(third), ..HistoryRequest::default() };
    assert_eq!(client.conversations_history(&token(), &recent).await.unwrap().messages.len(), 2);
}

#[tokio::test]
async fn failures_are_typed() {
    let (slack, client) = start(fake::Config::default()).await;
    let message = PostMessage { channel: "C0SALES".into(), text: "x".into(), ..PostMessage::default() };

    slack.fail_next("chat.postMessage", 1, Failure::Status(500));
    let err = client.post_message(&token(), &message).await.unwrap_err();
    assert!(matches!(err, Error::Status { status: 500 }) && err.is_retryable() && err.outcome_unknown());

    slack.fail_next("chat.postMessage", 1, Failure::DropAfterAccept);
    let err = client.post_message(&token(), &message).await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)) && err.outcome_unknown(), "{err:?}");
    assert_eq!(slack.messages("C0SALES").len(), 1);

    let scoped = Secret::new("xoxb-scoped");
    slack.add_token(fake::DEFAULT_TEAM_ID, "xoxb-scoped", &["channels:read"]);
    match client.post_message(&scoped, &message).await.unwrap_err() {
        Error::Api { code, needed, provided, .. } => {
            assert_eq!(code, "missing_scope");
            assert_eq!(needed.as_deref(), Some("chat:write"));
            assert_eq!(provided.as_deref(), Some("channels:read"));
        }
        other => panic!("{other:?}"),
    }

    let nowhere = Client::new("http://127.0.0.1:1/api").unwrap();
    let err = nowhere.auth_test(&token()).await.unwrap_err();
    assert!(matches!(err, Error::Connect(_)) && !err.outcome_unknown(), "{err:?}");
}

#[tokio::test]
async fn a_timeout_is_an_unknown_outcome() {
    use std::net::TcpListener;
    // A server that accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = sluice_slack::client::Config::new(format!("http://{addr}/api"));
    config.timeout = Duration::from_millis(300);
    let client = Client::with_config(config).unwrap();
    let err = client.auth_test(&token()).await.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)) && err.outcome_unknown() && err.is_retryable(), "{err:?}");
    drop(listener);
}

#[tokio::test]
async fn conversations_info_describes_one_channel_with_the_token_scopes() {
    let (slack, client) = start(fake::Config::default()).await;
    let info = client.conversations_info(&token(), "C0RANDOM").await.unwrap();
    assert_eq!((info.channel.id.as_str(), info.channel.name.as_str()), ("C0RANDOM", "random"));
    assert!(!info.channel.is_member && !info.channel.is_private && !info.channel.is_archived);
    let scopes: Vec<String> = fake::SLUICE_SCOPES.iter().map(|s| s.to_string()).collect();
    assert_eq!(info.scopes, Some(scopes));
    assert!(client.conversations_info(&token(), "C0OLD").await.unwrap().channel.is_archived);
    let hidden = client.conversations_info(&token(), "G0HIDDEN").await.unwrap_err();
    assert_eq!(code_of(&hidden), "channel_not_found");
    slack.set_member("G0HIDDEN", true);
    let found = client.conversations_info(&token(), "G0HIDDEN").await.unwrap();
    assert!(found.channel.is_private && found.channel.is_member);
    slack.add_token(fake::DEFAULT_TEAM_ID, "xoxb-few", &["chat:write", "channels:read"]);
    let few = client.conversations_info(&Secret::new("xoxb-few"), "C0SALES").await.unwrap();
    assert_eq!(few.scopes, Some(vec!["chat:write".to_string(), "channels:read".to_string()]));
}
