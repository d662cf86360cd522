//! People in the store (schema 12): users, tokens, sessions, the audit log, and who started a
//! Request and completed a task. On SQLite and on PostgreSQL, like `store.rs`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use sluice_engine::{Input, Instance, Start};
use sluice_store::{
    AuditEntry, BUILTIN_ADMIN_ID, NewRequest, NewUser, RequestFilter, RequestId, TaskStatus, UserChange,
};
use sluice_test_support::{TestDb, both, data, process, t0};

const REVIEW: &str = include_str!("models/review.bpmn");

fn user(name: &str, roles: &[&str], groups: &[&str]) -> NewUser {
    NewUser {
        username: name.into(),
        name: name.to_uppercase(),
        email: format!("{name}@example.com"),
        password_hash: Some("$argon2id$fake".into()),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        slack_user_ids: BTreeMap::from([("sales".to_string(), "U01".to_string())]),
    }
}

async fn users_tokens_and_sessions(db: Arc<TestDb>) {
    let store = db.open().await;
    // The migration made the built-in admin.
    let admin = store.user(BUILTIN_ADMIN_ID).await.unwrap().unwrap();
    assert_eq!((admin.username.as_str(), admin.roles.as_slice()), ("admin", &["admin".to_string()][..]));
    assert!(!admin.has_password);

    let ann = store.create_user(&user("ann", &["participant"], &["sales", "emea"])).await.unwrap().unwrap();
    assert_eq!(ann.groups, ["emea", "sales"]);
    assert_eq!(ann.slack_user_ids["sales"], "U01");
    assert!(ann.has_password);
    assert!(store.create_user(&user("ann", &[], &[])).await.unwrap().is_none(), "usernames are unique");
    let (found, hash) = store.user_for_sign_in("ann").await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), hash.as_deref()), (ann.id.as_str(), Some("$argon2id$fake")));
    assert_eq!(store.users().await.unwrap().iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["admin", "ann"]);

    // Tokens: found by hash with the user's roles and groups, until revoked.
    let token = store.add_user_token(&ann.id, "laptop", "hash-ann", None).await.unwrap();
    let p = store.principal_by_token("hash-ann").await.unwrap().unwrap();
    assert_eq!((p.username.as_str(), p.credential_id.as_str(), p.startup), ("ann", token.id.as_str(), false));
    assert_eq!(p.groups, ["emea", "sales"]);
    let soon = Utc::now() + Duration::hours(1);
    store.add_user_token(&ann.id, "ci", "hash-ci", Some(soon)).await.unwrap();
    let listed = store.user_tokens(&ann.id).await.unwrap();
    assert_eq!(listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["laptop", "ci"]);
    assert_eq!(listed[1].expires_at.map(|t| t.timestamp_millis()), Some(soon.timestamp_millis()));
    assert!(store.revoke_token(&token.id).await.unwrap());
    assert!(!store.revoke_token(&token.id).await.unwrap());
    assert!(store.principal_by_token("hash-ann").await.unwrap().is_none());
    // The startup token is the built-in admin's.
    assert!(!store.has_startup_token().await.unwrap());
    store.add_api_token("generated at first start", "hash-startup").await.unwrap();
    assert!(store.has_startup_token().await.unwrap());
    let p = store.principal_by_token("hash-startup").await.unwrap().unwrap();
    assert_eq!((p.user_id.as_str(), p.startup), (BUILTIN_ADMIN_ID, true));

    // Changes: roles, groups, password.
    let change = UserChange {
        roles: Some(vec!["operator".into()]),
        groups: Some(vec!["ops".into()]),
        password_hash: Some(None),
        ..UserChange::default()
    };
    let changed = store.update_user(&ann.id, &change).await.unwrap().unwrap();
    assert_eq!(
        (changed.roles.as_slice(), changed.groups.as_slice()),
        (&["operator".to_string()][..], &["ops".to_string()][..])
    );
    assert!(!changed.has_password);
    assert_eq!(changed.name, "ANN", "what was not given is kept");

    // Sessions.
    let session = store.create_session(&ann.id, "hash-session", Some("10.0.0.1"), soon).await.unwrap();
    let p = store.principal_by_session("hash-session").await.unwrap().unwrap();
    assert_eq!((p.credential_id.as_str(), p.roles.as_slice()), (session.as_str(), &["operator".to_string()][..]));
    assert!(store.end_session(&session).await.unwrap());
    assert!(store.principal_by_session("hash-session").await.unwrap().is_none());

    // Deleting a user ends their tokens and sessions; the username stays taken.
    store.create_session(&ann.id, "hash-session-2", None, soon).await.unwrap();
    assert!(store.delete_user(&ann.id).await.unwrap());
    assert!(!store.delete_user(&ann.id).await.unwrap());
    assert!(store.user(&ann.id).await.unwrap().is_none());
    assert!(store.user_for_sign_in("ann").await.unwrap().is_none());
    assert!(store.principal_by_token("hash-ci").await.unwrap().is_none());
    assert!(store.principal_by_session("hash-session-2").await.unwrap().is_none());
    assert!(store.create_user(&user("ann", &[], &[])).await.unwrap().is_none());
    assert!(store.update_user(&ann.id, &UserChange::default()).await.unwrap().is_none());
    store.close().await;
}
both!(users_tokens_and_sessions);

async fn the_audit_log_pages_newest_first_and_filters(db: Arc<TestDb>) {
    let store = db.open().await;
    for (i, (actor, action)) in
        [("ann", "sign_in"), ("bob", "sign_in"), ("ann", "token_created"), ("ann", "sign_out")].iter().enumerate()
    {
        let entry = AuditEntry {
            at: t0() + Duration::seconds(i as i64),
            actor: Some(actor.to_string()),
            action: action.to_string(),
            target: Some(format!("t{i}")),
            client: Some("127.0.0.1".into()),
            details: json!({"i": i}),
        };
        store.append_audit(&entry).await.unwrap();
    }
    let (page, next) = store.audit_page(None, None, 3, None).await.unwrap();
    assert_eq!(
        page.iter().map(|r| r.entry.action.as_str()).collect::<Vec<_>>(),
        ["sign_out", "token_created", "sign_in"]
    );
    let (rest, none) = store.audit_page(None, None, 3, next.as_deref()).await.unwrap();
    assert_eq!((rest.len(), none), (1, None));
    assert_eq!(rest[0].entry.details, json!({"i": 0}));
    let (ann, _) = store.audit_page(Some("ann"), None, 10, None).await.unwrap();
    assert_eq!(ann.len(), 3);
    let (sign_ins, _) = store.audit_page(None, Some("sign_in"), 10, None).await.unwrap();
    assert_eq!(sign_ins.iter().map(|r| r.entry.actor.as_deref()).collect::<Vec<_>>(), [Some("bob"), Some("ann")]);
    assert!(store.audit_page(None, None, 3, Some("nonsense")).await.is_err());
    store.close().await;
}
both!(the_audit_log_pages_newest_first_and_filters);

async fn requests_record_who_started_them_and_tasks_who_completed_them(db: Arc<TestDb>) {
    let store = db.open().await;
    assert_eq!(store.deploy_version("review", None, REVIEW, "h1").await.unwrap(), (1, true));
    let p = process(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models"), "review.bpmn", "review");
    let mut ids = Vec::new();
    for (order, by) in [("ORD-1", Some("ann")), ("ORD-2", Some("bob")), ("ORD-3", None)] {
        let mut out = Vec::new();
        let inst = Instance::start(&p, data(json!({"order_id": order})), Start::Default, t0(), &mut out).unwrap();
        let id = RequestId::new();
        let mut changes = sluice_worker::from_commands(&p, id, &out, t0());
        changes.actor = by.map(str::to_string);
        store
            .create_request(
                &NewRequest { id, process_key: "review", process_version: 1, parent: None, state: &inst },
                &changes,
            )
            .await
            .unwrap();
        ids.push(id);
    }
    assert_eq!(store.request(ids[0]).await.unwrap().started_by.as_deref(), Some("ann"));
    assert_eq!(store.request(ids[2]).await.unwrap().started_by, None);
    let visible = |user: &str| RequestFilter { visible_to: Some(user.into()), ..Default::default() };
    let listed = store.list_request_summaries(&visible("ann"), 10, None, false).await.unwrap().0;
    assert_eq!(listed.iter().map(|(r, _)| r.id).collect::<Vec<_>>(), [ids[0]]);
    assert_eq!(listed[0].0.started_by.as_deref(), Some("ann"));
    let (tasks, _) = store.tasks_page(None, None, None, None, Some("ann")).await.unwrap();
    assert_eq!(tasks.iter().map(|t| t.request_id).collect::<Vec<_>>(), [ids[0]]);

    // Ann completes the task of bob's Request: she took part in it from now on.
    let task = store.tasks(Some(ids[1]), Some(TaskStatus::Active)).await.unwrap().remove(0);
    assert!(!store.took_part(ids[1], "ann").await.unwrap());
    let mut loaded = store.load_request(ids[1]).await.unwrap();
    let mut out = Vec::new();
    let at = t0() + Duration::minutes(1);
    loaded.instance.step(&p, Input::CompleteTask { token: task.token, data: data(json!({})) }, at, &mut out).unwrap();
    let mut changes = sluice_worker::from_commands(&p, ids[1], &out, at);
    changes.actor = Some("ann".into());
    store.apply_step(ids[1], loaded.revision, &loaded.instance, &changes).await.unwrap();
    let done = store.task(task.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.completed_by.as_deref()), (TaskStatus::Completed, Some("ann")));
    assert!(store.took_part(ids[1], "ann").await.unwrap());
    assert!(store.took_part(ids[1], "bob").await.unwrap());
    assert!(!store.took_part(ids[2], "ann").await.unwrap());
    let listed = store.list_request_summaries(&visible("ann"), 10, None, false).await.unwrap().0;
    let mut seen: Vec<RequestId> = listed.iter().map(|(r, _)| r.id).collect();
    seen.sort();
    let mut expected = vec![ids[0], ids[1]];
    expected.sort();
    assert_eq!(seen, expected);
    let (tasks, _) = store.tasks_page(None, None, None, None, Some("ann")).await.unwrap();
    assert_eq!(tasks.len(), 2, "her own Request's task and the one she completed");
    store.close().await;
}
both!(requests_record_who_started_them_and_tasks_who_completed_them);

async fn slack_users_are_linked_once_and_found_by_id_and_email(db: Arc<TestDb>) {
    let store = db.open().await;
    let mut ann = user("ann", &["participant"], &["sales"]);
    ann.email = "Ann@Example.com".into();
    ann.slack_user_ids = BTreeMap::new();
    let ann = store.create_user(&ann).await.unwrap().unwrap();
    let mut bob = user("bob", &["participant"], &[]);
    bob.email = "bob@example.com".into();
    bob.slack_user_ids = BTreeMap::from([("default".to_string(), "U0BOB".to_string())]);
    let bob = store.create_user(&bob).await.unwrap().unwrap();

    // By email, without case; by a linked Slack id, only in its integration.
    assert_eq!(store.user_by_email("ann@example.COM").await.unwrap().map(|u| u.username), Some("ann".into()));
    assert_eq!(store.user_by_email("nobody@example.com").await.unwrap(), None);
    assert_eq!(store.user_by_email(" ").await.unwrap(), None);
    assert_eq!(store.user_by_slack_id("default", "U0BOB").await.unwrap().map(|u| u.id), Some(bob.id.clone()));
    assert_eq!(store.user_by_slack_id("other", "U0BOB").await.unwrap(), None);
    assert_eq!(store.user_by_slack_id("default", "U0B").await.unwrap(), None, "a prefix is not an id");
    assert_eq!(store.user_by_slack_id("default", "%").await.unwrap(), None);

    // A link is made once: not over an admin's choice, not to a Slack user someone else has.
    assert!(store.link_slack_user(&ann.id, "default", "U0ANN").await.unwrap());
    let found = store.user_by_slack_id("default", "U0ANN").await.unwrap().unwrap();
    assert_eq!((found.username.as_str(), found.groups.as_slice()), ("ann", ["sales".to_string()].as_slice()));
    assert!(!store.link_slack_user(&ann.id, "default", "U0OTHER").await.unwrap(), "ann is linked already");
    assert!(!store.link_slack_user(&bob.id, "default", "U0NEW").await.unwrap(), "an admin linked bob");
    let mut carl = user("carl", &[], &[]);
    carl.email = "ann@example.com".into();
    let carl = store.create_user(&carl).await.unwrap().unwrap();
    assert!(!store.link_slack_user(&carl.id, "default", "U0ANN").await.unwrap(), "U0ANN is ann's");
    // Two people with one email: neither is found by it.
    assert_eq!(store.user_by_email("ann@example.com").await.unwrap(), None);
    assert_eq!(store.user_by_username("carl").await.unwrap().map(|u| u.id), Some(carl.id));
    store.close().await;
}
both!(slack_users_are_linked_once_and_found_by_id_and_email);

async fn old_audit_entries_are_pruned_in_batches(db: Arc<TestDb>) {
    let store = db.open().await;
    for i in 0..5 {
        let entry = AuditEntry {
            at: t0() + Duration::days(i),
            actor: Some("ann".into()),
            action: "sign_in".into(),
            target: None,
            client: None,
            details: json!({"day": i}),
        };
        store.append_audit(&entry).await.unwrap();
    }
    let before = t0() + Duration::days(3);
    assert_eq!(store.prune_audit(before, 2).await.unwrap(), 2, "at most a batch");
    assert_eq!(store.prune_audit(before, 2).await.unwrap(), 1);
    assert_eq!(store.prune_audit(before, 2).await.unwrap(), 0);
    let (left, _) = store.audit_page(None, None, 10, None).await.unwrap();
    let days: Vec<i64> = left.iter().map(|r| r.entry.details["day"].as_i64().unwrap()).collect();
    assert_eq!(days, [4, 3], "the newer entries stay");
    store.close().await;
}
both!(old_audit_entries_are_pruned_in_batches);
