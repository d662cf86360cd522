//! Runtime benchmark: one model in memory, start → exclusive gateway → parallel fork of two tasks
//! → join → end, on one thread. Prints completed Requests/s and token moves/s, then (unless
//! `SLUICE_BENCH_COMPARE=0`) runs the same XML through SpiffWorkflow and bpmn-engine via
//! `benches/compare/run.sh` and prints the ratios.
//!
//! Run: `taskset -c 1 cargo bench -p sluice-engine --bench runtime` (one core; taskset optional).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command as Process;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_bpmn::{Options, Source};
use sluice_engine::{Instance, Start, Status};

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches");
    let xml_path = dir.join("fork_join.bpmn");
    let xml = std::fs::read(&xml_path).expect("fork_join.bpmn");
    let imported = sluice_bpmn::import(&[Source { name: "fork_join.bpmn", bytes: &xml }], &Options::default());
    assert!(!imported.has_errors(), "{:?}", imported.diagnostics);
    let process = imported.definitions.process("fork_join").expect("process fork_join").clone();
    let data = json!({"amount": 500}).as_object().cloned().unwrap();
    let now = chrono::Utc::now();
    let seconds: f64 = std::env::var("SLUICE_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);

    // Check once that the Request takes the fork path and completes.
    let mut out = Vec::new();
    let inst = Instance::start(&process, data.clone(), Start::Default, now, &mut out).unwrap();
    assert_eq!(inst.status(), Status::Completed);
    assert_eq!(inst.moves(), 7, "start→check→fork→a,b→join→end is 7 sequence flows");

    // Warm up, then measure in batches until the time is up.
    let run = |n: u64, out: &mut Vec<sluice_engine::Command>| -> u64 {
        let mut moves = 0;
        for _ in 0..n {
            out.clear();
            let inst = Instance::start(&process, data.clone(), Start::Default, now, out).unwrap();
            debug_assert_eq!(inst.status(), Status::Completed);
            moves += inst.moves();
            std::hint::black_box(&inst);
        }
        moves
    };
    run(20_000, &mut out);
    let started = Instant::now();
    let (mut requests, mut moves) = (0u64, 0u64);
    while started.elapsed() < Duration::from_secs_f64(seconds) {
        moves += run(10_000, &mut out);
        requests += 10_000;
    }
    let secs = started.elapsed().as_secs_f64();
    let rps = requests as f64 / secs;
    let mps = moves as f64 / secs;
    println!("sluice fork_join: {requests} Requests in {secs:.2} s on one thread");
    println!("  completed Requests/s: {rps:>12.0}   (target ≥ 200,000)");
    println!("  token moves/s:        {mps:>12.0}   (target ≥ 2,000,000; a move is one sequence flow taken)");
    println!("  per Request:          {:>12.0} ns, {} commands", 1e9 / rps, out.len());

    if std::env::var("SLUICE_BENCH_COMPARE").is_ok_and(|v| v == "0") {
        return;
    }
    let script = dir.join("compare/run.sh");
    println!("\ncomparing with other engines (same XML, {seconds:.0} s each; first run installs them):");
    let output = Process::new("bash").arg(&script).arg(&xml_path).arg(format!("{seconds:.0}")).output();
    match output {
        Ok(o) => {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                let mut parts = line.split_whitespace();
                let engine = parts.next().unwrap_or("?");
                let fields: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
                match fields.iter().find(|(k, _)| *k == "requests_per_sec").and_then(|(_, v)| v.parse::<f64>().ok()) {
                    Some(theirs) => {
                        println!("  {engine:<14} {theirs:>10.1} Requests/s   sluice is {:.0}× faster", rps / theirs)
                    }
                    None => println!("  {engine:<14} {line}"),
                }
            }
        }
        Err(e) => println!("  could not run {}: {e}", script.display()),
    }
}
