//! Slack Notification tasks at the level of a Request: a one-task model run by the in-memory
//! driver (`sluice_engine::sim::Sim`) whose connector host calls the real `SlackNotification`
//! through a `Registry`, against the fake Slack Web API on 127.0.0.1. For each of Slack's answers
//! the test checks what a person sees (the Request's status and the incident's text) and what the
//! channel sees (the exact number of messages posted).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{Map, Value, json};
use sluice_bpmn::{Options, Process, Source};
use sluice_connector_api::{ConnectorError, Context, IdempotencyKey, Registry};
use sluice_engine::sim::{ConnectorHost, ConnectorInvocation, ConnectorOutcome, RequestNo, Sim};
use sluice_engine::{Incident, Input, Status};
use sluice_fake_slack::{self as fake, Failure, FakeSlack};
use sluice_slack::{Client, SlackNotification, StaticTokens, client};
use sluice_tests::bpmn;
use tokio::runtime::Runtime;

/// What the fake accepts per channel (Slack: about a second).
const POST_INTERVAL: Duration = Duration::from_millis(20);
/// The connector's per-channel pacing: exactly the fake's limit, no margin. The pacer counts the
/// interval from Slack's answer, so posts reach the fake at least this far apart however the
/// threads are scheduled.
const PACING: Duration = POST_INTERVAL;
/// How often the host tries a call again after `Retryable` before raising an incident.
const HOST_RETRIES: u32 = 3;
/// The longest the host waits between tries, whatever the connector asks for.
const HOST_MAX_WAIT: Duration = Duration::from_secs(5);

/// start → Slack Notification (`channel`, `order_id` from the data) → end.
fn model() -> String {
    bpmn::one_task(
        "order",
        None,
        bpmn::slack_task(
            "notify",
            Some("Tell the channel"),
            "{{ channel }}",
            "Order {{ order_id }} needs approval",
            &[bpmn::input("result_variable", "posted")],
        ),
    )
}

fn process() -> Arc<Process> {
    let imported =
        sluice_bpmn::import(&[Source { name: "order.bpmn", bytes: model().as_bytes() }], &Options::default());
    assert!(!imported.has_errors(), "{:?}", imported.diagnostics);
    imported.definitions.processes[0].clone()
}

/// The fake Slack, served by a multi-thread runtime whose workers keep answering while the
/// (synchronous) Sim blocks this test's thread on a connector call.
struct Harness {
    slack: FakeSlack,
    runtime: Runtime,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(|_| {})
    }

    fn with(tune: impl FnOnce(&mut fake::Config)) -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let mut config = fake::Config { post_interval: POST_INTERVAL, ..fake::Config::default() };
        tune(&mut config);
        let slack = runtime.block_on(FakeSlack::start(config)).unwrap();
        Harness { slack, runtime }
    }

    fn client(&self, tune: impl FnOnce(&mut client::Config)) -> Client {
        let mut config = client::Config::new(self.slack.api_url());
        config.timeout = Duration::from_secs(5);
        tune(&mut config);
        Client::with_config(config).unwrap()
    }

    /// A registry with the real Slack Notification connector holding `token` as `default`.
    fn registry(&self, token: &str) -> Registry {
        self.registry_with(token, self.client(|_| {}))
    }

    fn registry_with(&self, token: &str, client: Client) -> Registry {
        let tokens = StaticTokens::new().with("default", token);
        // History may be read at once again here (the once-a-minute gate has tests of its own).
        let config = sluice_slack::connector::Config {
            channel_interval: PACING,
            history_interval: Duration::ZERO,
            ..Default::default()
        };
        Registry::default().with(SlackNotification::with_config(client, tokens, config))
    }

    /// Request `r` completed, and the channels hold one message in all: the one the Request's
    /// data keeps (`posted`: the channel's id and the ts).
    fn assert_completed_with_one_message(&self, run: &Run<'_>, r: RequestNo, channel: &str) {
        run.assert_completed(r);
        let messages = self.slack.all_messages();
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert_eq!(run.data(r)["posted"], json!({"channel": channel, "ts": messages[0].ts}));
    }

    /// Starts one Request per channel and settles the Sim (every connector call made).
    fn run(&self, registry: Registry, channels: &[&str]) -> Run<'_> {
        let clock = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let mut sim = Sim::new([process()], clock);
        let mut host = Host { registry, runtime: &self.runtime, attempts: HashMap::new(), retries: Vec::new() };
        let mut requests = Vec::new();
        for (i, channel) in channels.iter().enumerate() {
            let data = json!({"channel": channel, "order_id": format!("ORD-{i}")});
            let Value::Object(data) = data else { unreachable!() };
            requests.push(sim.start("order", data).unwrap());
        }
        sim.settle(&mut host);
        Run { sim, host, requests }
    }
}

/// The connector host: calls the registry on the harness's runtime and does what a worker does
/// with the answer. Retryable errors are tried again here, waiting `retry_after` when given, with
/// the attempt number growing on every call of a step (as a durable worker records it).
struct Host<'a> {
    registry: Registry,
    runtime: &'a Runtime,
    /// The last attempt number used per (Request, element).
    attempts: HashMap<(RequestNo, String), u32>,
    /// Every Retryable answer the host waited out: (message, retry_after).
    retries: Vec<(String, Option<Duration>)>,
}

impl ConnectorHost for Host<'_> {
    fn invoke(&mut self, call: ConnectorInvocation<'_>) -> ConnectorOutcome {
        let connector = call.call.connector.as_str();
        let mut tries = 0;
        let mut unconfirmed = false;
        loop {
            tries += 1;
            let last = self.attempts.entry((call.request, call.element_id.to_string())).or_default();
            let attempt = call.attempt.max(*last + 1);
            *last = attempt;
            let key = IdempotencyKey {
                request_id: format!("r{}", call.request),
                element_id: call.element_id.into(),
                attempt,
            };
            let url = format!("http://sluice.test/requests/r{}", call.request);
            let mut cx = Context::new(key, call.process.key.as_str(), url);
            cx.maybe_done_before = unconfirmed;
            let result = self.runtime.block_on(self.registry.invoke(connector, &call.call.inputs, call.variables, cx));
            let (message, retry_after, lost) = match outcome(result) {
                Ok(done) => return done,
                Err(retryable) => retryable,
            };
            unconfirmed = lost;
            if tries > HOST_RETRIES {
                return ConnectorOutcome::Failed(format!("{message} (gave up after {tries} tries)"));
            }
            let backoff = Duration::from_millis(10 << (tries - 1));
            let wait = retry_after.unwrap_or(backoff).min(HOST_MAX_WAIT);
            self.retries.push((message, retry_after));
            std::thread::sleep(wait);
        }
    }
}

/// What a worker makes of a connector's answer: the outcome, or (message, retry_after, whether the
/// answer was lost) of a retryable error to wait out and try again.
fn outcome(result: Result<Value, ConnectorError>) -> Result<ConnectorOutcome, (String, Option<Duration>, bool)> {
    match result {
        Ok(output) => Ok(ConnectorOutcome::Completed(output)),
        Err(ConnectorError::Bpmn { code, message }) => Ok(ConnectorOutcome::BpmnError { code, message: Some(message) }),
        Err(ConnectorError::Fatal { message }) => Ok(ConnectorOutcome::Failed(message)),
        Err(ConnectorError::Retryable { message, retry_after }) => Err((message, retry_after, false)),
        Err(ConnectorError::Unconfirmed { message, retry_after }) => Err((message, retry_after, true)),
    }
}

struct Run<'a> {
    sim: Sim,
    host: Host<'a>,
    requests: Vec<RequestNo>,
}

impl Run<'_> {
    fn first(&self) -> RequestNo {
        self.requests[0]
    }

    fn status(&self, r: RequestNo) -> Status {
        self.sim.instance(r).unwrap().status()
    }

    fn data(&self, r: RequestNo) -> &Map<String, Value> {
        self.sim.instance(r).unwrap().data()
    }

    /// The Request completed, with no incident left.
    fn assert_completed(&self, r: RequestNo) {
        let inst = self.sim.instance(r).unwrap();
        assert_eq!(
            inst.status(),
            Status::Completed,
            "incidents: {:?}; trace: {:?}",
            inst.incidents(),
            self.sim.trace()
        );
        assert!(inst.incidents().is_empty());
    }

    /// The Request waits at the Slack task with exactly one incident; returns it.
    fn incident(&self, r: RequestNo) -> Incident {
        let inst = self.sim.instance(r).unwrap();
        assert_eq!(inst.status(), Status::Active, "trace: {:?}", self.sim.trace());
        let incidents = inst.incidents();
        assert_eq!(incidents.len(), 1, "{incidents:?}");
        let incident = incidents[0].clone();
        assert_eq!(incident.code, "connector_failed");
        assert_eq!(self.sim.process_of(r).unwrap().element(incident.element).id, "notify");
        incident
    }

    /// `Input::Retry` on the Request's incident, then lets the Sim call the connector again.
    fn retry(&mut self, r: RequestNo) {
        let incident = self.incident(r).id;
        self.sim.step(r, Input::Retry { incident }).unwrap();
        self.sim.settle(&mut self.host);
    }
}

/// The incident text contains every one of `parts`.
fn assert_says(incident: &Incident, parts: &[&str]) {
    for part in parts {
        assert!(incident.message.contains(part), "incident should say {part:?}: {:?}", incident.message);
    }
}

#[test]
fn a_post_completes_the_request_with_one_message_and_keeps_channel_and_ts() {
    let h = Harness::new();
    let run = h.run(h.registry(fake::DEFAULT_TOKEN), &["#sales"]);
    let r = run.first();
    run.assert_completed(r);
    let all = h.slack.all_messages();
    assert_eq!(all.len(), 1, "{all:?}");
    let m = &all[0];
    assert_eq!(m.channel, "C0SALES");
    assert_eq!(m.text, "Order ORD-0 needs approval");
    assert_eq!(m.metadata.as_ref().unwrap()["event_payload"]["key"], format!("r{r}/notify"));
    // The channel's id (not the name the task gave) and the ts: enough to thread or update.
    assert_eq!(run.data(r)["posted"], json!({"channel": "C0SALES", "ts": m.ts}));
    assert!(run.host.retries.is_empty(), "{:?}", run.host.retries);
}

/// One Request posts to `channel` with `token`: an incident that says every one of `parts`, and
/// nothing posted. The run, for more checks.
fn assert_nothing_posted_and_incident_says<'h>(h: &'h Harness, token: &str, channel: &str, parts: &[&str]) -> Run<'h> {
    let run = h.run(h.registry(token), &[channel]);
    let incident = run.incident(run.first());
    assert_says(&incident, parts);
    assert_eq!(h.slack.all_messages().len(), 0);
    run
}

/// Slack answers the post with the error `error`: an incident that says every one of `parts`,
/// and nothing posted.
fn assert_slack_error_is_an_incident_that_says(error: &str, parts: &[&str]) {
    let h = Harness::new();
    h.slack.fail_next("chat.postMessage", 1, Failure::Error(error.into()));
    assert_nothing_posted_and_incident_says(&h, fake::DEFAULT_TOKEN, "C0SALES", parts);
}

/// A token problem: an incident saying the integration must be reconnected, and nothing posted.
/// The fake is prepared by `prepare`, then one Request posts with `token`.
fn assert_reconnect_incident(token: &str, prepare: impl FnOnce(&FakeSlack), code: &str) {
    let h = Harness::new();
    prepare(&h.slack);
    let parts = ["Slack integration `default` must be reconnected", code];
    let run = assert_nothing_posted_and_incident_says(&h, token, "C0SALES", &parts);
    assert!(run.host.retries.is_empty(), "a token problem is not retried: {:?}", run.host.retries);
    assert_eq!(h.slack.calls("chat.postMessage"), 1);
}

#[test]
fn an_unknown_token_asks_to_reconnect_the_integration() {
    assert_reconnect_incident("xoxb-never-issued", |_| {}, "invalid_auth");
}

#[test]
fn a_revoked_token_asks_to_reconnect_the_integration() {
    assert_reconnect_incident(fake::DEFAULT_TOKEN, |s| s.revoke_token(fake::DEFAULT_TOKEN), "token_revoked");
}

#[test]
fn an_expired_token_asks_to_reconnect_the_integration() {
    assert_reconnect_incident(fake::DEFAULT_TOKEN, |s| s.expire_token(fake::DEFAULT_TOKEN), "token_expired");
}

#[test]
fn an_inactive_account_asks_to_reconnect_the_integration() {
    let inactive = |s: &FakeSlack| s.fail_next("chat.postMessage", 1, Failure::Error("account_inactive".into()));
    assert_reconnect_incident(fake::DEFAULT_TOKEN, inactive, "account_inactive");
}

#[test]
fn a_private_channel_without_the_bot_waits_for_an_invite_then_retry_posts_once() {
    let h = Harness::new();
    let mut run = h.run(h.registry(fake::DEFAULT_TOKEN), &["G0HIDDEN"]);
    let r = run.first();
    let incident = run.incident(r);
    assert_says(&incident, &["check the channel `G0HIDDEN`", "invite the bot", "channel_not_found"]);
    assert_eq!(h.slack.all_messages().len(), 0);

    // The person does what the incident says, then retries it.
    h.slack.set_member("G0HIDDEN", true);
    run.retry(r);
    h.assert_completed_with_one_message(&run, r, "G0HIDDEN");
    // The retry is attempt 2: it looked for an earlier post before posting.
    assert_eq!(h.slack.calls("conversations.history"), 1);
}

#[test]
fn a_public_channel_the_bot_has_not_joined_without_chat_write_public_is_an_incident() {
    let h = Harness::new();
    let token = "xoxb-fake-members-only";
    let scopes = ["chat:write", "channels:read", "groups:read", "channels:history", "groups:history"];
    h.slack.add_token(fake::DEFAULT_TEAM_ID, token, &scopes);
    assert_nothing_posted_and_incident_says(
        &h,
        token,
        "C0RANDOM",
        &["check the channel `C0RANDOM`", "invite the bot", "not_in_channel"],
    );
}

#[test]
fn an_archived_channel_is_an_incident_that_says_so() {
    let h = Harness::new();
    assert_nothing_posted_and_incident_says(
        &h,
        fake::DEFAULT_TOKEN,
        "#old",
        &["the channel `#old` is archived", "unarchive it or choose another channel"],
    );
}

#[test]
fn a_message_slack_finds_too_long_is_an_incident_that_says_so() {
    assert_slack_error_is_an_incident_that_says(
        "msg_too_long",
        &["the message is too long for Slack", "shorten the task's message"],
    );
}

#[test]
fn blocks_slack_refuses_are_an_incident_that_says_so() {
    assert_slack_error_is_an_incident_that_says(
        "invalid_blocks",
        &["Slack refused the message's layout", "invalid_blocks", "check the message's mrkdwn"],
    );
}

#[test]
fn a_429_is_waited_out_and_the_request_completes_with_one_message() {
    let h = Harness::new();
    h.slack.fail_next("chat.postMessage", 1, Failure::RateLimited { retry_after_secs: 1 });
    let run = h.run(h.registry(fake::DEFAULT_TOKEN), &["C0SALES"]);
    run.assert_completed(run.first());
    assert_eq!(h.slack.all_messages().len(), 1);
    assert_eq!(h.slack.rate_limited("chat.postMessage"), 1);
    // The client waited Retry-After inside the call: the step needed no second attempt.
    assert_eq!(h.slack.calls("chat.postMessage"), 2);
    assert!(run.host.retries.is_empty(), "{:?}", run.host.retries);
}

#[test]
fn a_429_the_client_hands_back_is_retried_after_retry_after_with_one_message() {
    let h = Harness::new();
    h.slack.fail_next("chat.postMessage", 1, Failure::RateLimited { retry_after_secs: 1 });
    // A client that does not wait 429s out itself: the step answers Retryable with Slack's wait.
    let registry = h.registry_with(fake::DEFAULT_TOKEN, h.client(|c| c.rate_limit_retries = 0));
    let run = h.run(registry, &["C0SALES"]);
    run.assert_completed(run.first());
    assert_eq!(h.slack.all_messages().len(), 1);
    assert_eq!(run.host.retries.len(), 1, "{:?}", run.host.retries);
    assert_eq!(run.host.retries[0].1, Some(Duration::from_secs(1)), "{:?}", run.host.retries);
}

/// Two failures whose outcome is unknown, then success: every attempt looked for an earlier post
/// and found none, and the third posted.
fn assert_two_outages_then_one_message(failure: Failure) {
    let h = Harness::new();
    h.slack.fail_next("chat.postMessage", 2, failure);
    let run = h.run(h.registry(fake::DEFAULT_TOKEN), &["C0SALES"]);
    let r = run.first();
    run.assert_completed(r);
    let messages = h.slack.all_messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(run.data(r)["posted"]["ts"], messages[0].ts.as_str());
    assert_eq!(run.host.retries.len(), 2, "{:?}", run.host.retries);
    assert_eq!(h.slack.calls("chat.postMessage"), 3);
}

#[test]
fn http_500_twice_then_success_completes_with_one_message() {
    assert_two_outages_then_one_message(Failure::Status(500));
}

#[test]
fn internal_error_twice_then_success_completes_with_one_message() {
    assert_two_outages_then_one_message(Failure::Error("internal_error".into()));
}

#[test]
fn a_post_accepted_before_the_connection_dropped_is_found_not_repeated() {
    let h = Harness::new();
    h.slack.fail_next("chat.postMessage", 1, Failure::DropAfterAccept);
    let run = h.run(h.registry(fake::DEFAULT_TOKEN), &["C0SALES"]);
    let r = run.first();
    // The step's result is the message Slack accepted, found again through its metadata.
    h.assert_completed_with_one_message(&run, r, "C0SALES");
    assert_eq!(h.slack.calls("chat.postMessage"), 1);
}

#[test]
fn a_dropped_post_that_cannot_be_checked_at_once_is_found_by_the_retry() {
    let h = Harness::new();
    h.slack.fail_next("chat.postMessage", 1, Failure::DropAfterAccept);
    // The look right after the drop fails too: the step is Retryable, and attempt 2 looks again.
    h.slack.fail_next("conversations.history", 1, Failure::Status(503));
    let run = h.run(h.registry(fake::DEFAULT_TOKEN), &["C0SALES"]);
    let r = run.first();
    h.assert_completed_with_one_message(&run, r, "C0SALES");
    assert_eq!(run.host.retries.len(), 1, "{:?}", run.host.retries);
    assert_eq!(h.slack.calls("chat.postMessage"), 1, "the retry found the post and did not post again");
    assert_eq!(h.slack.calls("conversations.history"), 2);
}

#[test]
fn twenty_requests_to_one_channel_post_twenty_messages_without_a_429() {
    let h = Harness::new();
    let run = h.run(h.registry(fake::DEFAULT_TOKEN), &["C0SALES"; 20]);
    for &r in &run.requests {
        run.assert_completed(r);
        assert_eq!(run.status(r), Status::Completed);
    }
    let messages = h.slack.messages("C0SALES");
    assert_eq!(messages.len(), 20);
    assert_eq!(h.slack.all_messages().len(), 20);
    assert_eq!(h.slack.rate_limited("chat.postMessage"), 0);
    // One message per Request, each recorded in its own Request's data.
    let mut keys: Vec<String> = messages
        .iter()
        .map(|m| m.metadata.as_ref().unwrap()["event_payload"]["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 20, "{keys:?}");
    for &r in &run.requests {
        let ts = run.data(r)["posted"]["ts"].as_str().unwrap();
        let m = messages.iter().find(|m| m.ts == ts).unwrap();
        assert_eq!(m.text, format!("Order ORD-{r} needs approval"));
    }
}
