//! How fast operators find Requests: `GET /api/v1/requests?data.customer.name=…` and
//! `?data.amount>=…` are one [`Store::list_request_summaries`] with data conditions, and
//! `GET /api/v1/incidents` one [`Store::list_incidents`]. Fills a store with `BENCH_REQUESTS`
//! (1,000,000) Requests, each with a customer out of 10,000 and an amount out of 100,000; an
//! amount of 1,000 or less stops at a gateway with an incident (about 1 %). Indexes the two
//! searched paths as `SLUICE_SEARCH_FIELDS=customer.name,amount` does (timed), then times
//! first pages of 50 over `BENCH_QUERIES` (1,000) searches each:
//!
//! - one customer (about 100 Requests);
//! - a narrow amount range (about 100 Requests), and a wide one (half of them);
//! - one customer and an amount range together;
//! - a path that is not indexed (every Request read; 20 searches);
//! - the incident list, all and by element, and its second page.
//!
//! ```text
//! cargo bench -p sluice-store --bench search                    # SQLite and PostgreSQL
//! BENCH_BACKENDS=sqlite BENCH_REQUESTS=100000 cargo bench -p sluice-store --bench search
//! ```
//! On PostgreSQL the tables are analyzed after the load, as autovacuum would.
//! `SLUICE_TEST_POSTGRES_URL` names the PostgreSQL database (default
//! `postgres://postgres@127.0.0.1:5432/test`; the bench works in a schema of its own and drops it).

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use sluice_engine::{Instance, Start};
use sluice_store::{
    DataCondition, DataOp, Durability, IncidentFilter, LeaseChange, RequestFilter, RequestId, StateColumns, Store,
    StoreOptions, WriteOp,
};

const MODEL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
             id="defs" targetNamespace="urn:bench">
  <process id="orders" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="route"/>
    <exclusiveGateway id="route"/>
    <sequenceFlow id="f2" sourceRef="route" targetRef="approve">
      <conditionExpression xsi:type="tFormalExpression">= amount &gt; 1000</conditionExpression>
    </sequenceFlow>
    <userTask id="approve" name="Approve"/>
    <sequenceFlow id="f3" sourceRef="approve" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>"#;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn fill(store: &Store, n: usize) -> Duration {
    let imported = sluice_bpmn::import(
        &[sluice_bpmn::Source { name: "orders.bpmn", bytes: MODEL.as_bytes() }],
        &sluice_bpmn::Options::default(),
    );
    let process = imported.definitions.process("orders").cloned().expect("the model imports");
    store.deploy_version("orders", None, MODEL, "bench").await.expect("deploy");
    let t0 = Instant::now();
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let start = Utc::now() - chrono::Duration::days(1);
    let mut ops = Vec::with_capacity(1000);
    for i in 0..n {
        let at = start + chrono::Duration::milliseconds(i as i64 / 10);
        let data = json!({"customer": {"name": format!("c{}", next() % 10_000)}, "amount": next() % 100_000,
                          "region": format!("r{}", next() % 50)});
        let data = serde_json::from_value(data).expect("an object");
        let mut out = Vec::new();
        let inst = Instance::start(&process, data, Start::Default, at, &mut out).expect("starts");
        let id = RequestId::new();
        let changes = sluice_worker::from_commands(&process, id, &out, at);
        ops.push(WriteOp::Create {
            id,
            process_key: "orders".into(),
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

fn report(label: &str, mut times: Vec<Duration>, found: usize) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {label:<44} p50 {:>8.2} ms, p99 {:>8.2} ms, max {:>8.2} ms ({} queries, {found} on the last page)",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1]),
        times.len(),
    );
}

fn cond(path: &str, op: DataOp, value: serde_json::Value) -> DataCondition {
    DataCondition::new(path, op, value).expect("a path")
}

/// Times `queries` first pages of 50 of the filter `make(i)` gives.
async fn search(store: &Store, label: &str, queries: usize, make: impl Fn(usize) -> RequestFilter) {
    let mut times = Vec::with_capacity(queries);
    let mut found = 0;
    for i in 0..queries {
        let filter = make(i);
        let t = Instant::now();
        let (page, _) = store.list_request_summaries(&filter, 50, None, false).await.expect("search");
        times.push(t.elapsed());
        found = page.len();
    }
    report(label, times, found);
}

async fn incidents(store: &Store, label: &str, queries: usize, filter: IncidentFilter, second_page: bool) {
    let (_, cursor) = store.list_incidents(&filter, 50, None).await.expect("list");
    let cursor = if second_page { cursor } else { None };
    let mut times = Vec::with_capacity(queries);
    let mut found = 0;
    for _ in 0..queries {
        let t = Instant::now();
        let (page, _) = store.list_incidents(&filter, 50, cursor.as_deref()).await.expect("list");
        times.push(t.elapsed());
        found = page.len();
    }
    report(label, times, found);
}

async fn bench(store: &Store, name: &str, n: usize, queries: usize, analyze: Option<(&str, &str)>) {
    let took = fill(store, n).await;
    println!("{name}: {n} Requests written in {:.1} s", took.as_secs_f64());
    let t = Instant::now();
    store.ensure_search_indexes(&["customer.name".into(), "amount".into()]).await.expect("indexes");
    println!("  indexing customer.name and amount: {:.1} s", t.elapsed().as_secs_f64());
    if let Some((url, schema)) = analyze {
        run_sql(url, &format!("ANALYZE {schema}.requests; ANALYZE {schema}.incidents")).await;
    }
    let open = store.count_incidents(&IncidentFilter::default()).await.expect("count");
    println!("  {open} open incidents");
    let f = |data: Vec<DataCondition>| RequestFilter { data, ..RequestFilter::default() };
    search(store, "data.customer.name=cK (about 100 match)", queries, |i| {
        f(vec![cond("customer.name", DataOp::Eq, json!(format!("c{}", (i * 7919) % 10_000)))])
    })
    .await;
    search(store, "data.amount in [a, a+10) (about 100)", queries, |i| {
        let a = (i * 97) % 99_000;
        f(vec![cond("amount", DataOp::Ge, json!(a)), cond("amount", DataOp::Lt, json!(a + 10))])
    })
    .await;
    search(store, "data.amount>=50000 (half of them)", queries, |_| f(vec![cond("amount", DataOp::Ge, json!(50_000))]))
        .await;
    search(store, "customer=cK and amount>=50000", queries, |i| {
        f(vec![
            cond("customer.name", DataOp::Eq, json!(format!("c{}", (i * 7919) % 10_000))),
            cond("amount", DataOp::Ge, json!(50_000)),
        ])
    })
    .await;
    search(store, "data.region=r7 (not indexed, 1 in 50)", 20, |_| f(vec![cond("region", DataOp::Eq, json!("r7"))]))
        .await;
    incidents(store, "incidents, first page", queries, IncidentFilter::default(), false).await;
    incidents(store, "incidents, second page", queries, IncidentFilter::default(), true).await;
    let at_route = IncidentFilter { element_id: Some("route".into()), ..IncidentFilter::default() };
    incidents(store, "incidents at element `route`", queries, at_route, false).await;
}

fn main() {
    let n = env_usize("BENCH_REQUESTS", 1_000_000);
    let queries = env_usize("BENCH_QUERIES", 1000);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        for backend in backends.split(',').map(str::trim) {
            match backend {
                "sqlite" => {
                    let dir = std::env::temp_dir().join(format!("sluice-search-bench-{}", std::process::id()));
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
