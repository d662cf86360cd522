//! Crash tests: the real `sluice serve` binary runs hundreds of Requests (HTTP connector calls to
//! a local stub, a timer, a user task completed over the API, a parallel fork and join) and is
//! killed with SIGKILL at random moments, restarted on the same database, until every Request has
//! completed. Then every Request must have completed exactly once, every element and user task
//! exactly once, and no connector call may have been made for a step that was already committed.
//! On SQLite and on PostgreSQL (a fresh database per test), and with two servers on one
//! PostgreSQL database, one of them killed mid-run.
//!
//! The randomness is seeded; the seed is printed (`SLUICE_CRASH_SEED=… cargo test -p sluice-tests
//! --test crash` replays a run's kill schedule and stub delays, though not the OS's timing).
//! PostgreSQL is at `$SLUICE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! without a server there the PostgreSQL runs pass as skipped (fail under `CI=true`), and
//! `SLUICE_TEST_SKIP_POSTGRES=1` skips them. `SLUICE_CRASH_REQUESTS` changes how many
//! Requests each run starts (default 300).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_tests::bpmn;
use sluice_tests::db::Db;
use sluice_tests::server::{self, Api, Kill, Serve, ServeConfig};

/// The test process: fork → (POST to the stub) ‖ (PT1S timer → user task) → join → POST again.
/// The stub's address comes from the Request's data.
fn process() -> String {
    use bpmn::{end, flow, http_task, input, input_text, start, timer, user_task};
    let call = |id: &str, name: &str, path: &str, body: &str, result: &str| {
        let more = [input_text("body", body), input("result_variable", result)];
        http_task(id, Some(name), "POST", &format!("{{{{ stub }}}}{path}"), &more).xml
    };
    let body = [
        start("start").xml,
        flow("f_start", "start", "fork"),
        r#"<bpmn:parallelGateway id="fork"/>"#.to_string(),
        flow("f_a", "fork", "call_a"),
        flow("f_wait", "fork", "wait"),
        call("call_a", "First call", "/a", r#"{"n": {{ n }}}"#, "a"),
        timer("wait", Some("One second"), "PT1S").xml,
        flow("f_review", "wait", "review"),
        user_task("review", "Review").xml,
        flow("f_join_a", "call_a", "join"),
        flow("f_join_review", "review", "join"),
        r#"<bpmn:parallelGateway id="join"/>"#.to_string(),
        flow("f_b", "join", "call_b"),
        call("call_b", "Second call", "/b", r#"{"n": {{ n }}, "reviewed": {{ reviewed }}}"#, "b"),
        flow("f_end", "call_b", "end"),
        end("end").xml,
    ];
    bpmn::definitions(&[bpmn::process("crash", Some("Crash test"), &body.join("\n"))])
}

/// Every element of [`process`]: each must complete exactly once per Request.
const ELEMENTS: [&str; 8] = ["start", "fork", "call_a", "wait", "review", "join", "call_b", "end"];
/// The connector tasks and the stub path each calls.
const CONNECTORS: [(&str, &str); 2] = [("call_a", "/a"), ("call_b", "/b")];

/// A short Request lease, so a dead server's Requests are taken over within seconds.
const LEASE_SECS: &str = "2";

// ---- randomness ----

/// splitmix64: small and seedable.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (milliseconds, counts).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }

    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.range(lo, hi))
    }
}

/// The run's seed: `SLUICE_CRASH_SEED`, else from the clock; printed either way.
fn seed(test: &str) -> u64 {
    let seed = std::env::var("SLUICE_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(7)
    });
    eprintln!("{test}: seed {seed} (replay with SLUICE_CRASH_SEED={seed})");
    seed
}

fn request_count() -> usize {
    std::env::var("SLUICE_CRASH_REQUESTS").ok().and_then(|s| s.parse().ok()).unwrap_or(300)
}

// ---- the stub the connector tasks call ----

/// One call that reached the stub.
#[derive(Clone, Debug)]
struct Call {
    /// 1, 2, 3, … in order of arrival (the stub answers `{"call": n}`).
    n: u64,
    path: String,
    /// The `Idempotency-Key` header: `<request id>/<element id>`.
    key: String,
    at: Instant,
}

/// An HTTP server that records every call and answers `{"call": n}`, one call in six after
/// 50–200 ms (so kills land while calls are in flight).
struct Stub {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<Call>>>,
    /// Slow calls that arrived and are not answered yet.
    in_flight: Arc<AtomicUsize>,
}

impl Stub {
    fn start(seed: u64) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let rng = Arc::new(Mutex::new(Rng(seed ^ 0x5157_0B00)));
        let (c, f) = (calls.clone(), in_flight.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (c, f, rng) = (c.clone(), f.clone(), rng.clone());
                std::thread::spawn(move || answer(stream, &c, &f, &rng));
            }
        });
        Stub { addr, calls, in_flight }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

fn answer(mut stream: TcpStream, calls: &Mutex<Vec<Call>>, in_flight: &AtomicUsize, rng: &Mutex<Rng>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(head) = server::read_request(&mut stream) else { return };
    let path = head.split(' ').nth(1).unwrap_or_default().to_string();
    let key = header(&head, "idempotency-key").unwrap_or_default();
    let n = {
        let mut calls = calls.lock().unwrap();
        let n = calls.len() as u64 + 1;
        calls.push(Call { n, path, key, at: Instant::now() });
        n
    };
    let delay = {
        let mut rng = rng.lock().unwrap();
        if rng.range(0, 6) == 0 { rng.ms(50, 200) } else { Duration::ZERO }
    };
    let slow = !delay.is_zero();
    if slow {
        in_flight.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(delay);
    }
    server::answer_json(&mut stream, &json!({"call": n}).to_string());
    if slow {
        in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

// ---- driving the servers ----

fn config(db: &Db, name: &str) -> ServeConfig {
    ServeConfig {
        database_url: db.url(),
        log_dir: db.log_dir(name),
        env: vec![
            ("SLUICE_REQUEST_LEASE_SECS".into(), LEASE_SECS.into()),
            // These runs kill the server dozens of times at random, so a job is sometimes in
            // flight at two kills: that is not a job that kills the server, which the crash-loop
            // guard stops (tested on its own below with the default).
            ("SLUICE_MAX_JOB_CRASHES".into(), "1000".into()),
        ],
        address_space: None,
    }
}

/// Completes the active user tasks through whichever servers are up, until stopped; records the
/// tasks the API confirmed (200). A server killed mid-call is just skipped.
struct Completer {
    targets: Arc<Mutex<Vec<SocketAddr>>>,
    confirmed: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Completer {
    fn start() -> Completer {
        let targets: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
        let confirmed: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (t, c, s) = (targets.clone(), confirmed.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let addrs = t.lock().unwrap().clone();
                for addr in addrs {
                    let api = Api { addr };
                    let Ok((200, tasks)) = api.get("/api/v1/tasks?status=active") else { continue };
                    for task in tasks["tasks"].as_array().into_iter().flatten() {
                        let id = task["id"].as_str().unwrap_or_default();
                        let path = format!("/api/v1/tasks/{id}/complete");
                        if let Ok((200, _)) = api.post_json(&path, &json!({"data": {"reviewed": true}})) {
                            c.lock().unwrap().push(id.to_string());
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(30));
            }
        });
        Completer { targets, confirmed, stop, thread: Some(thread) }
    }

    fn set_targets(&self, addrs: &[SocketAddr]) {
        *self.targets.lock().unwrap() = addrs.to_vec();
    }

    /// Stops the thread; the confirmed task ids.
    fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.confirmed.lock().unwrap().clone()
    }
}

impl Drop for Completer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Deploys [`PROCESS`] and starts `n` Requests, spread over `apis`; their ids by `n`.
fn deploy_and_start(apis: &[Api], stub: &Stub, n: usize) -> Vec<String> {
    let (status, body) = apis[0].deploy(process().as_bytes()).unwrap();
    assert_eq!(status, 201, "{body}");
    (0..n)
        .map(|i| {
            let api = apis[i % apis.len()];
            let data = json!({"data": {"stub": stub.url(), "n": i, "reviewed": false}});
            let (status, r) = api.post_json("/api/v1/processes/crash/requests", &data).unwrap();
            assert_eq!(status, 201, "{r}");
            r["id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Kills `server` with SIGKILL: at a random moment, or (`in_flight`) within 40 ms after a slow
/// call (50 ms or more) reached the stub. Returns the kill and the slow calls in flight then.
fn kill_at_random(server: Serve, stub: &Stub, rng: &mut Rng, in_flight: bool) -> (Kill, usize) {
    if in_flight {
        let until = Instant::now() + Duration::from_secs(3);
        while stub.in_flight() == 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(rng.ms(0, 40));
    }
    let flying = stub.in_flight();
    (server.kill9(), flying)
}

/// Waits until no Request of the crash process is active any more (or the deadline passes).
fn wait_all_done(api: Api, deadline: Instant) -> bool {
    loop {
        if let Ok((200, page)) = api.get("/api/v1/requests?process=crash&status=active&limit=1")
            && page["requests"].as_array().is_some_and(Vec::is_empty)
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---- the checks ----

/// The warnings and errors of every server log in `dir` (for failure messages).
fn problems_in_logs(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for line in text.lines().filter(|l| l.contains("ERROR") || l.contains("WARN")) {
                out.push_str(&format!("{}: {line}\n", path.display()));
            }
        }
    }
    out
}

/// Every Request of the crash process, paging through the list.
fn all_requests(api: Api) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) =
            api.get(&format!("/api/v1/requests?process=crash&include=data&limit=200{cursor}")).unwrap();
        assert_eq!(status, 200, "{page}");
        out.extend(page["requests"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

fn events(api: Api, id: &str) -> Vec<Value> {
    let (status, body) = api.get(&format!("/api/v1/requests/{id}/events")).unwrap();
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().unwrap().clone()
}

/// Describes the Requests that did not complete: their tokens, incidents and history.
fn describe_stuck(api: Api, requests: &[Value]) -> String {
    let stuck: Vec<&Value> = requests.iter().filter(|r| r["status"] != "completed").collect();
    let mut out = format!("{} of {} Requests did not complete:\n", stuck.len(), requests.len());
    for r in stuck.iter().take(5) {
        let id = r["id"].as_str().unwrap_or_default();
        let history: Vec<String> = events(api, id)
            .iter()
            .map(|e| format!("{} {}", e["type"].as_str().unwrap_or("?"), e["element_id"].as_str().unwrap_or("")))
            .collect();
        out.push_str(&format!(
            "- {id} status {} tokens {} incidents {}\n  history: {}\n",
            r["status"],
            r["tokens"],
            r["incidents"],
            history.join(", ")
        ));
    }
    out
}

/// What a finished run found.
struct Findings {
    calls: usize,
    duplicates: usize,
}

/// Checks the finished run (see the module comment), through `api`; panics with the details of
/// the first violation.
fn verify(api: Api, stub: &Stub, kills: &[Kill], started: &[String], confirmed: &[String]) -> Findings {
    // All Requests exist, once, and completed.
    let requests = all_requests(api);
    let mut ids: Vec<&str> = requests.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let mut expected: Vec<&str> = started.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(ids, expected, "the Requests listed are not the ones started");
    assert!(requests.iter().all(|r| r["status"] == "completed"), "{}", describe_stuck(api, &requests));

    // The calls by Idempotency-Key, in order of arrival.
    let calls = stub.calls();
    let mut by_key: HashMap<&str, Vec<&Call>> = HashMap::new();
    for c in &calls {
        by_key.entry(c.key.as_str()).or_default().push(c);
    }

    let mut tasks_completed = Vec::new();
    for r in &requests {
        let id = r["id"].as_str().unwrap();
        let history = events(api, id);
        let count = |kind: &str, element: Option<&str>| {
            history.iter().filter(|e| e["type"] == kind && element.is_none_or(|el| e["element_id"] == el)).count()
        };
        assert_eq!(count("request_completed", None), 1, "Request {id}: {history:?}");
        for element in ELEMENTS {
            assert_eq!(count("element_completed", Some(element)), 1, "Request {id}, element {element}: {history:?}");
        }
        assert_eq!(count("task_created", Some("review")), 1, "Request {id}: {history:?}");
        assert_eq!(count("task_completed", Some("review")), 1, "Request {id}: {history:?}");
        assert_eq!(r["data"]["reviewed"], true, "Request {id}: {r}");
        for e in history.iter().filter(|e| e["type"] == "task_completed") {
            tasks_completed.push(e["task_id"].as_str().unwrap_or_default().to_string());
        }

        for (element, path) in CONNECTORS {
            assert_eq!(count("connector_completed", Some(element)), 1, "Request {id}, {element}: {history:?}");
            let committed = history
                .iter()
                .find(|e| e["type"] == "connector_completed" && e["element_id"] == element)
                .and_then(|e| e["output"]["body"]["call"].as_u64());
            assert_eq!(Some(committed), Some(r["data"][element.trim_start_matches("call_")]["body"]["call"].as_u64()));
            let key = format!("{id}/{element}");
            let Some(tries) = by_key.get(key.as_str()) else { panic!("no call reached the stub for {key}") };
            assert!(tries.iter().all(|c| c.path == path), "{key}: {tries:?}");
            // No call after the commit: the step that was committed carries the answer of the
            // last call made for it. A call made after the step had been committed (its job is
            // deleted in the same transaction) would be a later call whose answer was never
            // recorded. This holds whatever the timing, so the check cannot flake.
            let last = tries.last().map(|c| c.n);
            assert_eq!(
                committed, last,
                "{key}: the history records the answer to call {committed:?}, but the stub was called again after \
                 it (calls {tries:?})"
            );
            // A repeated call only after a crash: between any two calls for the same step the
            // process that made the earlier one was killed. Each process calls a step at most
            // once (the job is claimed under a lease and only retried on a retryable error, which
            // the stub never gives), so two calls without a kill between them would be a
            // duplicate by a live node. `p.at <= k.dead` (p may have come from the killed
            // process) and `k.sent <= q.at` (q came after the kill began) is exact: the kill's
            // two instants bracket the moment the process died.
            for pair in tries.windows(2) {
                let (p, q) = (pair[0], pair[1]);
                assert!(
                    kills.iter().any(|k| p.at <= k.dead && k.sent <= q.at),
                    "{key}: calls {} and {} were made without a crash between them",
                    p.n,
                    q.n
                );
            }
        }
    }

    // Every task the API confirmed was completed is in the history (no acknowledged write was
    // lost), and every completion in the history is a task completed over the API.
    tasks_completed.sort();
    let mut confirmed = confirmed.to_vec();
    confirmed.sort();
    let before = confirmed.len();
    confirmed.dedup();
    assert_eq!(before, confirmed.len(), "a task was confirmed completed twice");
    for t in &confirmed {
        assert!(tasks_completed.binary_search(t).is_ok(), "task {t} was confirmed completed but is not in the history");
    }
    assert_eq!(tasks_completed.len(), started.len());

    let keys = by_key.len();
    assert_eq!(keys, started.len() * CONNECTORS.len(), "calls for unknown steps: {:?}", by_key.keys().take(5));
    Findings { calls: calls.len(), duplicates: calls.len() - keys }
}

// ---- the scenarios ----

/// One server, killed `kills` times at random moments and restarted on the same database.
fn kill_and_restart(db: &Db, name: &str) {
    let seed = seed(name);
    let mut rng = Rng(seed);
    let n = request_count();
    let kills_wanted = rng.range(5, 9) as usize;
    let stub = Stub::start(seed);
    let config = config(db, name);
    let began = Instant::now();

    let mut life = 0;
    let mut server = Serve::start(&config, &format!("{name}-{life}"));
    let started = deploy_and_start(&[server.api()], &stub, n);
    eprintln!("{name}: {n} Requests started in {:?}", began.elapsed());
    let completer = Completer::start();
    completer.set_targets(&[server.addr]);

    let mut kills = Vec::new();
    let mut in_flight_kills = 0;
    for i in 0..kills_wanted {
        std::thread::sleep(rng.ms(200, 1200));
        let (kill, flying) = kill_at_random(server, &stub, &mut rng, i % 2 == 0);
        completer.set_targets(&[]);
        in_flight_kills += usize::from(flying > 0);
        kills.push(kill);
        std::thread::sleep(rng.ms(0, 400));
        life += 1;
        server = Serve::start(&config, &format!("{name}-{life}"));
        completer.set_targets(&[server.addr]);
        eprintln!("{name}: kill {} at {:?} with {flying} calls in flight", i + 1, kill.sent - began);
    }

    let all_done = wait_all_done(server.api(), Instant::now() + Duration::from_secs(120));
    let confirmed = completer.finish();
    assert_all_done(all_done, &format!("{name} (seed {seed})"), server.api(), "every start", &config);
    let found = verify(server.api(), &stub, &kills, &started, &confirmed);
    eprintln!(
        "{name}: {n} Requests completed exactly once in {:?} through {} kills ({in_flight_kills} with calls in \
         flight); {} connector calls, {} of them repeated after a crash, none after its step committed",
        began.elapsed(),
        kills.len(),
        found.calls,
        found.duplicates
    );
    assert!(kills.len() >= 5);
    assert!(in_flight_kills >= 1, "no kill landed while a connector call was in flight");
    let status = server.terminate();
    assert!(status.success(), "sluice serve exited with {status:?} after SIGTERM");
}

/// Fails the test, saying which Requests are stuck where and what the logs of `whose` starts
/// warned about, unless every Request got done.
fn assert_all_done(all_done: bool, run: &str, api: Api, whose: &str, config: &ServeConfig) {
    if !all_done {
        panic!(
            "{run}: {}\nwarnings and errors of {whose}:\n{}",
            describe_stuck(api, &all_requests(api)),
            problems_in_logs(&config.log_dir)
        );
    }
}

#[test]
fn sqlite_requests_survive_kill_9_and_complete_exactly_once() {
    let db = Db::sqlite("crash-sqlite");
    kill_and_restart(&db, "crash-sqlite");
}

#[test]
fn postgres_requests_survive_kill_9_and_complete_exactly_once() {
    let Some(db) = Db::postgres("crash::postgres_requests_survive_kill_9_and_complete_exactly_once") else { return };
    kill_and_restart(&db, "crash-postgres");
}

#[test]
fn two_servers_on_one_postgres_database_the_survivor_finishes_a_killed_ones_requests() {
    let name = "crash-two-nodes";
    let Some(db) = Db::postgres(&format!("crash::{name}")) else { return };
    let seed = seed(name);
    let mut rng = Rng(seed);
    let n = request_count();
    let stub = Stub::start(seed);
    let config = config(&db, name);
    let began = Instant::now();

    let one = Serve::start(&config, &format!("{name}-one"));
    let two = Serve::start(&config, &format!("{name}-two"));
    let started = deploy_and_start(&[one.api(), two.api()], &stub, n);
    let completer = Completer::start();
    completer.set_targets(&[one.addr, two.addr]);

    std::thread::sleep(rng.ms(300, 1500));
    let (kill, flying) = kill_at_random(one, &stub, &mut rng, true);
    completer.set_targets(&[two.addr]);
    let calls_before = stub.calls().len();
    eprintln!("{name}: server one killed at {:?} with {flying} calls in flight", kill.sent - began);

    let all_done = wait_all_done(two.api(), Instant::now() + Duration::from_secs(120));
    let confirmed = completer.finish();
    assert_all_done(all_done, &format!("{name} (seed {seed})"), two.api(), "both servers", &config);
    let found = verify(two.api(), &stub, &[kill], &started, &confirmed);
    eprintln!(
        "{name}: {n} Requests completed exactly once in {:?}; {} connector calls ({calls_before} before the kill), {} \
         repeated after the crash, none after its step committed",
        began.elapsed(),
        found.calls,
        found.duplicates
    );
    assert!(calls_before < found.calls, "server two did nothing after the kill");
    let status = two.terminate();
    assert!(status.success(), "sluice serve exited with {status:?} after SIGTERM");
}

/// Start → POST to the stub → PT2S timer → end.
fn timer_process() -> String {
    use bpmn::{end, http_task, start, timer};
    let call = http_task("call", None, "POST", "{{ stub }}/call", &[]);
    bpmn::definitions(&[bpmn::chain(
        "later",
        None,
        &["f1", "f2", "f3"],
        &[start("start"), call, timer("wait", None, "PT2S"), end("end")],
    )])
}

#[test]
fn a_timer_that_came_due_while_the_server_was_down_fires_right_after_start() {
    let name = "crash-timer";
    let db = Db::sqlite(name);
    let stub = Stub::start(1);
    let config = config(&db, name);
    let server = Serve::start(&config, &format!("{name}-0"));
    let api = server.api();
    let (status, body) = api.deploy(timer_process().as_bytes()).unwrap();
    assert_eq!(status, 201, "{body}");
    let (status, r) =
        api.post_json("/api/v1/processes/later/requests", &json!({"data": {"stub": stub.url()}})).unwrap();
    assert_eq!(status, 201, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    // Wait until the Request waits at the timer (this server ran its call, so it holds its lease).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, r) = api.get(&format!("/api/v1/requests/{id}")).unwrap();
        if r["tokens"].as_array().is_some_and(|t| t.iter().any(|t| t["element_id"] == "wait")) {
            break;
        }
        assert!(Instant::now() < deadline, "the Request never reached the timer: {r}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let due = events(api, &id)
        .iter()
        .find(|e| e["type"] == "timer_scheduled")
        .and_then(|e| e["due"].as_str().map(str::to_string))
        .expect("no timer_scheduled event");
    let due = chrono::DateTime::parse_from_rfc3339(&due).unwrap().with_timezone(&chrono::Utc);
    server.kill9();

    std::thread::sleep(Duration::from_secs(3));
    assert!(chrono::Utc::now() > due, "the timer should have come due while the server was down");
    let mut server = Serve::spawn(&config, &format!("{name}-1")).unwrap();
    server.wait_ready(Duration::from_secs(30)).unwrap();
    let ready = chrono::Utc::now();
    let api = server.api();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, r) = api.get(&format!("/api/v1/requests/{id}")).unwrap();
        if r["status"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "the overdue timer did not fire after the restart: {r}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let history = events(api, &id);
    let fired = history
        .iter()
        .find(|e| e["type"] == "element_completed" && e["element_id"] == "wait")
        .and_then(|e| e["at"].as_str())
        .map(|at| chrono::DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&chrono::Utc))
        .expect("the timer's completion is not in the history");
    let after_ready = fired - ready;
    eprintln!(
        "{name}: the overdue timer fired {} ms after the restarted server was ready",
        after_ready.num_milliseconds()
    );
    assert!(after_ready < chrono::Duration::seconds(1), "fired {after_ready} after the restart");
    assert_eq!(stub.calls().len(), 1, "the call before the timer was made again");
}

// ---- the crash-loop guard ----

/// A stub that takes every call and never answers: a job calling it is in flight until the server
/// dies, as a job that kills the server would be.
struct Hang {
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
}

impl Hang {
    fn start() -> Hang {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
        Hang { addr, calls }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn wait_calls(&self, n: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.calls() < n {
            assert!(Instant::now() < deadline, "{what}: the job never called (calls: {})", self.calls());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A job that kills the server (here: the server is killed while the job runs) is run twice, and
/// at the third start it is an incident instead of a third run.
fn a_job_that_kills_the_server_twice_is_an_incident_at_the_third_start(db: Db, name: &str) {
    let hang = Hang::start();
    let mut config = config(&db, name);
    config.env.retain(|(k, _)| k != "SLUICE_MAX_JOB_CRASHES");
    let server = Serve::start(&config, &format!("{name}-0"));
    let api = server.api();
    let model = bpmn::one_task("deadly", None, bpmn::http_task("call", None, "POST", "{{ stub }}/hang", &[]));
    let (status, body) = api.deploy(model.as_bytes()).unwrap();
    assert_eq!(status, 201, "{body}");
    let stub = format!("http://{}", hang.addr);
    let (status, r) = api.post_json("/api/v1/processes/deadly/requests", &json!({"data": {"stub": stub}})).unwrap();
    assert_eq!(status, 201, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    hang.wait_calls(1, "first start");
    server.kill9();

    let mut server = Serve::spawn(&config, &format!("{name}-1")).unwrap();
    server.wait_ready(Duration::from_secs(30)).unwrap();
    hang.wait_calls(2, "second start (once the dead server's lease ran out)");
    server.kill9();

    let mut server = Serve::spawn(&config, &format!("{name}-2")).unwrap();
    server.wait_ready(Duration::from_secs(30)).unwrap();
    let api = server.api();
    let deadline = Instant::now() + Duration::from_secs(30);
    let incident = loop {
        let (_, r) = api.get(&format!("/api/v1/requests/{id}")).unwrap();
        if let Some(i) = r["incidents"].as_array().and_then(|i| i.first()) {
            break i.clone();
        }
        assert!(Instant::now() < deadline, "no incident at the third start: {r}\n{}", server.log_tail());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(incident["code"], "connector_failed", "{incident}");
    assert_eq!(incident["element_id"], "call", "{incident}");
    let message = incident["message"].as_str().unwrap_or_default();
    assert!(message.contains("started 2 times and the server stopped each time"), "{message}");
    // No third call, and the server stays up and serves.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hang.calls(), 2, "the job ran a third time");
    let (status, _) = api.get("/healthz").unwrap();
    assert_eq!(status, 200);
    let (_, r) = api.get(&format!("/api/v1/requests/{id}")).unwrap();
    assert_eq!(r["status"], "error", "{r}");
    let status = server.terminate();
    assert!(status.success(), "sluice serve exited with {status:?} after SIGTERM");
}

#[test]
fn sqlite_a_job_that_kills_the_server_twice_is_an_incident_at_the_third_start() {
    let name = "crash-loop-sqlite";
    a_job_that_kills_the_server_twice_is_an_incident_at_the_third_start(Db::sqlite(name), name);
}

#[test]
fn postgres_a_job_that_kills_the_server_twice_is_an_incident_at_the_third_start() {
    let name = "crash-loop-postgres";
    if let Some(db) = Db::postgres(name) {
        a_job_that_kills_the_server_twice_is_an_incident_at_the_third_start(db, name);
    }
}
