//! Slack integrations in the store (schema 4), on SQLite (a temporary file) and on PostgreSQL
//! (`SLUICE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`, each test in a
//! schema of its own; `SLUICE_TEST_SKIP_POSTGRES=1` skips it), like `store.rs`.
#![allow(clippy::unwrap_used)]

use chrono::{TimeDelta, Utc};
use sluice_store::{IntegrationSource, OAuthStateUse, SCHEMA_VERSION, SlackIntegrationWrite, Store};
use sluice_test_support::both;

fn write<'a>(alias: &'a str, team: &'a str, token: &'a [u8]) -> SlackIntegrationWrite<'a> {
    SlackIntegrationWrite {
        alias,
        team_id: team,
        team_name: "Team",
        bot_user_id: Some("U0BOT"),
        scope: Some("chat:write"),
        source: IntegrationSource::Token,
        bot_token: token,
        refresh_token: None,
        token_expires_at: None,
    }
}

async fn slack_app_settings(store: Store, _other: Store) {
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(store.slack_app().await.unwrap(), None);
    store.set_slack_app("111.222", b"\x01sealed-secret", None).await.unwrap();
    let app = store.slack_app().await.unwrap().unwrap();
    assert_eq!((app.client_id.as_str(), app.client_secret.as_slice()), ("111.222", &b"\x01sealed-secret"[..]));
    assert_eq!(app.signing_secret, None);
    // Setting it again replaces the one row.
    store.set_slack_app("333.444", b"\x01other", Some(b"\x01signing")).await.unwrap();
    let app = store.slack_app().await.unwrap().unwrap();
    assert_eq!(app.client_id, "333.444");
    assert_eq!(app.client_secret, b"\x01other");
    assert_eq!(app.signing_secret.as_deref(), Some(&b"\x01signing"[..]));
}
both!(slack_app_settings, sluice_test_support::with_two_stores);

async fn integrations_by_alias(store: Store, _other: Store) {
    assert!(store.slack_integrations().await.unwrap().is_empty());
    let (sales, created) = store.put_slack_integration(&write("sales", "T1", b"tok-1")).await.unwrap();
    assert!(created);
    assert_eq!(
        (sales.alias.as_str(), sales.team_id.as_str(), sales.bot_token.as_slice()),
        ("sales", "T1", &b"tok-1"[..])
    );
    assert!(uuid::Uuid::parse_str(&sales.id).is_ok());
    store.put_slack_integration(&write("ops", "T2", b"tok-2")).await.unwrap();
    let all = store.slack_integrations().await.unwrap();
    assert_eq!(all.iter().map(|i| i.alias.as_str()).collect::<Vec<_>>(), ["ops", "sales"]);

    // Reinstalling an alias replaces its workspace and token and keeps its id.
    let expires = Utc::now() + TimeDelta::hours(12);
    let again = SlackIntegrationWrite {
        source: IntegrationSource::OAuth,
        refresh_token: Some(b"refresh-1"),
        token_expires_at: Some(expires),
        ..write("sales", "T3", b"tok-3")
    };
    let (row, created) = store.put_slack_integration(&again).await.unwrap();
    assert!(!created);
    assert_eq!(row.id, sales.id);
    assert_eq!((row.team_id.as_str(), row.bot_token.as_slice()), ("T3", &b"tok-3"[..]));
    assert_eq!(row.source, IntegrationSource::OAuth);
    assert_eq!(row.token_expires_at.map(|t| t.timestamp_millis()), Some(expires.timestamp_millis()));
    assert_eq!(store.slack_integrations().await.unwrap().len(), 2);

    // A refresh replaces the tokens only while the refresh token is the one it was made with.
    let later = expires + TimeDelta::hours(12);
    assert!(
        store.replace_slack_tokens("sales", b"refresh-1", b"tok-4", Some(b"refresh-2"), Some(later)).await.unwrap()
    );
    assert!(!store.replace_slack_tokens("sales", b"refresh-1", b"tok-5", Some(b"refresh-3"), None).await.unwrap());
    let row = store.slack_integration("sales").await.unwrap().unwrap();
    assert_eq!((row.bot_token.as_slice(), row.refresh_token.as_deref()), (&b"tok-4"[..], Some(&b"refresh-2"[..])));

    assert!(store.delete_slack_integration("ops").await.unwrap());
    assert!(!store.delete_slack_integration("ops").await.unwrap());
    assert_eq!(store.slack_integration("ops").await.unwrap(), None);
    assert_eq!(store.slack_integrations().await.unwrap().len(), 1);
}
both!(integrations_by_alias, sluice_test_support::with_two_stores);

async fn oauth_states_are_single_use_across_nodes(store: Store, other: Store) {
    let now = Utc::now();
    store.add_slack_oauth_state("hash-a", "sales", now + TimeDelta::minutes(10)).await.unwrap();
    store.add_slack_oauth_state("hash-old", "ops", now - TimeDelta::seconds(1)).await.unwrap();
    assert_eq!(store.take_slack_oauth_state("nope", now).await.unwrap(), OAuthStateUse::Unknown);
    assert_eq!(store.take_slack_oauth_state("hash-old", now).await.unwrap(), OAuthStateUse::Expired);

    // Sixteen callbacks with the same state on two nodes at once: exactly one goes on.
    let mut handles = Vec::new();
    for i in 0..16 {
        let s = if i % 2 == 0 { store.clone() } else { other.clone() };
        handles.push(tokio::spawn(async move { s.take_slack_oauth_state("hash-a", Utc::now()).await.unwrap() }));
    }
    let mut taken = 0;
    for h in handles {
        match h.await.unwrap() {
            OAuthStateUse::Taken { alias } => {
                assert_eq!(alias, "sales");
                taken += 1;
            }
            OAuthStateUse::Used => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(taken, 1);
    assert_eq!(store.take_slack_oauth_state("hash-a", now).await.unwrap(), OAuthStateUse::Used);
}
both!(oauth_states_are_single_use_across_nodes, sluice_test_support::with_two_stores);
