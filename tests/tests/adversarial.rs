//! The adversarial suite of issue 18: the real `sluice serve` binary, its address space limited to
//! 1 GiB (`RLIMIT_AS`), against models and calls that once grew it to gigabytes or stalled it, on
//! SQLite and on PostgreSQL. In every case the Request gets its incident (or the call its answer),
//! the server stays up, `/healthz` answers every probe within 100 ms while the case runs, and
//! nothing else is lost: a Request started before the cases is intact after each of them, and a
//! new Request still starts and completes.
//!
//! One server per backend runs the cases one after another (the timer loop runs on a restart of
//! it on the same database, with a small `SLUICE_MAX_MOVES_PER_WINDOW`: the other cases need the
//! default). A failing case does not stop the others: the test fails at the end with a table of
//! every case (the slowest `/healthz` probe, the server's peak memory, what failed). The two
//! backends take turns, so neither's timings include the other's work. PostgreSQL gets a database
//! of its own (`sluice_tests::db`): without a server the PostgreSQL run passes as skipped, and
//! fails under `CI=true`. Linux only: the server's limit and memory are read from `/proc`.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::any::Any;
use std::cell::Cell;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::bpmn::{self, end, script_task, start, task, timer, user_task};
use sluice_tests::db::Db;
use sluice_tests::server::{self, Api, Serve, ServeConfig};
use sluice_tests::workspace;

/// The server's address space: 1 GiB.
const ADDRESS_SPACE: u64 = 1 << 30;
/// The slowest `/healthz` answer a case may cause.
const HEALTHZ_WITHIN: Duration = Duration::from_millis(100);
/// How often the watcher probes `/healthz`.
const PROBE_EVERY: Duration = Duration::from_millis(20);
/// The flows a Request may take in a window on the server of the timer-loop case.
const SMALL_MOVES: &str = "2000";

// ---- the /healthz watcher ----

/// What the probes of one case saw.
#[derive(Debug, Default)]
struct Probes {
    count: usize,
    slowest: Duration,
    /// When the probes slower than [`HEALTHZ_WITHIN`] were sent (since the watcher started).
    slow: Vec<Duration>,
    /// Probes without a 200: what happened, and after how long.
    failures: Vec<String>,
}

/// Probes `/healthz` every [`PROBE_EVERY`] until stopped, each on a fresh TCP connection as a load
/// balancer's or kubelet's health check does (they do not keep connections alive between probes),
/// so the time to be accepted counts too.
struct Watcher {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Probes>,
}

impl Watcher {
    fn start(addr: SocketAddr) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut probes = Probes::default();
            let began = Instant::now();
            while !s.load(Ordering::SeqCst) {
                let sent = Instant::now();
                let answer = server::exchange(addr, "GET", "/healthz", &[], b"");
                let took = sent.elapsed();
                probes.count += 1;
                probes.slowest = probes.slowest.max(took);
                if took >= HEALTHZ_WITHIN {
                    probes.slow.push(sent - began);
                }
                match answer {
                    Ok(a) if a.status == 200 => {}
                    Ok(a) => probes.failures.push(format!("{} after {took:?}: {}", a.status, a.body)),
                    Err(e) => probes.failures.push(format!("{e} after {took:?}")),
                }
                std::thread::sleep(PROBE_EVERY);
            }
            probes
        });
        Watcher { stop, thread }
    }

    fn finish(self) -> Probes {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the /healthz watcher panicked")
    }
}

// ---- calls ----

fn deploy(api: Api, xml: &str) {
    let (status, body) = api.deploy(xml.as_bytes()).expect("no answer to the deploy");
    assert_eq!(status, 201, "{body}");
}

/// Starts a Request of `key` (201); the Request.
fn start_request(api: Api, key: &str, data: Value) -> Value {
    let (status, r) = api
        .post_json(&format!("/api/v1/processes/{key}/requests"), &json!({ "data": data }))
        .unwrap_or_else(|e| panic!("no answer to the start of {key}: {e}"));
    assert_eq!(status, 201, "starting {key}: {}", r["error"]);
    r
}

fn request(api: Api, id: &str) -> Value {
    let (status, r) = api.get(&format!("/api/v1/requests/{id}")).expect("no answer to GET the Request");
    assert_eq!(status, 200, "{r}");
    r
}

/// Polls the Request until `done` holds; a panic after `within`.
fn wait_request(api: Api, id: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let r = request(api, id);
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "the Request never got there in {within:?}: {}", brief(&r));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The Request's status, tokens and incidents (not its data).
fn brief(r: &Value) -> String {
    let incidents: Vec<&Value> = r["incidents"].as_array().into_iter().flatten().take(3).collect();
    format!("{} {} tokens {:?}, incidents {incidents:?}", r["id"], r["status"], r["tokens"].as_array().map(Vec::len))
}

/// The one incident of the Request: its element, code and message.
fn incident(r: &Value) -> (&str, &str, &str) {
    let incidents = r["incidents"].as_array().expect("a Request has incidents");
    assert_eq!(incidents.len(), 1, "{}", brief(r));
    let i = &incidents[0];
    (i["element_id"].as_str().unwrap(), i["code"].as_str().unwrap(), i["message"].as_str().unwrap())
}

/// The listed Requests of `process` (summaries; one page is enough here).
fn requests_of(api: Api, process: &str) -> Vec<Value> {
    let (status, page) = api.get(&format!("/api/v1/requests?process={process}&limit=200")).unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page["next_cursor"].is_null(), "more than a page of {process}");
    page["requests"].as_array().unwrap().clone()
}

/// The keys of the deployed processes.
fn process_keys(api: Api) -> Vec<String> {
    let (status, list) = api.get("/api/v1/processes").unwrap();
    assert_eq!(status, 200, "{list}");
    list["processes"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap().to_string()).collect()
}

// ---- the models ----

/// The Request that must outlive every case: start → user task → end.
fn bystander_process() -> String {
    bpmn::definitions(&[bpmn::chain(
        "bystander",
        None,
        &["f1", "f2"],
        &[start("start"), user_task("review", "Review"), end("end")],
    )])
}

fn bystander_data() -> Value {
    json!({"who": "bystander", "n": 42, "tags": ["a", "b"]})
}

/// A Request that goes through the worker and completes: start → zero-length timer → end.
fn simple_process() -> String {
    bpmn::definitions(&[bpmn::chain(
        "simple",
        None,
        &["f1", "f2"],
        &[start("start"), timer("wait", None, "PT0S"), end("end")],
    )])
}

/// A 10 KB text repeated 100,000 times by a script: a gigabyte unless stopped, behind
/// `waits` (a timer) or not.
fn growing_process(key: &str, waits: bool) -> String {
    let script = format!(r#"= for i in 1..100000 return "{}""#, "x".repeat(10 * 1024));
    let mut elements = vec![start("start")];
    if waits {
        elements.push(timer("wait", None, "PT1S"));
    }
    elements.extend([script_task("script", &script, "big"), end("end")]);
    let flows = ["f1", "f2", "f3"];
    bpmn::definitions(&[bpmn::chain(key, None, &flows[..elements.len() - 1], &elements)])
}

/// start → fork → `branches` flows straight into → join → end.
fn wide_process(branches: usize) -> String {
    let mut body = vec![
        start("start").xml,
        bpmn::flow("f_fork", "start", "fork"),
        r#"<bpmn:parallelGateway id="fork"/>"#.to_string(),
        r#"<bpmn:parallelGateway id="join"/>"#.to_string(),
        bpmn::flow("f_end", "join", "end"),
        end("end").xml,
    ];
    body.extend((0..branches).map(|i| bpmn::flow(&format!("b{i}"), "fork", "join")));
    bpmn::definitions(&[bpmn::process("wide", None, &body.join("\n"))])
}

/// start → work → zero-length timer → back to work, forever.
fn timer_loop_process() -> String {
    let body = [
        start("start").xml,
        bpmn::flow("f1", "start", "work"),
        task("work").xml,
        bpmn::flow("f2", "work", "wait"),
        timer("wait", None, "PT0S").xml,
        bpmn::flow("f3", "wait", "work"),
    ];
    bpmn::definitions(&[bpmn::process("spin", None, &body.join("\n"))])
}

/// start → `tasks` tasks one after another → end.
fn long_process(tasks: usize) -> String {
    let mut elements = vec![start("start")];
    elements.extend((0..tasks).map(|i| task(&format!("t{i}"))));
    elements.push(end("end"));
    let flows: Vec<String> = (0..=tasks).map(|i| format!("f{i}")).collect();
    let flows: Vec<&str> = flows.iter().map(String::as_str).collect();
    bpmn::definitions(&[bpmn::chain("huge", None, &flows, &elements)])
}

// ---- the cases ----

/// What a case may look at besides the server.
struct Ctx {
    api: Api,
    bystander: String,
    /// The answer to the 100,000-task deploy, checked again at the end.
    huge_deploy: Cell<Option<u16>>,
    /// Whether the last case completed the bystander.
    bystander_done: Cell<bool>,
}

/// Which server a case runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limits {
    Default,
    /// `SLUICE_MAX_MOVES_PER_WINDOW` = [`SMALL_MOVES`].
    FewMoves,
}

/// One case: it panics (an assertion) when the engine does not hold; else a note for the table.
struct Case {
    name: &'static str,
    limits: Limits,
    run: fn(&Ctx) -> String,
}

const CASES: &[Case] = &[
    Case { name: "baseline: normal Requests", limits: Limits::Default, run: baseline },
    Case { name: "FEEL value limit", limits: Limits::Default, run: feel_value_limit },
    Case { name: "FEEL value limit behind a timer", limits: Limits::Default, run: feel_value_limit_behind_a_timer },
    Case { name: "process that calls itself", limits: Limits::Default, run: call_depth_limit },
    Case { name: "fork of 10,000 flows into a join", limits: Limits::Default, run: wide_fork },
    Case { name: "list Requests (limit=200), 20 of 3 MiB", limits: Limits::Default, run: big_listing },
    Case { name: "deploy 100,000 tasks", limits: Limits::Default, run: huge_deploy },
    Case { name: "loop through a zero timer", limits: Limits::FewMoves, run: timer_loop },
    Case { name: "afterwards: nothing grew, the bystander completes", limits: Limits::FewMoves, run: afterwards },
];

fn baseline(ctx: &Ctx) -> String {
    let began = Instant::now();
    for i in 0..5 {
        let r = start_request(ctx.api, "simple", json!({ "i": i }));
        wait_request(ctx.api, r["id"].as_str().unwrap(), Duration::from_secs(30), |r| r["status"] == "completed");
    }
    format!("5 Requests through a timer in {:?}", began.elapsed())
}

fn feel_value_limit(ctx: &Ctx) -> String {
    let xml = growing_process("grow", false);
    assert!((10_000..12_000).contains(&xml.len()), "a 10 KB model: {} bytes", xml.len());
    deploy(ctx.api, &xml);
    let began = Instant::now();
    let r = start_request(ctx.api, "grow", json!({}));
    let took = began.elapsed();
    let r = request(ctx.api, r["id"].as_str().unwrap());
    assert_eq!(r["status"], "error", "{}", brief(&r));
    let (element, code, message) = incident(&r);
    assert_eq!((element, code), ("script", "expression_failed"), "{message}");
    assert!(message.contains("SLUICE_MAX_VALUE_BYTES"), "{message}");
    format!("the start answered with the incident in {took:?}")
}

fn feel_value_limit_behind_a_timer(ctx: &Ctx) -> String {
    deploy(ctx.api, &growing_process("grow_later", true));
    let r = start_request(ctx.api, "grow_later", json!({}));
    assert_eq!(r["tokens"], json!([{"element_id": "wait", "state": "waiting"}]), "{}", brief(&r));
    let began = Instant::now();
    let r = wait_request(ctx.api, r["id"].as_str().unwrap(), Duration::from_secs(30), |r| r["status"] != "active");
    assert_eq!(r["status"], "error", "{}", brief(&r));
    let (element, code, message) = incident(&r);
    assert_eq!((element, code), ("script", "expression_failed"), "{message}");
    assert!(message.contains("SLUICE_MAX_VALUE_BYTES"), "{message}");
    format!("the incident {:?} after the 1 s timer was set", began.elapsed())
}

/// The default `SLUICE_MAX_CALL_DEPTH`.
const CALL_DEPTH: usize = 32;

fn call_depth_limit(ctx: &Ctx) -> String {
    // The engine's own model of a process that calls itself.
    let xml = std::fs::read_to_string(workspace().join("engine/tests/models/self_call.bpmn")).unwrap();
    deploy(ctx.api, &xml);
    let began = Instant::now();
    let root = start_request(ctx.api, "again", json!({}));
    let deadline = Instant::now() + Duration::from_secs(60);
    let all = loop {
        let all = requests_of(ctx.api, "again");
        if all.iter().any(|r| r["status"] != "active") {
            break all;
        }
        assert!(Instant::now() < deadline, "no Request of the chain stopped; {} Requests", all.len());
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = began.elapsed();
    // The root and one child a level: the deepest one's call is refused.
    assert_eq!(all.len(), CALL_DEPTH + 1, "Requests of the self-calling process");
    let stopped: Vec<&Value> = all.iter().filter(|r| r["status"] != "active").collect();
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    let deepest = request(ctx.api, stopped[0]["id"].as_str().unwrap());
    assert_eq!(deepest["status"], "error", "{}", brief(&deepest));
    let (element, code, message) = incident(&deepest);
    assert_eq!((element, code), ("call", "call_depth_limit"), "{message}");
    assert!(message.contains("SLUICE_MAX_CALL_DEPTH"), "{message}");
    let root = request(ctx.api, root["id"].as_str().unwrap());
    assert_eq!(root["tokens"], json!([{"element_id": "call", "state": "waiting"}]), "{}", brief(&root));
    format!("{} Requests, the deepest with its incident after {took:?}", all.len())
}

const BRANCHES: usize = 10_000;

fn wide_fork(ctx: &Ctx) -> String {
    deploy(ctx.api, &wide_process(BRANCHES));
    let began = Instant::now();
    let r = start_request(ctx.api, "wide", json!({}));
    let took = began.elapsed();
    assert_eq!(r["status"], "completed", "{}", brief(&r));
    assert!(r["incidents"].as_array().unwrap().is_empty(), "{}", brief(&r));
    // Quick: a whole step of 10,000 branches in one answer, far from the 30 s request limit.
    assert!(took < Duration::from_secs(5), "the start took {took:?}");
    format!("the start answered completed in {took:?}")
}

/// Big Requests for the listing: each holds a 3 MiB text.
const BIG_REQUESTS: usize = 20;
const BIG_TEXT: usize = 3 << 20;
/// What one page of whole Requests may hold.
const PAGE_BUDGET: usize = 8 << 20;

fn big_listing(ctx: &Ctx) -> String {
    deploy(
        ctx.api,
        &bpmn::definitions(&[bpmn::chain(
            "bulky",
            None,
            &["f1", "f2"],
            &[start("s"), user_task("hold", "Hold"), end("e")],
        )]),
    );
    let text = "x".repeat(BIG_TEXT);
    for i in 0..BIG_REQUESTS {
        start_request(ctx.api, "bulky", json!({ "i": i, "text": text }));
    }
    let get = |path: &str| {
        let began = Instant::now();
        let (status, body) =
            server::http(ctx.api.addr, Some(&format!("Bearer {}", server::TOKEN)), "GET", path, None, b"")
                .unwrap_or_else(|e| panic!("no answer to GET {path}: {e}"));
        assert_eq!(status, 200, "{path}: {}", &body[..body.len().min(500)]);
        (began.elapsed(), body.len(), serde_json::from_str::<Value>(&body).unwrap())
    };
    // Summaries: every Request of the server on one small page.
    let (took_summaries, bytes, page) = get("/api/v1/requests?limit=200");
    let requests = page["requests"].as_array().unwrap();
    assert_eq!(requests.iter().filter(|r| r["process_key"] == "bulky").count(), BIG_REQUESTS);
    assert!(requests.iter().all(|r| r.get("data").is_none()), "summaries carry no data");
    assert!(bytes < 100_000, "a page of summaries of {bytes} bytes");
    // Whole Requests: as many as fit the page's budget, and a cursor for the rest.
    let (took_whole, whole_bytes, page) = get("/api/v1/requests?process=bulky&include=data&limit=200");
    let requests = page["requests"].as_array().unwrap();
    assert!(!requests.is_empty() && requests.len() < BIG_REQUESTS, "{} whole Requests on a page", requests.len());
    assert!(requests.iter().all(|r| r["data"]["text"].as_str().map(str::len) == Some(BIG_TEXT)));
    assert!(whole_bytes <= PAGE_BUDGET, "a page of {whole_bytes} bytes");
    assert!(page["next_cursor"].is_string(), "no cursor after a page within the budget");
    format!(
        "summaries: {bytes} B in {took_summaries:?}; include=data: {} Requests, {whole_bytes} B in {took_whole:?}",
        requests.len()
    )
}

const HUGE_TASKS: usize = 100_000;

fn huge_deploy(ctx: &Ctx) -> String {
    let xml = long_process(HUGE_TASKS);
    // Within the 10 MiB body limit: the deploy itself is tried, not the body limit.
    assert!(xml.len() < 10 << 20, "{} bytes", xml.len());
    let began = Instant::now();
    let (status, body) = ctx.api.deploy(xml.as_bytes()).expect("no answer to the deploy");
    let took = began.elapsed();
    ctx.huge_deploy.set(Some(status));
    let listed = process_keys(ctx.api).iter().any(|k| k == "huge");
    match status {
        201 => assert!(listed, "deployed (201) but not listed"),
        408 => assert!(!listed, "408, yet the process was stored"),
        400..=499 => {
            assert!(body["error"]["code"].is_string(), "{body}");
            assert!(!listed, "{status}, yet the process was stored");
        }
        _ => panic!("the deploy answered {status} after {took:?}: {body}"),
    }
    format!("{} bytes: {status} in {took:?}", xml.len())
}

fn timer_loop(ctx: &Ctx) -> String {
    deploy(ctx.api, &timer_loop_process());
    let began = Instant::now();
    let r = start_request(ctx.api, "spin", json!({}));
    let r = wait_request(ctx.api, r["id"].as_str().unwrap(), Duration::from_secs(120), |r| r["status"] != "active");
    let took = began.elapsed();
    assert_eq!(r["status"], "error", "{}", brief(&r));
    let (element, code, message) = incident(&r);
    assert_eq!((element, code), ("work", "activity_limit"), "{message}");
    assert!(message.contains("SLUICE_MAX_MOVES_PER_WINDOW"), "{message}");
    format!("the incident after {took:?}")
}

fn afterwards(ctx: &Ctx) -> String {
    // The self-calling chain stopped for good (a restart later too).
    let chain = requests_of(ctx.api, "again");
    assert_eq!(chain.len(), CALL_DEPTH + 1, "the self-calling process went on starting Requests");
    // A 408 to the huge deploy stored nothing later either.
    let listed = process_keys(ctx.api).iter().any(|k| k == "huge");
    assert_eq!(listed, ctx.huge_deploy.get() == Some(201), "the huge deploy answered {:?}", ctx.huge_deploy.get());
    // The bystander's task completes it, with its data.
    let (status, tasks) = ctx.api.get(&format!("/api/v1/tasks?request={}&status=active", ctx.bystander)).unwrap();
    assert_eq!(status, 200, "{tasks}");
    let tasks = tasks["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let path = format!("/api/v1/tasks/{}/complete", tasks[0]["id"].as_str().unwrap());
    let (status, body) = ctx.api.post_json(&path, &json!({"data": {"reviewed": true}})).unwrap();
    assert_eq!(status, 200, "{body}");
    ctx.bystander_done.set(true);
    let r = wait_request(ctx.api, &ctx.bystander, Duration::from_secs(30), |r| r["status"] == "completed");
    let mut data = bystander_data();
    data["reviewed"] = json!(true);
    assert_eq!(r["data"], data);
    format!("{} Requests in the chain; the bystander completed", chain.len())
}

// ---- the suite ----

/// One row of the table.
struct Row {
    case: &'static str,
    took: Duration,
    probes: Probes,
    /// The server's peak resident and mapped memory after the case (KiB).
    peak: (u64, u64),
    note: String,
    failures: Vec<String>,
}

/// A `/proc/<pid>/status` value in KiB (`VmHWM`, `VmPeak`).
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The server's `Max address space` soft limit, in bytes.
fn address_space_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max address space"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn panic_text(p: Box<dyn Any + Send>) -> String {
    match p.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_else(|| "a panic".into()),
    }
}

/// The backend's server and what the cases share.
struct Suite {
    name: &'static str,
    config: ServeConfig,
    serve: Serve,
    limits: Limits,
    lives: usize,
}

impl Suite {
    fn start(name: &'static str, db: &Db) -> Suite {
        let config = ServeConfig {
            database_url: db.url(),
            log_dir: db.log_dir(name),
            env: Vec::new(),
            address_space: Some(ADDRESS_SPACE),
        };
        let serve = Serve::start(&config, &format!("{name}-0"));
        let limit = address_space_limit(serve.pid());
        assert_eq!(limit, Some(ADDRESS_SPACE), "the server runs without its address-space limit");
        Suite { name, config, serve, limits: Limits::Default, lives: 0 }
    }

    /// The suite on a server with `limits`: a restart on the same database when they are not its
    /// server's own.
    fn with_limits(self, limits: Limits) -> Suite {
        if self.limits == limits {
            return self;
        }
        let Suite { name, config, serve, lives, .. } = self;
        let status = serve.terminate();
        assert!(status.success(), "sluice serve exited with {status:?} after SIGTERM");
        let mut env = config.clone();
        if limits == Limits::FewMoves {
            env.env.push(("SLUICE_MAX_MOVES_PER_WINDOW".into(), SMALL_MOVES.into()));
        }
        let serve = Serve::start(&env, &format!("{name}-{}", lives + 1));
        Suite { name, config, serve, limits, lives: lives + 1 }
    }

    /// Runs `case` with the watcher on, then checks the server and the bystander.
    fn run(&mut self, case: &Case, ctx: &mut Ctx) -> Row {
        ctx.api = self.serve.api();
        let began = Instant::now();
        let watcher = Watcher::start(self.serve.addr);
        let outcome = catch_unwind(AssertUnwindSafe(|| (case.run)(ctx)));
        let took = began.elapsed();
        let probes = watcher.finish();
        let pid = self.serve.pid();
        let peak = (proc_status_kib(pid, "VmHWM"), proc_status_kib(pid, "VmPeak"));
        let mut failures = Vec::new();
        let note = match outcome {
            Ok(note) => note,
            Err(p) => {
                failures.push(panic_text(p));
                String::new()
            }
        };
        if let Some(status) = self.serve.exited() {
            failures.push(format!("the server exited ({status}):\n{}", self.serve.log_tail()));
            return Row { case: case.name, took, probes, peak, note, failures };
        }
        if !probes.failures.is_empty() {
            failures.push(format!("{} /healthz probes failed: {:?}", probes.failures.len(), probes.failures));
        }
        if probes.slowest >= HEALTHZ_WITHIN {
            failures.push(format!(
                "/healthz took {:?} at worst ({} of {} probes over {HEALTHZ_WITHIN:?}, sent {:?} into the case)",
                probes.slowest,
                probes.slow.len(),
                probes.count,
                probes.slow
            ));
        }
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| nothing_else_lost(ctx))) {
            failures.push(format!("something else was lost: {}", panic_text(p)));
        }
        Row { case: case.name, took, probes, peak, note, failures }
    }
}

/// The bystander is as it was (or completed, once its task was), and a new Request starts and
/// completes.
fn nothing_else_lost(ctx: &Ctx) {
    let r = request(ctx.api, &ctx.bystander);
    let mut data = bystander_data();
    if ctx.bystander_done.get() {
        data["reviewed"] = json!(true);
        assert_eq!(r["status"], "completed", "{}", brief(&r));
        assert_eq!(r["tokens"], json!([]));
    } else {
        assert_eq!(r["status"], "active", "{}", brief(&r));
        assert_eq!(r["tokens"], json!([{"element_id": "review", "state": "waiting"}]));
    }
    assert_eq!(r["data"], data);
    assert_eq!(r["incidents"], json!([]));
    let r = start_request(ctx.api, "simple", json!({"after": "a case"}));
    wait_request(ctx.api, r["id"].as_str().unwrap(), Duration::from_secs(30), |r| r["status"] == "completed");
}

/// The backends take turns: two suites at once on two cores would time each other.
static TURN: Mutex<()> = Mutex::new(());

fn run_suite(name: &'static str, db: &Db) {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let began = Instant::now();
    let mut suite = Suite::start(name, db);
    let api = suite.serve.api();
    deploy(api, &bystander_process());
    deploy(api, &simple_process());
    let bystander = start_request(api, "bystander", bystander_data());
    let mut ctx = Ctx {
        api,
        bystander: bystander["id"].as_str().unwrap().to_string(),
        huge_deploy: Cell::new(None),
        bystander_done: Cell::new(false),
    };
    let mut rows = Vec::new();
    for case in CASES {
        suite = suite.with_limits(case.limits);
        let row = suite.run(case, &mut ctx);
        let verdict = if row.failures.is_empty() { "ok" } else { "FAILED" };
        eprintln!("{name}: {} {verdict} in {:?}: {}", case.name, row.took, row.note);
        let dead = suite.serve.exited().is_some();
        rows.push(row);
        if dead {
            break;
        }
    }
    let mut table = format!(
        "{name}: {} cases in {:?}, the server limited to {} MiB of address space\n",
        rows.len(),
        began.elapsed(),
        ADDRESS_SPACE >> 20
    );
    table.push_str(&format!(
        "{:<52} {:>9} {:>15} {:>7} {:>14}  note\n",
        "case", "took", "slowest healthz", "probes", "peak RSS/VM MiB"
    ));
    for r in &rows {
        table.push_str(&format!(
            "{:<52} {:>8.1}s {:>12.1} ms {:>7} {:>7}/{:<6}  {}\n",
            r.case,
            r.took.as_secs_f64(),
            r.probes.slowest.as_secs_f64() * 1000.0,
            r.probes.count,
            r.peak.0 >> 10,
            r.peak.1 >> 10,
            r.note
        ));
    }
    eprintln!("{table}");
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.failures.is_empty())
        .map(|r| format!("{}:\n  {}", r.case, r.failures.join("\n  ")))
        .collect();
    assert!(
        failed.is_empty(),
        "{name}: {} of {} cases failed:\n{}\n{table}",
        failed.len(),
        CASES.len(),
        failed.join("\n")
    );
    assert_eq!(rows.len(), CASES.len());
    let status = suite.serve.terminate();
    assert!(status.success(), "sluice serve exited with {status:?} after SIGTERM");
}

#[test]
fn sqlite_survives_every_adversarial_case_within_1_gib() {
    let name = "adversarial-sqlite";
    run_suite(name, &Db::sqlite(name));
}

#[test]
fn postgres_survives_every_adversarial_case_within_1_gib() {
    let Some(db) = Db::postgres("adversarial::postgres_survives_every_adversarial_case_within_1_gib") else {
        return;
    };
    run_suite("adversarial-postgres", &db);
}
