//! OpenID Connect sign-ins in the store (schema 16), on SQLite and PostgreSQL like `store.rs`:
//! a pending sign-in is taken once, across two stores (two nodes) of the same database; an expired
//! or unknown one is told apart; a provider's subject links to one user.
#![allow(clippy::unwrap_used)]

use chrono::{TimeDelta, Utc};
use sluice_store::{BUILTIN_ADMIN_ID, NewUser, OidcLogin, OidcLoginUse, Store};
use sluice_test_support::both;

fn login(next: &str) -> OidcLogin {
    OidcLogin { nonce: "n".repeat(64), verifier: "v".repeat(64), next_path: next.into() }
}

async fn a_sign_in_is_taken_once_on_any_node(store: Store, other: Store) {
    let now = Utc::now();
    store.add_oidc_login("hash-1", &login("/tasks"), now + TimeDelta::minutes(10)).await.unwrap();
    store.add_oidc_login("hash-old", &login("/"), now - TimeDelta::seconds(1)).await.unwrap();
    assert_eq!(other.take_oidc_login("hash-1", Utc::now()).await.unwrap(), OidcLoginUse::Taken(login("/tasks")));
    assert_eq!(store.take_oidc_login("hash-1", Utc::now()).await.unwrap(), OidcLoginUse::Used);
    assert_eq!(store.take_oidc_login("hash-old", Utc::now()).await.unwrap(), OidcLoginUse::Expired);
    assert_eq!(store.take_oidc_login("hash-none", Utc::now()).await.unwrap(), OidcLoginUse::Unknown);
}
both!(a_sign_in_is_taken_once_on_any_node, sluice_test_support::with_two_stores);

async fn a_subject_links_to_one_user(store: Store, _other: Store) {
    let new = NewUser {
        username: "olivia".into(),
        name: "Olivia".into(),
        email: String::new(),
        password_hash: None,
        roles: vec!["participant".into()],
        groups: vec![],
        slack_user_ids: Default::default(),
    };
    let user = store.create_user(&new).await.unwrap().unwrap();
    let iss = "https://idp.example";
    assert_eq!(store.oidc_user(iss, "s1").await.unwrap(), None);
    assert!(!store.oidc_linked(iss, &user.id).await.unwrap());
    assert!(store.link_oidc(iss, "s1", &user.id).await.unwrap());
    assert!(!store.link_oidc(iss, "s1", BUILTIN_ADMIN_ID).await.unwrap(), "a subject links once");
    assert_eq!(store.oidc_user(iss, "s1").await.unwrap().as_deref(), Some(user.id.as_str()));
    assert!(store.oidc_linked(iss, &user.id).await.unwrap());
    assert_eq!(store.oidc_user("https://other.example", "s1").await.unwrap(), None, "per issuer");
}
both!(a_subject_links_to_one_user, sluice_test_support::with_two_stores);
