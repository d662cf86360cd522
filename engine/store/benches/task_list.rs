//! How fast a person's inbox lists: `GET /api/v1/tasks?candidate=me` is one
//! [`Store::list_tasks`] with `candidate` set. Fills a store with `BENCH_TASKS` (100,000) open
//! tasks, each with a candidate group out of 100 (`g0` … `g99`) and a candidate user out of
//! 1,000, then times first pages of 50 and the page after for two people:
//!
//! - `sam`, in three of the groups (about 3 % of the tasks are his to claim);
//! - `all`, in a group that is a candidate of every task (every task matches).
//!
//! Prints p50, p99 and the maximum over `BENCH_QUERIES` (1,000) listings each.
//!
//! ```text
//! cargo bench -p sluice-store --bench task_list                       # SQLite and PostgreSQL
//! BENCH_BACKENDS=sqlite BENCH_TASKS=100000 cargo bench -p sluice-store --bench task_list
//! ```
//! On PostgreSQL the tables are analyzed after the load, as autovacuum would (`BENCH_ANALYZE=0`:
//! not). `SLUICE_TEST_POSTGRES_URL` names the PostgreSQL database (default
//! `postgres://postgres@127.0.0.1:5432/test`; the bench works in a schema of its own and drops it).

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use sluice_engine::{Instance, Start};
use sluice_store::{Durability, LeaseChange, RequestId, StateColumns, Store, StoreOptions, TaskQuery, Viewer, WriteOp};

const MODEL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs" targetNamespace="urn:bench">
  <bpmn:process id="inbox" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
    <bpmn:userTask id="approve" name="Approve">
      <bpmn:extensionElements>
        <zeebe:assignmentDefinition candidateGroups="= groups" candidateUsers="= user"/>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"#;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Writes `n` Requests, each waiting at a task for one group of 100, `all`, and one user of 1,000.
async fn fill(store: &Store, n: usize) -> Duration {
    let imported = sluice_bpmn::import(
        &[sluice_bpmn::Source { name: "inbox.bpmn", bytes: MODEL.as_bytes() }],
        &sluice_bpmn::Options::default(),
    );
    let process = imported.definitions.process("inbox").cloned().expect("the model imports");
    store.deploy_version("inbox", None, MODEL, "bench").await.expect("deploy");
    let t0 = Instant::now();
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let start = Utc::now() - chrono::Duration::days(1);
    let mut ops = Vec::with_capacity(1000);
    for i in 0..n {
        let at = start + chrono::Duration::milliseconds(i as i64);
        let data = json!({"groups": [format!("g{}", next() % 100), "all"], "user": format!("u{}", next() % 1000)});
        let data = serde_json::from_value(data).expect("an object");
        let mut out = Vec::new();
        let inst = Instance::start(&process, data, Start::Default, at, &mut out).expect("starts");
        let id = RequestId::new();
        let changes = sluice_worker::from_commands(&process, id, &out, at);
        ops.push(WriteOp::Create {
            id,
            process_key: "inbox".into(),
            process_version: 1,
            parent: None,
            state: StateColumns::of(&inst).expect("state"),
            changes,
            require_latest: false,
            lease: LeaseChange::Keep,
        });
        if ops.len() == 1000 || i + 1 == n {
            for r in store.write_batch(&ops).await.expect("batch") {
                r.expect("written");
            }
            ops.clear();
        }
    }
    t0.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(store: &Store, label: &str, viewer: Viewer<'_>, queries: usize) {
    let first = TaskQuery { candidate: Some(viewer), limit: Some(50), ..Default::default() };
    let (page, cursor) = store.list_tasks(&first).await.expect("list");
    let mut times = Vec::with_capacity(queries);
    for i in 0..queries {
        // Every other listing is the second page, through the first one's cursor.
        let q = TaskQuery { cursor: if i % 2 == 1 { cursor.as_deref() } else { None }, ..first.clone() };
        let t = Instant::now();
        let (got, _) = store.list_tasks(&q).await.expect("list");
        times.push(t.elapsed());
        assert_eq!(got.len(), page.len().min(50));
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  candidate=me as {label:<28} pages of {}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({queries} listings)",
        page.len(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1]),
    );
}

async fn bench(store: &Store, name: &str, n: usize, queries: usize, analyze: Option<(&str, &str)>) {
    let took = fill(store, n).await;
    println!("{name}: {n} open tasks written in {:.1} s", took.as_secs_f64());
    if let Some((url, schema)) = analyze.filter(|_| std::env::var("BENCH_ANALYZE").map_or(true, |v| v != "0")) {
        // What autovacuum does after a bulk load: the planner's statistics.
        run_sql(url, &format!("ANALYZE {schema}.tasks; ANALYZE {schema}.task_candidates")).await;
    }
    let sams = vec!["g1".to_string(), "g2".to_string(), "g3".to_string()];
    measure(store, "sam (3 of 100 groups)", Viewer { username: "sam", groups: &sams }, queries).await;
    let all = vec!["all".to_string()];
    measure(store, "all (a group on every task)", Viewer { username: "al", groups: &all }, queries).await;
    let u7: Vec<String> = Vec::new();
    measure(store, "u7 (a candidate user, no group)", Viewer { username: "u7", groups: &u7 }, queries).await;
}

fn main() {
    let n = env_usize("BENCH_TASKS", 100_000);
    let queries = env_usize("BENCH_QUERIES", 1000);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        for backend in backends.split(',').map(str::trim) {
            match backend {
                "sqlite" => {
                    let dir = std::env::temp_dir().join(format!("sluice-task-bench-{}", std::process::id()));
                    std::fs::create_dir_all(&dir).expect("temp dir");
                    let url = format!("sqlite://{}", dir.join("bench.db").display());
                    let options = StoreOptions { durability: Durability::Relaxed, ..StoreOptions::default() };
                    let store = Store::open(&url, options).await.expect("open sqlite");
                    bench(&store, "SQLite", n, queries, None).await;
                    store.close().await;
                    let _ = std::fs::remove_dir_all(&dir);
                }
                "postgres" => {
                    let url = sluice_test_support::postgres_url();
                    let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
                    let options = StoreOptions {
                        durability: Durability::Relaxed,
                        postgres_schema: Some(schema.clone()),
                        ..StoreOptions::default()
                    };
                    let store = Store::open(&url, options).await.expect("open postgres");
                    bench(&store, "PostgreSQL", n, queries, Some((&url, &schema))).await;
                    store.close().await;
                    run_sql(&url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
                }
                other => eprintln!("unknown backend `{other}` (sqlite, postgres)"),
            }
        }
    });
}

async fn run_sql(url: &str, sql: &str) {
    use sqlx::Executor;
    if let Ok(pool) = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await {
        if let Err(e) = pool.execute(sql).await {
            eprintln!("{sql}: {e}");
        }
        pool.close().await;
    }
}
