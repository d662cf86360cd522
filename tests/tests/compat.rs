//! Models as other modellers write them (`processes/compat/`) run unchanged by the real
//! `sluice serve`, on SQLite and PostgreSQL, against the fake Slack and a local HTTP stub:
//! Camunda 7's `camunda:connector` (`http-connector`) with `camunda:inputOutput` (text with
//! `${…}`, `camunda:map`, `camunda:list`, an expression, output parameters), Camunda 8's
//! `zeebe:ioMapping` with `zeebe:output`s, and ProcessMaker's `pm:config` with the magic variables
//! `_request` and `_user` (the person who started the Request), a ProcessMaker form task
//! (`pm:screenRef`, `pm:assignment`) whose form data a `pm:config` uses, and a plain bpmn-js model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_fake_slack::{self as fake, FakeSlack};
use sluice_tests::db::Db;
use sluice_tests::server::{self, Api, Spawned, free_port, http};
use sluice_tests::workspace;

/// One request the stub received: request line, lower-case headers, body.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// An HTTP stub on 127.0.0.1 answering every request `{"state": "shipped"}`, recording each.
fn stub() -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let Ok(n) = s.read(&mut chunk) else { break (String::new(), String::new()) };
                if n == 0 {
                    break (String::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                let Some(end) = text.find("\r\n\r\n") else { continue };
                let head = text[..end].to_string();
                let len = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break (head, text[end + 4..].to_string());
                }
            };
            let mut lines = head.lines();
            let line = lines.next().unwrap_or_default().to_string();
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
                .collect();
            log.lock().unwrap().push(Seen { line, headers, body });
            let answer = r#"{"state":"shipped"}"#;
            let _ = s.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                )
                .as_bytes(),
            );
        }
    });
    (addr, seen)
}

fn model(name: &str) -> Vec<u8> {
    std::fs::read(workspace().join("processes/compat").join(format!("{name}.bpmn"))).unwrap()
}

fn settled(api: &Api, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, r) = api.get(&format!("/api/v1/requests/{id}")).unwrap();
        assert_eq!(status, 200, "{r}");
        if r["status"] != "active" {
            return r;
        }
        assert!(Instant::now() < deadline, "Request {id} still active: {r}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `key` with `data` as the holder of `token`; the Request's id.
fn start_as(addr: SocketAddr, token: &str, key: &str, data: Value) -> String {
    let auth = format!("Bearer {token}");
    let body = json!({"data": data}).to_string();
    let (status, text) = http(
        addr,
        Some(&auth),
        "POST",
        &format!("/api/v1/processes/{key}/requests"),
        Some("application/json"),
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str::<Value>(&text).unwrap()["id"].as_str().unwrap().to_string()
}

fn run(name: &str, db: &Db, slack: &FakeSlack) {
    let (stub_addr, seen) = stub();
    let stub_url = format!("http://{stub_addr}");
    let addr = free_port();
    let dir = db.log_dir(name);
    let mut cmd = server::serve_command(&dir, addr, server::TOKEN);
    cmd.env("SLUICE_DATABASE_URL", db.url())
        .env("SLACK_API_URL", slack.api_url())
        .env("SLACK_BOT_TOKEN", fake::DEFAULT_TOKEN)
        .env("SLUICE_SECRET_KEY", "c0".repeat(32));
    let _serve = Spawned::start(&mut cmd, addr);
    let api = Api { addr };

    // A person who starts Requests: ProcessMaker's `_user`.
    let body = json!({"username": "ann", "name": "Ann Lee", "email": "ann@example.com",
        "password": "a long enough password 1", "roles": ["participant"]});
    let (status, user) = api.post_json("/api/v1/users", &body).unwrap();
    assert_eq!(status, 201, "{user}");
    let user_id = user["id"].as_str().unwrap().to_string();
    let (status, token) =
        api.post_json(&format!("/api/v1/users/{user_id}/tokens"), &json!({"name": "compat"})).unwrap();
    assert_eq!(status, 201, "{token}");
    let token = token["token"].as_str().unwrap().to_string();

    // The Slack app manifest: admins only; this server's URLs.
    let (status, m) = api.get("/api/v1/integrations/slack/manifest").unwrap();
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["settings"]["interactivity"]["request_url"], "http://sluice.example/api/v1/slack/interactions");
    assert_eq!(m["oauth_config"]["redirect_urls"][0], "http://sluice.example/api/v1/integrations/slack/oauth/callback");
    let bot = m["oauth_config"]["scopes"]["bot"].as_array().unwrap();
    for scope in ["chat:write", "channels:read", "groups:read", "users:read.email", "im:write"] {
        assert!(bot.iter().any(|s| s == scope), "{scope}: {m}");
    }
    let auth = format!("Bearer {token}");
    let (status, _) = http(addr, Some(&auth), "GET", "/api/v1/integrations/slack/manifest", None, b"").unwrap();
    assert_eq!(status, 403);

    let models = [
        "camunda7_http_connector",
        "camunda8_http_outputs",
        "processmaker_magic_variables",
        "processmaker_form_task",
        "bpmnjs_plain",
    ];
    for m in models {
        let (status, body) = api.deploy(&model(m)).unwrap();
        assert_eq!(status, 201, "{m}: {body}");
    }
    let data = json!({"stubUrl": stub_url, "orderId": "A-17", "quantity": 3, "customer": {"name": "Ann"}});

    // Camunda 7: the http-connector's inputs by Camunda's names, its outputs into the data.
    let before = slack.all_messages().len();
    let r = settled(&api, &start_as(addr, &token, "camunda7_http_connector", data.clone()));
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["data"]["orderState"], "shipped", "{r}");
    assert_eq!(r["data"]["lookupStatus"], 200, "{r}");
    let s = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(s.line, "POST /orders/A-17 HTTP/1.1");
    assert!(s.headers.contains(&("x-order".into(), "A-17".into())), "{s:?}");
    let sent: Value = serde_json::from_str(&s.body).unwrap();
    assert_eq!(sent, json!({"order": "A-17", "quantity": 6, "tags": ["urgent", "Ann"]}));
    let all = slack.all_messages();
    assert_eq!(all.len(), before + 1, "one message: {all:?}");
    assert_eq!(all.last().unwrap().text, "Order A-17 for Ann is shipped");

    // Camunda 8: outputs only (the result variable stays local, as in Camunda), dotted targets.
    let r = settled(&api, &start_as(addr, &token, "camunda8_http_outputs", data.clone()));
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["data"]["orderState"], "shipped", "{r}");
    assert_eq!(r["data"]["lookup"], json!({"status": 200, "source": "camunda8"}), "{r}");
    assert!(r["data"].get("raw").is_none(), "{r}");
    assert_eq!(seen.lock().unwrap().last().unwrap().line, "GET /orders/A-17 HTTP/1.1");
    assert_eq!(slack.all_messages().last().unwrap().text, "Order A-17 is shipped");

    // ProcessMaker: `_request` and `_user` in `pm:config`; never stored in the data.
    let id = start_as(addr, &token, "processmaker_magic_variables", json!({"stubUrl": stub_url}));
    let r = settled(&api, &id);
    assert_eq!(r["status"], "completed", "{r}");
    let s = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(s.line, format!("POST /requests/{id} HTTP/1.1"));
    let sent: Value = serde_json::from_str(&s.body).unwrap();
    assert_eq!(
        sent,
        json!({"name": "Purchase request", "process": "processmaker_magic_variables", "by": "ann",
            "email": "ann@example.com"})
    );
    assert!(r["data"].get("_request").is_none() && r["data"].get("_user").is_none(), "{r}");

    // ProcessMaker: a form task (`pm:screenRef`) waits for the requester (`pm:assignment`), whose
    // form data the next task's `pm:config` uses.
    let id = start_as(addr, &token, "processmaker_form_task", json!({"stubUrl": stub_url}));
    let task = waiting_task(addr, &auth, &id);
    assert_eq!((task["element_id"].as_str(), task["assignee"].as_str()), (Some("node_2"), Some("ann")), "{task}");
    assert!(task["due"].is_string(), "pm:dueIn gives a due date: {task}");
    let (status, r) = api.get(&format!("/api/v1/requests/{id}")).unwrap();
    assert_eq!((status, r["status"].as_str()), (200, Some("active")), "the form task waits: {r}");
    complete(addr, &auth, &task, json!({"decision": "approved"}));
    let r = settled(&api, &id);
    assert_eq!(r["status"], "completed", "{r}");
    let s = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(s.line, format!("POST /decisions/{id} HTTP/1.1"));
    let sent: Value = serde_json::from_str(&s.body).unwrap();
    assert_eq!(sent, json!({"decision": "approved", "by": "ann"}));

    // bpmn-js as it comes (demo.bpmn.io): a user task, a gateway with a `tFormalExpression`
    // condition and a default flow, a plain task.
    for (amount, end) in [(500, "Event_0j6mq1v"), (20, "Event_1n3qg2w")] {
        let id = start_as(addr, &token, "bpmnjs_plain", json!({"amount": amount}));
        let task = waiting_task(addr, &auth, &id);
        assert_eq!(task["element_id"], "Activity_0x1kq2d", "{task}");
        complete(addr, &auth, &task, json!({}));
        let r = settled(&api, &id);
        assert_eq!(r["status"], "completed", "{r}");
        let (status, events) = api.get(&format!("/api/v1/requests/{id}/events?limit=100")).unwrap();
        assert_eq!(status, 200, "{events}");
        let ended: Vec<&str> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["element_id"].as_str())
            .filter(|e| e.starts_with("Event_"))
            .collect();
        assert_eq!(ended.first(), Some(&end), "amount {amount} ends at {end} alone: {events}");
        assert!(ended.iter().all(|e| *e == end), "amount {amount} ends at {end} alone: {events}");
    }
}

/// The one open task of Request `id`, as the holder of `auth` sees it.
fn waiting_task(addr: SocketAddr, auth: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, text) = http(addr, Some(auth), "GET", &format!("/api/v1/tasks?request={id}"), None, b"").unwrap();
        assert_eq!(status, 200, "{text}");
        let tasks: Value = serde_json::from_str(&text).unwrap();
        if let Some(task) = tasks["tasks"].as_array().unwrap().first() {
            return task.clone();
        }
        assert!(Instant::now() < deadline, "no task for Request {id}: {tasks}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Completes `task` with `data` as the holder of `auth`.
fn complete(addr: SocketAddr, auth: &str, task: &Value, data: Value) {
    let path = format!("/api/v1/tasks/{}/complete", task["id"].as_str().unwrap());
    let body = json!({"data": data}).to_string();
    let (status, text) = http(addr, Some(auth), "POST", &path, Some("application/json"), body.as_bytes()).unwrap();
    assert_eq!(status, 200, "{text}");
}

async fn fake_slack() -> FakeSlack {
    let config = fake::Config { post_interval: Duration::from_millis(10), ..fake::Config::default() };
    FakeSlack::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compat_models_run_unchanged_on_sqlite() {
    let slack = fake_slack().await;
    tokio::task::block_in_place(|| run("compat-sqlite", &Db::sqlite("compat-sqlite"), &slack));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compat_models_run_unchanged_on_postgres() {
    let slack = fake_slack().await;
    tokio::task::block_in_place(|| {
        let Some(db) = Db::postgres("compat::compat_models_run_unchanged_on_postgres") else { return };
        run("compat-postgres", &db, &slack);
    });
}
