//! Imports every `.bpmn`/`.xml` file under a folder N times and prints the throughput.
//!
//! `cargo run --release -p sluice-bpmn --example import_bench -- [DIR] [N] [--print]`;
//! DIR defaults to the shared corpus's conformance folder, N to 20. `--print` lists every
//! diagnostic once instead of timing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use sluice_bpmn::{Options, Source, import};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "bpmn" || e == "xml") {
            out.push(p);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let print = args.iter().any(|a| a == "--print");
    let mut rest = args.iter().filter(|a| !a.starts_with("--"));
    let dir = rest
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bpmn/conformance"));
    let n: usize = rest.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut paths = Vec::new();
    walk(&dir, &mut paths);
    let files: Vec<(String, Vec<u8>)> =
        paths.iter().filter_map(|p| std::fs::read(p).ok().map(|b| (p.display().to_string(), b))).collect();
    if files.is_empty() {
        eprintln!("no .bpmn or .xml files under {}", dir.display());
        std::process::exit(1);
    }
    let options = Options::default();
    if print {
        for (name, bytes) in &files {
            let imported = import(&[Source { name, bytes }], &options);
            for d in &imported.diagnostics {
                println!("{d}");
            }
        }
        return;
    }
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let start = Instant::now();
    let mut diagnostics = 0;
    for _ in 0..n {
        for (name, bytes) in &files {
            diagnostics += import(&[Source { name, bytes }], &options).diagnostics.len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mb = (bytes * n) as f64 / 1e6;
    println!(
        "{} files, {:.2} MB x {n} = {mb:.1} MB in {secs:.3} s: {:.1} MB/s, {:.0} files/s ({} diagnostics per pass)",
        files.len(),
        bytes as f64 / 1e6,
        mb / secs,
        (files.len() * n) as f64 / secs,
        diagnostics / n
    );
}
