//! Job workers over the HTTP API (issue 17), a benchmark that prints figures (not a test):
//!
//!     cargo bench -p sluice-modeler-api --bench jobs [-- --jobs N --postgres URL --creators N --backlog]
//!
//! Starts the release `sluice serve` (on a fresh SQLite file, or on the scratch PostgreSQL
//! database `--postgres URL` names, which it fills), deploys start → job task → end, and starts
//! four worker processes (this binary again, in its worker role). Each worker activates jobs in
//! batches (long-polling) and completes them over keep-alive connections with up to 32 calls in
//! flight, as Camunda's job clients do; meanwhile this process creates the Requests, 64 calls in
//! flight (`--creators N`). Prints jobs/s from the first creation to the last completion, the
//! creation rate alone, and creation→completion p50/p99 from the Requests' own `created_at` and
//! `completed_at`. With `--backlog` every Request is created first and the workers start after:
//! jobs/s is then from the workers' start to the last completion, the workers' rate alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const MODEL: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:bench">
  <bpmn:process id="bench" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
    <bpmn:serviceTask id="work" implementation="bench"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="e"/>
    <bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>"#;

const WORKERS: usize = 4;
const IN_FLIGHT_PER_WORKER: usize = 32;

fn client() -> reqwest::Client {
    // reqwest is built without a TLS provider of its own (plain HTTP here).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().pool_max_idle_per_host(64).timeout(Duration::from_secs(60)).build().unwrap()
}

/// A worker process: activates and completes jobs until it is killed, printing how many it
/// completed after each batch.
async fn worker(base: String, token: String, name: String) {
    let http = client();
    let auth = format!("Bearer {token}");
    loop {
        let body = json!({"types": ["bench"], "worker": name, "max_jobs": 200, "lock_ms": 60000, "wait_ms": 500});
        let r =
            http.post(format!("{base}/api/v1/jobs/activate")).header("authorization", &auth).json(&body).send().await;
        let jobs: Vec<Value> = match r {
            Ok(r) if r.status() == 200 => {
                r.json::<Value>().await.unwrap()["jobs"].as_array().cloned().unwrap_or_default()
            }
            Ok(r) => {
                eprintln!("{name}: activate {}", r.status());
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => {
                eprintln!("{name}: activate: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let n = jobs.len();
        let mut set = tokio::task::JoinSet::new();
        for job in jobs {
            while set.len() >= IN_FLIGHT_PER_WORKER {
                set.join_next().await;
            }
            let (http, auth, name, base) = (http.clone(), auth.clone(), name.clone(), base.clone());
            set.spawn(async move {
                let id = job["id"].as_str().unwrap().to_owned();
                let r = http
                    .post(format!("{base}/api/v1/jobs/{id}/complete"))
                    .header("authorization", &auth)
                    .json(&json!({"data": {"by": name}}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 204 => {}
                    Ok(r) => eprintln!("{name}: complete {}", r.status()),
                    Err(e) => eprintln!("{name}: complete: {e}"),
                }
            });
        }
        while set.join_next().await.is_some() {}
        if n > 0 {
            println!("{n}");
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn millis(v: &Value) -> f64 {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    t.timestamp_millis() as f64
}

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        // The workers first, then the server, so no worker reports the server gone.
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn main() {
    if let Ok(name) = std::env::var("SLUICE_BENCH_WORKER") {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let base = std::env::var("SLUICE_BENCH_BASE").unwrap();
        let token = std::env::var("SLUICE_BENCH_TOKEN").unwrap();
        rt.block_on(worker(base, token, name));
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let jobs: usize = arg("--jobs").map_or(20_000, |n| n.parse().expect("--jobs N"));
    let postgres = arg("--postgres");
    let creators_n: usize = arg("--creators").map_or(64, |n| n.parse().expect("--creators N"));
    // --backlog: every Request is created before the workers start, so the figure is the
    // workers' alone (activation and completion), without creation competing for the writer.
    let backlog = args.iter().any(|a| a == "--backlog");

    let dir = std::env::temp_dir().join(format!("sluice-bench-jobs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = postgres.clone().unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let token = format!("bench-{}-{}", std::process::id(), chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0));
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let server = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("serve")
        .env("SLUICE_LISTEN", format!("127.0.0.1:{port}"))
        .env("SLUICE_DATABASE_URL", &db)
        .env("SLUICE_API_TOKEN", &token)
        .env("SLUICE_JOB_TYPES", "bench")
        .env("SLUICE_SECRET_KEY", "00".repeat(32))
        .env("RUST_LOG", "warn")
        .env_remove("SLUICE_PROCESSES")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut children = Killed(vec![server]);

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let http = client();
        let auth = format!("Bearer {token}");
        for _ in 0..300 {
            if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = http
            .post(format!("{base}/api/v1/processes"))
            .header("authorization", &auth)
            .header("content-type", "application/xml")
            .body(MODEL)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "deploy: {}", r.text().await.unwrap());

        // The workers, counting their completions on stdout.
        let done = Arc::new(AtomicUsize::new(0));
        let spawn_workers = |children: &mut Killed| {
            for i in 0..WORKERS {
                let mut child = Command::new(std::env::current_exe().unwrap())
                    .env("SLUICE_BENCH_WORKER", format!("w{i}"))
                    .env("SLUICE_BENCH_BASE", &base)
                    .env("SLUICE_BENCH_TOKEN", &token)
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let out = child.stdout.take().unwrap();
                children.0.push(child);
                let done = done.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(out).lines() {
                        let Ok(line) = line else { break };
                        done.fetch_add(line.trim().parse::<usize>().unwrap_or(0), Ordering::Relaxed);
                    }
                });
            }
        };
        if !backlog {
            spawn_workers(&mut children);
        }

        let start = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let mut creators = tokio::task::JoinSet::new();
        for _ in 0..creators_n {
            let (http, auth, base, next) = (http.clone(), auth.clone(), base.clone(), next.clone());
            creators.spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < jobs {
                    let r = http
                        .post(format!("{base}/api/v1/processes/bench/requests"))
                        .header("authorization", &auth)
                        .json(&json!({"data": {}}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                }
            });
        }
        while creators.join_next().await.is_some() {}
        let created = start.elapsed();
        let start = if backlog {
            spawn_workers(&mut children);
            Instant::now()
        } else {
            start
        };
        while done.load(Ordering::Relaxed) < jobs {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let elapsed = start.elapsed();

        // Creation → completion of every Request, from the API's own timestamps.
        let mut latencies = Vec::with_capacity(jobs);
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{base}/api/v1/requests?process=bench&limit=200");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page: Value = http.get(url).header("authorization", &auth).send().await.unwrap().json().await.unwrap();
            for r in page["requests"].as_array().unwrap() {
                assert_eq!(r["status"], "completed", "{r}");
                latencies.push(millis(&r["completed_at"]) - millis(&r["created_at"]));
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(latencies.len(), jobs, "every Request listed once");
        latencies.sort_by(f64::total_cmp);
        let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        let backend = if postgres.is_some() { "postgres" } else { "sqlite" };
        let mode = if backlog { "all created first, then" } else { "created while" };
        println!(
            "{backend}: {jobs} jobs ({mode} {WORKERS} worker processes complete them, {IN_FLIGHT_PER_WORKER} \
             completions in flight each): {:.0} jobs/s (creation alone {:.0} Requests/s, {creators_n} in \
             flight); creation->completion p50 {:.0} ms, p99 {:.0} ms",
            jobs as f64 / elapsed.as_secs_f64(),
            jobs as f64 / created.as_secs_f64(),
            at(0.5),
            at(0.99),
        );
    });
    drop(children);
    let _ = std::fs::remove_dir_all(&dir);
}
