//! The durable engine's throughput: start → serviceTask (a no-op connector) → end, on SQLite with
//! full durability and on PostgreSQL. Prints completed Requests per second, commits per Request
//! and CPU per Request (this process: engine, store client and, for SQLite, the database itself).
//!
//! ```text
//! cargo bench -p sluice-worker --bench durable                 # both backends, 20,000 Requests
//! BENCH_REQUESTS=50000 BENCH_BACKENDS=sqlite cargo bench -p sluice-worker --bench durable
//! BENCH_SCENARIO=parked BENCH_REQUESTS=100000 cargo bench -p sluice-worker --bench durable
//! BENCH_HANDOFF=0 cargo bench -p sluice-worker --bench durable  # every connector job claimed from the table
//! ```
//! The engine runs as `sluice serve` runs it: handoff on, and two worker loops that poll when a
//! write left jobs for them or every `BENCH_IDLE_POLL_MS` (100); `BENCH_STARTERS` (256) tasks start
//! Requests.
//! The `parked` scenario parks the Requests at a message catch event, then publishes one
//! message per Request (correlated by key) and prints the times and this process's peak memory
//! (the engine runs in this process: it is the server).
//! The `timers` scenario (`BENCH_TIMER_SPREAD_S`, default 100) starts the Requests each waiting at
//! a timer due at a moment spread evenly over the next that many seconds (the starts themselves
//! must take less), then waits until every one has fired and prints timers fired per second, the
//! lag (when the Request completed, right as its timer fired, minus its due time) at p50, p99 and
//! max, that every timer fired once, and this process's memory while they wait and at the end.
//! The first timer is due `BENCH_TIMER_DELAY_S` after the starts begin (default 5 s + 1 s per
//! 10,000 Requests), so that every Request waits before the first fires.
//! The `migrate` scenario parks the Requests at a message catch event, deploys a second version
//! and migrates them to it: half concurrently (`BENCH_STARTERS` tasks), half one after the other
//! as a background operation does; it prints Requests migrated per second for each.
//! The `prune` scenario writes `BENCH_REQUESTS` finished Requests, runs the throughput run
//! (`BENCH_PRUNE_RUN`, 20,000 Requests) three times alone, then again and again while the
//! pruning loop's deletes (200 Requests a transaction, paced as the loop paces them) remove the
//! finished ones, and
//! prints the throughput alone and during the pruning (medians), and the pruning's rate.
//! `BENCH_METRICS=0` turns the engine's metrics off (compare the throughput with and without).
//! `BENCH_KEEP_DB=1` keeps the SQLite file (its path is printed) for a look at its pages, and a
//! copy of its write-ahead log as the last commits left it (`bench.db-wal.last`).
//! `SLUICE_TEST_POSTGRES_URL` names the PostgreSQL database (default
//! `postgres://postgres@127.0.0.1:5432/test`; the benchmark works in a schema of its own and drops
//! it). PostgreSQL's own CPU is not in "CPU per Request" (it is another process); the bench prints
//! it from `/proc` when the server runs on this machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_connector_api::{Connector, ConnectorError, Context, Registry};
use sluice_store::{Durability, Store, StoreOptions};
use sluice_worker::{Engine, EngineOptions, LoopOptions, loops};
use tokio::sync::watch;

/// The `sluice` binary's allocator (see its `main.rs`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MODEL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:sluice="urn:sluice:bpmn:1" id="defs" targetNamespace="urn:bench">
  <bpmn:process id="bench" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
    <bpmn:serviceTask id="call" implementation="noop">
      <bpmn:extensionElements><sluice:input name="note" value="hello"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;

const PARKED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:sluice="urn:sluice:bpmn:1" id="defs" targetNamespace="urn:bench">
  <bpmn:message id="m_paid" name="paid" sluice:correlationKey="= order_id"/>
  <bpmn:process id="parked" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:messageEventDefinition messageRef="m_paid"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;

const TIMERS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="urn:bench">
  <bpmn:process id="timers" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:timerEventDefinition><bpmn:timeDate>= due</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;

#[derive(Deserialize, JsonSchema)]
struct NoopInput {
    #[allow(dead_code)]
    note: Option<String>,
}

/// Does nothing and answers nothing.
struct Noop;

impl Connector for Noop {
    const TYPE: &'static str = "noop";
    const NAME: &'static str = "No-op";
    type Input = NoopInput;
    type Output = Value;

    async fn invoke(&self, _cx: &Context, _input: NoopInput) -> Result<Value, ConnectorError> {
        Ok(Value::Null)
    }
}

/// User + system CPU time of this process, from `/proc/self/stat` (Linux), in seconds.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU seconds of every PostgreSQL server process on this machine (`postgres` in /proc).
fn postgres_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    let mut total = 0.0;
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let comm = std::fs::read_to_string(format!("/proc/{name}/comm")).unwrap_or_default();
        if comm.trim() == "postgres" {
            total += cpu_seconds(&name).unwrap_or(0.0);
        }
    }
    total
}

struct Figures {
    requests: usize,
    seconds: f64,
    commits: u64,
    cpu: f64,
    server_cpu: Option<f64>,
}

async fn run(store: Store, n: usize, starters: usize) -> Figures {
    run_counted(store, n, starters, false).await
}

/// [`run`], waiting for the completions on the engine's counter (`by_counter`) instead of the
/// store's count of completed Requests.
async fn run_counted(store: Store, n: usize, starters: usize, by_counter: bool) -> Figures {
    let registry = Registry::default().with(Noop);
    let options = EngineOptions { node_id: "bench".into(), ..EngineOptions::default() };
    let engine = Arc::new(Engine::new(store.clone(), registry, options).await.expect("engine"));
    if handoff() {
        engine.enable_handoff();
    }
    let deployed = engine.deploy(&[("bench.bpmn".into(), MODEL.as_bytes().to_vec())]).await.expect("deploy");
    assert_eq!(deployed.len(), 1);

    let commits0 = sluice_store::commit_count();
    let completed0 = sluice_store::metrics::engine_metrics().requests_completed.get(&["bench"]);
    let cpu0 = cpu_seconds("self").unwrap_or(0.0);
    let pg0 = postgres_cpu_seconds();
    let t0 = Instant::now();

    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..starters {
        let (engine, next) = (engine.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                engine.start_request("bench", None, Map::new(), Utc::now()).await.expect("start");
            }
        }));
    }
    // Two of `sluice serve`'s worker loops: again at once after a full batch, else when a write
    // left jobs due for them, or after the idle poll.
    let (stop, stopped) = watch::channel(false);
    let loop_options = LoopOptions { batch: 1000, idle_poll: idle_poll(), ..LoopOptions::default() };
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let wake = engine.wakeup();
            tokio::spawn(loops::worker_loop(engine.clone(), wake, loop_options.clone(), stopped.clone()))
        })
        .collect();
    for t in tasks {
        t.await.expect("starter");
    }
    // This run's completions: the store's count (metrics on or off alike), or for the `prune`
    // scenario the engine's counter (the store holds other finished Requests, and the pruning
    // deletes some meanwhile).
    let completed = || sluice_store::metrics::engine_metrics().requests_completed.get(&["bench"]);
    loop {
        let done = if by_counter {
            (completed() - completed0) as usize
        } else {
            store.count_requests(Some("completed")).await.expect("count") as usize
        };
        if done >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = t0.elapsed().as_secs_f64();
    // Measured before the loops stop: their shutdown (giving up leases) is not the workload.
    let commits = sluice_store::commit_count() - commits0;
    let cpu = cpu_seconds("self").unwrap_or(0.0) - cpu0;
    let server_cpu = match store.backend() {
        sluice_store::Backend::Postgres => Some(postgres_cpu_seconds() - pg0),
        sluice_store::Backend::Sqlite => None,
    };
    let _ = stop.send(true);
    for w in workers {
        w.await.expect("worker");
    }
    Figures { requests: n, seconds, commits, cpu, server_cpu }
}

/// Peak resident memory of this process (`VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Parks `n` Requests at a message catch event, then publishes one message to each.
async fn parked(store: Store, n: usize, concurrency: usize) {
    let registry = Registry::default().with(Noop);
    let options = EngineOptions { node_id: "bench".into(), ..EngineOptions::default() };
    let engine = Arc::new(Engine::new(store.clone(), registry, options).await.expect("engine"));
    if handoff() {
        engine.enable_handoff();
    }
    engine.deploy(&[("parked.bpmn".into(), PARKED.as_bytes().to_vec())]).await.expect("deploy");
    let run = |publish: bool| {
        let next = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (engine, next) = (engine.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        let key = format!("ORD-{i}");
                        if publish {
                            let reached = engine
                                .publish_message("paid", Some(&key), Map::new(), Utc::now())
                                .await
                                .expect("publish");
                            assert_eq!(reached.len(), 1, "message {key} reached {reached:?}");
                        } else {
                            let data = Map::from_iter([("order_id".to_string(), Value::from(key))]);
                            engine.start_request("parked", None, data, Utc::now()).await.expect("start");
                        }
                    }
                })
            })
            .collect();
        async move {
            for t in tasks {
                t.await.expect("task");
            }
        }
    };
    let t0 = Instant::now();
    run(false).await;
    let parked = t0.elapsed().as_secs_f64();
    let parked_rss = peak_rss_mib();
    let t1 = Instant::now();
    run(true).await;
    let correlated = t1.elapsed().as_secs_f64();
    let completed = store.count_requests(Some("completed")).await.expect("count") as usize;
    assert_eq!(completed, n, "every parked Request completes");
    println!(
        "  {n} Requests parked in {parked:.2} s ({:.0}/s); {n} messages correlated in {correlated:.2} s ({:.0}/s); \
         peak memory {:.1} MiB (after parking: {parked_rss:.1} MiB)",
        n as f64 / parked,
        n as f64 / correlated,
        peak_rss_mib()
    );
}

/// `n` Requests parked at a message catch, then migrated to a second version of the process
/// (which names the process): half by `concurrency` tasks at once, half one after the other
/// (as a background operation runs them). Each migration re-creates the message subscription.
async fn migrations(store: Store, n: usize, concurrency: usize) {
    let options = EngineOptions { node_id: "bench".into(), ..EngineOptions::default() };
    let engine = Arc::new(Engine::new(store.clone(), Registry::default(), options).await.expect("engine"));
    engine.deploy(&[("parked.bpmn".into(), PARKED.as_bytes().to_vec())]).await.expect("deploy");
    let ids: Vec<_> = {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let data = Map::from_iter([("order_id".to_string(), Value::from(format!("ORD-{i}")))]);
            ids.push(engine.start_request("parked", None, data, Utc::now()).await.expect("start"));
        }
        ids
    };
    let v2 = PARKED.replace(r#"id="parked" isExecutable"#, r#"id="parked" name="Parked, version 2" isExecutable"#);
    engine.deploy(&[("parked.bpmn".into(), v2.into_bytes())]).await.expect("deploy v2");
    let mapping = std::collections::HashMap::new();
    let (together, alone) = ids.split_at(n / 2);
    let t0 = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let together = Arc::new(together.to_vec());
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (engine, next, ids, mapping) = (engine.clone(), next.clone(), together.clone(), mapping.clone());
            tokio::spawn(async move {
                while let Some(id) = ids.get(next.fetch_add(1, Ordering::Relaxed)) {
                    engine.migrate(*id, 2, &mapping, None, Utc::now()).await.expect("migrate");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let concurrent = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    for id in alone {
        engine.migrate(*id, 2, &mapping, None, Utc::now()).await.expect("migrate");
    }
    let sequential = t1.elapsed().as_secs_f64();
    println!(
        "  {} Requests migrated by {concurrency} tasks in {concurrent:.2} s ({:.0}/s); {} one after the other in \
         {sequential:.2} s ({:.0}/s)",
        together.len(),
        together.len() as f64 / concurrent,
        alone.len(),
        alone.len() as f64 / sequential
    );
}

/// Resident memory of this process now (`VmRSS`), in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// `n` Requests each waiting at a timer due within the next `spread`, fired by two worker loops.
async fn timers(store: Store, n: usize, concurrency: usize, spread: Duration) {
    let options = EngineOptions { node_id: "bench".into(), ..EngineOptions::default() };
    let engine = Arc::new(Engine::new(store.clone(), Registry::default(), options).await.expect("engine"));
    engine.deploy(&[("timers.bpmn".into(), TIMERS.as_bytes().to_vec())]).await.expect("deploy");
    let (stop, stopped) = watch::channel(false);
    let loop_options = LoopOptions { batch: 1000, idle_poll: idle_poll(), ..LoopOptions::default() };
    let workers: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(loops::worker_loop(engine.clone(), engine.wakeup(), loop_options.clone(), stopped.clone()))
        })
        .collect();
    let fired0 = sluice_store::metrics::engine_metrics().timers_fired.load(Ordering::Relaxed);
    // Due times from after the starts end (`BENCH_TIMER_DELAY_S`, else 5 s + 1 s per 10,000
    // Requests), evenly over `spread`.
    let delay = std::env::var("BENCH_TIMER_DELAY_S").ok().and_then(|v| v.parse().ok()).unwrap_or(5 + n as i64 / 10_000);
    let first_due = Utc::now() + chrono::Duration::seconds(delay);
    let step = spread.as_secs_f64() / n as f64;
    let t0 = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (engine, next) = (engine.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let due = first_due + chrono::Duration::microseconds((i as f64 * step * 1e6) as i64);
                    let due = due.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                    let data = Map::from_iter([("due".to_string(), Value::from(due))]);
                    engine.start_request("timers", None, data, Utc::now()).await.expect("start");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("starter");
    }
    let started = t0.elapsed().as_secs_f64();
    let waiting_rss = rss_mib();
    let mut max_rss = waiting_rss;
    let fire0 = Instant::now();
    // Wait on this process's count of fired timers (a `COUNT(*)` over a million Requests every
    // 200 ms took most of a core from PostgreSQL, beside the engine it measures), then confirm
    // from the store that every Request completed. With metrics off, the store is polled, less
    // often.
    let counting = sluice_store::metrics::enabled();
    let fired_now = || sluice_store::metrics::engine_metrics().timers_fired.load(Ordering::Relaxed) - fired0;
    loop {
        max_rss = max_rss.max(rss_mib());
        if counting && (fired_now() as usize) < n {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let completed = store.count_requests(Some("completed")).await.expect("count") as usize;
        if completed >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(if counting { 200 } else { 2000 })).await;
    }
    let _ = stop.send(true);
    for w in workers {
        w.await.expect("worker");
    }
    let fired = sluice_store::metrics::engine_metrics().timers_fired.load(Ordering::Relaxed) - fired0;
    // Lag: completion (the same step as the firing) minus due time, from every Request's row.
    let mut lags = Vec::with_capacity(n);
    // The lags by tenth of the window of due times (when in the firing the lag was).
    let mut tenths: Vec<Vec<i64>> = vec![Vec::new(); 10];
    let window_ms = spread.as_millis().max(1) as i64;
    let mut cursor: Option<String> = None;
    let filter = sluice_store::RequestFilter::default();
    loop {
        let page = store.list_requests(&filter, 1000, cursor.as_deref()).await.expect("list");
        for r in &page.requests {
            let due = r.data.get("due").and_then(Value::as_str).expect("due");
            let due = chrono::DateTime::parse_from_rfc3339(due).expect("due time").with_timezone(&Utc);
            let done = r.completed_at.expect("completed");
            lags.push((done - due).num_milliseconds());
            let tenth = ((due - first_due).num_milliseconds() * 10 / window_ms).clamp(0, 9) as usize;
            tenths[tenth].push((done - due).num_milliseconds());
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    lags.sort_unstable();
    let at = |q: f64| lags[((lags.len() as f64 * q) as usize).min(lags.len() - 1)];
    let last_due = first_due + chrono::Duration::microseconds((n as f64 * step * 1e6) as i64);
    let firing = (last_due - first_due).num_milliseconds().max(1) as f64 / 1000.0;
    println!(
        "  {n} Requests waiting on timers (started in {started:.1} s, {:.0}/s); fired: {fired} (every timer once: {}), \
         {:.0} timers/s over {firing:.0} s of due times (all done {:.1} s after the starts)",
        n as f64 / started,
        fired as usize == n && lags.len() == n,
        n as f64 / firing,
        fire0.elapsed().as_secs_f64(),
    );
    println!(
        "  lag (completion − due): p50 {} ms, p99 {} ms, max {} ms, earliest {} ms; memory {waiting_rss:.1} MiB when all waited, \
         max {max_rss:.1} MiB while they fired",
        at(0.5),
        at(0.99),
        lags.last().copied().unwrap_or(0),
        lags.first().copied().unwrap_or(0),
    );
    let by_tenth: Vec<String> = tenths
        .iter_mut()
        .map(|t| {
            t.sort_unstable();
            match t.len() {
                0 => "-".to_string(),
                len => format!("{}/{}", t[len / 2], t[((len as f64 * 0.99) as usize).min(len - 1)]),
            }
        })
        .collect();
    println!("  lag p50/p99 ms by tenth of the due window: {}", by_tenth.join(" "));
}

/// `n` finished Requests, then the throughput run (`BENCH_PRUNE_RUN` Requests, default 20,000)
/// three times alone, then again and again while the pruning loop's deletes (its batch and
/// pause) remove the `n`; prints both throughputs and how fast the pruning went.
async fn pruning(store: Store, n: usize, starters: usize) {
    let m: usize = std::env::var("BENCH_PRUNE_RUN").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    assert!(sluice_store::metrics::enabled(), "the prune scenario counts completions with the engine's metrics");
    let t0 = Instant::now();
    run_counted(store.clone(), n, starters, true).await;
    println!("  {n} finished Requests written in {:.1} s", t0.elapsed().as_secs_f64());
    let cutoff = Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    // The server would have vacuumed and analyzed after the writes (autovacuum, or where it is off
    // the heartbeat loop's round): the run alone is measured on tables in that state too.
    loops::maintain(store.clone()).await;
    let rate = |f: &Figures| f.requests as f64 / f.seconds;
    let mut alone = Vec::new();
    for _ in 0..3 {
        alone.push(rate(&run_counted(store.clone(), m, starters, true).await));
    }
    // What `sluice serve`'s heartbeat loop starts once a minute: where PostgreSQL's autovacuum
    // is off, the vacuums and analyses it would have done.
    let maintenance = {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                loops::maintain(store.clone()).await;
            }
        })
    };
    let pace = loops::prune_pace(&store);
    let pruner = {
        let store = store.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let stats = store.prune_history_paced(cutoff, loops::PRUNE_BATCH, pace).await;
            (stats.expect("prune"), t.elapsed().as_secs_f64())
        })
    };
    let mut during = Vec::new();
    while !pruner.is_finished() {
        let f = run_counted(store.clone(), m, starters, true).await;
        // A run that ended after the pruning is not a run under it.
        if !pruner.is_finished() {
            during.push(rate(&f));
        }
    }
    let (stats, seconds) = pruner.await.expect("pruner");
    maintenance.abort();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let (a, d) = (median(&mut alone), median(&mut during));
    println!(
        "  pruned {} Requests ({} history rows) in {seconds:.1} s ({:.0} Requests/s, {} a transaction, at least {} ms \
         between, at most {:.0} % of the time)",
        stats.requests,
        stats.events,
        stats.requests as f64 / seconds,
        loops::PRUNE_BATCH,
        pace.pause.as_millis(),
        pace.share * 100.0
    );
    println!(
        "  throughput ({m} Requests a run): alone {:?} (median {a:.0}/s); during the pruning {} runs, median {d:.0}/s \
         = {:.0} % of alone (min {:.0}, max {:.0})",
        alone.iter().map(|r| r.round()).collect::<Vec<_>>(),
        during.len(),
        100.0 * d / a.max(1.0),
        during.first().copied().unwrap_or(0.0),
        during.last().copied().unwrap_or(0.0),
    );
}

fn print(name: &str, f: &Figures) {
    println!(
        "{name:<22} {:>7} Requests in {:>6.2} s: {:>9.0} completed Requests/s, {:.4} commits/Request, {:>6.1} µs CPU/Request{}",
        f.requests,
        f.seconds,
        f.requests as f64 / f.seconds,
        f.commits as f64 / f.requests as f64,
        f.cpu * 1e6 / f.requests as f64,
        match f.server_cpu {
            Some(s) => format!(" (+ {:.1} µs in PostgreSQL)", s * 1e6 / f.requests as f64),
            None => String::new(),
        }
    );
}

fn main() {
    let n: usize = std::env::var("BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let starters: usize = std::env::var("BENCH_STARTERS").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let scenario = std::env::var("BENCH_SCENARIO").unwrap_or_else(|_| "throughput".into());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let metrics = std::env::var("BENCH_METRICS").map_or(true, |v| v != "0");
    sluice_store::metrics::set_enabled(metrics);
    println!("engine metrics {}", if metrics { "on" } else { "off (BENCH_METRICS=0)" });
    println!(
        "start → serviceTask (no-op connector) → end; {starters} concurrent starters, {} cores, handoff {}",
        num_cpus(),
        if handoff() { "on" } else { "off" }
    );
    for backend in backends.split(',') {
        rt.block_on(async {
            match backend.trim() {
                "sqlite" => {
                    let dir = std::env::temp_dir().join(format!("sluice-bench-{}", uuid::Uuid::now_v7().simple()));
                    std::fs::create_dir_all(&dir).expect("temp dir");
                    let url = format!("sqlite://{}", dir.join("bench.db").display());
                    let options = StoreOptions { durability: Durability::Full, ..StoreOptions::default() };
                    let store = Store::open(&url, options).await.expect("open sqlite");
                    if scenario == "parked" {
                        println!("SQLite (synchronous=FULL), parked at a message:");
                        parked(store.clone(), n, starters).await;
                    } else if scenario == "migrate" {
                        println!("SQLite (synchronous=FULL), migrating Requests parked at a message:");
                        migrations(store.clone(), n, starters).await;
                    } else if scenario == "timers" {
                        println!("SQLite (synchronous=FULL), waiting on timers:");
                        timers(store.clone(), n, starters, timer_spread()).await;
                    } else if scenario == "prune" {
                        println!("SQLite (synchronous=FULL), pruning while Requests run:");
                        pruning(store.clone(), n, starters).await;
                    } else {
                        let f = run(store.clone(), n, starters).await;
                        print("SQLite (synchronous=FULL)", &f);
                    }
                    let keep = std::env::var_os("BENCH_KEEP_DB").is_some();
                    if keep {
                        // The write-ahead log as the last commits left it (closing checkpoints it).
                        let _ = std::fs::copy(dir.join("bench.db-wal"), dir.join("bench.db-wal.last"));
                    }
                    store.close().await;
                    if keep {
                        println!("kept {}", dir.join("bench.db").display());
                    } else {
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                }
                "postgres" => {
                    let url = sluice_test_support::postgres_url();
                    let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
                    let options = StoreOptions {
                        durability: Durability::Full,
                        postgres_schema: Some(schema.clone()),
                        max_connections: 16,
                        ..StoreOptions::default()
                    };
                    let store = Store::open(&url, options).await.expect("open postgres");
                    if scenario == "parked" {
                        println!("PostgreSQL (sync commit), parked at a message:");
                        parked(store.clone(), n, starters).await;
                    } else if scenario == "migrate" {
                        println!("PostgreSQL (sync commit), migrating Requests parked at a message:");
                        migrations(store.clone(), n, starters).await;
                    } else if scenario == "timers" {
                        println!("PostgreSQL (sync commit), waiting on timers:");
                        timers(store.clone(), n, starters, timer_spread()).await;
                    } else if scenario == "prune" {
                        println!("PostgreSQL (sync commit), pruning while Requests run:");
                        pruning(store.clone(), n, starters).await;
                    } else {
                        let f = run(store.clone(), n, starters).await;
                        print("PostgreSQL (sync commit)", &f);
                    }
                    store.close().await;
                    drop_schema(&url, &schema).await;
                }
                other => eprintln!("unknown backend `{other}` (sqlite, postgres)"),
            }
        });
    }
}

/// Handoff (connector jobs run by the node that wrote them) as `sluice serve` runs; off with
/// `BENCH_HANDOFF=0`, to measure the job-table path alone.
fn handoff() -> bool {
    std::env::var("BENCH_HANDOFF").map_or(true, |v| v != "0")
}

/// How long the worker loops wait for a wake-up before they poll again: `BENCH_IDLE_POLL_MS`, else
/// 100 ms, as `sluice serve`.
fn idle_poll() -> Duration {
    Duration::from_millis(std::env::var("BENCH_IDLE_POLL_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(100))
}

/// The window the timers' due times are spread over: `BENCH_TIMER_SPREAD_S`, else 100 s.
fn timer_spread() -> Duration {
    Duration::from_secs(std::env::var("BENCH_TIMER_SPREAD_S").ok().and_then(|v| v.parse().ok()).unwrap_or(100))
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Executor;
    if let Ok(pool) = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await {
        let _ = pool.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str()).await;
        pool.close().await;
    }
}
