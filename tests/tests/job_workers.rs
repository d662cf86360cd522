//! Job workers end to end over HTTP with the real binary, on SQLite and on PostgreSQL (issue 17):
//! service tasks of types no connector runs (Camunda 8 `zeebe:taskDefinition`, Camunda 7
//! `camunda:topic`, Sluice `implementation`) become jobs that the Python example worker
//! (`examples/workers/worker.py`, several processes) and a Rust client activate and finish.
//!
//! - a type that is neither a connector nor in `SLUICE_JOB_TYPES` is refused at deploy;
//! - a `worker` user takes only the types its groups name;
//! - two Python workers complete Requests, their data merged into the Requests';
//! - a Python worker SIGKILLed in the middle of a job: the job is taken again after its lock and
//!   the task completes exactly once;
//! - a completion with a key whose lock was taken over is 409 `job_lock_lost`, the newer one wins;
//! - a BPMN error thrown by a worker is caught by the boundary event;
//! - failures count the retries down to an incident, and `retry` makes a new job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::db::Db;
use sluice_tests::server::{Serve, ServeConfig, TOKEN, must_exchange};

const MODELS: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    id="d" targetNamespace="urn:jobs">
  <bpmn:error id="badError" errorCode="bad"/>
  <bpmn:process id="greeting" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="greet"/>
    <bpmn:serviceTask id="greet" name="Greet">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="greet"/>
        <zeebe:taskHeaders><zeebe:header key="tone" value="warm"/></zeebe:taskHeaders>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:boundaryEvent id="caught" attachedToRef="greet">
      <bpmn:errorEventDefinition errorRef="badError"/>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="greet" targetRef="done"/>
    <bpmn:endEvent id="done"/>
    <bpmn:sequenceFlow id="f3" sourceRef="caught" targetRef="handled"/>
    <bpmn:endEvent id="handled"/>
  </bpmn:process>
  <bpmn:process id="camunda7" isExecutable="true">
    <bpmn:startEvent id="s7"/>
    <bpmn:sequenceFlow id="g1" sourceRef="s7" targetRef="work7"/>
    <bpmn:serviceTask id="work7" camunda:type="external" camunda:topic="rust-work"/>
    <bpmn:sequenceFlow id="g2" sourceRef="work7" targetRef="e7"/>
    <bpmn:endEvent id="e7"/>
  </bpmn:process>
</bpmn:definitions>"#;

const TYPO: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="t" targetNamespace="urn:jobs">
  <bpmn:process id="typo" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="w"/>
    <bpmn:serviceTask id="w" implementation="gret"/>
    <bpmn:sequenceFlow id="f2" sourceRef="w" targetRef="e"/>
    <bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>"#;

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
        let body = if a.body.is_empty() { Value::Null } else { a.json() };
        (a.status, body)
    }

    fn deploy(&self, xml: &str) -> (u16, String) {
        let auth = format!("Bearer {TOKEN}");
        let a = must_exchange(
            self.addr,
            "POST",
            "/api/v1/processes",
            &[("Authorization", &auth), ("Content-Type", "application/xml")],
            xml.as_bytes(),
        );
        (a.status, a.body.clone())
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

    fn start(&self, key: &str, data: Value) -> String {
        let (status, r) =
            self.call(TOKEN, "POST", &format!("/api/v1/processes/{key}/requests"), Some(json!({ "data": data })));
        assert_eq!(status, 201, "{r}");
        r["id"].as_str().unwrap().to_string()
    }

    fn request(&self, id: &str) -> Value {
        let (status, r) = self.call(TOKEN, "GET", &format!("/api/v1/requests/{id}"), None);
        assert_eq!(status, 200, "{r}");
        r
    }

    /// Waits (up to a generous bound, for a loaded machine) until the Request's status is `status`.
    fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let r = self.request(id);
            if r["status"] == status {
                return r;
            }
            assert!(Instant::now() < deadline, "Request {id} never became {status}: {r}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn events(&self, id: &str) -> Vec<Value> {
        let (status, events) = self.call(TOKEN, "GET", &format!("/api/v1/requests/{id}/events"), None);
        assert_eq!(status, 200, "{events}");
        events["events"].as_array().unwrap().clone()
    }

    fn activate(&self, token: &str, types: &[&str], worker: &str, lock_ms: u64, wait_ms: u64) -> Vec<Value> {
        let body = json!({"types": types, "worker": worker, "max_jobs": 10, "lock_ms": lock_ms, "wait_ms": wait_ms});
        let (status, jobs) = self.call(token, "POST", "/api/v1/jobs/activate", Some(body));
        assert_eq!(status, 200, "{jobs}");
        jobs["jobs"].as_array().unwrap().clone()
    }

    /// Activates until a job comes (each activation long-polls).
    fn activate_one(&self, token: &str, types: &[&str], worker: &str, lock_ms: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let jobs = self.activate(token, types, worker, lock_ms, 5_000);
            if let Some(job) = jobs.into_iter().next() {
                return job;
            }
            assert!(Instant::now() < deadline, "no job of {types:?} came");
        }
    }

    fn job(&self, token: &str, key: &str, action: &str, body: Value) -> (u16, Value) {
        self.call(token, "POST", &format!("/api/v1/jobs/{key}/{action}"), Some(body))
    }
}

/// Completions of the task `element` in a Request's history.
fn completions(events: &[Value], element: &str) -> usize {
    events.iter().filter(|e| e["type"] == "connector_completed" && e["element_id"] == element).count()
}

struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn spawn(addr: SocketAddr, token: &str, name: &str, log: PathBuf, extra: &[&str]) -> Worker {
        let script = sluice_tests::workspace().join("examples/workers/worker.py");
        let child = Command::new("python3")
            .arg(script)
            .args(["--url", &format!("http://{addr}"), "--token", token, "--worker", name, "--wait-ms", "2000"])
            .arg("--log")
            .arg(&log)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the example worker");
        Worker { child, log }
    }

    fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(name: &str, db: &Db) {
    let env = vec![("SLUICE_JOB_TYPES".to_string(), "greet,rust-work".to_string())];
    let config = ServeConfig { database_url: db.url(), log_dir: db.log_dir(name), env, address_space: None };
    let serve = Serve::start(&config, name);
    let c = Client { addr: serve.addr };
    let dir = sluice_tests::scratch_dir(name);

    // A type that is neither a connector nor allowed is refused, naming what is known.
    let (status, body) = c.deploy(TYPO);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("gret") && body.contains("SLUICE_JOB_TYPES allows `greet`, `rust-work`"), "{body}");
    let (status, body) = c.deploy(MODELS);
    assert_eq!(status, 201, "{body}");

    // Workers take the types their groups name.
    let greeter = c.user("greeter", &["worker"], &["jobs:greet"]);
    let nobody = c.user("nobody", &["worker"], &[]);
    let (status, refused) = c.call(
        &greeter,
        "POST",
        "/api/v1/jobs/activate",
        Some(json!({"types": ["rust-work"], "worker": "w", "max_jobs": 1, "lock_ms": 1000})),
    );
    assert_eq!(status, 403, "{refused}");
    let (status, _) = c.call(
        &nobody,
        "POST",
        "/api/v1/jobs/activate",
        Some(json!({"types": ["greet"], "worker": "w", "max_jobs": 1, "lock_ms": 1000})),
    );
    assert_eq!(status, 403);
    // A worker calls nothing but the job routes.
    let (status, _) = c.call(&greeter, "GET", "/api/v1/requests", None);
    assert_eq!(status, 403);
    // Bad bodies are refused with the uniform error.
    let (status, bad) = c.call(
        TOKEN,
        "POST",
        "/api/v1/jobs/activate",
        Some(json!({"types": ["greet"], "worker": "w", "max_jobs": 0, "lock_ms": 1000})),
    );
    assert_eq!((status, bad["error"]["code"].as_str()), (422, Some("invalid_input")), "{bad}");
    let (status, bad) = c.call(
        TOKEN,
        "POST",
        "/api/v1/jobs/activate",
        Some(json!({"types": ["greet"], "worker": "w", "max_jobs": 1, "lock_ms": 1000, "colour": 1})),
    );
    assert_eq!(status, 400, "{bad}");
    let (status, bad) = c.job(TOKEN, "not-a-key", "complete", json!({}));
    assert_eq!((status, bad["error"]["code"].as_str()), (404, Some("job_not_found")), "{bad}");

    // A worker killed in the middle of a job: the job comes back after its lock.
    let slow = c.start("greeting", json!({"name": "Slow", "sleep_ms": 4000}));
    let doomed = Worker::spawn(c.addr, &greeter, "doomed", dir.join("doomed.log"), &["--lock-ms", "2000"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !doomed.lines().iter().any(|l| l["event"] == "activated") {
        assert!(Instant::now() < deadline, "the doomed worker never got the job");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(doomed); // SIGKILL, in the middle of its 4 s of work
    assert_eq!(c.request(&slow)["status"], "active");

    // Two Python workers take it all from here.
    let logs = [dir.join("a.log"), dir.join("b.log")];
    let workers: Vec<Worker> = logs
        .iter()
        .enumerate()
        .map(|(i, log)| Worker::spawn(c.addr, &greeter, &format!("py-{i}"), log.clone(), &["--lock-ms", "10000"]))
        .collect();
    let mut greeted = Vec::new();
    for i in 0..6 {
        greeted.push((i, c.start("greeting", json!({"name": format!("n{i}")}))));
    }
    let caught = c.start("greeting", json!({"name": "Err", "error_code": "bad"}));
    let failing = c.start("greeting", json!({"name": "Fail", "fail": true}));

    let done = c.wait_status(&slow, "completed");
    assert_eq!(done["data"]["greeting"], "Hello, Slow!", "{done}");
    assert_eq!(completions(&c.events(&slow), "greet"), 1, "the slow job completed once");
    for (i, id) in &greeted {
        let r = c.wait_status(id, "completed");
        assert_eq!(r["data"]["greeting"], format!("Hello, n{i}!"), "{r}");
        let events = c.events(id);
        assert_eq!(completions(&events, "greet"), 1);
        assert!(events.iter().any(|e| e["element_id"] == "done"), "{events:?}");
    }
    // The BPMN error went to the boundary event.
    c.wait_status(&caught, "completed");
    let events = c.events(&caught);
    assert!(events.iter().any(|e| e["element_id"] == "handled"), "{events:?}");
    assert!(!events.iter().any(|e| e["element_id"] == "done"), "{events:?}");
    // Failures count down the retries (3 → 2 → 1 → 0), then an incident.
    let r = c.wait_status(&failing, "error");
    let incident = &r["incidents"][0];
    assert_eq!(incident["element_id"], "greet", "{r}");
    assert!(incident["message"].as_str().unwrap().contains("the greeting service is down"), "{r}");
    let finished: Vec<Value> = workers.iter().flat_map(Worker::lines).collect();
    let fails = finished.iter().filter(|l| l["event"] == "fail" && l["request"] == failing.as_str()).count();
    assert_eq!(fails, 3, "{finished:?}");
    // Every job both workers finished was accepted: none of them raced another worker.
    assert!(finished.iter().filter(|l| l["event"] != "activated").all(|l| l["status"] == 204), "{finished:?}");
    drop(workers);

    // The Rust client: a Camunda 7 external task, a lock taken over, failures, retry.
    let id = c.start("camunda7", json!({"n": 1}));
    let first = c.activate_one(TOKEN, &["rust-work"], "rust-a", 300);
    assert_eq!(first["request_id"], id.as_str(), "{first}");
    assert_eq!(first["type"], "rust-work");
    assert_eq!(first["element_id"], "work7");
    assert_eq!(first["data"], json!({"n": 1}));
    assert_eq!(first["retries"], 3);
    // Its lock runs out and another worker takes it.
    let second = c.activate_one(TOKEN, &["rust-work"], "rust-b", 60_000);
    assert_eq!(second["request_id"], id.as_str());
    assert_ne!(first["id"], second["id"]);
    let (status, lost) = c.job(TOKEN, first["id"].as_str().unwrap(), "complete", json!({"data": {"by": "a"}}));
    assert_eq!((status, lost["error"]["code"].as_str()), (409, Some("job_lock_lost")), "{lost}");
    let (status, lost) = c.job(TOKEN, first["id"].as_str().unwrap(), "extend", json!({"lock_ms": 1000}));
    assert_eq!(status, 409, "{lost}");
    let key = second["id"].as_str().unwrap();
    let (status, _) = c.job(TOKEN, key, "extend", json!({"lock_ms": 60_000}));
    assert_eq!(status, 204);
    // Fails with retries left: back after its back-off, one retry fewer.
    let (status, body) = c.job(TOKEN, key, "fail", json!({"message": "flaky", "retries": 1, "retry_after_ms": 100}));
    assert_eq!(status, 204, "{body}");
    // Let go, the job is no longer that activation's to complete.
    let (status, lost) = c.job(TOKEN, key, "complete", json!({"data": {}}));
    assert_eq!((status, lost["error"]["code"].as_str()), (409, Some("job_lock_lost")), "{lost}");
    let third = c.activate_one(TOKEN, &["rust-work"], "rust-b", 60_000);
    assert_eq!(third["retries"], 1, "{third}");
    let (status, _) = c.job(TOKEN, third["id"].as_str().unwrap(), "fail", json!({"message": "down", "retries": 0}));
    assert_eq!(status, 204);
    let r = c.wait_status(&id, "error");
    assert!(r["incidents"][0]["message"].as_str().unwrap().contains("down"), "{r}");
    // The finished key is gone.
    let (status, _) = c.job(TOKEN, third["id"].as_str().unwrap(), "complete", json!({}));
    assert_eq!(status, 404);
    // Retry: a new job with its retries again; completing it finishes the Request, once.
    let (status, body) = c.call(TOKEN, "POST", &format!("/api/v1/requests/{id}/retry"), Some(json!({})));
    assert!(status == 200 || status == 204, "{status} {body}");
    let fourth = c.activate_one(TOKEN, &["rust-work"], "rust-b", 60_000);
    assert_eq!(fourth["retries"], 3, "{fourth}");
    let (status, _) = c.job(TOKEN, fourth["id"].as_str().unwrap(), "complete", json!({"data": {"by": "b"}}));
    assert_eq!(status, 204);
    let r = c.wait_status(&id, "completed");
    assert_eq!(r["data"]["by"], "b", "{r}");
    assert_eq!(completions(&c.events(&id), "work7"), 1);
    let (status, _) = c.job(TOKEN, second["id"].as_str().unwrap(), "complete", json!({}));
    assert_eq!(status, 404, "a finished job takes no second completion");
}

#[test]
fn job_workers_over_http_on_sqlite() {
    let name = "job-workers-sqlite";
    run(name, &Db::sqlite(name));
}

#[test]
fn job_workers_over_http_on_postgres() {
    let Some(db) = Db::postgres("job_workers::job_workers_over_http_on_postgres") else {
        return;
    };
    run("job-workers-postgres", &db);
}
