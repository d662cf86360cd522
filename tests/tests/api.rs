//! The HTTP API end to end: the real `sluice serve` binary on a free port with SQLite in a scratch
//! directory, its Slack connector pointed at the fake Slack Web API, driven over plain HTTP/1.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_fake_slack::{self as fake, FakeSlack};
use sluice_tests::server::{self, Spawned, free_port};
use sluice_tests::{bpmn, scratch_dir, sluice_bin, workspace};

const TOKEN: &str = "test-token-0123456789";

/// A running `sluice serve`; killed when dropped.
struct Server {
    serve: Spawned,
    addr: SocketAddr,
}

impl Server {
    fn start(name: &str, slack_api_url: Option<&str>) -> Server {
        let dir = scratch_dir(name);
        let addr = free_port();
        let mut cmd = server::serve_command(&dir, addr, TOKEN);
        cmd.env_remove("SLACK_BOT_TOKEN");
        match slack_api_url {
            Some(url) => cmd.env("SLACK_API_URL", url).env("SLACK_BOT_TOKEN", fake::DEFAULT_TOKEN),
            None => cmd.env("SLACK_API_URL", "http://127.0.0.1:9"),
        };
        Server { serve: Spawned::start(&mut cmd, addr), addr }
    }

    /// Starts a server using the fake Slack and deploys `file` of `processes/` to it, which must
    /// be new (201); the server and the answer.
    fn start_and_deploy(name: &str, slack: &FakeSlack, file: &str) -> (Server, Value) {
        let server = Server::start(name, Some(&slack.api_url()));
        let (status, body) = server.deploy(file);
        assert_eq!(status, 201, "{body}");
        (server, body)
    }

    /// Sends one request with the test token; the body parsed as JSON when it is JSON.
    fn call(&self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> (u16, Value) {
        let auth = format!("Bearer {TOKEN}");
        self.call_as(Some(&auth), method, path, content_type, body)
    }

    fn json(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(method, path, Some("application/json"), body.to_string().as_bytes())
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None, b"")
    }

    fn call_as(
        &self,
        auth: Option<&str>,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (u16, Value) {
        let (status, text) = server::http(self.addr, auth, method, path, content_type, body)
            .unwrap_or_else(|e| panic!("no answer to {method} {path}: {e}"));
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    fn deploy(&self, file: &str) -> (u16, Value) {
        let xml = std::fs::read(workspace().join("processes").join(file)).unwrap();
        self.call("POST", "/api/v1/processes", Some("application/xml"), &xml)
    }

    /// Polls the Request until `done` holds (the worker runs connector jobs in the background).
    fn wait_request(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, r) = self.get(&format!("/api/v1/requests/{id}"));
            assert_eq!(status, 200, "{r}");
            if done(&r) {
                return r;
            }
            assert!(Instant::now() < deadline, "the Request never got there: {r}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        self.serve.terminate()
    }
}

fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

fn slack() -> (tokio::runtime::Runtime, FakeSlack) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config = fake::Config { post_interval: Duration::from_millis(10), ..fake::Config::default() };
    let slack = rt.block_on(FakeSlack::start(config)).unwrap();
    (rt, slack)
}

#[test]
fn an_order_is_deployed_started_reviewed_and_announced_over_http() {
    let (_rt, slack) = slack();
    let (server, body) = Server::start_and_deploy("api-order", &slack, "order_approval.bpmn");
    assert_eq!(body, json!({"processes": [{"key": "order_approval", "version": 1, "name": "Order approval"}]}));
    let (status, again) = server.deploy("order_approval.bpmn");
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, body);

    let (status, list) = server.get("/api/v1/processes");
    assert_eq!(status, 200);
    assert_eq!(list["processes"][0]["key"], "order_approval");
    let (status, detail) = server.get("/api/v1/processes/order_approval");
    assert_eq!(status, 200);
    assert_eq!(detail["versions"].as_array().map(Vec::len), Some(1));
    assert!(detail["xml"].as_str().unwrap().contains("order_approval"));

    let data = json!({"order_id": "A-7", "customer": {"name": "Ann"}, "lines": [{"price": 600, "quantity": 2}]});
    let (status, request) = server.json("POST", "/api/v1/processes/order_approval/requests", json!({"data": data}));
    assert_eq!(status, 201, "{request}");
    for field in ["id", "process_key", "process_version", "status", "data", "tokens", "incidents", "created_at"] {
        assert!(request.get(field).is_some(), "the Request has no `{field}`: {request}");
    }
    assert_eq!(request["status"], "active");
    assert_eq!(request["completed_at"], Value::Null);
    assert_eq!(request["tokens"], json!([{"element_id": "review_order", "state": "waiting"}]));
    let id = request["id"].as_str().unwrap().to_string();

    let (status, listed) = server.get("/api/v1/requests?process=order_approval&status=active");
    assert_eq!(status, 200);
    assert_eq!(listed["requests"][0]["id"], id.as_str());

    let (status, tasks) = server.get(&format!("/api/v1/tasks?request={id}&status=active"));
    assert_eq!(status, 200, "{tasks}");
    let tasks = tasks["tasks"].as_array().unwrap().clone();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["element_id"], "review_order");
    assert_eq!(tasks[0]["request_id"], id.as_str());
    let task = tasks[0]["id"].as_str().unwrap().to_string();

    let complete = format!("/api/v1/tasks/{task}/complete");
    let (status, done) = server.json("POST", &complete, json!({"data": {"approved": true}}));
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "completed");
    let (status, twice) = server.json("POST", &complete, json!({"data": {"approved": true}}));
    assert_eq!(status, 409, "{twice}");
    assert_eq!(error_code(&twice), "task_not_active");

    let finished = server.wait_request(&id, |r| r["status"] != "active");
    assert_eq!(finished["status"], "completed", "{finished}");
    assert!(finished["completed_at"].is_string());

    let (status, events) = server.get(&format!("/api/v1/requests/{id}/events"));
    assert_eq!(status, 200);
    let events = events["events"].as_array().unwrap().clone();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"request_started"), "{types:?}");
    assert_eq!(types.last(), Some(&"request_completed"), "{types:?}");
    let at = |t: &str| types.iter().position(|x| *x == t).unwrap_or_else(|| panic!("no `{t}` in {types:?}"));
    assert!(at("task_created") < at("task_completed"));
    assert!(at("task_completed") < at("request_completed"));
    let completed: Vec<&str> =
        events.iter().filter(|e| e["type"] == "element_completed").map(|e| e["element_id"].as_str().unwrap()).collect();
    let pos = |el: &str| completed.iter().position(|x| *x == el).unwrap_or_else(|| panic!("{el} not in {completed:?}"));
    assert!(pos("compute_total") < pos("review_order"));
    assert!(pos("review_order") < pos("announce_order"));
    assert!(pos("announce_order") < pos("order_approved"));

    // Exactly one post, with the rendered text, even after the worker had time to run again.
    std::thread::sleep(Duration::from_millis(300));
    let posts = slack.all_messages();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].channel, "C0SALES");
    assert_eq!(
        posts[0].text,
        format!("New order A-7 from Ann for 1200 EUR approved. Details: http://sluice.example/requests/{id}")
    );

    let status = server.terminate();
    assert!(status.success(), "sluice serve exited with {status:?} after SIGTERM");
}

#[test]
fn errors_have_one_shape_and_the_open_endpoints_need_no_token() {
    let server = Server::start("api-errors", None);

    // Auth.
    let (status, body) = server.call_as(None, "GET", "/api/v1/processes", None, b"");
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "unauthorized");
    assert!(body["error"]["message"].is_string());
    let (status, body) = server.call_as(Some("Bearer wrong"), "GET", "/api/v1/requests", None, b"");
    assert_eq!((status, error_code(&body)), (401, "unauthorized"));
    // The scheme is case-insensitive (RFC 9110): `bearer` and `BEARER` work as `Bearer` does.
    for scheme in ["bearer", "BEARER", "beaRer"] {
        let auth = format!("{scheme} {TOKEN}");
        let (status, body) = server.call_as(Some(&auth), "GET", "/api/v1/requests", None, b"");
        assert_eq!(status, 200, "{scheme}: {body}");
    }
    let (status, body) = server.call_as(Some(&format!("Basic {TOKEN}")), "GET", "/api/v1/requests", None, b"");
    assert_eq!((status, error_code(&body)), (401, "unauthorized"), "another scheme is refused");

    // Not found.
    let (status, body) = server.json("POST", "/api/v1/processes/nope/requests", json!({"data": {}}));
    assert_eq!((status, error_code(&body)), (404, "process_not_found"), "{body}");
    let (status, body) = server.get("/api/v1/requests/01a20a24-f9a9-74e8-8fbe-9e76b2f8b724");
    assert_eq!((status, error_code(&body)), (404, "request_not_found"), "{body}");
    let (status, body) = server.get("/api/v1/nothing-here");
    assert_eq!(status, 404);
    assert!(body["error"]["code"].is_string(), "{body}");
    let (status, body) = server.call("DELETE", "/api/v1/processes", None, b"");
    assert_eq!((status, error_code(&body)), (405, "method_not_allowed"), "{body}");

    // Bad bodies.
    // An integer beyond 64 bits would be rounded to a float: refused, naming the field.
    let body = br#"{"data": {"n": 123456789012345678901234567890, "s": "123456789012345678901234567890"}}"#;
    let (status, body) = server.call("POST", "/api/v1/processes/nope/requests", Some("application/json"), body);
    assert_eq!((status, error_code(&body)), (400, "invalid_json"), "{body}");
    assert_eq!(body["error"]["field"], "data.n", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("64 bits"), "{body}");
    let broken =
        br#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:t">
  <bpmn:process id="broken" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="missing"/>
  </bpmn:process>
</bpmn:definitions>"#;
    let (status, body) = server.call("POST", "/api/v1/processes", Some("application/xml"), broken);
    assert_eq!((status, error_code(&body)), (422, "invalid_bpmn"), "{body}");
    let diagnostics = body["error"]["diagnostics"].as_array().unwrap();
    assert!(!diagnostics.is_empty());
    for d in diagnostics {
        assert!(d["line"].is_u64() && d["column"].is_u64() && d["message"].is_string(), "{d}");
        assert!(d.get("element").is_some(), "{d}");
    }
    assert!(diagnostics.iter().any(|d| d["element"] == "f1" && d["line"] == 4), "{diagnostics:?}");
    let doctype = br#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"/>"#;
    let (status, body) = server.call("POST", "/api/v1/processes", Some("application/xml"), doctype);
    assert_eq!((status, error_code(&body)), (422, "invalid_bpmn"), "{body}");
    let (status, body) = server.call("POST", "/api/v1/processes", Some("text/plain"), broken);
    assert_eq!((status, error_code(&body)), (415, "unsupported_media_type"), "{body}");

    // Connector tasks are checked against the connectors' input schemas at deploy time.
    let connector_task = |implementation: &str, inputs: &str| {
        format!(
            r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:t">
  <bpmn:process id="notify" isExecutable="true">
    <bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="send"/>
    <bpmn:serviceTask id="send" implementation="{implementation}"><bpmn:extensionElements>{inputs}</bpmn:extensionElements></bpmn:serviceTask>
  </bpmn:process>
</bpmn:definitions>"#
        )
    };
    for (implementation, inputs, says) in [
        ("fax", r##"<sluice:input name="number" value="1"/>"##, "no connector `fax`"),
        (
            "slack-notification",
            r##"<sluice:input name="channel" value="#sales"/>"##,
            "missing required input `message`",
        ),
        (
            "http",
            r##"<sluice:input name="url" value="http://x"/><sluice:input name="timeout_seconds" value="soon"/>"##,
            "timeout_seconds",
        ),
    ] {
        let xml = connector_task(implementation, inputs);
        let (status, body) = server.call("POST", "/api/v1/processes", Some("application/xml"), xml.as_bytes());
        assert_eq!((status, error_code(&body)), (422, "invalid_bpmn"), "{implementation}: {body}");
        let d = &body["error"]["diagnostics"][0];
        assert_eq!(d["element"], "send", "{body}");
        assert!(d["message"].as_str().unwrap_or_default().contains(says), "{implementation}: {body}");
    }

    let (status, _) = server.deploy("order_approval.bpmn");
    assert_eq!(status, 201);
    let (status, body) = server.json("POST", "/api/v1/processes/order_approval/requests", json!({"data": 5}));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("data"), "{body}");
    let (status, body) =
        server.call("POST", "/api/v1/processes/order_approval/requests", Some("application/json"), b"{\"data\": ");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["code"].is_string());
    let big = vec![b' '; 11 * 1024 * 1024];
    let (status, body) = server.call("POST", "/api/v1/processes", Some("application/xml"), &big);
    assert_eq!((status, error_code(&body)), (413, "payload_too_large"), "{body}");
    let (status, body) = server.get("/api/v1/requests?cursor=garbage");
    assert_eq!(status, 400, "{body}");

    // The open endpoints.
    let (status, _) = server.call_as(None, "GET", "/healthz", None, b"");
    assert_eq!(status, 200);
    let (status, metrics) = server.call_as(None, "GET", "/metrics", None, b"");
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap();
    for name in [
        "sluice_http_requests_total",
        "sluice_http_request_duration_seconds_bucket",
        "sluice_requests_active",
        "sluice_jobs_due",
        "sluice_requests_with_open_incidents",
    ] {
        assert!(metrics.contains(name), "/metrics has no {name}:\n{metrics}");
    }
    let (status, doc) = server.call_as(None, "GET", "/api/v1/openapi.json", None, b"");
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with('3')), Some(true));
    let routes = [
        ("post", "/api/v1/processes"),
        ("get", "/api/v1/processes"),
        ("get", "/api/v1/processes/{key}"),
        ("post", "/api/v1/processes/{key}/requests"),
        ("get", "/api/v1/requests"),
        ("get", "/api/v1/requests/{id}"),
        ("get", "/api/v1/requests/{id}/events"),
        ("post", "/api/v1/requests/{id}/cancel"),
        ("post", "/api/v1/requests/{id}/retry"),
        ("get", "/api/v1/tasks"),
        ("post", "/api/v1/tasks/{id}/complete"),
        ("post", "/api/v1/messages"),
        ("get", "/api/v1/connectors"),
        ("get", "/api/v1/openapi.json"),
        ("get", "/healthz"),
        ("get", "/metrics"),
    ];
    for (method, path) in routes {
        assert!(doc["paths"][path][method].is_object(), "openapi.json lacks {method} {path}");
    }

    let (status, connectors) = server.get("/api/v1/connectors");
    assert_eq!(status, 200);
    let types: Vec<&str> =
        connectors["connectors"].as_array().unwrap().iter().filter_map(|c| c["type"].as_str()).collect();
    assert!(types.contains(&"slack-notification") && types.contains(&"http"), "{types:?}");
    assert!(connectors["connectors"][0]["inputs_schema"].is_object());

    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

/// A billing API that accepts every call with `{}`.
fn billing_api() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_ok(stream));
        }
    });
    addr
}

fn answer_ok(mut stream: TcpStream) {
    if server::read_request(&mut stream).is_some() {
        server::answer_json(&mut stream, "{}");
    }
}

#[test]
fn a_published_message_reaches_the_waiting_invoice() {
    let (_rt, slack) = slack();
    let (server, _) = Server::start_and_deploy("api-messages", &slack, "invoice_payment.bpmn");
    let billing = format!("http://{}", billing_api());
    let data = json!({
        "invoice_id": "INV-1", "billing_api": billing, "amount": 120, "currency": "EUR",
        "customer": {"name": "Bob", "email": "bob@example.com"},
    });
    let (status, request) = server.json("POST", "/api/v1/processes/invoice_payment/requests", json!({"data": data}));
    assert_eq!(status, 201, "{request}");
    let id = request["id"].as_str().unwrap().to_string();
    let at_payment =
        |r: &Value| r["tokens"].as_array().unwrap().iter().any(|t| t["element_id"] == "payment_or_timeout");
    server.wait_request(&id, at_payment);

    let (status, other) = server.json(
        "POST",
        "/api/v1/messages",
        json!({"name": "payment_received", "correlation_key": "INV-2", "data": {}}),
    );
    assert_eq!(status, 200, "{other}");
    assert_eq!(other["requests"], json!([]));

    let message = json!({"name": "payment_received", "correlation_key": "INV-1",
        "data": {"paid_amount": 120, "payment_reference": "R-1"}});
    let (status, reached) = server.json("POST", "/api/v1/messages", message);
    assert_eq!(status, 200, "{reached}");
    let reached = reached["requests"].as_array().unwrap();
    assert_eq!(reached.len(), 1);
    assert_eq!(reached[0]["id"], id.as_str());
    assert_eq!(reached[0]["data"]["payment_reference"], "R-1");
    assert!(!at_payment(&reached[0]), "{}", reached[0]);

    let (_, events) = server.get(&format!("/api/v1/requests/{id}/events"));
    let events = events["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["type"] == "message_received"), "{events:?}");

    // The fake Slack has no #finance: the post fails into an incident (`error`); cancel ends it.
    let held = server.wait_request(&id, |r| r["status"] != "active");
    assert_eq!(held["status"], "error", "{held}");
    assert_eq!(held["incidents"][0]["element_id"], "notify_finance_paid");
    let (status, canceled) = server.call("POST", &format!("/api/v1/requests/{id}/cancel"), None, b"");
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["status"], "canceled");
}

/// A listener waiting for the signal `go`, and a process started by it.
const SIGNAL_MODELS: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:t">
  <bpmn:signal id="s_go" name="go"/>
  <bpmn:process id="listener" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="hear"/>
    <bpmn:intermediateCatchEvent id="hear"><bpmn:signalEventDefinition signalRef="s_go"/></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="hear" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
  <bpmn:process id="on_go" isExecutable="true">
    <bpmn:startEvent id="go_start"><bpmn:signalEventDefinition signalRef="s_go"/></bpmn:startEvent>
    <bpmn:sequenceFlow id="g1" sourceRef="go_start" targetRef="go_end"/>
    <bpmn:endEvent id="go_end"/>
  </bpmn:process>
</bpmn:definitions>"#;

#[test]
fn a_signal_from_outside_reaches_waiting_requests_and_starts_processes() {
    let server = Server::start("api-signals", None);
    let (status, body) = server.call("POST", "/api/v1/processes", Some("application/xml"), SIGNAL_MODELS.as_bytes());
    assert_eq!(status, 201, "{body}");
    let (status, request) = server.json("POST", "/api/v1/processes/listener/requests", json!({"data": {}}));
    assert_eq!(status, 201, "{request}");
    let id = request["id"].as_str().unwrap().to_string();
    assert_eq!(request["status"], "active", "{request}");

    // Without a name (as every body missing a field), or with an empty one: 400 in the uniform
    // shape, nothing reached.
    let (status, body) = server.json("POST", "/api/v1/signals", json!({"data": {}}));
    assert_eq!((status, error_code(&body)), (400, "invalid_json"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("name"), "{body}");
    let (status, body) = server.json("POST", "/api/v1/signals", json!({"name": " "}));
    assert_eq!((status, error_code(&body)), (400, "bad_request"), "{body}");
    assert_eq!(body["error"]["field"], "name", "{body}");
    // Without the token: 401.
    let (status, body) =
        server.call_as(None, "POST", "/api/v1/signals", Some("application/json"), br#"{"name": "go"}"#);
    assert_eq!((status, error_code(&body)), (401, "unauthorized"), "{body}");
    // A signal nobody waits for reaches nothing.
    let (status, body) = server.json("POST", "/api/v1/signals", json!({"name": "stop"}));
    assert_eq!((status, &body), (200, &json!({"started": [], "stepped": []})));

    let (status, reached) = server.json("POST", "/api/v1/signals", json!({"name": "go", "data": {"loud": true}}));
    assert_eq!(status, 200, "{reached}");
    assert_eq!(reached["stepped"], json!([id]), "{reached}");
    let started = reached["started"].as_array().unwrap();
    assert_eq!(started.len(), 1, "{reached}");
    let listener = server.wait_request(&id, |r| r["status"] == "completed");
    assert_eq!(listener["data"]["loud"], true, "{listener}");
    let on_go = server.wait_request(started[0].as_str().unwrap(), |r| r["status"] == "completed");
    assert_eq!((on_go["process_key"].as_str(), &on_go["data"]["loud"]), (Some("on_go"), &json!(true)), "{on_go}");
}

#[test]
fn a_timer_cycle_start_event_starts_requests_on_the_server() {
    let xml = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:t">
  <bpmn:process id="ticker" isExecutable="true">
    <bpmn:startEvent id="tick"><bpmn:timerEventDefinition><bpmn:timeCycle>R3/PT1S</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="tick" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;
    let server = Server::start("api-timer-starts", None);
    let (status, body) = server.call("POST", "/api/v1/processes", Some("application/xml"), xml.as_bytes());
    assert_eq!(status, 201, "{body}");
    // The same XML again: no new version, no second schedule.
    let (status, body) = server.call("POST", "/api/v1/processes", Some("application/xml"), xml.as_bytes());
    assert_eq!(status, 200, "{body}");
    let count = || {
        let (status, page) = server.get("/api/v1/requests?process=ticker&limit=100");
        assert_eq!(status, 200, "{page}");
        page["requests"].as_array().unwrap().len()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while count() < 3 {
        assert!(Instant::now() < deadline, "the timer start did not start three Requests");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Three repetitions, and no more.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(count(), 3);
}

#[test]
fn serve_refuses_to_start_with_an_invalid_model() {
    let dir = scratch_dir("api-invalid-models");
    std::fs::write(dir.join("bad.bpmn"), "<not-bpmn/>").unwrap();
    let out = Command::new(sluice_bin())
        .arg("serve")
        .env("SLUICE_LISTEN", free_port().to_string())
        .env("SLUICE_DATABASE_URL", format!("sqlite://{}", dir.join("sluice.db").display()))
        .env("SLUICE_PROCESSES", &dir)
        .env("SLUICE_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.bpmn"), "{out:?}");
}

/// A minimal BPMN file: start → user task → end, under the given process id.
fn one_task_process(id: &str) -> String {
    bpmn::one_task(id, Some("One task"), bpmn::user_task("work", "Work"))
}

#[test]
fn every_endpoint_answers_its_error_paths_over_http() {
    let server = Server::start("api-error-paths", None);
    let unknown = "01a20a24-f9a9-74e8-8fbe-9e76b2f8b724";

    // 401 on every secured route, with and without a token, before anything else is looked at.
    let secured = [
        ("POST", "/api/v1/processes".to_string()),
        ("GET", "/api/v1/processes".to_string()),
        ("GET", "/api/v1/processes/any".to_string()),
        ("POST", "/api/v1/processes/any/requests".to_string()),
        ("GET", "/api/v1/requests".to_string()),
        ("GET", format!("/api/v1/requests/{unknown}")),
        ("GET", format!("/api/v1/requests/{unknown}/events")),
        ("POST", format!("/api/v1/requests/{unknown}/cancel")),
        ("POST", format!("/api/v1/requests/{unknown}/retry")),
        ("GET", "/api/v1/tasks".to_string()),
        ("POST", format!("/api/v1/tasks/{unknown}/complete")),
        ("POST", "/api/v1/messages".to_string()),
        ("GET", "/api/v1/connectors".to_string()),
    ];
    for (method, path) in &secured {
        for auth in [None, Some("Bearer not-the-token"), Some(TOKEN)] {
            let (status, body) = server.call_as(auth, method, path, Some("application/json"), b"{}");
            assert_eq!((status, error_code(&body)), (401, "unauthorized"), "{method} {path} with {auth:?}: {body}");
        }
    }

    // 404 for every kind of unknown thing.
    for (method, path, code) in [
        ("GET", "/api/v1/processes/nope".to_string(), "process_not_found"),
        ("POST", "/api/v1/processes/nope/requests".to_string(), "process_not_found"),
        ("GET", format!("/api/v1/requests/{unknown}"), "request_not_found"),
        ("GET", "/api/v1/requests/not-a-uuid".to_string(), "request_not_found"),
        ("GET", format!("/api/v1/requests/{unknown}/events"), "request_not_found"),
        ("POST", format!("/api/v1/requests/{unknown}/cancel"), "request_not_found"),
        ("POST", format!("/api/v1/requests/{unknown}/retry"), "request_not_found"),
        ("POST", format!("/api/v1/tasks/{unknown}/complete"), "task_not_found"),
        ("POST", "/api/v1/tasks/not-a-uuid/complete".to_string(), "task_not_found"),
    ] {
        let (status, body) = server.call(method, &path, None, b"");
        assert_eq!((status, error_code(&body)), (404, code), "{method} {path}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }

    let (status, body) =
        server.call("POST", "/api/v1/processes", Some("application/xml"), one_task_process("one_task").as_bytes());
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.json("POST", "/api/v1/processes/one_task/requests", json!({"version": 2}));
    assert_eq!((status, error_code(&body)), (404, "process_not_found"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("version 2"), "{body}");

    // 400: malformed JSON, a type error naming the field, a body that is not an object, nesting
    // past the parser's limit, bad queries.
    let start = "/api/v1/processes/one_task/requests";
    for (body, field) in [
        (&br#"{"data": "#[..], json!("data")),
        (&br#"{"data": [1, 2]}"#[..], json!("data")),
        (&br#"{"data": {}, "version": "two"}"#[..], json!("version")),
        (&b"[]"[..], Value::Null),
        (&b"42"[..], Value::Null),
    ] {
        let (status, answer) = server.call("POST", start, Some("application/json"), body);
        assert_eq!((status, error_code(&answer)), (400, "invalid_json"), "{}: {answer}", String::from_utf8_lossy(body));
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let deep = format!("{{\"data\": {{\"x\": {}{}}}}}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, answer) = server.call("POST", start, Some("application/json"), deep.as_bytes());
    assert_eq!((status, error_code(&answer)), (400, "invalid_json"), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("recursion limit"), "{answer}");
    let (status, answer) = server.json("POST", "/api/v1/messages", json!({"name": 7}));
    assert_eq!((status, answer["error"]["field"].as_str()), (400, Some("name")), "{answer}");
    let (status, answer) = server.json("POST", "/api/v1/messages", json!({"data": {}}));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("name"), "{answer}");
    let (status, answer) = server.call("POST", start, Some("text/plain"), br#"{"data": {}}"#);
    assert_eq!((status, error_code(&answer)), (415, "unsupported_media_type"), "{answer}");
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("limit=-1", "limit"),
        ("status=sleeping", "status"),
    ] {
        let (status, answer) = server.get(&format!("/api/v1/requests?{query}"));
        assert_eq!((status, answer["error"]["field"].as_str()), (400, Some(field)), "{query}: {answer}");
    }
    for cursor in ["garbage", "123.not-a-uuid", "x.01a20a24-f9a9-74e8-8fbe-9e76b2f8b724"] {
        let (status, answer) = server.get(&format!("/api/v1/requests?cursor={cursor}"));
        assert_eq!((status, error_code(&answer)), (400, "invalid_cursor"), "{cursor}: {answer}");
    }
    for (query, field) in [("request=nope", "request"), ("status=done", "status")] {
        let (status, answer) = server.get(&format!("/api/v1/tasks?{query}"));
        assert_eq!((status, answer["error"]["field"].as_str()), (400, Some(field)), "{query}: {answer}");
    }

    // 413 on a JSON body too.
    let mut big = b"{\"data\": {\"x\": \"".to_vec();
    big.resize(BODY_LIMIT_PLUS, b'a');
    big.extend_from_slice(b"\"}}");
    let (status, answer) = server.call("POST", start, Some("application/json"), &big);
    assert_eq!((status, error_code(&answer)), (413, "payload_too_large"), "{answer}");

    // 409: a task completed twice, a Request canceled twice.
    let (status, request) = server.json("POST", start, json!({"data": {"n": 1}}));
    assert_eq!(status, 201, "{request}");
    let id = request["id"].as_str().unwrap().to_string();
    let (_, tasks) = server.get(&format!("/api/v1/tasks?request={id}&status=active"));
    let task = tasks["tasks"][0]["id"].as_str().unwrap().to_string();
    let complete = format!("/api/v1/tasks/{task}/complete");
    let (status, body) = server.call("POST", &complete, None, b"");
    assert_eq!((status, body["status"].as_str()), (200, Some("completed")), "{body}");
    let (status, body) = server.json("POST", &complete, json!({"data": {}}));
    assert_eq!((status, error_code(&body)), (409, "task_not_active"), "{body}");
    // Nothing to retry: the Request as it is.
    let done = server.wait_request(&id, |r| r["status"] == "completed");
    let (status, body) = server.call("POST", &format!("/api/v1/requests/{id}/retry"), None, b"");
    assert_eq!((status, &body), (200, &done), "{body}");
    let (status, other) = server.json("POST", start, json!({}));
    assert_eq!(status, 201, "{other}");
    let cancel = format!("/api/v1/requests/{}/cancel", other["id"].as_str().unwrap());
    let (status, body) = server.call("POST", &cancel, None, b"");
    assert_eq!((status, body["status"].as_str()), (200, Some("canceled")), "{body}");
    let (status, body) = server.call("POST", &cancel, None, b"");
    assert_eq!((status, error_code(&body)), (409, "request_not_active"), "{body}");

    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

const BODY_LIMIT_PLUS: usize = 10 * 1024 * 1024 + 1;

#[test]
fn a_page_of_whole_requests_stays_within_its_data_budget() {
    let server = Server::start("api-budget", None);
    let (status, body) =
        server.call("POST", "/api/v1/processes", Some("application/xml"), one_task_process("big").as_bytes());
    assert_eq!(status, 201, "{body}");
    // Five Requests of about 3 MB of data each (in the data and again in the state).
    let text = "x".repeat(3 << 20);
    for i in 0..5 {
        let (status, r) =
            server.json("POST", "/api/v1/processes/big/requests", json!({"data": {"i": i, "text": text}}));
        assert_eq!(status, 201, "{}", r["error"]);
    }
    // Summaries: all five on one small page.
    let (status, page) = server.get("/api/v1/requests?process=big&limit=200");
    assert_eq!(status, 200);
    assert!(page.to_string().len() < 10_000, "{} bytes", page.to_string().len());
    assert_eq!(page["requests"].as_array().unwrap().len(), 5);
    // Whole Requests: about 6 MB each, so one per page within the 8 MiB budget, and the cursor
    // goes on from there until every one was shown once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let (status, page) = server.get(&format!("/api/v1/requests?process=big&include=data&limit=200{cursor}"));
        assert_eq!(status, 200);
        let requests = page["requests"].as_array().unwrap();
        assert_eq!(requests.len(), 1, "one Request fits the budget");
        assert_eq!(requests[0]["data"]["text"].as_str().map(str::len), Some(3 << 20));
        seen.push(requests[0]["data"]["i"].as_i64().unwrap());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![4, 3, 2, 1, 0]);
}

#[test]
fn pages_of_requests_walk_every_request_once_newest_first() {
    let server = Server::start("api-pages", None);
    for key in ["paged_a", "paged_b"] {
        let (status, body) =
            server.call("POST", "/api/v1/processes", Some("application/xml"), one_task_process(key).as_bytes());
        assert_eq!(status, 201, "{body}");
    }
    let mut started = Vec::new();
    for i in 0..11 {
        let key = if i % 3 == 0 { "paged_b" } else { "paged_a" };
        let (status, r) = server.json("POST", &format!("/api/v1/processes/{key}/requests"), json!({"data": {"i": i}}));
        assert_eq!(status, 201, "{r}");
        started.push((key, r["id"].as_str().unwrap().to_string()));
    }

    let walk = |filter: &str, limit: usize| -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let mut path = format!("/api/v1/requests?limit={limit}{filter}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (status, page) = server.get(&path);
            assert_eq!(status, 200, "{path}: {page}");
            let requests = page["requests"].as_array().unwrap();
            assert!(requests.len() <= limit, "{page}");
            all.extend(requests.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => {
                    assert_eq!(requests.len(), limit, "a page before the last is full: {page}");
                    cursor = Some(c.to_string());
                }
                None => return all,
            }
        }
        panic!("the pages never ended");
    };

    let newest_first: Vec<String> = started.iter().rev().map(|(_, id)| id.clone()).collect();
    for limit in [1, 3, 4, 11, 50] {
        let all = walk("", limit);
        let ids: Vec<String> = all.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
        assert_eq!(ids, newest_first, "limit {limit}");
        // The listing shows summaries: no data, tokens or incidents.
        assert!(all.iter().all(|r| r.get("data").is_none() && r.get("tokens").is_none()), "{all:?}");
        assert!(all.iter().all(|r| r["status"] == "active" && r["process_version"] == 1), "{all:?}");
    }
    // `include=data`: whole Requests, tokens included.
    let all = walk("&include=data", 4);
    assert_eq!(all.len(), 11);
    assert!(all.iter().all(|r| r["tokens"] == json!([{"element_id": "work", "state": "waiting"}])), "{all:?}");
    assert!(all.iter().all(|r| r["data"]["i"].is_number()), "{all:?}");
    let (status, body) = server.get("/api/v1/requests?include=everything");
    assert_eq!(status, 400, "{body}");
    let b: Vec<String> = started.iter().rev().filter(|(k, _)| *k == "paged_b").map(|(_, id)| id.clone()).collect();
    let walked: Vec<String> =
        walk("&process=paged_b&status=active", 2).iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(walked, b);
    assert!(walk("&status=completed", 5).is_empty());
    // An empty cursor is the first page.
    let (status, page) = server.get("/api/v1/requests?limit=2&cursor=");
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["requests"][0]["id"], newest_first[0].as_str());
}

/// A client that connects and sends its headers too slowly (holding a connection open) is cut off
/// after the header timeout, while other clients are served meanwhile.
#[test]
fn a_client_that_sends_its_headers_too_slowly_is_cut_off() {
    let dir = scratch_dir("slow-client");
    let config = server::ServeConfig {
        database_url: format!("sqlite://{}", dir.join("sluice.db").display()),
        log_dir: dir.clone(),
        env: vec![("SLUICE_HEADER_TIMEOUT_SECS".into(), "1".into())],
        address_space: None,
    };
    let serve = server::Serve::start(&config, "slow-client");
    let started = Instant::now();
    let mut slow = TcpStream::connect(serve.addr).unwrap();
    // The request line and one header, and then nothing: the headers never end.
    slow.write_all(b"POST /api/v1/processes HTTP/1.1\r\nHost: sluice\r\n").unwrap();
    let (status, _) = serve.api().get("/healthz").unwrap();
    assert_eq!(status, 200, "another client is served meanwhile");
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = Vec::new();
    let closed = slow.read_to_end(&mut answer);
    let waited = started.elapsed();
    assert!(closed.is_ok(), "the server never closed the connection: {closed:?}");
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(5), "closed after {waited:?}");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    // A client that keeps its connection open between requests gets the same limit for its next
    // request's headers; one that sends in time is served.
    let (status, _) = serve.api().get("/healthz").unwrap();
    assert_eq!(status, 200);
    assert!(serve.terminate().success(), "SIGTERM ends sluice with exit 0");
}

/// Sends raw bytes on a fresh connection and reads until the server closes it (or 10 s pass).
fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before it read everything: a failed write is fine.
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status and the JSON body of the last answer in `raw`.
fn last_answer(raw: &str) -> (u16, Value) {
    let start = raw.rfind("HTTP/1.1 ").unwrap_or_else(|| panic!("no answer: {raw:?}"));
    let answer = &raw[start..];
    let status = answer[9..12].parse().unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no end of head: {answer:?}"));
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}")))
}

/// The answers hyper writes before the router sees a request (headers too large, not HTTP) carry
/// the uniform error body too, also after an earlier request on the same connection.
#[test]
fn requests_that_cannot_be_read_get_the_error_shape() {
    let server = Server::start("api-unreadable", None);
    let huge = "x".repeat(100 * 1024);
    let oversized = format!("GET /healthz HTTP/1.1\r\nHost: sluice\r\nX-Big: {huge}\r\n\r\n");
    let (status, body) = last_answer(&raw_exchange(server.addr, oversized.as_bytes()));
    assert_eq!((status, error_code(&body)), (431, "headers_too_large"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("too large"), "{body}");

    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let too_many = format!("GET /healthz HTTP/1.1\r\nHost: sluice\r\n{many}\r\n");
    let (status, body) = last_answer(&raw_exchange(server.addr, too_many.as_bytes()));
    assert_eq!((status, error_code(&body)), (431, "headers_too_large"), "{body}");

    let (status, body) = last_answer(&raw_exchange(server.addr, b"NOT HTTP AT ALL\r\n\r\n"));
    assert_eq!((status, error_code(&body)), (400, "bad_request"), "{body}");

    // A kept-alive connection: the first request is answered as usual, the second is too large.
    let mut both = format!("GET /api/v1/requests HTTP/1.1\r\nHost: sluice\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    both.push_str(&oversized);
    let raw = raw_exchange(server.addr, both.as_bytes());
    assert!(raw.starts_with("HTTP/1.1 200 "), "{raw}");
    assert_eq!(raw.matches("HTTP/1.1 ").count(), 2, "{raw}");
    let (status, body) = last_answer(&raw);
    assert_eq!((status, error_code(&body)), (431, "headers_too_large"), "{body}");

    // Headers within the limit are served.
    let (status, _) = server.get("/healthz");
    assert_eq!(status, 200);
}

#[test]
fn task_lists_and_histories_are_paginated_oldest_first() {
    let server = Server::start("api-task-pages", None);
    let (status, body) =
        server.call("POST", "/api/v1/processes", Some("application/xml"), one_task_process("tasks").as_bytes());
    assert_eq!(status, 201, "{body}");
    let mut started = Vec::new();
    for i in 0..5 {
        let (status, r) = server.json("POST", "/api/v1/processes/tasks/requests", json!({"data": {"i": i}}));
        assert_eq!(status, 201, "{r}");
        started.push(r["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let (status, page) = server.get(&format!("/api/v1/tasks?status=active&limit=2{cursor}"));
        assert_eq!(status, 200, "{page}");
        let tasks = page["tasks"].as_array().unwrap();
        assert!(tasks.len() <= 2, "{page}");
        seen.extend(tasks.iter().map(|t| t["request_id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, started, "every task once, oldest first");
    let (status, page) = server.get("/api/v1/tasks");
    assert_eq!((status, page["tasks"].as_array().unwrap().len(), &page["next_cursor"]), (200, 5, &Value::Null));
    let (status, body) = server.get("/api/v1/tasks?cursor=garbage");
    assert_eq!((status, error_code(&body)), (400, "invalid_cursor"), "{body}");
    let (status, body) = server.get("/api/v1/tasks?limit=0");
    assert_eq!(status, 400, "{body}");

    // A history is paged the same way: one event a page gives the whole history, in order.
    let events = format!("/api/v1/requests/{}/events", started[0]);
    let (status, whole) = server.get(&events);
    assert_eq!((status, &whole["next_cursor"]), (200, &Value::Null), "{whole}");
    let whole = whole["events"].as_array().unwrap().clone();
    assert!(whole.len() >= 3, "{whole:?}");
    let mut paged = Vec::new();
    let mut cursor = String::new();
    for _ in 0..=whole.len() {
        let (status, page) = server.get(&format!("{events}?limit=1{cursor}"));
        assert_eq!(status, 200, "{page}");
        paged.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, whole);
    let (status, body) = server.get(&format!("{events}?cursor=nonsense"));
    assert_eq!((status, error_code(&body)), (400, "invalid_cursor"), "{body}");
}

/// A chain of `n` plain tasks: a model whose import takes a while.
fn long_chain(key: &str, n: usize) -> String {
    let mut body = String::with_capacity(n * 80);
    body.push_str(r#"<bpmn:startEvent id="t0"/>"#);
    for i in 1..=n {
        body.push_str(&format!(
            r#"<bpmn:task id="t{i}"/><bpmn:sequenceFlow id="f{i}" sourceRef="t{}" targetRef="t{i}"/>"#,
            i - 1
        ));
    }
    bpmn::definitions(&[bpmn::process(key, None, &body)])
}

#[test]
fn a_request_answered_408_did_nothing() {
    // A one-second limit, and a deploy whose import takes longer than that.
    let dir = scratch_dir("api-408");
    let addr = free_port();
    let mut cmd = server::serve_command(&dir, addr, TOKEN);
    cmd.env("SLUICE_REQUEST_TIMEOUT_SECS", "1").env("SLACK_API_URL", "http://127.0.0.1:9");
    let server = Server { serve: Spawned::start(&mut cmd, addr), addr };
    let xml = long_chain("slow", 60_000);
    let started = Instant::now();
    let (status, body) = server.call("POST", "/api/v1/processes", Some("application/xml"), xml.as_bytes());
    let took = started.elapsed();
    if status == 201 {
        // A machine fast enough to import it within the second: stored, as answered.
        eprintln!("the deploy took {took:?}: within the limit on this machine");
        assert_eq!(server.get("/api/v1/processes/slow").0, 200);
        return;
    }
    assert_eq!(status, 408, "{body}");
    assert_eq!(error_code(&body), "request_timeout", "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("nothing was done"), "{body}");
    // The import went on in the background for a while: it must not store the model when done.
    std::thread::sleep(took.max(Duration::from_secs(1)) * 10);
    let (status, body) = server.get("/api/v1/processes/slow");
    assert_eq!(status, 404, "a deploy answered 408 was stored: {body}");
    // The server is fine, and a small deploy goes through.
    let (status, body) =
        server.call("POST", "/api/v1/processes", Some("application/xml"), long_chain("quick", 3).as_bytes());
    assert_eq!(status, 201, "{body}");
    drop(server.serve);
}
