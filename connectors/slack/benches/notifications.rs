//! Many Requests' notifications through one worker: 1,000 Slack Notification calls (Request `i`
//! posts to channel `i % 10`) run concurrently through a `Registry` against the fake Slack Web
//! API, which refuses (429) a second message to a channel within its per-channel interval.
//!
//! Checks that every message arrived exactly once and that the fake never answered 429, and
//! prints how far the wall time is above the floor the rate limit sets: with `n` messages per
//! channel, the last one cannot go out before `(n - 1) × interval` (all channels in parallel).
//! The target is at most 10 % above it. Exits 1 when a check fails or the target is missed.
//!
//! ```sh
//! cargo bench -p sluice-slack --bench notifications
//! SLUICE_BENCH_INTERVAL_MS=1000 cargo bench -p sluice-slack --bench notifications   # Slack's own limit
//! ```
//!
//! Environment: `SLUICE_BENCH_INTERVAL_MS` (default 50), `SLUICE_BENCH_MESSAGES` (1000),
//! `SLUICE_BENCH_CHANNELS` (10). Each post costs a round trip on top of the interval (the pacer
//! counts the interval from Slack's answer, see `src/pacing.rs`) plus up to a millisecond of timer
//! granularity: about 2 ms here, which is 4 % of 50 ms but 10 % of 20 ms, and nothing at Slack's 1 s.

use std::collections::{BTreeMap, HashSet};
use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use sluice_connector_api::{Context, IdempotencyKey, Registry};
use sluice_fake_slack::{self as fake, Channel, FakeSlack, Workspace};
use sluice_slack::{Client, SlackNotification, StaticTokens};

/// Most overhead over the rate limit's floor the run may have.
const TARGET_OVERHEAD: f64 = 0.10;

fn env_number(name: &str, default: u64) -> Result<u64, Box<dyn Error>> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().map_err(|e| format!("{name}={v:?}: {e}").into()),
        Err(_) => Ok(default),
    }
}

fn channel_id(c: u64) -> String {
    format!("C0BENCH{c:02}")
}

fn main() -> Result<ExitCode, Box<dyn Error>> {
    let interval = Duration::from_millis(env_number("SLUICE_BENCH_INTERVAL_MS", 50)?);
    let messages = env_number("SLUICE_BENCH_MESSAGES", 1000)?;
    let channels = env_number("SLUICE_BENCH_CHANNELS", 10)?.max(1);

    // The fake gets a runtime of its own, so its answers are not queued behind the connector's
    // 1,000 tasks: what is measured is the connector's pacing, not the fake's scheduling.
    let fake_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let mut workspace =
        Workspace::new(fake::DEFAULT_TEAM_ID, "Sluice Bench").token(fake::DEFAULT_TOKEN, fake::SLUICE_SCOPES);
    for c in 0..channels {
        workspace = workspace.channel(Channel::public(channel_id(c), format!("bench-{c:02}")).member());
    }
    let config = fake::Config { workspaces: vec![workspace], post_interval: interval, ..fake::Config::default() };
    let slack = fake_runtime.block_on(FakeSlack::start(config))?;

    // The worker: one Slack Notification connector paced at the same interval, in one registry.
    let client = Client::new(slack.api_url())?;
    let tokens = StaticTokens::new().with("default", fake::DEFAULT_TOKEN);
    let pacing = sluice_slack::Config { channel_interval: interval, ..sluice_slack::Config::default() };
    // Calls queue in the pacer, and the registry's timeout (60 s by default) counts that wait: give
    // it the whole queue, or calls beyond the first minute of a channel's backlog time out.
    let per_channel = messages.div_ceil(channels);
    let timeout = interval * u32::try_from(per_channel)? + Duration::from_secs(30);
    let registry = Registry::default().with(SlackNotification::with_config(client, tokens, pacing));
    let registry = Arc::new(registry.with_timeout(timeout));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;

    let inputs: Map<String, Value> = serde_json::from_value(json!({
        "channel": "{{ channel }}",
        "message": "Order {{ order_id }} is ready for review",
    }))?;
    let inputs = Arc::new(inputs);
    let started = Instant::now();
    let results = runtime.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..messages {
            let (registry, inputs) = (registry.clone(), inputs.clone());
            tasks.push(tokio::spawn(async move {
                let data: Map<String, Value> =
                    json!({"channel": channel_id(i % channels), "order_id": format!("ORD-{i:04}")})
                        .as_object()
                        .cloned()
                        .unwrap_or_default();
                let key = IdempotencyKey { request_id: format!("bench-{i}"), element_id: "notify".into(), attempt: 1 };
                let cx = Context::new(key, "order", format!("http://sluice.bench/requests/bench-{i}"));
                registry.invoke("slack-notification", &inputs, &data, cx).await
            }));
        }
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(task.await);
        }
        results
    });
    let elapsed = started.elapsed();

    // Every call succeeded, every message arrived exactly once and where it was sent.
    let mut failures = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => failures.push(format!("Request {i}: {e}")),
            Err(e) => failures.push(format!("Request {i}: the task failed: {e}")),
        }
    }
    let all = slack.all_messages();
    let mut keys = HashSet::new();
    let mut per_channel: BTreeMap<String, u64> = BTreeMap::new();
    for m in &all {
        let key = m.metadata.as_ref().and_then(|md| md["event_payload"]["key"].as_str()).unwrap_or_default();
        let i: u64 = key.trim_start_matches("bench-").trim_end_matches("/notify").parse().unwrap_or(u64::MAX);
        if !keys.insert(key.to_string()) {
            failures.push(format!("message {key} arrived twice"));
        }
        if m.channel != channel_id(i % channels) || m.text != format!("Order ORD-{i:04} is ready for review") {
            failures.push(format!("message {key} is not what Request {i} sent: {} in {}", m.text, m.channel));
        }
        *per_channel.entry(m.channel.clone()).or_default() += 1;
    }
    if all.len() as u64 != messages {
        failures.push(format!("{} messages arrived, {messages} were sent", all.len()));
    }
    let rate_limited = slack.rate_limited("chat.postMessage");
    if rate_limited > 0 {
        failures.push(format!("the fake answered 429 {rate_limited} times"));
    }

    let most = per_channel.values().copied().max().unwrap_or(0);
    let floor = interval * most.saturating_sub(1) as u32;
    let overhead = if floor.is_zero() { 0.0 } else { elapsed.as_secs_f64() / floor.as_secs_f64() - 1.0 };
    let calls = slack.calls("chat.postMessage");
    println!("slack notifications through one worker (fake Slack on 127.0.0.1)");
    println!("  messages          {messages} sent, {} arrived, {} distinct", all.len(), keys.len());
    println!("  channels          {channels} ({most} messages per channel at most)");
    println!("  interval          {} ms per channel (fake's limit and connector's pacing)", interval.as_millis());
    println!("  chat.postMessage  {calls} calls, {rate_limited} answered 429");
    println!("  floor             {:.3} s  ((per channel - 1) x interval)", floor.as_secs_f64());
    println!("  measured          {:.3} s", elapsed.as_secs_f64());
    println!(
        "  overhead          {:+.1} % over the floor (target <= {:.0} %)",
        overhead * 100.0,
        TARGET_OVERHEAD * 100.0
    );
    println!("  throughput        {:.1} messages/s", all.len() as f64 / elapsed.as_secs_f64());
    if overhead > TARGET_OVERHEAD {
        failures.push(format!("{:.1} % over the floor, more than {:.0} %", overhead * 100.0, TARGET_OVERHEAD * 100.0));
    }
    for f in failures.iter().take(20) {
        eprintln!("FAILED: {f}");
    }
    if failures.len() > 20 {
        eprintln!("FAILED: … and {} more", failures.len() - 20);
    }
    drop(slack);
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
