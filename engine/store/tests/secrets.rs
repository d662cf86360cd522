//! Secrets for connectors in the store (schema 15), on SQLite and on PostgreSQL, like `store.rs`.
#![allow(clippy::unwrap_used)]

use sluice_store::Store;
use sluice_test_support::both;

async fn secrets_are_stored_replaced_listed_and_deleted(store: Store, other: Store) {
    assert!(store.secrets().await.unwrap().is_empty());
    assert!(store.put_secret("SLACK_OAUTH_TOKEN", b"\x01sealed-one").await.unwrap(), "a new secret");
    assert!(store.put_secret("API_KEY", b"\x01sealed-key").await.unwrap());
    let before = store.secrets().await.unwrap();
    assert!(!store.put_secret("SLACK_OAUTH_TOKEN", b"\x01sealed-two").await.unwrap(), "a replaced secret");
    // Another node reads what this one wrote.
    let listed = other.secrets().await.unwrap();
    assert_eq!(listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["API_KEY", "SLACK_OAUTH_TOKEN"]);
    let slack = &listed[1];
    assert_eq!(slack.created_at, before[1].created_at);
    assert!(slack.updated_at >= slack.created_at);
    let names = vec!["SLACK_OAUTH_TOKEN".to_string(), "MISSING".to_string()];
    let sealed = other.sealed_secrets(&names).await.unwrap();
    assert_eq!(sealed, vec![("SLACK_OAUTH_TOKEN".to_string(), b"\x01sealed-two".to_vec())]);
    assert!(store.sealed_secrets(&[]).await.unwrap().is_empty());
    assert!(store.delete_secret("API_KEY").await.unwrap());
    assert!(!store.delete_secret("API_KEY").await.unwrap(), "already gone");
    assert_eq!(other.secrets().await.unwrap().len(), 1);
}
both!(secrets_are_stored_replaced_listed_and_deleted, sluice_test_support::with_two_stores);
