//! The crate dependency rules of ARCHITECTURE.md, checked so that breaking one fails the build.
#![allow(clippy::unwrap_used)]

use sluice_tests::workspace;

/// The names under `[dependencies]` of a crate's Cargo.toml (dev-dependencies don't count).
fn dependencies(krate: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join(krate).join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once('=') {
            let name = name.trim().trim_end_matches(".workspace").trim();
            if !name.is_empty() && !name.starts_with('#') {
                out.push(name.to_string());
            }
        }
    }
    out
}

fn assert_none_of(krate: &str, forbidden: &[&str]) {
    let deps = dependencies(krate);
    for f in forbidden {
        assert!(!deps.iter().any(|d| d == f), "{krate} must not depend on {f} (it has {deps:?})");
    }
}

#[test]
fn the_engine_knows_nothing_of_http_slack_or_concrete_connectors() {
    for krate in ["engine", "engine/bpmn", "engine/feel"] {
        assert_none_of(
            krate,
            &["axum", "reqwest", "hyper", "tower", "tower-http", "sluice-slack", "sluice-modeler-api"],
        );
    }
}

#[test]
fn the_runtime_core_does_no_io() {
    // The pure parts may not pull in an async runtime, a database or a clock source of their own.
    for krate in ["engine/bpmn", "engine/feel"] {
        assert_none_of(krate, &["tokio", "sqlx", "rand", "uuid"]);
    }
}

#[test]
fn the_connector_api_stays_small() {
    assert_none_of("connectors/api", &["sluice-engine", "sluice-bpmn", "sqlx", "axum", "reqwest", "tokio"]);
}
