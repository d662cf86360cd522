//! Camunda 8 models made with Camunda's Slack connector template (`processes/compat/`) run
//! unchanged: by the real `sluice run` and by `sluice serve` over HTTP, against the fake Slack Web
//! API on 127.0.0.1. The token is `{{secrets.SLACK_OAUTH_TOKEN}}`: an environment variable in a dry
//! run, a stored secret (`PUT /api/v1/secrets/…`) in the server. Also: a token written in the
//! model and an unsupported method are refused at deploy and by `sluice check`, naming the line;
//! an unknown secret is an incident naming it; secret values appear in no answer, audit entry,
//! history, database file or log line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_fake_slack::{self as fake, FakeSlack, Message};
use sluice_tests::server::{self, Api, Spawned, free_port};
use sluice_tests::{scratch_dir, scratch_file, sluice_bin, workspace};

/// A token the fake knows that may also open direct messages; stored as the secret.
const SECRET_VALUE: &str = fake::DM_TOKEN;

fn compat(name: &str) -> PathBuf {
    workspace().join("processes/compat").join(format!("{name}.bpmn"))
}

/// Each compat model, the data it starts with, and what must be posted: (channel, text).
fn cases() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    vec![
        ("camunda_slack_channel_id", json!({}), "C0SALES", "A new order arrived"),
        ("camunda_slack_channel_name", json!({}), "C0SALES", "The weekly report is ready"),
        (
            "camunda_slack_user_email",
            json!({"requester": {"email": "alice@example.com"}, "request_title": "Laptop"}),
            "D0ALICE",
            "Your request Laptop was approved",
        ),
        (
            "camunda_slack_feel_message",
            json!({"order_id": "A-17", "customer": {"name": "<!channel> & co"}, "lines": [1, 2]}),
            "C0SALES",
            // Data placed by FEEL is escaped as a template's is; the expression's text is not.
            "New order A-17 from &lt;!channel&gt; &amp; co (2 lines)",
        ),
        ("camunda_slack_block_kit", json!({}), "C0GENERAL", "Deployment finished: billing 2.4.1"),
        ("camunda_slack_result_gateway", json!({"incident_id": "INC-9"}), "C0GENERAL", "Incident INC-9 needs an owner"),
    ]
}

/// What each model must leave in the Request's data.
fn check_data(name: &str, data: &Value, m: &Message) {
    match name {
        "camunda_slack_channel_id" | "camunda_slack_feel_message" => {
            assert_eq!(data["slackResult"]["channel"], m.channel.as_str(), "{data}");
            assert_eq!(data["slackResult"]["ts"], m.ts.as_str());
            assert_eq!(data["slackResult"]["message"]["ts"], m.ts.as_str());
        }
        "camunda_slack_result_gateway" => {
            assert_eq!(data["messageTs"], m.ts.as_str(), "{data}");
            assert_eq!(data["postedTo"], "C0GENERAL");
        }
        "camunda_slack_block_kit" => {
            let blocks = m.blocks.as_ref().and_then(Value::as_array).unwrap();
            assert_eq!(blocks.len(), 4, "the model's own blocks: {blocks:?}");
            assert_eq!(blocks[0]["text"]["text"], "Deployment finished");
        }
        _ => {}
    }
}

async fn fake_slack() -> FakeSlack {
    let config = fake::Config { post_interval: Duration::from_millis(10), ..fake::Config::default() };
    FakeSlack::start(config).await.unwrap()
}

/// `sluice run FILE --data DATA` with the fake Slack and the secret in the environment.
async fn dry_run(slack: &FakeSlack, file: PathBuf, data: Value, secret: Option<&str>) -> (Option<i32>, Vec<Value>) {
    let api = slack.api_url();
    let secret = secret.map(str::to_owned);
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(sluice_bin());
        cmd.args(["run", file.to_str().unwrap(), "--data", &data.to_string()])
            .env("SLACK_API_URL", api)
            .env("SLACK_BOT_TOKEN", fake::DEFAULT_TOKEN)
            .env_remove("SLACK_OAUTH_TOKEN");
        if let Some(s) = secret {
            cmd.env("SLACK_OAUTH_TOKEN", s);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    (out.status.code(), lines)
}

#[tokio::test]
async fn every_compat_model_runs_with_sluice_run() {
    let slack = fake_slack().await;
    for (name, data, channel, text) in cases() {
        let before = slack.all_messages().len();
        let (code, lines) = dry_run(&slack, compat(name), data, Some(SECRET_VALUE)).await;
        let last = lines.last().unwrap_or_else(|| panic!("{name}: no output"));
        assert_eq!(code, Some(0), "{name}: {lines:?}");
        assert_eq!(last["status"], "completed", "{name}: {last}");
        let all = slack.all_messages();
        assert_eq!(all.len(), before + 1, "{name}: exactly one message: {all:?}");
        let m = all.last().unwrap();
        assert_eq!((m.channel.as_str(), m.text.as_str()), (channel, text), "{name}");
        check_data(name, &last["data"], m);
        if name == "camunda_slack_result_gateway" {
            let trace = lines.iter().map(Value::to_string).collect::<String>();
            assert!(trace.contains("EndEvent_posted") && !trace.contains("EndEvent_not_posted"), "{trace}");
        }
    }
}

#[tokio::test]
async fn a_dry_run_without_the_secret_is_an_incident_naming_it() {
    let slack = fake_slack().await;
    let (code, lines) = dry_run(&slack, compat("camunda_slack_channel_id"), json!({}), None).await;
    assert_eq!(code, Some(1), "{lines:?}");
    let last = lines.last().unwrap();
    assert_eq!(last["status"], "error");
    let message = last["incidents"][0]["message"].as_str().unwrap();
    assert!(message.contains("secret `SLACK_OAUTH_TOKEN`") && message.contains("not set"), "{message}");
    assert!(slack.all_messages().is_empty(), "never posted with an empty token");
}

/// A `sluice serve` on SQLite in `dir` with the fake Slack connected as `default`.
fn serve(dir: &Path, slack: &FakeSlack, extra: &[(&str, &str)]) -> (Spawned, Api) {
    serve_with(dir, slack, extra, None)
}

/// [`serve`] with the server's log (stderr) written to `log`.
fn serve_logged(dir: &Path, slack: &FakeSlack, extra: &[(&str, &str)], log: &Path) -> (Spawned, Api) {
    serve_with(dir, slack, extra, Some(log))
}

fn serve_with(dir: &Path, slack: &FakeSlack, extra: &[(&str, &str)], log: Option<&Path>) -> (Spawned, Api) {
    let addr = free_port();
    let mut cmd = server::serve_command(dir, addr, server::TOKEN);
    cmd.env("SLACK_API_URL", slack.api_url()).env("SLACK_BOT_TOKEN", fake::DEFAULT_TOKEN);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    if let Some(path) = log {
        cmd.stderr(std::fs::File::create(path).unwrap());
    }
    (Spawned::start(&mut cmd, addr), Api { addr })
}

fn put_secret(api: &Api, name: &str, value: &str) -> u16 {
    let body = json!({"value": value}).to_string();
    let (status, answer) =
        api.call("PUT", &format!("/api/v1/secrets/{name}"), Some("application/json"), body.as_bytes()).unwrap();
    assert!(!answer.to_string().contains(value), "{answer}");
    status
}

fn start(api: &Api, key: &str, data: Value) -> String {
    let (status, r) = api.post_json(&format!("/api/v1/processes/{key}/requests"), &json!({"data": data})).unwrap();
    assert_eq!(status, 201, "{r}");
    r["id"].as_str().unwrap().to_string()
}

/// Waits until the Request is no longer active; its view.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compat_model_runs_over_http_with_a_stored_secret() {
    let slack = fake_slack().await;
    let dir = scratch_dir("camunda-slack-serve");
    // Its log, at debug level, is read back below.
    let log = dir.join("serve.log");
    let (serve, api) = tokio::task::block_in_place(|| serve_logged(&dir, &slack, &[("RUST_LOG", "debug")], &log));
    tokio::task::block_in_place(|| {
        assert_eq!(put_secret(&api, "SLACK_OAUTH_TOKEN", SECRET_VALUE), 204);
        for (name, data, channel, text) in cases() {
            let (status, body) = api.deploy(&std::fs::read(compat(name)).unwrap()).unwrap();
            assert_eq!(status, 201, "{name}: {body}");
            let before = slack.all_messages().len();
            let r = settled(&api, &start(&api, name, data));
            assert_eq!(r["status"], "completed", "{name}: {r}");
            let all = slack.all_messages();
            assert_eq!(all.len(), before + 1, "{name}: exactly one message");
            let m = all.last().unwrap();
            assert_eq!((m.channel.as_str(), m.text.as_str()), (channel, text), "{name}");
            check_data(name, &r["data"], m);
            let (_, events) = api.get(&format!("/api/v1/requests/{}/events", r["id"].as_str().unwrap())).unwrap();
            assert!(!events.to_string().contains(SECRET_VALUE), "{name}: the secret is in the history");
        }
        // Names only, and nothing of the value in the audit log.
        let (status, listed) = api.get("/api/v1/secrets").unwrap();
        assert_eq!(status, 200);
        assert_eq!(listed["secrets"][0]["name"], "SLACK_OAUTH_TOKEN");
        assert!(!listed.to_string().contains(SECRET_VALUE), "{listed}");
        let (_, audit) = api.get("/api/v1/audit").unwrap();
        assert!(audit.to_string().contains("secret_created"), "{audit}");
        assert!(!audit.to_string().contains(SECRET_VALUE), "{audit}");
        // Replaced, then removed: a task using it becomes an incident naming it.
        assert_eq!(put_secret(&api, "SLACK_OAUTH_TOKEN", "xoxb-other-value"), 204);
        let (status, _) = api.call("DELETE", "/api/v1/secrets/SLACK_OAUTH_TOKEN", None, b"").unwrap();
        assert_eq!(status, 204);
        let (status, _) = api.call("DELETE", "/api/v1/secrets/SLACK_OAUTH_TOKEN", None, b"").unwrap();
        assert_eq!(status, 404);
        let before = slack.all_messages().len();
        let r = settled(&api, &start(&api, "camunda_slack_channel_id", json!({})));
        assert_eq!(r["status"], "error", "{r}");
        let message = r["incidents"][0]["message"].as_str().unwrap();
        assert!(message.contains("secret `SLACK_OAUTH_TOKEN`"), "{message}");
        assert_eq!(slack.all_messages().len(), before);
        // A bad name is refused with the reason.
        assert_eq!(put_secret(&api, "with%20space", "x"), 422);
    });
    drop(serve);
    // The sealed value is the only trace in the database files, and none is in the log.
    assert!(std::fs::metadata(&log).unwrap().len() > 0, "the server logged nothing");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for value in [SECRET_VALUE, "xoxb-other-value"] {
            assert!(!bytes.windows(value.len()).any(|w| w == value.as_bytes()), "{value} in {}", path.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_mapped_to_an_integration_posts_through_it() {
    let slack = fake_slack().await;
    let dir = scratch_dir("camunda-slack-alias");
    let aliases = [("SLUICE_SLACK_SECRET_ALIASES", "SLACK_OAUTH_TOKEN=default")];
    let (_serve, api) = tokio::task::block_in_place(|| serve(&dir, &slack, &aliases));
    tokio::task::block_in_place(|| {
        // Slack does not know this token: only the integration `default` can have posted.
        assert_eq!(put_secret(&api, "SLACK_OAUTH_TOKEN", "xoxb-unknown-to-slack"), 204);
        let (status, body) = api.deploy(&std::fs::read(compat("camunda_slack_channel_name")).unwrap()).unwrap();
        assert_eq!(status, 201, "{body}");
        let r = settled(&api, &start(&api, "camunda_slack_channel_name", json!({})));
        assert_eq!(r["status"], "completed", "{r}");
        assert_eq!(slack.messages("C0SALES").len(), 1);
    });
}

/// The channel-id model with `token` or `method` replaced.
fn altered(from: &str, to: &str) -> String {
    let xml = std::fs::read_to_string(compat("camunda_slack_channel_id")).unwrap();
    assert!(xml.contains(from));
    xml.replace(from, to)
}

fn line_of(xml: &str, needle: &str) -> usize {
    xml.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_literal_token_and_an_unsupported_method_are_refused_naming_the_line() {
    let literal = altered("{{secrets.SLACK_OAUTH_TOKEN}}", "xoxb-123456-literal");
    let method = altered("source=\"chat.postMessage\"", "source=\"conversations.create\"");
    let token_line = line_of(&literal, "xoxb-123456-literal");
    let method_line = line_of(&method, "conversations.create");
    // sluice check
    for (xml, line, words) in [
        (&literal, token_line, "store it as a secret"),
        (&method, method_line, "`conversations.create` is not supported"),
    ] {
        let file = scratch_file("camunda-check", "model.bpmn", xml);
        let out = std::process::Command::new(sluice_bin()).args(["check", file.to_str().unwrap()]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains(&format!("model.bpmn:{line}:")) && stdout.contains(words), "{stdout}");
        assert!(!stdout.contains("xoxb-123456-literal"), "the token is not repeated: {stdout}");
    }
    // deploy
    let slack = fake_slack().await;
    let dir = scratch_dir("camunda-slack-deploy");
    let (_serve, api) = tokio::task::block_in_place(|| serve(&dir, &slack, &[]));
    tokio::task::block_in_place(|| {
        for (xml, line, words) in
            [(&literal, token_line, "store it as a secret"), (&method, method_line, "is not supported")]
        {
            let (status, body) = api.deploy(xml.as_bytes()).unwrap();
            assert_eq!(status, 422, "{body}");
            let diagnostics = body["error"]["diagnostics"].as_array().unwrap();
            assert!(
                diagnostics.iter().any(|d| d["line"] == line && d["message"].as_str().unwrap().contains(words)),
                "{body}"
            );
            assert!(!body.to_string().contains("xoxb-123456-literal"), "{body}");
        }
    });
}
