//! Slack notifications end to end: the real `sluice serve` binary with its Slack client pointed at
//! the fake Slack Web API. A process's notification settings send `request_started`,
//! `task_waiting` (with Approve and Reject buttons) and `request_completed` to different channels;
//! a click on Approve, signed as Slack signs it, completes the task and the message is updated to
//! say who decided; a channel the bot cannot post to leaves `notification_failed` with the fix in
//! the Request's history without harming the Request. `python_sdk_signatures_are_accepted_and_bad_ones_refused`
//! signs the interactions with Slack's own Python SDK (`tests/python/slack_signatures.py`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sluice_fake_slack::{self as fake, FakeSlack, Message};
use sluice_tests::server::{self, Spawned, free_port};
use sluice_tests::{bpmn, scratch_dir};

const TOKEN: &str = "notify-test-token-0123456789";
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const PUBLIC_URL: &str = "http://sluice.example";

/// `purchase` and `quiet`: start → user task → end; `failing`: a Slack Notification to a private
/// channel the bot is not in.
fn model() -> String {
    use bpmn::{chain, end, start, user_task};
    bpmn::definitions(&[
        chain(
            "purchase",
            Some("Purchase &amp; pay"),
            &["f1", "f2"],
            &[start("start"), user_task("review", "Review order"), end("end")],
        ),
        chain("quiet", Some("Quiet"), &["q1", "q2"], &[start("qstart"), user_task("check", "Check"), end("qend")]),
        chain(
            "failing",
            Some("Failing"),
            &["g1", "g2"],
            &[
                start("fstart"),
                bpmn::slack_task("tell", Some("Tell the hidden channel"), "G0HIDDEN", "Hello", &[]),
                end("fend"),
            ],
        ),
    ])
}

/// A running `sluice serve`; killed when dropped.
struct Server {
    _serve: Spawned,
    addr: SocketAddr,
}

impl Server {
    fn start(slack_api_url: &str) -> Server {
        Server::start_with(slack_api_url, fake::DEFAULT_TOKEN, None)
    }

    /// `sluice serve` with `bot_token` as `SLACK_BOT_TOKEN`, its log in `log` when given.
    fn start_with(slack_api_url: &str, bot_token: &str, log: Option<&Path>) -> Server {
        let dir = scratch_dir("notify");
        let addr = free_port();
        let mut cmd = server::serve_command(&dir, addr, TOKEN);
        cmd.env("SLACK_API_URL", slack_api_url)
            .env("SLACK_BOT_TOKEN", bot_token)
            .env("SLACK_SIGNING_SECRET", SIGNING_SECRET);
        if let Some(path) = log {
            cmd.stderr(std::fs::File::create(path).expect("cannot create the log file"));
        }
        Server { _serve: Spawned::start(&mut cmd, addr), addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn call(&self, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
        let a = http(self.addr, method, path, headers, body);
        (a.status, serde_json::from_str(&a.body).unwrap_or(Value::String(a.body)))
    }

    /// PUT of a process's notification settings: the status, the `Retry-After` header, the body.
    fn put_settings(&self, key: &str, settings: &Value) -> (u16, Option<String>, Value) {
        let headers = [("Authorization", format!("Bearer {TOKEN}")), ("Content-Type", "application/json".to_string())];
        let path = format!("/api/v1/processes/{key}/notifications");
        let a = http(self.addr, "PUT", &path, &headers, settings.to_string().as_bytes());
        let body = serde_json::from_str(&a.body).unwrap_or(Value::String(a.body));
        (a.status, a.headers.get("retry-after").cloned(), body)
    }

    fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut headers = vec![("Authorization", format!("Bearer {TOKEN}"))];
        let body = match body {
            Some(b) => {
                headers.push(("Content-Type", "application/json".into()));
                b.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        self.call(method, path, &headers, &body)
    }

    fn deploy(&self, xml: &str) {
        let headers = [("Authorization", format!("Bearer {TOKEN}")), ("Content-Type", "application/xml".into())];
        let (status, body) = self.call("POST", "/api/v1/processes", &headers, xml.as_bytes());
        assert_eq!(status, 201, "{body}");
    }

    fn start_request(&self, key: &str) -> String {
        let (status, r) = self.api("POST", &format!("/api/v1/processes/{key}/requests"), Some(json!({"data": {}})));
        assert_eq!(status, 201, "{r}");
        r["id"].as_str().unwrap().to_string()
    }

    fn request(&self, id: &str) -> Value {
        let (status, r) = self.api("GET", &format!("/api/v1/requests/{id}"), None);
        assert_eq!(status, 200, "{r}");
        r
    }

    fn events(&self, id: &str) -> Vec<Value> {
        let (status, r) = self.api("GET", &format!("/api/v1/requests/{id}/events"), None);
        assert_eq!(status, 200, "{r}");
        r["events"].as_array().unwrap().clone()
    }

    /// Sends a Slack interactivity request for `payload`, signed with `secret` at `timestamp`.
    fn interact(&self, payload: &Value, secret: &str, timestamp: i64) -> (u16, Value) {
        let body = form_body(payload);
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded".to_string()),
            ("X-Slack-Request-Timestamp", timestamp.to_string()),
            ("X-Slack-Signature", sign(secret, timestamp, body.as_bytes())),
        ];
        self.call("POST", "/api/v1/slack/interactions", &headers, body.as_bytes())
    }
}

/// One HTTP/1.1 exchange (see `sluice_tests::server::exchange`).
fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> server::Answer {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    server::must_exchange(addr, method, path, &headers, body)
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Slack's v0 signature, computed as Slack documents it.
fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// `payload=<JSON>`, form-encoded as Slack sends it.
fn form_body(payload: &Value) -> String {
    let mut out = String::from("payload=");
    for b in payload.to_string().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The `block_actions` payload Slack sends when `user` clicks the button `action_id` of `message`.
fn click(slack: &FakeSlack, message: &Message, action_id: &str, user: &str) -> Value {
    let value = button(message, action_id);
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "alice", "name": "alice", "team_id": fake::DEFAULT_TEAM_ID},
        "api_app_id": "A0SLUICE",
        "team": {"id": fake::DEFAULT_TEAM_ID, "domain": "sluice-test"},
        "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel, "is_ephemeral": false},
        "channel": {"id": message.channel, "name": "sales"},
        "message": {"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks},
        "response_url": slack.response_url(user),
        "trigger_id": "1.2.3",
        "actions": [{"action_id": action_id, "block_id": "sluice_decision", "value": value, "type": "button", "action_ts": "1.0"}],
    })
}

fn button(message: &Message, action_id: &str) -> String {
    let blocks = message.blocks.as_ref().and_then(Value::as_array).expect("the message has blocks");
    let actions = blocks.iter().find(|b| b["type"] == "actions").expect("the message has buttons");
    let b = actions["elements"].as_array().unwrap().iter().find(|e| e["action_id"] == action_id).unwrap();
    b["value"].as_str().unwrap().to_string()
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn slack() -> (tokio::runtime::Runtime, FakeSlack) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config = fake::Config { post_interval: Duration::from_millis(10), ..fake::Config::default() };
    let slack = rt.block_on(FakeSlack::start(config)).unwrap();
    (rt, slack)
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn text_of(m: &Message) -> String {
    let blocks = m.blocks.as_ref().map(Value::to_string).unwrap_or_default();
    format!("{} {blocks}", m.text)
}

#[test]
fn settings_are_validated_when_saved() {
    let (_rt, slack) = slack();
    let server = Server::start(&slack.api_url());
    server.deploy(&model());
    let put = |key: &str, body: Value| server.api("PUT", &format!("/api/v1/processes/{key}/notifications"), Some(body));

    let (status, body) =
        put("purchase", json!({"integration": "default", "events": {"request_started": ["C0GENERAL"]}}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"]["request_started"], json!(["C0GENERAL"]));
    assert_eq!(body["events"]["task_waiting"], json!([]));
    let (status, got) = server.api("GET", "/api/v1/processes/purchase/notifications", None);
    assert_eq!((status, &got["integration"]), (200, &json!("default")), "{got}");

    let check = |key: &str, body: Value, status: u16, code: &str, mentions: &str| {
        let (s, answer) = put(key, body.clone());
        assert_eq!(s, status, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{message:?} should mention {mentions:?}");
    };
    let too_many: Vec<String> = (0..21).map(|i| format!("C{i:04}")).collect();
    check("purchase", json!({"integration": "sales"}), 422, "invalid_notification_settings", "integration `sales`");
    check("purchase", json!({"integration": " "}), 422, "invalid_notification_settings", "integration");
    check(
        "purchase",
        json!({"integration": "default", "events": {"request_started": ["#sales"]}}),
        422,
        "invalid_notification_settings",
        "`#sales` is not a Slack channel id",
    );
    check(
        "purchase",
        json!({"integration": "default", "events": {"request_started": too_many}}),
        422,
        "invalid_notification_settings",
        "at most 20",
    );
    check(
        "purchase",
        json!({"integration": "default", "events": {"request_finished": ["C0GENERAL"]}}),
        422,
        "invalid_notification_settings",
        "unknown event `request_finished`",
    );
    check(
        "purchase",
        json!({"integration": "default", "events": {"task_waiting": ["C0SALES", "C0SALES"]}}),
        422,
        "invalid_notification_settings",
        "listed twice",
    );
    check("nowhere", json!({"integration": "default"}), 404, "process_not_found", "nowhere");
    let (status, body) = put("purchase", json!({"integration": "default", "extra": 1}));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
    assert_eq!(body["error"]["field"], "extra", "{body}");
    // Without the token: 401.
    let (status, _) = server.call("PUT", "/api/v1/processes/purchase/notifications", &[], b"{}");
    assert_eq!(status, 401);
}

#[test]
fn channels_are_checked_with_slack_when_settings_are_saved() {
    let (_rt, slack) = slack();
    let server = Server::start(&slack.api_url());
    server.deploy(&model());
    let settings = |channels: &[&str]| json!({"integration": "default", "events": {"task_waiting": channels}});
    let refused = |channels: &[&str], field: &str, mentions: &[&str]| {
        let (status, _, body) = server.put_settings("purchase", &settings(channels));
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_notification_settings")), "{body}");
        let problems = body["error"]["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1, "{body}");
        assert_eq!(problems[0]["field"], field, "{body}");
        let message = problems[0]["message"].as_str().unwrap();
        for part in mentions {
            assert!(message.contains(part), "{message:?} should mention {part:?}");
        }
    };
    let saved =
        || server.api("GET", "/api/v1/processes/purchase/notifications", None).1["events"]["task_waiting"].clone();

    // A public channel the bot is in, and one it is not in (the app has chat:write.public).
    let (status, _, body) = server.put_settings("purchase", &settings(&["C0SALES", "C0RANDOM"]));
    assert_eq!(status, 200, "{body}");
    // An unknown channel, named by its field.
    refused(&["C0SALES", "C0NOWHERE"], "events.task_waiting[1]", &["`C0NOWHERE`", "/invite", "check the id"]);
    // A private channel without the bot looks the same to Slack: the fix says to invite the bot.
    refused(&["G0HIDDEN"], "events.task_waiting[0]", &["`G0HIDDEN`", "invite the bot with /invite"]);
    // An archived channel.
    refused(&["C0OLD"], "events.task_waiting[0]", &["`C0OLD` (#old) is archived", "unarchive it"]);
    assert_eq!(saved(), json!(["C0SALES", "C0RANDOM"]), "refused settings are not saved");
    // Once the bot is invited, the private channel is accepted.
    slack.set_member("G0HIDDEN", true);
    let (status, _, body) = server.put_settings("purchase", &settings(&["G0HIDDEN"]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(saved(), json!(["G0HIDDEN"]));
    // Each channel is asked about once, however many events list it.
    let before = slack.calls("conversations.info");
    let both = json!({"integration": "default", "events": {"request_started": ["C0SALES"], "task_waiting": ["C0SALES", "G0SECRET"]}});
    let (status, _, body) = server.put_settings("purchase", &both);
    assert_eq!(status, 200, "{body}");
    assert_eq!(slack.calls("conversations.info") - before, 2);

    // Slack rate limiting or failing: 503 with Retry-After, and nothing is saved unchecked.
    slack.fail_next("conversations.info", 1, fake::Failure::RateLimited { retry_after_secs: 7 });
    let (status, retry_after, body) = server.put_settings("purchase", &settings(&["C0RANDOM"]));
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("slack_unavailable")), "{body}");
    assert_eq!(retry_after.as_deref(), Some("7"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("rate limiting"), "{body}");
    slack.fail_next("conversations.info", 1, fake::Failure::Status(502));
    let (status, retry_after, body) = server.put_settings("purchase", &settings(&["C0RANDOM"]));
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("slack_unavailable")), "{body}");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)), "{body}");
    assert_eq!(saved(), json!(["C0SALES", "G0SECRET"]));
    // A token Slack refuses is the integration's problem, not the channel's.
    slack.fail_next("conversations.info", 1, fake::Failure::Error("token_revoked".into()));
    let (status, _, body) = server.put_settings("purchase", &settings(&["C0RANDOM"]));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["problems"][0]["field"], "integration", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("must be reconnected"), "{body}");
}

/// A token with the scopes an OAuth install asks for (no history scopes).
const NO_HISTORY_TOKEN: &str = "xoxb-fake-no-history";

#[test]
fn a_notification_whose_answer_was_lost_is_found_not_posted_again() {
    let (_rt, slack) = slack();
    let server = Server::start(&slack.api_url());
    server.deploy(&model());
    for (key, channel) in [("purchase", "C0GENERAL"), ("quiet", "C0SALES")] {
        let settings = json!({"integration": "default", "events": {"request_started": [channel]}});
        let (status, _, body) = server.put_settings(key, &settings);
        assert_eq!(status, 200, "{body}");
    }
    let sent_once = |id: &str| {
        let events = wait_for("notification_sent", || {
            let events = server.events(id);
            (!of_kind(&events, "notification_sent").is_empty()).then_some(events)
        });
        assert!(of_kind(&events, "notification_failed").is_empty(), "{events:?}");
        let sent = of_kind(&events, "notification_sent");
        assert_eq!(sent.len(), 1, "{events:?}");
        sent[0].clone()
    };

    // Slack stores the post, then a proxy answers 500; the look right after fails too (503), so
    // the job goes back to the outbox. Attempt 2 finds the post and does not post again.
    slack.fail_next("chat.postMessage", 1, fake::Failure::StatusAfterAccept(500));
    slack.fail_next("conversations.history", 1, fake::Failure::Status(503));
    let id = server.start_request("purchase");
    let sent = sent_once(&id);
    let messages = slack.messages("C0GENERAL");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!((sent["ts"].as_str(), sent["attempts"].as_i64()), (Some(messages[0].ts.as_str()), Some(2)), "{sent}");
    assert_eq!(slack.calls("chat.postMessage"), 1, "the retry found the post");
    assert_eq!(slack.calls("conversations.history"), 2);
    let key = &messages[0].metadata.as_ref().unwrap()["event_payload"]["key"];
    // Request, event, channel and the notification job's id.
    let key = key.as_str().unwrap_or_default();
    let job = key.strip_prefix(&format!("{id}/request_started/C0GENERAL/")).unwrap_or_default();
    assert!(job.len() == 36 && job.matches('-').count() == 4, "{key}");

    // The connection drops after Slack stored the post: the look right after finds it.
    slack.fail_next("chat.postMessage", 1, fake::Failure::DropAfterAccept);
    let id = server.start_request("quiet");
    let sent = sent_once(&id);
    let messages = slack.messages("C0SALES");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!((sent["ts"].as_str(), sent["attempts"].as_i64()), (Some(messages[0].ts.as_str()), Some(1)), "{sent}");
    assert_eq!(slack.calls("chat.postMessage"), 2);
}

#[test]
fn without_history_scopes_a_lost_answer_is_posted_again_and_the_log_says_so() {
    let (_rt, slack) = slack();
    let scopes = ["chat:write", "chat:write.public", "channels:read", "groups:read"];
    slack.add_token(fake::DEFAULT_TEAM_ID, NO_HISTORY_TOKEN, &scopes);
    let log = scratch_dir("notify-log").join("serve.log");
    let server = Server::start_with(&slack.api_url(), NO_HISTORY_TOKEN, Some(&log));
    server.deploy(&model());
    let settings = json!({"integration": "default", "events": {"request_started": ["C0GENERAL"]}});
    let (status, _, body) = server.put_settings("purchase", &settings);
    assert_eq!(status, 200, "{body}");

    slack.fail_next("chat.postMessage", 1, fake::Failure::StatusAfterAccept(500));
    let id = server.start_request("purchase");
    let sent = wait_for("notification_sent", || {
        let events = server.events(&id);
        of_kind(&events, "notification_sent").first().map(|e| (*e).clone())
    });
    // Slack cannot be asked (missing_scope), so at-least-once wins: a second post.
    let messages = slack.messages("C0GENERAL");
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!((sent["ts"].as_str(), sent["attempts"].as_i64()), (Some(messages[1].ts.as_str()), Some(2)), "{sent}");
    let logged = wait_for("the log line", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("cannot check the channel for an earlier attempt's post").then_some(text)
    });
    assert!(logged.contains("missing_scope") && logged.contains("may duplicate"), "{logged}");
}

#[test]
fn started_waiting_and_completed_messages_arrive_and_approve_in_slack_completes_the_request() {
    let (_rt, slack) = slack();
    let server = Server::start(&slack.api_url());
    server.deploy(&model());
    let settings = json!({
        "integration": "default",
        "events": {
            "request_started": ["C0GENERAL"],
            "task_waiting": ["C0SALES"],
            "request_completed": ["G0SECRET"],
            "request_error": ["C0GENERAL"],
        },
    });
    let (status, body) = server.api("PUT", "/api/v1/processes/purchase/notifications", Some(settings));
    assert_eq!(status, 200, "{body}");

    // Alice decides: an operator, linked to her Slack user by an admin.
    let alice = json!({"username": "alice", "name": "Alice", "email": "alice@example.com", "roles": ["operator"],
                       "groups": [], "slack_user_ids": {"default": "U0ALICE"}});
    let (status, body) = server.api("POST", "/api/v1/users", Some(alice));
    assert_eq!(status, 201, "{body}");

    let id = server.start_request("purchase");
    let url = format!("{PUBLIC_URL}/requests/{id}");
    let started = wait_for("the request_started message", || slack.messages("C0GENERAL").pop());
    let waiting = wait_for("the task_waiting message", || slack.messages("C0SALES").pop());
    assert!(text_of(&started).contains("Request started") && text_of(&started).contains(&url), "{started:?}");
    // Data from the model is escaped for mrkdwn.
    assert!(text_of(&started).contains("Purchase &amp; pay"), "{started:?}");
    assert!(text_of(&waiting).contains("Review order") && text_of(&waiting).contains(&url), "{waiting:?}");
    assert!(!waiting.text.is_empty(), "a text fallback goes with the blocks");
    assert!(slack.messages("G0SECRET").is_empty(), "completed too early");

    let task = wait_for("the active task", || {
        let (_, tasks) = server.api("GET", &format!("/api/v1/tasks?request={id}&status=active"), None);
        tasks["tasks"].as_array().and_then(|t| t.first()).map(|t| t["id"].as_str().unwrap().to_string())
    });

    // Forgeries complete nothing: a wrong signature (401), an altered button (400), a button of
    // this message pointed at another task (400).
    let approve = click(&slack, &waiting, "sluice_approve", "U0ALICE");
    let (status, body) = server.interact(&approve, "not-the-secret", now_secs());
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{body}");
    let mut flipped = approve.clone();
    flipped["actions"][0]["value"] = json!(button(&waiting, "sluice_reject").replacen(".r.", ".a.", 1));
    let (status, body) = server.interact(&flipped, SIGNING_SECRET, now_secs());
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_action")), "{body}");
    let mut elsewhere = approve.clone();
    elsewhere["actions"][0]["value"] = json!(button(&waiting, "sluice_approve").replacen(&task, &id, 1));
    let (status, _) = server.interact(&elsewhere, SIGNING_SECRET, now_secs());
    assert_eq!(status, 400);
    assert_eq!(server.request(&id)["status"], "active");

    // Approve. (How long Slack waits for the answer is printed, not asserted.)
    let clicked = Instant::now();
    let (status, body) = server.interact(&approve, SIGNING_SECRET, now_secs());
    eprintln!("figure: the Approve click was answered in {:?}", clicked.elapsed());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response_type"], "ephemeral");
    let done = wait_for("the Request to complete", || {
        let r = server.request(&id);
        (r["status"] == "completed").then_some(r)
    });
    assert_eq!(done["data"]["approved"], json!(true), "{done}");
    // The stable Slack user id, and the name people recognise.
    assert_eq!(done["data"]["approved_by"], json!("U0ALICE"), "{done}");
    assert_eq!(done["data"]["approved_by_name"], json!("alice"), "{done}");
    assert_eq!(done["data"]["approved_by_user"], json!("alice"), "the Sluice user: {done}");
    let completed = wait_for("the request_completed message", || slack.messages("G0SECRET").pop());
    assert!(text_of(&completed).contains("Request completed") && text_of(&completed).contains(&url));

    // The waiting message now says who decided and has no buttons left.
    let updated = wait_for("the decided message", || slack.messages("C0SALES").pop().filter(|m| m.edited));
    let shown = text_of(&updated);
    assert!(shown.contains("Approved") && shown.contains("by <@U0ALICE>"), "{shown}");
    assert!(updated.text.contains("approved by <@U0ALICE>"), "the text fallback names the decider: {updated:?}");
    assert!(!shown.contains("\"actions\""), "{shown}");

    // A second click (or Reject after Approve) is answered politely and changes nothing.
    let reject = click(&slack, &waiting, "sluice_reject", "U0BOB");
    let (status, body) = server.interact(&reject, SIGNING_SECRET, now_secs());
    assert_eq!(status, 200, "{body}");
    assert!(body["text"].as_str().unwrap().contains("already decided"), "{body}");
    assert_eq!(server.request(&id)["data"]["approved"], json!(true));

    // Exactly one message per event and channel; the history says where each went.
    assert_eq!(slack.messages("C0GENERAL").len(), 1);
    assert_eq!(slack.messages("C0SALES").len(), 1);
    assert_eq!(slack.messages("G0SECRET").len(), 1);
    let events = wait_for("notification_updated in the history", || {
        let events = server.events(&id);
        (of_kind(&events, "notification_sent").len() == 3 && of_kind(&events, "notification_updated").len() == 1)
            .then_some(events)
    });
    let sent: Vec<(String, String)> = of_kind(&events, "notification_sent")
        .iter()
        .map(|e| (e["notification"].as_str().unwrap().to_string(), e["channel"].as_str().unwrap().to_string()))
        .collect();
    let expected = [("request_started", "C0GENERAL"), ("task_waiting", "C0SALES"), ("request_completed", "G0SECRET")];
    assert_eq!(sent, expected.map(|(a, b)| (a.to_string(), b.to_string())));
    let ts: Vec<&str> = of_kind(&events, "notification_sent").iter().map(|e| e["ts"].as_str().unwrap()).collect();
    assert_eq!(ts, [started.ts.as_str(), waiting.ts.as_str(), completed.ts.as_str()]);
    assert_eq!(of_kind(&events, "notification_updated")[0]["decided_by"], "U0ALICE");
    assert_eq!(of_kind(&events, "notification_updated")[0]["decided_by_name"], "alice");
    assert!(of_kind(&events, "notification_failed").is_empty(), "{events:?}");
}

#[test]
fn a_channel_the_bot_cannot_post_to_is_recorded_with_the_fix_and_the_request_goes_on() {
    let (_rt, slack) = slack();
    let server = Server::start(&slack.api_url());
    server.deploy(&model());
    // G0HIDDEN is private; the bot is in it when the settings are saved (they are checked with
    // Slack), then someone removes it: Slack answers channel_not_found to the post.
    slack.set_member("G0HIDDEN", true);
    let settings = json!({"integration": "default", "events": {"request_started": ["G0HIDDEN"], "request_completed": ["C0GENERAL"]}});
    let (status, body) = server.api("PUT", "/api/v1/processes/quiet/notifications", Some(settings));
    assert_eq!(status, 200, "{body}");
    slack.set_member("G0HIDDEN", false);
    // One 503 first: retried through the outbox, not given up.
    slack.fail_next("chat.postMessage", 1, fake::Failure::Status(503));

    let id = server.start_request("quiet");
    let failed = wait_for("notification_failed", || {
        let events = server.events(&id);
        of_kind(&events, "notification_failed").first().map(|e| (*e).clone())
    });
    assert_eq!(failed["error"], "channel_not_found", "{failed}");
    assert_eq!(failed["channel"], "G0HIDDEN");
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("invite the bot") && message.contains("G0HIDDEN"), "{message}");
    assert_eq!(failed["attempts"], 2, "the 503 was retried once: {failed}");
    // The Request is not harmed: it waits at its task, without incident.
    let r = server.request(&id);
    assert_eq!(r["status"], "active", "{r}");
    assert_eq!(r["incidents"], json!([]));

    let (_, tasks) = server.api("GET", &format!("/api/v1/tasks?request={id}&status=active"), None);
    let task = tasks["tasks"][0]["id"].as_str().unwrap().to_string();
    let (status, body) =
        server.api("POST", &format!("/api/v1/tasks/{task}/complete"), Some(json!({"data": {"ok": true}})));
    assert_eq!(status, 200, "{body}");
    wait_for("the request_completed message", || slack.messages("C0GENERAL").pop());
    assert_eq!(server.request(&id)["status"], "completed");
    assert!(slack.messages("G0HIDDEN").is_empty());

    // request_error names the element that failed and why.
    let settings = json!({"integration": "default", "events": {"request_error": ["C0RANDOM"]}});
    let (status, body) = server.api("PUT", "/api/v1/processes/failing/notifications", Some(settings));
    assert_eq!(status, 200, "{body}");
    let id = server.start_request("failing");
    let error = wait_for("the request_error message", || slack.messages("C0RANDOM").pop());
    let shown = text_of(&error);
    assert!(shown.contains("Tell the hidden channel failed"), "{shown}");
    assert!(shown.contains("invite the bot"), "the incident's message is quoted: {shown}");
    assert!(shown.contains(&format!("{PUBLIC_URL}/requests/{id}")), "{shown}");
    assert_eq!(server.request(&id)["status"], "error");
}

/// The venv `.ci/python-deps.sh` installs `slack_sdk` into.
fn venv_python() -> PathBuf {
    let cache = std::env::var_os("SLUICE_CI_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache").join("sluice-ci")
    });
    cache.join("venv").join("bin").join("python")
}

#[test]
fn python_sdk_signatures_are_accepted_and_bad_ones_refused() {
    let python = venv_python();
    let usable = Command::new(&python)
        .args(["-c", "import slack_sdk.signature"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "{} with slack_sdk is missing in CI: .ci/python-deps.sh should have installed it",
            python.display()
        );
        eprintln!("note: skipping: no {} with slack_sdk (run .ci/python-deps.sh)", python.display());
        return;
    }
    let (_rt, slack) = slack();
    let server = Server::start(&slack.api_url());
    server.deploy(&model());
    let settings = json!({"integration": "default", "events": {"task_waiting": ["C0SALES"]}});
    let (status, body) = server.api("PUT", "/api/v1/processes/purchase/notifications", Some(settings));
    assert_eq!(status, 200, "{body}");
    // The SDK's clicker is an operator linked by an admin.
    let py = json!({"username": "py", "name": "Py", "email": "py@example.com", "roles": ["operator"],
                    "groups": [], "slack_user_ids": {"default": "U0PYTHON"}});
    let (status, body) = server.api("POST", "/api/v1/users", Some(py));
    assert_eq!(status, 201, "{body}");
    let id = server.start_request("purchase");
    let waiting = wait_for("the task_waiting message", || slack.messages("C0SALES").pop());

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python").join("slack_signatures.py");
    let out = Command::new(&python)
        .arg(&script)
        .env("SLUICE_URL", server.url())
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("SLUICE_BUTTON_VALUE", button(&waiting, "sluice_approve"))
        .env("SLUICE_CHANNEL", &waiting.channel)
        .env("SLUICE_MESSAGE_TS", &waiting.ts)
        .env("SLUICE_RESPONSE_URL", slack.response_url("python"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the Python signature test failed:\n{stdout}\n{stderr}");
    for case in
        ["a changed byte -> 401", "a stale timestamp -> 401", "no X-Slack-Signature -> 401", "a v1= signature -> 401"]
    {
        assert!(stdout.contains(case), "{case} missing from:\n{stdout}");
    }
    assert!(stdout.contains("a correctly signed request -> 200"), "{stdout}");
    // The accepted request was the real click: the Request completes, approved by the SDK's user.
    let done = wait_for("the Request to complete", || {
        let r = server.request(&id);
        (r["status"] == "completed").then_some(r)
    });
    assert_eq!(done["data"]["approved_by"], "U0PYTHON", "{done}");
    assert_eq!(done["data"]["approved_by_name"], "py", "{done}");
    assert_eq!(done["data"]["approved_by_user"], "py", "{done}");
}

/// An expense whose approval is for the group `approvers`, then a confirmation assigned to
/// `alice`.
const APPROVAL_MODEL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="urn:sluice:test">
  <bpmn:process id="expense" name="Expense" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
    <bpmn:userTask id="approve" name="Approve expense" camunda:candidateGroups="approvers">
      <bpmn:documentation>Check the receipt first.</bpmn:documentation>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="confirm"/>
    <bpmn:userTask id="confirm" name="Confirm payment" camunda:assignee="alice"/>
    <bpmn:sequenceFlow id="f3" sourceRef="confirm" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// Signs an interaction body with Slack's Python SDK when the CI venv has it (always in CI),
/// else as Slack documents it.
fn sdk_sign(secret: &str, timestamp: i64, body: &str) -> String {
    let python = venv_python();
    let script = "import sys; from slack_sdk.signature import SignatureVerifier as V; \
                  print(V(sys.argv[1]).generate_signature(timestamp=sys.argv[2], body=sys.stdin.read()))";
    let out = Command::new(&python)
        .args(["-c", script, secret, &timestamp.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(body.as_bytes())?;
            child.wait_with_output()
        });
    match out {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout).unwrap().trim().to_string(),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "{} with slack_sdk is missing in CI", python.display());
            sign(secret, timestamp, body.as_bytes())
        }
    }
}

#[test]
fn only_people_allowed_to_decide_can_approve_from_slack_and_a_task_for_one_person_goes_to_them() {
    let (_rt, slack) = slack();
    // A bot that may read emails and open direct messages.
    let server = Server::start_with(&slack.api_url(), fake::DM_TOKEN, None);
    server.deploy(APPROVAL_MODEL);
    for (name, groups) in [("alice", vec!["approvers"]), ("bob", vec![])] {
        // Not linked to Slack: found by their email.
        let user = json!({"username": name, "name": name, "email": format!("{name}@example.com"),
                          "roles": ["participant"], "groups": groups});
        let (status, body) = server.api("POST", "/api/v1/users", Some(user));
        assert_eq!(status, 201, "{body}");
    }
    let settings = json!({
        "integration": "default",
        "events": {"task_waiting": ["C0SALES"]},
        "direct_message": "also",
        "templates": {"task_waiting": "Amount: *{{ amount }}* for {{ customer.name }}{{ customer.missing }}"},
    });
    let (status, body) = server.api("PUT", "/api/v1/processes/expense/notifications", Some(settings));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["direct_message"], "also", "{body}");
    let bad = json!({"integration": "default", "direct_message": "sometimes", "templates": {"nope": "x"}});
    let (status, body) = server.api("PUT", "/api/v1/processes/expense/notifications", Some(bad));
    assert_eq!(status, 422, "{body}");
    let problems = body["error"]["problems"].to_string();
    assert!(problems.contains("direct_message") && problems.contains("templates.nope"), "{body}");

    let (status, r) = server.api(
        "POST",
        "/api/v1/processes/expense/requests",
        Some(json!({"data": {"amount": 1200, "customer": {"name": "Acme <&> Co"}}})),
    );
    assert_eq!(status, 201, "{r}");
    let id = r["id"].as_str().unwrap().to_string();

    // What the approver sees: the documentation, who it is for, the process's fields, escaped.
    let waiting = wait_for("the task_waiting message", || slack.messages("C0SALES").pop());
    let shown = text_of(&waiting);
    assert!(shown.contains("Approve expense") && shown.contains("Check the receipt first."), "{shown}");
    assert!(shown.contains("*For:* group `approvers`"), "{shown}");
    assert!(shown.contains("Amount: *1200* for Acme &lt;&amp;&gt; Co"), "{shown}");
    assert!(shown.contains(&format!("{PUBLIC_URL}/requests/{id}")), "{shown}");
    assert!(slack.messages("D0ALICE").is_empty(), "a task for a group is not sent to anyone directly");

    let send = |user: &str| {
        let payload = click(&slack, &waiting, "sluice_approve", user);
        let body = form_body(&payload);
        let ts = now_secs();
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded".to_string()),
            ("X-Slack-Request-Timestamp", ts.to_string()),
            ("X-Slack-Signature", sdk_sign(SIGNING_SECRET, ts, &body)),
        ];
        server.call("POST", "/api/v1/slack/interactions", &headers, body.as_bytes())
    };
    let task_status = || {
        let (_, tasks) = server.api("GET", &format!("/api/v1/tasks?request={id}"), None);
        tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["element_id"].clone(), t["status"].clone()))
            .collect::<Vec<_>>()
    };

    // Someone Slack knows but Sluice does not, and someone Slack does not know: nothing changes,
    // they are told why (only they see it), and the attempt is in the history.
    slack.add_user(fake::DEFAULT_TEAM_ID, fake::User::new("U0EVE", "eve", "Eve", "eve@elsewhere.example"));
    for (user, says) in [("U0EVE", "no Sluice user has the email"), ("U0GHOST", "Slack does not know your account")] {
        let (status, body) = send(user);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["response_type"], "ephemeral", "{body}");
        assert!(body["text"].as_str().unwrap().contains(says), "{body}");
        let replies = wait_for("the ephemeral reply", || Some(slack.responses(user)).filter(|r| !r.is_empty()));
        assert_eq!(replies.len(), 1, "{replies:?}");
        assert_eq!(
            (replies[0]["response_type"].as_str(), replies[0]["replace_original"].as_bool()),
            (Some("ephemeral"), Some(false))
        );
        assert!(replies[0]["text"].as_str().unwrap().contains("Nothing changed"), "{replies:?}");
    }
    // Bob is linked by his email, but the task is not his to decide.
    let (status, body) = send("U0BOB");
    assert_eq!(status, 200, "{body}");
    assert!(body["text"].as_str().unwrap().contains("You (`bob`) may not decide this task"), "{body}");
    assert!(body["text"].as_str().unwrap().contains("group `approvers`"), "{body}");
    assert_eq!(task_status(), [(json!("approve"), json!("active"))]);
    let events = server.events(&id);
    let refused: Vec<(&str, Option<&str>)> = of_kind(&events, "slack_click_refused")
        .iter()
        .map(|e| (e["slack_user"].as_str().unwrap(), e["user"].as_str()))
        .collect();
    assert_eq!(refused, [("U0EVE", None), ("U0GHOST", None), ("U0BOB", Some("bob"))], "{events:?}");
    assert!(
        of_kind(&events, "slack_click_refused").iter().all(|e| e["reason"].as_str().is_some_and(|r| !r.is_empty()))
    );
    let (_, users) = server.api("GET", "/api/v1/users", None);
    let bob = users["users"].as_array().unwrap().iter().find(|u| u["username"] == "bob").unwrap().clone();
    assert_eq!(bob["slack_user_ids"], json!({"default": "U0BOB"}), "linked by email: {bob}");
    let (_, audit) = server.api("GET", "/api/v1/audit?action=slack_click_refused", None);
    assert_eq!(audit["entries"].as_array().map(Vec::len), Some(3), "{audit}");

    // Alice is a candidate (group approvers): her click claims and completes the task.
    let (status, body) = send("U0ALICE");
    assert_eq!(status, 200, "{body}");
    assert!(body["text"].as_str().unwrap().contains("Approved"), "{body}");
    wait_for("the approval to complete", || {
        task_status().contains(&(json!("approve"), json!("completed"))).then_some(())
    });
    let (_, tasks) = server.api("GET", &format!("/api/v1/tasks?request={id}&status=completed"), None);
    assert_eq!(tasks["tasks"][0]["completed_by"], "alice", "{tasks}");
    assert_eq!(server.request(&id)["data"]["approved_by_user"], "alice");

    // The confirmation is alice's alone: it goes to the channel and to her directly, mentioning her.
    let direct = wait_for("the direct message", || slack.messages("D0ALICE").pop());
    let shown = text_of(&direct);
    assert!(shown.contains("Confirm payment") && shown.contains("*Assignee:* <@U0ALICE>"), "{shown}");
    let in_channel = wait_for("the second channel message", || {
        let m = slack.messages("C0SALES");
        (m.len() == 2).then(|| m[1].clone())
    });
    assert!(text_of(&in_channel).contains("*Assignee:* <@U0ALICE>"), "{in_channel:?}");
    let events = wait_for("both notifications sent", || {
        let events = server.events(&id);
        (of_kind(&events, "notification_sent").len() == 3).then_some(events)
    });
    let mut channels: Vec<&str> =
        of_kind(&events, "notification_sent").iter().map(|e| e["channel"].as_str().unwrap()).collect();
    channels.sort_unstable();
    assert_eq!(channels, ["C0SALES", "C0SALES", "D0ALICE"], "{events:?}");
    // The approval's message says who decided, without buttons.
    let approval = slack.messages("C0SALES")[0].clone();
    let shown = text_of(&approval);
    assert!(approval.edited && shown.contains("*Approved* by <@U0ALICE>"), "{shown}");
    assert!(!shown.contains("sluice_approve"), "{shown}");

    // A task completed outside Slack (here through the API, by an operator) is shown done too,
    // in the channel and in the direct message.
    let (_, open) = server.api("GET", &format!("/api/v1/tasks?request={id}&status=active"), None);
    let confirm = open["tasks"][0]["id"].as_str().unwrap().to_string();
    let (status, body) =
        server.api("POST", &format!("/api/v1/tasks/{confirm}/complete"), Some(json!({"data": {"paid": true}})));
    assert_eq!(status, 200, "{body}");
    for channel in ["C0SALES", "D0ALICE"] {
        let done = wait_for("the completed task's message", || {
            slack.messages(channel).pop().filter(|m| m.edited && text_of(m).contains("Confirm payment"))
        });
        let shown = text_of(&done);
        assert!(shown.contains("*Completed* by `admin`") && !shown.contains("sluice_approve"), "{channel}: {shown}");
    }
    let events = wait_for("three messages updated", || {
        let events = server.events(&id);
        (of_kind(&events, "notification_updated").len() == 3).then_some(events)
    });
    let updated: Vec<(Option<&str>, Value)> = of_kind(&events, "notification_updated")
        .iter()
        .map(|e| (e["decided_by_name"].as_str(), e["approved"].clone()))
        .collect();
    assert_eq!(updated, [(Some("alice"), json!(true)), (Some("admin"), Value::Null), (Some("admin"), Value::Null)]);
}
