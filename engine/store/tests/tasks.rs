//! Tasks for people in the store (schema 14): the assignment written with each task, listings
//! by assignee, candidate, group and process in created or due order with cursors, what a
//! participant may see, and claims, delegation and their races. On SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::Duration;
use serde_json::{Value, json};
use sluice_engine::{Input, Instance, Start};
use sluice_store::{
    NewRequest, RequestId, Store, TaskChange, TaskId, TaskOrder, TaskQuery, TaskRefusal, TaskStatus, Viewer,
};
use sluice_test_support::{TestDb, both, data, process, t0};

const ASSIGNED: &str = include_str!("models/assigned.bpmn");

/// Starts a Request whose task takes its assignment from `d`; answers it and its task's id.
async fn start(store: &Store, p: &sluice_bpmn::Process, d: Value, minute: i64) -> (RequestId, TaskId) {
    let at = t0() + Duration::minutes(minute);
    let mut out = Vec::new();
    let inst = Instance::start_as(p, data(d), Start::Default, Some("rita".into()), at, &mut out).unwrap();
    let id = RequestId::new();
    let mut changes = sluice_worker::from_commands(p, id, &out, at);
    changes.actor = Some("rita".into());
    let new = NewRequest { id, process_key: "assigned", process_version: 1, parent: None, state: &inst };
    store.create_request(&new, &changes).await.unwrap();
    let task = store.tasks(Some(id), Some(TaskStatus::Active)).await.unwrap().remove(0);
    (id, task.id)
}

fn ids(tasks: &[sluice_store::TaskRow]) -> Vec<TaskId> {
    tasks.iter().map(|t| t.id).collect()
}

async fn tasks_are_listed_for_the_people_they_are_for(db: Arc<TestDb>) {
    let store = db.open().await;
    store.deploy_version("assigned", None, ASSIGNED, "h1").await.unwrap();
    let p = process(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models"), "assigned.bpmn", "assigned");
    let due = |h: i64| (t0() + Duration::hours(h)).to_rfc3339();
    let base = json!({"owner": null, "groups": null, "users": null, "due": null, "priority": null});
    let with = |extra: Value| {
        let mut d = base.clone();
        d.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        d
    };
    // Four tasks: for sales (due in 3 h), for sam alone (due in 1 h), for ann, and for support.
    let (r_sales, sales) =
        start(&store, &p, with(json!({"groups": ["sales", "emea"], "due": due(3), "priority": 70})), 0).await;
    let (_, sams) = start(&store, &p, with(json!({"users": "sam", "due": due(1)})), 1).await;
    let (_, anns) = start(&store, &p, with(json!({"owner": "ann"})), 2).await;
    let (_, support) = start(&store, &p, with(json!({"groups": "support"})), 3).await;

    let t = store.task(sales).await.unwrap().unwrap();
    assert_eq!(t.candidate_groups, ["sales", "emea"]);
    assert_eq!((t.priority, t.process_key.as_deref()), (Some(70), Some("assigned")));
    assert_eq!(t.due.map(|d| d.to_rfc3339()), Some(due(3)));
    assert_eq!(t.documentation.as_deref(), Some("Look at the amount."));
    assert_eq!(store.task(anns).await.unwrap().unwrap().assignee.as_deref(), Some("ann"));

    let sam_groups = vec!["sales".to_string()];
    let sam = Viewer { username: "sam", groups: &sam_groups };
    let q = |candidate, assignee| TaskQuery { candidate, assignee, ..Default::default() };
    let (found, _) = store.list_tasks(&q(Some(sam), None)).await.unwrap();
    assert_eq!(ids(&found), [sales, sams], "a candidate user, and through a group");
    let (found, _) = store.list_tasks(&TaskQuery { order: TaskOrder::Due, ..q(Some(sam), None) }).await.unwrap();
    assert_eq!(ids(&found), [sams, sales], "earliest due first");
    let (found, _) = store.list_tasks(&q(None, Some("ann"))).await.unwrap();
    assert_eq!(ids(&found), [anns]);
    let (found, _) = store.list_tasks(&TaskQuery { group: Some("support"), ..Default::default() }).await.unwrap();
    assert_eq!(ids(&found), [support]);
    let (found, _) = store.list_tasks(&TaskQuery { process: Some("nope"), ..Default::default() }).await.unwrap();
    assert!(found.is_empty());

    // Pages in due order: tasks without a due date last, the cursor carries over.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = TaskQuery { order: TaskOrder::Due, limit: Some(1), cursor: cursor.as_deref(), ..Default::default() };
        let (found, next) = store.list_tasks(&page).await.unwrap();
        seen.extend(ids(&found));
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, [sams, sales, anns, support]);
    assert!(store.list_tasks(&TaskQuery { cursor: Some("x.y"), ..Default::default() }).await.is_err());

    // What a participant sees: their candidacies and assignments, not the others.
    let nobody: Vec<String> = Vec::new();
    let (found, _) = store
        .list_tasks(&TaskQuery { visible_to: Some(Viewer { username: "ann", groups: &nobody }), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(ids(&found), [anns]);
    let (found, _) = store.list_tasks(&TaskQuery { visible_to: Some(sam), ..Default::default() }).await.unwrap();
    assert_eq!(ids(&found), [sales, sams]);

    // Claims: the first one wins; the task leaves `candidate` listings and joins `assignee` ones.
    let claimed = store.change_task(sales, &TaskChange::Claim("sam".into())).await.unwrap().unwrap();
    assert_eq!(claimed.assignee.as_deref(), Some("sam"));
    let refused = store.change_task(sales, &TaskChange::Claim("sue".into())).await.unwrap();
    assert_eq!(refused, Err(TaskRefusal::ClaimedBy("sam".into())));
    let (found, _) = store.list_tasks(&q(Some(sam), None)).await.unwrap();
    assert_eq!(ids(&found), [sams]);
    let (found, _) = store.list_tasks(&q(Some(sam), Some("sam"))).await.unwrap();
    assert_eq!(ids(&found), [sales, sams], "both: mine and the ones I may claim");
    // Delegation and back.
    let d =
        store.change_task(sales, &TaskChange::Delegate { by: "sam".into(), to: "sue".into() }).await.unwrap().unwrap();
    assert_eq!(
        (d.assignee.as_deref(), d.owner.as_deref(), d.delegation.as_deref()),
        (Some("sue"), Some("sam"), Some("pending"))
    );
    let r = store.change_task(sales, &TaskChange::Resolve).await.unwrap().unwrap();
    assert_eq!((r.assignee.as_deref(), r.delegation.as_deref()), (Some("sam"), Some("resolved")));
    assert_eq!(store.change_task(sales, &TaskChange::Resolve).await.unwrap(), Err(TaskRefusal::NotDelegated));
    let u = store.change_task(sales, &TaskChange::Unclaim).await.unwrap().unwrap();
    assert_eq!(u.assignee, None);
    let (found, _) = store.list_tasks(&q(Some(sam), None)).await.unwrap();
    assert_eq!(ids(&found), [sales, sams], "unclaimed, it may be claimed again");
    // Assigned by an operator, it leaves the candidates' listings; assigned to nobody, it is back.
    store.change_task(sales, &TaskChange::Assign(Some("sue".into()))).await.unwrap().unwrap();
    let (found, _) = store.list_tasks(&q(Some(sam), None)).await.unwrap();
    assert_eq!(ids(&found), [sams]);
    store.change_task(sales, &TaskChange::Assign(None)).await.unwrap().unwrap();
    // Pages of one through the candidate listing.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = TaskQuery { candidate: Some(sam), limit: Some(1), cursor: cursor.as_deref(), ..Default::default() };
        let (found, next) = store.list_tasks(&page).await.unwrap();
        seen.extend(ids(&found));
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, [sales, sams]);
    assert_eq!(store.change_task(TaskId::new(), &TaskChange::Unclaim).await.unwrap(), Err(TaskRefusal::NotFound));

    // Completed, the task leaves the candidates' listings and refuses changes.
    let mut loaded = store.load_request(r_sales).await.unwrap();
    let mut out = Vec::new();
    let at = t0() + Duration::minutes(10);
    let t = store.task(sales).await.unwrap().unwrap();
    loaded.instance.step(&p, Input::CompleteTask { token: t.token, data: data(json!({})) }, at, &mut out).unwrap();
    let changes = sluice_worker::from_commands(&p, r_sales, &out, at);
    store.apply_step(r_sales, loaded.revision, &loaded.instance, &changes).await.unwrap();
    let (found, _) = store.list_tasks(&q(Some(sam), None)).await.unwrap();
    assert_eq!(ids(&found), [sams]);
    let (found, _) = store.list_tasks(&TaskQuery { group: Some("sales"), ..Default::default() }).await.unwrap();
    assert!(found.is_empty());
    assert_eq!(store.change_task(sales, &TaskChange::Claim("sam".into())).await.unwrap(), Err(TaskRefusal::NotActive));
    store.close().await;
}
both!(tasks_are_listed_for_the_people_they_are_for);
