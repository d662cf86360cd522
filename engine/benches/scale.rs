//! How costs grow with the size of the work (issue: "costs grow with the work, not faster"):
//!
//! - a start through a parallel fork of N flows straight into a join (N = 1,000 and 10,000):
//!   the time of `Instance::start` until the Request completes;
//! - importing and validating (what `sluice check` does) a model of N tasks in a row
//!   (N = 10,000 and 100,000), written one element a line and all on one line (as some tools
//!   save models: every diagnostic position is then a column on one long line).
//!
//! Prints each time and the ratio between the sizes (linear: about 10x for 10x the work).
//!
//! Run: `cargo bench -p sluice-engine --bench scale`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use sluice_bpmn::{Options, Source};
use sluice_engine::{Instance, Start, Status};

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:scale">
  <bpmn:process id="p" isExecutable="true">
"#;
const TAIL: &str = "  </bpmn:process>\n</bpmn:definitions>\n";

/// start → fork → N flows → join → end.
fn fork_join(n: usize) -> String {
    let mut x = String::from(HEAD);
    x.push_str(r#"    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="fork"/>"#);
    x.push_str("\n    <bpmn:parallelGateway id=\"fork\"/><bpmn:parallelGateway id=\"join\"/>\n");
    for i in 0..n {
        let _ = writeln!(x, r#"    <bpmn:sequenceFlow id="b{i}" sourceRef="fork" targetRef="join"/>"#);
    }
    x.push_str(r#"    <bpmn:sequenceFlow id="fe" sourceRef="join" targetRef="e"/><bpmn:endEvent id="e"/>"#);
    x.push('\n');
    x.push_str(TAIL);
    x
}

/// start → N tasks in a row → end.
fn chain(n: usize) -> String {
    let mut x = String::from(HEAD);
    x.push_str(r#"    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="t0"/>"#);
    x.push('\n');
    for i in 0..n {
        let next = if i + 1 == n { "e".to_string() } else { format!("t{}", i + 1) };
        let _ = writeln!(
            x,
            r#"    <bpmn:task id="t{i}" name="Task {i}"/><bpmn:sequenceFlow id="f{}" sourceRef="t{i}" targetRef="{next}"/>"#,
            i + 1
        );
    }
    x.push_str("    <bpmn:endEvent id=\"e\"/>\n");
    x.push_str(TAIL);
    x
}

fn import(xml: &str) -> sluice_bpmn::Imported {
    sluice_bpmn::import(&[Source { name: "scale.bpmn", bytes: xml.as_bytes() }], &Options::default())
}

/// The best of `runs` timings (the machine is shared; the minimum is the least disturbed).
fn best(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

fn main() {
    let mut fork = Vec::new();
    for n in [1_000, 10_000] {
        let imported = import(&fork_join(n));
        assert!(!imported.has_errors(), "{:?}", imported.diagnostics.first());
        let p = imported.definitions.process("p").unwrap().clone();
        let took = best(3, || {
            let mut out = Vec::new();
            let t = Instant::now();
            let inst = Instance::start(&p, Default::default(), Start::Default, chrono::Utc::now(), &mut out).unwrap();
            let took = t.elapsed();
            assert_eq!(inst.status(), Status::Completed);
            took
        });
        println!("start through a fork and join of {n:>6} flows: {:>9.3} ms", took.as_secs_f64() * 1e3);
        fork.push(took);
    }
    println!("  10x the flows took {:.1}x the time", fork[1].as_secs_f64() / fork[0].as_secs_f64());

    for one_line in [false, true] {
        check_scaling(one_line);
    }
}

fn check_scaling(one_line: bool) {
    let mut check = Vec::new();
    for n in [10_000, 100_000] {
        let xml = if one_line { chain(n).replace('\n', "") } else { chain(n) };
        let took = best(3, || {
            let t = Instant::now();
            let imported = import(&xml);
            let took = t.elapsed();
            assert!(!imported.has_errors(), "{:?}", imported.diagnostics.first());
            took
        });
        println!(
            "import and validate a model of {n:>7} tasks ({:>5.1} MB{}): {:>9.3} ms",
            xml.len() as f64 / 1e6,
            if one_line { ", one line" } else { "" },
            took.as_secs_f64() * 1e3
        );
        check.push(took);
    }
    println!("  10x the tasks took {:.1}x the time", check[1].as_secs_f64() / check[0].as_secs_f64());
}
