//! Shared helpers for the engine's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use sluice_bpmn::{Options, Process, Source};

/// The shared BPMN corpus: `$SLUICE_BPMN_CORPUS`, else `../shared/bpmn` beside the workspace.
/// `None` (with a note printed) when neither exists, so a clone without it still passes.
pub fn corpus() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("SLUICE_BPMN_CORPUS") {
        return Some(PathBuf::from(dir));
    }
    let guess = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bpmn");
    if guess.is_dir() {
        return Some(guess);
    }
    eprintln!("note: SLUICE_BPMN_CORPUS is not set and ../shared/bpmn is missing: corpus tests skipped");
    None
}

/// Imports files (name, text) together and fails the test on any error diagnostic.
pub fn import(files: &[(String, Vec<u8>)]) -> Vec<Arc<Process>> {
    let sources: Vec<Source<'_>> = files.iter().map(|(n, b)| Source { name: n, bytes: b }).collect();
    let imported = sluice_bpmn::import(&sources, &Options::default());
    let errors: Vec<String> = imported.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.to_string()).collect();
    assert!(errors.is_empty(), "import failed:\n{}", errors.join("\n"));
    imported.definitions.processes.clone()
}

pub fn import_str(xml: &str) -> Vec<Arc<Process>> {
    import(&[("test.bpmn".to_string(), xml.as_bytes().to_vec())])
}

pub fn t0() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc)
}
