//! Who a task is for, end to end over HTTP with the real binary, on SQLite and on PostgreSQL:
//! a model with candidate groups in each dialect the importer reads (Camunda 7, Camunda 8, BPMN
//! `potentialOwner`, a ProcessMaker form task); a member of the group sees the task in
//! `candidate=me`, claims and completes it; a non-member gets 403 (or 404 when they may not see
//! it); a FEEL assignee `= requester` lands on the starter; the requester sees their Request and
//! not another's; a short due date raises `task_overdue` once.
//! `GET /api/v1/tasks/{id}` gives the form the model declares and what the caller may do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Serve, ServeConfig, TOKEN, must_exchange};

fn definitions(body: &str) -> String {
    format!(
        r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:pm="http://processmaker.com/BPMN/2.0/Schema.xsd" id="d" targetNamespace="urn:tasks">{body}</bpmn:definitions>"#
    )
}

/// A process start → `task` → end, `task` written by the caller.
fn process(key: &str, task: &str) -> String {
    definitions(&format!(
        r#"<bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    {task}
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>"#
    ))
}

/// Each dialect's way of saying "the group `sales` works this task".
fn models() -> Vec<(&'static str, String)> {
    vec![
        (
            "camunda7",
            process(
                "camunda7",
                r#"<bpmn:userTask id="review" name="Review" camunda:candidateGroups="sales" camunda:priority="70">
      <bpmn:documentation>Check the numbers.</bpmn:documentation>
    </bpmn:userTask>"#,
            ),
        ),
        (
            "camunda8",
            process(
                "camunda8",
                r#"<bpmn:userTask id="review" name="Review">
      <bpmn:extensionElements>
        <zeebe:assignmentDefinition candidateGroups="= [&quot;sales&quot;]"/>
        <zeebe:taskSchedule dueDate="= now() + duration(&quot;P1D&quot;)"/>
      </bpmn:extensionElements>
    </bpmn:userTask>"#,
            ),
        ),
        (
            "bpmn",
            process(
                "bpmn",
                r#"<bpmn:userTask id="review" name="Review">
      <bpmn:potentialOwner><bpmn:resourceAssignmentExpression>
        <bpmn:formalExpression>group(sales)</bpmn:formalExpression>
      </bpmn:resourceAssignmentExpression></bpmn:potentialOwner>
    </bpmn:userTask>"#,
            ),
        ),
        (
            "processmaker",
            process(
                "processmaker",
                r#"<bpmn:task id="review" name="Form" pm:screenRef="3" pm:assignment="group" pm:assignedGroups="sales"/>"#,
            ),
        ),
        (
            "mine",
            process(
                "mine",
                r#"<bpmn:userTask id="review" name="Yours">
      <bpmn:extensionElements><zeebe:assignmentDefinition assignee="= requester"/></bpmn:extensionElements>
    </bpmn:userTask>"#,
            ),
        ),
        (
            "soon",
            process(
                "soon",
                r#"<bpmn:userTask id="review" name="Hurry" camunda:candidateGroups="sales" camunda:dueDate="PT1S"/>"#,
            ),
        ),
    ]
}

struct Client {
    addr: SocketAddr,
}

impl Client {
    fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let auth = format!("Bearer {token}");
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        let mut headers = vec![("Authorization", auth.as_str())];
        if !text.is_empty() {
            headers.push(("Content-Type", "application/json"));
        }
        let a = must_exchange(self.addr, method, path, &headers, text.as_bytes());
        (a.status, a.json())
    }

    fn user(&self, username: &str, roles: &[&str], groups: &[&str]) -> String {
        let body = json!({"username": username, "name": username, "email": format!("{username}@example.com"),
            "roles": roles, "groups": groups});
        let (status, user) = self.call(TOKEN, "POST", "/api/v1/users", Some(body));
        assert_eq!(status, 201, "{user}");
        let id = user["id"].as_str().unwrap();
        let (status, token) =
            self.call(TOKEN, "POST", &format!("/api/v1/users/{id}/tokens"), Some(json!({"name": "t"})));
        assert_eq!(status, 201, "{token}");
        token["token"].as_str().unwrap().to_string()
    }

    fn start(&self, token: &str, key: &str) -> String {
        let (status, r) = self.call(token, "POST", &format!("/api/v1/processes/{key}/requests"), Some(json!({})));
        assert_eq!(status, 201, "{r}");
        r["id"].as_str().unwrap().to_string()
    }

    fn task_of(&self, request: &str) -> Value {
        let (status, list) = self.call(TOKEN, "GET", &format!("/api/v1/tasks?request={request}"), None);
        assert_eq!(status, 200, "{list}");
        list["tasks"][0].clone()
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
}

fn run(name: &str, db: &Db) {
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env: vec![], address_space: None };
    let serve = Serve::start(&config, name);
    let c = Client { addr: serve.addr };
    for (key, xml) in models() {
        let a = must_exchange(
            serve.addr,
            "POST",
            "/api/v1/processes",
            &[("Authorization", &format!("Bearer {TOKEN}")), ("Content-Type", "application/xml")],
            xml.as_bytes(),
        );
        assert_eq!(a.status, 201, "{key}: {}", a.body);
    }
    let sam = c.user("sam", &["participant"], &["sales"]);
    let sue = c.user("sue", &["participant"], &["sales"]);
    let nick = c.user("nick", &["participant"], &["support"]);
    let rita = c.user("rita", &["participant"], &[]);

    for key in ["camunda7", "camunda8", "bpmn", "processmaker"] {
        let request = c.start(&rita, key);
        let task = c.task_of(&request);
        let id = task["id"].as_str().unwrap().to_string();
        assert_eq!(task["candidate_groups"], json!(["sales"]), "{key}: {task}");
        assert_eq!(task["process_key"], key, "{task}");
        assert!(task["assignee"].is_null(), "{task}");
        // Both members may claim it; the non-member neither sees nor claims it.
        for token in [&sam, &sue] {
            let (_, mine) = c.call(token, "GET", &format!("/api/v1/tasks?candidate=me&process={key}"), None);
            assert_eq!(ids(&mine), [id.as_str()], "{key}");
            let (_, by_group) = c.call(token, "GET", &format!("/api/v1/tasks?group=sales&process={key}"), None);
            assert_eq!(ids(&by_group), [id.as_str()], "{key}");
        }
        let (_, theirs) = c.call(&nick, "GET", &format!("/api/v1/tasks?candidate=me&process={key}"), None);
        assert!(ids(&theirs).is_empty(), "{key}: {theirs}");
        let (status, e) = c.call(&nick, "POST", &format!("/api/v1/tasks/{id}/claim"), None);
        assert_eq!((status, e["error"]["code"].as_str()), (404, Some("task_not_found")), "{key}: {e}");
        // The requester sees the task of her Request but may not complete it: 403.
        let (status, e) = c.call(&rita, "POST", &format!("/api/v1/tasks/{id}/complete"), Some(json!({"data": {}})));
        assert_eq!((status, e["error"]["code"].as_str()), (403, Some("forbidden")), "{key}: {e}");
        // sam claims it; sue can no longer (409), nor complete it (403); sam completes it.
        let (status, t) = c.call(&sam, "POST", &format!("/api/v1/tasks/{id}/claim"), None);
        assert_eq!((status, t["assignee"].as_str()), (200, Some("sam")), "{key}: {t}");
        let (status, e) = c.call(&sue, "POST", &format!("/api/v1/tasks/{id}/claim"), None);
        assert_eq!((status, e["error"]["code"].as_str()), (409, Some("task_claimed")), "{key}: {e}");
        let (status, e) = c.call(&sue, "POST", &format!("/api/v1/tasks/{id}/complete"), Some(json!({})));
        assert_eq!((status, e["error"]["code"].as_str()), (403, Some("forbidden")), "{key}: {e}");
        let (_, mine) = c.call(&sam, "GET", "/api/v1/tasks?assignee=me&status=active", None);
        assert_eq!(ids(&mine), [id.as_str()], "{key}");
        let (status, done) = c.call(&sam, "POST", &format!("/api/v1/tasks/{id}/complete"), Some(json!({})));
        assert_eq!((status, done["completed_by"].as_str()), (200, Some("sam")), "{key}: {done}");
        let (_, r) = c.call(TOKEN, "GET", &format!("/api/v1/requests/{request}"), None);
        assert_eq!(r["status"], "completed", "{key}: {r}");
    }

    // What each dialect said besides the group.
    let r = c.start(&rita, "camunda7");
    let t = c.task_of(&r);
    assert_eq!((t["priority"].as_i64(), t["documentation"].as_str()), (Some(70), Some("Check the numbers.")), "{t}");
    let r = c.start(&rita, "camunda8");
    assert!(c.task_of(&r)["due"].is_string(), "a FEEL due date");
    // A candidate completes an unassigned task directly: the completion claims it.
    let r = c.start(&rita, "bpmn");
    let id = c.task_of(&r)["id"].as_str().unwrap().to_string();
    let (status, done) = c.call(&sue, "POST", &format!("/api/v1/tasks/{id}/complete"), Some(json!({})));
    assert_eq!((status, done["assignee"].as_str(), done["completed_by"].as_str()), (200, Some("sue"), Some("sue")));

    // `= requester`: the task lands on whoever started the Request, and on nobody else.
    let nicks = c.start(&nick, "mine");
    let sams = c.start(&sam, "mine");
    let (_, mine) = c.call(&nick, "GET", "/api/v1/tasks?assignee=me&process=mine", None);
    let nicks_task = c.task_of(&nicks);
    assert_eq!(nicks_task["assignee"], "nick");
    assert_eq!(ids(&mine), [nicks_task["id"].as_str().unwrap().to_string()]);
    // The requester sees their Request and not another's.
    let (status, _) = c.call(&nick, "GET", &format!("/api/v1/requests/{nicks}"), None);
    assert_eq!(status, 200);
    let (status, e) = c.call(&nick, "GET", &format!("/api/v1/requests/{sams}"), None);
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("request_not_found")), "{e}");
    let sams_task = c.task_of(&sams)["id"].as_str().unwrap().to_string();
    let (status, _) = c.call(&nick, "POST", &format!("/api/v1/tasks/{sams_task}/complete"), Some(json!({})));
    assert_eq!(status, 404, "not his to see");

    // Delegation: sam hands his task to sue, who resolves it back; an operator assigns.
    let (status, t) =
        c.call(&sam, "POST", &format!("/api/v1/tasks/{sams_task}/delegate"), Some(json!({"user": "sue"})));
    assert_eq!(
        (status, t["assignee"].as_str(), t["owner"].as_str(), t["delegation"].as_str()),
        (200, Some("sue"), Some("sam"), Some("pending")),
        "{t}"
    );
    let (status, e) = c.call(&sue, "POST", &format!("/api/v1/tasks/{sams_task}/complete"), Some(json!({})));
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("task_delegated")), "{e}");
    let (status, t) = c.call(&sue, "POST", &format!("/api/v1/tasks/{sams_task}/resolve"), None);
    assert_eq!((status, t["assignee"].as_str(), t["delegation"].as_str()), (200, Some("sam"), Some("resolved")), "{t}");
    let (status, e) = c.call(&sam, "POST", &format!("/api/v1/tasks/{sams_task}/assign"), Some(json!({"user": "sue"})));
    assert_eq!(status, 403, "assigning is the operator's: {e}");
    let (status, t) = c.call(TOKEN, "POST", &format!("/api/v1/tasks/{sams_task}/assign"), Some(json!({"user": "sue"})));
    assert_eq!((status, t["assignee"].as_str()), (200, Some("sue")), "{t}");
    let (status, t) = c.call(&sue, "POST", &format!("/api/v1/tasks/{sams_task}/unclaim"), None);
    assert_eq!((status, t["assignee"].as_str()), (200, None), "{t}");
    let (_, audit) = c.call(TOKEN, "GET", "/api/v1/audit", None);
    let actions: Vec<&str> =
        audit["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in
        ["task_claimed", "task_completed", "task_delegated", "task_resolved", "task_assigned", "task_unclaimed"]
    {
        assert!(actions.contains(&action), "{action} audited: {actions:?}");
    }

    // A due date one second away: `task_overdue` once, the task still open.
    let soon = c.start(&rita, "soon");
    let deadline = Instant::now() + Duration::from_secs(30);
    let events = loop {
        let (_, events) = c.call(TOKEN, "GET", &format!("/api/v1/requests/{soon}/events"), None);
        let overdue = events["events"].as_array().unwrap().iter().filter(|e| e["type"] == "task_overdue").count();
        if overdue > 0 || Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let overdue: Vec<&Value> =
        events["events"].as_array().unwrap().iter().filter(|e| e["type"] == "task_overdue").collect();
    assert_eq!(overdue.len(), 1, "{events}");
    assert_eq!(overdue[0]["element_id"], "review");
    assert_eq!(c.task_of(&soon)["status"], "active");
    std::thread::sleep(Duration::from_secs(2));
    let (_, again) = c.call(TOKEN, "GET", &format!("/api/v1/requests/{soon}/events"), None);
    assert_eq!(again["events"].as_array().unwrap().iter().filter(|e| e["type"] == "task_overdue").count(), 1, "once");
}

#[test]
fn task_assignment_over_http_on_sqlite() {
    let name = "tasks-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn task_assignment_over_http_on_postgres() {
    let Some(db) = Db::postgres("tasks::task_assignment_over_http_on_postgres") else {
        return;
    };
    run("tasks-postgres", &db);
}

/// `GET /api/v1/tasks/{id}`: the form the model declares and what the caller may do now.
fn run_form(name: &str, db: &Db) {
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env: vec![], address_space: None };
    let serve = Serve::start(&config, name);
    let c = Client { addr: serve.addr };
    let xml = process(
        "form",
        r#"<bpmn:userTask id="review" name="Review" camunda:candidateGroups="sales">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="amount" label="Amount" type="long">
          <camunda:validation><camunda:constraint name="required"/></camunda:validation>
        </camunda:formField>
        <camunda:formField id="size" type="enum" defaultValue="m"><camunda:value id="m" name="Medium"/></camunda:formField>
        <camunda:formField id="approved" label="Approved" type="boolean"/>
      </camunda:formData></bpmn:extensionElements>
    </bpmn:userTask>"#,
    );
    let plain = process("plain", r#"<bpmn:userTask id="review" name="Plain"/>"#);
    for xml in [xml, plain] {
        let a = must_exchange(
            serve.addr,
            "POST",
            "/api/v1/processes",
            &[("Authorization", &format!("Bearer {TOKEN}")), ("Content-Type", "application/xml")],
            xml.as_bytes(),
        );
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let sam = c.user("sam", &["participant"], &["sales"]);
    let sue = c.user("sue", &["participant"], &["sales"]);
    let nick = c.user("nick", &["participant"], &["support"]);
    let request = c.start(TOKEN, "form");
    let id = c.task_of(&request)["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/tasks/{id}");
    let (status, t) = c.call(&sam, "GET", &path, None);
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["id"], id.as_str());
    assert_eq!(t["candidate_groups"], json!(["sales"]));
    assert_eq!(
        t["form"],
        json!({"approval": true, "fields": [
            {"id": "amount", "label": "Amount", "type": "long", "default": null, "required": true, "values": []},
            {"id": "size", "label": "size", "type": "enum", "default": "m", "required": false,
             "values": [{"id": "m", "name": "Medium"}]},
            {"id": "approved", "label": "Approved", "type": "boolean", "default": null, "required": false, "values": []},
        ]})
    );
    assert_eq!(
        (t["may_claim"].clone(), t["may_unclaim"].clone(), t["may_complete"].clone()),
        (json!(true), json!(false), json!(true))
    );
    // Not a candidate: the task is not theirs to see.
    let (status, e) = c.call(&nick, "GET", &path, None);
    assert_eq!(status, 404, "{e}");
    assert_eq!(e["error"]["code"], "task_not_found");
    let (status, e) = c.call(&sam, "GET", "/api/v1/tasks/not-a-task", None);
    assert_eq!(status, 404, "{e}");
    // Claimed by sam: sam may unclaim and complete, sue (same group) may do neither.
    let (status, _) = c.call(&sam, "POST", &format!("{path}/claim"), None);
    assert_eq!(status, 200);
    let (_, t) = c.call(&sam, "GET", &path, None);
    assert_eq!(
        (t["may_claim"].clone(), t["may_unclaim"].clone(), t["may_complete"].clone()),
        (json!(false), json!(true), json!(true))
    );
    let (status, t) = c.call(&sue, "GET", &path, None);
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        (t["may_claim"].clone(), t["may_unclaim"].clone(), t["may_complete"].clone()),
        (json!(false), json!(false), json!(false))
    );
    // Completed: nothing more to do; a task whose model declares no form has `form: null`.
    let (status, _) = c.call(&sam, "POST", &format!("{path}/complete"), Some(json!({"data": {"amount": 3}})));
    assert_eq!(status, 200);
    let (_, t) = c.call(&sam, "GET", &path, None);
    assert_eq!(
        (t["status"].clone(), t["may_complete"].clone(), t["may_unclaim"].clone()),
        (json!("completed"), json!(false), json!(false))
    );
    let other = c.start(TOKEN, "plain");
    let plain_id = c.task_of(&other)["id"].as_str().unwrap().to_string();
    let (status, t) = c.call(TOKEN, "GET", &format!("/api/v1/tasks/{plain_id}"), None);
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["form"], Value::Null);
}

#[test]
fn task_form_over_http_on_sqlite() {
    let name = "task-form-sqlite";
    run_form(name, &Db::sqlite(name));
}

#[test]
fn task_form_over_http_on_postgres() {
    let Some(db) = Db::postgres("tasks::task_form_over_http_on_postgres") else {
        return;
    };
    run_form("task-form-postgres", &db);
}
